//! What a bill cannot contain, checked on every line before it reaches a rollup: dates outside a
//! plausible range, a billing period that ends before it starts, a currency that is not an ISO
//! 4217 code, text with control characters or longer than any billing field. Each check answers
//! a [`FieldError`] naming the column; the reader adds the file and row.

use chrono::{Duration, NaiveDate, Utc};

use crate::error::FieldError;

/// The longest field a billing row may hold, in bytes. Real fields are far shorter (Azure's
/// `AdditionalInfo` JSON, the longest seen, is a few KiB); a longer one is damage or an attack,
/// and refusing it keeps a row's memory bounded.
pub const MAX_FIELD_BYTES: usize = 64 * 1024;

/// The charge and billing-period days a bill may hold: from `first` to `last`, inclusive. Days
/// outside (year 1, 1900, 9999) are damage, not spend, and on PostgreSQL each would create a
/// monthly partition of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plausible {
    /// The first day accepted.
    pub first: NaiveDate,
    /// The last day accepted.
    pub last: NaiveDate,
}

/// The first day of the default range: public clouds billed nothing before 2006, and no export
/// format read here predates 2010.
pub const DEFAULT_FIRST_DAY: (i32, u32, u32) = (2000, 1, 1);

/// How far past today the default range reaches: a billing period runs at most a month ahead of
/// its charges and a commitment's purchase is billed when made; a year leaves room for clocks
/// and time zones without admitting 9999.
pub const DEFAULT_DAYS_AHEAD: i64 = 366;

impl Default for Plausible {
    fn default() -> Self {
        let (y, m, d) = DEFAULT_FIRST_DAY;
        Plausible {
            first: NaiveDate::from_ymd_opt(y, m, d).unwrap_or(NaiveDate::MIN),
            last: Utc::now().date_naive() + Duration::days(DEFAULT_DAYS_AHEAD),
        }
    }
}

impl Plausible {
    /// Whether `day` is inside the range.
    pub fn contains(&self, day: NaiveDate) -> bool {
        self.first <= day && day <= self.last
    }

    /// `day` of `column`, or an error naming the range.
    pub fn check(&self, column: &str, day: NaiveDate) -> Result<(), FieldError> {
        if self.contains(day) {
            return Ok(());
        }
        Err(FieldError::new(
            column,
            format!(
                "{day} is outside the plausible billing dates {} to {} (a damaged date? the range is \
                 [ingest] first_day / last_day in the configuration)",
                self.first, self.last
            ),
        ))
    }
}

/// A billing period that ends before (or when) it starts.
pub fn check_period(column: &str, start: NaiveDate, end_exclusive: NaiveDate) -> Result<(), FieldError> {
    if end_exclusive > start {
        return Ok(());
    }
    Err(FieldError::new(column, format!("the period ends ({end_exclusive}) before it starts ({start})")))
}

/// A charge period (`start`, `end`, timestamps of one line) that ends before it starts.
pub fn check_charge_period(
    column: &str,
    start: chrono::NaiveDateTime,
    end: chrono::NaiveDateTime,
) -> Result<(), FieldError> {
    if end >= start {
        return Ok(());
    }
    Err(FieldError::new(column, format!("the charge period ends ({end}) before it starts ({start})")))
}

/// Whether `code` is an ISO 4217 currency code in use (or a fund or precious-metal code a bill
/// could carry). Case matters: exports write codes in capitals.
pub fn is_currency(code: &str) -> bool {
    code.len() == 3 && ISO_4217.binary_search(&code).is_ok()
}

/// `code` as a currency, or an error naming `column`.
pub fn check_currency(column: &str, code: &str) -> Result<(), FieldError> {
    if is_currency(code) {
        return Ok(());
    }
    Err(FieldError::new(column, format!("{code:?} is not an ISO 4217 currency code (such as USD, EUR, JPY)")))
}

/// The first control character (other than tab, line feed and carriage return) in `text`, with
/// its byte offset: NUL and the like never belong in a bill, and PostgreSQL cannot store NUL.
pub fn control_character(text: &str) -> Option<(usize, char)> {
    text.char_indices().find(|&(_, c)| (c < ' ' || c == '\u{7f}') && !matches!(c, '\t' | '\n' | '\r'))
}

/// `text` of `column` checked for control characters and length.
pub fn check_text(column: &str, text: &str) -> Result<(), FieldError> {
    if text.len() > MAX_FIELD_BYTES {
        return Err(FieldError::new(
            column,
            format!("the field is {} bytes, over the {MAX_FIELD_BYTES}-byte limit of a billing field", text.len()),
        ));
    }
    if let Some((at, c)) = control_character(text) {
        return Err(FieldError::new(
            column,
            format!("control character U+{:04X} at byte {at} of the field (a bill holds none)", c as u32),
        ));
    }
    Ok(())
}

/// ISO 4217 codes, sorted: the active list, plus the fund, precious-metal and special codes.
const ISO_4217: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BGN", "BHD", "BIF",
    "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHE", "CHF", "CHW", "CLF",
    "CLP", "CNY", "COP", "COU", "CRC", "CUC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB",
    "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HRK", "HTG", "HUF",
    "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD",
    "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU",
    "MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN",
    "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD",
    "SHP", "SLE", "SLL", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY",
    "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS", "VED", "VES", "VND", "VUV", "WST",
    "XAF", "XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XCD", "XCG", "XDR", "XOF", "XPD", "XPF", "XPT", "XSU", "XUA",
    "YER", "ZAR", "ZMW", "ZWG", "ZWL",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_currency_list_is_sorted_and_knows_real_codes() {
        assert!(ISO_4217.windows(2).all(|w| w[0] < w[1]));
        for c in ["USD", "EUR", "JPY", "GBP", "INR", "CHF"] {
            assert!(is_currency(c), "{c}");
        }
        for c in ["usd", "US$", "XYZ", "", "DOLLARS", "U"] {
            assert!(!is_currency(c), "{c}");
        }
    }

    #[test]
    fn dates_outside_the_range_are_refused() {
        let p = Plausible::default();
        for bad in [(1, 1, 1), (1900, 1, 1), (9999, 12, 31)] {
            let d = NaiveDate::from_ymd_opt(bad.0, bad.1, bad.2).expect("date");
            let e = p.check("ChargePeriodStart", d).expect_err("refused");
            assert!(e.message.contains("outside the plausible"), "{}", e.message);
        }
        assert!(p.check("x", NaiveDate::from_ymd_opt(2018, 10, 1).expect("date")).is_ok());
    }

    #[test]
    fn text_checks() {
        assert!(check_text("c", "plain\ttext\nwith lines").is_ok());
        let e = check_text("c", "a\0b").expect_err("NUL");
        assert!(e.message.contains("U+0000 at byte 1"), "{}", e.message);
        assert!(check_text("c", &"x".repeat(MAX_FIELD_BYTES + 1)).is_err());
        assert!(check_period("BillingPeriodEnd", d(2026, 10, 1), d(2026, 9, 1)).is_err());
        assert!(check_period("BillingPeriodEnd", d(2026, 10, 1), d(2026, 10, 1)).is_err());
        assert!(check_period("BillingPeriodEnd", d(2026, 10, 1), d(2026, 11, 1)).is_ok());
    }

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("date")
    }
}
