//! Anomalies over HTTP: days whose spend left the forecast's band, merged into anomalies with
//! their root causes, and the marks of days a person said were expected (`valdrix anomalies`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use valdrix_analytics::anomaly::Thresholds;
use valdrix_analytics::monitor;
use valdrix_analytics::spend::{self, CheckOptions, SpendQuery};
use valdrix_store::forecasts::AnomalyFeedback;
use valdrix_store::keys::Role;

use super::params::{self, And};
use super::{apart, Forbidden, NoParams, NotFound, NotJson, Params, Refusals, Unusable};
use crate::{ApiError, AppState, Caller};

use super::forecast::SpendParams;

/// How an anomaly check judges a day, and from which day.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CheckParams {
    /// The first day checked (default: 90 days before the last final day).
    #[serde(default, deserialize_with = "params::one")]
    #[param(value_type = Option<String>, format = Date)]
    from: Option<NaiveDate>,
    /// The smallest daily impact that counts, in the currency (default 100).
    #[serde(default, deserialize_with = "params::one")]
    #[param(value_type = Option<f64>, minimum = 0)]
    min_impact: Option<String>,
    /// The smallest daily impact that counts, in percent of the expected value (default 10).
    #[serde(default, deserialize_with = "params::one")]
    #[param(value_type = Option<f64>, minimum = 0)]
    min_percent: Option<String>,
    /// The interval a day must leave, in percent (default 95).
    #[serde(default, deserialize_with = "params::one")]
    #[param(value_type = Option<f64>, exclusive_minimum = 0, exclusive_maximum = 100)]
    level: Option<String>,
    /// up (default), down or both.
    #[serde(default, deserialize_with = "params::one")]
    #[param(pattern = "^(up|down|both)$")]
    direction: Option<String>,
}

impl CheckParams {
    /// The thresholds given (text, as [`Thresholds::set`] reads it), by name.
    fn thresholds(&self) -> [(&'static str, Option<&str>); 4] {
        [
            ("min_impact", self.min_impact.as_deref()),
            ("min_percent", self.min_percent.as_deref()),
            ("level", self.level.as_deref()),
            ("direction", self.direction.as_deref()),
        ]
    }
}

/// What to check and how: the API's and the dashboard's anomaly parameters.
pub type AnomalyCheck = And<SpendParams, CheckParams>;

/// The spend and the options of a check.
pub(crate) fn anomaly_query(And(spend_of, check): AnomalyCheck) -> Result<(SpendQuery, CheckOptions), ApiError> {
    let q = spend_of.query()?;
    let mut thresholds = Thresholds::default();
    for (name, text) in check.thresholds() {
        if let Some(text) = text {
            thresholds.set(name, text).map_err(|e| params::refused(&e.field, &e.text, e.expected))?;
        }
    }
    Ok((q, CheckOptions::new(check.from, thresholds)))
}

/// A kept monitor to check with instead.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MonitorParams {
    /// Check with a kept monitor's settings (`/api/v1/anomalies/monitors`) instead: only `from`
    /// and `new` may be given with it.
    #[serde(default, deserialize_with = "params::one")]
    #[param(pattern = r"^[A-Za-z0-9._-]{1,100}$")]
    monitor: Option<String>,
    /// With `monitor`: only the anomalies it has not reported yet. `POST
    /// /api/v1/anomalies/monitors/{name}/reported` records them once they have been passed on
    /// (an alerting job's daily poll).
    #[serde(default, deserialize_with = "params::one")]
    #[param(value_type = Option<bool>)]
    new: Option<bool>,
}

/// Parameters of `GET /api/v1/anomalies`.
pub type AnomaliesParams = And<AnomalyCheck, MonitorParams>;

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
    params: Params<AnomaliesParams>,
) -> Result<Json<AnomaliesOut>, ApiError> {
    let And(check, MonitorParams { monitor, new }) = params.into_inner()?;
    if new.is_some() && monitor.is_none() {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "new: only with monitor"));
    }
    let new = new.unwrap_or(false);
    let (tenant, policy) = (caller.tenant.clone(), state.policy.clone());
    let found = match monitor {
        Some(name) => {
            // A kept monitor says what to check and how; only the first day may be given.
            let And(spend_of, how) = check;
            let own = spend_of.given().or(how.thresholds().into_iter().find_map(|(k, v)| v.map(|_| k)));
            if let Some(k) = own {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("{k}: a monitor's own settings are used; only from and new may be given"),
                ));
            }
            let from = how.from;
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
            let (q, check) = anomaly_query(check)?;
            state.stores.run(move |s| apart(spend::detect_spend(s, &tenant, &q, &check, Utc::now(), &policy))).await??
        }
    };
    Ok(Json(AnomaliesOut {
        from: found.from.to_string(),
        anomalies: serde_json::to_value(&found.anomalies).unwrap_or_default(),
    }))
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
    params: Params<NoParams>,
) -> Result<Json<MarksOut>, ApiError> {
    params.into_inner()?;
    let tenant = caller.tenant.clone();
    let list = state.stores.run(move |s| s.anomaly_feedback(&tenant)).await?;
    Ok(Json(marks_out(list, false)))
}

/// Checks a series as marks and reported anomalies name it: 1 to 500 characters without NUL
/// (else 400: PostgreSQL text holds no NUL), and `total` or `DIMENSION=VALUE` (else 422).
pub(crate) fn check_series(series: &str) -> Result<(), ApiError> {
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
    let from = params::named::<NaiveDate>("from", &m.from)?;
    let to = params::named::<NaiveDate>("to", &m.to)?;
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
    body: super::JsonBody<MarkIn>,
) -> Result<Json<MarksOut>, ApiError> {
    change_by_key(&state, caller, body, MarkChange::Make).await
}

/// A mark made or taken back with an API key (analyst).
async fn change_by_key(
    state: &AppState,
    caller: Caller,
    body: super::JsonBody<MarkIn>,
    change: MarkChange,
) -> Result<Json<MarksOut>, ApiError> {
    caller.require(Role::Analyst)?;
    let m = body.into_inner()?;
    let actor = format!("key:{}", caller.key_id);
    Ok(Json(change_mark(state, caller.tenant.clone(), actor, m, change).await?))
}

/// Takes a mark back (analyst).
#[utoipa::path(delete, path = "/api/v1/anomalies/marks", tag = "forecasts", request_body = MarkIn,
    security(("api_key" = [])),
    responses((status = 200, description = "Taken back (or there was none)", body = MarksOut), Refusals, Forbidden, NotJson, Unusable))]
pub async fn unmark(
    caller: Caller,
    State(state): State<AppState>,
    body: super::JsonBody<MarkIn>,
) -> Result<Json<MarksOut>, ApiError> {
    change_by_key(&state, caller, body, MarkChange::TakeBack).await
}
