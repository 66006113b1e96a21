//! Forecasts over HTTP: the tenant's spend forecast (total and per value of a dimension, daily
//! or by month) and kept forecasts against what happened; the same calls as `valdrix forecast`
//! (valdrix-analytics' `spend`). Anomalies and monitors are their own modules.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use valdrix_analytics::forecast::{Options, MAX_HORIZON};
use valdrix_analytics::spend::{self, Horizon, SpendQuery};
use valdrix_store::{Dimension, Metric};

use super::params::{self, And, Count, PageSize};
use super::{apart, NotFound, Params, Refusals, Unusable};
use crate::{ApiError, AppState, Caller};

/// What spend a forecast or an anomaly check is of: the total, or each value of a dimension.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SpendParams {
    /// One series per value of this dimension besides the total (service, account, region,
    /// tag:KEY, ...; empty: the total only).
    #[serde(default, deserialize_with = "params::one")]
    by: Option<String>,
    /// Values of `by` kept apart, the largest first; the rest are one `(other)` (0: all).
    #[serde(default, deserialize_with = "params::one")]
    #[param(value_type = Option<u32>, minimum = 0, maximum = 100)]
    top: Option<Count<0, 100>>,
    /// billed (default), effective, list or contracted.
    #[serde(default, deserialize_with = "params::one")]
    #[param(value_type = Option<super::MetricName>)]
    metric: Option<Metric>,
}

impl SpendParams {
    /// The spend asked for. Any text is a well-formed `by`; one that names no dimension cannot
    /// be used (422).
    pub(crate) fn query(self) -> Result<SpendQuery, ApiError> {
        let by = match self.by.as_deref().map(str::trim).filter(|b| !b.is_empty()) {
            None => None,
            Some(b) => Some(Dimension::parse(b).ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("by={b:?}: not a dimension (service, account, region, usage-type, tag:KEY, ...)"),
                )
            })?),
        };
        Ok(SpendQuery {
            by,
            top: Count::or(self.top, 10),
            metric: self.metric.unwrap_or_default(),
            ..Default::default()
        })
    }

    /// The first parameter given, if any (a kept monitor's own settings refuse them).
    pub(crate) fn given(&self) -> Option<&'static str> {
        [("by", self.by.is_some()), ("metric", self.metric.is_some()), ("top", self.top.is_some())]
            .into_iter()
            .find_map(|(name, given)| given.then_some(name))
    }
}

/// How far ahead a forecast looks.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AheadParams {
    /// Days ahead (1 to 400; default 30).
    #[serde(default, deserialize_with = "params::one")]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 400)]
    horizon: Option<Count<1, MAX_HORIZON>>,
    /// Instead of `horizon`: the rest of this month and the next N (1 to 12), for `monthly`.
    #[serde(default, deserialize_with = "params::one")]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 12)]
    months: Option<Count<1, 12>>,
    /// Interval levels in percent, comma-separated (default `80,95`).
    #[serde(default, deserialize_with = "params::one")]
    #[param(pattern = r"^[0-9]{1,2}(\.[0-9]+)?(,[0-9]{1,2}(\.[0-9]+)?)*$")]
    levels: Option<String>,
}

/// Parameters of `GET /api/v1/forecast`.
pub type ForecastParams = And<SpendParams, AheadParams>;

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
    params: Params<ForecastParams>,
) -> Result<Json<ForecastOut>, ApiError> {
    let And(spend_of, ahead) = params.into_inner()?;
    let q = spend_of.query()?;
    let horizon = ahead.horizon.map(|h| h.0);
    let months = ahead.months.map(|m| m.0 as u32);
    let levels = match &ahead.levels {
        None => vec![0.8, 0.95],
        Some(v) => v
            .split(',')
            .map(|p| p.trim().parse::<f64>().ok().filter(|p| *p > 0.0 && *p < 100.0).map(|p| p / 100.0))
            .collect::<Option<Vec<f64>>>()
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("levels={v:?}: percentages between 0 and 100 (exclusive), comma-separated"),
                )
            })?,
    };
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
pub struct TrackedParams {
    /// How many kept forecasts, newest first (1 to 500; default 20).
    #[serde(default, deserialize_with = "params::one")]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    limit: Option<PageSize>,
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
    params: Params<TrackedParams>,
) -> Result<Json<TrackedOut>, ApiError> {
    let limit = PageSize::or(params.into_inner()?.limit, 20);
    let (tenant, policy) = (caller.tenant.clone(), state.policy.clone());
    let out = state.stores.run(move |s| apart(spend::track(s, &tenant, limit, Utc::now(), &policy))).await??;
    Ok(Json(TrackedOut { forecasts: serde_json::to_value(&out).unwrap_or_default() }))
}
