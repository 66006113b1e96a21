//! Cost trust: `valdrix runs` (ingestion history), `audit` (what deliveries changed), `alerts`
//! (restatements past the thresholds) and `period` (billing periods: state, close, reopen).

pub mod views;

use anyhow::Result;
use clap::{Args, Subcommand};
use std::io::Write;

use valdrix_core::TenantId;
use valdrix_store::Store;

use super::output::{money_for_people, Grid, OutputFormat};
use super::{actor, load_config, Global};

#[derive(Args)]
pub(crate) struct RunsArgs {
    /// Number of runs to list.
    #[arg(long, default_value_t = 50)]
    pub(crate) limit: usize,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub(crate) format: OutputFormat,
}

#[derive(Args)]
pub(crate) struct AuditArgs {
    /// One run in detail: its counts, net change and largest changes.
    #[arg(long)]
    pub(crate) run: Option<i64>,
    /// Runs listed (without --run).
    #[arg(long, default_value_t = 20)]
    pub(crate) limit: usize,
    /// Largest changes shown with --run (all of them with --format csv or json).
    #[arg(long, default_value_t = 10)]
    pub(crate) top: usize,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub(crate) format: OutputFormat,
}

#[derive(Args)]
pub(crate) struct AlertsArgs {
    /// Only the alerts of one run.
    #[arg(long)]
    pub(crate) run: Option<i64>,
    /// Alerts listed, newest first.
    #[arg(long, default_value_t = 50)]
    pub(crate) limit: usize,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub(crate) format: OutputFormat,
}

#[derive(Subcommand)]
pub(crate) enum PeriodCommand {
    /// Each billing period of each source: state and totals.
    List {
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
    /// Lock a billing period (YYYY-MM): later deliveries for it are refused unless forced.
    Close {
        /// The billing period, YYYY-MM.
        period: String,
        /// Why (kept in the audit log).
        #[arg(long, default_value = "period close")]
        reason: String,
        /// Who (default: $USER).
        #[arg(long)]
        actor: Option<String>,
    },
    /// Unlock a billing period closed by hand.
    Reopen {
        /// The billing period, YYYY-MM.
        period: String,
        /// Why (kept in the audit log).
        #[arg(long)]
        reason: String,
        /// Who (default: $USER).
        #[arg(long)]
        actor: Option<String>,
    },
}

pub(crate) fn runs_cmd(store: &dyn Store, tenant: &TenantId, a: &RunsArgs) -> Result<()> {
    let runs = store.runs(tenant, a.limit)?;
    let machine = a.format != OutputFormat::Table;
    let grid = Grid {
        columns: [
            "run", "finished", "source", "format", "period", "rows", "records", "replaced", "totals", "read_ms",
            "write_ms", "checksum",
        ]
        .map(String::from)
        .to_vec(),
        rows: runs
            .iter()
            .map(|r| {
                let totals = r
                    .totals
                    .iter()
                    .map(|(c, t)| {
                        format!("{c} {}", if machine { t.billed.to_string() } else { money_for_people(t.billed) })
                    })
                    .collect::<Vec<_>>()
                    .join("; ");
                let period = match (r.billing_period_start, r.billing_period_end) {
                    (Some(s), Some(e)) => Some(format!("{s}..{e}")),
                    (Some(s), None) => Some(s.to_string()),
                    _ => None,
                };
                vec![
                    Some(r.run_id.to_string()),
                    Some(r.finished_at.chars().take(19).collect()),
                    Some(r.source_uri.clone()),
                    Some(r.format.clone()),
                    period,
                    Some(r.rows_read.to_string()),
                    Some(r.records.to_string()),
                    Some(r.records_replaced.to_string()),
                    Some(totals),
                    Some(r.read_ms.to_string()),
                    Some(r.write_ms.to_string()),
                    Some(if machine { r.checksum.clone() } else { r.checksum.chars().take(12).collect() }),
                ]
            })
            .collect(),
        numeric: vec![true, false, false, false, false, true, true, true, true, true, true, false],
    };
    grid.write(a.format, &mut std::io::stdout().lock())?;
    warn_overlaps(store, tenant)
}

pub(crate) fn audit_cmd(store: &dyn Store, tenant: &TenantId, a: &AuditArgs) -> Result<()> {
    warn_overlaps(store, tenant)?;
    let machine = a.format != OutputFormat::Table;
    let mut out = std::io::stdout().lock();
    match a.run {
        Some(run) => {
            let top = if machine { usize::MAX } else { a.top };
            let audit = store.run_audit(tenant, run, top)?;
            if machine {
                // Programs get every entry of the run.
                return views::largest_changes(&audit, true).write(a.format, &mut out);
            }
            views::runs_changes(std::slice::from_ref(&audit), false).write(a.format, &mut out)?;
            if audit.largest.is_empty() {
                writeln!(out, "run {run} changed no stored value")?;
            } else {
                writeln!(out, "largest changes (valdrix costs history RECORD for a record's history):")?;
                views::largest_changes(&audit, false).write(a.format, &mut out)?;
            }
            let events: Vec<_> = store.audit_events(tenant)?.into_iter().filter(|e| e.run_id == Some(run)).collect();
            if !events.is_empty() {
                views::events(&events).write(a.format, &mut out)?;
            }
            Ok(())
        }
        None => {
            let runs = store.runs(tenant, a.limit)?;
            let audits =
                runs.iter().map(|r| store.run_audit(tenant, r.run_id, 0)).collect::<valdrix_store::Result<Vec<_>>>()?;
            views::runs_changes(&audits, machine).write(a.format, &mut out)?;
            if !machine {
                let events = store.audit_events(tenant)?;
                if !events.is_empty() {
                    writeln!(out, "period events:")?;
                    views::events(&events).write(a.format, &mut out)?;
                }
            }
            Ok(())
        }
    }
}

pub(crate) fn period_cmd(store: &mut dyn Store, tenant: &TenantId, what: &PeriodCommand) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match what {
        PeriodCommand::List { format } => {
            let periods = store.periods(tenant, chrono::Utc::now())?;
            views::periods(&periods, *format != OutputFormat::Table).write(*format, &mut out)
        }
        PeriodCommand::Close { period, reason, actor: who } => {
            let c = store.close_period(tenant, period, &actor(who), reason)?;
            writeln!(out, "billing period {} closed by {} at {}", c.period, c.closed_by, c.closed_at)?;
            Ok(())
        }
        PeriodCommand::Reopen { period, reason, actor: who } => {
            store.reopen_period(tenant, period, &actor(who), reason)?;
            writeln!(out, "billing period {period} reopened")?;
            Ok(())
        }
    }
}

/// Warns, on standard error (machine output stays whole), of every billing account and period
/// that more than one stream bills: their costs are counted once per stream.
fn warn_overlaps(store: &dyn Store, tenant: &TenantId) -> Result<()> {
    let overlaps = store.stream_overlaps(tenant)?;
    let mut err = std::io::stderr().lock();
    for o in &overlaps {
        writeln!(err, "warning: {o}; its costs are counted once per stream")?;
    }
    if let Some(o) = overlaps.first() {
        writeln!(
            err,
            "warning: to keep one, ingest the newer export again with --stream '{}' (it then restates that stream)",
            o.streams[0]
        )?;
    }
    Ok(())
}

/// `valdrix alerts`: restatement alerts, newest first, with the thresholds in force.
pub(crate) fn alerts_cmd(cli: &Global, store: &dyn Store, tenant: &TenantId, a: &AlertsArgs) -> Result<()> {
    let alerts = store.alerts(tenant, a.run, None, a.limit)?;
    let mut out = std::io::stdout().lock();
    views::alerts(&alerts, a.format != OutputFormat::Table).write(a.format, &mut out)?;
    if a.format == OutputFormat::Table {
        let config = load_config(cli)?;
        writeln!(
            out,
            "{} alert(s); thresholds now: more than {}% and more than {} of a day × account × service total{}",
            alerts.len(),
            config.trust.alert_percent,
            config.trust.alert_floor,
            config.path.map(|p| format!(" ({})", p.display())).unwrap_or_else(|| " (defaults)".into())
        )?;
    }
    Ok(())
}
