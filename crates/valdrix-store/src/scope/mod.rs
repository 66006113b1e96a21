//! What a delivery covers, and who else already holds it.
//!
//! A file name says nothing about what a bill contains: the same export downloaded twice, or a
//! corrected copy saved under another name, is the same bill. A delivery's *scope* is what it
//! bills: each (provider, billing account, billing period) its records belong to, with the sub
//! accounts seen in each. A delivery whose scope another stream already holds would add the same
//! dollars twice, so the store refuses it (see [`OverlapPolicy`]) unless the caller restates the
//! holding stream (`--stream`) or says the two are really separate exports.

pub(crate) mod sql;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::CurrencyTotals;

/// What to do when a delivery's scope is already held by another stream (`refuse`, `keep_both`,
/// `allow` in the API).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverlapPolicy {
    /// Refuse the delivery, naming the stream that holds its scope (the default).
    #[default]
    Refuse,
    /// Keep both streams when they bill disjoint sub accounts of the shared billing accounts and
    /// periods (two CUR reports of one payer, each of its own linked accounts); refuse when any
    /// (provider, billing account, sub account, billing period) is in both.
    #[serde(rename = "keep_both")]
    Disjoint,
    /// Keep both knowingly although they overlap (two copies of one bill kept to reconcile
    /// them): the run is written and `runs` / `audit` keep listing the overlap.
    Allow,
}

/// One stream holding part of a refused delivery's scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeldScope {
    /// The holding stream, spelled as Valdrix stores and prints it.
    pub stream: String,
    /// Provider.
    pub provider: String,
    /// Billing account.
    pub billing_account_id: String,
    /// Billing periods held by both (`YYYY-MM`).
    pub periods: Vec<String>,
    /// Sub accounts billed by both (empty when the delivery's sub accounts are disjoint from the
    /// stream's; only a [`OverlapPolicy::Disjoint`] refusal names them).
    pub sub_accounts: Vec<String>,
    /// The holding stream's newest delivery of those periods.
    pub run_id: i64,
    /// Its files.
    pub files: Vec<String>,
    /// Its totals per currency.
    pub totals: BTreeMap<String, CurrencyTotals>,
}

/// Why a delivery was refused: its scope is held by other streams.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScopeConflict {
    /// The refused delivery's stream.
    pub stream: String,
    /// The policy it was delivered under.
    pub policy: OverlapPolicy,
    /// Who holds what.
    pub held: Vec<HeldScope>,
}

impl OverlapPolicy {
    /// The policy an API parameter names: `refuse`, `keep_both` or `allow`.
    pub fn parse(text: &str) -> Option<OverlapPolicy> {
        match text {
            "refuse" => Some(OverlapPolicy::Refuse),
            "keep_both" => Some(OverlapPolicy::Disjoint),
            "allow" => Some(OverlapPolicy::Allow),
            _ => None,
        }
    }
}

impl std::fmt::Display for ScopeConflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let first = self.held.first();
        let what = if self.policy == OverlapPolicy::Disjoint {
            "bills sub accounts that another stream already holds"
        } else {
            "covers a bill that another stream already holds"
        };
        write!(f, "this delivery ({}) {what}, so ingesting it would count the same costs twice:", self.stream)?;
        for h in &self.held {
            let totals: Vec<String> = h.totals.iter().map(|(c, t)| format!("{} {c} billed", t.billed)).collect();
            write!(
                f,
                " {} billing account {} for {} is held by stream {} (run {}: {}; {})",
                h.provider,
                h.billing_account_id,
                h.periods.join(", "),
                h.stream,
                h.run_id,
                h.files.join(", "),
                if totals.is_empty() { "no totals".to_string() } else { totals.join(", ") }
            )?;
            if !h.sub_accounts.is_empty() {
                write!(f, ", sub accounts {} in both", h.sub_accounts.join(", "))?;
            }
            f.write_str(";")?;
        }
        if let Some(h) = first {
            write!(
                f,
                " to restate it with this delivery, ingest again with --stream '{}' (API: stream={}); ",
                h.stream, h.stream
            )?;
        }
        f.write_str(
            "if the exports are really separate (disjoint sub accounts), ingest with --keep-both (API: overlap=keep_both), \
             which checks that they share no account; nothing was written",
        )
    }
}

/// Streams of a store that bill the same (provider, billing account, sub account, period): what
/// `runs` and `audit` warn about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamOverlap {
    /// Provider.
    pub provider: String,
    /// Billing account.
    pub billing_account_id: String,
    /// Billing period (`YYYY-MM`).
    pub period: String,
    /// Sub accounts in more than one of the streams (empty: the sub account is not given).
    pub sub_accounts: Vec<String>,
    /// The streams, in order of first delivery.
    pub streams: Vec<String>,
}

impl std::fmt::Display for StreamOverlap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} billing account {} for {}", self.provider, self.billing_account_id, self.period)?;
        if !self.sub_accounts.is_empty() {
            write!(f, " (sub accounts {})", self.sub_accounts.join(", "))?;
        }
        write!(f, " is billed by {} streams: {}", self.streams.len(), self.streams.join(", "))
    }
}
