//! The store's logic, written once over [`Db`] for both backends, by concern: writing a delivery
//! ([`write`], with [`restate`] comparing it record by record with what is stored, [`scope`]
//! checking that no other stream bills it), cost queries ([`query`]), runs ([`runs`]), the read
//! side of cost trust ([`trust`]), and one module per domain table set (allocation rules,
//! forecasts and monitors, keys, zombies).

pub(crate) mod allocation;
pub(crate) mod forecasts;
pub(crate) mod keys;
pub(crate) mod parse;
pub(crate) mod periods;
pub(crate) mod query;
pub(crate) mod restate;
pub(crate) mod runs;
pub(crate) mod scope;
pub(crate) mod series;
pub(crate) mod tenants;
pub(crate) mod totals;
pub(crate) mod trust;
pub(crate) mod write;
pub(crate) mod zombies;
