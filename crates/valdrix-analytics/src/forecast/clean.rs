//! Preparing a training window: missing and left-out days filled, the weekly pattern taken out,
//! level shifts found and the history before them brought to today's level, outliers replaced.
//!
//! A forecast learns from this cleaned series, not from the raw one: a one-day spike or a
//! holiday marked as expected would otherwise bend the level and widen the bands for weeks.

use chrono::{Datelike, Duration, NaiveDate};

use super::model::{Transform, WEEK};

/// How far (in robust standard deviations of the day-to-day noise) a day must sit from its
/// neighbourhood to count as an outlier.
const OUTLIER_Z: f64 = 4.0;
/// Days compared on each side of a candidate level shift.
const SHIFT_WINDOW: usize = 14;
/// The least a day must differ from its week to be an outlier, as a share of the level (3 %).
/// The noise of a flat series (a fixed fleet, a commitment) is nil, and a spike on it must still
/// count; the noise of a very steady one (the flights of an airport) is a fraction of a percent,
/// and a day 2 % off its week there is the schedule moving, not an odd day to replace.
const OUTLIER_MIN_SHARE: f64 = 0.03;
/// Days a new level must have lasted before it counts as a shift rather than a spike.
const SHIFT_MIN_AFTER: usize = 7;
/// Days at the end of a window back at the level before the last shift that make that shift a
/// temporary level.
const RETURN_MIN_DAYS: usize = 3;
/// The longest a level may last and still be read as temporary: a shutdown, not a season.
const TEMPORARY_MAX_DAYS: usize = 4 * WEEK;
/// How far (in robust standard deviations) two levels must differ to count as a shift.
const SHIFT_Z: f64 = 4.0;
/// The smallest shift worth acting on, as a share of the level (10 %).
const SHIFT_MIN_SHARE: f64 = 0.10;

/// A training window ready for the models.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    /// The transform the values went through.
    pub transform: Transform,
    /// Transformed values with gaps filled, outliers replaced and earlier levels adjusted.
    pub z: Vec<f64>,
    /// The weekly component of `z` (zero when the window is shorter than two weeks).
    pub weekly: Vec<f64>,
    /// Days (indices) replaced as outliers.
    pub outliers: Vec<usize>,
    /// Days (indices) where a new level starts.
    pub changepoints: Vec<usize>,
    /// The first day of the window.
    pub start: NaiveDate,
    /// A charge that recurs on the first day of each month (a support plan, a commitment fee, a
    /// marketplace subscription), in the series' units: 0 when there is none. It is left out of
    /// training like an outlier and added back to the first day of each forecast month.
    pub month_start_charge: f64,
    /// The damped-trend model of the weekly-adjusted series, fitted once for the candidates
    /// that share it.
    pub damped: std::cell::OnceCell<super::smoothing::Damped>,
}

impl Prepared {
    /// `z` without its weekly component: what the trend model sees.
    pub fn adjusted(&self) -> Vec<f64> {
        self.z.iter().zip(&self.weekly).map(|(z, s)| z - s).collect()
    }
}

/// Prepares `y`, whose first day is `start` (NaN: no usable value that day; at least one value
/// is usable).
pub(crate) fn prepare(y: &[f64], start: NaiveDate, transform: Transform) -> Prepared {
    // A day at zero or below has no logarithm: in a positive series it is treated as missing.
    let known: Vec<bool> = y.iter().map(|v| v.is_finite() && (transform == Transform::Identity || *v > 0.0)).collect();
    let mut z: Vec<f64> = y.iter().zip(&known).map(|(&v, &k)| if k { transform.apply(v) } else { f64::NAN }).collect();
    interpolate(&mut z);
    let n = z.len();
    let weekly = if n >= 2 * WEEK { weekly_component(&z) } else { vec![0.0; n] };
    let mut d: Vec<f64> = z.iter().zip(&weekly).map(|(z, s)| z - s).collect();

    let noise = noise_scale(&d, &rolling_median(&d, WEEK, &known), &known);
    // What a share of the level is in `d`'s units (in logarithms, the share itself).
    let level = match transform {
        Transform::Log => 1.0,
        Transform::Identity => median(&mut d.iter().map(|v| v.abs()).collect::<Vec<_>>()),
    };
    let mut changepoints = level_shifts(&d, (SHIFT_Z * noise).max(SHIFT_MIN_SHARE * level));
    let temporary = temporary_level(&d, &known, &changepoints);
    if let Some(days) = &temporary {
        // The last level was left again for the one before it: history keeps that level and the
        // days between are brought to it.
        let (_, shift) = changepoints.pop().expect("a temporary level follows a shift");
        for v in &mut d[days.clone()] {
            *v -= shift;
        }
    }
    for &(t, shift) in &changepoints {
        for v in &mut d[..t] {
            *v += shift;
        }
    }

    // Outliers, once levels are aligned. Days that had no usable value are replaced too.
    let (far, centre) = find_outliers(&d, &known, OUTLIER_MIN_SHARE * level);
    let mut outliers: Vec<usize> = temporary.unwrap_or_default().collect();
    for i in 0..n {
        if far[i] {
            outliers.push(i);
        }
        if !known[i] || far[i] {
            d[i] = centre[i];
        }
    }
    outliers.sort_unstable();
    outliers.dedup();
    let z: Vec<f64> = d.iter().zip(&weekly).map(|(d, s)| d + s).collect();
    let month_start_charge = month_start_charge(y, &z, start, transform, &outliers);
    Prepared {
        transform,
        z,
        weekly,
        outliers,
        changepoints: changepoints.into_iter().map(|(t, _)| t).collect(),
        start,
        month_start_charge,
        damped: std::cell::OnceCell::new(),
    }
}

/// The days of a temporary level at the end of `d` (weekly-adjusted; `known`: days with a
/// usable value): when the last level shift was followed, at the very end, by at least
/// [`RETURN_MIN_DAYS`] days all closer to the level before it than to its own. A holiday
/// shutdown trained on a few days after it ends looks like this: too few days back to count as
/// a shift of their own, yet a long history says the old level is the usual one, so they are
/// read as a return to it, not as odd days at a new level.
fn temporary_level(d: &[f64], known: &[bool], shifts: &[(usize, f64)]) -> Option<std::ops::Range<usize>> {
    let &(t, shift) = shifts.last()?;
    let n = d.len();
    let mut after: Vec<f64> = (t..(t + SHIFT_WINDOW).min(n)).filter(|&i| known[i]).map(|i| d[i]).collect();
    let after = median(&mut after);
    let before = after - shift;
    let mut back = 0;
    let mut first_back = n;
    for i in (t..n).rev().filter(|&i| known[i]) {
        if (d[i] - before).abs() >= (d[i] - after).abs() {
            break;
        }
        back += 1;
        first_back = i;
    }
    let recent = (RETURN_MIN_DAYS..SHIFT_MIN_AFTER).contains(&back);
    (recent && first_back > t && first_back - t <= TEMPORARY_MAX_DAYS).then_some(t..first_back)
}

/// Outliers of `d` (weekly-adjusted, levels aligned; `known`: days with a usable value), and the
/// median of each day's week to replace them with. A day is an outlier when it is far from that
/// median: [`OUTLIER_Z`] robust standard deviations of the noise, and at least `min_far`. The
/// median is taken twice, the second time without the days the first found far: a cluster of odd
/// days (a holiday weekend, an outage) would otherwise drag its neighbours' median with it, so
/// that normal days beside it look odd and odd days are replaced by odd values.
fn find_outliers(d: &[f64], known: &[bool], min_far: f64) -> (Vec<bool>, Vec<f64>) {
    let n = d.len();
    let centre = rolling_median(d, WEEK, known);
    let noise = noise_scale(d, &centre, known).max(min_far / OUTLIER_Z);
    let far = |centre: &[f64]| -> Vec<bool> {
        (0..n).map(|i| known[i] && noise > 0.0 && (d[i] - centre[i]).abs() > OUTLIER_Z * noise).collect()
    };
    let first = far(&centre);
    let normal: Vec<bool> = first.iter().zip(known).map(|(f, k)| *k && !f).collect();
    let counted = normal.contains(&true).then_some(&normal[..]);
    let (mut centre, mut buf) = (centre, Vec::new());
    // Only the windows that hold a day found far change.
    for (i, c) in centre.iter_mut().enumerate() {
        if first[i.saturating_sub(WEEK / 2)..(i + WEEK / 2 + 1).min(n)].contains(&true) {
            *c = window_median(d, i, WEEK, counted, &mut buf);
        }
    }
    let mut far = far(&centre);
    // A change of the weekly pattern (an airline cutting its Saturday flights, a batch job moved
    // to Sundays) makes the same weekday stand out week after week. That is the pattern now, not
    // an outlier: a day is kept when it is one of three or more of its weekday in a row that lean
    // the same way, the next in the row by at least half as much. A day that stands out from the
    // same weekday next to it (Thanksgiving in a rising season), or two in a row (a holiday
    // fortnight), are still outliers.
    let lean = |i: usize| d[i] - centre[i];
    let leans = |j: Option<usize>| j.filter(|&j| j < n && known[j]).map(lean);
    let repeated: Vec<bool> = (0..n)
        .map(|i| {
            let like = |j: Option<usize>, next: bool| {
                leans(j).is_some_and(|l| {
                    l.signum() == lean(i).signum()
                        && l.abs() > OUTLIER_Z * noise / 2.0
                        && (!next || l.abs() >= lean(i).abs() / 2.0)
                })
            };
            let (back, ahead) = (i.checked_sub(WEEK), Some(i + WEEK));
            let (back2, ahead2) = (i.checked_sub(2 * WEEK), Some(i + 2 * WEEK));
            far[i]
                && ((like(back, true) && (like(back2, false) || like(ahead, true)))
                    || (like(ahead, true) && like(ahead2, false)))
        })
        .collect();
    for (f, r) in far.iter_mut().zip(repeated) {
        *f &= !r;
    }
    (far, centre)
}

/// Month starts looked at for a recurring charge.
const MONTH_STARTS: usize = 3;

/// The charge recurring on the first of the month: when at least two of the last three month
/// starts were outliers above their week, the median of their excess over the cleaned value.
fn month_start_charge(y: &[f64], z: &[f64], start: NaiveDate, t: Transform, outliers: &[usize]) -> f64 {
    let firsts: Vec<usize> = (0..y.len()).filter(|&i| (start + Duration::days(i as i64)).day() == 1).collect();
    let recent = &firsts[firsts.len().saturating_sub(MONTH_STARTS)..];
    let mut excess: Vec<f64> =
        recent.iter().filter(|i| outliers.contains(i)).map(|&i| y[i] - t.invert(z[i])).filter(|e| *e > 0.0).collect();
    if recent.len() >= 2 && excess.len() >= 2 {
        median(&mut excess)
    } else {
        0.0
    }
}

/// The weekly component by STL with a robustness pass, so that a spike does not leak into
/// every week's pattern.
fn weekly_component(z: &[f64]) -> Vec<f64> {
    let fit = stlrs::params()
        .seasonal_length(WEEKLY_SEASONAL_WINDOW)
        .robust(true)
        .outer_loops(2)
        .seasonal_jump(STL_JUMPS[0])
        .trend_jump(STL_JUMPS[1])
        .low_pass_jump(STL_JUMPS[2])
        .fit(z, WEEK);
    match fit {
        Ok(f) => f.seasonal().to_vec(),
        Err(_) => vec![0.0; z.len()],
    }
}

/// Every how many days STL's seasonal, trend and low-pass smoothers are evaluated (linear in
/// between): 3, 3 and 2 rather than STL's own 2, 2 and 1. STL is the largest cost of a backtest
/// (it runs at every origin); this takes about a fifth off the 200-service benchmark and leaves
/// the benchmark's MAPE where it was (hyndsight 16.92 against 16.97 %, the others within 0.01).
const STL_JUMPS: [usize; 3] = [3, 3, 2];

/// Span, in weeks, over which STL smooths each weekday's values: wide enough that the weekly
/// pattern is stable, narrow enough that it follows a pattern that changes over months.
pub(crate) const WEEKLY_SEASONAL_WINDOW: usize = 15;

/// Fills NaN by straight lines between known neighbours (the nearest known value at the ends).
fn interpolate(z: &mut [f64]) {
    let Some(first) = z.iter().position(|v| v.is_finite()) else { return };
    let fill = z[first];
    for v in &mut z[..first] {
        *v = fill;
    }
    let mut last = first;
    for i in first + 1..z.len() {
        if z[i].is_finite() {
            if i > last + 1 {
                let (a, b) = (z[last], z[i]);
                let span = (i - last) as f64;
                for (k, v) in z[last + 1..i].iter_mut().enumerate() {
                    *v = a + (b - a) * (k + 1) as f64 / span;
                }
            }
            last = i;
        }
    }
    let fill = z[last];
    for v in &mut z[last + 1..] {
        *v = fill;
    }
}

/// A robust standard deviation of day-to-day noise: 1.4826 × the median absolute deviation of
/// each known day from `centre`, the median of its week.
fn noise_scale(d: &[f64], centre: &[f64], known: &[bool]) -> f64 {
    let mut dev: Vec<f64> = (0..d.len()).filter(|&i| known[i]).map(|i| (d[i] - centre[i]).abs()).collect();
    1.4826 * median(&mut dev)
}

/// Level shifts: `(first day of the new level, new level minus old level)`, oldest first. A
/// shift is the largest difference between the medians of the windows before and after a day,
/// larger than `threshold`, with no larger one within a window of it; its day is then the one
/// that splits the two windows best.
fn level_shifts(d: &[f64], threshold: f64) -> Vec<(usize, f64)> {
    let n = d.len();
    if threshold <= 0.0 || n < SHIFT_WINDOW + SHIFT_MIN_AFTER {
        return Vec::new();
    }
    let mut scored = Vec::new();
    let mut buf = Vec::with_capacity(SHIFT_WINDOW);
    // Every third day is enough to find a shift: its day is then refined by `best_split`.
    for t in (SHIFT_WINDOW..=n - SHIFT_MIN_AFTER).step_by(3) {
        buf.clear();
        buf.extend_from_slice(&d[t - SHIFT_WINDOW..t]);
        let before = median(&mut buf);
        buf.clear();
        buf.extend_from_slice(&d[t..(t + SHIFT_WINDOW).min(n)]);
        let after = median(&mut buf);
        if (after - before).abs() > threshold {
            scored.push((t, after - before));
        }
    }
    scored.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
    let mut chosen: Vec<(usize, f64)> = Vec::new();
    for (t, delta) in scored {
        if chosen.iter().all(|&(c, _)| c.abs_diff(t) >= SHIFT_WINDOW) {
            chosen.push((t, delta));
        }
    }
    for c in &mut chosen {
        c.0 = best_split(d, c.0);
    }
    chosen.sort_by_key(|&(t, _)| t);
    chosen
}

/// The day near `t` that best splits the windows around it into two levels (least absolute
/// deviation from each side's median).
fn best_split(d: &[f64], t: usize) -> usize {
    let lo = t - SHIFT_WINDOW;
    let hi = (t + SHIFT_WINDOW).min(d.len());
    let mut before: Vec<f64> = d[lo..t].to_vec();
    let mut after: Vec<f64> = d[t..hi].to_vec();
    let (b, a) = (median(&mut before), median(&mut after));
    let cost = |split: usize| -> f64 {
        d[lo..split].iter().map(|v| (v - b).abs()).sum::<f64>()
            + d[split..hi].iter().map(|v| (v - a).abs()).sum::<f64>()
    };
    let first = t.saturating_sub(SHIFT_WINDOW / 2).max(lo + 1);
    let last = (t + SHIFT_WINDOW / 2).min(hi - 1);
    (first..=last).min_by(|&x, &y| cost(x).total_cmp(&cost(y))).unwrap_or(t)
}

/// The median of each day's centred window of `w` days (shorter at the ends), counting only the
/// days `counted` allows; a window with none of them is widened until it has some (every day
/// counts when none is allowed at all).
fn rolling_median(d: &[f64], w: usize, counted: &[bool]) -> Vec<f64> {
    let counted = counted.contains(&true).then_some(counted);
    let mut buf = Vec::with_capacity(w);
    (0..d.len()).map(|i| window_median(d, i, w, counted, &mut buf)).collect()
}

/// The median of day `i`'s window in [`rolling_median`] (`counted`: `None` when every day
/// counts), `buf` its scratch space.
fn window_median(d: &[f64], i: usize, w: usize, counted: Option<&[bool]>, buf: &mut Vec<f64>) -> f64 {
    let mut half = w / 2;
    loop {
        let window = i.saturating_sub(half)..(i + half + 1).min(d.len());
        buf.clear();
        buf.extend(window.filter(|&j| counted.is_none_or(|c| c[j])).map(|j| d[j]));
        if !buf.is_empty() {
            return median(buf);
        }
        half = (half * 2).max(1);
    }
}

/// The median (0 for no values); reorders `v`.
pub(crate) fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mid = v.len() / 2;
    let (_, m, _) = v.select_nth_unstable_by(mid, |a, b| a.total_cmp(b));
    let m = *m;
    if v.len() % 2 == 1 {
        m
    } else {
        let below = v[..mid].iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (below + m) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day0() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 1, 5).expect("date")
    }

    #[test]
    fn a_charge_on_each_first_of_the_month_is_recurring() {
        let mut y = weekly_series(150);
        for (i, v) in y.iter_mut().enumerate() {
            if (day0() + Duration::days(i as i64)).day() == 1 {
                *v += 2000.0;
            }
        }
        let p = prepare(&y, day0(), Transform::Log);
        assert!((p.month_start_charge - 2000.0).abs() < 20.0, "{}", p.month_start_charge);
        let p = prepare(&weekly_series(150), day0(), Transform::Log);
        assert_eq!(p.month_start_charge, 0.0);
    }

    fn weekly_series(n: usize) -> Vec<f64> {
        (0..n).map(|i| if i % 7 >= 5 { 60.0 } else { 100.0 } + (i % 3) as f64).collect()
    }

    #[test]
    fn a_spike_is_an_outlier_and_is_replaced() {
        let mut y = weekly_series(120);
        y[100] *= 5.0;
        let p = prepare(&y, day0(), Transform::Log);
        assert_eq!(p.outliers, vec![100]);
        assert!((p.transform.invert(p.z[100]) - 100.0).abs() < 10.0, "{}", p.transform.invert(p.z[100]));
        assert!(p.changepoints.is_empty());
    }

    #[test]
    fn a_spike_on_a_flat_series_is_an_outlier_and_a_wobble_on_a_steady_one_is_not() {
        // A fixed fleet costs the same every day: its noise is nil, yet a spike is still odd.
        let mut y = vec![250.0; 90];
        y[60] = 400.0;
        assert_eq!(prepare(&y, day0(), Transform::Log).outliers, vec![60]);
        // A very steady series: a day 2 % off its week is not replaced, one 6 % off is.
        let mut y: Vec<f64> = (0..90).map(|i| 1000.0 + (i % 2) as f64).collect();
        y[40] *= 1.02;
        y[70] *= 1.06;
        assert_eq!(prepare(&y, day0(), Transform::Log).outliers, vec![70]);
    }

    #[test]
    fn a_weekday_that_changes_for_good_is_the_pattern_not_outliers() {
        // Saturdays (index 5 mod 7) drop by a third from day 110 on; the other days stay.
        let mut y = weekly_series(140);
        for (i, v) in y.iter_mut().enumerate().skip(110) {
            if i % 7 == 5 {
                *v *= 0.66;
            }
        }
        let p = prepare(&y, day0(), Transform::Log);
        assert!(p.outliers.iter().all(|&i| i < 110), "{:?}", p.outliers);
        assert!((p.transform.invert(p.z[138]) - y[138]).abs() < 1e-6, "{}", p.transform.invert(p.z[138]));
        // One odd Saturday, or two in a row, are still outliers.
        let mut y = weekly_series(140);
        y[124] *= 0.66;
        y[131] *= 0.66;
        assert_eq!(prepare(&y, day0(), Transform::Log).outliers, vec![124, 131]);
    }

    #[test]
    fn a_lasting_jump_is_a_level_shift_not_outliers() {
        let mut y = weekly_series(140);
        for v in &mut y[110..] {
            *v *= 1.6;
        }
        let p = prepare(&y, day0(), Transform::Log);
        assert_eq!(p.changepoints, vec![110]);
        assert!(p.outliers.is_empty(), "{:?}", p.outliers);
        // History now sits at the new level: a Monday early on reads like a Monday at the end.
        let level = |i: usize| p.transform.invert(p.z[i] - p.weekly[i]);
        assert!((level(21) / level(133) - 1.0).abs() < 0.05, "{} against {}", level(21), level(133));
    }

    #[test]
    fn a_level_left_and_returned_to_at_the_end_is_temporary() {
        // A shutdown from day 100 to 117 at a third of the usual level, then four days back.
        let mut y = weekly_series(122);
        for v in &mut y[100..118] {
            *v /= 3.0;
        }
        let p = prepare(&y, day0(), Transform::Log);
        assert!(p.changepoints.is_empty(), "{:?}", p.changepoints);
        assert!((100..118).all(|i| p.outliers.contains(&i)), "{:?}", p.outliers);
        // History keeps its level: a Monday early on reads like the last Monday.
        let level = |i: usize| p.transform.invert(p.z[i] - p.weekly[i]);
        assert!((level(21) / level(119) - 1.0).abs() < 0.05, "{} against {}", level(21), level(119));
        assert!((level(105) / level(119) - 1.0).abs() < 0.05, "{} against {}", level(105), level(119));
        // Two days back are not yet a return; and a level that lasted longer than a shutdown
        // (six weeks) is a season that ended, taken as it is.
        for (from, to, n) in [(100, 118, 120), (60, 102, 106)] {
            let mut y = weekly_series(n);
            for v in &mut y[from..to] {
                *v /= 3.0;
            }
            let p = prepare(&y, day0(), Transform::Log);
            assert!(p.changepoints.contains(&from), "{from}..{to}: {:?}", p.changepoints);
        }
    }

    #[test]
    fn gaps_are_filled() {
        let mut y = weekly_series(60);
        y[30] = f64::NAN;
        y[0] = f64::NAN;
        let p = prepare(&y, day0(), Transform::Identity);
        assert!(p.z.iter().all(|v| v.is_finite()));
        assert!(p.outliers.is_empty());
    }

    #[test]
    fn medians() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&mut []), 0.0);
    }
}
