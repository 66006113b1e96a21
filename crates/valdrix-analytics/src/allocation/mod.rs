//! Allocation: who spent what.
//!
//! Rules run in two phases, each in priority order (lower numbers first):
//!
//! 1. **Direct**: manual overrides, then owner rules (the owner is a tag or dimension value,
//!    with fallbacks to other tags and to an account → team table). The first direct rule that
//!    names an owner for a record gives it the whole record.
//! 2. **Shared**: what is still unclaimed and a shared rule matches is pooled per currency and
//!    split among the rule's targets by fixed percentages, by the targets' direct spend, by a
//!    usage metric per target, evenly, or as fixed amounts with the remainder to one target.
//!
//! What no rule claims goes to [`UNALLOCATED`], which can then be redistributed in proportion to
//! what was allocated, shown apart. Every [`Contribution`] names its rule, its source records and
//! its arithmetic, and splits are exact ([`split`]): per currency, the contributions add up to the
//! source costs to the last digit.

mod engine;
pub mod file;
mod rules;
pub mod split;
pub mod stored;

pub use engine::{
    allocate, unallocated_by, Allocation, Contribution, Kind, Options, RecordIds, TargetChange, Totals,
    UnallocatedGroup, UNALLOCATED,
};
pub use file::{diff, export, export_yaml, parse, parse_any, parse_yaml, RuleSetDiff, RulesFileError};
pub use rules::{Condition, Dim, Match, Method, OwnerSource, Record, Rule, RuleError, Usage};
pub use split::{split, SplitError};
