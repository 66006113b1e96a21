//! Anomaly monitors over HTTP: kept detection settings that a daily job runs, and the anomalies
//! each has reported (`valdrix anomalies --monitors`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use valdrix_analytics::monitor;
use valdrix_store::forecasts::{AnomalyMonitor, AnomalyReport};
use valdrix_store::keys::Role;

use super::anomalies::check_series;
use super::params;
use super::{Forbidden, NoParams, NotFound, NotJson, Params, Refusals, Unusable};
use crate::{ApiError, AppState, Caller};

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

/// The kept anomaly monitors.
#[derive(Debug, Serialize, ToSchema)]
pub struct MonitorsOut {
    /// By name.
    pub monitors: Vec<AnomalyMonitor>,
}

/// The kept anomaly monitors: what is checked for anomalies and how, under a name
/// (`GET /api/v1/anomalies?monitor=NAME` checks with one).
#[utoipa::path(get, path = "/api/v1/anomalies/monitors", tag = "forecasts", security(("api_key" = [])),
    responses((status = 200, description = "The monitors", body = MonitorsOut), Refusals))]
pub async fn monitors(
    caller: Caller,
    State(state): State<AppState>,
    params: Params<NoParams>,
) -> Result<Json<MonitorsOut>, ApiError> {
    params.into_inner()?;
    let tenant = caller.tenant.clone();
    let list = state.stores.run(move |s| s.anomaly_monitors(&tenant)).await?;
    Ok(Json(MonitorsOut { monitors: list }))
}

/// Keeps an anomaly monitor under `name` (analyst), replacing one of the same name.
#[utoipa::path(put, path = "/api/v1/anomalies/monitors/{name}", tag = "forecasts", request_body = MonitorIn,
    params(("name" = String, Path, description = "The monitor's name: 1 to 100 letters, digits, '-', '_' or '.'",
        pattern = r"^[A-Za-z0-9._-]{1,100}$")),
    security(("api_key" = [])),
    responses((status = 201, description = "Kept (new)", body = AnomalyMonitor),
        (status = 200, description = "Replaced", body = AnomalyMonitor), Refusals, Forbidden, NotJson, Unusable))]
pub async fn save_monitor(
    caller: Caller,
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: super::JsonBody<MonitorIn>,
) -> Result<(StatusCode, Json<AnomalyMonitor>), ApiError> {
    caller.require(Role::Analyst)?;
    let m = body.into_inner()?;
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
    Ok((status, Json(kept)))
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
    body: super::JsonBody<ReportedIn>,
) -> Result<Json<ReportedOut>, ApiError> {
    caller.require(Role::Analyst)?;
    let body = body.into_inner()?;
    if body.anomalies.len() > 1000 {
        return Err(ApiError::bad_request("at most 1,000 anomalies"));
    }
    let mut reports = Vec::with_capacity(body.anomalies.len());
    for a in body.anomalies {
        if a.currency.is_empty() || a.currency.contains('\0') || a.currency.chars().count() > 16 {
            return Err(ApiError::bad_request("currency: 1 to 16 characters, no NUL"));
        }
        check_series(&a.series)?;
        let start = params::named::<chrono::NaiveDate>("start", &a.start)?;
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
