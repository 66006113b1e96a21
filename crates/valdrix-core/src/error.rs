//! Errors of the core domain types.

/// An error raised while building or validating a domain value.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The tenant name is empty, too long or has characters outside `[A-Za-z0-9_-]`.
    #[error("invalid tenant name {0:?}: use 1-64 letters, digits, '-' or '_'")]
    InvalidTenant(String),
}
