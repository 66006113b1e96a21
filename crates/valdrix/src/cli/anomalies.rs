//! `valdrix anomalies`: days whose spend (or any `date,value` series) left the forecast's band,
//! merged into anomalies with their root causes; kept monitors, run as a daily job would; marks.

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use std::path::PathBuf;

use valdrix_analytics::anomaly::{self, Anomaly, Detection, Thresholds, THRESHOLD_FIELDS};
use valdrix_analytics::monitor::{self, MonitorOutcome, MonitorRun};
use valdrix_analytics::spend;
use valdrix_app::series;
use valdrix_core::TenantId;
use valdrix_store::forecasts::{AnomalyFeedback, AnomalyMonitor, AnomalyReport};

use super::forecast::{days, money, number, SpendArgs};
use super::output::{Grid, OutputFormat};
use super::Global;

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct AnomaliesCmd {
    #[command(subcommand)]
    what: Option<AnomaliesCommand>,
    #[command(flatten)]
    run: AnomaliesArgs,
}

#[derive(Subcommand)]
enum AnomaliesCommand {
    /// Mark days of a monitored series as expected: never reported again, never trained on.
    Expect(MarkArgs),
    /// Take a mark back.
    Unexpect(MarkArgs),
    /// The marks.
    Marks {
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
    /// Keep an anomaly monitor under a name (replacing one of the same name): what to check
    /// and how. `valdrix anomalies --monitors` runs them all (daily, from cron or a timer).
    Monitor(MonitorArgs),
    /// Delete an anomaly monitor.
    Unmonitor {
        /// Its name.
        name: String,
    },
    /// The anomaly monitors.
    Monitors {
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
}

#[derive(Args)]
struct MonitorArgs {
    /// Its name: letters, digits, `-`, `_` or `.`.
    name: String,
    /// Monitor each value of this dimension (service, account, region, tag:KEY) apart, as
    /// well as the total; without it, the total alone.
    #[arg(long)]
    by: Option<String>,
    /// Amount: billed (invoice) or effective (amortized).
    #[arg(long, default_value = "billed")]
    metric: String,
    /// Values of --by kept apart, the largest by the last four weeks' spend (0: all).
    #[arg(long, default_value_t = 10)]
    top: u32,
    #[command(flatten)]
    thresholds: ThresholdArgs,
    /// Who (default: the user running the command).
    #[arg(long)]
    actor: Option<String>,
}

/// A monitor's thresholds on the command line.
#[derive(Args)]
struct ThresholdArgs {
    /// The smallest daily impact that counts, in the series' units (the currency for spend).
    #[arg(long, default_value_t = 100.0)]
    min_impact: f64,
    /// The smallest daily impact that counts, in percent of the expected value.
    #[arg(long, default_value_t = 10.0)]
    min_percent: f64,
    /// The interval a day must leave, in percent.
    #[arg(long, default_value_t = 95.0)]
    level: f64,
    /// Which way a day must move: up, down or both.
    #[arg(long, default_value = "up")]
    direction: String,
}

impl ThresholdArgs {
    /// The thresholds, checked as monitors and the API check them ([`Thresholds::set`]).
    fn thresholds(&self) -> Result<Thresholds> {
        let mut t = Thresholds::default();
        let given =
            [self.min_impact.to_string(), self.min_percent.to_string(), self.level.to_string(), self.direction.clone()];
        for (field, text) in THRESHOLD_FIELDS.into_iter().zip(&given) {
            t.set(field, text)
                .map_err(|e| anyhow::anyhow!("--{} {:?}: {}", field.replace('_', "-"), e.text, e.expected))?;
        }
        Ok(t)
    }
}

#[derive(Args)]
struct MarkArgs {
    /// The series, as `valdrix anomalies` names it: `total`, or `DIMENSION=VALUE`
    /// (`service=Amazon Elastic Compute Cloud`).
    series: String,
    /// The days: `YYYY-MM-DD` or `FROM..TO`.
    days: String,
    /// Why.
    #[arg(long, default_value = "")]
    note: String,
    /// Who (default: the user running the command).
    #[arg(long)]
    actor: Option<String>,
}

#[derive(Args)]
pub(crate) struct AnomaliesArgs {
    /// A `date,value` CSV to check instead of the stored spend.
    #[arg(long, value_name = "FILE.csv")]
    input: Option<PathBuf>,
    /// The first day to check (default: every day after four weeks of history).
    #[arg(long, value_name = "YYYY-MM-DD")]
    from: Option<String>,
    #[command(flatten)]
    thresholds: ThresholdArgs,
    /// A day or range (FROM..TO) marked as expected: never an anomaly, never trained on
    /// (repeatable).
    #[arg(long, value_name = "DAY|FROM..TO")]
    expected: Vec<String>,
    /// Stored spend: monitor each value of this dimension (service, account, region, tag:KEY)
    /// rather than the total.
    #[arg(long)]
    by: Option<String>,
    /// Run the kept monitor of this name (`valdrix anomalies monitor`) instead of the options
    /// here.
    #[arg(long, conflicts_with_all = ["input", "by", "from", "min_impact", "min_percent", "level", "direction", "monitors"])]
    monitor: Option<String>,
    /// Run every kept monitor: what a daily job calls. A monitor that cannot run (no final
    /// spend yet, too little history) says why on standard error; the others still run.
    #[arg(long, conflicts_with_all = ["input", "by", "from", "min_impact", "min_percent", "level", "direction"])]
    monitors: bool,
    /// With --monitor or --monitors: only the anomalies each monitor has not reported before
    /// (by series, currency and first day), which are then remembered as reported. What a
    /// daily job that sends alerts calls: each anomaly once, even as it grows a day longer.
    #[arg(long)]
    new: bool,
    #[command(flatten)]
    spend: SpendArgs,
    /// Output format (csv: the anomalous days with `date,actual,expected,lo,hi,score`).
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    format: OutputFormat,
}

impl AnomaliesArgs {
    fn expected_days(&self) -> Result<Vec<chrono::NaiveDate>> {
        let mut out = Vec::new();
        for e in &self.expected {
            out.extend(days(e).map_err(|err| anyhow::anyhow!("{err:#}").context("--expected"))?);
        }
        Ok(out)
    }
}

pub(crate) fn anomalies_cmd(cli: &Global, tenant: &TenantId, cmd: &AnomaliesCmd) -> Result<()> {
    match &cmd.what {
        None => anomalies_run(cli, tenant, &cmd.run),
        Some(AnomaliesCommand::Monitor(m)) => keep_monitor(cli, tenant, m),
        Some(AnomaliesCommand::Unmonitor { name }) => delete_monitor(cli, tenant, name),
        Some(AnomaliesCommand::Monitors { format }) => list_monitors(cli, tenant, *format),
        Some(AnomaliesCommand::Expect(m)) | Some(AnomaliesCommand::Unexpect(m)) => {
            let days = days(&m.days)?;
            let (Some(first), Some(last)) = (days.first(), days.last()) else {
                anyhow::bail!("no days in {:?}", m.days)
            };
            if m.series != "total" && !m.series.contains('=') {
                anyhow::bail!("series {:?}: use total or DIMENSION=VALUE, as `valdrix anomalies` names it", m.series);
            }
            let mut store = super::open_store(cli)?;
            if matches!(cmd.what, Some(AnomaliesCommand::Expect(_))) {
                let mark = AnomalyFeedback {
                    series: m.series.clone(),
                    first_day: first.to_string(),
                    last_day: last.to_string(),
                    created_at: String::new(),
                    created_by: super::actor(&m.actor),
                    note: m.note.clone(),
                };
                let created = store.mark_anomaly_expected(tenant, &mark)?;
                println!(
                    "{} {first} to {last} {}",
                    m.series,
                    if created { "marked as expected" } else { "was already marked" }
                );
            } else {
                let removed =
                    store.unmark_anomaly_expected(tenant, &m.series, &first.to_string(), &last.to_string())?;
                println!(
                    "{} {first} to {last}: {}",
                    m.series,
                    if removed { "mark taken back" } else { "no such mark" }
                );
            }
            Ok(())
        }
        Some(AnomaliesCommand::Marks { format }) => {
            let store = super::open_store(cli)?;
            let marks = store.anomaly_feedback(tenant)?;
            let columns = ["series", "from", "to", "marked", "by", "note"].map(String::from).to_vec();
            let rows = marks
                .iter()
                .map(|m| {
                    vec![
                        Some(m.series.clone()),
                        Some(m.first_day.clone()),
                        Some(m.last_day.clone()),
                        Some(m.created_at.clone()),
                        Some(m.created_by.clone()),
                        Some(m.note.clone()),
                    ]
                })
                .collect();
            Grid { columns, rows, numeric: vec![false; 6] }.write(*format, &mut std::io::stdout().lock())
        }
    }
}

/// Keeps an anomaly monitor under its name.
fn keep_monitor(cli: &Global, tenant: &TenantId, m: &MonitorArgs) -> Result<()> {
    let monitor = AnomalyMonitor {
        name: m.name.clone(),
        by: m.by.clone().unwrap_or_default(),
        metric: m.metric.clone(),
        top: m.top,
        min_impact: m.thresholds.min_impact.to_string(),
        min_percent: m.thresholds.min_percent.to_string(),
        level: m.thresholds.level.to_string(),
        direction: m.thresholds.direction.clone(),
        updated_at: String::new(),
        updated_by: super::actor(&m.actor),
    };
    monitor::check(&monitor)?;
    let mut store = super::open_store(cli)?;
    let created = store.save_anomaly_monitor(tenant, &monitor)?;
    println!("monitor {} {}", m.name, if created { "kept" } else { "replaced" });
    Ok(())
}

/// Deletes an anomaly monitor; an error when there is none of that name.
fn delete_monitor(cli: &Global, tenant: &TenantId, name: &str) -> Result<()> {
    let mut store = super::open_store(cli)?;
    if !store.delete_anomaly_monitor(tenant, name)? {
        anyhow::bail!("no monitor {name:?} (`valdrix anomalies monitors` lists them)");
    }
    println!("monitor {name} deleted");
    Ok(())
}

/// Lists the anomaly monitors.
fn list_monitors(cli: &Global, tenant: &TenantId, format: OutputFormat) -> Result<()> {
    let store = super::open_store(cli)?;
    let columns = ["name", "by", "metric", "top", "min impact", "min %", "level %", "direction", "saved", "by whom"]
        .map(String::from)
        .to_vec();
    let rows = store
        .anomaly_monitors(tenant)?
        .into_iter()
        .map(|m| {
            vec![
                Some(m.name),
                Some(if m.by.is_empty() { "(total)".into() } else { m.by }),
                Some(m.metric),
                Some(m.top.to_string()),
                Some(m.min_impact),
                Some(m.min_percent),
                Some(m.level),
                Some(m.direction),
                Some(m.updated_at),
                Some(m.updated_by),
            ]
        })
        .collect();
    let numeric = vec![false, false, false, true, true, true, true, false, false, false];
    Grid { columns, rows, numeric }.write(format, &mut std::io::stdout().lock())
}

/// Runs the kept monitor `name`, or every kept monitor.
fn run_monitors(cli: &Global, tenant: &TenantId, a: &AnomaliesArgs, name: Option<&str>) -> Result<()> {
    let config = super::load_config(cli)?;
    let mut store = super::open_store(cli)?;
    let now = chrono::Utc::now();
    let mut runs = match name {
        Some(name) => {
            let m = store
                .anomaly_monitor(tenant, name)?
                .with_context(|| format!("no monitor {name:?} (`valdrix anomalies monitors` lists them)"))?;
            let found = monitor::run(store.as_ref(), tenant, &m, None, now, &config.trust)
                .with_context(|| format!("monitor {name}"))?;
            vec![MonitorRun { monitor: m.name, outcome: MonitorOutcome::Found(found) }]
        }
        None => monitor::run_all(store.as_ref(), tenant, now, &config.trust)?,
    };
    if a.new {
        for r in &mut runs {
            if let MonitorOutcome::Found(found) = &mut r.outcome {
                monitor::keep_unreported(store.as_ref(), tenant, &r.monitor, found)?;
            }
        }
    }
    write_monitor_runs(a, &runs)?;
    // Remembered once written: a run that fails before its output reports them again.
    if a.new {
        for r in &runs {
            if let MonitorOutcome::Found(found) = &r.outcome {
                let reports: Vec<AnomalyReport> = found.anomalies.iter().map(monitor::report_of).collect();
                store.report_anomalies(tenant, &r.monitor, &reports)?;
            }
        }
    }
    Ok(())
}

/// Writes what the monitors found, a row per anomaly with the monitor's name first.
fn write_monitor_runs(a: &AnomaliesArgs, runs: &[MonitorRun]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if a.format == OutputFormat::Json {
        serde_json::to_writer_pretty(&mut out, &runs)?;
        use std::io::Write;
        writeln!(out)?;
        return Ok(());
    }
    let csv = a.format == OutputFormat::Csv;
    let mut grid = spend_anomalies_grid(&[], csv);
    grid.columns.insert(0, "monitor".into());
    grid.numeric.insert(0, false);
    for r in runs {
        match &r.outcome {
            MonitorOutcome::Found(found) => {
                for mut row in spend_anomalies_grid(&found.anomalies, csv).rows {
                    row.insert(0, Some(r.monitor.clone()));
                    grid.rows.push(row);
                }
                if !csv {
                    let new = if a.new { " new" } else { "" };
                    eprintln!("monitor {}: {}{new} anomalies from {}", r.monitor, found.anomalies.len(), found.from);
                }
            }
            MonitorOutcome::Failed { error } => eprintln!("monitor {}: not run: {error}", r.monitor),
        }
    }
    grid.write(a.format, &mut out)?;
    if runs.is_empty() {
        eprintln!("no monitors kept (`valdrix anomalies monitor NAME` keeps one)");
    }
    Ok(())
}

fn anomalies_run(cli: &Global, tenant: &TenantId, a: &AnomaliesArgs) -> Result<()> {
    if a.monitors || a.monitor.is_some() {
        return run_monitors(cli, tenant, a, a.monitor.as_deref());
    }
    if a.new {
        anyhow::bail!("--new is for kept monitors: give it with --monitor NAME or --monitors");
    }
    let thresholds = a.thresholds.thresholds()?;
    let expected = a.expected_days()?;
    let Some(path) = &a.input else {
        return anomalies_spend_cmd(cli, tenant, a, thresholds, expected);
    };
    if a.by.is_some() {
        anyhow::bail!("--by is for stored spend, not --input");
    }
    let s = series::read_csv(path)?;
    let from = match &a.from {
        Some(t) => chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
            .with_context(|| format!("--from {t:?}: expected YYYY-MM-DD"))?,
        None => s.start,
    };
    let d =
        anomaly::detect(&s, from, &thresholds, &expected).with_context(|| format!("checking {}", path.display()))?;
    let mut out = std::io::stdout().lock();
    match a.format {
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &d)?;
            use std::io::Write;
            writeln!(out)?;
        }
        OutputFormat::Csv => flagged_grid(&d).write(a.format, &mut out)?,
        OutputFormat::Table => {
            anomalies_grid(&d.anomalies).write(a.format, &mut out)?;
            eprintln!(
                "{} days checked ({} to {}), {} anomalous in {} anomalies; model {}",
                d.days.len(),
                d.days.first().map_or("-".into(), |c| c.date.to_string()),
                d.days.last().map_or("-".into(), |c| c.date.to_string()),
                d.days.iter().filter(|c| c.anomalous).count(),
                d.anomalies.len(),
                d.model
            );
        }
    }
    Ok(())
}

fn anomalies_spend_cmd(
    cli: &Global,
    tenant: &TenantId,
    a: &AnomaliesArgs,
    thresholds: Thresholds,
    expected: Vec<chrono::NaiveDate>,
) -> Result<()> {
    let config = super::load_config(cli)?;
    let store = super::open_store(cli)?;
    let q = a.spend.query(a.by.as_deref())?;
    let now = chrono::Utc::now();
    let from = match &a.from {
        Some(t) => Some(
            chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
                .with_context(|| format!("--from {t:?}: expected YYYY-MM-DD"))?,
        ),
        None => None,
    };
    let check = spend::CheckOptions { expected, ..spend::CheckOptions::new(from, thresholds) };
    let spend::Detected { from, anomalies: found } =
        spend::detect_spend(store.as_ref(), tenant, &q, &check, now, &config.trust)?;
    let mut out = std::io::stdout().lock();
    match a.format {
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &found)?;
            use std::io::Write;
            writeln!(out)?;
        }
        OutputFormat::Csv | OutputFormat::Table => {
            let csv = a.format == OutputFormat::Csv;
            spend_anomalies_grid(&found, csv).write(a.format, &mut out)?;
            if !csv {
                eprintln!(
                    "{} anomalies from {from}; thresholds: {} and {} % over expected, outside the {} % interval",
                    found.len(),
                    a.thresholds.min_impact,
                    a.thresholds.min_percent,
                    a.thresholds.level
                );
            }
        }
    }
    Ok(())
}

/// One row per anomaly of stored spend, with its root causes (those of a tenth or more of the
/// change).
fn spend_anomalies_grid(found: &[spend::SpendAnomaly], csv: bool) -> Grid {
    let columns = ["series", "currency", "start", "end", "actual", "expected", "impact", "severity", "root causes"]
        .map(String::from)
        .to_vec();
    let rows = found
        .iter()
        .map(|f| {
            let causes: Vec<String> = f
                .root_causes
                .iter()
                .filter(|c| c.share.abs() >= 0.1)
                .map(|c| {
                    let value = if c.value.is_empty() { "(none)" } else { &c.value };
                    let sign = if c.delta >= 0.0 { "+" } else { "" };
                    format!("{} {value} {sign}{}", c.dimension, money(c.delta, csv))
                })
                .collect();
            vec![
                Some(f.series.clone()),
                Some(f.currency.clone()),
                Some(f.anomaly.start.to_string()),
                Some(f.anomaly.end.to_string()),
                Some(money(f.anomaly.actual, csv)),
                Some(money(f.anomaly.expected, csv)),
                Some(money(f.anomaly.impact, csv)),
                Some(f.anomaly.severity.as_str().to_string()),
                Some(causes.join("; ")),
            ]
        })
        .collect();
    Grid { columns, rows, numeric: vec![false, false, false, false, true, true, true, false, false] }
}

/// The anomalous days: `date,actual,expected,lo,hi,score`.
fn flagged_grid(d: &Detection) -> Grid {
    let columns = ["date", "actual", "expected", "lo", "hi", "score"].map(String::from).to_vec();
    let rows = d
        .days
        .iter()
        .filter(|c| c.anomalous)
        .map(|c| {
            vec![
                Some(c.date.to_string()),
                Some(number(c.actual)),
                Some(number(c.expected)),
                Some(number(c.lo)),
                Some(number(c.hi)),
                Some(number(c.score)),
            ]
        })
        .collect();
    Grid { columns, rows, numeric: vec![false, true, true, true, true, true] }
}

/// One row per anomaly.
fn anomalies_grid(anomalies: &[Anomaly]) -> Grid {
    let columns = ["start", "end", "days", "actual", "expected", "impact", "severity"].map(String::from).to_vec();
    let rows = anomalies
        .iter()
        .map(|a| {
            vec![
                Some(a.start.to_string()),
                Some(a.end.to_string()),
                Some(((a.end - a.start).num_days() + 1).to_string()),
                Some(number(a.actual)),
                Some(number(a.expected)),
                Some(number(a.impact)),
                Some(a.severity.as_str().to_string()),
            ]
        })
        .collect();
    Grid { columns, rows, numeric: vec![false, false, true, true, true, true, false] }
}
