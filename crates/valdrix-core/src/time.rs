//! Dates in billing files: ISO 8601 with or without `T`/`Z`, US-style `MM/DD/YYYY`, and BigQuery
//! text (`2020-11-09 23:00:00+00:00`). Everything becomes a UTC date-time.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Utc};

/// Parses a billing timestamp or date into UTC. Returns `None` for text that is not a real date
/// (including impossible dates such as `2023-02-30`).
pub fn parse_timestamp(text: &str) -> Option<NaiveDateTime> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Some(dt.with_timezone(&Utc).naive_utc());
    }
    // `2020-11-09 23:00:00+00:00`, `2020-11-10 05:49:32.199000+00:00`
    for fmt in ["%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%d %H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f UTC"] {
        if let Ok(dt) = DateTime::parse_from_str(t, fmt) {
            return Some(dt.with_timezone(&Utc).naive_utc());
        }
    }
    let t = t.trim_end_matches('Z');
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(t, fmt) {
            return Some(dt);
        }
    }
    parse_date(t).map(|d| d.and_time(NaiveTime::MIN))
}

/// Parses a date: ISO `YYYY-MM-DD`, `YYYYMMDD`, or US `M/D/YYYY` and `M/D/YY` (Azure exports and the
/// FOCUS spec examples write US dates; never day-first). A time part after a space is ignored.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    let t = text.trim();
    let t = t.split([' ', 'T']).next().unwrap_or(t);
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Some(d);
    }
    if t.len() == 8 && t.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(d) = NaiveDate::parse_from_str(t, "%Y%m%d") {
            return Some(d);
        }
    }
    let parts: Vec<&str> = t.split('/').collect();
    if parts.len() == 3 {
        let m: u32 = parts[0].parse().ok()?;
        let d: u32 = parts[1].parse().ok()?;
        let mut y: i32 = parts[2].parse().ok()?;
        if parts[2].len() == 2 {
            y += 2000;
        }
        return NaiveDate::from_ymd_opt(y, m, d);
    }
    None
}

/// The first day of a month written `YYYY-MM` (a billing period, `--month`, `?period=`); `None`
/// for anything else, such as `2026-1` or `2026-13`. The one parser of that spelling.
pub fn parse_month(text: &str) -> Option<NaiveDate> {
    let (y, m) = text.split_once('-')?;
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(y, 4) || !digits(m, 2) {
        return None;
    }
    NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, 1)
}

/// The first day of the month that contains `d`.
pub fn month_start(d: NaiveDate) -> NaiveDate {
    d.with_day(1).unwrap_or(d)
}

/// The first day of the month after the one that contains `d`.
pub fn next_month_start(d: NaiveDate) -> NaiveDate {
    let (y, m) = if d.month() == 12 { (d.year() + 1, 1) } else { (d.year(), d.month() + 1) };
    NaiveDate::from_ymd_opt(y, m, 1).unwrap_or(d)
}

/// Formats a date as FOCUS date-time text (`2024-09-01T00:00:00Z`).
pub fn focus_datetime(d: NaiveDate) -> String {
    format!("{}T00:00:00Z", d.format("%Y-%m-%d"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_written_yyyy_mm_and_nothing_else() {
        assert_eq!(parse_month("2026-10"), NaiveDate::from_ymd_opt(2026, 10, 1));
        for bad in ["2026-1", "2026-13", "2026-00", "26-10", "2026-10-01", "2026/10", "", "２０２６-10", "+026-10"]
        {
            assert_eq!(parse_month(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_seen_in_exports() {
        let d = |s| parse_timestamp(s).map(|x| x.to_string());
        assert_eq!(d("2023-11-01T00:00:00.000Z").as_deref(), Some("2023-11-01 00:00:00"));
        assert_eq!(d("2024-09-18 22:00:00").as_deref(), Some("2024-09-18 22:00:00"));
        assert_eq!(d("2020-11-09 23:00:00+00:00").as_deref(), Some("2020-11-09 23:00:00"));
        assert_eq!(d("2020-11-10 05:49:32.199000+00:00").as_deref(), Some("2020-11-10 05:49:32.199"));
        assert_eq!(d("2022-07-01 00:00:00.000").as_deref(), Some("2022-07-01 00:00:00"));
        assert_eq!(d("09/21/2023").as_deref(), Some("2023-09-21 00:00:00"));
        assert_eq!(d("5/1/25").as_deref(), Some("2025-05-01 00:00:00"));
        assert_eq!(d("2023-02-30"), None);
        assert_eq!(d("13/01/2023"), None);
    }
}
