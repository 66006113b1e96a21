//! Allocation over HTTP: the tenant's versioned rule sets (read, saved by an analyst with what
//! changed, listed), and a range of stored costs split by them: each target's totals, month by
//! month, the contributions behind a figure, the unallocated bucket, and a candidate rule set
//! simulated against the current one. The same engine and store calls as `valdrix allocate`.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{Datelike, Months, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use valdrix_analytics::allocation::stored;
use valdrix_analytics::allocation::{self as alloc, Dim, Totals, UNALLOCATED};
use valdrix_app::allocate::{LoadedRules, RuleSource};
use valdrix_app::AppError;
use valdrix_core::TenantId;
use valdrix_store::keys::Role;
use valdrix_store::{CostQuery, Store};

use super::params::{self, And, Count, Month, Positive};
use super::{apart, Forbidden, NoParams, NotFound, NotJson, Params, Refusals, Unusable};
use crate::{ApiError, AppState, Caller};

/// Record ids an explanation lists per contribution at most (the count is always given).
pub const RECORD_IDS: usize = 100;

/// A range and how to allocate it, from a query string.
#[derive(Debug, Clone)]
pub(crate) struct Range {
    /// First day.
    pub from: NaiveDate,
    /// Day after the last.
    pub to: NaiveDate,
    /// A stored version (none: the current one).
    pub version: Option<i64>,
    /// Spread the bucket.
    pub redistribute: bool,
}

/// The calendar month before today's (what chargeback usually reports).
pub(crate) fn last_month() -> NaiveDate {
    let today = Utc::now().date_naive();
    let first = today.with_day(1).unwrap_or(today);
    first.checked_sub_months(Months::new(1)).unwrap_or(first)
}

/// A request that is well-formed but cannot be used as it is (422).
fn unusable(detail: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, detail)
}

impl RangeParams {
    /// The range and how to allocate it: `month`, or `from` and `to`, not both; at most 400
    /// days.
    pub(crate) fn range(self) -> Result<Range, ApiError> {
        let RangeParams { month, from, to, version, redistribute } = self;
        let month = month.map(|m| m.0);
        let (version, redistribute) = (version.map(|v| v.0), redistribute.unwrap_or(false));
        let (from, to) = match (month, from, to) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err(unusable("give month, or from and to, not both"))
            }
            (Some(m), None, None) => (m, m.checked_add_months(Months::new(1)).unwrap_or(m)),
            (None, Some(f), Some(t)) => (f, t),
            (None, None, None) => {
                let m = last_month();
                (m, m.checked_add_months(Months::new(1)).unwrap_or(m))
            }
            _ => return Err(unusable("give both from and to")),
        };
        if to <= from || (to - from).num_days() > 400 {
            return Err(unusable("from must come before to, at most 400 days apart"));
        }
        Ok(Range { from, to, version, redistribute })
    }
}

/// An allocation and what it was made of.
pub(crate) type Run = valdrix_app::allocate::Allocated;

/// Allocates the range by the tenant's stored rules.
pub(crate) fn run_in(s: &dyn Store, tenant: &TenantId, r: &Range) -> Result<Run, AppError> {
    let q = CostQuery { from: Some(r.from), to: Some(r.to), ..Default::default() };
    valdrix_app::allocate::allocate(s, tenant, &q, &RuleSource::Stored(r.version), r.redistribute)
}

/// Runs the allocation of a range on a store thread.
pub(crate) async fn run(state: &AppState, tenant: &TenantId, r: Range) -> Result<Run, ApiError> {
    let tenant = tenant.clone();
    state.stores.run(move |s| apart(run_in(s, &tenant, &r))).await?
}

/// A stored rule set version.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleSetOut {
    /// 1 for the first version, then one more each time the rules change.
    pub version: i64,
    /// When it was saved (RFC 3339).
    pub saved_at: String,
    /// Who saved it (`key:ID` for an API key).
    pub saved_by: String,
    /// Why.
    pub note: String,
    /// The rules: `{"version": 1, "rules": [...]}`, as `PUT` takes them.
    #[schema(value_type = Object)]
    pub rules: serde_json::Value,
}

/// Parameters of `GET /api/v1/allocation/rules`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RulesParams {
    /// A stored version (default: the current one).
    #[serde(default, deserialize_with = "params::one")]
    #[param(value_type = Option<i64>, minimum = 1)]
    version: Option<Positive>,
}

/// The tenant's allocation rules: the current version, or an older one.
#[utoipa::path(get, path = "/api/v1/allocation/rules", tag = "allocation", params(RulesParams),
    security(("api_key" = [])),
    responses((status = 200, description = "The rule set", body = RuleSetOut), Refusals, NotFound))]
pub async fn rules(
    caller: Caller,
    State(state): State<AppState>,
    params: Params<RulesParams>,
) -> Result<Json<RuleSetOut>, ApiError> {
    let version = params.into_inner()?.version.map(|v| v.0);
    let tenant = caller.tenant.clone();
    let v = state.stores.run(move |s| s.allocation_rules(&tenant, version)).await?;
    let v = v.ok_or_else(|| {
        ApiError::not_found(match version {
            Some(n) => format!("no rule set version {n}"),
            None => "no allocation rules are stored: PUT /api/v1/allocation/rules".into(),
        })
    })?;
    let rules = serde_json::from_str(&v.rules)
        .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the stored rule set does not read"))?;
    Ok(Json(RuleSetOut { version: v.version, saved_at: v.created_at, saved_by: v.created_by, note: v.note, rules }))
}

/// A rule set to save.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleSetIn {
    /// The rules: `{"version": 1, "rules": [...]}` (see the README's allocation section).
    #[schema(value_type = Object)]
    pub rules: serde_json::Value,
    /// Why (at most 500 characters), kept with the version.
    #[schema(max_length = 500, pattern = r"^[^\x00]*$")]
    #[serde(default)]
    pub note: String,
}

/// What saving did.
#[derive(Debug, Serialize, ToSchema)]
pub struct SavedOut {
    /// The version now current.
    pub version: i64,
    /// False when the rules were the current version's already (nothing saved).
    pub created: bool,
    /// Rules added, changed and removed against the version before.
    #[serde(flatten)]
    pub changes: ChangesOut,
}

/// Rules added, changed and removed against the version before, by id.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangesOut {
    /// Added.
    pub added: Vec<String>,
    /// Changed.
    pub changed: Vec<String>,
    /// Removed.
    pub removed: Vec<String>,
}

impl From<alloc::RuleSetDiff> for ChangesOut {
    fn from(d: alloc::RuleSetDiff) -> Self {
        ChangesOut { added: d.added, changed: d.changed, removed: d.removed }
    }
}

/// Saves a rule set as the tenant's new current version (analyst). Every rule is checked first:
/// a mistake is a 422 naming the rule and the field, and nothing is saved.
#[utoipa::path(put, path = "/api/v1/allocation/rules", tag = "allocation", request_body = RuleSetIn,
    security(("api_key" = [])),
    responses((status = 200, description = "Saved (or unchanged)", body = SavedOut), Refusals, Forbidden, NotJson, Unusable))]
pub async fn save_rules(
    caller: Caller,
    State(state): State<AppState>,
    body: super::JsonBody<RuleSetIn>,
) -> Result<Json<SavedOut>, ApiError> {
    caller.require(Role::Analyst)?;
    let body = body.into_inner()?;
    if body.note.contains('\0') || body.note.chars().count() > 500 {
        return Err(ApiError::bad_request("note: at most 500 characters, no NUL"));
    }
    let text = serde_json::to_string(&body.rules).map_err(|e| ApiError::bad_request(e.to_string()))?;
    if text.contains("\\u0000") {
        // PostgreSQL text cannot hold one.
        return Err(unusable("rules: must not contain a NUL character"));
    }
    let rules = alloc::parse("the request body", &text).map_err(|e| unusable(e.to_string()))?;
    let (tenant, actor, note) = (caller.tenant.clone(), format!("key:{}", caller.key_id), body.note);
    let (saved, diff) =
        state.stores.run(move |s| apart(stored::save_rules(s, &tenant, &rules, &actor, &note))).await??;
    Ok(Json(SavedOut { version: saved.version.version, created: saved.created, changes: diff.into() }))
}

/// One version in the history.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionOut {
    /// The version.
    pub version: i64,
    /// When (RFC 3339).
    pub saved_at: String,
    /// By whom.
    pub saved_by: String,
    /// Why.
    pub note: String,
    /// How many rules it holds.
    pub rules: usize,
    /// Rules it added, changed and removed against the version before.
    #[serde(flatten)]
    pub changes: ChangesOut,
}

/// Every version.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryOut {
    /// Newest first.
    pub versions: Vec<VersionOut>,
}

/// Every version of the tenant's rule set, newest first: who saved it, when, why, and what it
/// changed.
#[utoipa::path(get, path = "/api/v1/allocation/rules/history", tag = "allocation", security(("api_key" = [])),
    responses((status = 200, description = "The versions", body = HistoryOut), Refusals))]
pub async fn history(
    caller: Caller,
    State(state): State<AppState>,
    params: Params<NoParams>,
) -> Result<Json<HistoryOut>, ApiError> {
    params.into_inner()?;
    let tenant = caller.tenant.clone();
    let list = state.stores.run(move |s| apart(stored::history(s, &tenant))).await??;
    let versions = list
        .into_iter()
        .map(|c| VersionOut {
            version: c.version.version,
            saved_at: c.version.created_at,
            saved_by: c.version.created_by,
            note: c.version.note,
            rules: c.rules,
            changes: c.diff.into(),
        })
        .collect();
    Ok(Json(HistoryOut { versions }))
}

/// Parameters of the allocation views.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeParams {
    /// A calendar month (YYYY-MM); default: last month. Or `from` and `to`.
    #[serde(default, deserialize_with = "params::one")]
    #[param(value_type = Option<String>, pattern = r"^[0-9]{4}-(0[1-9]|1[0-2])$")]
    month: Option<Month>,
    /// First charge day (YYYY-MM-DD), with `to`.
    #[serde(default, deserialize_with = "params::one")]
    #[param(value_type = Option<String>, format = Date)]
    from: Option<NaiveDate>,
    /// Day after the last (YYYY-MM-DD), at most 400 days after `from`.
    #[serde(default, deserialize_with = "params::one")]
    #[param(value_type = Option<String>, format = Date)]
    to: Option<NaiveDate>,
    /// A stored rule set version (default: the current one).
    #[serde(default, deserialize_with = "params::one")]
    #[param(value_type = Option<i64>, minimum = 1)]
    version: Option<Positive>,
    /// Spread the unallocated bucket over the targets by what they were allocated.
    #[serde(default, deserialize_with = "params::one")]
    #[param(value_type = Option<bool>)]
    redistribute: Option<bool>,
}

/// A target's totals in one currency (exact decimal strings).
#[derive(Debug, Serialize, ToSchema)]
pub struct TargetOut {
    /// The month (`YYYY-MM`), in the month-by-month view.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
    /// The team, owner or `Unallocated`.
    pub target: String,
    /// Currency.
    pub currency: String,
    /// Direct BilledCost.
    #[schema(value_type = String)]
    pub direct_billed: Decimal,
    /// Shared BilledCost.
    #[schema(value_type = String)]
    pub shared_billed: Decimal,
    /// Redistributed BilledCost.
    #[schema(value_type = String)]
    pub redistributed_billed: Decimal,
    /// All BilledCost.
    #[schema(value_type = String)]
    pub total_billed: Decimal,
    /// Direct EffectiveCost.
    #[schema(value_type = String)]
    pub direct_effective: Decimal,
    /// Shared EffectiveCost.
    #[schema(value_type = String)]
    pub shared_effective: Decimal,
    /// Redistributed EffectiveCost.
    #[schema(value_type = String)]
    pub redistributed_effective: Decimal,
    /// All EffectiveCost.
    #[schema(value_type = String)]
    pub total_effective: Decimal,
}

fn target_out(period: Option<String>, target: String, currency: String, t: &Totals) -> TargetOut {
    TargetOut {
        period,
        target,
        currency,
        direct_billed: t.direct_billed,
        shared_billed: t.shared_billed,
        redistributed_billed: t.redistributed_billed,
        total_billed: t.billed(),
        direct_effective: t.direct_effective,
        shared_effective: t.shared_effective,
        redistributed_effective: t.redistributed_effective,
        total_effective: t.effective(),
    }
}

/// An allocation of a range.
#[derive(Debug, Serialize, ToSchema)]
pub struct AllocationOut {
    /// The rules used (`rule set v3`).
    pub rules: String,
    /// First day.
    pub from: String,
    /// Day after the last.
    pub to: String,
    /// Records allocated.
    pub records: usize,
    /// Each target per currency (per month, in the month-by-month view); largest first, the
    /// bucket last. Per currency, the totals add up to the bill exactly.
    pub targets: Vec<TargetOut>,
    /// Shared pools that could not be split, and why (they stayed in the bucket).
    pub unsplit: Vec<String>,
}

fn allocation_out(run: &Run, r: &Range, by_period: bool) -> AllocationOut {
    let mut targets: Vec<TargetOut> = if by_period {
        run.allocation.totals_by_period().into_iter().map(|((p, t, c), v)| target_out(Some(p), t, c, &v)).collect()
    } else {
        run.allocation.totals().into_iter().map(|((t, c), v)| target_out(None, t, c, &v)).collect()
    };
    targets.sort_by(|a, b| {
        (&a.period, &a.currency, a.target == UNALLOCATED, std::cmp::Reverse(a.total_effective), &a.target).cmp(&(
            &b.period,
            &b.currency,
            b.target == UNALLOCATED,
            std::cmp::Reverse(b.total_effective),
            &b.target,
        ))
    });
    AllocationOut {
        rules: run.rules.label.clone(),
        from: r.from.to_string(),
        to: r.to.to_string(),
        records: run.records.len(),
        targets,
        unsplit: run.allocation.unsplit.clone(),
    }
}

/// A range of stored costs split by the tenant's rules: each target's direct, shared and
/// redistributed cost, billed and effective.
#[utoipa::path(get, path = "/api/v1/allocation", tag = "allocation", params(RangeParams),
    security(("api_key" = [])),
    responses((status = 200, description = "Each target's totals", body = AllocationOut), Refusals, NotFound, Unusable))]
pub async fn allocation(
    caller: Caller,
    State(state): State<AppState>,
    params: Params<RangeParams>,
) -> Result<Json<AllocationOut>, ApiError> {
    split(&state, &caller, params, false).await
}

/// The allocation of the range a query string gives, in all or month by month.
async fn split(
    state: &AppState,
    caller: &Caller,
    params: Params<RangeParams>,
    by_month: bool,
) -> Result<Json<AllocationOut>, ApiError> {
    let r = params.into_inner()?.range()?;
    let run = run(state, &caller.tenant, r.clone()).await?;
    Ok(Json(allocation_out(&run, &r, by_month)))
}

/// The same split month by month: each month's targets (for a chart over time).
#[utoipa::path(get, path = "/api/v1/allocation/months", tag = "allocation", params(RangeParams),
    security(("api_key" = [])),
    responses((status = 200, description = "Each month's targets", body = AllocationOut), Refusals, NotFound, Unusable))]
pub async fn months(
    caller: Caller,
    State(state): State<AppState>,
    params: Params<RangeParams>,
) -> Result<Json<AllocationOut>, ApiError> {
    split(&state, &caller, params, true).await
}

/// The target of `GET /api/v1/allocation/explain` (with the range's parameters).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TargetParams {
    /// The target (`Unallocated` for the bucket).
    #[param(pattern = r"^[^\x00]+$")]
    target: String,
}

/// Parameters of `GET /api/v1/allocation/explain`.
pub type ExplainParams = And<TargetParams, RangeParams>;

/// One contribution to a target's figure.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContributionOut {
    /// The month.
    pub period: String,
    /// direct, shared, unallocated or redistributed.
    pub kind: String,
    /// The rule (none for the bucket and redistribution).
    pub rule: Option<String>,
    /// Currency.
    pub currency: String,
    /// BilledCost it adds.
    #[schema(value_type = String)]
    pub billed: Decimal,
    /// EffectiveCost it adds.
    #[schema(value_type = String)]
    pub effective: Decimal,
    /// How many source records.
    pub records: usize,
    /// The first of them (at most 100), as `GET /api/v1/costs/history/{record_id}` takes them.
    pub record_ids: Vec<String>,
    /// The arithmetic, in words.
    pub basis: String,
}

/// What makes up a target's figure.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExplainOut {
    /// The rules used.
    pub rules: String,
    /// The target.
    pub target: String,
    /// Every contribution, direct first.
    pub contributions: Vec<ContributionOut>,
}

/// Every contribution to one target's figure: its rule, its records and its arithmetic.
#[utoipa::path(get, path = "/api/v1/allocation/explain", tag = "allocation", params(ExplainParams),
    security(("api_key" = [])),
    responses((status = 200, description = "The contributions", body = ExplainOut), Refusals, NotFound, Unusable))]
pub async fn explain(
    caller: Caller,
    State(state): State<AppState>,
    params: Params<ExplainParams>,
) -> Result<Json<ExplainOut>, ApiError> {
    let And(TargetParams { target }, range) = params.into_inner()?;
    if target.is_empty() || target.contains('\0') {
        return Err(ApiError::bad_request("target: a name"));
    }
    let r = range.range()?;
    let run = run(&state, &caller.tenant, r).await?;
    let contributions = run
        .allocation
        .explain(&target)
        .into_iter()
        .map(|c| ContributionOut {
            period: c.period.clone(),
            kind: c.kind.as_str().into(),
            rule: c.rule.clone(),
            currency: c.currency.clone(),
            billed: c.billed,
            effective: c.effective,
            records: c.records.len(),
            record_ids: c.records.iter().take(RECORD_IDS).map(|id| id.to_string()).collect(),
            basis: c.basis.clone(),
        })
        .collect();
    Ok(Json(ExplainOut { rules: run.rules.label, target, contributions }))
}

/// How much of the bucket `GET /api/v1/allocation/unallocated` lists (with the range's
/// parameters; the bucket is reported as no rule claimed it, before any redistribution).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TopParams {
    /// Services and resources listed per currency (1 to 100, default 10).
    #[serde(default, deserialize_with = "params::one")]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    top: Option<Count<1, 100>>,
}

/// Parameters of `GET /api/v1/allocation/unallocated`.
pub type UnallocatedParams = And<TopParams, RangeParams>;

/// The bucket in one currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct BucketOut {
    /// Currency.
    pub currency: String,
    /// EffectiveCost no rule claimed.
    #[schema(value_type = String)]
    pub effective: Decimal,
    /// BilledCost no rule claimed.
    #[schema(value_type = String)]
    pub billed: Decimal,
    /// Its share of the currency's EffectiveCost, in percent (one decimal).
    #[schema(value_type = Option<String>)]
    pub share_percent: Option<Decimal>,
}

/// One group of the bucket.
#[derive(Debug, Serialize, ToSchema)]
pub struct BucketGroupOut {
    /// Currency.
    pub currency: String,
    /// The service or resource (null: records without one).
    pub value: Option<String>,
    /// EffectiveCost in the bucket.
    #[schema(value_type = String)]
    pub effective: Decimal,
    /// BilledCost in the bucket.
    #[schema(value_type = String)]
    pub billed: Decimal,
    /// Records.
    pub records: usize,
}

/// The untagged report.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnallocatedOut {
    /// The rules used.
    pub rules: String,
    /// The bucket per currency.
    pub totals: Vec<BucketOut>,
    /// The services holding most of it.
    pub services: Vec<BucketGroupOut>,
    /// The resources holding most of it.
    pub resources: Vec<BucketGroupOut>,
}

/// What no rule claimed: its share of spend, and the services and resources that hold it (what
/// lacks the tags the rules look for).
#[utoipa::path(get, path = "/api/v1/allocation/unallocated", tag = "allocation", params(UnallocatedParams),
    security(("api_key" = [])),
    responses((status = 200, description = "The bucket", body = UnallocatedOut), Refusals, NotFound, Unusable))]
pub async fn unallocated(
    caller: Caller,
    State(state): State<AppState>,
    params: Params<UnallocatedParams>,
) -> Result<Json<UnallocatedOut>, ApiError> {
    let And(top, range) = params.into_inner()?;
    let (top, r) = (Count::or(top.top, 10), range.range()?);
    let run = run(&state, &caller.tenant, r).await?;
    Ok(Json(unallocated_out(&run, top)))
}

fn unallocated_out(run: &Run, top: usize) -> UnallocatedOut {
    let mut spend: BTreeMap<&str, Decimal> = BTreeMap::new();
    for rec in &run.records {
        *spend.entry(rec.currency.as_str()).or_default() += rec.effective;
    }
    let totals = run
        .allocation
        .totals()
        .into_iter()
        .filter(|((t, _), _)| t == UNALLOCATED)
        .map(|((_, currency), t)| {
            let whole = spend.get(currency.as_str()).copied().unwrap_or_default();
            let share_percent =
                (!whole.is_zero()).then(|| (t.direct_effective * Decimal::from(100) / whole).round_dp(1));
            BucketOut { currency, effective: t.direct_effective, billed: t.direct_billed, share_percent }
        })
        .collect();
    let groups = |d: Dim| {
        alloc::unallocated_by(&run.records, &run.allocation, d, top)
            .into_iter()
            .map(|g| BucketGroupOut {
                currency: g.currency,
                value: g.value,
                effective: g.effective,
                billed: g.billed,
                records: g.records,
            })
            .collect()
    };
    UnallocatedOut {
        rules: run.rules.label.clone(),
        totals,
        services: groups(Dim::Service),
        resources: groups(Dim::Resource),
    }
}

/// A candidate rule set to try on a past range.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulateIn {
    /// The candidate: `{"version": 1, "rules": [...]}`.
    #[schema(value_type = Object)]
    pub candidate: serde_json::Value,
    /// A calendar month (YYYY-MM); default: last month. Or `from` and `to`.
    #[schema(pattern = r"^[0-9]{4}-(0[1-9]|1[0-2])$")]
    pub month: Option<String>,
    /// First charge day (YYYY-MM-DD), with `to`.
    #[schema(format = Date)]
    pub from: Option<String>,
    /// Day after the last (YYYY-MM-DD).
    #[schema(format = Date)]
    pub to: Option<String>,
    /// Compare with this stored version (default: the current one).
    #[schema(minimum = 1)]
    pub version: Option<i64>,
    /// Redistribute the bucket under both.
    #[serde(default)]
    pub redistribute: bool,
}

/// One target under both rule sets.
#[derive(Debug, Serialize, ToSchema)]
pub struct SimulatedOut {
    /// The target.
    pub target: String,
    /// Currency.
    pub currency: String,
    /// EffectiveCost under the current rules.
    #[schema(value_type = String)]
    pub current_effective: Decimal,
    /// EffectiveCost under the candidate.
    #[schema(value_type = String)]
    pub candidate_effective: Decimal,
    /// candidate − current.
    #[schema(value_type = String)]
    pub difference: Decimal,
    /// BilledCost under the current rules.
    #[schema(value_type = String)]
    pub current_billed: Decimal,
    /// BilledCost under the candidate.
    #[schema(value_type = String)]
    pub candidate_billed: Decimal,
}

/// A simulation.
#[derive(Debug, Serialize, ToSchema)]
pub struct SimulateOut {
    /// The current rules (`rule set v3`).
    pub current: String,
    /// First day.
    pub from: String,
    /// Day after the last.
    pub to: String,
    /// Each target, the largest moves first.
    pub targets: Vec<SimulatedOut>,
    /// The candidate's pools that could not be split.
    pub unsplit: Vec<String>,
}

/// A candidate rule set run on a past range beside the stored rules: each target under both,
/// and the difference. Nothing is saved.
#[utoipa::path(post, path = "/api/v1/allocation/simulate", tag = "allocation", request_body = SimulateIn,
    security(("api_key" = [])),
    responses((status = 200, description = "Each target under both", body = SimulateOut), Refusals, NotFound, NotJson, Unusable))]
pub async fn simulate(
    caller: Caller,
    State(state): State<AppState>,
    body: super::JsonBody<SimulateIn>,
) -> Result<Json<SimulateOut>, ApiError> {
    let body = body.into_inner()?;
    let text = serde_json::to_string(&body.candidate).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let candidate = alloc::parse("candidate", &text).map_err(|e| unusable(e.to_string()))?;
    let mut pairs: Vec<(String, String)> = [("month", &body.month), ("from", &body.from), ("to", &body.to)]
        .into_iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k.to_string(), v)))
        .collect();
    if let Some(v) = body.version {
        pairs.push(("version".into(), v.to_string()));
    }
    pairs.push(("redistribute".into(), body.redistribute.to_string()));
    // The body's range, read as the views' query string reads it.
    let r = params::from_pairs::<RangeParams>(&pairs)?.range()?;
    let tenant = caller.tenant.clone();
    let range2 = r.clone();
    let (now, then) = state
        .stores
        .run(move |s| {
            apart((|| -> Result<_, AppError> {
                let now = run_in(s, &tenant, &range2)?;
                let label = "candidate".to_string();
                let candidate = LoadedRules { rules: candidate, label, version: None };
                let then = valdrix_app::allocate::run(&now.records, &candidate, range2.redistribute)?;
                Ok((now, then))
            })())
        })
        .await??;
    let targets = now
        .allocation
        .compare(&then)
        .into_iter()
        .map(|t| SimulatedOut {
            difference: t.difference(),
            current_effective: t.current.effective(),
            candidate_effective: t.candidate.effective(),
            current_billed: t.current.billed(),
            candidate_billed: t.candidate.billed(),
            target: t.target,
            currency: t.currency,
        })
        .collect();
    Ok(Json(SimulateOut {
        current: now.rules.label,
        from: r.from.to_string(),
        to: r.to.to_string(),
        targets,
        unsplit: then.unsplit,
    }))
}
