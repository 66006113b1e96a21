use super::*;

use crate::test_series::{day, noise};

/// Weekly spend around 1,000 a weekday with a little deterministic noise.
fn spend(n: usize) -> Vec<Option<f64>> {
    let mut unit = noise(0x2545_F491_4F6C_DD1Du64);
    (0..n)
        .map(|i| {
            let noise = 0.96 + 0.08 * unit() / 10_000.0;
            Some(1000.0 * if i % 7 >= 5 { 0.6 } else { 1.0 } * noise)
        })
        .collect()
}

#[test]
fn a_three_day_spike_is_one_anomaly_with_its_impact() {
    let mut values = spend(120);
    for v in &mut values[100..103] {
        *v = v.map(|v| v + 800.0);
    }
    let series = DailySeries { start: day(2026, 1, 1), values };
    let d = detect(&series, day(2026, 3, 1), &Thresholds::default(), &[]).expect("detect");
    assert_eq!(d.anomalies.len(), 1, "{:?}", d.anomalies);
    let a = &d.anomalies[0];
    assert_eq!((a.start, a.end), (series.day(100), series.day(102)));
    assert!((a.impact - 2400.0).abs() < 250.0, "{}", a.impact);
    assert!(a.severity >= Severity::Medium);
    // The days after it are judged against the old normal, not the spike.
    assert!(d.days.iter().filter(|c| c.date > a.end).all(|c| !c.anomalous));
    assert_eq!(d.days.first().map(|c| c.date), Some(day(2026, 3, 1)));
}

#[test]
fn small_changes_do_not_pass_the_thresholds() {
    let mut values = spend(120);
    // 70 more on a Saturday (about 12 %): outside the band, but under the 100 floor.
    values[100] = values[100].map(|v| v + 70.0);
    let series = DailySeries { start: day(2026, 1, 1), values };
    let d = detect(&series, day(2026, 3, 1), &Thresholds::default(), &[]).expect("detect");
    assert!(d.anomalies.is_empty(), "{:?}", d.anomalies);
    let strict = Thresholds { min_impact: 50.0, min_share: 0.08, ..Thresholds::default() };
    let d = detect(&series, day(2026, 3, 1), &strict, &[]).expect("detect");
    assert_eq!(d.anomalies.len(), 1, "{:?}", d.anomalies);
}

#[test]
fn days_marked_as_expected_are_not_anomalies() {
    let mut values = spend(120);
    for v in &mut values[100..103] {
        *v = v.map(|v| v * 3.0);
    }
    let series = DailySeries { start: day(2026, 1, 1), values };
    let marked: Vec<NaiveDate> = (100..103).map(|i| series.day(i)).collect();
    let d = detect(&series, day(2026, 3, 1), &Thresholds::default(), &marked).expect("detect");
    assert!(d.anomalies.is_empty());
    assert_eq!(d.days.iter().filter(|c| c.suppressed).count(), 3);
}

#[test]
fn drops_are_found_when_asked() {
    let mut values = spend(120);
    values[101] = Some(50.0);
    let series = DailySeries { start: day(2026, 1, 1), values };
    let up = detect(&series, day(2026, 3, 1), &Thresholds::default(), &[]).expect("detect");
    assert!(up.anomalies.is_empty());
    let both = Thresholds { direction: Direction::Both, ..Thresholds::default() };
    let d = detect(&series, day(2026, 3, 1), &both, &[]).expect("detect");
    assert_eq!(d.anomalies.len(), 1);
    assert!(d.anomalies[0].impact < 0.0);
}

#[test]
fn too_little_history_is_refused() {
    let series = DailySeries { start: day(2026, 1, 1), values: spend(20) };
    assert!(matches!(
        detect(&series, day(2026, 1, 10), &Thresholds::default(), &[]),
        Err(DetectError::TooShort { .. })
    ));
}

#[test]
fn a_day_is_judged_the_same_whatever_the_first_day_checked() {
    // A daily monitor's window moves a day each day: what it says of a day must not move with
    // it. Bumps of 8 to 20 %, near the thresholds, every nine days.
    let mut values = spend(260);
    for i in (150..260).step_by(9) {
        values[i] = values[i].map(|v| v * (1.08 + 0.02 * (i % 7) as f64));
    }
    let series = DailySeries { start: day(2026, 1, 1), values };
    let t = Thresholds { min_impact: 20.0, min_share: 0.05, ..Thresholds::default() };
    // A day of the eight-week grid backtests fall on (Mondays 56 days apart from 1970-01-05).
    let grid_day = day(2026, 6, 8);
    assert_eq!((grid_day - day(1970, 1, 5)).num_days() % 56, 0);
    let first = detect(&series, grid_day, &t, &[]).expect("detect");
    assert!(first.days.iter().filter(|c| c.anomalous).count() >= 3, "the bumps should find something");
    for k in 1..56 {
        let later = detect(&series, grid_day + Duration::days(k), &t, &[]).expect("detect");
        assert_eq!(later.days.first().map(|c| c.date), Some(grid_day + Duration::days(k)));
        let same: Vec<DayCheck> =
            first.days.iter().filter(|c| c.date >= grid_day + Duration::days(k)).copied().collect();
        assert_eq!(later.days, same, "from {}", grid_day + Duration::days(k));
    }
}

#[test]
fn thresholds_read_from_text_the_way_monitors_and_the_api_give_them() {
    let mut t = Thresholds::default();
    t.set("min_impact", "250.5").unwrap();
    t.set("min_percent", "20").unwrap();
    t.set("level", "80").unwrap();
    t.set("direction", "Both").unwrap();
    assert_eq!(t, Thresholds { min_impact: 250.5, min_share: 0.2, level: 0.8, direction: Direction::Both });
    // Each refusal names the field and what it takes, and leaves the thresholds as they were.
    for (field, text, expected) in [
        ("min_impact", "-1", "a number, 0 or more"),
        ("min_percent", "NaN", "a number, 0 or more"),
        ("level", "100", "a percentage between 0 and 100"),
        ("level", "0", "a percentage between 0 and 100"),
        ("level", " 80", "a percentage between 0 and 100"),
        ("direction", "sideways", "up, down or both"),
        ("floor", "1", "not a threshold (min_impact, min_percent, level, direction)"),
    ] {
        let e = t.set(field, text).unwrap_err();
        assert_eq!((e.field.as_str(), e.text.as_str(), e.expected), (field, text, expected));
    }
    assert_eq!(t.level, 0.8);
    assert_eq!(t.set("level", "150").unwrap_err().to_string(), "level \"150\": a percentage between 0 and 100");
}
