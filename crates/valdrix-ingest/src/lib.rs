//! Billing export readers and normalisation to FOCUS 1.2.
//!
//! The flow follows sources → transforms → sinks: [`layout`] finds the files of a delivery,
//! [`read_file`] detects the format and streams rows (CSV, gzip CSV, Parquet, JSON lines) through a
//! [`Normaliser`] for that format into a [`Rollup`] that sums lines into daily records. Memory is
//! bounded by the number of daily records, not by the size of the file. Nothing here knows about
//! the store.

pub mod aws;
mod aws_columnar;
pub mod azure;
mod columnar;
pub mod error;
pub mod focus;
pub mod gcp;
pub mod layout;
pub mod mapping;
pub mod read;
pub mod rollup;
mod spill;
pub mod table;
pub mod validate;

pub use error::{FieldError, IngestError, Location, Result};
pub use layout::{resolve_inputs, SourceUnit};
pub use read::{checksum_files, read_file, read_file_with, FileInfo, Progress, ReadOptions};
pub use rollup::{totals_by_currency, Rollup};

use table::{BatchView, Header, Row};

/// Turns rows of one billing format into cost lines and adds them to a rollup.
pub trait Normaliser: Send + Sync {
    /// The header the plan was resolved against.
    fn header(&self) -> &Header;
    /// Whether the literal text `NULL` means null in CSV input (FOCUS samples write it).
    fn null_literals(&self) -> bool {
        false
    }
    /// Column indexes the plan reads, so Parquet can skip the rest; `None` reads every column.
    fn columns(&self) -> Option<Vec<usize>> {
        None
    }
    /// Normalises one row into one or more lines.
    fn emit(&self, row: &dyn Row, out: &mut Rollup) -> std::result::Result<(), FieldError>;
    /// Normalises a whole Arrow batch column by column, for formats with a columnar reader.
    /// `None` (the default, or a batch with column types the columnar reader does not handle,
    /// decided before any line is added) means: read the batch row by row with [`emit`](Self::emit).
    /// An error carries the index of the batch row it is about.
    fn emit_batch(
        &self,
        _batch: &BatchView<'_>,
        _out: &mut Rollup,
    ) -> Option<std::result::Result<(), (usize, FieldError)>> {
        None
    }
}

/// The billing formats Valdrix reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// AWS legacy CUR: `lineItem/...` CSV, or snake_case CSV/Parquet from the Athena integration.
    AwsCur,
    /// AWS CUR 2.0 (Data Exports), CSV or Parquet, with map columns.
    AwsCur2,
    /// Azure cost details (EA, MCA, pay-as-you-go usage), actual or amortized.
    Azure,
    /// Google Cloud billing export, standard or detailed.
    Gcp,
    /// FOCUS 1.0 to 1.2.
    Focus,
}

impl Format {
    /// Every format, for help texts.
    pub const ALL: [Format; 5] = [Format::AwsCur, Format::AwsCur2, Format::Azure, Format::Gcp, Format::Focus];

    /// The name used on the command line and in run records.
    pub fn name(self) -> &'static str {
        match self {
            Format::AwsCur => "aws-cur",
            Format::AwsCur2 => "aws-cur2",
            Format::Azure => "azure",
            Format::Gcp => "gcp",
            Format::Focus => "focus",
        }
    }

    /// Reads a name written by [`Format::name`].
    pub fn parse(s: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name().eq_ignore_ascii_case(s.trim()))
    }

    /// Detects the format from a header, or `None`.
    pub fn detect(header: &Header) -> Option<Format> {
        if focus::detect(header) {
            Some(Format::Focus)
        } else if aws::detect(header) {
            Some(if aws::is_cur2(header) { Format::AwsCur2 } else { Format::AwsCur })
        } else if azure::detect(header) {
            Some(Format::Azure)
        } else if gcp::detect(header) {
            Some(Format::Gcp)
        } else {
            None
        }
    }

    /// The normaliser of this format for `header`.
    pub fn plan(self, header: Header) -> Box<dyn Normaliser> {
        match self {
            Format::AwsCur | Format::AwsCur2 => Box::new(aws::AwsPlan::new(header)),
            Format::Azure => Box::new(azure::AzurePlan::new(header)),
            Format::Gcp => Box::new(gcp::GcpPlan::new(header)),
            Format::Focus => Box::new(focus::FocusPlan::new(header)),
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
