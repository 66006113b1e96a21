//! Zombie findings over HTTP: what the scans found and its history, ignore marks, and
//! remediation plans (made by an analyst, approved by an admin who did not make them, cancelled
//! before execution). Execution needs the cloud's credentials and runs where they are:
//! `valdrix zombies remediate execute`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use valdrix_app::zombies::remediate::{approve_plan, cancel_plan, plan_remediation, Approval, PlanSelection};
use valdrix_store::keys::Role;
use valdrix_store::zombies::{ZombieFilter, ZombieKey, ZombieStatus};

use super::params::{self, FromArg, PageSize};
use super::{Conflict, Forbidden, NoParams, NotFound, NotJson, Params, Refusals};
use crate::{ApiError, AppState, Caller};

/// Parameters of `GET /api/v1/zombies`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ZombiesParams {
    /// Statuses, comma-separated: new, still-present, resolved, ignored, or open (new and still
    /// present). Default: new, still present and ignored.
    #[serde(default, deserialize_with = "params::one")]
    #[param(value_type = Option<String>, pattern = r"^(open|new|still-present|resolved|ignored)(,(open|new|still-present|resolved|ignored))*$")]
    status: Option<Statuses>,
    /// Only this rule (`aws.ebs.unattached`).
    #[serde(default, deserialize_with = "params::one")]
    #[param(pattern = r"^[^\x00]*$")]
    rule: Option<String>,
    /// Only this cloud.
    #[serde(default, deserialize_with = "params::one")]
    #[param(pattern = r"^(aws|azure|gcp)$")]
    cloud: Option<String>,
    /// At most this many (1 to 500, default 100), costliest first.
    #[serde(default, deserialize_with = "params::one")]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    limit: Option<PageSize>,
}

/// A stored finding.
#[derive(Debug, Serialize, ToSchema)]
pub struct ZombieOut {
    /// `aws`, `azure` or `gcp`.
    pub cloud: String,
    /// Account, subscription or project.
    pub account: String,
    /// The rule that found it.
    pub rule: String,
    /// Region or location.
    pub region: String,
    /// The resource.
    pub resource_id: String,
    /// The resource's type (`aws.ebs.volume`).
    pub resource_type: String,
    /// new, still-present, resolved or ignored.
    pub status: String,
    /// When it was first seen (RFC 3339).
    pub first_seen_at: String,
    /// When a scan last made it.
    pub last_seen_at: String,
    /// When it was resolved, if it is.
    pub resolved_at: Option<String>,
    /// When it was ignored, by whom and why, if it is.
    pub ignored_at: Option<String>,
    /// Who ignored it.
    pub ignored_by: Option<String>,
    /// Why.
    pub ignore_reason: Option<String>,
    /// What it costs a month (a decimal string).
    #[schema(value_type = Option<String>)]
    pub monthly_cost: Option<rust_decimal::Decimal>,
    /// What acting on it would save a month.
    #[schema(value_type = Option<String>)]
    pub monthly_savings: Option<rust_decimal::Decimal>,
    /// Currency of both.
    pub currency: Option<String>,
    /// bill, estimate or none.
    pub cost_source: String,
    /// The finding as the last scan made it: reason with the evidence, cost basis, action,
    /// tags, details.
    #[schema(value_type = Object)]
    pub finding: serde_json::Value,
}

impl From<valdrix_store::zombies::StoredZombie> for ZombieOut {
    fn from(z: valdrix_store::zombies::StoredZombie) -> ZombieOut {
        ZombieOut {
            finding: serde_json::from_str(&z.finding).unwrap_or(serde_json::Value::Null),
            cloud: z.key.cloud,
            account: z.key.account,
            rule: z.key.rule,
            region: z.key.region,
            resource_id: z.key.resource_id,
            resource_type: z.resource_type,
            status: z.status.as_str().to_string(),
            first_seen_at: z.first_seen_at,
            last_seen_at: z.last_seen_at,
            resolved_at: z.resolved_at,
            ignored_at: z.ignored_at,
            ignored_by: z.ignored_by,
            ignore_reason: z.ignore_reason,
            monthly_cost: z.monthly_cost,
            monthly_savings: z.monthly_savings,
            currency: z.currency,
            cost_source: z.cost_source,
        }
    }
}

/// Findings.
#[derive(Debug, Serialize, ToSchema)]
pub struct ZombiesOut {
    /// Open findings first, costliest first.
    pub findings: Vec<ZombieOut>,
}

/// Refuses text the store cannot keep (PostgreSQL text holds no NUL character).
fn storable(name: &str, v: &str) -> Result<(), ApiError> {
    if v.contains('\0') {
        return Err(ApiError::bad_request(format!("{name}: must not contain a NUL character")));
    }
    Ok(())
}

/// Finding statuses, comma-separated (`open`: new and still present).
#[derive(Debug, Clone)]
pub struct Statuses(Vec<ZombieStatus>);

impl FromArg for Statuses {
    fn from_arg(text: &str) -> Result<Self, String> {
        let mut out = vec![];
        for s in text.split(',') {
            match s {
                "open" => out.extend([ZombieStatus::New, ZombieStatus::StillPresent]),
                other => out.push(
                    ZombieStatus::parse(other)
                        .ok_or_else(|| format!("{other:?} is not new, still-present, resolved, ignored or open"))?,
                ),
            }
        }
        Ok(Statuses(out))
    }
}

/// The tenant's zombie findings, with their evidence and cost.
#[utoipa::path(get, path = "/api/v1/zombies", tag = "zombies", params(ZombiesParams), security(("api_key" = [])),
    responses((status = 200, description = "Findings", body = ZombiesOut), Refusals))]
pub async fn list(
    caller: Caller,
    State(state): State<AppState>,
    params: Params<ZombiesParams>,
) -> Result<Json<ZombiesOut>, ApiError> {
    let p = params.into_inner()?;
    if let Some(rule) = &p.rule {
        storable("rule", rule)?;
    }
    if let Some(v) = p.cloud.as_ref().filter(|v| !matches!(v.as_str(), "aws" | "azure" | "gcp")) {
        return Err(ApiError::bad_request(format!("cloud={v:?}: aws, azure or gcp")));
    }
    let filter = ZombieFilter {
        statuses: p
            .status
            .map_or_else(|| vec![ZombieStatus::New, ZombieStatus::StillPresent, ZombieStatus::Ignored], |s| s.0),
        rule: p.rule,
        cloud: p.cloud,
        limit: PageSize::or(p.limit, 100),
    };
    let tenant = caller.tenant.clone();
    let rows = state.stores.run(move |s| s.zombies(&tenant, &filter)).await?;
    let findings = rows.into_iter().map(ZombieOut::from).collect();
    Ok(Json(ZombiesOut { findings }))
}

/// A finding's key, as a body names it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ZombieKeyIn {
    /// `aws`, `azure` or `gcp`.
    #[schema(pattern = r"^(aws|azure|gcp)$")]
    pub cloud: String,
    /// Account, subscription or project.
    #[schema(min_length = 1, max_length = 200, pattern = r"^[^\x00]+$")]
    pub account: String,
    /// The rule.
    #[schema(min_length = 1, max_length = 200, pattern = r"^[^\x00]+$")]
    pub rule: String,
    /// Region or location.
    #[schema(min_length = 1, max_length = 200, pattern = r"^[^\x00]+$")]
    pub region: String,
    /// The resource.
    #[schema(min_length = 1, max_length = 2000, pattern = r"^[^\x00]+$")]
    pub resource_id: String,
}

impl ZombieKeyIn {
    /// The store's key, once every part is text it can hold.
    fn key(self) -> Result<ZombieKey, ApiError> {
        for (name, v) in [
            ("account", &self.account),
            ("rule", &self.rule),
            ("region", &self.region),
            ("resource_id", &self.resource_id),
        ] {
            storable(name, v)?;
        }
        Ok(ZombieKey {
            cloud: self.cloud,
            account: self.account,
            rule: self.rule,
            region: self.region,
            resource_id: self.resource_id,
        })
    }
}

/// A finding's lifecycle.
#[derive(Debug, Serialize, ToSchema)]
pub struct ZombieHistoryOut {
    /// Each transition (new, resolved, reopened, ignored, unignored), oldest first: scan, at,
    /// actor, detail.
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<valdrix_store::zombies::ZombieEvent>,
}

/// The lifecycle of one finding.
#[utoipa::path(post, path = "/api/v1/zombies/history", tag = "zombies", request_body = ZombieKeyIn,
    security(("api_key" = [])),
    responses((status = 200, description = "Its events", body = ZombieHistoryOut), Refusals, NotFound, NotJson))]
pub async fn history(
    caller: Caller,
    State(state): State<AppState>,
    body: super::JsonBody<ZombieKeyIn>,
) -> Result<Json<ZombieHistoryOut>, ApiError> {
    let key = body.into_inner()?.key()?;
    let tenant = caller.tenant.clone();
    let events = state.stores.run(move |s| s.zombie_history(&tenant, &key)).await?;
    if events.is_empty() {
        return Err(ApiError::not_found("no such finding"));
    }
    Ok(Json(ZombieHistoryOut { events }))
}

/// Marks a finding ignored, or takes the mark away.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IgnoreIn {
    /// Which finding.
    pub finding: ZombieKeyIn,
    /// True to ignore it, false to take the mark away.
    pub ignored: bool,
    /// Why (1 to 500 characters, not all spaces), kept in its history.
    #[schema(min_length = 1, max_length = 500, pattern = r"^[^\x00]*[^\x00\s][^\x00]*$")]
    pub reason: String,
}

fn reason_text(r: &str) -> Result<String, ApiError> {
    storable("reason", r)?;
    let r = r.trim();
    if r.is_empty() || r.chars().count() > 500 {
        return Err(ApiError::bad_request("reason: 1 to 500 characters"));
    }
    Ok(r.to_string())
}

/// Ignores a finding (analyst): later scans keep it ignored until the mark is taken away.
#[utoipa::path(post, path = "/api/v1/zombies/ignore", tag = "zombies", request_body = IgnoreIn,
    security(("api_key" = [])),
    responses((status = 204, description = "Marked"), Refusals, Forbidden, NotFound, NotJson))]
pub async fn ignore(
    caller: Caller,
    State(state): State<AppState>,
    body: super::JsonBody<IgnoreIn>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Analyst)?;
    let body = body.into_inner()?;
    let why = reason_text(&body.reason)?;
    let key = body.finding.key()?;
    let (tenant, actor, ignored) = (caller.tenant.clone(), format!("key:{}", caller.key_id), body.ignored);
    let found = state.stores.run(move |s| s.set_zombie_ignored(&tenant, &key, ignored, &actor, &why)).await?;
    if !found {
        return Err(ApiError::not_found("no such finding"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Parameters of `GET /api/v1/zombies/scans` and `GET /api/v1/zombies/plans`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LimitParams {
    /// At most this many, newest first (1 to 500, default 50).
    #[serde(default, deserialize_with = "params::one")]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    limit: Option<PageSize>,
}

/// Scans.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScansOut {
    /// Each scan: id, cloud, account, when it judged, who ran it, whether it finished, and how
    /// many findings were new, still present, resolved and ignored.
    #[schema(value_type = Vec<Object>)]
    pub scans: Vec<valdrix_store::zombies::ZombieScanSummary>,
}

/// The tenant's zombie scans, newest first.
#[utoipa::path(get, path = "/api/v1/zombies/scans", tag = "zombies", params(LimitParams), security(("api_key" = [])),
    responses((status = 200, description = "Scans", body = ScansOut), Refusals))]
pub async fn scans(
    caller: Caller,
    State(state): State<AppState>,
    params: Params<LimitParams>,
) -> Result<Json<ScansOut>, ApiError> {
    let limit = PageSize::or(params.into_inner()?.limit, 50);
    let tenant = caller.tenant.clone();
    let scans = state.stores.run(move |s| s.zombie_scans(&tenant, limit)).await?;
    Ok(Json(ScansOut { scans }))
}

/// Remediation plans.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlansOut {
    /// Each plan: id, cloud, account, state, who made and approved it, its steps.
    #[schema(value_type = Vec<Object>)]
    pub plans: Vec<valdrix_store::zombies::RemediationPlan>,
}

/// The tenant's remediation plans, newest first.
#[utoipa::path(get, path = "/api/v1/zombies/plans", tag = "zombies", params(LimitParams), security(("api_key" = [])),
    responses((status = 200, description = "Plans", body = PlansOut), Refusals))]
pub async fn plans(
    caller: Caller,
    State(state): State<AppState>,
    params: Params<LimitParams>,
) -> Result<Json<PlansOut>, ApiError> {
    let limit = PageSize::or(params.into_inner()?.limit, 50);
    let tenant = caller.tenant.clone();
    let plans = state.stores.run(move |s| s.remediation_plans(&tenant, limit)).await?;
    Ok(Json(PlansOut { plans }))
}

/// Which open findings a plan takes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanIn {
    /// Only findings of these rules (none: every rule whose findings allow a remediation).
    #[serde(default)]
    #[schema(max_items = 100)]
    pub rules: Vec<Text>,
    /// Only these resources (none: all).
    #[serde(default)]
    #[schema(max_items = 1000)]
    pub resources: Vec<Text>,
    /// Only this account (needed when the findings span several).
    pub account: Option<Text>,
}

/// Text without NUL characters (which the store cannot keep).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = String, pattern = r"^[^\x00]*$")]
pub struct Text(pub String);

/// A plan and what happened to it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanOut {
    /// The plan: id, cloud, account, state, who made and approved it, its steps with their
    /// states.
    #[schema(value_type = Object)]
    pub plan: valdrix_store::zombies::RemediationPlan,
    /// Every event, oldest first: planned, approved, refused, each step's, cancelled.
    #[schema(value_type = Vec<Object>)]
    pub log: Vec<valdrix_store::zombies::RemediationLogEntry>,
}

/// Makes a remediation plan of open findings (analyst). It does nothing until an admin who did
/// not make it approves it, and it is then executed where the cloud credentials are.
#[utoipa::path(post, path = "/api/v1/zombies/plans", tag = "zombies", request_body = PlanIn,
    security(("api_key" = [])),
    responses((status = 201, description = "Planned", body = PlanOut), Refusals, Forbidden, NotFound, NotJson))]
pub async fn create_plan(
    caller: Caller,
    State(state): State<AppState>,
    body: super::JsonBody<PlanIn>,
) -> Result<(StatusCode, Json<PlanOut>), ApiError> {
    caller.require(Role::Analyst)?;
    let body = body.into_inner()?;
    if body.rules.len() > 100 || body.resources.len() > 1000 {
        return Err(ApiError::bad_request("at most 100 rules and 1,000 resources"));
    }
    for Text(v) in body.rules.iter().chain(&body.resources).chain(&body.account) {
        storable("rules, resources and account", v)?;
    }
    let selection = PlanSelection {
        rules: body.rules.into_iter().map(|t| t.0).collect(),
        resources: body.resources.into_iter().map(|t| t.0).collect(),
        account: body.account.map(|t| t.0),
    };
    let (tenant, actor) = (caller.tenant.clone(), format!("key:{}", caller.key_id));
    let out = state
        .stores
        .run(move |s| {
            let plan = plan_remediation(s, &tenant, &selection, &actor)?;
            let log = s.remediation_log(&tenant, plan.plan_id)?;
            Ok(PlanOut { plan, log })
        })
        .await?;
    Ok((StatusCode::CREATED, Json(out)))
}

fn plan_id(v: &str) -> Result<i64, ApiError> {
    super::number("plan", v)
}

/// A plan with its log.
#[utoipa::path(get, path = "/api/v1/zombies/plans/{plan_id}", tag = "zombies", security(("api_key" = [])),
    params(("plan_id" = String, Path, pattern = r"^[1-9][0-9]{0,17}$", description = "The plan's number")),
    responses((status = 200, description = "The plan", body = PlanOut), Refusals, NotFound))]
pub async fn plan(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Params<NoParams>,
) -> Result<Json<PlanOut>, ApiError> {
    let id = plan_id(&id)?;
    params.into_inner()?;
    let tenant = caller.tenant.clone();
    let out = state
        .stores
        .run(move |s| {
            let Some(plan) = s.remediation_plan(&tenant, id)? else {
                return Err(valdrix_store::StoreError::NotFound(format!("there is no remediation plan {id}")));
            };
            let log = s.remediation_log(&tenant, id)?;
            Ok(PlanOut { plan, log })
        })
        .await?;
    Ok(Json(out))
}

/// Approves a plan (admin, not its author). A refusal is logged.
#[utoipa::path(post, path = "/api/v1/zombies/plans/{plan_id}/approve", tag = "zombies", security(("api_key" = [])),
    params(("plan_id" = String, Path, pattern = r"^[1-9][0-9]{0,17}$", description = "The plan's number")),
    responses((status = 200, description = "Approved", body = PlanOut), Refusals, Forbidden, NotFound, Conflict))]
pub async fn approve(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<PlanOut>, ApiError> {
    caller.require(Role::Admin)?;
    let id = plan_id(&id)?;
    let (tenant, actor) = (caller.tenant.clone(), format!("key:{}", caller.key_id));
    let out = state
        .stores
        .run(move |s| {
            let approval = approve_plan(s, &tenant, id, &actor, &|_| None)?;
            let log = s.remediation_log(&tenant, id)?;
            Ok((approval, log))
        })
        .await?;
    match out {
        (Approval::Approved(plan), log) => Ok(Json(PlanOut { plan, log })),
        (Approval::Refused(why), _) => Err(ApiError::forbidden(format!("plan {id} not approved: {why}"))),
    }
}

/// Why a plan is cancelled.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelIn {
    /// Kept in the plan's log (1 to 500 characters, not all spaces).
    #[schema(min_length = 1, max_length = 500, pattern = r"^[^\x00]*[^\x00\s][^\x00]*$")]
    pub reason: String,
}

/// Cancels a plan before it is executed (analyst).
#[utoipa::path(post, path = "/api/v1/zombies/plans/{plan_id}/cancel", tag = "zombies", request_body = CancelIn,
    security(("api_key" = [])),
    params(("plan_id" = String, Path, pattern = r"^[1-9][0-9]{0,17}$", description = "The plan's number")),
    responses((status = 200, description = "Cancelled", body = PlanOut), Refusals, Forbidden, NotFound, Conflict, NotJson))]
pub async fn cancel(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: super::JsonBody<CancelIn>,
) -> Result<Json<PlanOut>, ApiError> {
    caller.require(Role::Analyst)?;
    let id = plan_id(&id)?;
    let why = reason_text(&body.into_inner()?.reason)?;
    let (tenant, actor) = (caller.tenant.clone(), format!("key:{}", caller.key_id));
    let out = state
        .stores
        .run(move |s| {
            if s.remediation_plan(&tenant, id)?.is_none() {
                return Err(valdrix_store::StoreError::NotFound(format!("there is no remediation plan {id}")));
            }
            let plan = cancel_plan(s, &tenant, id, &actor, &why)?;
            let log = s.remediation_log(&tenant, id)?;
            Ok(PlanOut { plan, log })
        })
        .await?;
    Ok(Json(out))
}
