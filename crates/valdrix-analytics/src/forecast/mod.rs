//! Daily forecasts with prediction intervals and their own track record.
//!
//! For one daily series:
//! 1. **Training days.** Days without a usable value and days the user marked as expected
//!    (a launch, Black Friday) are left out; leading zeros (before a service existed) are cut.
//! 2. **Cleaning** ([`clean`]): the weekly pattern is taken out by robust STL, level shifts are
//!    found and the history before them brought to today's level (a last level that the final
//!    days have come back from is temporary, and brought back instead), and days far from their
//!    week are replaced as outliers, unless the same weekday stands out the same way three
//!    weeks in a row (the weekly pattern changed). Positive series are modelled in logarithms,
//!    so patterns and errors are percentages.
//! 3. **Candidates** ([`model`]): STL's weekly pattern (and a yearly one with two years of
//!    history, by MSTL) plus damped-trend exponential smoothing of the rest; the seasonal naive
//!    forecast of the cleaned series; and the average of the two.
//! 4. **Backtest** ([`backtest`]): every candidate is refitted at up to twenty earlier origins
//!    and compared with what happened. The one with the lowest weighted error is chosen; its
//!    errors, day by day ahead, are the prediction intervals (split conformal), and its scores
//!    (MAPE, sMAPE, MASE, interval coverage) are the forecast's accuracy.
//!
//! Floats are used here only: callers turn money into `f64` on the way in and round on the way
//! out.

mod backtest;
mod clean;
mod model;
mod smoothing;

pub use backtest::{Accuracy, LevelCoverage};
pub(crate) use clean::median as clean_median;
pub use model::{Candidate, Smoothing, Transform};

use chrono::{Datelike, Duration, NaiveDate};
use serde::Serialize;

/// The longest horizon, in days (a year ahead from any day of a month, month by month).
pub const MAX_HORIZON: usize = 400;
/// The fewest usable days a forecast is made from.
pub const MIN_DAYS: usize = 14;
/// Backtest MAPE above which a forecast is flagged as low confidence (20 %).
pub const LOW_CONFIDENCE_MAPE: f64 = 0.20;
/// The interval levels given when none are asked for.
pub const DEFAULT_LEVELS: [f64; 2] = [0.8, 0.95];

/// Why a forecast could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ForecastError {
    /// Not enough history.
    #[error("the series has {have} usable days; a forecast needs at least {need}")]
    TooShort {
        /// Usable days.
        have: usize,
        /// Days needed.
        need: usize,
    },
    /// The horizon is 0 or too long.
    #[error("horizon {0} days is out of range (1 to {MAX_HORIZON})")]
    Horizon(usize),
    /// An interval level outside (0, 1).
    #[error("interval level {0} is out of range (between 0 and 1, exclusive)")]
    Level(f64),
}

/// A daily series: one value per day from `start` (`None`: no value that day).
#[derive(Debug, Clone, PartialEq)]
pub struct DailySeries {
    /// The first day.
    pub start: NaiveDate,
    /// One value per day.
    pub values: Vec<Option<f64>>,
}

impl DailySeries {
    /// The day after the last value: where a forecast starts.
    pub fn end(&self) -> NaiveDate {
        self.start + Duration::days(self.values.len() as i64)
    }

    /// The day at index `i`.
    pub fn day(&self, i: usize) -> NaiveDate {
        self.start + Duration::days(i as i64)
    }
}

/// What to forecast.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Days ahead.
    pub horizon: usize,
    /// Interval levels (0.8 = 80 %).
    pub levels: Vec<f64>,
    /// Days marked as expected: left out of training and of the accuracy scores.
    pub excluded: Vec<NaiveDate>,
}

impl Options {
    /// `horizon` days ahead at 80 % and 95 %.
    pub fn new(horizon: usize) -> Options {
        Options { horizon, levels: DEFAULT_LEVELS.to_vec(), excluded: Vec::new() }
    }

    fn check(&self) -> Result<(), ForecastError> {
        if self.horizon == 0 || self.horizon > MAX_HORIZON {
            return Err(ForecastError::Horizon(self.horizon));
        }
        match self.levels.iter().find(|l| !(**l > 0.0 && **l < 1.0)) {
            Some(&l) => Err(ForecastError::Level(l)),
            None => Ok(()),
        }
    }
}

/// One forecast day.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Point {
    /// The day.
    pub date: NaiveDate,
    /// The forecast (the median of what to expect).
    pub yhat: f64,
    /// Prediction intervals, one per level asked for.
    pub intervals: Vec<Interval>,
}

/// A prediction interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct Interval {
    /// Nominal level (0.8 = 80 %).
    pub level: f64,
    /// Lower bound.
    pub lo: f64,
    /// Upper bound.
    pub hi: f64,
}

/// A forecast with how it was made and how far to trust it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Forecast {
    /// The forecast days, from the day after the history.
    pub points: Vec<Point>,
    /// The model chosen by the backtest.
    pub model: &'static str,
    /// The transform it worked in.
    pub transform: &'static str,
    /// The damped-trend parameters, for decomposed models.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smoothing: Option<Smoothing>,
    /// The first day trained on.
    pub trained_from: NaiveDate,
    /// The last day trained on.
    pub trained_through: NaiveDate,
    /// Days replaced as outliers in training.
    pub outliers: Vec<NaiveDate>,
    /// Days where a new level started.
    pub changepoints: Vec<NaiveDate>,
    /// A charge recurring on the first of each month (left out of training, added back to the
    /// forecast's month starts); none when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub month_start_charge: Option<f64>,
    /// Days left out because they were marked as expected.
    pub excluded: Vec<NaiveDate>,
    /// The backtest's scores (none when the history was too short to backtest).
    pub accuracy: Option<Accuracy>,
    /// 0 to 1: 1 minus the backtest MAPE over 40 % (0.5 at 20 %); 0 without a backtest.
    pub confidence: f64,
    /// Whether the backtest MAPE exceeds 20 % (or there was no backtest).
    pub low_confidence: bool,
}

/// Forecasts `series` `opts.horizon` days ahead.
pub fn forecast(series: &DailySeries, opts: &Options) -> Result<Forecast, ForecastError> {
    opts.check()?;
    let mut y: Vec<f64> = series.values.iter().map(|v| v.filter(|v| v.is_finite()).unwrap_or(f64::NAN)).collect();
    let mut excluded = Vec::new();
    for day in &opts.excluded {
        let i = (*day - series.start).num_days();
        if (0..y.len() as i64).contains(&i) && y[i as usize].is_finite() {
            y[i as usize] = f64::NAN;
            excluded.push(*day);
        }
    }
    excluded.sort();
    // Leading days with no value or no spend say nothing about the level.
    let first = y.iter().position(|v| v.is_finite() && *v != 0.0).unwrap_or(y.len());
    let first = first.max(y.len() - training_days(y.len() - first));
    let y = &y[first..];
    let start = series.day(first);
    let usable = y.iter().filter(|v| v.is_finite()).count();
    if usable < MIN_DAYS {
        return Err(ForecastError::TooShort { have: usable, need: MIN_DAYS });
    }
    let trained = train(y, start, opts.horizon).ok_or(ForecastError::TooShort { have: usable, need: MIN_DAYS })?;
    let prepared = clean::prepare(y, start, trained.transform);
    let (used, fit) =
        trained.fit(&prepared, opts.horizon).ok_or(ForecastError::TooShort { have: usable, need: MIN_DAYS })?;
    let transform = trained.transform;
    let samples = &trained.samples;
    let non_negative = y.iter().filter(|v| v.is_finite()).all(|&v| v >= 0.0);
    let floor = |v: f64| if non_negative { v.max(0.0) } else { v };
    let points = fit
        .values
        .iter()
        .enumerate()
        .map(|(h, &yhat)| Point {
            date: series.end() + Duration::days(h as i64),
            yhat: floor(yhat),
            intervals: opts
                .levels
                .iter()
                .map(|&level| {
                    let (lo, hi) = trained.interval(yhat, h, level);
                    Interval { level, lo: floor(lo), hi: floor(hi) }
                })
                .collect(),
        })
        .collect();
    let accuracy = backtest::accuracy(y, transform, samples, &opts.levels);
    let mape = accuracy.as_ref().and_then(|a| a.mape);
    Ok(Forecast {
        points,
        model: used.as_str(),
        transform: transform.as_str(),
        smoothing: fit.smoothing,
        trained_from: start,
        trained_through: series.end() - Duration::days(1),
        outliers: prepared.outliers.iter().map(|&i| start + Duration::days(i as i64)).collect(),
        changepoints: prepared.changepoints.iter().map(|&i| start + Duration::days(i as i64)).collect(),
        excluded,
        month_start_charge: (prepared.month_start_charge != 0.0).then_some(prepared.month_start_charge),
        confidence: mape.map_or(0.0, |m| (1.0 - m / (2.0 * LOW_CONFIDENCE_MAPE)).clamp(0.0, 1.0)),
        low_confidence: mape.is_none_or(|m| m > LOW_CONFIDENCE_MAPE),
        accuracy,
    })
}

/// A model chosen, and its intervals sized, by a backtest: what anomaly detection reuses from
/// one week to the next.
#[derive(Debug, Clone)]
pub(crate) struct Trained {
    transform: Transform,
    candidate: Candidate,
    samples: Vec<backtest::Sample>,
    bands: backtest::Bands,
}

impl Trained {
    /// The chosen model's name.
    pub(crate) fn model_name(&self) -> &'static str {
        self.candidate.as_str()
    }

    /// The interval at `level` around `yhat`, `h` days ahead (0-based); a point when the
    /// backtest had nothing to say.
    pub(crate) fn interval(&self, yhat: f64, h: usize, level: f64) -> (f64, f64) {
        if self.bands.is_empty() {
            (yhat, yhat)
        } else {
            self.bands.interval(yhat, h, level)
        }
    }

    /// Fits the chosen model (or the seasonal naive one, when the window is too short for it).
    fn fit(&self, prepared: &clean::Prepared, horizon: usize) -> Option<(Candidate, model::Fit)> {
        model::predict(prepared, self.candidate, horizon).map(|f| (self.candidate, f)).or_else(|| {
            model::predict(prepared, Candidate::SeasonalNaive, horizon).map(|f| (Candidate::SeasonalNaive, f))
        })
    }
}

/// How many of `n` days of history a model trains on: up to three years and a week when there
/// are two years and a week or more (the yearly cycle needs them), otherwise up to a year and a
/// week. Older days add little to a weekly model and cost time at every backtest origin.
pub(crate) fn training_days(n: usize) -> usize {
    if n >= 2 * model::YEAR + model::WEEK {
        n.min(3 * model::YEAR + model::WEEK)
    } else {
        n.min(model::YEAR + model::WEEK)
    }
}

/// Backtests every candidate on `y` (NaN: unusable days) for `horizon` days ahead and keeps the
/// one with the lowest weighted error; `None` when `y` has too few usable days.
pub(crate) fn train(y: &[f64], start: NaiveDate, horizon: usize) -> Option<Trained> {
    if y.iter().filter(|v| v.is_finite()).count() < MIN_DAYS {
        return None;
    }
    let transform = Transform::for_values(y);
    let candidates = Candidate::for_length(y.len());
    let mut samples = backtest::run(y, start, transform, &candidates, horizon);
    let chosen = (0..candidates.len())
        .filter(|&i| !samples[i].is_empty())
        .min_by(|&a, &b| backtest::wape(&samples[a]).total_cmp(&backtest::wape(&samples[b])))
        .unwrap_or(0);
    let samples = std::mem::take(&mut samples[chosen]);
    let bands = backtest::Bands::new(transform, &samples, None);
    Some(Trained { transform, candidate: candidates[chosen], samples, bands })
}

/// The trained model refitted on `y` (a later window than it was trained on), `horizon` days
/// ahead.
pub(crate) fn point(y: &[f64], start: NaiveDate, trained: &Trained, horizon: usize) -> Option<Vec<f64>> {
    let prepared = clean::prepare(y, start, trained.transform);
    trained.fit(&prepared, horizon).map(|(_, f)| f.values)
}

/// A forecast added up by calendar month.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonthPoint {
    /// `YYYY-MM`.
    pub month: String,
    /// Days of the month the forecast covers.
    pub days: u32,
    /// The sum of the daily forecasts.
    pub yhat: f64,
    /// Intervals: the sums of the daily bounds. Days of a month err together more often than
    /// not, so this treats them as moving together: the widest, most cautious reading.
    pub intervals: Vec<Interval>,
}

/// Adds a daily forecast up by month.
pub fn monthly(points: &[Point]) -> Vec<MonthPoint> {
    let mut out: Vec<MonthPoint> = Vec::new();
    for p in points {
        let month = format!("{:04}-{:02}", p.date.year(), p.date.month());
        if out.last().is_none_or(|m| m.month != month) {
            let intervals = p.intervals.iter().map(|i| Interval { level: i.level, lo: 0.0, hi: 0.0 }).collect();
            out.push(MonthPoint { month, days: 0, yhat: 0.0, intervals });
        }
        let m = out.last_mut().expect("pushed above");
        m.days += 1;
        m.yhat += p.yhat;
        for (acc, i) in m.intervals.iter_mut().zip(&p.intervals) {
            acc.lo += i.lo;
            acc.hi += i.hi;
        }
    }
    out
}

#[cfg(test)]
mod tests;
