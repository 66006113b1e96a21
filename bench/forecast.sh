#!/usr/bin/env bash
# Forecasting and anomaly-detection benchmarks, in one run:
#  1. accuracy: valdrix against seasonal naive, Prophet and statsforecast's AutoETS on the same
#     rolling-origin folds of four real public daily series and of the demo's spend
#     (bench/forecast.py; valdrix through `valdrix forecast --input`);
#  2. speed: forecasts and anomaly detection for 200 services with two years of history
#     (`forecast-bench speed`);
#  3. anomalies injected into the demo's per-service spend: precision, recall, F1 and root
#     causes (`forecast-bench anomalies`).
# Usage: bench/forecast.sh   Writes bench/out/forecast-*.json and prints tables for BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-test-tools.sh --bench >/dev/null
cargo build --release --locked -p valdrix-bench --bin forecast-bench
cargo build --locked -p valdrix
mkdir -p bench/out
demo=bench/out/forecast-demo
if [ ! -f "$demo/valdrix-demo.sqlite" ]; then
  rm -rf "$demo"
  target/debug/valdrix demo --no-serve --dir "$demo" >/dev/null
fi
.tools/fc/bin/python bench/forecast.py --valdrix target/debug/valdrix --demo-db "$demo/valdrix-demo.sqlite" \
  --out bench/out/forecast-accuracy.json
echo
echo "speed (best of 3):"
target/release/forecast-bench speed 200 730 | tee bench/out/forecast-speed.json
echo "injected anomalies:"
target/release/forecast-bench anomalies "$demo/valdrix-demo.sqlite" 40 | tee bench/out/forecast-anomalies.json
