//! Forecasts and anomalies over HTTP: the tenant's spend forecast (total and per value of a
//! dimension, daily or by month), kept forecasts against what happened, anomalies with their
//! root causes, the marks of days a person said were expected, and the kept anomaly monitors.
//! The same calls as `valdrix forecast` and `valdrix anomalies` (valdrix-analytics' `spend` and
//! `monitor`).

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use valdrix_analytics::anomaly::{Thresholds, THRESHOLD_FIELDS};
use valdrix_analytics::forecast::{Options, MAX_HORIZON};
use valdrix_analytics::monitor;
use valdrix_analytics::spend::{self, CheckOptions, Horizon, SpendError, SpendQuery};
use valdrix_store::forecasts::{AnomalyFeedback, AnomalyMonitor, AnomalyReport};
use valdrix_store::keys::Role;
use valdrix_store::{Dimension, Metric, StoreError};

use super::{json_body, no_more, query_pairs, take, Forbidden, NotFound, NotJson, Refusals, Unusable};
use crate::{ApiError, AppState, Caller};

/// Keeps the store's failures for [`crate::StorePool::run`] and hands back the rest.
pub(crate) fn apart<T>(r: Result<T, SpendError>) -> Result<Result<T, ApiError>, StoreError> {
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(SpendError::Store(e)) => Err(e),
        Err(e @ SpendError::NoSpend) => Ok(Err(ApiError::not_found(e.to_string()))),
        Err(e) => Ok(Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))),
    }
}

fn bad(name: &str, v: &str, what: &str) -> ApiError {
    ApiError::bad_request(format!("{name}={v:?}: {what}"))
}

fn whole(name: &str, v: &str, lo: usize, hi: usize) -> Result<usize, ApiError> {
    v.parse().ok().filter(|n| (lo..=hi).contains(n)).ok_or_else(|| bad(name, v, &format!("{lo} to {hi}")))
}

/// Takes `by`, `metric` and `top` out of `pairs`.
fn spend_query(pairs: &mut Vec<(String, String)>) -> Result<SpendQuery, ApiError> {
    let mut q = SpendQuery { top: 10, ..Default::default() };
    for (k, v) in take(pairs, &["by", "metric", "top"]) {
        match k.as_str() {
            // Any text is well-formed; one that names no dimension cannot be used (422).
            "by" if v.trim().is_empty() => q.by = None,
            "by" => {
                q.by = Some(Dimension::parse(&v).ok_or_else(|| {
                    ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        format!("by={v:?}: not a dimension (service, account, region, usage-type, tag:KEY, ...)"),
                    )
                })?)
            }
            "metric" => {
                q.metric =
                    Metric::parse(&v).ok_or_else(|| bad("metric", &v, "billed, effective, list or contracted"))?
            }
            _ => q.top = whole("top", &v, 0, 100)?,
        }
    }
    Ok(q)
}

/// Parameters of `GET /api/v1/forecast`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ForecastParams {
    /// One forecast per value of this dimension besides the total (service, account, region,
    /// tag:KEY, ...; empty: the total only).
    by: Option<String>,
    /// Values of `by` kept apart, the largest first; the rest are one `(other)` (0: all).
    #[param(minimum = 0, maximum = 100)]
    top: Option<u32>,
    /// billed (default), effective, list or contracted.
    metric: Option<super::MetricName>,
    /// Days ahead (1 to 400; default 30).
    #[param(minimum = 1, maximum = 400)]
    horizon: Option<u32>,
    /// Instead of `horizon`: the rest of this month and the next N (1 to 12), for `monthly`.
    #[param(minimum = 1, maximum = 12)]
    months: Option<u32>,
    /// Interval levels in percent, comma-separated (default `80,95`).
    #[param(pattern = r"^[0-9]{1,2}(\.[0-9]+)?(,[0-9]{1,2}(\.[0-9]+)?)*$")]
    levels: Option<String>,
}

/// Forecasts per currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct ForecastOut {
    /// Per currency: `currency`, `total` (points with `date`, `yhat` and `intervals`; the model,
    /// its backtest (`accuracy`: MAPE, sMAPE, MASE, coverage), `confidence`, `low_confidence`,
    /// outliers, level shifts, the month-start charge) and `categories` (each value's
    /// `key` and `forecast`). The total's points are the sum of the values'.
    #[schema(value_type = Vec<Object>)]
    pub currencies: serde_json::Value,
    /// With `months`: per currency and series, month by month (`month`, `days`, `yhat`,
    /// `intervals`: the daily bounds added up).
    #[schema(value_type = Vec<Object>)]
    pub monthly: serde_json::Value,
}

/// The tenant's daily spend forecast: the total and each value of `by`, with 80 % and 95 %
/// intervals sized and scored by a rolling-origin backtest. Final days only, per currency.
#[utoipa::path(get, path = "/api/v1/forecast", tag = "forecasts", params(ForecastParams), security(("api_key" = [])),
    responses((status = 200, description = "The forecast", body = ForecastOut), Refusals, NotFound, Unusable))]
pub async fn forecast(
    caller: Caller,
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<ForecastOut>, ApiError> {
    let mut pairs = query_pairs(&raw)?;
    let q = spend_query(&mut pairs)?;
    let (mut horizon, mut months, mut levels) = (None, None, vec![0.8, 0.95]);
    for (k, v) in take(&mut pairs, &["horizon", "months", "levels"]) {
        match k.as_str() {
            "horizon" => horizon = Some(whole("horizon", &v, 1, MAX_HORIZON)?),
            "months" => months = Some(whole("months", &v, 1, 12)? as u32),
            _ => {
                levels = v
                    .split(',')
                    .map(|p| p.trim().parse::<f64>().ok().filter(|p| *p > 0.0 && *p < 100.0).map(|p| p / 100.0))
                    .collect::<Option<Vec<f64>>>()
                    .ok_or_else(|| {
                        ApiError::new(
                            StatusCode::UNPROCESSABLE_ENTITY,
                            format!("levels={v:?}: percentages between 0 and 100 (exclusive), comma-separated"),
                        )
                    })?
            }
        }
    }
    no_more(&pairs)?;
    if horizon.is_some() && months.is_some() {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "give horizon or months, not both"));
    }
    let (tenant, policy) = (caller.tenant.clone(), state.policy.clone());
    let out = state
        .stores
        .run(move |s| {
            let opts = Options { levels, ..Options::new(30) };
            let ahead = months.map_or(Horizon::Days(horizon.unwrap_or(30)), Horizon::Months);
            apart(spend::forecast_spend(s, &tenant, &q, ahead, &opts, Utc::now(), &policy))
        })
        .await??;
    let monthly = if months.is_some() {
        out.iter()
            .flat_map(|c| {
                std::iter::once(("total".to_string(), &c.total))
                    .chain(c.categories.iter().filter_map(|k| k.forecast.as_ref().map(|f| (k.key.clone(), f))))
                    .map(|(series, f)| {
                        serde_json::json!({"currency": c.currency, "series": series,
                            "months": valdrix_analytics::forecast::monthly(&f.points)})
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(Json(ForecastOut {
        currencies: serde_json::to_value(&out).unwrap_or_default(),
        monthly: serde_json::Value::Array(monthly),
    }))
}

/// Parameters of `GET /api/v1/forecast/tracked`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct TrackedParams {
    /// How many kept forecasts, newest first (1 to 500; default 20).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// Kept forecasts against what happened.
#[derive(Debug, Serialize, ToSchema)]
pub struct TrackedOut {
    /// Newest first: `id`, `created_at`, `series`, `currency`, `model`, `horizon`,
    /// `days_compared` (days now final), `actual`, `forecast`, `mape`, `coverage`,
    /// `backtest_mape`.
    #[schema(value_type = Vec<Object>)]
    pub forecasts: serde_json::Value,
}

/// Forecasts kept with `valdrix forecast --save`, each against the days that have become final
/// since it was made: its error and how often its intervals held, beside its backtest's.
#[utoipa::path(get, path = "/api/v1/forecast/tracked", tag = "forecasts", params(TrackedParams),
    security(("api_key" = [])), responses((status = 200, description = "Kept forecasts", body = TrackedOut), Refusals))]
pub async fn tracked(
    caller: Caller,
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<TrackedOut>, ApiError> {
    let mut pairs = query_pairs(&raw)?;
    let mut limit = 20;
    for (_, v) in take(&mut pairs, &["limit"]) {
        limit = super::page_limit(&v)?;
    }
    no_more(&pairs)?;
    let (tenant, policy) = (caller.tenant.clone(), state.policy.clone());
    let out = state.stores.run(move |s| apart(spend::track(s, &tenant, limit, Utc::now(), &policy))).await??;
    Ok(Json(TrackedOut { forecasts: serde_json::to_value(&out).unwrap_or_default() }))
}

/// Parameters of `GET /api/v1/anomalies`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct AnomaliesParams {
    /// Monitor each value of this dimension (service, account, region, tag:KEY) rather than
    /// the total.
    by: Option<String>,
    /// Values of `by` monitored apart, the largest first; the rest are one `(other)`.
    #[param(minimum = 0, maximum = 100)]
    top: Option<u32>,
    /// billed (default), effective, list or contracted.
    metric: Option<super::MetricName>,
    /// The first day checked (default: 90 days before the last final day).
    #[param(format = Date)]
    from: Option<String>,
    /// The smallest daily impact that counts, in the currency (default 100).
    #[param(minimum = 0)]
    min_impact: Option<f64>,
    /// The smallest daily impact that counts, in percent of the expected value (default 10).
    #[param(minimum = 0)]
    min_percent: Option<f64>,
    /// The interval a day must leave, in percent (default 95).
    #[param(exclusive_minimum = 0, exclusive_maximum = 100)]
    level: Option<f64>,
    /// up (default), down or both.
    #[param(pattern = "^(up|down|both)$")]
    direction: Option<String>,
    /// Check with a kept monitor's settings (`/api/v1/anomalies/monitors`) instead: only `from`
    /// and `new` may be given with it.
    #[param(pattern = r"^[A-Za-z0-9._-]{1,100}$")]
    monitor: Option<String>,
    /// With `monitor`: only the anomalies it has not reported yet. `POST
    /// /api/v1/anomalies/monitors/{name}/reported` records them once they have been passed on
    /// (an alerting job's daily poll).
    new: Option<bool>,
}

/// Anomalies, the most costly first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AnomaliesOut {
    /// The first day checked.
    pub from: String,
    /// Each: `series` (what a mark names), `key`, `currency`, `start`, `end`, `actual`,
    /// `expected`, `impact`, `max_score`, `severity`, `root_causes` (`dimension`, `value`,
    /// `actual`, `expected`, `delta`, `share`).
    #[schema(value_type = Vec<Object>)]
    pub anomalies: serde_json::Value,
}

/// Days whose spend left the forecast's interval by more than a money floor and a percentage,
/// merged into anomalies, with their severity and root causes (service, account, region, usage
/// type). Days marked as expected are never reported and never trained on.
#[utoipa::path(get, path = "/api/v1/anomalies", tag = "forecasts", params(AnomaliesParams),
    security(("api_key" = [])),
    responses((status = 200, description = "Anomalies", body = AnomaliesOut), Refusals, NotFound, Unusable))]
pub async fn anomalies(
    caller: Caller,
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<AnomaliesOut>, ApiError> {
    let mut pairs = query_pairs(&raw)?;
    let monitor = take(&mut pairs, &["monitor"]).pop().map(|(_, v)| v);
    let mut new = false;
    for (_, v) in take(&mut pairs, &["new"]) {
        if monitor.is_none() {
            return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "new: only with monitor"));
        }
        new = match v.as_str() {
            "true" => true,
            "false" => false,
            _ => return Err(bad("new", &v, "true or false")),
        };
    }
    let (tenant, policy) = (caller.tenant.clone(), state.policy.clone());
    let found = match monitor {
        Some(name) => {
            // A kept monitor says what to check and how; only the first day may be given.
            let mut from = None;
            for (_, v) in take(&mut pairs, &["from"]) {
                from = Some(super::date("from", &v)?);
            }
            let own = ["by", "metric", "top", "min_impact", "min_percent", "level", "direction"];
            if let Some((k, _)) = take(&mut pairs, &own).first() {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("{k}: a monitor's own settings are used; only from and new may be given"),
                ));
            }
            no_more(&pairs)?;
            state
                .stores
                .run(move |s| {
                    let Some(m) = s.anomaly_monitor(&tenant, &name)? else {
                        return Ok(Err(ApiError::not_found(format!("no monitor {name:?}"))));
                    };
                    let mut found = match apart(monitor::run(s, &tenant, &m, from, Utc::now(), &policy))? {
                        Ok(found) => found,
                        Err(e) => return Ok(Err(e)),
                    };
                    if new {
                        if let Err(e) = apart(monitor::keep_unreported(s, &tenant, &name, &mut found))? {
                            return Ok(Err(e));
                        }
                    }
                    Ok(Ok(found))
                })
                .await??
        }
        None => {
            let (q, check) = anomaly_query(&mut pairs)?;
            no_more(&pairs)?;
            state.stores.run(move |s| apart(spend::detect_spend(s, &tenant, &q, &check, Utc::now(), &policy))).await??
        }
    };
    Ok(Json(AnomaliesOut {
        from: found.from.to_string(),
        anomalies: serde_json::to_value(&found.anomalies).unwrap_or_default(),
    }))
}

/// Takes what to check and how out of `pairs` (`by`, `metric`, `top`, `from`, `min_impact`,
/// `min_percent`, `level`, `direction`): the API's and the dashboard's anomaly parameters.
pub(crate) fn anomaly_query(pairs: &mut Vec<(String, String)>) -> Result<(SpendQuery, CheckOptions), ApiError> {
    let q = spend_query(pairs)?;
    let mut thresholds = Thresholds::default();
    let mut from = None;
    let mut names = vec!["from"];
    names.extend(THRESHOLD_FIELDS);
    for (k, v) in take(pairs, &names) {
        match k.as_str() {
            "from" => from = Some(super::date("from", &v)?),
            _ => thresholds.set(&k, &v).map_err(|e| bad(&e.field, &e.text, e.expected))?,
        }
    }
    Ok((q, CheckOptions::new(from, thresholds)))
}

/// A mark: days of a monitored series a person said were expected.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkIn {
    /// The series as anomalies name it: `total`, or `DIMENSION=VALUE`.
    #[schema(min_length = 1, max_length = 500, pattern = r"^[^\x00]*$")]
    pub series: String,
    /// The first day (YYYY-MM-DD).
    #[schema(format = Date)]
    pub from: String,
    /// The last day (YYYY-MM-DD), at most 366 days after `from`.
    #[schema(format = Date)]
    pub to: String,
    /// Why (at most 500 characters).
    #[schema(max_length = 500, pattern = r"^[^\x00]*$")]
    #[serde(default)]
    pub note: String,
}

/// A kept mark.
#[derive(Debug, Serialize, ToSchema)]
pub struct MarkOut {
    /// The series.
    pub series: String,
    /// The first day.
    pub from: String,
    /// The last day.
    pub to: String,
    /// When (RFC 3339).
    pub marked_at: String,
    /// By whom (`key:ID` for an API key).
    pub marked_by: String,
    /// Why.
    pub note: String,
}

/// The marks.
#[derive(Debug, Serialize, ToSchema)]
pub struct MarksOut {
    /// By series and first day.
    pub marks: Vec<MarkOut>,
    /// False when a mark made was there already (or a mark taken back was not there).
    pub changed: bool,
}

fn marks_out(list: Vec<AnomalyFeedback>, changed: bool) -> MarksOut {
    MarksOut {
        marks: list
            .into_iter()
            .map(|m| MarkOut {
                series: m.series,
                from: m.first_day,
                to: m.last_day,
                marked_at: m.created_at,
                marked_by: m.created_by,
                note: m.note,
            })
            .collect(),
        changed,
    }
}

/// The days marked as expected.
#[utoipa::path(get, path = "/api/v1/anomalies/marks", tag = "forecasts", security(("api_key" = [])),
    responses((status = 200, description = "The marks", body = MarksOut), Refusals))]
pub async fn marks(
    caller: Caller,
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<MarksOut>, ApiError> {
    no_more(&query_pairs(&raw)?)?;
    let tenant = caller.tenant.clone();
    let list = state.stores.run(move |s| s.anomaly_feedback(&tenant)).await?;
    Ok(Json(marks_out(list, false)))
}

/// Checks a series as marks and reported anomalies name it: 1 to 500 characters without NUL
/// (else 400: PostgreSQL text holds no NUL), and `total` or `DIMENSION=VALUE` (else 422).
fn check_series(series: &str) -> Result<(), ApiError> {
    if series.is_empty() || series.contains('\0') || series.chars().count() > 500 {
        return Err(ApiError::bad_request("series: 1 to 500 characters, no NUL"));
    }
    if series != "total" && !series.contains('=') {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "series: total, or DIMENSION=VALUE"));
    }
    Ok(())
}

fn check_mark(m: &MarkIn) -> Result<(NaiveDate, NaiveDate), ApiError> {
    if m.note.contains('\0') || m.note.chars().count() > 500 {
        return Err(ApiError::bad_request("note: at most 500 characters, no NUL"));
    }
    let from = super::date("from", &m.from)?;
    let to = super::date("to", &m.to)?;
    check_series(&m.series)?;
    if to < from || (to - from).num_days() > 366 {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "from must not come after to; at most 366 days"));
    }
    Ok((from, to))
}

/// Which way a mark changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MarkChange {
    /// Mark the days as expected.
    Make,
    /// Take the mark back.
    TakeBack,
}

/// Makes or takes back the mark `m` for `tenant` (by `actor`); the marks after it. Shared by the
/// API and the dashboard's forms; the caller has checked the role.
pub(crate) async fn change_mark(
    state: &AppState,
    tenant: valdrix_core::TenantId,
    actor: String,
    m: MarkIn,
    change: MarkChange,
) -> Result<MarksOut, ApiError> {
    let (from, to) = check_mark(&m)?;
    let mark = AnomalyFeedback {
        series: m.series,
        first_day: from.to_string(),
        last_day: to.to_string(),
        created_at: String::new(),
        created_by: actor,
        note: m.note,
    };
    let (changed, list) = state
        .stores
        .run(move |s| {
            let changed = match change {
                MarkChange::Make => s.mark_anomaly_expected(&tenant, &mark)?,
                MarkChange::TakeBack => {
                    s.unmark_anomaly_expected(&tenant, &mark.series, &mark.first_day, &mark.last_day)?
                }
            };
            Ok((changed, s.anomaly_feedback(&tenant)?))
        })
        .await?;
    Ok(marks_out(list, changed))
}

/// Marks days of a series as expected (analyst): they are never reported again and never
/// trained on.
#[utoipa::path(post, path = "/api/v1/anomalies/marks", tag = "forecasts", request_body = MarkIn,
    security(("api_key" = [])),
    responses((status = 200, description = "Marked (or already marked)", body = MarksOut), Refusals, Forbidden, NotJson, Unusable))]
pub async fn mark(
    caller: Caller,
    State(state): State<AppState>,
    body: Result<Json<MarkIn>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<MarksOut>, ApiError> {
    caller.require(Role::Analyst)?;
    let m = json_body(body)?;
    let actor = format!("key:{}", caller.key_id);
    Ok(Json(change_mark(&state, caller.tenant.clone(), actor, m, MarkChange::Make).await?))
}

/// Takes a mark back (analyst).
#[utoipa::path(delete, path = "/api/v1/anomalies/marks", tag = "forecasts", request_body = MarkIn,
    security(("api_key" = [])),
    responses((status = 200, description = "Taken back (or there was none)", body = MarksOut), Refusals, Forbidden, NotJson, Unusable))]
pub async fn unmark(
    caller: Caller,
    State(state): State<AppState>,
    body: Result<Json<MarkIn>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<MarksOut>, ApiError> {
    caller.require(Role::Analyst)?;
    let m = json_body(body)?;
    let actor = format!("key:{}", caller.key_id);
    Ok(Json(change_mark(&state, caller.tenant.clone(), actor, m, MarkChange::TakeBack).await?))
}

/// An anomaly monitor's settings (the parameters of `GET /api/v1/anomalies`); what is left out
/// takes the same default.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MonitorIn {
    /// Monitor each value of this dimension (service, account, region, tag:KEY) apart, as well
    /// as the total; empty or left out: the total alone.
    #[schema(max_length = 200, pattern = r"^[^\x00]*$")]
    #[serde(default)]
    pub by: String,
    /// billed (default), effective, list or contracted.
    #[schema(pattern = "^(billed|effective|list|contracted)$")]
    #[serde(default)]
    pub metric: Option<String>,
    /// Values of `by` monitored apart, the largest first (0: all; default 10).
    #[schema(minimum = 0, maximum = 100)]
    #[serde(default)]
    pub top: Option<u32>,
    /// The smallest daily impact that counts, in the currency (default 100).
    #[schema(minimum = 0)]
    #[serde(default)]
    pub min_impact: Option<f64>,
    /// The smallest daily impact that counts, in percent of the expected value (default 10).
    #[schema(minimum = 0)]
    #[serde(default)]
    pub min_percent: Option<f64>,
    /// The interval a day must leave, in percent (default 95).
    #[schema(exclusive_minimum = 0, exclusive_maximum = 100)]
    #[serde(default)]
    pub level: Option<f64>,
    /// up (default), down or both.
    #[schema(pattern = "^(up|down|both)$")]
    #[serde(default)]
    pub direction: Option<String>,
}

/// A kept anomaly monitor.
#[derive(Debug, Serialize, ToSchema)]
pub struct MonitorOut {
    /// Its name.
    pub name: String,
    /// The dimension monitored apart (empty: the total alone).
    pub by: String,
    /// The amount.
    pub metric: String,
    /// Values of `by` monitored apart.
    pub top: u32,
    /// The money floor, as given.
    pub min_impact: String,
    /// The percentage, as given.
    pub min_percent: String,
    /// The interval level in percent, as given.
    pub level: String,
    /// up, down or both.
    pub direction: String,
    /// When it was last saved (RFC 3339).
    pub updated_at: String,
    /// By whom (`key:ID` for an API key).
    pub updated_by: String,
}

impl From<AnomalyMonitor> for MonitorOut {
    fn from(m: AnomalyMonitor) -> Self {
        MonitorOut {
            name: m.name,
            by: m.by,
            metric: m.metric,
            top: m.top,
            min_impact: m.min_impact,
            min_percent: m.min_percent,
            level: m.level,
            direction: m.direction,
            updated_at: m.updated_at,
            updated_by: m.updated_by,
        }
    }
}

/// The kept anomaly monitors.
#[derive(Debug, Serialize, ToSchema)]
pub struct MonitorsOut {
    /// By name.
    pub monitors: Vec<MonitorOut>,
}

/// The kept anomaly monitors: what is checked for anomalies and how, under a name
/// (`GET /api/v1/anomalies?monitor=NAME` checks with one).
#[utoipa::path(get, path = "/api/v1/anomalies/monitors", tag = "forecasts", security(("api_key" = [])),
    responses((status = 200, description = "The monitors", body = MonitorsOut), Refusals))]
pub async fn monitors(
    caller: Caller,
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<MonitorsOut>, ApiError> {
    no_more(&query_pairs(&raw)?)?;
    let tenant = caller.tenant.clone();
    let list = state.stores.run(move |s| s.anomaly_monitors(&tenant)).await?;
    Ok(Json(MonitorsOut { monitors: list.into_iter().map(MonitorOut::from).collect() }))
}

/// Keeps an anomaly monitor under `name` (analyst), replacing one of the same name.
#[utoipa::path(put, path = "/api/v1/anomalies/monitors/{name}", tag = "forecasts", request_body = MonitorIn,
    params(("name" = String, Path, description = "The monitor's name: 1 to 100 letters, digits, '-', '_' or '.'",
        pattern = r"^[A-Za-z0-9._-]{1,100}$")),
    security(("api_key" = [])),
    responses((status = 201, description = "Kept (new)", body = MonitorOut),
        (status = 200, description = "Replaced", body = MonitorOut), Refusals, Forbidden, NotJson, Unusable))]
pub async fn save_monitor(
    caller: Caller,
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Result<Json<MonitorIn>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<MonitorOut>), ApiError> {
    caller.require(Role::Analyst)?;
    let m = json_body(body)?;
    // What is left out takes the defaults, as on `GET /api/v1/anomalies`.
    let defaults = monitor::with_defaults(&name, &format!("key:{}", caller.key_id));
    let monitor = AnomalyMonitor {
        by: m.by.trim().to_string(),
        metric: m.metric.unwrap_or(defaults.metric.clone()),
        top: m.top.unwrap_or(defaults.top),
        min_impact: m.min_impact.map_or(defaults.min_impact.clone(), |v| v.to_string()),
        min_percent: m.min_percent.map_or(defaults.min_percent.clone(), |v| v.to_string()),
        level: m.level.map_or(defaults.level.clone(), |v| v.to_string()),
        direction: m.direction.unwrap_or(defaults.direction.clone()),
        ..defaults
    };
    monitor::check(&monitor).map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    let tenant = caller.tenant.clone();
    let name = monitor.name.clone();
    let (created, kept) = state
        .stores
        .run(move |s| {
            let created = s.save_anomaly_monitor(&tenant, &monitor)?;
            Ok((created, s.anomaly_monitor(&tenant, &monitor.name)?))
        })
        .await?;
    let kept = kept.ok_or_else(|| ApiError::not_found(format!("monitor {name:?} was deleted as it was saved")))?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(kept.into())))
}

/// Deletes an anomaly monitor (analyst).
#[utoipa::path(delete, path = "/api/v1/anomalies/monitors/{name}", tag = "forecasts",
    params(("name" = String, Path, description = "The monitor's name")),
    security(("api_key" = [])),
    responses((status = 204, description = "Deleted"), Refusals, Forbidden, NotFound))]
pub async fn delete_monitor(
    caller: Caller,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Analyst)?;
    let tenant = caller.tenant.clone();
    let n = name.clone();
    if state.stores.run(move |s| s.delete_anomaly_monitor(&tenant, &n)).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("no monitor {name:?}")))
    }
}

/// An anomaly a monitor passed on, named as `GET /api/v1/anomalies` names it: by series,
/// currency and first day. Other fields are ignored, so the anomalies can be posted back as they
/// came.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ReportedAnomaly {
    /// The series: `total`, or `DIMENSION=VALUE`.
    #[schema(min_length = 1, max_length = 500, pattern = r"^[^\x00]*$")]
    pub series: String,
    /// The currency.
    #[schema(min_length = 1, max_length = 16, pattern = r"^[^\x00]*$")]
    pub currency: String,
    /// The anomaly's first day (YYYY-MM-DD).
    #[schema(format = Date)]
    pub start: String,
}

/// Anomalies a monitor has passed on.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportedIn {
    /// At most 1,000.
    #[schema(max_items = 1000)]
    pub anomalies: Vec<ReportedAnomaly>,
}

/// What recording reported anomalies changed.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportedOut {
    /// Anomalies recorded now.
    pub recorded: usize,
    /// Anomalies the monitor had reported already.
    pub already: usize,
}

/// Records that the monitor `name` has passed these anomalies on (analyst):
/// `GET /api/v1/anomalies?monitor=NAME&new=true` leaves them out from then on. An anomaly is
/// named by series, currency and first day, so one that grows a day longer stays reported.
/// Deleting the monitor forgets what it reported.
#[utoipa::path(post, path = "/api/v1/anomalies/monitors/{name}/reported", tag = "forecasts",
    request_body = ReportedIn,
    params(("name" = String, Path, description = "The monitor's name")),
    security(("api_key" = [])),
    responses((status = 200, description = "Recorded (or recorded already)", body = ReportedOut), Refusals, Forbidden,
        NotFound, NotJson, Unusable))]
pub async fn report_anomalies(
    caller: Caller,
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Result<Json<ReportedIn>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<ReportedOut>, ApiError> {
    caller.require(Role::Analyst)?;
    let body = json_body(body)?;
    if body.anomalies.len() > 1000 {
        return Err(ApiError::bad_request("at most 1,000 anomalies"));
    }
    let mut reports = Vec::with_capacity(body.anomalies.len());
    for a in body.anomalies {
        if a.currency.is_empty() || a.currency.contains('\0') || a.currency.chars().count() > 16 {
            return Err(ApiError::bad_request("currency: 1 to 16 characters, no NUL"));
        }
        check_series(&a.series)?;
        let start = super::date("start", &a.start)?;
        reports.push(AnomalyReport { series: a.series, currency: a.currency, first_day: start.to_string() });
    }
    let tenant = caller.tenant.clone();
    let fresh = state
        .stores
        .run(move |s| {
            if s.anomaly_monitor(&tenant, &name)?.is_none() {
                return Ok(Err(ApiError::not_found(format!("no monitor {name:?}"))));
            }
            Ok(Ok(s.report_anomalies(&tenant, &name, &reports)?))
        })
        .await??;
    let recorded = fresh.iter().filter(|f| **f).count();
    Ok(Json(ReportedOut { recorded, already: fresh.len() - recorded }))
}
