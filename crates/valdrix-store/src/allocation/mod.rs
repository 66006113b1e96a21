//! Allocation rule sets as the store keeps them: every version of a tenant's rules, with who
//! saved it, when and why. Reading and checking the rules is valdrix-analytics' business; the
//! store holds their canonical JSON.

pub(crate) mod sql;

use serde::Serialize;

/// One saved version of a tenant's allocation rule set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleSetVersion {
    /// 1 for the first version saved, then one more each time the rules change.
    pub version: i64,
    /// The rules, as canonical JSON (`"version": 1`).
    pub rules: String,
    /// When it was saved (RFC 3339).
    pub created_at: String,
    /// Who saved it.
    pub created_by: String,
    /// Why, in the saver's words (may be empty).
    pub note: String,
}

/// What saving a rule set did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SavedRuleSet {
    /// The version now current.
    pub version: RuleSetVersion,
    /// False when the rules were the same as the current version's, which stays current.
    pub created: bool,
}
