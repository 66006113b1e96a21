//! The operations `valdrix serve` hands to the HTTP server: ingestion of uploads and
//! object-storage prefixes, and the FOCUS export, run by the same code as `valdrix ingest` and
//! `valdrix export focus`.

use std::path::{Path, PathBuf};

use valdrix_core::TenantId;
use valdrix_server::ops::{IngestInput, IngestOutcome, IngestRequest, OpError, Operations};
use valdrix_store::{CostQuery, Store, StoreError, TrustPolicy};

use crate::pipeline::{ingest_paths, IngestOptions, UnitOutcome};

/// The application's operations, with the trust policy of its configuration.
pub struct AppOperations {
    /// When records become final and when restatements alert.
    pub policy: TrustPolicy,
    /// The charge and billing days a bill may hold.
    pub plausible: valdrix_ingest::validate::Plausible,
}

/// Sorts an error into the caller's doing (unreadable input, a closed period) or the server's.
fn classify(e: anyhow::Error) -> OpError {
    let message = format!("{e:#}");
    match e.downcast::<StoreError>() {
        Ok(StoreError::PeriodClosed { .. } | StoreError::ScopeHeld(_)) => OpError::Conflict(message),
        Ok(store) => OpError::Store(store),
        Err(e) => {
            if e.chain().any(|c| c.downcast_ref::<StoreError>().is_some()) {
                OpError::Internal(message)
            } else {
                // Reading and parsing errors name the file, row and column.
                OpError::Input(message)
            }
        }
    }
}

impl Operations for AppOperations {
    fn ingest(
        &self,
        store: &mut dyn Store,
        tenant: &TenantId,
        req: &IngestRequest,
    ) -> Result<Vec<IngestOutcome>, OpError> {
        let mut opts = IngestOptions {
            policy: self.policy.clone(),
            stream: req.stream.clone(),
            overlap: req.overlap,
            plausible: Some(self.plausible),
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
                let d = crate::remote::fetch(url).map_err(classify)?;
                opts.url_roots.push((d.root.clone(), d.url.clone()));
                let root = d.root.clone();
                downloads.push(d);
                (vec![root], None)
            }
        };
        let display = |p: &Path| match &upload {
            Some((path, name)) if p == path => name.clone(),
            _ => crate::remote::display_path(&downloads, p),
        };
        let outcomes = ingest_paths(store, tenant, &paths, &display, &opts, &mut |_, _| {}).map_err(classify)?;
        Ok(outcomes
            .into_iter()
            .map(|o| match o {
                UnitOutcome::Written(run) => IngestOutcome::Written(run),
                UnitOutcome::Unchanged { existing, .. } => IngestOutcome::Unchanged(existing),
                UnitOutcome::Empty { source } => IngestOutcome::Empty(source),
            })
            .collect())
    }

    fn export_focus(&self, store: &dyn Store, tenant: &TenantId, q: &CostQuery, out: &Path) -> Result<u64, OpError> {
        crate::export::export_focus(store, tenant, q, out).map_err(|e| match e.downcast::<StoreError>() {
            Ok(s) => OpError::Store(s),
            Err(e) => OpError::Internal(format!("{e:#}")),
        })
    }
}
