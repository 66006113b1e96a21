#!/usr/bin/env bash
# The noisy-neighbour benchmark (BENCHMARKS.md): a large tenant with a year of a large AWS
# organisation's CUR (12 monthly CUR 2.0 files of MONTH_ROWS line items each, ingested through
# `valdrix ingest` into PostgreSQL) and a small tenant with the demo's year of multi-cloud spend;
# `valdrix serve` as the application role; then `noisy` (bench/src/bin/noisy.rs) measures the
# small tenant's dashboard with and without the large tenant's heaviest queries running, and the
# large tenant's overview page. Loopback only.
# Usage: bench/noisy.sh [MONTH_ROWS (default 9000000)] [SECONDS per phase (default 30)] [HEAVY_CLIENTS (default 4)]
# Builds and measures the dev profile (what the test suite builds); the load takes about 20 min.
# KEEP=1 keeps the database (valdrix_noisy) for another run: SKIP_LOAD=1 then measures only;
# LOAD_ONLY=1 loads and stops (load while the machine is busy, measure when it is quiet).
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-9000000}
secs=${2:-30}
clients=${3:-4}
db=valdrix_noisy
pg=${VALDRIX_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
url="$pg/$db"
work=$(mktemp -d /tmp/valdrix-noisy.XXXXXX)
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT
cargo build --quiet -p valdrix -p valdrix-bench --bins
bin=target/debug
if [ -z "${SKIP_LOAD:-}" ]; then
  psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
  "$bin/valdrix" --database-url "$url" migrate
  t0=$(date +%s)
  for m in 01 02 03 04 05 06 07 08 09 10 11 12; do
    "$bin/gen-cur2" "$work/cur-2026-$m.parquet" "$rows" "$m" 0 "2026-$m" 2>/dev/null
    "$bin/valdrix" --database-url "$url" --tenant large ingest --quiet --stream "cur-2026-$m" "$work/cur-2026-$m.parquet" | tail -1
    rm "$work/cur-2026-$m.parquet"
  done
  echo "large tenant loaded in $(( $(date +%s) - t0 )) s"
  "$bin/valdrix" --database-url "$url" --tenant small demo --no-serve --dir "$work/demo" | tail -1
  psql "$url" -qc "VACUUM ANALYZE"
  [ -n "${LOAD_ONLY:-}" ] && exit 0
fi
psql "$url" -qAtc "SELECT tenant_id, count(*) FROM cost_records GROUP BY 1 ORDER BY 1" | sed 's/^/records: /'
small=$("$bin/valdrix" --database-url "$url" --tenant small keys create --name bench --role admin 2>/dev/null)
large=$("$bin/valdrix" --database-url "$url" --tenant large keys create --name bench --role admin 2>/dev/null)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# Rate limits out of the way (the small tenant's back-to-back requests would pass them); the
# bounds measured are the others. SERVE_ARGS adds serve options (e.g. --tenant-concurrency 1).
# shellcheck disable=SC2086
"$bin/valdrix" --database-url "$url" serve --listen "127.0.0.1:$port" --rate-limit 100000 --rate-burst 100000 \
  ${SERVE_ARGS:-} >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
"$bin/noisy" "http://127.0.0.1:$port" "$small" "$large" "$secs" "$clients"
if [ -z "${KEEP:-}" ]; then kill $server; wait $server 2>/dev/null || true; psql "$pg/postgres" -qc "DROP DATABASE $db"; fi
