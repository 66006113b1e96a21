//! Anomaly monitors kept in the store: a name for what is checked and how, so that a daily run
//! and the API check the same thing every time (in the manner of AWS Cost Anomaly Detection's
//! monitors). Here their parameters are checked and turned into what [`crate::spend`] reads.

use chrono::{DateTime, NaiveDate, Utc};
use valdrix_core::TenantId;
use valdrix_store::forecasts::{AnomalyMonitor, AnomalyReport};
use valdrix_store::{Dimension, Metric, Store, TrustPolicy};

use crate::anomaly::{Thresholds, THRESHOLD_FIELDS};
use crate::spend::{self, CheckOptions, Detected, SpendAnomaly, SpendError, SpendQuery};

/// The most values of a dimension a monitor keeps apart.
pub const MAX_TOP: u32 = 100;
/// The longest monitor name, in characters.
pub const MAX_NAME: usize = 100;

/// Values of the dimension a monitor keeps apart when it does not say.
pub const DEFAULT_TOP: u32 = 10;

/// A monitor of the total billed spend with the default thresholds ([`Thresholds::default`]),
/// saved by `updated_by`: what the API and the demo start from.
pub fn with_defaults(name: &str, updated_by: &str) -> AnomalyMonitor {
    let t = Thresholds::default();
    AnomalyMonitor {
        name: name.to_string(),
        by: String::new(),
        metric: "billed".into(),
        top: DEFAULT_TOP,
        min_impact: t.min_impact.to_string(),
        min_percent: (t.min_share * 100.0).to_string(),
        level: (t.level * 100.0).to_string(),
        direction: t.direction.as_str().into(),
        updated_at: String::new(),
        updated_by: updated_by.to_string(),
    }
}

/// Why a monitor's parameters cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("monitor {name:?}: {what}")]
pub struct MonitorError {
    /// The monitor's name.
    pub name: String,
    /// What is wrong.
    pub what: String,
}

/// A monitor's parameters, checked: what to read and the thresholds.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The spend read.
    pub query: SpendQuery,
    /// The thresholds.
    pub thresholds: Thresholds,
}

/// Checks `m`'s parameters: a name of 1 to [`MAX_NAME`] letters, digits, `-`, `_` or `.`; a
/// dimension (or none), a metric, at most [`MAX_TOP`] values apart, non-negative thresholds, a
/// level strictly between 0 and 100 and a direction.
pub fn check(m: &AnomalyMonitor) -> Result<Checked, MonitorError> {
    let bad = |what: String| MonitorError { name: m.name.clone(), what };
    let name_ok = !m.name.is_empty()
        && m.name.chars().count() <= MAX_NAME
        && m.name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !name_ok {
        return Err(bad(format!("a name is 1 to {MAX_NAME} letters, digits, '-', '_' or '.'")));
    }
    let by = match m.by.trim() {
        "" => None,
        b => Some(Dimension::parse(b).ok_or_else(|| {
            bad(format!("by {b:?}: not a dimension (service, account, region, usage-type, tag:KEY, ...)"))
        })?),
    };
    let metric = Metric::parse(&m.metric)
        .ok_or_else(|| bad(format!("metric {:?}: billed, effective, list or contracted", m.metric)))?;
    if m.top > MAX_TOP {
        return Err(bad(format!("top {}: at most {MAX_TOP}", m.top)));
    }
    let mut thresholds = Thresholds::default();
    let given = [&m.min_impact, &m.min_percent, &m.level, &m.direction];
    for (field, text) in THRESHOLD_FIELDS.into_iter().zip(given) {
        thresholds.set(field, text.trim()).map_err(|e| bad(e.to_string()))?;
    }
    let query = SpendQuery { by, metric, filters: Vec::new(), from: None, top: m.top as usize };
    Ok(Checked { query, thresholds })
}

/// What one monitor found.
#[derive(Debug, serde::Serialize)]
pub struct MonitorRun {
    /// The monitor.
    pub monitor: String,
    /// What it found; an error (no final spend yet, too little history) when it could not run.
    #[serde(flatten)]
    pub outcome: MonitorOutcome,
}

/// A monitor's outcome.
#[derive(Debug, serde::Serialize)]
#[serde(untagged)]
pub enum MonitorOutcome {
    /// It ran.
    Found(Detected),
    /// It could not run, and why.
    Failed {
        /// Why.
        error: String,
    },
}

/// Runs every monitor of `tenant` over its stored spend, by name. A monitor that cannot run
/// (no final spend matches, too little history) says why and the others still run; a failing
/// store stops them all.
pub fn run_all(
    store: &dyn Store,
    tenant: &TenantId,
    now: DateTime<Utc>,
    policy: &TrustPolicy,
) -> Result<Vec<MonitorRun>, SpendError> {
    let mut out = Vec::new();
    for m in store.anomaly_monitors(tenant)? {
        let outcome = match run(store, tenant, &m, None, now, policy) {
            Ok(found) => MonitorOutcome::Found(found),
            Err(SpendError::Store(e)) => return Err(SpendError::Store(e)),
            Err(e) => MonitorOutcome::Failed { error: e.to_string() },
        };
        out.push(MonitorRun { monitor: m.name, outcome });
    }
    Ok(out)
}

/// Runs one monitor from `from` (none: the default first day).
pub fn run(
    store: &dyn Store,
    tenant: &TenantId,
    m: &AnomalyMonitor,
    from: Option<NaiveDate>,
    now: DateTime<Utc>,
    policy: &TrustPolicy,
) -> Result<Detected, SpendError> {
    let checked = check(m)?;
    spend::detect_spend(store, tenant, &checked.query, &CheckOptions::new(from, checked.thresholds), now, policy)
}

/// How a monitor remembers an anomaly it reported: by series, currency and first day, so that
/// an anomaly that grows a day longer, or costs more once a restatement lands, is the same one.
pub fn report_of(f: &SpendAnomaly) -> AnomalyReport {
    AnomalyReport { series: f.series.clone(), currency: f.currency.clone(), first_day: f.anomaly.start.to_string() }
}

/// Leaves out of `found` the anomalies the monitor `name` has reported before
/// ([`Store::report_anomalies`] records them once they have been passed on).
pub fn keep_unreported(
    store: &dyn Store,
    tenant: &TenantId,
    name: &str,
    found: &mut Detected,
) -> Result<(), SpendError> {
    let seen: std::collections::HashSet<AnomalyReport> = store.anomaly_reports(tenant, name)?.into_iter().collect();
    found.anomalies.retain(|f| !seen.contains(&report_of(f)));
    Ok(())
}
