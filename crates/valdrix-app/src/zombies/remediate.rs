//! Remediation plans: actions on open findings whose rule allows one, approved by someone other
//! than their author, executed as a dry run unless applied, every step logged.

use valdrix_core::TenantId;
use valdrix_store::{Store, StoreError};
use valdrix_zombies::aws::{AwsConnection, AwsProvider};
use valdrix_zombies::Provider;

use valdrix_store::zombies::{
    PlanState, RemediationEvent, RemediationPlan, RemediationStep, StepState, ZombieFilter, ZombieStatus,
};

use crate::error::{AppError, Context, Result};

/// Which findings a remediation plan takes.
#[derive(Debug, Clone, Default)]
pub struct PlanRequest {
    /// Only findings of these rules (none: every rule whose findings allow an action).
    pub rules: Vec<String>,
    /// Only these resources (none: all).
    pub resources: Vec<String>,
    /// Only this account (needed when findings of several match).
    pub account: Option<String>,
}

/// Makes a plan from the open findings (not ignored) whose rule allows an action.
pub fn plan(
    store: &mut dyn Store,
    tenant: &TenantId,
    req: &PlanRequest,
    actor: &str,
) -> Result<valdrix_store::zombies::RemediationPlan> {
    let selection =
        PlanSelection { rules: req.rules.clone(), resources: req.resources.clone(), account: req.account.clone() };
    plan_remediation(store, tenant, &selection, actor).map_err(|e| match e {
        StoreError::InvalidQuery(m) => AppError::Invalid(format!("{m} with --account")),
        StoreError::NotFound(_) => AppError::NotFound(
            "no open finding matches whose rule allows a remediation (valdrix zombies list shows the findings)".into(),
        ),
        other => other.into(),
    })
}

/// Approves a plan. Who may: one of `approvers` when the configuration names them, otherwise
/// anyone; never the plan's author (a plan is never approved by the person who made it).
pub fn approve(
    store: &mut dyn Store,
    tenant: &TenantId,
    plan_id: i64,
    actor: &str,
    approvers: &[String],
) -> Result<valdrix_store::zombies::RemediationPlan> {
    let name = actor.strip_prefix("cli:").unwrap_or(actor).to_string();
    let refusal = |_: &valdrix_store::zombies::RemediationPlan| {
        (!approvers.is_empty() && !approvers.contains(&name))
            .then(|| format!("{name} is not an approver ([remediation] approvers in the configuration)"))
    };
    match approve_plan(store, tenant, plan_id, actor, &refusal)? {
        Approval::Approved(plan) => Ok(plan),
        Approval::Refused(why) => Err(AppError::Conflict(format!("plan {plan_id} not approved: {why}"))),
    }
}

/// Executes an approved plan: a dry run unless `apply`. Each step is checked against the
/// resource as it is now, logged before and after, and its state kept; a step that fails does
/// not stop the others. An unapproved plan is refused and nothing is called.
pub fn execute(
    store: &mut dyn Store,
    tenant: &TenantId,
    plan_id: i64,
    apply: bool,
    actor: &str,
    aws: &AwsConnection,
) -> Result<valdrix_store::zombies::RemediationPlan> {
    use valdrix_store::zombies::{PlanState, RemediationEvent, StepState};
    use valdrix_zombies::aws::Outcome;
    let plan = store
        .remediation_plan(tenant, plan_id)?
        .ok_or_else(|| AppError::NotFound(format!("there is no remediation plan {plan_id}")))?;
    let note =
        |event: &str, step: Option<i64>, detail: String, step_state: Option<StepState>, plan: Option<PlanState>| {
            RemediationEvent {
                step_no: step,
                actor: actor.to_string(),
                event: event.to_string(),
                step: step_state.map(|s| (s, detail.clone())),
                detail,
                plan,
            }
        };
    if plan.state != PlanState::Approved {
        let why = format!("plan {plan_id} is {}, not approved: nothing was changed", plan.state.as_str());
        store.remediation_event(tenant, plan_id, &note("refused", None, why.clone(), None, None))?;
        return Err(AppError::Conflict(why));
    }
    if plan.cloud != "aws" {
        return Err(AppError::Invalid(format!(
            "remediation on {} needs its provider, which this build does not have yet",
            plan.cloud
        )));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let provider = runtime.block_on(AwsProvider::connect(aws)).context("connecting to AWS")?;
    if provider.account() != plan.account {
        return Err(AppError::Conflict(format!(
            "the credentials reach account {}, but plan {plan_id} acts on account {}: nothing was changed",
            provider.account(),
            plan.account
        )));
    }
    let label = format!("plan {plan_id}");
    let mut failed = 0;
    for step in plan.steps.iter().filter(|s| s.state == StepState::Pending) {
        let action = valdrix_zombies::rules::Action::parse(&step.action).ok_or_else(|| {
            AppError::Internal(format!("step {} has an unknown action {:?}", step.step_no, step.action))
        })?;
        let what = format!("{} {} in {}", step.action, step.resource_id, step.region);
        if apply {
            store.remediation_event(tenant, plan_id, &note("started", Some(step.step_no), what.clone(), None, None))?;
        }
        let result = runtime.block_on(provider.remediate(&step.region, action, &step.resource_id, !apply, &label));
        let event = match result {
            Ok(Outcome::WouldSucceed(d)) => note("dry-run", Some(step.step_no), d, None, None),
            Ok(Outcome::Done(d)) => note("done", Some(step.step_no), d, Some(StepState::Done), None),
            Ok(Outcome::Skipped(d)) if apply => note("skipped", Some(step.step_no), d, Some(StepState::Skipped), None),
            Ok(Outcome::Skipped(d)) => note("dry-run", Some(step.step_no), format!("would skip: {d}"), None, None),
            Err(e) if apply => {
                failed += 1;
                note("failed", Some(step.step_no), format!("{what}: {e}"), Some(StepState::Failed), None)
            }
            Err(e) => {
                failed += 1;
                note("dry-run", Some(step.step_no), format!("would fail: {e}"), None, None)
            }
        };
        store.remediation_event(tenant, plan_id, &event)?;
    }
    if apply {
        let (state, detail) = if failed == 0 {
            (PlanState::Executed, "every step done or skipped".to_string())
        } else {
            (PlanState::Failed, format!("{failed} steps failed"))
        };
        let event = if failed == 0 { "executed" } else { "failed" };
        Ok(store.remediation_event(tenant, plan_id, &note(event, None, detail, None, Some(state)))?)
    } else {
        let detail = if failed == 0 {
            "dry run: every step would succeed or be skipped; nothing was changed".to_string()
        } else {
            format!("dry run: {failed} steps would fail; nothing was changed")
        };
        Ok(store.remediation_event(tenant, plan_id, &note("dry-run", None, detail, None, None))?)
    }
}

// The rules of plans, shared by the command line, the API and the dashboard: which findings a
// plan may take, who may approve it, when it may be cancelled.

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
    store: &mut dyn Store,
    tenant: &valdrix_core::TenantId,
    selection: &PlanSelection,
    actor: &str,
) -> valdrix_store::Result<RemediationPlan> {
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
    store: &mut dyn Store,
    tenant: &valdrix_core::TenantId,
    plan_id: i64,
    actor: &str,
    refusal: &dyn Fn(&RemediationPlan) -> Option<String>,
) -> valdrix_store::Result<Approval> {
    let plan = store
        .remediation_plan(tenant, plan_id)?
        .ok_or_else(|| StoreError::NotFound(format!("there is no remediation plan {plan_id}")))?;
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
    store: &mut dyn Store,
    tenant: &valdrix_core::TenantId,
    plan_id: i64,
    actor: &str,
    reason: &str,
) -> valdrix_store::Result<RemediationPlan> {
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
