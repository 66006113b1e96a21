//! Forecasts as they were made and anomalies marked as expected, as the store keeps them. The
//! forecast days and scores are JSON written and read by valdrix-analytics; the store holds
//! them as made.

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
