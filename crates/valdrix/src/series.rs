//! Arbitrary daily series for `valdrix forecast --input` and `valdrix anomalies --input`: a
//! `date,value` CSV in, forecast rows out.

use anyhow::{bail, Context, Result};
use chrono::NaiveDate;
use std::collections::BTreeMap;
use std::path::Path;

use valdrix_analytics::forecast::{DailySeries, Point};

use crate::output::Grid;

/// Reads a `date,value` CSV (a header row is optional; dates `YYYY-MM-DD`, in any order; days
/// missing between the first and the last are gaps, not zeros). Errors name the file, row and
/// column.
pub fn read_csv(path: &Path) -> Result<DailySeries> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let mut days: BTreeMap<NaiveDate, f64> = BTreeMap::new();
    for (i, row) in reader.records().enumerate() {
        let row_no = i + 1;
        let row = row.with_context(|| format!("{}: row {row_no}: not CSV", path.display()))?;
        let date_text = row.get(0).unwrap_or("").trim();
        let Ok(date) = NaiveDate::parse_from_str(date_text, "%Y-%m-%d") else {
            if row_no == 1 {
                continue; // a header
            }
            bail!("{}: row {row_no}, column 1 (date): {date_text:?} is not a date (YYYY-MM-DD)", path.display());
        };
        let value_text = row.get(1).map(str::trim).unwrap_or("");
        let value: f64 = value_text.parse().ok().filter(|v: &f64| v.is_finite()).with_context(|| {
            format!("{}: row {row_no}, column 2 (value): {value_text:?} is not a number", path.display())
        })?;
        if days.insert(date, value).is_some() {
            bail!("{}: row {row_no}, column 1 (date): {date} appears twice", path.display());
        }
    }
    let (Some((&start, _)), Some((&end, _))) = (days.first_key_value(), days.last_key_value()) else {
        bail!("{}: no rows of date,value", path.display());
    };
    let len = (end - start).num_days() as usize + 1;
    let mut values = vec![None; len];
    for (d, v) in days {
        values[(d - start).num_days() as usize] = Some(v);
    }
    Ok(DailySeries { start, values })
}

/// The forecast as `date,yhat,lo80,hi80,lo95,hi95` (one pair of bounds per level).
pub fn forecast_grid(points: &[Point], levels: &[f64]) -> Grid {
    let mut columns = vec!["date".to_string(), "yhat".to_string()];
    for l in levels {
        let pct = level_label(*l);
        columns.push(format!("lo{pct}"));
        columns.push(format!("hi{pct}"));
    }
    let rows = points
        .iter()
        .map(|p| {
            let mut row = vec![Some(p.date.to_string()), Some(number(p.yhat))];
            for i in &p.intervals {
                row.push(Some(number(i.lo)));
                row.push(Some(number(i.hi)));
            }
            row
        })
        .collect();
    let numeric = (0..columns.len()).map(|i| i > 0).collect();
    Grid { columns, rows, numeric }
}

/// `80` for 0.8, `97.5` for 0.975.
pub fn level_label(level: f64) -> String {
    let pct = (level * 1000.0).round() / 10.0;
    format!("{pct}")
}

/// A value with at most four decimals.
pub fn number(v: f64) -> String {
    let r = (v * 10_000.0).round() / 10_000.0;
    if r == 0.0 {
        "0".into() // not "-0"
    } else {
        format!("{r}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn csv(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        f.write_all(text.as_bytes()).expect("write");
        f
    }

    #[test]
    fn reads_with_or_without_a_header_and_keeps_gaps() {
        let f = csv("date,value\n2026-01-03,3\n2026-01-01,1.5\n");
        let s = read_csv(f.path()).expect("series");
        assert_eq!(s.start, NaiveDate::from_ymd_opt(2026, 1, 1).expect("date"));
        assert_eq!(s.values, vec![Some(1.5), None, Some(3.0)]);
        let f = csv("2026-01-01,1\n2026-01-02,2\n");
        assert_eq!(read_csv(f.path()).expect("series").values.len(), 2);
    }

    #[test]
    fn errors_name_the_row_and_column() {
        let f = csv("date,value\n2026-01-01,1\n2026-01-02,abc\n");
        let e = format!("{:#}", read_csv(f.path()).expect_err("bad value"));
        assert!(e.contains("row 3, column 2 (value)"), "{e}");
        let f = csv("date,value\n2026-01-01,1\n01/02/2026,2\n");
        let e = format!("{:#}", read_csv(f.path()).expect_err("bad date"));
        assert!(e.contains("row 3, column 1 (date)"), "{e}");
        let f = csv("2026-01-01,1\n2026-01-01,2\n");
        assert!(format!("{:#}", read_csv(f.path()).expect_err("twice")).contains("appears twice"));
        let f = csv("date,value\n");
        assert!(format!("{:#}", read_csv(f.path()).expect_err("empty")).contains("no rows"));
    }

    #[test]
    fn labels_and_numbers() {
        assert_eq!(level_label(0.8), "80");
        assert_eq!(level_label(0.975), "97.5");
        assert_eq!(number(1.234_56), "1.2346");
        assert_eq!(number(-0.000_01), "0");
    }
}
