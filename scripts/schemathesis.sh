#!/usr/bin/env bash
# Runs Schemathesis against a live Valdrix server: every operation of its OpenAPI document, with
# generated valid and invalid inputs and the stateful links between operations, and every check
# (no 5xx, responses that conform to the schema, documented status codes and content types, …).
# Usage: scripts/schemathesis.sh BASE_URL API_KEY [MAX_EXAMPLES]
# Exits non-zero on any failure. Installed by scripts/setup-test-tools.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:?base URL, e.g. http://127.0.0.1:8080}
key=${2:?an admin API key}
examples=${3:-100}
st=".tools/st/bin/schemathesis"
[ -x "$st" ] || { echo "schemathesis is missing: run scripts/setup-test-tools.sh" >&2; exit 2; }
exec "$st" --config-file scripts/schemathesis.toml run "$base/api/v1/openapi.json" \
  --header "Authorization: Bearer $key" \
  --checks all \
  --max-examples "$examples" \
  --seed 20261126 \
  --generation-database none \
  --no-color
