//! `valdrix costs`: cost totals grouped by any dimension, with each day's finality; stored
//! records with their ids; a record's history.

use anyhow::Result;
use clap::{Args, Subcommand};
use std::io::Write;

use valdrix_app::Config;
use valdrix_core::TenantId;
use valdrix_store::{CostQuery, Dimension, Store};

use super::output::{money_for_people, Grid, OutputFormat};
use super::trust::views;
use super::{build_query, QueryArgs};

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct CostsArgs {
    #[command(subcommand)]
    pub(crate) what: Option<CostsCommand>,
    /// Group by (comma-separated): service, service-category, account, sub-account, region, resource,
    /// charge-category, pricing-category, usage-type, provider, day, month, tag:KEY.
    #[arg(long, short = 'g', value_delimiter = ',')]
    pub(crate) group_by: Vec<String>,
    /// Amount: billed (invoice), effective (amortized), list or contracted.
    #[arg(long, default_value = "billed")]
    pub(crate) metric: String,
    #[command(flatten)]
    pub(crate) query: QueryArgs,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub(crate) format: OutputFormat,
    /// Show at most this many rows in a table (largest first; date groupings are shown in date order).
    #[arg(long, default_value_t = 50)]
    pub(crate) limit: usize,
    /// Only final days (through the "final through" day): the series a forecast may learn from.
    #[arg(long)]
    pub(crate) final_only: bool,
}

#[derive(Subcommand)]
pub(crate) enum CostsCommand {
    /// Every value a record has had: per delivery, when, from which file and run.
    History {
        /// The record id (`valdrix costs records` lists them; a unique prefix of the key will do).
        record_id: String,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
    /// Stored daily records with their ids, largest first.
    Records {
        #[command(flatten)]
        query: QueryArgs,
        /// Records shown.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
}

pub(crate) fn costs_cmd(store: &dyn Store, tenant: &TenantId, a: &CostsArgs, config: &Config) -> Result<()> {
    let now = chrono::Utc::now();
    let mut q = build_query(&a.group_by, &a.metric, &a.query)?;
    let fresh = store.freshness(tenant, now, &config.trust)?;
    if a.final_only {
        // Only days through the last final one; grouping is kept as asked.
        let end = fresh.final_through.and_then(|d| d.succ_opt()).unwrap_or(chrono::NaiveDate::MIN);
        q.to = Some(q.to.map_or(end, |t| t.min(end)));
    }
    let mut rows = store.costs(tenant, &q)?;
    let by_date = q.group_by.iter().any(|d| matches!(d, Dimension::Day | Dimension::Month));
    if !by_date {
        rows.sort_by(|x, y| y.amount.cmp(&x.amount).then_with(|| x.keys.cmp(&y.keys)));
    }
    let total_rows = rows.len();
    let machine = a.format != OutputFormat::Table;
    if !machine && rows.len() > a.limit {
        rows.truncate(a.limit);
    }
    let mut columns: Vec<String> = q.group_by.iter().map(|d| d.label()).collect();
    columns.extend([
        "currency".to_string(),
        format!("{}_cost", format!("{:?}", q.metric).to_lowercase()),
        "records".to_string(),
    ]);
    let mut numeric = vec![false; q.group_by.len()];
    numeric.extend([false, true, true]);
    // Grouped by day, each day says whether it is final yet.
    let day_at = q.group_by.iter().position(|d| *d == Dimension::Day);
    if day_at.is_some() {
        columns.push("status".to_string());
        numeric.push(false);
    }
    let status = |keys: &[Option<String>]| -> Option<String> {
        let day = keys.get(day_at?)?.as_deref()?;
        let day = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()?;
        let final_day = fresh.final_through.is_some_and(|f| day <= f);
        Some(if final_day { "final" } else { "preliminary" }.to_string())
    };
    let grid = Grid {
        columns,
        rows: rows
            .iter()
            .map(|r| {
                let mut v: Vec<Option<String>> = r.keys.clone();
                v.push(Some(r.currency.clone()));
                v.push(Some(if machine { r.amount.to_string() } else { money_for_people(r.amount) }));
                v.push(Some(r.records.to_string()));
                if day_at.is_some() {
                    v.push(status(&r.keys));
                }
                v
            })
            .collect(),
        numeric,
    };
    let mut out = std::io::stdout().lock();
    grid.write(a.format, &mut out)?;
    if !machine {
        if total_rows > rows.len() {
            writeln!(out, "showing {} of {total_rows} groups (--limit)", rows.len())?;
        }
        for (cur, t) in
            store.costs(tenant, &CostQuery { group_by: vec![], ..q.clone() })?.iter().map(|r| (&r.currency, r.amount))
        {
            writeln!(out, "total {cur} {}", money_for_people(t))?;
        }
        if let Some(complete) = fresh.complete_through {
            let final_part = match fresh.final_through {
                Some(f) => format!("final through {f}"),
                None => "no day final yet".to_string(),
            };
            let only = if a.final_only { " (only final days shown)" } else { "" };
            writeln!(out, "costs complete through {complete}; {final_part}{only}")?;
        }
    }
    Ok(())
}

pub(crate) fn history_cmd(store: &dyn Store, tenant: &TenantId, record_id: &str, format: OutputFormat) -> Result<()> {
    let h = store.record_history(tenant, record_id)?;
    let mut out = std::io::stdout().lock();
    if format == OutputFormat::Json {
        serde_json::to_writer_pretty(&mut out, &h)?;
        writeln!(out)?;
        return Ok(());
    }
    if format == OutputFormat::Table {
        writeln!(out, "record {}  day {}  billing period {}", h.record_id, h.charge_date, h.billing_period)?;
        writeln!(out, "source {}", h.stream)?;
        let grain: Vec<String> = h.grain.iter().map(|(k, v)| format!("{k}={v}")).collect();
        writeln!(out, "grain {}", grain.join("  "))?;
    }
    views::history(&h, format != OutputFormat::Table).write(format, &mut out)
}

/// `valdrix costs records`: stored daily records with their ids, largest first.
pub(crate) fn records_cmd(
    store: &dyn Store,
    tenant: &TenantId,
    query: &QueryArgs,
    limit: usize,
    format: OutputFormat,
) -> Result<()> {
    let q = build_query(&[], "billed", query)?;
    let rows = store.records(tenant, &q, None, limit)?;
    let mut out = std::io::stdout().lock();
    views::records(&rows, format != OutputFormat::Table).write(format, &mut out)
}
