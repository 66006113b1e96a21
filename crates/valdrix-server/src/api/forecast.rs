//! Forecasts over HTTP: the tenant's spend forecast (total and per value of a dimension, daily
//! or by month) and kept forecasts against what happened; the same calls as `valdrix forecast`
//! (valdrix-analytics' `spend`). Anomalies and monitors are their own modules.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use valdrix_analytics::forecast::{Options, MAX_HORIZON};
use valdrix_analytics::spend::{self, Horizon, SpendQuery};
use valdrix_store::{Dimension, Metric};

use super::{apart, no_more, query_pairs, take, NotFound, Refusals, Unusable};
use crate::{ApiError, AppState, Caller};

pub(crate) fn bad(name: &str, v: &str, what: &str) -> ApiError {
    ApiError::bad_request(format!("{name}={v:?}: {what}"))
}

pub(crate) fn whole(name: &str, v: &str, lo: usize, hi: usize) -> Result<usize, ApiError> {
    v.parse().ok().filter(|n| (lo..=hi).contains(n)).ok_or_else(|| bad(name, v, &format!("{lo} to {hi}")))
}

/// Takes `by`, `metric` and `top` out of `pairs`.
pub(crate) fn spend_query(pairs: &mut Vec<(String, String)>) -> Result<SpendQuery, ApiError> {
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
