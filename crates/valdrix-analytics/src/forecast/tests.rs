use super::*;

use crate::test_series::{day, noise};

/// A deterministic cloud-like series: growth, a weekend dip, a little noise.
fn spend(n: usize, growth_per_day: f64) -> Vec<Option<f64>> {
    let mut unit = noise(0x9E37_79B9_7F4A_7C15u64);
    (0..n)
        .map(|i| {
            let noise = 0.95 + 0.1 * unit() / 10_000.0;
            let weekend = if i % 7 >= 5 { 0.6 } else { 1.0 };
            Some(1000.0 * (1.0 + growth_per_day * i as f64) * weekend * noise)
        })
        .collect()
}

#[test]
fn a_weekly_growing_series_is_forecast_within_a_few_percent() {
    let all = spend(400, 0.002);
    let series = DailySeries { start: day(2025, 1, 6), values: all[..372].to_vec() };
    let f = forecast(&series, &Options::new(28)).expect("forecast");
    assert_eq!(f.points.len(), 28);
    assert_eq!(f.points[0].date, series.end());
    let mut ape = 0.0;
    for (p, actual) in f.points.iter().zip(&all[372..]) {
        let a = actual.expect("value");
        ape += (p.yhat - a).abs() / a;
        let i95 = p.intervals[1];
        assert!(i95.lo < p.yhat && p.yhat < i95.hi);
        assert!(p.intervals[0].lo >= i95.lo && p.intervals[0].hi <= i95.hi, "80 % inside 95 %");
    }
    assert!(ape / 28.0 < 0.05, "MAPE {}", ape / 28.0);
    let acc = f.accuracy.expect("backtest");
    assert_eq!(acc.origins, 20);
    assert!(acc.mape.expect("mape") < 0.05);
    assert!(!f.low_confidence);
    assert!(f.confidence > 0.8);
}

#[test]
fn a_spike_is_left_out_of_training() {
    let mut values = spend(200, 0.0);
    values[190] = values[190].map(|v| v * 8.0);
    let series = DailySeries { start: day(2026, 1, 1), values };
    let f = forecast(&series, &Options::new(7)).expect("forecast");
    assert_eq!(f.outliers, vec![day(2026, 1, 1) + Duration::days(190)]);
    // Weekdays are forecast near 1,000, not pulled up by the spike.
    let max = f.points.iter().map(|p| p.yhat).fold(0.0, f64::max);
    assert!(max < 1100.0, "{max}");
}

#[test]
fn days_marked_as_expected_are_not_trained_on() {
    let mut values = spend(120, 0.0);
    for v in &mut values[100..103] {
        *v = v.map(|v| v * 3.0);
    }
    let marked: Vec<NaiveDate> = (100..103).map(|i| day(2026, 1, 1) + Duration::days(i)).collect();
    let series = DailySeries { start: day(2026, 1, 1), values };
    let mut opts = Options::new(7);
    opts.excluded = marked.clone();
    let f = forecast(&series, &opts).expect("forecast");
    assert_eq!(f.excluded, marked);
    assert!(f.outliers.is_empty(), "marked days are not outliers: {:?}", f.outliers);
}

#[test]
fn a_level_shift_moves_the_forecast_to_the_new_level() {
    let mut values = spend(150, 0.0);
    for v in &mut values[130..] {
        *v = v.map(|v| v * 1.5);
    }
    let series = DailySeries { start: day(2026, 1, 1), values };
    let f = forecast(&series, &Options::new(14)).expect("forecast");
    assert_eq!(f.changepoints, vec![day(2026, 1, 1) + Duration::days(130)]);
    let weekday = f.points.iter().find(|p| (p.date - series.start).num_days() % 7 < 5).expect("a weekday");
    assert!((weekday.yhat / 1500.0 - 1.0).abs() < 0.08, "{}", weekday.yhat);
}

#[test]
fn a_noisy_series_is_flagged_low_confidence() {
    let mut state = 7u64;
    let values = (0..120)
        .map(|_| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            Some(10.0 + (state >> 33) as f64 % 1000.0)
        })
        .collect();
    let f = forecast(&DailySeries { start: day(2026, 1, 1), values }, &Options::new(14)).expect("forecast");
    assert!(f.low_confidence);
    assert!(f.confidence < 0.5);
}

#[test]
fn series_with_zero_days_are_modelled_in_units_and_never_go_negative() {
    let values = (0..90).map(|i| Some(if i % 7 >= 5 { 0.0 } else { 50.0 + (i % 5) as f64 })).collect();
    let f = forecast(&DailySeries { start: day(2026, 1, 1), values }, &Options::new(14)).expect("forecast");
    assert_eq!(f.transform, "none");
    assert!(f.points.iter().all(|p| p.intervals.iter().all(|i| i.lo >= 0.0)));
}

#[test]
fn too_short_or_bad_options_are_refused() {
    let short = DailySeries { start: day(2026, 1, 1), values: vec![Some(1.0); 10] };
    assert_eq!(forecast(&short, &Options::new(7)), Err(ForecastError::TooShort { have: 10, need: MIN_DAYS }));
    let ok = DailySeries { start: day(2026, 1, 1), values: spend(60, 0.0) };
    assert_eq!(forecast(&ok, &Options::new(0)), Err(ForecastError::Horizon(0)));
    let mut opts = Options::new(7);
    opts.levels = vec![0.8, 1.0];
    assert_eq!(forecast(&ok, &opts), Err(ForecastError::Level(1.0)));
}

#[test]
fn months_add_up_the_days() {
    let series = DailySeries { start: day(2026, 1, 1), values: spend(120, 0.0) };
    let f = forecast(&series, &Options::new(45)).expect("forecast");
    let months = monthly(&f.points);
    assert_eq!(months.len(), 2);
    assert_eq!(months[0].month, "2026-05");
    assert_eq!(months[0].days + months[1].days, 45);
    let sum: f64 = f.points.iter().map(|p| p.yhat).sum();
    assert!((months.iter().map(|m| m.yhat).sum::<f64>() - sum).abs() < 1e-6);
}
