#!/usr/bin/env bash
# Benchmark: allocating one month of a large tenant (1.5 million daily records, 50 rules) with
# valdrix's engine and with DuckDB running the equivalent SQL, on the same Parquet file, in one
# run; fails unless both give every target the same totals to the last digit.
# Usage: bench/allocate.sh [SERIES] [REPEAT]   (defaults: 50000 series × 30 days, best of 3)
# Writes bench/out/allocate-results.json and prints a Markdown table for BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
series=${1:-50000}
repeat=${2:-3}
scripts/setup-test-tools.sh >/dev/null
cargo build --release --locked -p valdrix-bench
dir="bench/out/alloc-${series}"
[ -f "$dir/records.parquet" ] || target/release/alloc-bench gen "$dir" "$series"
exec .tools/py/bin/python bench/allocate.py --dir "$dir" --bench-bin target/release/alloc-bench --repeat "$repeat"
