//! Forecasts and anomaly detection over a tenant's stored spend, for the CLI and the server.
//!
//! Spend is read as daily totals of final days only (`Store::final_daily_costs`): a forecast
//! never learns from a preliminary figure that a later delivery may restate. Each currency is
//! its own series: amounts are never added across currencies. Days without spend inside the
//! range are zeros, not gaps.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rust_decimal::prelude::ToPrimitive;

use valdrix_core::TenantId;
use valdrix_store::{CostQuery, Dimension, Filter, Metric, Store, StoreError, TrustPolicy};

use crate::anomaly::{self, contributions, Anomaly, Contribution, DetectError, Thresholds};
use crate::forecast::{self, DailySeries, Forecast, ForecastError, Interval, Options, Point};

/// The name of the category that holds every value past the largest ones.
pub const OTHER: &str = "(other)";
/// The dimensions an anomaly's root cause is looked for in.
pub const ROOT_CAUSE_DIMENSIONS: [Dimension; 4] =
    [Dimension::Service, Dimension::SubAccount, Dimension::Region, Dimension::UsageType];
/// Contributions kept per dimension.
const ROOT_CAUSES_PER_DIMENSION: usize = 3;

/// Spend forecasting or detection that cannot go ahead.
#[derive(Debug, thiserror::Error)]
pub enum SpendError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No final day of spend matches.
    #[error("no final days of spend match (days become final 48 hours after they end, or when their period closes)")]
    NoSpend,
    /// The forecast options are wrong.
    #[error(transparent)]
    Forecast(#[from] ForecastError),
    /// The detection settings are wrong.
    #[error(transparent)]
    Detect(#[from] DetectError),
}

/// Which spend to read.
#[derive(Debug, Clone, Default)]
pub struct SpendQuery {
    /// Split into one series per value of this dimension (none: the total only).
    pub by: Option<Dimension>,
    /// The amount.
    pub metric: Metric,
    /// Only spend matching these.
    pub filters: Vec<Filter>,
    /// The first day read (none: all history).
    pub from: Option<NaiveDate>,
    /// Values kept apart, the largest by the last 28 days' spend; the rest are one `(other)`
    /// series. 0: all.
    pub top: usize,
}

/// One daily series of stored spend.
#[derive(Debug, Clone, PartialEq)]
pub struct SpendSeries {
    /// The dimension value (none: the total).
    pub key: Option<String>,
    /// The currency.
    pub currency: String,
    /// One value per day.
    pub series: DailySeries,
}

/// Daily spend per currency: the total and, when split, one series per value.
#[derive(Debug, Clone, PartialEq)]
pub struct CurrencySpend {
    /// The currency.
    pub currency: String,
    /// The total.
    pub total: SpendSeries,
    /// Each value (empty when not split), largest first, `(other)` last.
    pub categories: Vec<SpendSeries>,
}

/// Reads the final daily spend.
pub fn daily_spend(
    store: &dyn Store,
    tenant: &TenantId,
    q: &SpendQuery,
    now: DateTime<Utc>,
    policy: &TrustPolicy,
) -> Result<Vec<CurrencySpend>, SpendError> {
    let query = CostQuery {
        group_by: std::iter::once(Dimension::Day).chain(q.by.clone()).collect(),
        metric: q.metric,
        from: q.from,
        to: None,
        filters: q.filters.clone(),
    };
    let rows = store.final_daily_costs(tenant, &query, now, policy)?;
    let day_of = |k: &Option<String>| k.as_deref().and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
    let days: Vec<NaiveDate> = rows.iter().filter_map(|r| day_of(&r.keys[0])).collect();
    let (Some(&first), Some(&last)) = (days.iter().min(), days.iter().max()) else {
        return Err(SpendError::NoSpend);
    };
    let len = (last - first).num_days() as usize + 1;
    // currency → value → daily amounts
    let mut by_currency: BTreeMap<String, BTreeMap<Option<String>, Vec<f64>>> = BTreeMap::new();
    for r in &rows {
        let Some(day) = day_of(&r.keys[0]) else { continue };
        let key = if q.by.is_some() { Some(r.keys.get(1).cloned().flatten().unwrap_or_default()) } else { None };
        let daily = by_currency.entry(r.currency.clone()).or_default().entry(key).or_insert_with(|| vec![0.0; len]);
        daily[(day - first).num_days() as usize] += r.amount.to_f64().unwrap_or(0.0);
    }
    let series = |key: Option<String>, currency: &str, values: Vec<f64>| SpendSeries {
        key,
        currency: currency.to_string(),
        series: DailySeries { start: first, values: values.into_iter().map(Some).collect() },
    };
    let mut out = Vec::new();
    for (currency, values) in by_currency {
        let mut total = vec![0.0; len];
        for daily in values.values() {
            for (t, v) in total.iter_mut().zip(daily) {
                *t += v;
            }
        }
        let mut categories = Vec::new();
        if q.by.is_some() {
            let recent = |d: &Vec<f64>| d[len.saturating_sub(28)..].iter().sum::<f64>();
            let mut ranked: Vec<(Option<String>, Vec<f64>)> = values.into_iter().collect();
            ranked.sort_by(|a, b| recent(&b.1).total_cmp(&recent(&a.1)).then_with(|| a.0.cmp(&b.0)));
            let keep = if q.top == 0 { ranked.len() } else { q.top.min(ranked.len()) };
            let rest = ranked.split_off(keep);
            categories = ranked.into_iter().map(|(k, d)| series(k, &currency, d)).collect();
            if !rest.is_empty() {
                let mut other = vec![0.0; len];
                for (_, d) in &rest {
                    for (o, v) in other.iter_mut().zip(d) {
                        *o += v;
                    }
                }
                categories.push(series(Some(OTHER.to_string()), &currency, other));
            }
        }
        out.push(CurrencySpend { total: series(None, &currency, total), currency, categories });
    }
    Ok(out)
}

/// A value's forecast, or why there is none.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CategoryForecast {
    /// The dimension value.
    pub key: String,
    /// The forecast (none when the value's history was too short; its recent average is then
    /// carried forward in the total).
    pub forecast: Option<Forecast>,
    /// Why there is no forecast.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A currency's forecast: the total and each value.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CurrencyForecast {
    /// The currency.
    pub currency: String,
    /// The total. When split, each day's forecast is the sum of the values' forecasts, and its
    /// intervals are the total's own (from the total's backtest, scaled to that sum): errors
    /// of the values partly cancel, so adding their bounds would overstate the uncertainty.
    pub total: Forecast,
    /// Each value, largest first.
    pub categories: Vec<CategoryForecast>,
}

/// Forecasts the stored spend: per currency, the total and (when split) each value.
pub fn forecast_spend(
    store: &dyn Store,
    tenant: &TenantId,
    q: &SpendQuery,
    opts: &Options,
    now: DateTime<Utc>,
    policy: &TrustPolicy,
) -> Result<Vec<CurrencyForecast>, SpendError> {
    let spend = daily_spend(store, tenant, q, now, policy)?;
    let mut out = Vec::new();
    for c in spend {
        let mut total = forecast::forecast(&c.total.series, opts)?;
        let forecasts = parallel_map(&c.categories, |s| forecast::forecast(&s.series, opts));
        let mut categories = Vec::new();
        if !c.categories.is_empty() {
            let mut sum = vec![0.0; opts.horizon];
            for (s, f) in c.categories.iter().zip(forecasts) {
                let key = s.key.clone().unwrap_or_default();
                match f {
                    Ok(f) => {
                        for (acc, p) in sum.iter_mut().zip(&f.points) {
                            *acc += p.yhat;
                        }
                        categories.push(CategoryForecast { key, forecast: Some(f), error: None });
                    }
                    Err(e) => {
                        let carried = recent_mean(&s.series);
                        for acc in &mut sum {
                            *acc += carried;
                        }
                        categories.push(CategoryForecast { key, forecast: None, error: Some(e.to_string()) });
                    }
                }
            }
            rescale(&mut total.points, &sum);
        }
        out.push(CurrencyForecast { currency: c.currency, total, categories });
    }
    Ok(out)
}

/// Moves each point to `sums`, keeping its intervals' proportions to the point (or their
/// distances, around a point of zero).
fn rescale(points: &mut [Point], sums: &[f64]) {
    for (p, &s) in points.iter_mut().zip(sums) {
        let old = p.yhat;
        p.intervals = p
            .intervals
            .iter()
            .map(|i| {
                if old > 0.0 {
                    Interval { level: i.level, lo: i.lo / old * s, hi: i.hi / old * s }
                } else {
                    Interval { level: i.level, lo: (i.lo - old + s).max(0.0), hi: i.hi - old + s }
                }
            })
            .collect();
        p.yhat = s;
    }
}

/// The mean of the last seven days with a value.
fn recent_mean(s: &DailySeries) -> f64 {
    let recent: Vec<f64> = s.values.iter().rev().flatten().take(7).copied().collect();
    if recent.is_empty() {
        0.0
    } else {
        recent.iter().sum::<f64>() / recent.len() as f64
    }
}

/// `f` over `items` on every core, results in order.
fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(items.len().max(1));
    let chunk = items.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> =
            items.chunks(chunk).map(|part| scope.spawn(|| part.iter().map(&f).collect::<Vec<R>>())).collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
    })
}

/// An anomaly in stored spend, with where it came from.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SpendAnomaly {
    /// The monitored value (none: the total).
    pub key: Option<String>,
    /// The currency.
    pub currency: String,
    /// The anomaly.
    #[serde(flatten)]
    pub anomaly: Anomaly,
    /// The values behind it, per dimension, the largest increases first.
    pub root_causes: Vec<Contribution>,
}

/// What to check, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckOptions {
    /// The first day checked.
    pub from: NaiveDate,
    /// The monitor's thresholds.
    pub thresholds: Thresholds,
    /// Days a person marked as expected.
    pub expected: Vec<NaiveDate>,
}

/// Checks stored spend day by day from `check.from`: the total, or each value of `q.by`;
/// anomalies with their root causes, the most costly first.
pub fn detect_spend(
    store: &dyn Store,
    tenant: &TenantId,
    q: &SpendQuery,
    check: &CheckOptions,
    now: DateTime<Utc>,
    policy: &TrustPolicy,
) -> Result<Vec<SpendAnomaly>, SpendError> {
    let spend = daily_spend(store, tenant, q, now, policy)?;
    let monitored: Vec<&SpendSeries> = spend
        .iter()
        .flat_map(|c| if c.categories.is_empty() { vec![&c.total] } else { c.categories.iter().collect() })
        .collect();
    let found =
        parallel_map(&monitored, |s| anomaly::detect(&s.series, check.from, &check.thresholds, &check.expected));
    let mut out = Vec::new();
    for (s, d) in monitored.iter().zip(found) {
        let d = match d {
            Ok(d) => d,
            // A value too young to judge is not an error of the whole run.
            Err(DetectError::TooShort { .. }) if q.by.is_some() => continue,
            Err(e) => return Err(e.into()),
        };
        for a in d.anomalies {
            let root_causes = root_causes(store, tenant, q, s, &a, now, policy)?;
            out.push(SpendAnomaly { key: s.key.clone(), currency: s.currency.clone(), anomaly: a, root_causes });
        }
    }
    out.sort_by(|a, b| b.anomaly.impact.abs().total_cmp(&a.anomaly.impact.abs()));
    Ok(out)
}

/// Weeks of history read before an anomaly for its root causes' baselines.
const BASELINE_DAYS: i64 = 35;

fn root_causes(
    store: &dyn Store,
    tenant: &TenantId,
    q: &SpendQuery,
    s: &SpendSeries,
    a: &Anomaly,
    now: DateTime<Utc>,
    policy: &TrustPolicy,
) -> Result<Vec<Contribution>, SpendError> {
    let start = a.start - Duration::days(BASELINE_DAYS);
    let mut filters = q.filters.clone();
    filters.push(Filter { dimension: Dimension::Currency, values: vec![s.currency.clone()] });
    if let (Some(by), Some(key)) = (&q.by, &s.key) {
        if key != OTHER {
            filters.push(Filter { dimension: by.clone(), values: vec![key.clone()] });
        }
    }
    let mut out = Vec::new();
    for dim in ROOT_CAUSE_DIMENSIONS.iter().filter(|d| Some(*d) != q.by.as_ref()) {
        let query = CostQuery {
            group_by: vec![Dimension::Day, dim.clone()],
            metric: q.metric,
            from: Some(start),
            to: Some(a.end + Duration::days(1)),
            filters: filters.clone(),
        };
        let rows = store.final_daily_costs(tenant, &query, now, policy)?;
        let len = (a.end - start).num_days() as usize + 1;
        let mut values: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for r in rows {
            let Some(day) = r.keys[0].as_deref().and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()) else {
                continue;
            };
            let i = (day - start).num_days();
            if !(0..len as i64).contains(&i) {
                continue;
            }
            let daily = values.entry(r.keys[1].clone().unwrap_or_default()).or_insert_with(|| vec![0.0; len]);
            daily[i as usize] += r.amount.to_f64().unwrap_or(0.0);
        }
        let values: Vec<(String, Vec<f64>)> = values.into_iter().collect();
        let first = (a.start - start).num_days() as usize;
        let label = dim.label();
        let increases = a.impact >= 0.0;
        let mut c = contributions(&label, &values, first, len - 1);
        if !increases {
            c.reverse();
        }
        out.extend(
            c.into_iter()
                .filter(|c| if increases { c.delta > 0.0 } else { c.delta < 0.0 })
                .take(ROOT_CAUSES_PER_DIMENSION),
        );
    }
    Ok(out)
}
