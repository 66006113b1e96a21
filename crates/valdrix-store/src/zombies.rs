//! Zombie findings as the store keeps them: each scan, each finding's latest evidence, and the
//! transitions of its lifecycle (new, resolved, reopened, ignored, unignored).
//!
//! The store does not know the zombie crate's types: a finding arrives as its key, the figures
//! the store filters and sums on, and the whole finding as JSON.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

/// What identifies a finding across scans.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ZombieKey {
    /// `aws`, `azure`, `gcp`.
    pub cloud: String,
    /// Account, subscription or project.
    pub account: String,
    /// The rule that found it.
    pub rule: String,
    /// Region or location.
    pub region: String,
    /// The resource.
    pub resource_id: String,
}

/// One finding of a scan.
#[derive(Debug, Clone, PartialEq)]
pub struct ZombieObservation {
    /// Which finding.
    pub key: ZombieKey,
    /// The resource's type.
    pub resource_type: String,
    /// What it costs a month.
    pub monthly_cost: Option<Decimal>,
    /// What acting on it would save a month.
    pub monthly_savings: Option<Decimal>,
    /// Currency of both.
    pub currency: Option<String>,
    /// `bill`, `estimate` or `none`.
    pub cost_source: String,
    /// The whole finding (reason, evidence, tags, details), as JSON.
    pub finding: String,
}

/// A scan to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewZombieScan {
    /// The cloud scanned.
    pub cloud: String,
    /// The account scanned.
    pub account: String,
    /// The instant the rules judged at.
    pub evaluated_at: DateTime<Utc>,
    /// Who ran it (`cli:alice`).
    pub actor: String,
    /// Whether every region and rule finished.
    pub complete: bool,
    /// The (rule, region) pairs that finished: an open finding of one of these that this scan
    /// did not make again is resolved. Findings of pairs that timed out or failed stay as they
    /// were: nothing is known of them.
    pub finished: Vec<(String, String)>,
    /// Every region's and rule's status, as JSON.
    pub statuses: String,
    /// The findings.
    pub findings: Vec<ZombieObservation>,
}

/// A recorded scan and what it changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ZombieScanSummary {
    /// Its id.
    pub scan_id: i64,
    /// The cloud.
    pub cloud: String,
    /// The account.
    pub account: String,
    /// The instant the rules judged at.
    pub evaluated_at: String,
    /// When it was recorded.
    pub scanned_at: String,
    /// Who ran it.
    pub actor: String,
    /// Whether every region and rule finished.
    pub complete: bool,
    /// Findings made.
    pub findings: i64,
    /// Findings never seen before, or seen again after they were resolved.
    pub new: i64,
    /// Findings open before and made again.
    pub still_present: i64,
    /// Open findings this scan no longer made (of rules and regions that finished).
    pub resolved: i64,
    /// Findings made again that a person marked ignored.
    pub ignored: i64,
}

/// Where a finding stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ZombieStatus {
    /// Found by the latest scan of its account for the first time (or again after it was resolved).
    New,
    /// Found by the latest scan and by earlier ones.
    StillPresent,
    /// No longer found.
    Resolved,
    /// Marked ignored by a person (and still found).
    Ignored,
}

impl ZombieStatus {
    /// `new`, `still-present`, `resolved`, `ignored`.
    pub fn as_str(self) -> &'static str {
        match self {
            ZombieStatus::New => "new",
            ZombieStatus::StillPresent => "still-present",
            ZombieStatus::Resolved => "resolved",
            ZombieStatus::Ignored => "ignored",
        }
    }

    /// Parses what [`ZombieStatus::as_str`] writes (and `open`: new or still present).
    pub fn parse(s: &str) -> Option<ZombieStatus> {
        Some(match s {
            "new" => ZombieStatus::New,
            "still-present" | "still_present" | "present" => ZombieStatus::StillPresent,
            "resolved" => ZombieStatus::Resolved,
            "ignored" => ZombieStatus::Ignored,
            _ => return None,
        })
    }
}

/// A stored finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredZombie {
    /// Which finding.
    #[serde(flatten)]
    pub key: ZombieKey,
    /// The resource's type.
    pub resource_type: String,
    /// Where it stands.
    pub status: ZombieStatus,
    /// The scan that first made it (since it was last reopened, the first ever otherwise).
    pub first_scan_id: i64,
    /// When it was first seen.
    pub first_seen_at: String,
    /// The last scan that made it.
    pub last_scan_id: i64,
    /// When it was last seen.
    pub last_seen_at: String,
    /// When it was resolved.
    pub resolved_at: Option<String>,
    /// When a person marked it ignored.
    pub ignored_at: Option<String>,
    /// Who did.
    pub ignored_by: Option<String>,
    /// Why.
    pub ignore_reason: Option<String>,
    /// What it costs a month (at the last scan that made it).
    pub monthly_cost: Option<Decimal>,
    /// What acting on it would save a month.
    pub monthly_savings: Option<Decimal>,
    /// Currency.
    pub currency: Option<String>,
    /// `bill`, `estimate` or `none`.
    pub cost_source: String,
    /// The whole finding, as JSON.
    pub finding: String,
}

/// Which stored findings to list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ZombieFilter {
    /// Only these statuses (none: all).
    pub statuses: Vec<ZombieStatus>,
    /// Only this rule.
    pub rule: Option<String>,
    /// Only this cloud.
    pub cloud: Option<String>,
    /// At most this many (0: no limit).
    pub limit: usize,
}

/// One transition of a finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ZombieEvent {
    /// The scan it happened in (none for a person's ignore).
    pub scan_id: Option<i64>,
    /// `new`, `resolved`, `reopened`, `ignored`, `unignored`.
    pub event: String,
    /// When.
    pub at: String,
    /// Who.
    pub actor: String,
    /// Why, where someone said.
    pub detail: Option<String>,
}
