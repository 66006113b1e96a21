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
pub fn python_bin() -> PathBuf {
    tool("py/bin/python")
}

/// The built `valdrix` binary.
pub fn valdrix_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_valdrix"))
}

/// Whether the store tests run on is PostgreSQL (`VALDRIX_TEST_BACKEND=postgres`; the suites
/// that run on both backends are run a second time that way by `scripts/test.sh`).
pub fn on_postgres() -> bool {
    std::env::var("VALDRIX_TEST_BACKEND").is_ok_and(|b| b == "postgres")
}

thread_local! {
    /// Throwaway PostgreSQL databases of the running test, by the SQLite path they stand for;
    /// dropped (and the databases with them) when the test's thread ends.
    static PG: std::cell::RefCell<std::collections::HashMap<PathBuf, valdrix_store::testing::PgTestDb>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// The database URL a test gives for `db`: the SQLite path itself, or on PostgreSQL a throwaway
/// database standing for that path, connected as the application role. A URL is kept as it is.
pub fn database_url(db: &Path) -> String {
    let text = db.to_string_lossy().into_owned();
    if !on_postgres() || valdrix_store::postgres::is_postgres_url(&text) {
        return text;
    }
    PG.with(|m| m.borrow_mut().entry(db.to_path_buf()).or_default().app_url())
}

static FRESH: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// An empty store and a tenant to use in it: an in-memory SQLite store, or on PostgreSQL a new
/// tenant of the test thread's database.
pub fn fresh_store() -> (Box<dyn valdrix_store::Store + Send>, valdrix_core::TenantId) {
    if !on_postgres() {
        let store = valdrix_store::SqliteStore::in_memory().expect("in-memory store");
        return (Box::new(store), valdrix_core::TenantId::parse("default").unwrap());
    }
    let url = database_url(Path::new("fresh_store"));
    let store = valdrix_store::PgStore::connect_with(&url, valdrix_store::PgOptions::default()).expect("store");
    let n = FRESH.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    (Box::new(store), valdrix_core::TenantId::parse(&format!("t{n}")).unwrap())
}

/// Everything a store holds for a tenant: its runs and records.
pub type Dump = (Vec<valdrix_store::RunSummary>, Vec<valdrix_core::CostRecord>);

/// Everything a store holds for a tenant, in a comparable form: runs and records.
pub fn dump(db: &Path) -> Dump {
    let store = valdrix_store::open(&database_url(db)).expect("open store");
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
        .arg(database_url(db))
        .args(args)
        .output()
        .expect("run valdrix");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A server process that is killed when the test ends.
pub struct Server(pub std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback port nothing listens on.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits until `server` listens on `port` (a minute at most); fails if it exits.
pub fn wait_for(port: u16, server: &mut Server, what: &str) {
    let t0 = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(server.0.try_wait().unwrap().is_none(), "{what} exited at start-up");
        assert!(t0.elapsed() < std::time::Duration::from_secs(60), "{what} did not start listening on port {port}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// moto's server on a free port, with the environment that points the AWS SDKs at it.
pub fn start_moto() -> (Server, Vec<(&'static str, String)>) {
    let port = free_port();
    let mut server = Server(
        // moto's server with S3 ListParts' XML root corrected (see the script).
        std::process::Command::new(python_bin())
            .arg(repo_root().join("tests/fixtures/moto_server.py"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            // No public AMIs: their ~1,300 snapshots would be listed as the account's own.
            .env("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for(port, &mut server, "moto_server");
    (server, aws_env(port))
}

/// The environment that points the AWS SDK at an emulator on `port`, with test credentials.
pub fn aws_env(port: u16) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}")),
        ("AWS_ACCESS_KEY_ID", "test".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_string()),
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
    ]
}

/// Runs a Python script with the test-tools Python; fails the test on a non-zero exit.
pub fn python(script: &str, env: &[(&str, String)]) {
    let out = std::process::Command::new(python_bin())
        .arg("-c")
        .arg(script)
        .envs(env.iter().map(|(k, v)| (*k, v)))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Runs `valdrix --database-url DB ARGS...` with extra environment.
pub fn valdrix_env(db: &Path, env: &[(&str, String)], args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(valdrix_bin())
        .arg("--database-url")
        .arg(database_url(db))
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v)))
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
