//! An ingestion asked for by a caller that holds no files of its own: an upload the server
//! received, or an object-storage prefix. It is ingested by the same code as files on disk.

use std::path::{Path, PathBuf};

use valdrix_core::TenantId;
use valdrix_ingest::validate::Plausible;
use valdrix_store::scope::OverlapPolicy;
use valdrix_store::{RunSummary, Store, TrustPolicy};

use super::{ingest_paths, remote, IngestOptions, UnitOutcome};
use crate::error::Result;

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
    /// An object-storage prefix (`s3://`, `gs://`, `az://`), fetched with this process's
    /// credentials.
    Url(String),
}

/// An ingestion to run.
#[derive(Debug, Clone)]
pub struct IngestRequest {
    /// The files.
    pub input: IngestInput,
    /// Deliver as this named stream (successive uploads then restate each other).
    pub stream: Option<String>,
    /// What to do when another stream already holds a delivery's billing scope.
    pub overlap: OverlapPolicy,
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

impl From<UnitOutcome> for IngestOutcome {
    fn from(o: UnitOutcome) -> Self {
        match o {
            UnitOutcome::Written(run) => IngestOutcome::Written(run),
            UnitOutcome::Unchanged { existing, .. } => IngestOutcome::Unchanged(existing),
            UnitOutcome::Empty { source } => IngestOutcome::Empty(source),
        }
    }
}

/// Ingests the request's files as `valdrix ingest` would, in one transaction, with the trust
/// policy and the plausible days of the caller's configuration.
pub fn ingest(
    store: &mut dyn Store,
    tenant: &TenantId,
    req: &IngestRequest,
    policy: &TrustPolicy,
    plausible: Plausible,
) -> Result<Vec<IngestOutcome>> {
    let mut opts = IngestOptions {
        policy: policy.clone(),
        stream: req.stream.clone(),
        overlap: req.overlap,
        plausible: Some(plausible),
        ..Default::default()
    };
    let mut downloads = Vec::new();
    let (paths, upload): (Vec<PathBuf>, Option<(PathBuf, String)>) = match &req.input {
        IngestInput::Upload { path, name } => {
            // An upload's temporary path means nothing: by default, uploads of the same file
            // name are one stream, so a corrected file restates the one before.
            if opts.stream.is_none() {
                opts.stream = Some(format!("named:upload/{name}"));
            }
            (vec![path.clone()], Some((path.clone(), name.clone())))
        }
        IngestInput::Url(url) => {
            let d = remote::fetch(url)?;
            opts.url_roots.push((d.root.clone(), d.url.clone()));
            let root = d.root.clone();
            downloads.push(d);
            (vec![root], None)
        }
    };
    let display = |p: &Path| match &upload {
        Some((path, name)) if p == path => name.clone(),
        _ => remote::display_path(&downloads, p),
    };
    let outcomes = ingest_paths(store, tenant, &paths, &display, &opts, &mut |_, _| {})?;
    Ok(outcomes.into_iter().map(IngestOutcome::from).collect())
}
