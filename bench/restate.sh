#!/usr/bin/env bash
# Benchmark: re-ingesting a period with 1 % of its daily records restated, against the first
# ingest of the same period, for valdrix and DuckDB, in one run.
# Usage: bench/restate.sh [ROWS] [REPEAT]   (defaults: 10000000 rows, best of 1)
# Writes bench/out/restate-results.json and prints a Markdown table for BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-10000000}
repeat=${2:-1}
scripts/setup-test-tools.sh >/dev/null
cargo build --release --locked -p valdrix-bench
cargo build --profile dist --locked -p valdrix
mkdir -p bench/out
base="bench/out/cur2-${rows}.parquet"
restated="bench/out/cur2-${rows}-restated10.parquet"
# The same seed, so the same lines; 10 in 1000 (resource, day) pairs 3 % dearer.
[ -f "$base" ] || target/release/gen-cur2 "$base" "$rows" 1
[ -f "$restated" ] || target/release/gen-cur2 "$restated" "$rows" 1 10
exec .tools/py/bin/python bench/restate.py --base "$base" --restated "$restated" --rows "$rows" \
  --repeat "$repeat" --valdrix target/dist/valdrix
