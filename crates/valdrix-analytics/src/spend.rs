//! Forecasts and anomaly detection over a tenant's stored spend, for the CLI and the server.
//!
//! Spend is read as daily totals of final days only (`Store::final_daily_costs`): a forecast
//! never learns from a preliminary figure that a later delivery may restate. Each currency is
//! its own series: amounts are never added across currencies. Days without spend inside the
//! range are zeros, not gaps.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, Utc};
use rust_decimal::prelude::ToPrimitive;

use valdrix_core::TenantId;
use valdrix_store::{CostQuery, Dimension, Filter, Metric, Store, StoreError, TrustPolicy};

use crate::anomaly::{self, contributions, Anomaly, Contribution, DetectError, Thresholds};
use crate::forecast::{self, DailySeries, Forecast, ForecastError, Interval, LevelCoverage, Options, Point};

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
    /// A stored monitor's parameters are wrong.
    #[error(transparent)]
    Monitor(#[from] crate::monitor::MonitorError),
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
    /// What it is called where forecasts and marks are kept: `total`, or `DIMENSION=VALUE`.
    pub name: String,
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
        name: series_name(q.by.as_ref(), key.as_deref()),
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

/// The name a series is kept under: `total`, or `DIMENSION=VALUE` (`service=Amazon EC2`).
pub fn series_name(by: Option<&Dimension>, key: Option<&str>) -> String {
    match (by, key) {
        (Some(d), Some(k)) => format!("{}={k}", d.label()),
        _ => "total".into(),
    }
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

/// How far ahead a forecast of stored spend goes, from the day after the last final day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Horizon {
    /// This many days.
    Days(usize),
    /// The rest of the month of the first forecast day, and this many months after it.
    Months(u32),
}

impl Horizon {
    /// Days from `start` (the first forecast day) that this horizon covers.
    pub fn days_from(self, start: NaiveDate) -> usize {
        match self {
            Horizon::Days(n) => n,
            Horizon::Months(m) => {
                let first = start.with_day(1).unwrap_or(start);
                let end = first.checked_add_months(Months::new(m + 1)).unwrap_or(first);
                (end - start).num_days().max(1) as usize
            }
        }
    }
}

/// The first day after the last final day in `spend` (where a forecast starts; every currency's
/// series shares its days).
pub fn next_day(spend: &[CurrencySpend]) -> Option<NaiveDate> {
    spend.iter().map(|c| c.total.series.end()).max()
}

/// Forecasts the stored spend `horizon` ahead: per currency, the total and (when split) each
/// value. `opts.horizon` is replaced by the horizon's days.
pub fn forecast_spend(
    store: &dyn Store,
    tenant: &TenantId,
    q: &SpendQuery,
    horizon: Horizon,
    opts: &Options,
    now: DateTime<Utc>,
    policy: &TrustPolicy,
) -> Result<Vec<CurrencyForecast>, SpendError> {
    forecast_daily(&daily_spend(store, tenant, q, now, policy)?, horizon, opts)
}

/// Forecasts spend already read by [`daily_spend`] `horizon` ahead (what [`forecast_spend`] does
/// once it has read the store: a caller holding a store connection can give it back first).
pub fn forecast_daily(
    spend: &[CurrencySpend],
    horizon: Horizon,
    opts: &Options,
) -> Result<Vec<CurrencyForecast>, SpendError> {
    let start = next_day(spend).ok_or(SpendError::NoSpend)?;
    let opts = Options { horizon: horizon.days_from(start), ..opts.clone() };
    spend.iter().map(|c| forecast_currency(c, &opts)).collect()
}

/// Forecasts one currency's spend: the total and each value, on every core.
pub fn forecast_currency(c: &CurrencySpend, opts: &Options) -> Result<CurrencyForecast, SpendError> {
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
    Ok(CurrencyForecast { currency: c.currency.clone(), total, categories })
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
    /// The monitored series' name (`total`, `service=...`): what a mark names.
    pub series: String,
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

/// Days checked when no first day is given: this many before the last final day.
pub const DEFAULT_CHECK_DAYS: i64 = 90;

/// What to check, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckOptions {
    /// The first day checked (none: [`DEFAULT_CHECK_DAYS`] before the last final day).
    pub from: Option<NaiveDate>,
    /// The monitor's thresholds.
    pub thresholds: Thresholds,
    /// Days marked as expected for every series (the command line's `--expected`).
    pub expected: Vec<NaiveDate>,
    /// Days marked as expected, by series name (the store's marks).
    pub marked: BTreeMap<String, Vec<NaiveDate>>,
}

impl CheckOptions {
    /// Checking from `from` (none: the default days) with `thresholds`, nothing marked.
    pub fn new(from: Option<NaiveDate>, thresholds: Thresholds) -> CheckOptions {
        CheckOptions { from, thresholds, expected: Vec::new(), marked: BTreeMap::new() }
    }

    /// The days marked as expected for the series `name`.
    fn expected_for(&self, name: &str) -> Vec<NaiveDate> {
        let mut days = self.expected.clone();
        days.extend(self.marked.get(name).into_iter().flatten().copied());
        days
    }
}

/// The first day `check` checks in `spend`.
fn first_checked(spend: &[CurrencySpend], check: &CheckOptions) -> Result<NaiveDate, SpendError> {
    match check.from {
        Some(f) => Ok(f),
        None => Ok(next_day(spend).ok_or(SpendError::NoSpend)? - Duration::days(DEFAULT_CHECK_DAYS)),
    }
}

/// What a check of stored spend found.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Detected {
    /// The first day checked.
    pub from: NaiveDate,
    /// The anomalies, the most costly first.
    pub anomalies: Vec<SpendAnomaly>,
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
) -> Result<Detected, SpendError> {
    let spend = daily_spend(store, tenant, q, now, policy)?;
    let from = first_checked(&spend, check)?;
    let mut check = check.clone();
    for mark in store.anomaly_feedback(tenant)? {
        let (Ok(first), Ok(last)) = (
            NaiveDate::parse_from_str(&mark.first_day, "%Y-%m-%d"),
            NaiveDate::parse_from_str(&mark.last_day, "%Y-%m-%d"),
        ) else {
            continue;
        };
        check.marked.entry(mark.series).or_default().extend(first.iter_days().take_while(|d| *d <= last));
    }
    let mut out = Vec::new();
    for (s, a) in detect_currencies(&spend, &check)? {
        let root_causes = root_causes(store, tenant, q, s, &a, now, policy)?;
        out.push(SpendAnomaly {
            series: s.name.clone(),
            key: s.key.clone(),
            currency: s.currency.clone(),
            anomaly: a,
            root_causes,
        });
    }
    out.sort_by(|a, b| b.anomaly.impact.abs().total_cmp(&a.anomaly.impact.abs()));
    Ok(Detected { from, anomalies: out })
}

/// Checks each monitored series (each value when split, else each currency's total) on every
/// core: the anomalies, with the series each belongs to. A value too young to judge is skipped
/// (when every value is, that is the error).
pub fn detect_currencies<'a>(
    spend: &'a [CurrencySpend],
    check: &CheckOptions,
) -> Result<Vec<(&'a SpendSeries, Anomaly)>, SpendError> {
    let from = first_checked(spend, check)?;
    let monitored: Vec<&SpendSeries> = spend
        .iter()
        .flat_map(|c| if c.categories.is_empty() { vec![&c.total] } else { c.categories.iter().collect() })
        .collect();
    let found =
        parallel_map(&monitored, |s| anomaly::detect(&s.series, from, &check.thresholds, &check.expected_for(&s.name)));
    let mut out = Vec::new();
    let (mut checked, mut too_short) = (0, None);
    for (s, d) in monitored.iter().zip(found) {
        match d {
            Ok(d) => {
                checked += 1;
                out.extend(d.anomalies.into_iter().map(|a| (*s, a)))
            }
            Err(e @ DetectError::TooShort { .. }) if s.key.is_some() => too_short = too_short.or(Some(e)),
            Err(e) => return Err(e.into()),
        }
    }
    // Nothing checked is not "nothing found": say why.
    match too_short {
        Some(e) if checked == 0 => Err(e.into()),
        _ => Ok(out),
    }
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

/// The spend query as kept with a forecast: what `track` reads the actuals by.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct KeptQuery {
    metric: Metric,
    filters: Vec<Filter>,
    by: Option<Dimension>,
}

/// Keeps the forecasts made (each currency's total and each value), to be tracked as days
/// become final; their ids.
pub fn save_forecasts(
    store: &mut dyn Store,
    tenant: &TenantId,
    q: &SpendQuery,
    made: &[CurrencyForecast],
) -> Result<Vec<i64>, SpendError> {
    let query = serde_json::to_string(&KeptQuery { metric: q.metric, filters: q.filters.clone(), by: q.by.clone() })
        .map_err(|e| SpendError::Store(StoreError::Internal(e.to_string())))?;
    let mut keep = Vec::new();
    for c in made {
        let forecasts = std::iter::once((None, &c.total))
            .chain(c.categories.iter().filter_map(|k| k.forecast.as_ref().map(|f| (Some(k.key.as_str()), f))));
        for (key, f) in forecasts {
            keep.push(valdrix_store::forecasts::NewForecast {
                series: series_name(q.by.as_ref(), key),
                query: query.clone(),
                currency: c.currency.clone(),
                model: f.model.to_string(),
                trained_through: f.trained_through.to_string(),
                points: json(&f.points),
                backtest: json(&f.accuracy),
            });
        }
    }
    Ok(store.save_forecasts(tenant, &keep)?)
}

/// JSON text of plain data (which always serialises).
fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// How a kept forecast did on the days that have become final since it was made.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Tracked {
    /// The kept forecast's id.
    pub id: i64,
    /// When it was made.
    pub created_at: String,
    /// What it forecast.
    pub series: String,
    /// The currency.
    pub currency: String,
    /// The model.
    pub model: String,
    /// The last day it trained on.
    pub trained_through: String,
    /// Days it forecast.
    pub horizon: usize,
    /// Of those, the days now final and compared.
    pub days_compared: usize,
    /// What those days' spend was.
    pub actual: f64,
    /// What it forecast for them.
    pub forecast: f64,
    /// Mean absolute percentage error over them (days with spend).
    pub mape: Option<f64>,
    /// How often its intervals held, per level.
    pub coverage: Vec<LevelCoverage>,
    /// What its backtest had promised.
    pub backtest_mape: Option<f64>,
}

/// The kept forecasts (newest first, at most `limit`), each against the days now final.
pub fn track(
    store: &dyn Store,
    tenant: &TenantId,
    limit: usize,
    now: DateTime<Utc>,
    policy: &TrustPolicy,
) -> Result<Vec<Tracked>, SpendError> {
    let bad =
        |e: serde_json::Error| SpendError::Store(StoreError::Internal(format!("a kept forecast does not read: {e}")));
    let final_through = store.freshness(tenant, now, policy)?.final_through;
    let mut out = Vec::new();
    for kept in store.forecasts(tenant, limit)? {
        let f = &kept.forecast;
        let points: Vec<Point> = serde_json::from_str(&f.points).map_err(bad)?;
        let backtest: Option<forecast::Accuracy> = serde_json::from_str(&f.backtest).map_err(bad)?;
        let query: KeptQuery = serde_json::from_str(&f.query).map_err(bad)?;
        let (Some(first), Some(last)) = (points.first(), points.last()) else { continue };
        let mut filters = query.filters.clone();
        filters.push(Filter { dimension: Dimension::Currency, values: vec![f.currency.clone()] });
        let split = f.series.split_once('=').filter(|_| f.series != "total");
        let mut comparable = true;
        if let (Some(by), Some((_, value))) = (&query.by, split) {
            if value == OTHER {
                comparable = false; // its members are not kept; it cannot be read back exactly
            }
            filters.push(Filter { dimension: by.clone(), values: vec![value.to_string()] });
        }
        let actual: BTreeMap<NaiveDate, f64> = if comparable {
            let q = CostQuery {
                group_by: vec![Dimension::Day],
                metric: query.metric,
                from: Some(first.date),
                to: Some(last.date + Duration::days(1)),
                filters,
            };
            store
                .final_daily_costs(tenant, &q, now, policy)?
                .into_iter()
                .filter_map(|r| {
                    let d = NaiveDate::parse_from_str(r.keys[0].as_deref()?, "%Y-%m-%d").ok()?;
                    Some((d, r.amount.to_f64().unwrap_or(0.0)))
                })
                .collect()
        } else {
            BTreeMap::new()
        };
        let compared: Vec<(&Point, f64)> = points
            .iter()
            .filter(|p| comparable && final_through.is_some_and(|t| p.date <= t))
            .map(|p| (p, actual.get(&p.date).copied().unwrap_or(0.0)))
            .collect();
        let pct: Vec<f64> = compared.iter().filter(|(_, a)| *a != 0.0).map(|(p, a)| ((a - p.yhat) / a).abs()).collect();
        let levels: Vec<f64> = first.intervals.iter().map(|i| i.level).collect();
        let coverage = levels
            .iter()
            .enumerate()
            .map(|(k, &level)| {
                let inside = compared
                    .iter()
                    .filter(|(p, a)| p.intervals.get(k).is_some_and(|i| i.lo <= *a && *a <= i.hi))
                    .count();
                LevelCoverage {
                    level,
                    share: if compared.is_empty() { 0.0 } else { inside as f64 / compared.len() as f64 },
                }
            })
            .collect();
        out.push(Tracked {
            id: kept.id,
            created_at: kept.created_at.clone(),
            series: f.series.clone(),
            currency: f.currency.clone(),
            model: f.model.clone(),
            trained_through: f.trained_through.clone(),
            horizon: points.len(),
            days_compared: compared.len(),
            actual: compared.iter().map(|(_, a)| a).sum(),
            forecast: compared.iter().map(|(p, _)| p.yhat).sum(),
            mape: (!pct.is_empty()).then(|| pct.iter().sum::<f64>() / pct.len() as f64),
            coverage,
            backtest_mape: backtest.and_then(|b| b.mape),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
    }

    #[test]
    fn a_horizon_in_months_runs_to_the_end_of_the_last_month() {
        // From 25 November: the rest of November (6 days) and all of December.
        assert_eq!(Horizon::Months(1).days_from(day(2026, 11, 25)), 37);
        // From the first of a month: that month and the next twelve.
        assert_eq!(Horizon::Months(12).days_from(day(2027, 1, 1)), 31 + 365);
        assert_eq!(Horizon::Days(30).days_from(day(2026, 11, 25)), 30);
    }

    /// Values with spend for their last `days` days, zeros before (as `daily_spend` reads them).
    fn spend_of(values: &[(&str, usize)]) -> CurrencySpend {
        let len = values.iter().map(|v| v.1).max().unwrap_or(0);
        let series = |key: Option<&str>, days: usize| SpendSeries {
            name: series_name(Some(&Dimension::Service), key),
            key: key.map(str::to_string),
            currency: "USD".into(),
            series: DailySeries {
                start: day(2026, 1, 1),
                values: (0..len).map(|i| Some(if i + days >= len { 100.0 } else { 0.0 })).collect(),
            },
        };
        CurrencySpend {
            currency: "USD".into(),
            total: series(None, len),
            categories: values.iter().map(|(k, n)| series(Some(k), *n)).collect(),
        }
    }

    #[test]
    fn a_monitor_whose_values_are_all_too_young_says_so_rather_than_finding_nothing() {
        let check = CheckOptions::new(None, Thresholds::default());
        let young = spend_of(&[("a", 10), ("b", 10)]);
        assert!(matches!(
            detect_currencies(std::slice::from_ref(&young), &check),
            Err(SpendError::Detect(DetectError::TooShort { .. }))
        ));
        // One value old enough to check: the young one is skipped, and nothing is found.
        let mixed = spend_of(&[("a", 120), ("b", 10)]);
        let found = detect_currencies(std::slice::from_ref(&mixed), &check);
        assert!(matches!(found.as_deref(), Ok([])), "{found:?}");
    }
}
