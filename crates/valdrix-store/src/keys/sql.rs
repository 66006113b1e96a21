//! API keys: stored hashed, per tenant.

use chrono::Utc;

use valdrix_core::TenantId;

use crate::db::{p, Db, Row};
use crate::error::{Result, StoreError};
use crate::keys::{ApiKeyInfo, NewApiKey, Role};

const COLUMNS: &str = "key_id, name, role, created_at, created_by, revoked_at, sessions_after_ms";

fn key_from_row(r: &Row<'_>) -> Result<ApiKeyInfo> {
    let role: String = r.get(2)?;
    Ok(ApiKeyInfo {
        key_id: r.get(0)?,
        name: r.get(1)?,
        role: crate::error::stored("api_keys", "role", &role, Role::parse)?,
        created_at: r.get(3)?,
        created_by: r.get(4)?,
        revoked_at: r.get(5)?,
        sessions_after_ms: r.get(6)?,
    })
}

/// Stores a new key (registering the tenant on first use).
pub(crate) fn create(db: Db<'_>, tenant: &TenantId, key: &NewApiKey) -> Result<ApiKeyInfo> {
    crate::engine::tenants::ensure_tenant(db, tenant)?;
    db.execute(
        "INSERT INTO api_keys (tenant_id, key_id, name, role, secret_hash, created_at, created_by) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        p![
            tenant.as_str(),
            key.key_id,
            key.name,
            key.role.as_str(),
            key.secret_hash,
            Utc::now().to_rfc3339(),
            key.created_by
        ],
    )?;
    get(db, tenant, &key.key_id)?
        .map(|k| k.0)
        .ok_or_else(|| StoreError::Internal("the key just stored is missing".into()))
}

/// A key and the hash of its secret.
pub(crate) fn get(db: Db<'_>, tenant: &TenantId, key_id: &str) -> Result<Option<(ApiKeyInfo, Vec<u8>)>> {
    db.query_opt(
        &format!("SELECT {COLUMNS}, secret_hash FROM api_keys WHERE tenant_id = ?1 AND key_id = ?2"),
        p![tenant.as_str(), key_id],
        |r| Ok((key_from_row(r)?, r.get(7)?)),
    )
}

/// The tenant's keys, oldest first.
pub(crate) fn list(db: Db<'_>, tenant: &TenantId) -> Result<Vec<ApiKeyInfo>> {
    db.query_map(
        &format!("SELECT {COLUMNS} FROM api_keys WHERE tenant_id = ?1 ORDER BY created_at, key_id"),
        p![tenant.as_str()],
        key_from_row,
    )
}

/// Revokes a key; false when the tenant has no such key.
pub(crate) fn revoke(db: Db<'_>, tenant: &TenantId, key_id: &str) -> Result<bool> {
    let n = db.execute(
        "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?3) WHERE tenant_id = ?1 AND key_id = ?2",
        p![tenant.as_str(), key_id, Utc::now().to_rfc3339()],
    )?;
    Ok(n > 0)
}

/// Ends every dashboard session of a key issued until now (`at_ms`, Unix milliseconds); false
/// when the tenant has no such key.
pub(crate) fn end_sessions(db: Db<'_>, tenant: &TenantId, key_id: &str, at_ms: i64) -> Result<bool> {
    let n = db.execute(
        "UPDATE api_keys SET sessions_after_ms = ?3 WHERE tenant_id = ?1 AND key_id = ?2",
        p![tenant.as_str(), key_id, at_ms],
    )?;
    Ok(n > 0)
}
