#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs the test tools (idempotent), checks formatting and
# lints, then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-test-tools.sh
cargo fmt --all -- --check
# Lints and build in one pass. clippy-driver compiles the workspace's own crates, every target,
# with clippy's lints and warnings denied, while cargo builds the tests: the same checks as
# `cargo clippy --workspace --all-targets -- -D warnings` (CLIPPY_ARGS is how cargo-clippy hands
# `-D warnings` to the driver), without checking every dependency once and then building it again
# (minutes on 2 cores). Dependencies are compiled by plain rustc, as in any build.
RUSTC_WORKSPACE_WRAPPER="$(command -v clippy-driver)"
export RUSTC_WORKSPACE_WRAPPER
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
cargo test --workspace --all-targets --locked --no-run
cargo test --workspace --locked
# The command-line suites again on PostgreSQL (each test in a throwaway database, as the
# application role): the store conformance suite runs on both backends. `--workspace`, not
# `-p valdrix`: the same feature set as the build above, so nothing is compiled again.
VALDRIX_TEST_BACKEND=postgres cargo test --workspace --locked \
  --test cost_trust --test reconcile --test reingest --test sample_totals --test cost_explorer --test zombies --test allocate --test forecast \
  --test bad_input
