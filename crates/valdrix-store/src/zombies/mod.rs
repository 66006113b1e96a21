//! Zombie findings as the store keeps them: each scan, each finding's latest evidence, and the
//! transitions of its lifecycle (new, resolved, reopened, ignored, unignored).
//!
//! The store does not know the zombie crate's types: a finding arrives as its key, the figures
//! the store filters and sums on, and the whole finding as JSON.

pub(crate) mod sql;

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

/// Where a remediation plan stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PlanState {
    /// Made, waiting for approval: executing it changes nothing.
    Planned,
    /// Approved by a person: it may be executed.
    Approved,
    /// Executed; every step done or skipped.
    Executed,
    /// Executed; a step failed.
    Failed,
    /// Withdrawn before execution.
    Cancelled,
}

impl PlanState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            PlanState::Planned => "planned",
            PlanState::Approved => "approved",
            PlanState::Executed => "executed",
            PlanState::Failed => "failed",
            PlanState::Cancelled => "cancelled",
        }
    }

    fn parse(s: &str) -> Option<PlanState> {
        Some(match s {
            "planned" => PlanState::Planned,
            "approved" => PlanState::Approved,
            "executed" => PlanState::Executed,
            "failed" => PlanState::Failed,
            "cancelled" => PlanState::Cancelled,
            _ => return None,
        })
    }

    pub(crate) fn read(s: &str) -> crate::Result<PlanState> {
        crate::error::stored("remediation_plans", "state", s, PlanState::parse)
    }
}

/// Where a step of a plan stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StepState {
    /// Not executed yet.
    Pending,
    /// Done.
    Done,
    /// Tried and failed (the detail says why).
    Failed,
    /// Not done: the resource was no longer what the finding said (the detail says why).
    Skipped,
}

impl StepState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            StepState::Pending => "pending",
            StepState::Done => "done",
            StepState::Failed => "failed",
            StepState::Skipped => "skipped",
        }
    }

    pub(crate) fn read(s: &str) -> crate::Result<StepState> {
        Ok(match s {
            "pending" => StepState::Pending,
            "done" => StepState::Done,
            "failed" => StepState::Failed,
            "skipped" => StepState::Skipped,
            _ => {
                return Err(crate::StoreError::Corrupt {
                    table: "remediation_steps",
                    column: "state",
                    message: s.to_string(),
                })
            }
        })
    }
}

/// One step of a plan: an action on one resource, from one finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RemediationStep {
    /// Its number in the plan, from 1.
    pub step_no: i64,
    /// The rule whose finding it acts on.
    pub rule: String,
    /// Region.
    pub region: String,
    /// The resource.
    pub resource_id: String,
    /// Its type.
    pub resource_type: String,
    /// The action (`snapshot-and-delete-volume`, `release-address`, `stop-instance`,
    /// `delete-snapshot`).
    pub action: String,
    /// What it saves a month, as the finding said.
    pub monthly_savings: Option<Decimal>,
    /// Currency.
    pub currency: Option<String>,
    /// Where it stands.
    pub state: StepState,
    /// What happened (the snapshot taken, the error).
    pub detail: Option<String>,
}

/// A remediation plan with its steps.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RemediationPlan {
    /// Its id.
    pub plan_id: i64,
    /// The cloud.
    pub cloud: String,
    /// The account acted on.
    pub account: String,
    /// Where it stands.
    pub state: PlanState,
    /// When it was made.
    pub created_at: String,
    /// Who made it.
    pub created_by: String,
    /// When it was approved.
    pub approved_at: Option<String>,
    /// Who approved it.
    pub approved_by: Option<String>,
    /// When its execution ended.
    pub finished_at: Option<String>,
    /// The steps, in order.
    pub steps: Vec<RemediationStep>,
}

/// An entry of a plan's log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RemediationLogEntry {
    /// The step, if the entry is about one.
    pub step_no: Option<i64>,
    /// When.
    pub at: String,
    /// Who.
    pub actor: String,
    /// `planned`, `approved`, `refused`, `dry-run`, `started`, `snapshot`, `done`, `skipped`,
    /// `failed`, `executed`, `cancelled`.
    pub event: String,
    /// What, in words.
    pub detail: String,
}

/// Something that happened to a plan: logged, and where it says so, the step's or the plan's
/// new state.
#[derive(Debug, Clone, PartialEq)]
pub struct RemediationEvent {
    /// The step it is about.
    pub step_no: Option<i64>,
    /// Who.
    pub actor: String,
    /// What (see [`RemediationLogEntry::event`]).
    pub event: String,
    /// In words.
    pub detail: String,
    /// The step's new state and detail.
    pub step: Option<(StepState, String)>,
    /// The plan's new state.
    pub plan: Option<PlanState>,
}
