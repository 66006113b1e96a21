//! API keys as the store keeps them: a name, a role and the hash of the secret, never the
//! secret itself. Generating keys and checking secrets is the server's business.

pub(crate) mod sql;

use serde::{Deserialize, Serialize};

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads costs and runs.
    Viewer,
    /// A viewer who may also ingest, close periods and reconcile.
    Analyst,
    /// An analyst who may also manage the tenant's API keys.
    Admin,
}

impl Role {
    /// The role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Analyst => "analyst",
            Role::Admin => "admin",
        }
    }

    /// Parses `viewer`, `analyst` or `admin`.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "analyst" => Some(Role::Analyst),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// A stored API key (without its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyInfo {
    /// Public identifier (part of the key).
    pub key_id: String,
    /// What the key is for.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// Who created it.
    pub created_by: String,
    /// When it was revoked, if it was.
    pub revoked_at: Option<String>,
    /// Dashboard sessions of the key issued before this instant (Unix milliseconds) are ended:
    /// set when it signs out.
    #[serde(default)]
    pub sessions_after_ms: Option<i64>,
}

/// A key to store: its description and the SHA-256 of its secret.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// Public identifier.
    pub key_id: String,
    /// What the key is for.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// SHA-256 of the secret.
    pub secret_hash: Vec<u8>,
    /// Who creates it.
    pub created_by: String,
}
