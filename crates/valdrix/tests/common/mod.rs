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

/// Everything a store holds for a tenant, in a comparable form: runs and records.
pub fn dump(db: &Path) -> (Vec<valdrix_store::RunSummary>, Vec<valdrix_core::CostRecord>) {
    use valdrix_store::Store;
    let store = valdrix_store::SqliteStore::open(&db.to_string_lossy()).expect("open store");
    let tenant = valdrix_core::TenantId::parse("default").unwrap();
    let runs = store.runs(&tenant, 1_000_000).expect("runs");
    let mut records = Vec::new();
    store
        .for_each_record(&tenant, &valdrix_store::CostQuery::default(), &mut |r| {
            records.push(r);
            Ok(())
        })
        .expect("records");
    (runs, records)
}

/// Runs `valdrix --database-url DB ARGS...` and returns (success, stdout, stderr).
pub fn valdrix(db: &Path, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(valdrix_bin())
        .arg("--database-url")
        .arg(db)
        .args(args)
        .output()
        .expect("run valdrix");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
