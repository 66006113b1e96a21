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
        PlanState::parse(s).ok_or_else(|| crate::StoreError::Corrupt {
            table: "remediation_plans",
            column: "state",
            message: s.to_string(),
        })
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

/// Which open findings a remediation plan takes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlanSelection {
    /// Only findings of these rules (none: every rule whose findings allow an action).
    pub rules: Vec<String>,
    /// Only these resources (none: all).
    pub resources: Vec<String>,
    /// Only this account (needed when the findings span several).
    pub account: Option<String>,
}

/// Makes a plan of the open findings (new or still present, not ignored) that the selection
/// takes and whose finding names a remediation (`action`). A plan acts on one account.
///
/// [`StoreError::NotFound`] when no finding matches; [`StoreError::InvalidQuery`] when they span
/// several accounts and none was chosen.
pub fn plan_remediation(
    store: &mut dyn crate::Store,
    tenant: &valdrix_core::TenantId,
    selection: &PlanSelection,
    actor: &str,
) -> crate::Result<RemediationPlan> {
    use crate::StoreError;
    let filter = ZombieFilter { statuses: vec![ZombieStatus::New, ZombieStatus::StillPresent], ..Default::default() };
    let mut chosen = Vec::new();
    for z in store.zombies(tenant, &filter)? {
        let finding: serde_json::Value = serde_json::from_str(&z.finding).map_err(|e| StoreError::Corrupt {
            table: "zombie_findings",
            column: "finding",
            message: e.to_string(),
        })?;
        let Some(action) = finding.get("action").and_then(|a| a.as_str()).filter(|a| !a.is_empty()) else {
            continue;
        };
        let wanted = (selection.rules.is_empty() || selection.rules.contains(&z.key.rule))
            && (selection.resources.is_empty() || selection.resources.contains(&z.key.resource_id))
            && selection.account.as_ref().is_none_or(|a| a == &z.key.account);
        if wanted {
            let action = action.to_string();
            chosen.push((z, action));
        }
    }
    if chosen.is_empty() {
        return Err(StoreError::NotFound(
            "no open finding matches whose rule allows a remediation (list the findings to see them)".into(),
        ));
    }
    let accounts: std::collections::BTreeSet<(&str, &str)> =
        chosen.iter().map(|(z, _)| (z.key.cloud.as_str(), z.key.account.as_str())).collect();
    if accounts.len() > 1 {
        return Err(StoreError::InvalidQuery(format!(
            "the findings span {} accounts: choose one account (a plan acts on one account)",
            accounts.len()
        )));
    }
    let (cloud, account) = accounts.into_iter().next().map(|(c, a)| (c.to_string(), a.to_string())).unwrap_or_default();
    let steps: Vec<RemediationStep> = chosen
        .into_iter()
        .map(|(z, action)| RemediationStep {
            step_no: 0,
            rule: z.key.rule,
            region: z.key.region,
            resource_id: z.key.resource_id,
            resource_type: z.resource_type,
            action,
            monthly_savings: z.monthly_savings,
            currency: z.currency,
            state: StepState::Pending,
            detail: None,
        })
        .collect();
    store.create_remediation_plan(tenant, &cloud, &account, actor, &steps)
}

/// What became of an approval.
#[derive(Debug, Clone, PartialEq)]
pub enum Approval {
    /// Approved: the plan as it now is.
    Approved(RemediationPlan),
    /// Refused (and logged as `refused`), with why.
    Refused(String),
}

/// Approves a plan for `actor`, unless `refusal` (asked about the plan) gives a reason not to,
/// in which case the refusal is logged. The author of a plan never approves it, nor does a key
/// the author created (directly or through keys it created) or a key that created the author:
/// four eyes means two people, and one person can mint keys. The approval's log entry names
/// the approving key and who created it.
///
/// [`StoreError::NotFound`] for no such plan; [`StoreError::Conflict`] for a plan past approval.
pub fn approve_plan(
    store: &mut dyn crate::Store,
    tenant: &valdrix_core::TenantId,
    plan_id: i64,
    actor: &str,
    refusal: &dyn Fn(&RemediationPlan) -> Option<String>,
) -> crate::Result<Approval> {
    let plan = store
        .remediation_plan(tenant, plan_id)?
        .ok_or_else(|| crate::StoreError::NotFound(format!("there is no remediation plan {plan_id}")))?;
    let keys = store.api_keys(tenant)?;
    let created_by = |who: &str| -> Option<String> {
        let id = who.strip_prefix("key:")?;
        keys.iter().find(|k| k.key_id == id).map(|k| k.created_by.clone())
    };
    // Who made whom: a key's creators up to a person at the command line, at most as many steps
    // as there are keys (a cycle cannot arise, but the bound holds anyway).
    let chain = |who: &str| -> Vec<String> {
        let mut out = vec![who.to_string()];
        while out.len() <= keys.len() {
            match out.last().and_then(|w| created_by(w)) {
                Some(next) if !out.contains(&next) => out.push(next),
                _ => break,
            }
        }
        out
    };
    let (author_chain, approver_chain) = (chain(&plan.created_by), chain(actor));
    let why = if plan.created_by == actor {
        Some("the author of a plan cannot approve it".to_string())
    } else if approver_chain.contains(&plan.created_by) {
        Some(format!(
            "the approving key was created by the plan's author ({}): approval needs a different person",
            approver_chain.join(" ← created by ")
        ))
    } else if author_chain.iter().any(|a| a == actor) {
        Some(format!(
            "the plan's author was created by the approving key ({}): approval needs a different person",
            author_chain.join(" ← created by ")
        ))
    } else {
        refusal(&plan)
    };
    if let Some(why) = why {
        let event = RemediationEvent {
            step_no: None,
            actor: actor.into(),
            event: "refused".into(),
            detail: format!("approval refused: {why}"),
            step: None,
            plan: None,
        };
        store.remediation_event(tenant, plan_id, &event)?;
        return Ok(Approval::Refused(why));
    }
    let event = RemediationEvent {
        step_no: None,
        actor: actor.into(),
        event: "approved".into(),
        detail: format!("{} steps approved by {}", plan.steps.len(), approver_chain.join(" ← created by ")),
        step: None,
        plan: Some(PlanState::Approved),
    };
    Ok(Approval::Approved(store.remediation_event(tenant, plan_id, &event)?))
}

/// Cancels a plan before it is executed, with a reason.
pub fn cancel_plan(
    store: &mut dyn crate::Store,
    tenant: &valdrix_core::TenantId,
    plan_id: i64,
    actor: &str,
    reason: &str,
) -> crate::Result<RemediationPlan> {
    let event = RemediationEvent {
        step_no: None,
        actor: actor.into(),
        event: "cancelled".into(),
        detail: reason.into(),
        step: None,
        plan: Some(PlanState::Cancelled),
    };
    store.remediation_event(tenant, plan_id, &event)
}
