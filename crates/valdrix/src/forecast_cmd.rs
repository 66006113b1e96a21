//! The `valdrix forecast` and `valdrix anomalies` command lines: an arbitrary `date,value`
//! series (`--input`) or the tenant's stored spend.

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use std::path::PathBuf;

use rust_decimal::Decimal;

use valdrix::output::{money_for_people, Grid, OutputFormat};
use valdrix::series;
use valdrix_analytics::anomaly::{self, Anomaly, Detection, Thresholds, THRESHOLD_FIELDS};
use valdrix_analytics::forecast::{self, Forecast, Options, DEFAULT_LEVELS};
use valdrix_analytics::monitor::{self, MonitorOutcome, MonitorRun};
use valdrix_analytics::spend::{self, SpendQuery};
use valdrix_core::TenantId;
use valdrix_store::forecasts::{AnomalyFeedback, AnomalyMonitor, AnomalyReport};
use valdrix_store::{Dimension, Metric};

use crate::Cli;

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct ForecastCmd {
    #[command(subcommand)]
    what: Option<ForecastCommand>,
    #[command(flatten)]
    run: ForecastArgs,
}

#[derive(Subcommand)]
enum ForecastCommand {
    /// Kept forecasts (`valdrix forecast --save`) against the days that have become final
    /// since: their error and how often their intervals held, beside what their backtest said.
    Track {
        /// How many, newest first.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
}

#[derive(Args)]
pub(crate) struct ForecastArgs {
    /// A `date,value` CSV to forecast instead of the stored spend.
    #[arg(long, value_name = "FILE.csv")]
    input: Option<PathBuf>,
    /// Days ahead (at most 400).
    #[arg(long, default_value_t = 30)]
    horizon: usize,
    /// Interval level in percent (repeatable; default 80 and 95).
    #[arg(long = "level", value_name = "PCT")]
    levels: Vec<f64>,
    /// A day (YYYY-MM-DD) or range (FROM..TO, inclusive) marked as expected: left out of
    /// training (repeatable).
    #[arg(long, value_name = "DAY|FROM..TO")]
    exclude: Vec<String>,
    /// Stored spend: one forecast per value of this dimension (service, account, region,
    /// tag:KEY, ...) besides the total.
    #[arg(long)]
    by: Option<String>,
    #[command(flatten)]
    spend: SpendArgs,
    /// Stored spend: keep the forecasts made, to track them as days become final
    /// (`valdrix forecast track`).
    #[arg(long)]
    save: bool,
    /// Stored spend: the rest of this month and the next N (up to 12), month by month (the
    /// daily forecast added up).
    #[arg(long, value_name = "N", conflicts_with = "horizon")]
    months: Option<u32>,
    /// Output format (csv: `date,yhat,lo80,hi80,lo95,hi95`; json: with the model and its
    /// backtest).
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    format: OutputFormat,
}

/// Which stored spend to read.
#[derive(Args)]
pub(crate) struct SpendArgs {
    /// Amount: billed (invoice) or effective (amortized).
    #[arg(long, default_value = "billed")]
    metric: String,
    /// Filter DIMENSION=VALUE[,VALUE...] (repeatable), e.g. provider=AWS.
    #[arg(long = "filter", value_name = "DIM=VALUES")]
    filters: Vec<String>,
    /// Values of --by kept apart, the largest by the last four weeks' spend; the rest are one
    /// `(other)` row.
    #[arg(long, default_value_t = 10)]
    top: usize,
}

impl SpendArgs {
    fn query(&self, by: Option<&str>) -> Result<SpendQuery> {
        let metric = Metric::parse(&self.metric)
            .with_context(|| format!("unknown metric {:?}: use billed, effective, list or contracted", self.metric))?;
        let by = match by {
            Some(b) => Some(Dimension::parse(b).with_context(|| format!("unknown dimension {b:?}"))?),
            None => None,
        };
        let filters = self.filters.iter().map(|f| crate::parse_filter(f, "filter")).collect::<Result<Vec<_>>>()?;
        Ok(SpendQuery { by, metric, filters, from: None, top: self.top })
    }
}

impl ForecastArgs {
    fn options(&self) -> Result<Options> {
        let mut opts = Options::new(self.horizon);
        if !self.levels.is_empty() {
            opts.levels = self.levels.iter().map(|p| p / 100.0).collect();
        } else {
            opts.levels = DEFAULT_LEVELS.to_vec();
        }
        for e in &self.exclude {
            opts.excluded.extend(days(e)?);
        }
        Ok(opts)
    }
}

/// The days of `DAY` or `FROM..TO` (inclusive).
pub(crate) fn days(spec: &str) -> Result<Vec<chrono::NaiveDate>> {
    let parse = |t: &str| {
        chrono::NaiveDate::parse_from_str(t.trim(), "%Y-%m-%d")
            .with_context(|| format!("--exclude {spec:?}: expected YYYY-MM-DD or FROM..TO"))
    };
    let (from, to) = match spec.split_once("..") {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => (parse(spec)?, parse(spec)?),
    };
    if to < from {
        anyhow::bail!("--exclude {spec:?}: the range ends before it starts");
    }
    Ok(from.iter_days().take_while(|d| *d <= to).collect())
}

pub(crate) fn forecast_cmd(cli: &Cli, tenant: &TenantId, cmd: &ForecastCmd) -> Result<()> {
    match &cmd.what {
        Some(ForecastCommand::Track { limit, format }) => track_cmd(cli, tenant, *limit, *format),
        None => forecast_run(cli, tenant, &cmd.run),
    }
}

fn track_cmd(cli: &Cli, tenant: &TenantId, limit: usize, format: OutputFormat) -> Result<()> {
    let config = crate::load_config(cli)?;
    let store = crate::open_store(cli)?;
    let tracked = spend::track(store.as_ref(), tenant, limit, chrono::Utc::now(), &config.trust)?;
    let mut out = std::io::stdout().lock();
    if format == OutputFormat::Json {
        serde_json::to_writer_pretty(&mut out, &tracked)?;
        use std::io::Write;
        writeln!(out)?;
        return Ok(());
    }
    let csv = format == OutputFormat::Csv;
    let pct = |v: Option<f64>| v.map(|m| format!("{:.1} %", m * 100.0));
    let columns = [
        "id",
        "made",
        "series",
        "currency",
        "model",
        "days final",
        "actual",
        "forecast",
        "MAPE",
        "80 % held",
        "95 % held",
        "backtest MAPE",
    ]
    .map(String::from)
    .to_vec();
    let held = |t: &spend::Tracked, level: f64| {
        t.coverage
            .iter()
            .find(|c| (c.level - level).abs() < 1e-9)
            .filter(|_| t.days_compared > 0)
            .map(|c| format!("{:.0} %", c.share * 100.0))
    };
    let rows = tracked
        .iter()
        .map(|t| {
            vec![
                Some(t.id.to_string()),
                Some(t.created_at.get(..16).unwrap_or(&t.created_at).replace('T', " ")),
                Some(t.series.clone()),
                Some(t.currency.clone()),
                Some(t.model.clone()),
                Some(format!("{} of {}", t.days_compared, t.horizon)),
                Some(money(t.actual, csv)),
                Some(money(t.forecast, csv)),
                pct(t.mape),
                held(t, 0.8),
                held(t, 0.95),
                pct(t.backtest_mape),
            ]
        })
        .collect();
    let numeric = vec![true, false, false, false, false, true, true, true, true, true, true, true];
    Grid { columns, rows, numeric }.write(format, &mut out)
}

fn forecast_run(cli: &Cli, tenant: &TenantId, a: &ForecastArgs) -> Result<()> {
    let opts = a.options()?;
    let Some(path) = &a.input else {
        return forecast_spend_cmd(cli, tenant, a, opts);
    };
    if a.months.is_some() || a.by.is_some() || a.save {
        anyhow::bail!("--months, --by and --save are for stored spend, not --input");
    }
    let s = series::read_csv(path)?;
    let f = forecast::forecast(&s, &opts).with_context(|| format!("forecasting {}", path.display()))?;
    let mut out = std::io::stdout().lock();
    match a.format {
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &f)?;
            use std::io::Write;
            writeln!(out)?;
        }
        OutputFormat::Csv => series::forecast_grid(&f.points, &opts.levels).write(a.format, &mut out)?,
        OutputFormat::Table => {
            series::forecast_grid(&f.points, &opts.levels).write(a.format, &mut out)?;
            summary(&f);
        }
    }
    Ok(())
}

fn forecast_spend_cmd(cli: &Cli, tenant: &TenantId, a: &ForecastArgs, mut opts: Options) -> Result<()> {
    let config = crate::load_config(cli)?;
    let mut store = crate::open_store(cli)?;
    let q = a.spend.query(a.by.as_deref())?;
    let now = chrono::Utc::now();
    let horizon = match a.months {
        Some(months) if months > 12 => anyhow::bail!("--months {months}: at most 12"),
        Some(months) => spend::Horizon::Months(months),
        None => spend::Horizon::Days(opts.horizon),
    };
    let result = spend::forecast_spend(store.as_ref(), tenant, &q, horizon, &opts, now, &config.trust)?;
    opts.horizon = result.first().map_or(opts.horizon, |c| c.total.points.len());
    if a.save {
        let ids = spend::save_forecasts(store.as_mut(), tenant, &q, &result)?;
        if let (Some(first), Some(last)) = (ids.first(), ids.last()) {
            eprintln!("kept as forecasts {first} to {last}: `valdrix forecast track` compares them with what happens");
        }
    }
    let mut out = std::io::stdout().lock();
    if a.format == OutputFormat::Json {
        serde_json::to_writer_pretty(&mut out, &result)?;
        use std::io::Write;
        writeln!(out)?;
        return Ok(());
    }
    let csv = a.format == OutputFormat::Csv;
    for c in &result {
        if a.months.is_some() {
            let mut rows: Vec<(String, &forecast::Forecast)> = vec![("total".into(), &c.total)];
            rows.extend(c.categories.iter().filter_map(|k| k.forecast.as_ref().map(|f| (k.key.clone(), f))));
            month_grid(&c.currency, &rows, &opts.levels, csv).write(a.format, &mut out)?;
        } else if c.categories.is_empty() || csv {
            let mut rows: Vec<(String, &forecast::Forecast)> = vec![("total".into(), &c.total)];
            rows.extend(c.categories.iter().filter_map(|k| k.forecast.as_ref().map(|f| (k.key.clone(), f))));
            daily_grid(&c.currency, &rows, &opts.levels, csv).write(a.format, &mut out)?;
        } else {
            category_grid(c, opts.horizon).write(a.format, &mut out)?;
        }
        if !csv {
            eprintln!("{}: total", c.currency);
            summary(&c.total);
            for k in c.categories.iter().filter(|k| k.forecast.is_none()) {
                eprintln!(
                    "{}: no forecast ({}); its last week's average is carried in the total",
                    k.key,
                    k.error.as_deref().unwrap_or("-")
                );
            }
        }
    }
    Ok(())
}

/// Money for people (table) or programs (csv): two decimals.
fn money(v: f64, csv: bool) -> String {
    let v = if v == 0.0 { 0.0 } else { v }; // not "-0.00"
    let d = Decimal::from_f64_retain(v).unwrap_or_default().round_dp(2);
    if csv {
        format!("{d:.2}")
    } else {
        money_for_people(d)
    }
}

/// Daily rows: `series,currency,date,yhat,lo80,hi80,...`.
fn daily_grid(currency: &str, rows: &[(String, &forecast::Forecast)], levels: &[f64], csv: bool) -> Grid {
    let columns = band_columns(&["series", "currency", "date"], levels);
    let mut out = Vec::new();
    for (key, f) in rows {
        for p in &f.points {
            let first = [key.clone(), currency.to_string(), p.date.to_string()];
            out.push(first.into_iter().map(Some).chain(band_cells(p.yhat, &p.intervals, csv)).collect());
        }
    }
    let numeric = (0..columns.len()).map(|i| i > 2).collect();
    Grid { columns, rows: out, numeric }
}

/// Monthly rows: `series,currency,month,days,yhat,lo80,hi80,...`.
fn month_grid(currency: &str, rows: &[(String, &forecast::Forecast)], levels: &[f64], csv: bool) -> Grid {
    let columns = band_columns(&["series", "currency", "month", "days"], levels);
    let mut out = Vec::new();
    for (key, f) in rows {
        for m in forecast::monthly(&f.points) {
            let first = [key.clone(), currency.to_string(), m.month.clone(), m.days.to_string()];
            out.push(first.into_iter().map(Some).chain(band_cells(m.yhat, &m.intervals, csv)).collect());
        }
    }
    let numeric = (0..columns.len()).map(|i| i > 2).collect();
    Grid { columns, rows: out, numeric }
}

/// Column names: `first`, then `yhat` and a low and a high per interval level (`lo80`, `hi80`).
fn band_columns(first: &[&str], levels: &[f64]) -> Vec<String> {
    let mut columns: Vec<String> = first.iter().map(|c| c.to_string()).collect();
    columns.push("yhat".into());
    for l in levels {
        columns.push(format!("lo{}", series::level_label(*l)));
        columns.push(format!("hi{}", series::level_label(*l)));
    }
    columns
}

/// A forecast's cells under [`band_columns`]: the figure, then each interval's bounds.
fn band_cells(yhat: f64, intervals: &[forecast::Interval], csv: bool) -> impl Iterator<Item = Option<String>> + '_ {
    std::iter::once(Some(money(yhat, csv)))
        .chain(intervals.iter().flat_map(move |i| [Some(money(i.lo, csv)), Some(money(i.hi, csv))]))
}

/// One row per value: the horizon's forecast total, its 80 % range, the model and its backtest.
fn category_grid(c: &spend::CurrencyForecast, horizon: usize) -> Grid {
    let columns = [
        "series",
        "currency",
        "next days",
        "forecast",
        "80 % low",
        "80 % high",
        "model",
        "backtest MAPE",
        "confidence",
    ]
    .map(String::from)
    .to_vec();
    let row = |key: &str, f: &forecast::Forecast| {
        let sum = |pick: &dyn Fn(&forecast::Point) -> f64| f.points.iter().map(pick).sum::<f64>();
        let band = |hi: bool| {
            sum(&|p: &forecast::Point| {
                p.intervals
                    .iter()
                    .find(|i| (i.level - 0.8).abs() < 1e-9)
                    .map_or(p.yhat, |i| if hi { i.hi } else { i.lo })
            })
        };
        vec![
            Some(key.to_string()),
            Some(c.currency.clone()),
            Some(horizon.to_string()),
            Some(money(sum(&|p| p.yhat), false)),
            Some(money(band(false), false)),
            Some(money(band(true), false)),
            Some(f.model.to_string()),
            f.accuracy.as_ref().and_then(|a| a.mape).map(|m| format!("{:.1} %", m * 100.0)),
            Some(if f.low_confidence { format!("{:.2} low", f.confidence) } else { format!("{:.2}", f.confidence) }),
        ]
    };
    let mut rows = vec![row("total", &c.total)];
    for k in &c.categories {
        match &k.forecast {
            Some(f) => rows.push(row(&k.key, f)),
            None => {
                rows.push(vec![Some(k.key.clone()), Some(c.currency.clone()), None, None, None, None, None, None, None])
            }
        }
    }
    Grid { columns, rows, numeric: vec![false, false, true, true, true, true, false, true, false] }
}

/// How the forecast was made and how far to trust it, for people (on stderr, so that the table
/// can still be piped).
fn summary(f: &Forecast) {
    eprintln!("model: {} ({} scale), trained {} to {}", f.model, f.transform, f.trained_from, f.trained_through);
    if let Some(acc) = &f.accuracy {
        let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:.1} %", v * 100.0));
        let coverage: Vec<String> = acc
            .coverage
            .iter()
            .map(|c| format!("{} % band held {:.0} %", series::level_label(c.level), c.share * 100.0))
            .collect();
        eprintln!(
            "backtest ({} origins, {} days): MAPE {}, sMAPE {:.1} %, MASE {}; {}",
            acc.origins,
            acc.points,
            pct(acc.mape),
            acc.smape * 100.0,
            acc.mase.map_or("-".to_string(), |m| format!("{m:.2}")),
            coverage.join(", ")
        );
    }
    eprintln!(
        "confidence {:.2}{}",
        f.confidence,
        if f.low_confidence { " (low confidence: backtest MAPE above 20 %)" } else { "" }
    );
    if !f.outliers.is_empty() {
        eprintln!("left out as outliers: {}", list(&f.outliers));
    }
    if !f.excluded.is_empty() {
        eprintln!("left out as expected: {}", list(&f.excluded));
    }
    if !f.changepoints.is_empty() {
        eprintln!("level shifts: {}", list(&f.changepoints));
    }
}

fn list(days: &[chrono::NaiveDate]) -> String {
    const SHOWN: usize = 8;
    let mut s: Vec<String> = days.iter().take(SHOWN).map(|d| d.to_string()).collect();
    if days.len() > SHOWN {
        s.push(format!("and {} more", days.len() - SHOWN));
    }
    s.join(", ")
}

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

pub(crate) fn anomalies_cmd(cli: &Cli, tenant: &TenantId, cmd: &AnomaliesCmd) -> Result<()> {
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
            let mut store = crate::open_store(cli)?;
            if matches!(cmd.what, Some(AnomaliesCommand::Expect(_))) {
                let mark = AnomalyFeedback {
                    series: m.series.clone(),
                    first_day: first.to_string(),
                    last_day: last.to_string(),
                    created_at: String::new(),
                    created_by: crate::actor(&m.actor),
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
            let store = crate::open_store(cli)?;
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
fn keep_monitor(cli: &Cli, tenant: &TenantId, m: &MonitorArgs) -> Result<()> {
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
        updated_by: crate::actor(&m.actor),
    };
    monitor::check(&monitor)?;
    let mut store = crate::open_store(cli)?;
    let created = store.save_anomaly_monitor(tenant, &monitor)?;
    println!("monitor {} {}", m.name, if created { "kept" } else { "replaced" });
    Ok(())
}

/// Deletes an anomaly monitor; an error when there is none of that name.
fn delete_monitor(cli: &Cli, tenant: &TenantId, name: &str) -> Result<()> {
    let mut store = crate::open_store(cli)?;
    if !store.delete_anomaly_monitor(tenant, name)? {
        anyhow::bail!("no monitor {name:?} (`valdrix anomalies monitors` lists them)");
    }
    println!("monitor {name} deleted");
    Ok(())
}

/// Lists the anomaly monitors.
fn list_monitors(cli: &Cli, tenant: &TenantId, format: OutputFormat) -> Result<()> {
    let store = crate::open_store(cli)?;
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
fn run_monitors(cli: &Cli, tenant: &TenantId, a: &AnomaliesArgs, name: Option<&str>) -> Result<()> {
    let config = crate::load_config(cli)?;
    let mut store = crate::open_store(cli)?;
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

fn anomalies_run(cli: &Cli, tenant: &TenantId, a: &AnomaliesArgs) -> Result<()> {
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
    cli: &Cli,
    tenant: &TenantId,
    a: &AnomaliesArgs,
    thresholds: Thresholds,
    expected: Vec<chrono::NaiveDate>,
) -> Result<()> {
    let config = crate::load_config(cli)?;
    let store = crate::open_store(cli)?;
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
                Some(series::number(c.actual)),
                Some(series::number(c.expected)),
                Some(series::number(c.lo)),
                Some(series::number(c.hi)),
                Some(series::number(c.score)),
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
                Some(series::number(a.actual)),
                Some(series::number(a.expected)),
                Some(series::number(a.impact)),
                Some(a.severity.as_str().to_string()),
            ]
        })
        .collect();
    Grid { columns, rows, numeric: vec![false, false, true, true, true, true, false] }
}
