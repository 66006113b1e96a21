//! Allocation: the stored records of a range split among teams by the tenant's stored rule set
//! (or a rule file), in one call that the command line, the API, the dashboard and the demo all
//! make; rule imports.

use std::path::Path;

use valdrix_analytics::allocation::stored::{self, StoredError};
use valdrix_analytics::allocation::{Allocation, Record, RuleSetDiff};
use valdrix_core::TenantId;
use valdrix_store::allocation::SavedRuleSet;
use valdrix_store::{CostQuery, Store};

use crate::error::{AppError, Result};

pub use valdrix_analytics::allocation::stored::{read_records, LoadedRules, RuleSource};

/// An allocation and what it was made of.
#[derive(Debug, Clone)]
pub struct Allocated {
    /// The rules used.
    pub rules: LoadedRules,
    /// The records of the range.
    pub records: Vec<Record>,
    /// What the rules made of them.
    pub allocation: Allocation,
}

impl From<StoredError> for AppError {
    fn from(e: StoredError) -> Self {
        match e {
            StoredError::Store(s) => AppError::Store(s),
            StoredError::NoRules(_) | StoredError::NoVersion(..) => AppError::NotFound(e.to_string()),
            StoredError::Rules(_) | StoredError::Invalid(..) | StoredError::Io(..) => AppError::Invalid(e.to_string()),
        }
    }
}

/// The rules a run uses: the file's, or the tenant's stored version. A stored rule set that does
/// not read is ours to fix, not the caller's.
pub fn load_rules(store: &dyn Store, tenant: &TenantId, source: &RuleSource) -> Result<LoadedRules> {
    stored::load_rules(store, tenant, source).map_err(|e| match (source, e) {
        (RuleSource::Stored(_), e @ (StoredError::Rules(_) | StoredError::Invalid(..))) => {
            AppError::Internal(format!("the stored rule set does not read: {e}"))
        }
        (_, e) => e.into(),
    })
}

/// Allocates `records` by `rules`.
pub fn run(records: &[Record], rules: &LoadedRules, redistribute: bool) -> Result<Allocation> {
    Ok(stored::run(records, rules, redistribute)?)
}

/// Loads the rules, reads the records of `query` and allocates them.
pub fn allocate(
    store: &dyn Store,
    tenant: &TenantId,
    query: &CostQuery,
    source: &RuleSource,
    redistribute: bool,
) -> Result<Allocated> {
    let rules = load_rules(store, tenant, source)?;
    let records = read_records(store, tenant, query)?;
    let allocation = run(&records, &rules, redistribute)?;
    Ok(Allocated { rules, records, allocation })
}

/// Saves a rule file as the tenant's new current rule set (unless it is the current one
/// already), returning what was saved and how it differs from the version before.
pub fn import_rules(
    store: &mut dyn Store,
    tenant: &TenantId,
    file: &Path,
    actor: &str,
    note: &str,
) -> Result<(SavedRuleSet, RuleSetDiff)> {
    let rules = stored::read_rule_file(file)?;
    Ok(stored::save_rules(store, tenant, &rules, actor, note)?)
}

/// Every version of the tenant's rule set, newest first, with what each changed.
pub fn history(store: &dyn Store, tenant: &TenantId) -> Result<Vec<stored::VersionChange>> {
    Ok(stored::history(store, tenant)?)
}
