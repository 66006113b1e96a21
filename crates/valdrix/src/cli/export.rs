//! `valdrix export focus`: stored costs as FOCUS 1.2 CSV or Parquet.

use anyhow::Result;
use clap::Subcommand;
use std::path::PathBuf;
use std::time::Instant;

use valdrix_core::TenantId;
use valdrix_store::Store;

use super::{build_query, QueryArgs};

#[derive(Subcommand)]
pub(crate) enum ExportCommand {
    /// FOCUS 1.2 at daily grain, as CSV or Parquet (by the file's extension).
    Focus {
        /// Output file (.csv or .parquet).
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        query: QueryArgs,
    },
}

/// Runs an export command.
pub(crate) fn run(store: &dyn Store, tenant: &TenantId, what: &ExportCommand) -> Result<()> {
    let ExportCommand::Focus { out, query } = what;
    let q = build_query(&[], "billed", query)?;
    let t0 = Instant::now();
    let n = valdrix_app::export::export_focus(store, tenant, &q, out)?;
    eprintln!("wrote {n} FOCUS 1.2 rows to {} in {:.1} s", out.display(), t0.elapsed().as_secs_f64());
    Ok(())
}
