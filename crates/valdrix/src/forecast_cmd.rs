//! The `valdrix forecast` and `valdrix anomalies` command lines: an arbitrary `date,value`
//! series (`--input`) or the tenant's stored spend.

use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;

use valdrix::output::{Grid, OutputFormat};
use valdrix::series;
use valdrix_analytics::anomaly::{self, Anomaly, Detection, Direction, Thresholds};
use valdrix_analytics::forecast::{self, Forecast, Options, DEFAULT_LEVELS};

use crate::Cli;

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
    /// Output format (csv: `date,yhat,lo80,hi80,lo95,hi95`; json: with the model and its
    /// backtest).
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    format: OutputFormat,
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

pub(crate) fn forecast_cmd(_cli: &Cli, a: &ForecastArgs) -> Result<()> {
    let opts = a.options()?;
    let Some(path) = &a.input else {
        anyhow::bail!("forecasting stored spend is not wired yet: give --input FILE.csv");
    };
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
pub(crate) struct AnomaliesArgs {
    /// A `date,value` CSV to check instead of the stored spend.
    #[arg(long, value_name = "FILE.csv")]
    input: Option<PathBuf>,
    /// The first day to check (default: every day after four weeks of history).
    #[arg(long, value_name = "YYYY-MM-DD")]
    from: Option<String>,
    /// The smallest daily impact that counts, in the series' units.
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
    /// A day or range (FROM..TO) marked as expected: never an anomaly, never trained on
    /// (repeatable).
    #[arg(long, value_name = "DAY|FROM..TO")]
    expected: Vec<String>,
    /// Output format (csv: the anomalous days with `date,actual,expected,lo,hi,score`).
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    format: OutputFormat,
}

impl AnomaliesArgs {
    fn thresholds(&self) -> Result<Thresholds> {
        Ok(Thresholds {
            min_impact: self.min_impact,
            min_share: self.min_percent / 100.0,
            level: self.level / 100.0,
            direction: Direction::parse(&self.direction)
                .with_context(|| format!("--direction {:?}: use up, down or both", self.direction))?,
        })
    }

    fn expected_days(&self) -> Result<Vec<chrono::NaiveDate>> {
        let mut out = Vec::new();
        for e in &self.expected {
            out.extend(days(e).map_err(|err| anyhow::anyhow!("{err:#}").context("--expected"))?);
        }
        Ok(out)
    }
}

pub(crate) fn anomalies_cmd(_cli: &Cli, a: &AnomaliesArgs) -> Result<()> {
    let thresholds = a.thresholds()?;
    let expected = a.expected_days()?;
    let Some(path) = &a.input else {
        anyhow::bail!("anomaly detection on stored spend is not wired yet: give --input FILE.csv");
    };
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
