//! API keys: `vdx.TENANT.KEYID.SECRET`. The tenant is part of the key, so a key is looked up
//! with that tenant set, under row-level security like every other row; the store keeps only the
//! SHA-256 of the secret (the secret has 256 random bits: a slow password hash would add nothing),
//! compared in constant time.

use sha2::{Digest, Sha256};
use valdrix_core::TenantId;
use valdrix_store::keys::{ApiKeyInfo, NewApiKey, Role};
use valdrix_store::Store;

use crate::error::{AppError, Result};

/// A key as given to its owner once.
#[derive(Debug, Clone)]
pub struct IssuedKey {
    /// The whole key, to put in `Authorization: Bearer …`.
    pub key: String,
    /// What the store keeps.
    pub stored: NewApiKey,
}

/// The parts of a presented key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentedKey {
    /// Its tenant.
    pub tenant: TenantId,
    /// Its public id.
    pub key_id: String,
    /// Its secret.
    pub secret: String,
}

fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| AppError::Internal(format!("no randomness: {e}")))?;
    Ok(hex::encode(buf))
}

/// SHA-256 of a secret.
pub fn hash_secret(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// A new key of `tenant`.
pub fn issue(tenant: &TenantId, name: &str, role: Role, created_by: &str) -> Result<IssuedKey> {
    let key_id = random_hex(8)?;
    let secret = random_hex(32)?;
    Ok(IssuedKey {
        key: format!("vdx.{}.{key_id}.{secret}", tenant.as_str()),
        stored: NewApiKey {
            key_id,
            name: name.to_string(),
            role,
            secret_hash: hash_secret(&secret),
            created_by: created_by.to_string(),
        },
    })
}

/// Creates a key of `tenant` and stores its hash; returns the whole key (shown once) and what is
/// stored of it.
pub fn create(
    store: &mut dyn Store,
    tenant: &TenantId,
    name: &str,
    role: Role,
    created_by: &str,
) -> Result<(String, ApiKeyInfo)> {
    let issued = issue(tenant, name, role, created_by)?;
    let info = store.create_api_key(tenant, &issued.stored)?;
    Ok((issued.key, info))
}

/// Revokes a key of `tenant`; a key the tenant does not have is [`AppError::NotFound`].
pub fn revoke(store: &mut dyn Store, tenant: &TenantId, key_id: &str) -> Result<()> {
    if store.revoke_api_key(tenant, key_id)? {
        Ok(())
    } else {
        Err(AppError::NotFound(format!("tenant {tenant} has no key {key_id}")))
    }
}

/// Splits a presented key; `None` when it is not shaped like one.
pub fn parse(key: &str) -> Option<PresentedKey> {
    let mut parts = key.split('.');
    let (Some("vdx"), Some(tenant), Some(key_id), Some(secret), None) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let hex_of = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    if !hex_of(key_id, 16) || !hex_of(secret, 64) {
        return None;
    }
    Some(PresentedKey { tenant: TenantId::parse(tenant).ok()?, key_id: key_id.into(), secret: secret.into() })
}

/// Whether a presented secret matches a stored key: right hash (constant time) and not revoked.
pub fn verify(presented: &PresentedKey, stored: &ApiKeyInfo, stored_hash: &[u8]) -> bool {
    let given = hash_secret(&presented.secret);
    let same =
        given.len() == stored_hash.len() && given.iter().zip(stored_hash).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
    same && stored.revoked_at.is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issued_key_parses_and_verifies_and_a_changed_one_does_not() {
        let t = TenantId::parse("acme-1").unwrap();
        let k = issue(&t, "ci", Role::Viewer, "test").unwrap();
        let p = parse(&k.key).unwrap();
        assert_eq!(p.tenant, t);
        let info = ApiKeyInfo {
            key_id: k.stored.key_id.clone(),
            name: "ci".into(),
            role: Role::Viewer,
            created_at: String::new(),
            created_by: String::new(),
            revoked_at: None,
            sessions_after_ms: None,
        };
        assert!(verify(&p, &info, &k.stored.secret_hash));
        let mut wrong = p.clone();
        wrong.secret = "0".repeat(64);
        assert!(!verify(&wrong, &info, &k.stored.secret_hash));
        let revoked = ApiKeyInfo { revoked_at: Some("now".into()), ..info };
        assert!(!verify(&p, &revoked, &k.stored.secret_hash));
        assert!(parse("vdx.acme.1234.abcd").is_none());
        assert!(parse(&format!("{}.x", k.key)).is_none());
        assert!(parse("Bearer nonsense").is_none());
    }
}
