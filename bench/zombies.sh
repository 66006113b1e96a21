#!/usr/bin/env bash
# Benchmark: a zombie scan of a moto account (5,000 resources in 4 regions by default) by valdrix
# and by Cloud Custodian with equivalent policies, against the same server, in one run.
# Usage: bench/zombies.sh [RESOURCES] [REPEAT]   (defaults: 5000, 3)
# Writes bench/out/zombies.json and prints Markdown tables for BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
resources=${1:-5000}
repeat=${2:-3}
scripts/setup-test-tools.sh --bench >/dev/null
# The test build's binary (dependencies optimised, the AWS SDK clients not: see Cargo.toml),
# which a development tree has already; a release build would only make valdrix faster.
cargo test --workspace --locked --no-run >/dev/null 2>&1 || cargo test --workspace --locked --no-run
exec .tools/py/bin/python bench/zombies.py --valdrix target/debug/valdrix --custodian .tools/c7n/bin/custodian \
  --moto .tools/py/bin/moto_server --resources "$resources" --repeat "$repeat"
