//! Damped-trend exponential smoothing (ETS(A,Ad,N)) of a seasonally adjusted series.
//!
//! The smoothing parameters are chosen from a fixed grid by the sum of squared one-step errors.
//! A grid rather than a numerical optimiser: one pass over two years of days costs about a
//! microsecond, so the whole grid is cheaper than a single optimiser run, it cannot fail to
//! converge, and the backtest can afford to refit it at every origin.

/// Level smoothing weights tried.
const ALPHAS: [f64; 8] = [0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9];
/// Trend smoothing weights tried, as a fraction of the level's (0: no trend).
const BETA_SHARES: [f64; 3] = [0.0, 0.02, 0.1];
/// Trend damping factors tried.
const PHIS: [f64; 2] = [0.9, 0.98];

/// A fitted damped-trend model: its parameters and its final state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Damped {
    /// Level smoothing weight.
    pub alpha: f64,
    /// Trend smoothing weight.
    pub beta: f64,
    /// Damping of the trend per day.
    pub phi: f64,
    level: f64,
    trend: f64,
}

impl Damped {
    /// Fits the grid to `d` (no missing values; at least two values).
    pub fn fit(d: &[f64]) -> Damped {
        let (l0, b0) = initial_state(d);
        let mut best = (f64::INFINITY, Damped { alpha: 0.5, beta: 0.0, phi: 0.9, level: l0, trend: 0.0 });
        for &alpha in &ALPHAS {
            for &share in &BETA_SHARES {
                // Without a trend the damping factor changes nothing: try it once.
                let phis: &[f64] = if share == 0.0 { &PHIS[..1] } else { &PHIS };
                for &phi in phis {
                    let beta = alpha * share;
                    let b_start = if share == 0.0 { 0.0 } else { b0 };
                    let (sse, level, trend) = run(d, alpha, beta, phi, l0, b_start);
                    if sse < best.0 {
                        best = (sse, Damped { alpha, beta, phi, level, trend });
                    }
                }
            }
        }
        best.1
    }

    /// The forecast `h` steps after the last value (h ≥ 1).
    pub fn predict(&self, h: usize) -> f64 {
        // l + (phi + phi^2 + ... + phi^h) b
        let mut damp = 0.0;
        let mut p = 1.0;
        for _ in 0..h {
            p *= self.phi;
            damp += p;
        }
        self.level + damp * self.trend
    }
}

/// Level: the mean of the first week; trend: the change from the first week to the second, per day.
fn initial_state(d: &[f64]) -> (f64, f64) {
    let w = d.len().min(7);
    let first = d[..w].iter().sum::<f64>() / w as f64;
    if d.len() < 14 {
        return (first, 0.0);
    }
    let second = d[7..14].iter().sum::<f64>() / 7.0;
    (first, (second - first) / 7.0)
}

/// One pass of the error-correction recursions: the sum of squared one-step errors and the final
/// level and trend.
fn run(d: &[f64], alpha: f64, beta: f64, phi: f64, mut level: f64, mut trend: f64) -> (f64, f64, f64) {
    let mut sse = 0.0;
    for &x in d {
        let f = level + phi * trend;
        let e = x - f;
        sse += e * e;
        level = f + alpha * e;
        trend = phi * trend + beta * e;
    }
    (sse, level, trend)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_straight_line_is_continued() {
        let d: Vec<f64> = (0..200).map(|i| 10.0 + 0.5 * i as f64).collect();
        let m = Damped::fit(&d);
        // A damped trend bends, but over a week it stays close to the line.
        let next = m.predict(1);
        assert!((next - 110.0).abs() < 0.5, "{next}");
        assert!(m.predict(7) > next);
    }

    #[test]
    fn a_flat_series_stays_flat() {
        let d = vec![42.0; 60];
        let m = Damped::fit(&d);
        assert!((m.predict(30) - 42.0).abs() < 1e-9);
    }

    #[test]
    fn a_level_shift_is_followed() {
        let mut d = vec![100.0; 100];
        d.extend(std::iter::repeat_n(150.0, 20));
        let m = Damped::fit(&d);
        assert!((m.predict(1) - 150.0).abs() < 5.0, "{}", m.predict(1));
    }
}
