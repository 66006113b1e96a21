//! `valdrix forecast`: an arbitrary `date,value` series (`--input`) or the tenant's stored spend,
//! forecast with its bands and backtest; `forecast track`, the accuracy of kept forecasts.

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use std::path::PathBuf;

use rust_decimal::Decimal;

use valdrix_app::series;

use super::output::{money_for_people, Grid, OutputFormat};
use valdrix_analytics::forecast::{self, Forecast, Options, Point, DEFAULT_LEVELS};
use valdrix_analytics::spend::{self, SpendQuery};
use valdrix_core::TenantId;
use valdrix_store::{Dimension, Metric};

use super::Global;

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
    pub(crate) fn query(&self, by: Option<&str>) -> Result<SpendQuery> {
        let metric = Metric::parse(&self.metric)
            .with_context(|| format!("unknown metric {:?}: use billed, effective, list or contracted", self.metric))?;
        let by = match by {
            Some(b) => Some(Dimension::parse(b).with_context(|| format!("unknown dimension {b:?}"))?),
            None => None,
        };
        let filters = self.filters.iter().map(|f| super::parse_filter(f, "filter")).collect::<Result<Vec<_>>>()?;
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

pub(crate) fn forecast_cmd(cli: &Global, tenant: &TenantId, cmd: &ForecastCmd) -> Result<()> {
    match &cmd.what {
        Some(ForecastCommand::Track { limit, format }) => track_cmd(cli, tenant, *limit, *format),
        None => forecast_run(cli, tenant, &cmd.run),
    }
}

fn track_cmd(cli: &Global, tenant: &TenantId, limit: usize, format: OutputFormat) -> Result<()> {
    let config = super::load_config(cli)?;
    let store = super::open_store(cli)?;
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

fn forecast_run(cli: &Global, tenant: &TenantId, a: &ForecastArgs) -> Result<()> {
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
        OutputFormat::Csv => forecast_grid(&f.points, &opts.levels).write(a.format, &mut out)?,
        OutputFormat::Table => {
            forecast_grid(&f.points, &opts.levels).write(a.format, &mut out)?;
            summary(&f);
        }
    }
    Ok(())
}

fn forecast_spend_cmd(cli: &Global, tenant: &TenantId, a: &ForecastArgs, mut opts: Options) -> Result<()> {
    let config = super::load_config(cli)?;
    let mut store = super::open_store(cli)?;
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
pub(crate) fn money(v: f64, csv: bool) -> String {
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
        columns.push(format!("lo{}", level_label(*l)));
        columns.push(format!("hi{}", level_label(*l)));
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
pub(crate) fn summary(f: &Forecast) {
    eprintln!("model: {} ({} scale), trained {} to {}", f.model, f.transform, f.trained_from, f.trained_through);
    if let Some(acc) = &f.accuracy {
        let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:.1} %", v * 100.0));
        let coverage: Vec<String> = acc
            .coverage
            .iter()
            .map(|c| format!("{} % band held {:.0} %", level_label(c.level), c.share * 100.0))
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

pub(crate) fn list(days: &[chrono::NaiveDate]) -> String {
    const SHOWN: usize = 8;
    let mut s: Vec<String> = days.iter().take(SHOWN).map(|d| d.to_string()).collect();
    if days.len() > SHOWN {
        s.push(format!("and {} more", days.len() - SHOWN));
    }
    s.join(", ")
}

/// The forecast as `date,yhat,lo80,hi80,lo95,hi95` (one pair of bounds per level).
pub(crate) fn forecast_grid(points: &[Point], levels: &[f64]) -> Grid {
    let mut columns = vec!["date".to_string(), "yhat".to_string()];
    for l in levels {
        let pct = level_label(*l);
        columns.push(format!("lo{pct}"));
        columns.push(format!("hi{pct}"));
    }
    let rows = points
        .iter()
        .map(|p| {
            let mut row = vec![Some(p.date.to_string()), Some(number(p.yhat))];
            for i in &p.intervals {
                row.push(Some(number(i.lo)));
                row.push(Some(number(i.hi)));
            }
            row
        })
        .collect();
    let numeric = (0..columns.len()).map(|i| i > 0).collect();
    Grid { columns, rows, numeric }
}

/// `80` for 0.8, `97.5` for 0.975.
pub(crate) fn level_label(level: f64) -> String {
    let pct = (level * 1000.0).round() / 10.0;
    format!("{pct}")
}

/// A value with at most four decimals.
pub(crate) fn number(v: f64) -> String {
    let r = (v * 10_000.0).round() / 10_000.0;
    if r == 0.0 {
        "0".into() // not "-0"
    } else {
        format!("{r}")
    }
}
