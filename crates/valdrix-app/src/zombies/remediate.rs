//! Remediation plans: actions on open findings whose rule allows one, approved by someone other
//! than their author, executed as a dry run unless applied, every step logged.

use valdrix_core::TenantId;
use valdrix_store::Store;
use valdrix_zombies::aws::{AwsConnection, AwsProvider};
use valdrix_zombies::Provider;

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
    use valdrix_store::zombies::{plan_remediation, PlanSelection};
    let selection =
        PlanSelection { rules: req.rules.clone(), resources: req.resources.clone(), account: req.account.clone() };
    plan_remediation(store, tenant, &selection, actor).map_err(|e| match e {
        valdrix_store::StoreError::InvalidQuery(m) => AppError::Invalid(format!("{m} with --account")),
        valdrix_store::StoreError::NotFound(_) => AppError::NotFound(
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
    use valdrix_store::zombies::{approve_plan, Approval};
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
