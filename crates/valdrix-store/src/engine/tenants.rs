//! The tenants table: a tenant is registered by its first write.

use chrono::Utc;
use valdrix_core::TenantId;

use crate::db::{p, Db};
use crate::error::Result;

/// Registers the tenant (first write).
pub(crate) fn ensure_tenant(db: Db<'_>, tenant: &TenantId) -> Result<()> {
    db.execute(
        "INSERT INTO tenants (tenant_id, created_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        p![tenant.as_str(), Utc::now().to_rfc3339()],
    )?;
    Ok(())
}
