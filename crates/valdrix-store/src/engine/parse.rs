//! Stored text read back as values: amounts and days, with the column at fault named.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::str::FromStr;

use crate::error::{Result, StoreError};

/// Group-by values and currency of one answer row.
pub(crate) type GroupKey = (Vec<Option<String>>, String);

/// A stored amount of `cost_records.column`.
pub(crate) fn parse_dec(s: &str, column: &'static str) -> Result<Decimal> {
    Decimal::from_str(s).map_err(|e| StoreError::Corrupt {
        table: "cost_records",
        column,
        message: format!("{s:?}: {e}"),
    })
}

/// A stored day, `YYYY-MM-DD`; `None` for none or anything else.
pub(crate) fn parse_date(s: Option<String>) -> Option<NaiveDate> {
    s.and_then(|s| NaiveDate::parse_from_str(&s, "%Y-%m-%d").ok())
}
