//! The cost path's logic, written once over [`Db`] for both backends, by concern: writing a
//! delivery ([`write`], with [`restate`] comparing it record by record with what is stored and
//! [`periods`] the billing-period rules; `crate::scope::sql` checks that no other stream bills
//! it), cost queries ([`query`]), runs ([`runs`]), daily totals ([`totals`]). Each other domain
//! keeps its SQL beside its types: `trust/sql.rs`, `zombies/sql.rs`, `allocation/sql.rs`,
//! `forecasts/sql.rs`, `keys/sql.rs`, `scope/sql.rs`.

pub(crate) mod parse;
pub(crate) mod periods;
pub(crate) mod query;
pub(crate) mod restate;
pub(crate) mod runs;
pub(crate) mod series;
pub(crate) mod tenants;
pub(crate) mod totals;
pub(crate) mod write;
