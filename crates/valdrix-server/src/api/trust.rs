//! Cost trust over HTTP: records and their history, what each run changed, restatement alerts,
//! billing periods (close and reopen by hand) and how far the costs are complete and final.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use valdrix_store::keys::Role;
use valdrix_store::{AuditEntry, PeriodInfo, RecordCursor, RecordRow, RestatementAlert};

use super::params::{self, And, Count, FromArg, Numbered, PageSize, Positive, NOT_A_CURSOR};
use super::{page, Conflict, CostFilters, Forbidden, MetricName, NoParams, NotFound, NotJson, Params, Refusals};
use crate::{ApiError, AppState, Caller};

/// A page of records, beside the cost filters of `GET /api/v1/records`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RecordsPage {
    /// Ignored for records (accepted so that a cost explorer's query string works unchanged).
    #[serde(rename = "metric", default, deserialize_with = "params::one")]
    #[param(value_type = Option<MetricName>)]
    _metric: Option<valdrix_store::Metric>,
    /// Records per page (1 to 500, default 100).
    #[serde(default, deserialize_with = "params::one")]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    limit: Option<PageSize>,
    /// `next_cursor` of the previous page.
    #[serde(default, deserialize_with = "params::one")]
    #[param(value_type = Option<String>, pattern = r"^[0-9]{1,20}(\.[0-9]{1,8})?~[0-9a-f]{1,32}-[0-9]{8}$")]
    cursor: Option<RecordCursor>,
}

impl FromArg for RecordCursor {
    fn from_arg(text: &str) -> Result<Self, String> {
        RecordCursor::parse(text).ok_or_else(|| NOT_A_CURSOR.into())
    }
}

/// Parameters of `GET /api/v1/records`.
pub type RecordsParams = And<CostFilters, RecordsPage>;

/// Records, largest |BilledCost| first.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordsOut {
    /// Each record: id, day, provider, account, service, resource, usage type, charge category,
    /// currency, billed, effective (decimal strings), the run that wrote it, removed.
    #[schema(value_type = Vec<Object>)]
    pub records: Vec<RecordRow>,
    /// Give it as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Records of the tenant with their stable ids, largest first.
#[utoipa::path(get, path = "/api/v1/records", tag = "trust", params(RecordsParams), security(("api_key" = [])),
    responses((status = 200, description = "A page of records", body = RecordsOut), Refusals))]
pub async fn records(
    caller: Caller,
    State(state): State<AppState>,
    params: Params<RecordsParams>,
) -> Result<Json<RecordsOut>, ApiError> {
    let And(filters, page_of) = params.into_inner()?;
    let limit = PageSize::or(page_of.limit, 100);
    let (q, after) = (filters.query(), page_of.cursor);
    let tenant = caller.tenant.clone();
    let rows = state.stores.run(move |s| s.records(&tenant, &q, after.as_ref(), limit + 1)).await?;
    let (records, next_cursor) = page(rows, limit, |r| RecordCursor::after(r).encode());
    Ok(Json(RecordsOut { records, next_cursor }))
}

/// Every value a record has had, delivery by delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryOut {
    /// The record's id, stream, day, billing period, grain (FOCUS column → value) and points
    /// (each delivery: run, change, billed, effective, post_final), oldest first.
    #[schema(value_type = Object)]
    #[serde(flatten)]
    pub history: valdrix_store::RecordHistory,
}

/// A record's lineage: each delivery of its period, with file, checksum and run.
#[utoipa::path(get, path = "/api/v1/costs/history/{record_id}", tag = "trust", security(("api_key" = [])),
    params(("record_id" = String, Path, pattern = r"^[0-9a-fA-F]{4,32}-[0-9]{8}$",
        description = "A record id (`KEYHEX-YYYYMMDD`; a unique prefix of the key works)")),
    responses((status = 200, description = "The record's history", body = HistoryOut), Refusals, NotFound, Conflict))]
pub async fn history(
    caller: Caller,
    State(state): State<AppState>,
    Path(record_id): Path<String>,
    params: Params<NoParams>,
) -> Result<Json<HistoryOut>, ApiError> {
    params.into_inner()?;
    // An id of the right shape whose day is not a date names no record.
    let shaped = record_id.split_once('-').is_some_and(|(k, d)| {
        (4..=32).contains(&k.len())
            && k.bytes().all(|b| b.is_ascii_hexdigit())
            && d.len() == 8
            && d.bytes().all(|b| b.is_ascii_digit())
    });
    if shaped && chrono::NaiveDate::parse_from_str(&record_id[record_id.len() - 8..], "%Y%m%d").is_err() {
        return Err(ApiError::not_found(format!("no record {record_id}")));
    }
    let tenant = caller.tenant.clone();
    let history = state.stores.run(move |s| s.record_history(&tenant, &record_id)).await?;
    Ok(Json(HistoryOut { history }))
}

/// What a run changed.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunAuditOut {
    /// The run, the net change per currency (deltas, entries, mean and max |Δ|%) and the largest
    /// changes.
    #[schema(value_type = Object)]
    #[serde(flatten)]
    pub audit: valdrix_store::RunAudit,
}

/// Parameters of `GET /api/v1/runs/{run_id}/audit`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Largest changes listed (0 to 500, default 20).
    #[serde(default, deserialize_with = "params::one")]
    #[param(value_type = Option<u32>, minimum = 0, maximum = 500)]
    largest: Option<Count<0, { super::MAX_PAGE }>>,
}

fn run_id(v: &str) -> Result<i64, ApiError> {
    super::number("run", v)
}

/// The audit of a run: added, added late, restated, removed, post-final, net change, largest.
#[utoipa::path(get, path = "/api/v1/runs/{run_id}/audit", tag = "ingestion", params(AuditParams,
        ("run_id" = i64, Path, minimum = 1, description = "The run")), security(("api_key" = [])),
    responses((status = 200, description = "What the run changed", body = RunAuditOut), Refusals, NotFound))]
pub async fn run_audit(
    caller: Caller,
    State(state): State<AppState>,
    Path(run): Path<String>,
    params: Params<AuditParams>,
) -> Result<Json<RunAuditOut>, ApiError> {
    let run = run_id(&run)?;
    let largest = Count::or(params.into_inner()?.largest, 20);
    let tenant = caller.tenant.clone();
    let audit = state.stores.run(move |s| s.run_audit(&tenant, run, largest)).await?;
    Ok(Json(RunAuditOut { audit }))
}

/// Parameters of the audit entries of a run.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EntriesParams {
    /// Entries per page (1 to 500, default 100).
    #[serde(default, deserialize_with = "params::one")]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    limit: Option<PageSize>,
    /// `next_cursor` of the previous page.
    #[serde(default, deserialize_with = "params::one")]
    #[param(value_type = Option<String>, pattern = r"^[0-9a-f]{32}-[0-9]{8}$")]
    cursor: Option<EntryCursor>,
}

/// The record id an entries page ends with (`KEYHEX-YYYYMMDD`, the key whole).
#[derive(Debug, Clone)]
pub struct EntryCursor(String);

impl FromArg for EntryCursor {
    fn from_arg(text: &str) -> Result<Self, String> {
        let whole_id = text.len() == 41
            && text.split_once('-').is_some_and(|(k, d)| {
                k.len() == 32 && k.bytes().all(|b| b.is_ascii_hexdigit()) && d.bytes().all(|b| b.is_ascii_digit())
            });
        if whole_id {
            Ok(EntryCursor(text.to_string()))
        } else {
            Err(NOT_A_CURSOR.into())
        }
    }
}

/// A page of a run's audit entries, in record order.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntriesOut {
    /// Each change: record id, day, reason, account, service, currency, old and new billed and
    /// effective, post_final, the runs.
    #[schema(value_type = Vec<Object>)]
    pub entries: Vec<AuditEntry>,
    /// Give it as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Every change a run made, record by record.
#[utoipa::path(get, path = "/api/v1/runs/{run_id}/audit/entries", tag = "ingestion", params(EntriesParams,
        ("run_id" = i64, Path, minimum = 1, description = "The run")), security(("api_key" = [])),
    responses((status = 200, description = "A page of entries", body = EntriesOut), Refusals, NotFound))]
pub async fn audit_entries(
    caller: Caller,
    State(state): State<AppState>,
    Path(run): Path<String>,
    params: Params<EntriesParams>,
) -> Result<Json<EntriesOut>, ApiError> {
    let run = run_id(&run)?;
    let p = params.into_inner()?;
    let limit = PageSize::or(p.limit, 100);
    let after = p.cursor.map(|c| c.0);
    let tenant = caller.tenant.clone();
    // A run's entries are bounded by what one delivery changed; the store answers them in
    // record-id order, and the page starts after the cursor's id.
    let (exists, entries) = state
        .stores
        .run(move |s| {
            let exists =
                s.runs_before(&tenant, Some(run.saturating_add(1)), 1)?.first().is_some_and(|r| r.run_id == run);
            Ok((exists, if exists { s.audit_entries(&tenant, run)? } else { Vec::new() }))
        })
        .await?;
    if !exists {
        return Err(ApiError::not_found(format!("no run {run}")));
    }
    let mut entries: Vec<AuditEntry> =
        entries.into_iter().filter(|e| after.as_deref().is_none_or(|a| e.record_id.as_str() > a)).collect();
    entries.sort_by(|a, b| a.record_id.cmp(&b.record_id));
    let (entries, next_cursor) = page(entries, limit, |e| e.record_id.clone());
    Ok(Json(EntriesOut { entries, next_cursor }))
}

/// Parameters of `GET /api/v1/alerts`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertsParams {
    /// Only the alerts of this run.
    #[serde(default, deserialize_with = "params::one")]
    #[param(value_type = Option<i64>, minimum = 1)]
    run: Option<Positive>,
    /// Alerts per page, newest first (1 to 500, default 50).
    #[serde(default, deserialize_with = "params::one")]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    limit: Option<PageSize>,
    /// `next_cursor` of the previous page.
    #[serde(default, deserialize_with = "params::one")]
    #[param(value_type = Option<String>, pattern = r"^a[0-9]{1,18}$")]
    cursor: Option<Numbered<'a'>>,
}

/// Restatement alerts, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertsOut {
    /// Each alert: id, run, day, account, service, currency, metric, old and new amount, the
    /// thresholds in force.
    #[schema(value_type = Vec<Object>)]
    pub alerts: Vec<RestatementAlert>,
    /// Give it as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Restatements that moved a day × account × service total past the alert thresholds.
#[utoipa::path(get, path = "/api/v1/alerts", tag = "trust", params(AlertsParams), security(("api_key" = [])),
    responses((status = 200, description = "A page of alerts", body = AlertsOut), Refusals))]
pub async fn alerts(
    caller: Caller,
    State(state): State<AppState>,
    params: Params<AlertsParams>,
) -> Result<Json<AlertsOut>, ApiError> {
    let p = params.into_inner()?;
    let limit = PageSize::or(p.limit, 50);
    let (run, before) = (p.run.map(|r| r.0), p.cursor.map(|c| c.0));
    let tenant = caller.tenant.clone();
    let alerts = state.stores.run(move |s| s.alerts(&tenant, run, before, limit + 1)).await?;
    let (alerts, next_cursor) = page(alerts, limit, |a| format!("a{}", a.alert_id));
    Ok(Json(AlertsOut { alerts, next_cursor }))
}

/// Parameters of `GET /api/v1/periods`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PeriodsParams {
    /// Periods per page, newest first (1 to 500, default 100).
    #[serde(default, deserialize_with = "params::one")]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    limit: Option<PageSize>,
    /// `next_cursor` of the previous page.
    #[serde(default, deserialize_with = "params::one")]
    #[param(value_type = Option<String>, pattern = r"^[0-9]{4}-[0-9]{2}~[\s\S]")]
    cursor: Option<PeriodCursor>,
}

/// The period and stream a periods page ends with: `YYYY-MM~STREAM`, as [`period_cursor`]
/// writes it (and the schema's pattern says).
#[derive(Debug, Clone)]
pub struct PeriodCursor {
    period: String,
    stream: String,
}

impl FromArg for PeriodCursor {
    fn from_arg(text: &str) -> Result<Self, String> {
        let month = |p: &str| {
            p.len() == 7 && p.bytes().enumerate().all(|(i, b)| if i == 4 { b == b'-' } else { b.is_ascii_digit() })
        };
        text.split_once('~')
            .filter(|(p, s)| month(p) && !s.is_empty())
            .map(|(period, stream)| PeriodCursor { period: period.to_string(), stream: stream.to_string() })
            .ok_or_else(|| NOT_A_CURSOR.into())
    }
}

/// Billing periods of each stream, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct PeriodsOut {
    /// Each: period (YYYY-MM), stream, state (open, preliminary, final, closed), deliveries,
    /// current run, invoice id, final run, closure, totals per currency.
    #[schema(value_type = Vec<Object>)]
    pub periods: Vec<PeriodInfo>,
    /// Give it as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

fn period_cursor(p: &PeriodInfo) -> String {
    format!("{}~{}", p.period, p.stream)
}

/// Billing periods with their state and totals.
#[utoipa::path(get, path = "/api/v1/periods", tag = "trust", params(PeriodsParams), security(("api_key" = [])),
    responses((status = 200, description = "A page of periods", body = PeriodsOut), Refusals))]
pub async fn periods(
    caller: Caller,
    State(state): State<AppState>,
    params: Params<PeriodsParams>,
) -> Result<Json<PeriodsOut>, ApiError> {
    let p = params.into_inner()?;
    let limit = PageSize::or(p.limit, 100);
    let after = p.cursor;
    let tenant = caller.tenant.clone();
    // Periods are months × streams: few, and answered whole by the store, newest first then
    // by stream; the page starts after the cursor's position in that order.
    let all = state.stores.run(move |s| s.periods(&tenant, chrono::Utc::now())).await?;
    let periods: Vec<PeriodInfo> = all
        .into_iter()
        .filter(|p| {
            after.as_ref().is_none_or(|c| {
                p.period.as_str() < c.period.as_str() || (p.period == c.period && p.stream.as_str() > c.stream.as_str())
            })
        })
        .collect();
    let (periods, next_cursor) = page(periods, limit, period_cursor);
    Ok(Json(PeriodsOut { periods, next_cursor }))
}

/// Why a period is closed or reopened.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonIn {
    /// Recorded in the audit log (1 to 500 characters).
    #[schema(min_length = 1, max_length = 500)]
    pub reason: String,
}

/// A hand close.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClosureOut {
    /// `YYYY-MM`.
    pub period: String,
    /// When (RFC 3339).
    pub closed_at: String,
    /// Who (`key:KEYID`).
    pub closed_by: String,
    /// Why.
    pub reason: String,
}

fn period_arg(v: &str) -> Result<String, ApiError> {
    valdrix_core::time::parse_month(v)
        .map(|_| v.to_string())
        .ok_or_else(|| ApiError::bad_request(format!("period {v:?}: expected YYYY-MM")))
}

fn reason(body: ReasonIn) -> Result<String, ApiError> {
    let r = body.reason.trim().to_string();
    if r.is_empty() || r.chars().count() > 500 {
        return Err(ApiError::bad_request("reason: 1 to 500 characters"));
    }
    Ok(r)
}

/// Closes a billing period by hand (analyst): later deliveries for it are refused unless forced.
#[utoipa::path(post, path = "/api/v1/periods/{period}/close", tag = "trust", request_body = ReasonIn,
    params(("period" = String, Path, pattern = r"^[0-9]{4}-(0[1-9]|1[0-2])$", description = "YYYY-MM")),
    security(("api_key" = [])),
    responses((status = 200, description = "Closed", body = ClosureOut), Refusals, Forbidden, NotFound, Conflict, NotJson))]
pub async fn close_period(
    caller: Caller,
    State(state): State<AppState>,
    Path(period): Path<String>,
    body: super::JsonBody<ReasonIn>,
) -> Result<Json<ClosureOut>, ApiError> {
    caller.require(Role::Analyst)?;
    let period = period_arg(&period)?;
    let why = reason(body.into_inner()?)?;
    let tenant = caller.tenant.clone();
    let actor = format!("key:{}", caller.key_id);
    let c = state.stores.run(move |s| s.close_period(&tenant, &period, &actor, &why)).await?;
    Ok(Json(ClosureOut { period: c.period, closed_at: c.closed_at, closed_by: c.closed_by, reason: c.reason }))
}

/// Reopens a billing period closed by hand (analyst).
#[utoipa::path(post, path = "/api/v1/periods/{period}/reopen", tag = "trust", request_body = ReasonIn,
    params(("period" = String, Path, pattern = r"^[0-9]{4}-(0[1-9]|1[0-2])$", description = "YYYY-MM")),
    security(("api_key" = [])),
    responses((status = 204, description = "Reopened"), Refusals, Forbidden, NotFound, Conflict, NotJson))]
pub async fn reopen_period(
    caller: Caller,
    State(state): State<AppState>,
    Path(period): Path<String>,
    body: super::JsonBody<ReasonIn>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Analyst)?;
    let period = period_arg(&period)?;
    let why = reason(body.into_inner()?)?;
    let tenant = caller.tenant.clone();
    let actor = format!("key:{}", caller.key_id);
    state.stores.run(move |s| s.reopen_period(&tenant, &period, &actor, &why)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// How far the stored costs are complete and final.
#[derive(Debug, Serialize, ToSchema)]
pub struct FreshnessOut {
    /// The last charge day with complete data (YYYY-MM-DD).
    #[schema(value_type = Option<String>, format = Date)]
    pub complete_through: Option<chrono::NaiveDate>,
    /// The last day through which every day is final.
    #[schema(value_type = Option<String>, format = Date)]
    pub final_through: Option<chrono::NaiveDate>,
    /// Hours after which a day is final without an invoice.
    pub final_after_hours: u32,
}

/// How far the costs are complete and how far they are final (preliminary after that).
#[utoipa::path(get, path = "/api/v1/freshness", tag = "trust", security(("api_key" = [])),
    responses((status = 200, description = "Freshness", body = FreshnessOut), Refusals))]
pub async fn freshness(
    caller: Caller,
    State(state): State<AppState>,
    params: Params<NoParams>,
) -> Result<Json<FreshnessOut>, ApiError> {
    params.into_inner()?;
    let tenant = caller.tenant.clone();
    let policy = state.policy.clone();
    let hours = policy.final_after_hours;
    let f = state.stores.run(move |s| s.freshness(&tenant, chrono::Utc::now(), &policy)).await?;
    Ok(Json(FreshnessOut {
        complete_through: f.complete_through,
        final_through: f.final_through,
        final_after_hours: hours,
    }))
}
