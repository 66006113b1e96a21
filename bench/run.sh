#!/usr/bin/env bash
# Benchmark: valdrix ingest against DuckDB on the same CUR 2.0 Parquet file, in one run.
# Usage: bench/run.sh [ROWS] [REPEAT]   (defaults: 10000000 rows, best of 1)
# Writes bench/out/results.json and prints a Markdown table for BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-10000000}
repeat=${2:-1}
scripts/setup-test-tools.sh >/dev/null
# The generator builds in `release`; valdrix in `dist`, the profile README tells users to install.
cargo build --release --locked -p valdrix-bench
cargo build --profile dist --locked -p valdrix
mkdir -p bench/out
file="bench/out/cur2-${rows}.parquet"
if [ ! -f "$file" ]; then
  target/release/gen-cur2 "$file" "$rows"
fi
exec .tools/py/bin/python bench/compare.py --file "$file" --rows "$rows" --repeat "$repeat" --valdrix target/dist/valdrix
