//! Forecasts as they were made and anomalies marked as expected, as the store keeps them. The
//! forecast days and scores are JSON written and read by valdrix-analytics; the store holds
//! them as made.

pub(crate) mod sql;

use serde::Serialize;

/// A forecast to keep.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewForecast {
    /// What was forecast: `total`, or `DIMENSION=VALUE`.
    pub series: String,
    /// The spend query it read (metric and filters), as JSON.
    pub query: String,
    /// The currency.
    pub currency: String,
    /// The model chosen.
    pub model: String,
    /// The last day trained on (`YYYY-MM-DD`).
    pub trained_through: String,
    /// The forecast days, as JSON.
    pub points: String,
    /// The backtest's scores, as JSON (`null` without a backtest).
    pub backtest: String,
}

/// A kept forecast.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredForecast {
    /// Its number, per tenant, in the order they were made.
    pub id: i64,
    /// When it was made (RFC 3339).
    pub created_at: String,
    /// What it was.
    #[serde(flatten)]
    pub forecast: NewForecast,
}

/// Days of a monitored series marked as expected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AnomalyFeedback {
    /// The monitored series: `total`, or `DIMENSION=VALUE`.
    pub series: String,
    /// The first day (`YYYY-MM-DD`).
    pub first_day: String,
    /// The last day.
    pub last_day: String,
    /// When it was marked (RFC 3339; empty when marking).
    pub created_at: String,
    /// Who marked it.
    pub created_by: String,
    /// Why.
    pub note: String,
}

/// A named anomaly monitor: what is checked for anomalies and how, kept so that every run
/// checks the same. The parameters are those of `valdrix anomalies` and `GET /api/v1/anomalies`,
/// as text; valdrix-analytics' `spend::Monitor` reads and checks them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AnomalyMonitor {
    /// Its name, unique per tenant.
    pub name: String,
    /// The dimension whose values are monitored apart (`service`, `tag:team`, ...); empty: the
    /// total alone.
    pub by: String,
    /// The amount: `billed`, `effective`, `list` or `contracted`.
    pub metric: String,
    /// Values of `by` kept apart, the largest first (0: all).
    pub top: u32,
    /// The smallest daily impact that counts, in the currency.
    pub min_impact: String,
    /// The smallest daily impact that counts, in percent of the expected value.
    pub min_percent: String,
    /// The interval a day must leave, in percent.
    pub level: String,
    /// `up`, `down` or `both`.
    pub direction: String,
    /// When it was last saved (RFC 3339; empty when saving).
    pub updated_at: String,
    /// Who saved it.
    pub updated_by: String,
}

/// An anomaly as a monitor reports it once: its series, currency and first day.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct AnomalyReport {
    /// The series (`total`, or `DIMENSION=VALUE`).
    pub series: String,
    /// The currency.
    pub currency: String,
    /// The anomaly's first day (`YYYY-MM-DD`).
    pub first_day: String,
}
