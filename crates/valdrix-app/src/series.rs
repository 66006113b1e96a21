//! Arbitrary daily series for `valdrix forecast --input` and `valdrix anomalies --input`: a
//! `date,value` CSV in.

use crate::error::{AppError, Result};
use chrono::NaiveDate;
use std::collections::BTreeMap;
use std::path::Path;

use valdrix_analytics::forecast::DailySeries;

/// Reads a `date,value` CSV (a header row is optional; dates `YYYY-MM-DD`, in any order; days
/// missing between the first and the last are gaps, not zeros). Errors name the file, row and
/// column.
pub fn read_csv(path: &Path) -> Result<DailySeries> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(path)
        .map_err(|e| AppError::Invalid(format!("{}: cannot read: {e}", path.display())))?;
    let mut days: BTreeMap<NaiveDate, f64> = BTreeMap::new();
    for (i, row) in reader.records().enumerate() {
        let row_no = i + 1;
        let row = row.map_err(|e| AppError::Invalid(format!("{}: row {row_no}: not CSV: {e}", path.display())))?;
        let date_text = row.get(0).unwrap_or("").trim();
        let Ok(date) = NaiveDate::parse_from_str(date_text, "%Y-%m-%d") else {
            if row_no == 1 {
                continue; // a header
            }
            return Err(AppError::Invalid(format!(
                "{}: row {row_no}, column 1 (date): {date_text:?} is not a date (YYYY-MM-DD)",
                path.display()
            )));
        };
        let value_text = row.get(1).map(str::trim).unwrap_or("");
        let value: f64 = value_text.parse().ok().filter(|v: &f64| v.is_finite()).ok_or_else(|| {
            AppError::Invalid(format!(
                "{}: row {row_no}, column 2 (value): {value_text:?} is not a number",
                path.display()
            ))
        })?;
        if days.insert(date, value).is_some() {
            return Err(AppError::Invalid(format!(
                "{}: row {row_no}, column 1 (date): {date} appears twice",
                path.display()
            )));
        }
    }
    let (Some((&start, _)), Some((&end, _))) = (days.first_key_value(), days.last_key_value()) else {
        return Err(AppError::Invalid(format!("{}: no rows of date,value", path.display())));
    };
    let len = (end - start).num_days() as usize + 1;
    let mut values = vec![None; len];
    for (d, v) in days {
        values[(d - start).num_days() as usize] = Some(v);
    }
    Ok(DailySeries { start, values })
}
