//! `valdrix ingest`: billing exports from files, folders, CUR delivery folders and object
//! storage into the store, one transaction; `--dry-run` reads without writing.

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use valdrix_app::ingest::{ingest_paths, IngestOptions, Inputs, UnitOutcome};
use valdrix_app::Config;
use valdrix_core::TenantId;
use valdrix_ingest::Format;
use valdrix_store::Store;

use super::actor;
use super::output::{money_for_people, Grid, OutputFormat};

#[derive(Args)]
pub(crate) struct IngestArgs {
    /// Files or folders to ingest.
    #[arg(required = true)]
    pub(crate) paths: Vec<String>,
    /// Force the format instead of detecting it: aws-cur, aws-cur2, azure, gcp, focus.
    #[arg(long)]
    pub(crate) format: Option<String>,
    /// Summary output format.
    #[arg(long = "output", value_enum, default_value = "table")]
    pub(crate) output: OutputFormat,
    /// No progress bar.
    #[arg(long)]
    pub(crate) quiet: bool,
    /// Read, normalise and roll up, then report what would be written; write nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Deliver the input as this stream: a later delivery of the same stream (under any file
    /// name) restates it, billing period by billing period, with every change audited. NAME is a
    /// stream as `runs`, `audit` and `period list` print it (`file:/…`, `cur:…`, `named:NAME`),
    /// the path of a file ingested before, or a new name. Without it, a file is its own stream
    /// and a CUR folder's report and period are; a delivery whose billing account and period
    /// another stream already holds is refused, naming that stream.
    #[arg(long, value_name = "NAME")]
    pub(crate) stream: Option<String>,
    /// Keep this delivery beside a stream that holds the same billing account and period, for
    /// exports that really are separate (two CUR reports of one payer, each of its own linked
    /// accounts): refused still when a sub account is in both.
    #[arg(long, conflicts_with = "allow_overlap")]
    pub(crate) keep_both: bool,
    /// Keep this delivery beside the same bill held by another stream (to reconcile two copies
    /// of one bill): both are counted, and `runs` and `audit` keep warning of the overlap.
    #[arg(long)]
    pub(crate) allow_overlap: bool,
    /// Read CSV rows with fewer fields than the header as if the missing trailing fields were
    /// empty, for exporters that leave them out (by default such a row is refused as truncated).
    #[arg(long)]
    pub(crate) pad_short_rows: bool,
    /// Record a delivery that holds no billing rows as a run (by default it is reported and
    /// nothing is written).
    #[arg(long)]
    pub(crate) allow_empty: bool,
    /// Deliver into a billing period closed by hand; needs --reason, recorded in the audit log.
    #[arg(long, requires = "reason")]
    pub(crate) force: bool,
    /// Why the delivery is forced.
    #[arg(long, value_name = "TEXT")]
    pub(crate) reason: Option<String>,
    /// Who forces it (default: $USER).
    #[arg(long, value_name = "NAME")]
    pub(crate) actor: Option<String>,
}

pub(crate) fn run(store: &mut dyn Store, tenant: &TenantId, a: &IngestArgs, config: &Config) -> Result<()> {
    let format = match &a.format {
        None => None,
        Some(f) => Some(Format::parse(f).with_context(|| {
            format!("unknown format {f:?}: use one of {}", Format::ALL.map(|f| f.name()).join(", "))
        })?),
    };
    let inputs = Inputs::resolve(&a.paths, &mut |d| {
        if !a.quiet {
            eprintln!("fetched {} object(s), {} bytes, from {}", d.objects, d.bytes, d.url);
        }
    })?;
    let (paths, url_roots) = (&inputs.paths, inputs.url_roots());
    let bar = if a.quiet || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        ProgressBar::hidden()
    } else {
        let b = ProgressBar::new_spinner();
        b.set_style(
            ProgressStyle::with_template("{spinner} {msg} {human_pos} rows ({per_sec}) {binary_bytes_per_sec:.dim}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        b.enable_steady_tick(std::time::Duration::from_millis(120));
        b
    };
    let t0 = Instant::now();
    let display = |p: &Path| inputs.display(p);
    if a.dry_run {
        return dry_run(paths, format, a, config.plausible, &bar, &display);
    }
    let mut last_file = String::new();
    let opts = IngestOptions {
        format,
        url_roots,
        stream: a.stream.clone(),
        policy: config.trust.clone(),
        forced: a
            .force
            .then(|| valdrix_store::Forced { actor: actor(&a.actor), reason: a.reason.clone().unwrap_or_default() }),
        pad_short_rows: a.pad_short_rows,
        plausible: Some(config.plausible),
        allow_empty: a.allow_empty,
        overlap: if a.allow_overlap {
            valdrix_store::scope::OverlapPolicy::Allow
        } else if a.keep_both {
            valdrix_store::scope::OverlapPolicy::Disjoint
        } else {
            valdrix_store::scope::OverlapPolicy::Refuse
        },
    };
    let outcomes = ingest_paths(store, tenant, paths, &display, &opts, &mut |file, p| {
        if file != last_file {
            bar.set_message(file.to_string());
            last_file = file.to_string();
        }
        bar.set_position(p.rows);
    });
    bar.finish_and_clear();
    let outcomes = outcomes?;
    let elapsed = t0.elapsed().as_secs_f64();
    let mut grid = Grid {
        columns: [
            "run",
            "source",
            "format",
            "rows",
            "records",
            "restated",
            "added_late",
            "removed",
            "alerts",
            "currency",
            "billed",
            "effective",
            "status",
        ]
        .map(String::from)
        .to_vec(),
        rows: Vec::new(),
        numeric: vec![true, false, false, true, true, true, true, true, true, false, true, true, false],
    };
    let mut total_rows = 0u64;
    for o in &outcomes {
        let (run, status) = match o {
            UnitOutcome::Written(r) => (r, "ingested".to_string()),
            UnitOutcome::Unchanged { existing, .. } => {
                (existing, format!("unchanged (same content as run {})", existing.run_id))
            }
            UnitOutcome::Empty { source } => {
                eprintln!("warning: {source} holds no billing rows; nothing written (--allow-empty records it)");
                let mut row = vec![None; grid.columns.len()];
                row[1] = Some(source.clone());
                row[12] = Some("empty: no billing rows, nothing written".to_string());
                grid.rows.push(row);
                continue;
            }
        };
        let source = match o {
            UnitOutcome::Unchanged { source, .. } => source.clone(),
            _ => run.source_uri.clone(),
        };
        if matches!(o, UnitOutcome::Written(_)) {
            total_rows += run.rows_read;
        }
        let machine = a.output != OutputFormat::Table;
        let money = |d: rust_decimal::Decimal| {
            if machine {
                d.normalize().to_string()
            } else {
                money_for_people(d)
            }
        };
        let mut first = true;
        let totals: Vec<_> = if run.totals.is_empty() {
            vec![(String::new(), Default::default())]
        } else {
            run.totals.clone().into_iter().collect()
        };
        for (cur, t) in totals {
            let t: valdrix_store::CurrencyTotals = t;
            grid.rows.push(vec![
                first.then(|| run.run_id.to_string()),
                first.then(|| source.clone()),
                first.then(|| run.format.clone()),
                first.then(|| run.rows_read.to_string()),
                first.then(|| run.records.to_string()),
                first.then(|| run.changes.restated.to_string()),
                first.then(|| run.changes.added_late.to_string()),
                first.then(|| run.changes.removed.to_string()),
                first.then(|| run.changes.alerts.to_string()),
                (!cur.is_empty()).then(|| cur.clone()),
                (!cur.is_empty()).then(|| money(t.billed)),
                (!cur.is_empty()).then(|| money(t.effective)),
                first.then(|| status.clone()),
            ]);
            first = false;
        }
    }
    let mut out = std::io::stdout().lock();
    grid.write(a.output, &mut out)?;
    if a.output == OutputFormat::Table {
        let alerts: u64 = outcomes
            .iter()
            .filter_map(|o| match o {
                UnitOutcome::Written(r) => Some(r.changes.alerts),
                _ => None,
            })
            .sum();
        if alerts > 0 {
            writeln!(out, "{alerts} restatement alert(s): see `valdrix alerts`")?;
        }
        writeln!(
            out,
            "{} unit(s), {total_rows} rows in {elapsed:.2} s ({:.0} rows/s)",
            outcomes.len(),
            total_rows as f64 / elapsed.max(1e-9)
        )?;
    }
    Ok(())
}

fn dry_run(
    paths: &[PathBuf],
    format: Option<Format>,
    a: &IngestArgs,
    plausible: valdrix_ingest::validate::Plausible,
    bar: &ProgressBar,
    display: &dyn Fn(&Path) -> String,
) -> Result<()> {
    let t0 = Instant::now();
    let mut grid = Grid {
        columns: ["source", "format", "rows", "lines", "records", "currency", "billed", "effective", "read_ms"]
            .map(String::from)
            .to_vec(),
        rows: Vec::new(),
        numeric: vec![false, false, true, true, true, false, true, true, true],
    };
    let mut total_rows = 0u64;
    let opts =
        IngestOptions { format, pad_short_rows: a.pad_short_rows, plausible: Some(plausible), ..Default::default() };
    valdrix_app::ingest::dry_run(paths, display, &opts, &mut |_, p| bar.set_position(p.rows), &mut |r| {
        total_rows += r.rows;
        for (cur, t) in r.records.totals_by_currency() {
            grid.rows.push(vec![
                Some(r.source.clone()),
                r.format.map(|f| f.name().to_string()),
                Some(r.rows.to_string()),
                Some(r.lines.to_string()),
                Some(r.records.len().to_string()),
                Some(cur),
                Some(t.billed_cost.normalize().to_string()),
                Some(t.effective_cost.normalize().to_string()),
                Some(r.read_ms.to_string()),
            ]);
        }
    })?;
    bar.finish_and_clear();
    let mut out = std::io::stdout().lock();
    grid.write(a.output, &mut out)?;
    if a.output == OutputFormat::Table {
        let s = t0.elapsed().as_secs_f64();
        writeln!(
            out,
            "dry run: nothing written; {total_rows} rows in {s:.2} s ({:.0} rows/s)",
            total_rows as f64 / s.max(1e-9)
        )?;
    }
    Ok(())
}
