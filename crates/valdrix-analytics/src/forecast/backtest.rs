//! Rolling-origin backtests: the model refitted at earlier days, its forecasts compared with
//! what happened. They choose the model, size the prediction intervals and report accuracy.

use super::clean::prepare;
use super::model::{predict, Candidate, Transform, WEEK};

/// Backtest origins tried at most. Twenty spread over the history, rather than a few recent
/// weeks: intervals read from a few weeks of errors were too narrow (80 % intervals held 50 to
/// 75 % of the outcomes on the benchmark's series); spread over the year they hold close to 80 %.
pub(crate) const MAX_ORIGINS: usize = 20;
/// The shortest training window a backtest origin may have.
pub(crate) const MIN_TRAIN: usize = 4 * WEEK;

/// One forecast day of a backtest: made at an origin, `h` days ahead (0: the next day).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Sample {
    /// Days between the origin and the end of the series (the origin's rank, 1 = latest).
    pub origin: usize,
    /// Days ahead, 0-based.
    pub h: usize,
    /// What happened.
    pub actual: f64,
    /// What the model said.
    pub forecast: f64,
}

/// Origins (training lengths) for a series of `n` days, latest first: whole weeks apart (so each
/// origin ends on the same weekday), spread over the history, and at least a fifth of the
/// horizon apart so that long horizons are tested too.
pub(crate) fn origins(n: usize, horizon: usize) -> Vec<usize> {
    let spread = n.saturating_sub(MIN_TRAIN) / MAX_ORIGINS / WEEK * WEEK;
    let step = (horizon / 5).max(WEEK).div_ceil(WEEK) * WEEK;
    let step = step.max(spread);
    (1..=MAX_ORIGINS).map(|k| k * step).take_while(|&back| back + MIN_TRAIN <= n).map(|back| n - back).collect()
}

/// Runs every candidate from every origin. `y` holds NaN where a day is unusable (those days are
/// neither trained on nor scored).
pub(crate) fn run(
    y: &[f64],
    start: chrono::NaiveDate,
    transform: Transform,
    candidates: &[Candidate],
    horizon: usize,
) -> Vec<Vec<Sample>> {
    let n = y.len();
    let mut out = vec![Vec::new(); candidates.len()];
    for o in origins(n, horizon) {
        let p = prepare(&y[..o], start, transform);
        let ahead = horizon.min(n - o);
        for (c, samples) in candidates.iter().zip(&mut out) {
            let Some(fit) = predict(&p, *c, ahead) else { continue };
            for (h, f) in fit.values.iter().enumerate() {
                let actual = y[o + h];
                if actual.is_finite() {
                    samples.push(Sample { origin: n - o, h, actual, forecast: *f });
                }
            }
        }
    }
    out
}

/// Weighted absolute percentage error: the sum of absolute errors over the sum of actuals (one
/// number that neither explodes on a near-zero day nor ignores the big ones).
pub(crate) fn wape(samples: &[Sample]) -> f64 {
    let err: f64 = samples.iter().map(|s| (s.actual - s.forecast).abs()).sum();
    let total: f64 = samples.iter().map(|s| s.actual.abs()).sum();
    if total > 0.0 {
        err / total
    } else if err > 0.0 {
        f64::INFINITY
    } else {
        0.0
    }
}

/// The error of a sample in the space the intervals are built in: log ratio for `Log`, units for
/// `Identity`.
fn error(t: Transform, s: &Sample) -> Option<f64> {
    match t {
        Transform::Log => (s.actual > 0.0 && s.forecast > 0.0).then(|| (s.actual / s.forecast).ln()),
        Transform::Identity => Some(s.actual - s.forecast),
    }
}

/// Prediction intervals from backtest errors (split conformal): for each day ahead, the
/// empirical quantiles of the errors made that far ahead (pooled with neighbouring days ahead).
#[derive(Debug, Clone)]
pub(crate) struct Bands {
    transform: Transform,
    /// Sorted errors for each day ahead that the backtest reached.
    by_h: Vec<Vec<f64>>,
}

/// Fewest errors an interval is read from; neighbouring days ahead are pooled until there are.
const MIN_POOL: usize = 30;

impl Bands {
    /// Bands from `samples`, leaving out the origin `skip` (for cross-checking coverage).
    pub fn new(transform: Transform, samples: &[Sample], skip: Option<usize>) -> Bands {
        let reach = samples.iter().map(|s| s.h + 1).max().unwrap_or(0);
        let mut raw: Vec<Vec<f64>> = vec![Vec::new(); reach];
        for s in samples.iter().filter(|s| Some(s.origin) != skip) {
            if let Some(e) = error(transform, s) {
                raw[s.h].push(e);
            }
        }
        let by_h = (0..reach)
            .map(|h| {
                // Widen the pool around h until it holds enough errors.
                let mut w = (h / 4).max(1);
                loop {
                    let lo = h.saturating_sub(w);
                    let hi = (h + w + 1).min(reach);
                    let mut pool: Vec<f64> = raw[lo..hi].iter().flatten().copied().collect();
                    if pool.len() >= MIN_POOL || (lo == 0 && hi == reach) {
                        pool.sort_unstable_by(f64::total_cmp);
                        break pool;
                    }
                    w *= 2;
                }
            })
            .collect();
        Bands { transform, by_h }
    }

    /// Whether there is anything to build intervals from.
    pub fn is_empty(&self) -> bool {
        self.by_h.iter().all(Vec::is_empty)
    }

    /// The interval at `level` around `yhat`, `h` days ahead (0-based).
    pub fn interval(&self, yhat: f64, h: usize, level: f64) -> (f64, f64) {
        let (errors, stretch) = self.errors_for(h);
        if errors.is_empty() {
            return (yhat, yhat);
        }
        let tail = (1.0 - level) / 2.0;
        let lo = quantile(errors, tail) * stretch;
        let hi = quantile(errors, 1.0 - tail) * stretch;
        match self.transform {
            Transform::Log => (yhat * lo.exp(), yhat * hi.exp()),
            Transform::Identity => (yhat + lo, yhat + hi),
        }
    }

    /// Errors for `h`, and how much to stretch them when the backtest did not reach that far
    /// (uncertainty growing with the square root of the days ahead, as for a random walk).
    fn errors_for(&self, h: usize) -> (&[f64], f64) {
        if let Some(e) = self.by_h.get(h) {
            return (e, 1.0);
        }
        let last = self.by_h.len() - 1;
        (&self.by_h[last], ((h + 1) as f64 / (last + 1) as f64).sqrt())
    }
}

/// The `p` quantile of sorted values, with the finite-sample correction of split conformal
/// prediction (rank ⌈(m+1)p⌉ of m for the upper tail), so that few errors give wider intervals.
fn quantile(sorted: &[f64], p: f64) -> f64 {
    let m = sorted.len();
    if p >= 0.5 {
        let rank = ((m + 1) as f64 * p).ceil() as usize;
        sorted[rank.clamp(1, m) - 1]
    } else {
        let rank = ((m + 1) as f64 * (1.0 - p)).ceil() as usize;
        sorted[m - rank.clamp(1, m)]
    }
}

/// How a forecast did in its backtest.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Accuracy {
    /// Backtest origins.
    pub origins: usize,
    /// Forecast days compared with what happened.
    pub points: usize,
    /// Mean absolute percentage error over days with a non-zero actual (0.1 = 10 %).
    pub mape: Option<f64>,
    /// Symmetric MAPE (0 to 2).
    pub smape: f64,
    /// Mean absolute scaled error: the error over that of last week's same weekday in the
    /// training data (below 1: better than the seasonal naive forecast).
    pub mase: Option<f64>,
    /// How often the actual fell inside each interval, each origin's intervals built from the
    /// other origins' errors.
    pub coverage: Vec<LevelCoverage>,
}

/// The share of actuals inside the intervals of one level.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LevelCoverage {
    /// Nominal level (0.8 = 80 %).
    pub level: f64,
    /// Share of actuals inside.
    pub share: f64,
}

/// Scores the chosen model's samples.
pub(crate) fn accuracy(y: &[f64], transform: Transform, samples: &[Sample], levels: &[f64]) -> Option<Accuracy> {
    if samples.is_empty() {
        return None;
    }
    let pct: Vec<f64> =
        samples.iter().filter(|s| s.actual != 0.0).map(|s| ((s.actual - s.forecast) / s.actual).abs()).collect();
    let mape = (!pct.is_empty()).then(|| pct.iter().sum::<f64>() / pct.len() as f64);
    let smape = samples
        .iter()
        .map(|s| {
            let d = s.actual.abs() + s.forecast.abs();
            if d == 0.0 {
                0.0
            } else {
                2.0 * (s.actual - s.forecast).abs() / d
            }
        })
        .sum::<f64>()
        / samples.len() as f64;
    let naive: Vec<f64> = (WEEK..y.len())
        .filter(|&i| y[i].is_finite() && y[i - WEEK].is_finite())
        .map(|i| (y[i] - y[i - WEEK]).abs())
        .collect();
    let naive_mae = naive.iter().sum::<f64>() / naive.len().max(1) as f64;
    let mae = samples.iter().map(|s| (s.actual - s.forecast).abs()).sum::<f64>() / samples.len() as f64;
    let mase = (naive_mae > 0.0).then(|| mae / naive_mae);

    let mut origins: Vec<usize> = samples.iter().map(|s| s.origin).collect();
    origins.sort_unstable();
    origins.dedup();
    // Each origin's intervals from the other origins' errors, once for every level.
    let (mut inside, mut scored) = (vec![0usize; levels.len()], 0usize);
    for &o in &origins {
        let bands = Bands::new(transform, samples, Some(o));
        if bands.is_empty() {
            continue;
        }
        for s in samples.iter().filter(|s| s.origin == o) {
            scored += 1;
            for (k, &level) in levels.iter().enumerate() {
                let (lo, hi) = bands.interval(s.forecast, s.h, level);
                inside[k] += usize::from(lo <= s.actual && s.actual <= hi);
            }
        }
    }
    let coverage = levels
        .iter()
        .zip(inside)
        .map(|(&level, inside)| LevelCoverage {
            level,
            share: if scored == 0 { 0.0 } else { inside as f64 / scored as f64 },
        })
        .collect();
    Some(Accuracy { origins: origins.len(), points: samples.len(), mape, smape, mase, coverage })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_step_back_a_week_and_keep_enough_training() {
        assert_eq!(origins(100, 14), vec![93, 86, 79, 72, 65, 58, 51, 44, 37, 30]);
        assert_eq!(origins(40, 14), vec![33]);
        assert!(origins(20, 14).is_empty());
        // A year of history: twenty origins two weeks apart.
        let year = origins(365, 28);
        assert_eq!((year.len(), year[0], year[1]), (20, 351, 337));
        // A 90-day horizon steps back at least three weeks at a time.
        assert_eq!(origins(300, 90)[..2], [279, 258]);
    }

    #[test]
    fn conformal_quantiles_widen_with_few_errors() {
        let e: Vec<f64> = (1..=9).map(f64::from).collect();
        assert_eq!(quantile(&e, 0.9), 9.0);
        assert_eq!(quantile(&e, 0.1), 1.0);
        assert_eq!(quantile(&e, 0.5), 5.0);
    }
}
