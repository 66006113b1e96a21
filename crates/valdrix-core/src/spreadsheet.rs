//! Every CSV Valdrix writes is safe to open in a spreadsheet: one rule, used by the command
//! line (`--format csv`, `export focus`), the API's export and the dashboard's downloads.
//!
//! A spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` as a formula, and Excel also
//! one that starts with a tab or a carriage return (CSV injection: `=HYPERLINK(…)` in a tag
//! value, say). Such a text cell is written with a leading apostrophe, which spreadsheets show
//! as text and do not run. Numbers (`-12.5`, `+3`, `1e-06`) are left as they are, so amounts
//! stay numbers.

use std::borrow::Cow;

/// The characters that make a spreadsheet read a cell as a formula.
pub const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// `cell` as it is safe to write in CSV: unchanged unless it is text that starts like a
/// formula, which gets a leading `'`.
pub fn spreadsheet_safe(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(FORMULA_STARTS) && crate::parse_decimal(cell.trim()).is_err() {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// A CSV cell made safe by [`spreadsheet_safe`], as bytes for `csv::Writer::write_record`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafeCell<'a>(pub Cow<'a, str>);

impl AsRef<[u8]> for SafeCell<'_> {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// [`spreadsheet_safe`] as a cell a CSV writer takes.
pub fn safe_cell(cell: &str) -> SafeCell<'_> {
    SafeCell(spreadsheet_safe(cell))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_numbers_kept() {
        for bad in ["=HYPERLINK(\"http://x\",\"y\")", "@SUM(1+1)", "+cmd|' /C calc'!A0", "-2+3", "\tx", "\rx", "-"] {
            assert_eq!(spreadsheet_safe(bad), format!("'{bad}"), "{bad:?}");
        }
        for ok in ["-12.50", "+3", "1e-06", "-5e-06", "AmazonEC2", "", "2026-10-01", "a=b"] {
            assert_eq!(spreadsheet_safe(ok), ok, "{ok:?}");
        }
    }
}
