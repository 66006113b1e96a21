//! Metric checks: whether a resource's metric says it was idle on every day of a window.
//!
//! A check looks at the last N × 24 hours ending at the evaluation hour (as Compute Optimizer and
//! Cloud Custodian do): an account with exactly N days of history has N whole slices, where whole
//! UTC days before the evaluation day would leave the first of them partly covered and every
//! candidate "insufficient". Each 24-hour slice ("day") is judged on its own, so a resource busy
//! on one day of the window (a weekly job, a nightly batch) is not idle. A day with too few data points is *missing*; what that means is the check's
//! to say: by default missing data is not proof of idleness and the resource is left alone, but a
//! service that publishes a counter only when it is non-zero (load balancer requests, endpoint
//! invocations) states that a missing day counted zero.

use crate::provider::Window;
use crate::resource::{MetricQuery, Series};
use chrono::{DateTime, Duration, Timelike, Utc};
use serde::{Deserialize, Serialize};

/// What a day without enough data points means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Missing {
    /// Not proof of idleness: the resource is not flagged.
    #[default]
    NotIdle,
    /// The metric is published only when non-zero: a missing day counted zero.
    Zero,
}

impl Missing {
    /// `not-idle` or `zero`.
    pub fn as_str(self) -> &'static str {
        match self {
            Missing::NotIdle => "not-idle",
            Missing::Zero => "zero",
        }
    }
}

/// The test each day of the window must pass for the resource to count as idle.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DayTest {
    /// The mean of the day's period values is below `threshold`, and (when `peak` is set) none of
    /// them reaches `peak`: a nightly batch at 90 % is not idle even if the day averages 1.5 %.
    MeanBelow {
        /// Exclusive bound on the day's mean.
        threshold: f64,
        /// Exclusive bound on the day's highest period value.
        peak: Option<f64>,
    },
    /// The day's total is at most `threshold` (0: nothing at all).
    SumAtMost(f64),
    /// The day's highest period value is at most `threshold`.
    MaxAtMost(f64),
    /// The day has no data points at all: for metrics a resource publishes only while in use
    /// (an EBS volume's I/O while attached).
    NoData,
}

/// One metric judged over a window of days.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricCheck {
    /// The metric.
    pub query: MetricQuery,
    /// Days judged: the last `window_days` × 24 hours before the evaluation hour.
    pub window_days: u32,
    /// The test of each day.
    pub test: DayTest,
    /// Data points a day needs not to be missing.
    pub min_points_per_day: usize,
    /// What a missing day means.
    pub missing: Missing,
}

/// What a check concluded.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Idle on every day: the evidence, in words.
    Idle(String),
    /// Busy on at least one day.
    Active(String),
    /// Too few data points to tell, and missing data is not proof of idleness.
    Insufficient(String),
}

impl MetricCheck {
    /// The instants the metric is read between: `window_days` × 24 hours ending at the start of
    /// the evaluation hour (a metric's hourly periods are then whole).
    pub fn span(&self, now: DateTime<Utc>) -> Window {
        let to = now.date_naive().and_hms_opt(now.hour(), 0, 0).unwrap_or_default().and_utc();
        Window { from: to - Duration::hours(24 * i64::from(self.window_days)), to }
    }

    /// Judges a series read over [`MetricCheck::span`], 24-hour slice by slice, oldest first.
    pub fn judge(&self, series: &Series, now: DateTime<Utc>) -> Verdict {
        let Window { from: start, to: end } = self.span(now);
        let n = self.window_days as usize;
        let mut by_slice: Vec<Vec<f64>> = vec![Vec::new(); n];
        for (t, v) in &series.points {
            if *t >= start && *t < end {
                let slice = ((*t - start).num_seconds() / 86_400) as usize;
                if let Some(values) = by_slice.get_mut(slice) {
                    values.push(*v);
                }
            }
        }
        let name = &self.query.name;
        let days: Vec<String> = (0..n)
            .map(|k| {
                let from = start + Duration::hours(24 * k as i64);
                format!("the 24 hours from {}", from.format("%Y-%m-%d %H:00Z"))
            })
            .collect();
        let mut missing_days = 0usize;
        let mut worst: Option<f64> = None;
        let mut worst_peak: Option<f64> = None;
        for (day, values) in days.iter().zip(&by_slice) {
            let values = values.as_slice();
            if let DayTest::NoData = self.test {
                if !values.is_empty() {
                    return Verdict::Active(format!("{name} has {} data points in {day}", values.len()));
                }
                continue;
            }
            let zeros;
            let values = if values.len() < self.min_points_per_day.max(1) {
                missing_days += 1;
                match self.missing {
                    Missing::NotIdle => {
                        return Verdict::Insufficient(format!(
                            "{name}: {} data points in {day}, {} needed (missing data is not proof of idleness)",
                            values.len(),
                            self.min_points_per_day.max(1)
                        ))
                    }
                    // Published only when non-zero: what is there, and zero for the rest.
                    Missing::Zero if values.is_empty() => {
                        zeros = [0.0];
                        &zeros[..]
                    }
                    Missing::Zero => values,
                }
            } else {
                values
            };
            let (value, passes) = match self.test {
                DayTest::MeanBelow { threshold, peak } => {
                    let mean = values.iter().sum::<f64>() / values.len() as f64;
                    let high = values.iter().copied().fold(f64::MIN, f64::max);
                    worst_peak = Some(worst_peak.map_or(high, |w: f64| w.max(high)));
                    (mean, mean < threshold && peak.is_none_or(|p| high < p))
                }
                DayTest::SumAtMost(threshold) => {
                    let sum = values.iter().sum::<f64>();
                    (sum, sum <= threshold)
                }
                DayTest::MaxAtMost(threshold) => {
                    let high = values.iter().copied().fold(f64::MIN, f64::max);
                    (high, high <= threshold)
                }
                DayTest::NoData => unreachable!("handled above"),
            };
            worst = Some(worst.map_or(value, |w: f64| w.max(value)));
            if !passes {
                return Verdict::Active(format!("{name} {} in {day}: {}", self.describe_value(), fmt(value)));
            }
        }
        Verdict::Idle(
            match self.test {
                DayTest::NoData => format!("no {name} data points on any of the last {n} days"),
                DayTest::MeanBelow { threshold, peak } => {
                    let mut s = format!(
                        "daily mean {name} below {} on each of the last {n} days (highest {})",
                        fmt(threshold),
                        fmt(worst.unwrap_or(0.0))
                    );
                    if let Some(p) = peak {
                        s.push_str(&format!(
                            ", no period at or above {} (highest {})",
                            fmt(p),
                            fmt(worst_peak.unwrap_or(0.0))
                        ));
                    }
                    s
                }
                DayTest::SumAtMost(t) => {
                    format!(
                        "daily {name} total at most {} on each of the last {n} days (highest {})",
                        fmt(t),
                        fmt(worst.unwrap_or(0.0))
                    )
                }
                DayTest::MaxAtMost(t) => {
                    format!(
                        "daily {name} maximum at most {} on each of the last {n} days (highest {})",
                        fmt(t),
                        fmt(worst.unwrap_or(0.0))
                    )
                }
            } + &if missing_days > 0 {
                format!("; {missing_days} days without data counted zero")
            } else {
                String::new()
            },
        )
    }

    fn describe_value(&self) -> &'static str {
        match self.test {
            DayTest::MeanBelow { .. } => "daily mean or peak",
            DayTest::SumAtMost(_) => "daily total",
            DayTest::MaxAtMost(_) => "daily maximum",
            DayTest::NoData => "data points",
        }
    }
}

/// A number as people read it: up to two decimals, no trailing zeros.
pub(crate) fn fmt(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::Statistic;
    use chrono::TimeZone;

    fn check(test: DayTest, missing: Missing) -> MetricCheck {
        MetricCheck {
            query: MetricQuery {
                namespace: "AWS/EC2".into(),
                name: "CPUUtilization".into(),
                dimensions: vec![("InstanceId".into(), "i-1".into())],
                statistic: Statistic::Average,
                period_secs: 3600,
            },
            window_days: 14,
            test,
            min_points_per_day: 20,
            missing,
        }
    }

    /// Hourly points over the `days` × 24 hours before `now` (on the hour): `value(d, h)` for
    /// hour `h` of the `d`-th 24 hours counted back.
    fn hourly(now: DateTime<Utc>, days: i64, value: impl Fn(i64, i64) -> Option<f64>) -> Series {
        let end = now;
        let mut points = vec![];
        for d in 1..=days {
            for h in 0..24 {
                let t = end - Duration::days(d) + Duration::hours(h);
                if let Some(v) = value(d, h) {
                    points.push((t, v));
                }
            }
        }
        Series { points }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 20, 15, 0, 0).unwrap()
    }

    #[test]
    fn a_quiet_instance_is_idle_and_a_nightly_batch_is_not() {
        let c = check(DayTest::MeanBelow { threshold: 2.0, peak: Some(10.0) }, Missing::NotIdle);
        let quiet = hourly(now(), 14, |_, h| Some(0.5 + (h % 3) as f64 * 0.2));
        assert!(matches!(c.judge(&quiet, now()), Verdict::Idle(_)));
        // One hour at 30 % every night: the mean is 1.7 %, but the peak says it works.
        let batch = hourly(now(), 14, |_, h| Some(if h == 2 { 30.0 } else { 0.5 }));
        assert!(matches!(c.judge(&batch, now()), Verdict::Active(_)), "{:?}", c.judge(&batch, now()));
    }

    #[test]
    fn missing_days_are_not_idleness_unless_the_check_says_so() {
        let c = check(DayTest::MeanBelow { threshold: 2.0, peak: None }, Missing::NotIdle);
        let gappy = hourly(now(), 14, |d, h| (d != 5 || h < 10).then_some(0.1));
        assert!(matches!(c.judge(&gappy, now()), Verdict::Insufficient(_)));
        let empty = Series::default();
        assert!(matches!(c.judge(&empty, now()), Verdict::Insufficient(_)));
        let zero = MetricCheck { min_points_per_day: 1, ..check(DayTest::SumAtMost(0.0), Missing::Zero) };
        assert!(matches!(zero.judge(&empty, now()), Verdict::Idle(_)));
        let once = Series { points: vec![(now() - Duration::days(3), 4.0)] };
        assert!(matches!(zero.judge(&once, now()), Verdict::Active(_)));
    }

    #[test]
    fn points_outside_the_window_do_not_count() {
        let c = MetricCheck { min_points_per_day: 1, ..check(DayTest::NoData, Missing::Zero) };
        // The evaluation hour itself (not whole yet) and 15 days ago are outside the 14 × 24 hours.
        let s = Series { points: vec![(now(), 1.0), (now() - Duration::days(15), 1.0)] };
        assert!(matches!(c.judge(&s, now()), Verdict::Idle(_)));
        let s = Series { points: vec![(now() - Duration::days(1), 1.0)] };
        assert!(matches!(c.judge(&s, now()), Verdict::Active(_)));
        // The morning of the evaluation day counts: it is part of the last 24 hours.
        let s = Series { points: vec![(now() - Duration::hours(3), 1.0)] };
        assert!(matches!(c.judge(&s, now()), Verdict::Active(_)));
    }

    #[test]
    fn an_account_with_exactly_the_window_of_history_is_judged() {
        // Exactly 14 days of hourly data up to the evaluation hour (15:00): every 24-hour slice is
        // whole. Judged by whole UTC days before the evaluation day, the first day would have had
        // only 9 points and left the idle instance "insufficient".
        let c = check(DayTest::MeanBelow { threshold: 2.0, peak: Some(10.0) }, Missing::NotIdle);
        let quiet = hourly(now(), 14, |_, _| Some(0.3));
        assert!(matches!(c.judge(&quiet, now()), Verdict::Idle(_)), "{:?}", c.judge(&quiet, now()));
        // A real gap (a day short of its points) is still insufficient.
        let gappy = hourly(now(), 14, |d, h| (d != 14 || h > 12).then_some(0.3));
        assert!(matches!(c.judge(&gappy, now()), Verdict::Insufficient(_)));
    }
}
