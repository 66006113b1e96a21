//! The candidate models and the transform they work in.

use chrono::Datelike;

use super::clean::Prepared;
use super::smoothing::Damped;

/// Days in the weekly cycle.
pub(crate) const WEEK: usize = 7;
/// Days in the yearly cycle.
pub(crate) const YEAR: usize = 365;

/// How values are transformed before modelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transform {
    /// Natural logarithm: weekly patterns and errors act as percentages. Used when every value
    /// is positive.
    Log,
    /// Values as they are: patterns and errors in units. Used when a value is zero or negative.
    Identity,
}

impl Transform {
    /// `Log` when every finite value is positive.
    pub(crate) fn for_values(y: &[f64]) -> Transform {
        if y.iter().filter(|v| v.is_finite()).all(|&v| v > 0.0) {
            Transform::Log
        } else {
            Transform::Identity
        }
    }

    pub(crate) fn apply(self, v: f64) -> f64 {
        match self {
            Transform::Log => v.ln(),
            Transform::Identity => v,
        }
    }

    pub(crate) fn invert(self, v: f64) -> f64 {
        match self {
            Transform::Log => v.exp(),
            Transform::Identity => v,
        }
    }

    /// The name shown with a forecast.
    pub fn as_str(self) -> &'static str {
        match self {
            Transform::Log => "log",
            Transform::Identity => "none",
        }
    }
}

/// A model the backtest can choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Candidate {
    /// Each day as the same weekday a week before (after cleaning).
    SeasonalNaive,
    /// The weekly pattern (and the yearly one when asked) by STL, the rest by damped-trend
    /// exponential smoothing.
    Decomposed {
        /// Whether a yearly cycle is modelled too (two years of history or more).
        yearly: bool,
    },
    /// The average of the weekly decomposed forecast and the seasonal naive one (in the
    /// transformed scale): a hedge that often beats both when the weekly pattern shifts.
    Combined,
}

impl Candidate {
    /// The name shown with a forecast.
    pub fn as_str(self) -> &'static str {
        match self {
            Candidate::SeasonalNaive => "seasonal-naive",
            Candidate::Decomposed { yearly: false } => "stl-weekly+damped-trend",
            Candidate::Decomposed { yearly: true } => "mstl-weekly-yearly+damped-trend",
            Candidate::Combined => "stl-damped-trend+seasonal-naive",
        }
    }

    /// The candidates worth trying on `n` days of history.
    pub(crate) fn for_length(n: usize) -> Vec<Candidate> {
        let mut out = vec![Candidate::Decomposed { yearly: false }, Candidate::SeasonalNaive, Candidate::Combined];
        if n >= 2 * YEAR + WEEK {
            out.push(Candidate::Decomposed { yearly: true });
        }
        out
    }
}

/// What a fitted model reports about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    /// Forecasts for the days after the window, in the series' units.
    pub values: Vec<f64>,
    /// The trend model's parameters, for decomposed models.
    pub smoothing: Option<Smoothing>,
}

/// The damped-trend parameters a decomposed model chose.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Smoothing {
    /// Level smoothing weight.
    pub alpha: f64,
    /// Trend smoothing weight.
    pub beta: f64,
    /// Trend damping per day.
    pub phi: f64,
}

/// Forecasts `horizon` days after the prepared window with `candidate`, the recurring
/// month-start charge added to each first of the month; `None` when the window is too short.
pub(crate) fn predict(p: &Prepared, candidate: Candidate, horizon: usize) -> Option<Fit> {
    let mut fit = predict_cleaned(p, candidate, horizon)?;
    if p.month_start_charge != 0.0 {
        let first = p.start + chrono::Duration::days(p.z.len() as i64);
        for (h, v) in fit.values.iter_mut().enumerate() {
            if (first + chrono::Duration::days(h as i64)).day() == 1 {
                *v += p.month_start_charge;
            }
        }
    }
    Some(fit)
}

/// The forecast of the cleaned series.
fn predict_cleaned(p: &Prepared, candidate: Candidate, horizon: usize) -> Option<Fit> {
    let n = p.z.len();
    let t = p.transform;
    match candidate {
        Candidate::SeasonalNaive => {
            if n < WEEK {
                return None;
            }
            let values = (0..horizon).map(|h| t.invert(p.z[n - WEEK + h % WEEK])).collect();
            Some(Fit { values, smoothing: None })
        }
        Candidate::Decomposed { yearly: false } => {
            if n < 2 * WEEK {
                return None;
            }
            let model = p.damped.get_or_init(|| Damped::fit(&p.adjusted()));
            let values = (0..horizon).map(|h| t.invert(model.predict(h + 1) + p.weekly[n - WEEK + h % WEEK])).collect();
            Some(Fit { values, smoothing: Some(smoothing(model)) })
        }
        Candidate::Combined => {
            let a = predict_cleaned(p, Candidate::Decomposed { yearly: false }, horizon)?;
            let b = predict_cleaned(p, Candidate::SeasonalNaive, horizon)?;
            let values =
                a.values.iter().zip(&b.values).map(|(x, y)| t.invert((t.apply(*x) + t.apply(*y)) / 2.0)).collect();
            Some(Fit { values, smoothing: a.smoothing })
        }
        Candidate::Decomposed { yearly: true } => {
            if n < 2 * YEAR + WEEK {
                return None;
            }
            let mut params = stlrs::MstlParams::new();
            params.seasonal_lengths(&[super::clean::WEEKLY_SEASONAL_WINDOW, YEARLY_SEASONAL_WINDOW]);
            let fit = params.fit(&p.z, &[WEEK, YEAR]).ok()?;
            let seasonal = fit.seasonal();
            let d: Vec<f64> = fit.trend().iter().zip(fit.remainder()).map(|(a, b)| a + b).collect();
            let model = Damped::fit(&d);
            let values = (0..horizon)
                .map(|h| {
                    let s: f64 = [WEEK, YEAR].iter().zip(seasonal).map(|(&period, s)| s[n - period + h % period]).sum();
                    t.invert(model.predict(h + 1) + s)
                })
                .collect();
            Some(Fit { values, smoothing: Some(smoothing(&model)) })
        }
    }
}

/// Span, in years, over which STL smooths each day of the year.
const YEARLY_SEASONAL_WINDOW: usize = 7;

fn smoothing(m: &Damped) -> Smoothing {
    Smoothing { alpha: m.alpha, beta: m.beta, phi: m.phi }
}
