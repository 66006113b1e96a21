//! What the server asks of the application above it.
//!
//! Reading billing files and writing FOCUS exports need the format readers and writers, which
//! live in the `valdrix` crate (the command line), and that crate depends on this one. So the
//! server names the operations it needs here and `valdrix serve` hands in an implementation:
//! the HTTP layer stays free of file formats, and an upload is ingested by exactly the code
//! `valdrix ingest` runs.

use std::path::{Path, PathBuf};

use valdrix_core::TenantId;
use valdrix_store::{CostQuery, RunSummary, Store, StoreError};

/// Where the billing files of an ingestion come from.
#[derive(Debug, Clone)]
pub enum IngestInput {
    /// A file uploaded into a private temporary folder.
    Upload {
        /// The file on disk.
        path: PathBuf,
        /// Its name as uploaded (what runs and lineage show).
        name: String,
    },
    /// An object-storage prefix (`s3://`, `gs://`, `az://`), fetched with the server's
    /// credentials.
    Url(String),
}

/// An ingestion the API asks for.
#[derive(Debug, Clone)]
pub struct IngestRequest {
    /// The files.
    pub input: IngestInput,
    /// Deliver as this named stream (successive uploads then restate each other).
    pub stream: Option<String>,
    /// What to do when another stream already holds a delivery's billing scope.
    pub overlap: valdrix_store::scope::OverlapPolicy,
}

/// What happened to one delivery of an ingestion.
#[derive(Debug, Clone)]
pub enum IngestOutcome {
    /// Written as a new run.
    Written(RunSummary),
    /// The same bytes are already the current delivery: nothing changed.
    Unchanged(RunSummary),
    /// The delivery (named) holds no billing rows: nothing was written.
    Empty(String),
}

/// Why an operation failed.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// The input is wrong (unreadable file, bad row): the message names file, row and column.
    #[error("{0}")]
    Input(String),
    /// The input reaches a billing period closed by hand.
    #[error("{0}")]
    Conflict(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Something else failed that is not the caller's doing.
    #[error("{0}")]
    Internal(String),
}

/// FOCUS export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// CSV.
    Csv,
    /// Parquet.
    Parquet,
}

impl ExportFormat {
    /// The file extension (without the dot).
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Parquet => "parquet",
        }
    }
}

/// The operations `valdrix serve` provides.
pub trait Operations: Send + Sync + 'static {
    /// Ingests the request's files as `valdrix ingest` would, in one transaction.
    fn ingest(
        &self,
        store: &mut dyn Store,
        tenant: &TenantId,
        req: &IngestRequest,
    ) -> Result<Vec<IngestOutcome>, OpError>;

    /// Writes the FOCUS export of the records matching `q` to `out` (whose extension gives the
    /// format); returns the rows written.
    fn export_focus(&self, store: &dyn Store, tenant: &TenantId, q: &CostQuery, out: &Path) -> Result<u64, OpError>;
}
