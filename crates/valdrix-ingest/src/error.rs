//! Ingestion errors: every one names the file, and the row, row group and column when known.

use std::fmt;

/// A problem with one field of one row, before the driver adds the file and row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The source column name, as written in the file.
    pub column: String,
    /// What is wrong with the value.
    pub message: String,
}

impl FieldError {
    /// A field error for `column`.
    pub fn new(column: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError { column: column.into(), message: message.into() }
    }
}

/// Where in a file an error was found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    /// 1-based data row (the header is row 0); for Parquet, the row within the file.
    pub row: Option<u64>,
    /// Parquet row group.
    pub row_group: Option<usize>,
    /// Column name.
    pub column: Option<String>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(g) = self.row_group {
            write!(f, ", row group {g}")?;
        }
        if let Some(r) = self.row {
            write!(f, ", row {r}")?;
        }
        if let Some(c) = &self.column {
            write!(f, ", column {c:?}")?;
        }
        Ok(())
    }
}

/// Why a file could not be ingested.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The file could not be opened or read. The I/O error is part of the message (not a
    /// `source`), so that error chains do not repeat it.
    #[error("{file}: {error}")]
    Io {
        /// File path or URL.
        file: String,
        /// The underlying error.
        error: std::io::Error,
    },
    /// The file has no header or no content at all.
    #[error("{file}: empty file (no header row)")]
    Empty {
        /// File path or URL.
        file: String,
    },
    /// The header or schema matches no known billing format.
    #[error("{file}: unknown billing format: {detail}")]
    UnknownFormat {
        /// File path or URL.
        file: String,
        /// What was seen.
        detail: String,
    },
    /// The header is unusable (duplicate or missing required columns).
    #[error("{file}{location}: {message}")]
    Schema {
        /// File path or URL.
        file: String,
        /// Column, when one is at fault.
        location: Location,
        /// What is wrong.
        message: String,
    },
    /// A value in a row is malformed (bad number, impossible date, broken CSV, invalid UTF-8...).
    #[error("{file}{location}: {message}")]
    Data {
        /// File path or URL.
        file: String,
        /// Row, row group and column.
        location: Location,
        /// What is wrong.
        message: String,
    },
    /// The Parquet file is truncated or corrupt.
    #[error("{file}{location}: corrupt or truncated Parquet: {message}")]
    Parquet {
        /// File path or URL.
        file: String,
        /// Row group when known.
        location: Location,
        /// Message from the Parquet reader.
        message: String,
    },
    /// An AWS CUR manifest could not be read.
    #[error("{file}: invalid CUR manifest: {message}")]
    Manifest {
        /// Manifest path.
        file: String,
        /// What is wrong.
        message: String,
    },
}

impl IngestError {
    /// Builds a data error at a row from a field error.
    pub fn data(file: &str, row: Option<u64>, row_group: Option<usize>, e: FieldError) -> Self {
        IngestError::Data {
            file: file.to_string(),
            location: Location { row, row_group, column: Some(e.column) },
            message: e.message,
        }
    }
}

/// Result alias for ingestion.
pub type Result<T> = std::result::Result<T, IngestError>;
