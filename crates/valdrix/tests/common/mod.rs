//! Helpers shared by the integration tests: where the sample data and the test tools are.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repository root")
}

/// `shared/data/billing`, beside the checkout (or `VALDRIX_SAMPLES`). Missing data fails the test:
/// a green run must mean the samples were checked.
pub fn samples() -> PathBuf {
    let p = std::env::var_os("VALDRIX_SAMPLES")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/data/billing"));
    assert!(
        p.join("README.md").exists(),
        "sample billing data not found at {} (set VALDRIX_SAMPLES to shared/data/billing)",
        p.display()
    );
    p
}

/// A tool installed by `scripts/setup-test-tools.sh`. Missing tools fail the test loudly.
pub fn tool(rel: &str) -> PathBuf {
    let p = repo_root().join(".tools").join(rel);
    assert!(p.exists(), "{} is missing: run scripts/setup-test-tools.sh (scripts/test.sh does)", p.display());
    p
}

/// The Python of the test-tools venv (has pyarrow, duckdb, moto).
pub fn python() -> PathBuf {
    tool("py/bin/python")
}

/// The built `valdrix` binary.
pub fn valdrix_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_valdrix"))
}
