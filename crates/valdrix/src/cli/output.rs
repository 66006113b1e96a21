//! Rendering answers as a table for people, or JSON / CSV for programs.

use anyhow::Result;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, ContentArrangement, Table};
use std::io::Write;

/// Output format of a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// An aligned table.
    Table,
    /// JSON (one document).
    Json,
    /// CSV with a header row.
    Csv,
}

/// A rectangular answer: column names, rows of text, and which columns are numeric.
pub struct Grid {
    /// Column names.
    pub columns: Vec<String>,
    /// Cells; `None` is shown as `-` in tables and empty in CSV.
    pub rows: Vec<Vec<Option<String>>>,
    /// Right-aligned (numeric) columns.
    pub numeric: Vec<bool>,
}

impl Grid {
    /// Writes the grid in `format`.
    pub fn write(&self, format: OutputFormat, out: &mut dyn Write) -> Result<()> {
        match format {
            OutputFormat::Table => {
                let mut t = Table::new();
                t.load_style(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic);
                t.set_header(self.columns.iter().map(Cell::new));
                for r in &self.rows {
                    t.add_row(r.iter().enumerate().map(|(i, v)| {
                        let c = Cell::new(v.as_deref().unwrap_or("-"));
                        if self.numeric.get(i).copied().unwrap_or(false) {
                            c.set_alignment(CellAlignment::Right)
                        } else {
                            c
                        }
                    }));
                }
                writeln!(out, "{t}")?;
            }
            OutputFormat::Csv => {
                // Safe to open in a spreadsheet (valdrix_core::spreadsheet): formula-like text
                // gets a leading apostrophe, numbers stay numbers.
                let mut w = csv::Writer::from_writer(out);
                w.write_record(self.columns.iter().map(|c| valdrix_core::safe_cell(c)))?;
                for r in &self.rows {
                    w.write_record(r.iter().map(|v| valdrix_core::safe_cell(v.as_deref().unwrap_or(""))))?;
                }
                w.flush()?;
            }
            OutputFormat::Json => {
                let items: Vec<serde_json::Value> = self
                    .rows
                    .iter()
                    .map(|r| {
                        let mut m = serde_json::Map::new();
                        for (i, c) in self.columns.iter().enumerate() {
                            let v = match r.get(i).cloned().flatten() {
                                None => serde_json::Value::Null,
                                // Amounts stay strings: JSON numbers would lose decimal digits in most readers.
                                Some(s) => serde_json::Value::String(s),
                            };
                            m.insert(c.clone(), v);
                        }
                        serde_json::Value::Object(m)
                    })
                    .collect();
                serde_json::to_writer_pretty(&mut *out, &items)?;
                writeln!(out)?;
            }
        }
        Ok(())
    }
}

/// An amount: exact for programs, rounded with separators for people ([`valdrix_core::money`]).
pub fn money_text(d: rust_decimal::Decimal, people: bool) -> String {
    valdrix_core::money::text(d, people)
}

/// An amount for people: two decimals with thousands separators.
pub fn money_for_people(d: rust_decimal::Decimal) -> String {
    valdrix_core::money::for_people(d)
}

#[cfg(test)]
mod tests {
    use super::money_for_people;
    use std::str::FromStr;

    #[test]
    fn people_money() {
        let d = |s| rust_decimal::Decimal::from_str(s).unwrap();
        assert_eq!(money_for_people(d("1234567.891")), "1,234,567.89");
        assert_eq!(money_for_people(d("-1234.5")), "-1,234.50");
        assert_eq!(money_for_people(d("999")), "999.00");
    }
}
