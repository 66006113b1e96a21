//! Allocation over a store: the tenant's versioned rule sets (read, saved with what changed,
//! listed with their diffs) and the records of a range, for the CLI and the server alike.

use std::path::{Path, PathBuf};

use chrono::{Datelike, Months};

use valdrix_core::TenantId;
use valdrix_store::allocation::{RuleSetVersion, SavedRuleSet};
use valdrix_store::{CostQuery, Store, StoreError};

use super::file::{diff, export, parse, parse_any, RuleSetDiff, RulesFileError};
use super::{allocate, Allocation, Options, Record, Rule};

/// Allocation against a store that cannot go ahead.
#[derive(Debug, thiserror::Error)]
pub enum StoredError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A rule file or stored rule set that does not read.
    #[error(transparent)]
    Rules(#[from] RulesFileError),
    /// A rule file that cannot be read at all.
    #[error("reading rules {0}: {1}")]
    Io(PathBuf, std::io::Error),
    /// The tenant has no rule set stored.
    #[error(
        "tenant {0} has no allocation rules stored: import a rule file with `valdrix allocate rules import FILE`, or pass --rules FILE"
    )]
    NoRules(String),
    /// Rules that cannot be applied (checked as they were read, so a stored set at fault).
    #[error("the rules of {0}: {1}")]
    Invalid(String, super::RuleError),
    /// The tenant has no such version.
    #[error("tenant {0} has no allocation rule set version {1} (see `valdrix allocate rules history`)")]
    NoVersion(String, i64),
}

/// Where a run's rules come from.
#[derive(Debug, Clone)]
pub enum RuleSource {
    /// A rule file (JSON or YAML), not stored.
    File(PathBuf),
    /// The tenant's stored rule set: a version, or the current one.
    Stored(Option<i64>),
}

/// Rules ready to run, and what to call them in reports (`rule set v3`, `file rules.yaml`).
#[derive(Debug, Clone)]
pub struct LoadedRules {
    /// The rules.
    pub rules: Vec<Rule>,
    /// Where they came from.
    pub label: String,
    /// The stored version, when they are one.
    pub version: Option<RuleSetVersion>,
}

/// Reads a rule file, as YAML or JSON by its name and first character.
pub fn read_rule_file(path: &Path) -> Result<Vec<Rule>, StoredError> {
    let text = std::fs::read_to_string(path).map_err(|e| StoredError::Io(path.to_path_buf(), e))?;
    Ok(parse_any(&path.display().to_string(), &text)?)
}

/// A stored version's rules.
pub fn rules_of(v: &RuleSetVersion) -> Result<Vec<Rule>, RulesFileError> {
    parse(&format!("stored rule set v{}", v.version), &v.rules)
}

/// The rules a run uses: the file's, or the tenant's stored version.
pub fn load_rules(store: &dyn Store, tenant: &TenantId, source: &RuleSource) -> Result<LoadedRules, StoredError> {
    match source {
        RuleSource::File(path) => {
            Ok(LoadedRules { rules: read_rule_file(path)?, label: format!("file {}", path.display()), version: None })
        }
        RuleSource::Stored(version) => {
            let Some(v) = store.allocation_rules(tenant, *version)? else {
                return Err(match version {
                    Some(n) => StoredError::NoVersion(tenant.to_string(), *n),
                    None => StoredError::NoRules(tenant.to_string()),
                });
            };
            Ok(LoadedRules { rules: rules_of(&v)?, label: format!("rule set v{}", v.version), version: Some(v) })
        }
    }
}

/// Allocates `records` by loaded rules.
pub fn run(records: &[Record], rules: &LoadedRules, redistribute: bool) -> Result<Allocation, StoredError> {
    allocate(records, &rules.rules, Options { redistribute_unallocated: redistribute })
        .map_err(|e| StoredError::Invalid(rules.label.clone(), e))
}

/// The stored records of a query, as allocation reads them: a bounded range a calendar month at
/// a time (on PostgreSQL one statement over several months took twenty times as long as the
/// months one by one, and ran into the server's statement timeout).
pub fn read_records(store: &dyn Store, tenant: &TenantId, q: &CostQuery) -> Result<Vec<Record>, StoreError> {
    let mut records = Vec::new();
    let mut read = |q: &CostQuery| {
        store.for_each_record_with_id(tenant, q, &mut |id, r| {
            records.push(Record::from_cost(id, &r));
            Ok(())
        })
    };
    let (Some(from), Some(to)) = (q.from, q.to) else {
        read(q)?;
        return Ok(records);
    };
    let mut start = from;
    while start < to {
        let next_month = start.with_day(1).and_then(|d| d.checked_add_months(Months::new(1))).map_or(to, |d| d.min(to));
        read(&CostQuery { from: Some(start), to: Some(next_month), ..q.clone() })?;
        start = next_month;
    }
    Ok(records)
}

/// Saves `rules` as the tenant's new current rule set (unless they are the current one's
/// already), returning what was saved and how it differs from the version before.
pub fn save_rules(
    store: &mut dyn Store,
    tenant: &TenantId,
    rules: &[Rule],
    actor: &str,
    note: &str,
) -> Result<(SavedRuleSet, RuleSetDiff), StoredError> {
    let before = match store.allocation_rules(tenant, None)? {
        Some(v) => rules_of(&v)?,
        None => vec![],
    };
    let saved = store.save_allocation_rules(tenant, &export(rules), actor, note)?;
    Ok((saved, diff(&before, rules)))
}

/// One version of a rule set with what it changed from the one before.
#[derive(Debug, Clone)]
pub struct VersionChange {
    /// The version.
    pub version: RuleSetVersion,
    /// How many rules it holds.
    pub rules: usize,
    /// What it added, changed and removed.
    pub diff: RuleSetDiff,
}

/// Every version of the tenant's rule set, newest first, with what each changed.
pub fn history(store: &dyn Store, tenant: &TenantId) -> Result<Vec<VersionChange>, StoredError> {
    let versions = store.allocation_rule_history(tenant)?;
    let parsed: Vec<Vec<Rule>> = versions.iter().map(rules_of).collect::<Result<_, _>>()?;
    Ok(versions
        .into_iter()
        .enumerate()
        .map(|(i, version)| {
            let before = parsed.get(i + 1).map(Vec::as_slice).unwrap_or(&[]);
            VersionChange { version, rules: parsed[i].len(), diff: diff(before, &parsed[i]) }
        })
        .collect())
}
