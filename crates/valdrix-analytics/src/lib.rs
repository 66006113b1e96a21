//! Analytics over cost records: pure functions, no store and no files.
//!
//! - [`allocation`]: who spent what. Allocation rules (owner by tag or table, percentages,
//!   proportional to direct spend or to a usage metric, even, fixed amounts with a remainder,
//!   manual overrides) applied in priority order, what no rule claims in an `Unallocated` bucket,
//!   and every allocated amount traceable to its source records and its arithmetic. Splits are
//!   exact: per currency, allocations add up to the source costs to the last digit.

pub mod allocation;
