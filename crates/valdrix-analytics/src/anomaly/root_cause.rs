//! Where an anomaly comes from: each value of a dimension (each service, account, region, usage
//! type) compared, over the anomaly's days, with its own baseline.

use serde::Serialize;

use crate::forecast::clean_median as median;

/// Weeks of the same weekday a value's baseline is the median of.
const BASELINE_WEEKS: usize = 4;

/// One dimension value's part in an anomaly.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Contribution {
    /// The dimension (`service`, `account`, `region`, `usage_type`, `tag:team`).
    pub dimension: String,
    /// Its value (empty: no value, such as untagged spend).
    pub value: String,
    /// What it spent over the anomaly's days.
    pub actual: f64,
    /// Its baseline over those days: for each day, the median of the same weekday in the four
    /// weeks before the anomaly.
    pub expected: f64,
    /// Actual minus expected.
    pub delta: f64,
    /// Its share of the change of all values together (can exceed 1 when others fell).
    pub share: f64,
}

/// The contributions of each value of `dimension` to the days `first..=last` (indices into
/// every value's daily series, which all cover the same days), largest increase first.
pub fn contributions(dimension: &str, values: &[(String, Vec<f64>)], first: usize, last: usize) -> Vec<Contribution> {
    let mut out: Vec<Contribution> = values
        .iter()
        .map(|(value, daily)| {
            let mut actual = 0.0;
            let mut expected = 0.0;
            for day in first..=last.min(daily.len().saturating_sub(1)) {
                actual += if daily[day].is_finite() { daily[day] } else { 0.0 };
                expected += baseline(daily, first, day);
            }
            Contribution {
                dimension: dimension.to_string(),
                value: value.clone(),
                actual,
                expected,
                delta: actual - expected,
                share: 0.0,
            }
        })
        .collect();
    let total: f64 = out.iter().map(|c| c.delta).sum();
    for c in &mut out {
        c.share = if total != 0.0 { c.delta / total } else { 0.0 };
    }
    out.sort_by(|a, b| b.delta.total_cmp(&a.delta).then_with(|| a.value.cmp(&b.value)));
    out
}

/// The median of `day`'s weekday in the weeks before `first` (0 with no history).
fn baseline(daily: &[f64], first: usize, day: usize) -> f64 {
    let offset = (day - first) % 7;
    let mut same: Vec<f64> = (1..=BASELINE_WEEKS)
        .filter_map(|w| (first + offset).checked_sub(7 * w))
        .filter(|&i| i < first)
        .filter_map(|i| daily.get(i).copied())
        .filter(|v| v.is_finite())
        .collect();
    median(&mut same)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_value_that_jumped_leads() {
        let steady = vec![100.0; 40];
        let mut jumped = vec![50.0; 40];
        for v in &mut jumped[35..38] {
            *v = 450.0;
        }
        let mut fell = vec![30.0; 40];
        for v in &mut fell[35..38] {
            *v = 20.0;
        }
        let values = vec![("EC2".to_string(), jumped), ("S3".to_string(), steady), ("RDS".to_string(), fell)];
        let c = contributions("service", &values, 35, 37);
        assert_eq!(c[0].value, "EC2");
        assert_eq!(c[0].delta, 1200.0);
        assert_eq!(c[0].expected, 150.0);
        assert_eq!(c[1].value, "S3");
        assert_eq!(c[1].delta, 0.0);
        assert_eq!(c[2].delta, -30.0);
        assert!((c[0].share - 1200.0 / 1170.0).abs() < 1e-12);
    }
}
