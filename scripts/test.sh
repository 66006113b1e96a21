#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs the test tools (idempotent), checks formatting and
# lints, then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-test-tools.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
