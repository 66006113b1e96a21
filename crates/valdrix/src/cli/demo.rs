//! `valdrix demo`: a generated multi-cloud dataset ingested into a fresh store, then the
//! dashboard and API served on it (with a demo key) unless `--no-serve`.

use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;

use valdrix_core::TenantId;

use super::serve::{serve_url, ServeArgs};
use super::{actor, data_dir, redact, Global};

#[derive(Args)]
pub(crate) struct DemoArgs {
    /// Where to write the generated exports and the demo database.
    #[arg(long)]
    pub(crate) dir: Option<PathBuf>,
    /// Seed of the generator (the same seed gives the same files).
    #[arg(long, default_value_t = 42)]
    pub(crate) seed: u64,
    /// Only generate and ingest; do not start the server.
    #[arg(long)]
    pub(crate) no_serve: bool,
    #[command(flatten)]
    pub(crate) serve: ServeArgs,
}

/// Generates and ingests the demo, then serves it unless `--no-serve`.
pub(crate) fn run(cli: &Global, tenant: &TenantId, a: &DemoArgs) -> Result<()> {
    let dir = a.dir.clone().unwrap_or_else(|| data_dir().join("demo"));
    let db = crate::demo::run(&dir, a.seed, cli.database_url.as_deref(), tenant)?;
    if a.no_serve {
        return Ok(());
    }
    let mut store = valdrix_store::open(&db).with_context(|| format!("opening {}", redact(&db)))?;
    let (key, _) = valdrix_app::keys::create(
        store.as_mut(),
        tenant,
        "demo",
        valdrix_store::keys::Role::Admin,
        &format!("cli:{}", actor(&None)),
    )?;
    drop(store);
    let tenant = tenant.clone();
    serve_url(cli, &db, &a.serve, &move |addr| {
        use std::io::Write;
        // Written, not println!: a closed stdout must not stop the server.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "\nThe dashboard is at http://{addr}/  (the API at http://{addr}/api/v1/docs/)");
        let _ = writeln!(out, "Sign in with this demo key (admin of tenant {}; shown once):\n  {key}", tenant.as_str());
        let _ = writeln!(out, "Stop the server with Ctrl-C.");
        let _ = out.flush();
    })
}
