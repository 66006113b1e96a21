//! Daily anomaly detection, in the manner of AWS Cost Anomaly Detection: each day's spend
//! against what the forecast expected from the days before it.
//!
//! A day is anomalous when its actual leaves the prediction interval (95 % by default) *and*
//! its impact (actual minus expected) passes both a money floor and a percentage of the
//! expected value, so that neither a 300 % jump on a 2-dollar service nor a 0.5 % wobble on a
//! large one raises an alarm. Consecutive anomalous days are one anomaly, with a start, an end,
//! a total impact and a severity.
//!
//! Days are checked a week at a time, each week forecast from everything before it (its
//! intervals from a rolling-origin backtest redone every eight weeks). Days already found
//! anomalous, and days a person marked as expected, are left out of the training of the weeks
//! after them, so that an incident does not teach the model that it is normal.

mod root_cause;

pub use root_cause::{contributions, Contribution};

use chrono::{Datelike, Duration, NaiveDate};
use serde::Serialize;

use crate::forecast::{DailySeries, Trained};

/// Days forecast at a time.
const BLOCK: usize = 7;
/// Days between backtests (which choose the model and size the intervals); the weeks between
/// only refit the chosen model.
const RETRAIN: usize = 56;
/// The fewest days of history before the first day checked.
pub const MIN_HISTORY: usize = 28;

/// Which way a day must move to count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Spend above the interval (the default: what costs money).
    #[default]
    Up,
    /// Spend below it (something stopped).
    Down,
    /// Either.
    Both,
}

impl Direction {
    /// Parses `up`, `down`, `both`.
    pub fn parse(s: &str) -> Option<Direction> {
        match s.trim().to_ascii_lowercase().as_str() {
            "up" => Some(Direction::Up),
            "down" => Some(Direction::Down),
            "both" => Some(Direction::Both),
            _ => None,
        }
    }

    /// `up`, `down` or `both`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Up => "up",
            Direction::Down => "down",
            Direction::Both => "both",
        }
    }
}

/// A monitor's thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Thresholds {
    /// The smallest daily impact that counts, in the series' units (money for spend).
    pub min_impact: f64,
    /// The smallest daily impact that counts, as a share of the expected value (0.1 = 10 %).
    pub min_share: f64,
    /// The prediction interval a day must leave (0.95 = 95 %).
    pub level: f64,
    /// Which way a day must move.
    pub direction: Direction,
}

impl Default for Thresholds {
    /// 100 (dollars, say) and 10 %, outside the 95 % interval, upwards.
    fn default() -> Self {
        Thresholds { min_impact: 100.0, min_share: 0.10, level: 0.95, direction: Direction::Up }
    }
}

/// The names [`Thresholds::set`] takes, as monitors and the API's query name them.
pub const THRESHOLD_FIELDS: [&str; 4] = ["min_impact", "min_percent", "level", "direction"];

/// A threshold given as text that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {text:?}: {expected}")]
pub struct ThresholdError {
    /// Which threshold (one of [`THRESHOLD_FIELDS`], or the unknown name given).
    pub field: String,
    /// The text given.
    pub text: String,
    /// What it should have been.
    pub expected: &'static str,
}

impl Thresholds {
    /// Sets one threshold from text, the one way monitors and the API read them: `min_impact`
    /// (0 or more, in the series' units), `min_percent` (0 or more), `level` (a percentage
    /// strictly between 0 and 100) or `direction` (`up`, `down`, `both`). Numbers are not
    /// trimmed: a caller that allows spaces trims first.
    pub fn set(&mut self, field: &str, text: &str) -> Result<(), ThresholdError> {
        let refuse = |expected| ThresholdError { field: field.to_string(), text: text.to_string(), expected };
        let number = || text.parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0);
        match field {
            "min_impact" => self.min_impact = number().ok_or_else(|| refuse("a number, 0 or more"))?,
            "min_percent" => self.min_share = number().ok_or_else(|| refuse("a number, 0 or more"))? / 100.0,
            "level" => {
                let level = number()
                    .filter(|p| *p > 0.0 && *p < 100.0)
                    .ok_or_else(|| refuse("a percentage between 0 and 100"))?;
                self.level = level / 100.0;
            }
            "direction" => self.direction = Direction::parse(text).ok_or_else(|| refuse("up, down or both"))?,
            _ => return Err(refuse("not a threshold (min_impact, min_percent, level, direction)")),
        }
        Ok(())
    }
}

/// One day checked.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DayCheck {
    /// The day.
    pub date: NaiveDate,
    /// What happened.
    pub actual: f64,
    /// What the forecast expected.
    pub expected: f64,
    /// The interval's lower bound.
    pub lo: f64,
    /// The interval's upper bound.
    pub hi: f64,
    /// How far outside the interval, in half-widths of it: above 1 is outside (negative below
    /// the expected value).
    pub score: f64,
    /// Whether the day is anomalous (outside the interval and past both thresholds).
    pub anomalous: bool,
    /// Whether a person marked the day as expected (never anomalous, never trained on).
    pub suppressed: bool,
}

impl DayCheck {
    /// Actual minus expected.
    pub fn impact(&self) -> f64 {
        self.actual - self.expected
    }
}

/// How bad an anomaly is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Past the thresholds, no more.
    Low,
    /// At least 50 % over expected on its worst day, or three times the money floor in all.
    Medium,
    /// At least 100 % over expected, or ten times the money floor.
    High,
    /// Both: at least 200 % over expected and ten times the money floor.
    Critical,
}

impl Severity {
    /// `low`, `medium`, `high`, `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    fn of(days: &[DayCheck], t: &Thresholds) -> Severity {
        let impact: f64 = days.iter().map(|d| d.impact().abs()).sum();
        let share = days
            .iter()
            .map(|d| if d.expected.abs() > 0.0 { (d.impact() / d.expected).abs() } else { f64::INFINITY })
            .fold(0.0, f64::max);
        let floor = t.min_impact.max(f64::MIN_POSITIVE);
        if share >= 2.0 && impact >= 10.0 * floor {
            Severity::Critical
        } else if share >= 1.0 || impact >= 10.0 * floor {
            Severity::High
        } else if share >= 0.5 || impact >= 3.0 * floor {
            Severity::Medium
        } else {
            Severity::Low
        }
    }
}

/// Consecutive anomalous days.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Anomaly {
    /// The first day.
    pub start: NaiveDate,
    /// The last day.
    pub end: NaiveDate,
    /// What happened, summed over the days.
    pub actual: f64,
    /// What was expected, summed over the days.
    pub expected: f64,
    /// Actual minus expected, summed over the days.
    pub impact: f64,
    /// The largest score of its days.
    pub max_score: f64,
    /// How bad it is.
    pub severity: Severity,
}

/// What a detection run found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detection {
    /// Every day checked, in order.
    pub days: Vec<DayCheck>,
    /// The anomalies, oldest first.
    pub anomalies: Vec<Anomaly>,
    /// The model of the last backtest.
    pub model: &'static str,
}

/// Why detection could not run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DetectError {
    /// Too little history before the first day to check.
    #[error("{have} days of history before {from}; anomaly detection needs at least {need}")]
    TooShort {
        /// The first day to check.
        from: NaiveDate,
        /// Days of history before it.
        have: usize,
        /// Days needed.
        need: usize,
    },
    /// Thresholds out of range.
    #[error("invalid thresholds: {0}")]
    Thresholds(&'static str),
}

/// Checks every day of `series` from `from` (clamped to the first day with enough history) to
/// its end. `suppressed` days were marked as expected by a person.
pub fn detect(
    series: &DailySeries,
    from: NaiveDate,
    thresholds: &Thresholds,
    suppressed: &[NaiveDate],
) -> Result<Detection, DetectError> {
    if !(thresholds.level > 0.0 && thresholds.level < 1.0) {
        return Err(DetectError::Thresholds("the interval level must be between 0 and 1"));
    }
    if !(thresholds.min_impact >= 0.0 && thresholds.min_share >= 0.0) {
        return Err(DetectError::Thresholds("the money floor and the percentage must not be negative"));
    }
    let n = series.values.len();
    let mut y: Vec<f64> = series.values.iter().map(|v| v.filter(|v| v.is_finite()).unwrap_or(f64::NAN)).collect();
    let mut is_suppressed = vec![false; n];
    for d in suppressed {
        let i = (*d - series.start).num_days();
        if (0..n as i64).contains(&i) {
            is_suppressed[i as usize] = true;
            y[i as usize] = f64::NAN;
        }
    }
    let first_value = y.iter().position(|v| v.is_finite() && *v != 0.0).unwrap_or(n);
    let wanted = (from - series.start).num_days().max(0) as usize;
    let start = wanted.max(first_value + MIN_HISTORY);
    if start > n || (wanted >= n && n > 0) {
        let have = wanted.min(n).saturating_sub(first_value);
        return Err(DetectError::TooShort { from, have, need: MIN_HISTORY });
    }

    // Weeks run Monday to Sunday, backtests fall on a fixed grid of RETRAIN days (Mondays), and
    // the check starts, silently, on the grid day on or before `start`: every run whose first
    // day falls between two grid days judges each day against the same forecast, trained on the
    // same history with the same findings left out. (A daily monitor's window moves a day each
    // day; with weeks counted from its first day, days near the thresholds came and went from
    // one run to the next.)
    let earliest = first_value + MIN_HISTORY;
    let grid = |i: usize| {
        let since = (series.day(i) - NaiveDate::from_ymd_opt(1970, 1, 5).unwrap_or_default()).num_days();
        i.saturating_sub(since.rem_euclid(RETRAIN as i64) as usize)
    };
    let monday = |i: usize| i.saturating_sub(series.day(i).weekday().num_days_from_monday() as usize);
    let mut t0 = [grid(start), monday(start), start].into_iter().find(|&t| t >= earliest).unwrap_or(start);
    let mut days = Vec::new();
    let mut trained: Option<(usize, Trained)> = None;
    let mut model = "";
    while t0 < n {
        let len = (BLOCK - series.day(t0).weekday().num_days_from_monday() as usize).min(n - t0);
        // Train on what came before, without the anomalies found so far.
        let from_day = t0 - crate::forecast::training_days(t0 - first_value);
        let history = &y[from_day..t0];
        let due = grid(t0);
        if trained.as_ref().is_none_or(|(at, _)| *at < due) {
            // On the grid's day before this week (when there was history enough by then).
            let at = if due >= earliest { due } else { t0 };
            let train_from = at - crate::forecast::training_days(at - first_value);
            trained = crate::forecast::train(&y[train_from..at], series.day(train_from), BLOCK).map(|t| (at, t));
        }
        let Some((_, model_now)) = &trained else {
            return Err(DetectError::TooShort { from, have: t0 - first_value, need: MIN_HISTORY });
        };
        model = model_now.model_name();
        let expected = crate::forecast::point(history, series.day(from_day), model_now, len)
            .ok_or(DetectError::TooShort { from, have: t0 - first_value, need: MIN_HISTORY })?;
        for (h, &e) in expected.iter().enumerate() {
            let i = t0 + h;
            let raw = series.values[i].filter(|v| v.is_finite());
            let Some(actual) = raw else { continue };
            let (lo, hi) = model_now.interval(e, h, thresholds.level);
            let score = band_score(actual, e, lo, hi);
            let impact = actual - e;
            let outside = match thresholds.direction {
                Direction::Up => actual > hi,
                Direction::Down => actual < lo,
                Direction::Both => actual > hi || actual < lo,
            };
            let big_enough = impact.abs() >= thresholds.min_impact
                && (e.abs() == 0.0 || impact.abs() / e.abs() >= thresholds.min_share);
            let anomalous = outside && big_enough && !is_suppressed[i];
            if anomalous {
                y[i] = f64::NAN;
            }
            if i < start {
                continue;
            }
            days.push(DayCheck {
                date: series.day(i),
                actual,
                expected: e,
                lo,
                hi,
                score,
                anomalous,
                suppressed: is_suppressed[i],
            });
        }
        t0 += len;
    }
    let anomalies = merge(&days, thresholds);
    Ok(Detection { days, anomalies, model })
}

/// How far `actual` sits from `expected`, in half-widths of the interval on its side.
fn band_score(actual: f64, expected: f64, lo: f64, hi: f64) -> f64 {
    if actual >= expected {
        let w = hi - expected;
        if w > 0.0 {
            (actual - expected) / w
        } else if actual > expected {
            f64::INFINITY
        } else {
            0.0
        }
    } else {
        let w = expected - lo;
        if w > 0.0 {
            (actual - expected) / w
        } else {
            f64::NEG_INFINITY
        }
    }
}

/// Consecutive anomalous days (calendar-consecutive) as anomalies.
fn merge(days: &[DayCheck], t: &Thresholds) -> Vec<Anomaly> {
    let mut out = Vec::new();
    let mut run: Vec<DayCheck> = Vec::new();
    let flush = |run: &mut Vec<DayCheck>, out: &mut Vec<Anomaly>| {
        if let (Some(first), Some(last)) = (run.first(), run.last()) {
            out.push(Anomaly {
                start: first.date,
                end: last.date,
                actual: run.iter().map(|d| d.actual).sum(),
                expected: run.iter().map(|d| d.expected).sum(),
                impact: run.iter().map(DayCheck::impact).sum(),
                max_score: run.iter().map(|d| d.score.abs()).fold(0.0, f64::max),
                severity: Severity::of(run, t),
            });
        }
        run.clear();
    };
    for d in days {
        let continues = run.last().is_some_and(|l| d.date == l.date + Duration::days(1));
        if !d.anomalous || !continues {
            flush(&mut run, &mut out);
        }
        if d.anomalous {
            run.push(*d);
        }
    }
    flush(&mut run, &mut out);
    out
}

#[cfg(test)]
mod tests;
