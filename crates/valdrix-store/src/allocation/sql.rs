//! Allocation rule sets: versions added, never changed.

use chrono::Utc;

use valdrix_core::TenantId;

use crate::allocation::{RuleSetVersion, SavedRuleSet};
use crate::db::{p, Db, Row};
use crate::error::{Result, StoreError};

const COLUMNS: &str = "version, rules, created_at, created_by, note";

fn version_from_row(r: &Row<'_>) -> Result<RuleSetVersion> {
    Ok(RuleSetVersion {
        version: r.get(0)?,
        rules: r.get(1)?,
        created_at: r.get(2)?,
        created_by: r.get(3)?,
        note: r.get(4)?,
    })
}

/// Saves `rules` as the tenant's new current version, unless they are the current version's
/// already. One statement numbers and inserts the version, so two savers cannot take the
/// same number (the later one fails on the key instead).
pub(crate) fn save(db: Db<'_>, tenant: &TenantId, rules: &str, actor: &str, note: &str) -> Result<SavedRuleSet> {
    if let Some(current) = get(db, tenant, None)? {
        if current.rules == rules {
            return Ok(SavedRuleSet { version: current, created: false });
        }
    }
    crate::engine::tenants::ensure_tenant(db, tenant)?;
    db.execute(
        "INSERT INTO allocation_rule_sets (tenant_id, version, rules, created_at, created_by, note) \
         SELECT ?1, COALESCE(MAX(version), 0) + 1, ?2, ?3, ?4, ?5 FROM allocation_rule_sets WHERE tenant_id = ?1",
        p![tenant.as_str(), rules, Utc::now().to_rfc3339(), actor, note],
    )?;
    let version =
        get(db, tenant, None)?.ok_or_else(|| StoreError::Internal("the rule set just saved is missing".into()))?;
    Ok(SavedRuleSet { version, created: true })
}

/// A version of the tenant's rule set (none: the current one).
pub(crate) fn get(db: Db<'_>, tenant: &TenantId, version: Option<i64>) -> Result<Option<RuleSetVersion>> {
    match version {
        Some(v) => db.query_opt(
            &format!("SELECT {COLUMNS} FROM allocation_rule_sets WHERE tenant_id = ?1 AND version = ?2"),
            p![tenant.as_str(), v],
            version_from_row,
        ),
        None => db.query_opt(
            &format!("SELECT {COLUMNS} FROM allocation_rule_sets WHERE tenant_id = ?1 ORDER BY version DESC LIMIT 1"),
            p![tenant.as_str()],
            version_from_row,
        ),
    }
}

/// Every version of the tenant's rule set, newest first.
pub(crate) fn history(db: Db<'_>, tenant: &TenantId) -> Result<Vec<RuleSetVersion>> {
    db.query_map(
        &format!("SELECT {COLUMNS} FROM allocation_rule_sets WHERE tenant_id = ?1 ORDER BY version DESC"),
        p![tenant.as_str()],
        version_from_row,
    )
}
