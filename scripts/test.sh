#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs the test tools (idempotent), checks formatting and
# lints, then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-test-tools.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
# The command-line suites again on PostgreSQL (each test in a throwaway database, as the
# application role): the store conformance suite runs on both backends.
VALDRIX_TEST_BACKEND=postgres cargo test --locked -p valdrix \
  --test cost_trust --test reconcile --test reingest --test sample_totals --test cost_explorer
