//! What the unit tests of forecasts and anomalies build their series from.

use chrono::NaiveDate;

/// A calendar day.
pub(crate) fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

/// Deterministic noise from an xorshift generator seeded with `seed`: a whole number from 0 to
/// 9,999 a call (as a float), so that series built on it are the same on every run.
pub(crate) fn noise(seed: u64) -> impl FnMut() -> f64 {
    let mut state = seed;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 10_000) as f64
    }
}
