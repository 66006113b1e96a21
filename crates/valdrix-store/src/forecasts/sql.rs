//! Forecast snapshots (added, never changed), anomaly feedback and anomaly monitors.

use chrono::Utc;

use valdrix_core::TenantId;

use crate::db::{p, Db, Row};
use crate::error::{Result, StoreError};
use crate::forecasts::{AnomalyFeedback, AnomalyMonitor, AnomalyReport, NewForecast, StoredForecast};

const FORECAST_COLUMNS: &str = "id, created_at, series, query, currency, model, trained_through, points, backtest";

fn forecast_from_row(r: &Row<'_>) -> Result<StoredForecast> {
    Ok(StoredForecast {
        id: r.get(0)?,
        created_at: r.get(1)?,
        forecast: NewForecast {
            series: r.get(2)?,
            query: r.get(3)?,
            currency: r.get(4)?,
            model: r.get(5)?,
            trained_through: r.get(6)?,
            points: r.get(7)?,
            backtest: r.get(8)?,
        },
    })
}

/// Keeps forecasts made together, numbered in order in one statement each; their ids.
pub(crate) fn save(db: Db<'_>, tenant: &TenantId, forecasts: &[NewForecast]) -> Result<Vec<i64>> {
    crate::engine::tenants::ensure_tenant(db, tenant)?;
    let now = Utc::now().to_rfc3339();
    let mut ids = Vec::with_capacity(forecasts.len());
    for f in forecasts {
        let id: Option<i64> = db.query_opt(
            "INSERT INTO forecast_snapshots (tenant_id, id, created_at, series, query, currency, model, trained_through, points, backtest) \
             SELECT ?1, COALESCE(MAX(id), 0) + 1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9 FROM forecast_snapshots WHERE tenant_id = ?1 \
             RETURNING id",
            p![tenant.as_str(), now.as_str(), f.series.as_str(), f.query.as_str(), f.currency.as_str(), f.model.as_str(), f.trained_through.as_str(), f.points.as_str(), f.backtest.as_str()],
            |r| r.get(0),
        )?;
        ids.push(id.ok_or_else(|| StoreError::Internal("a forecast saved without an id".into()))?);
    }
    Ok(ids)
}

/// The tenant's kept forecasts, newest first.
pub(crate) fn list(db: Db<'_>, tenant: &TenantId, limit: usize) -> Result<Vec<StoredForecast>> {
    db.query_map(
        &format!("SELECT {FORECAST_COLUMNS} FROM forecast_snapshots WHERE tenant_id = ?1 ORDER BY id DESC LIMIT ?2"),
        p![tenant.as_str(), limit as i64],
        forecast_from_row,
    )
}

/// Marks days of a series as expected; false when the same mark exists.
pub(crate) fn mark(db: Db<'_>, tenant: &TenantId, f: &AnomalyFeedback) -> Result<bool> {
    crate::engine::tenants::ensure_tenant(db, tenant)?;
    let n = db.execute(
        "INSERT INTO anomaly_feedback (tenant_id, series, first_day, last_day, created_at, created_by, note) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (tenant_id, series, first_day, last_day) DO NOTHING",
        p![
            tenant.as_str(),
            f.series.as_str(),
            f.first_day.as_str(),
            f.last_day.as_str(),
            Utc::now().to_rfc3339(),
            f.created_by.as_str(),
            f.note.as_str()
        ],
    )?;
    Ok(n > 0)
}

/// Takes a mark back; false when there was none.
pub(crate) fn unmark(db: Db<'_>, tenant: &TenantId, series: &str, first_day: &str, last_day: &str) -> Result<bool> {
    let n = db.execute(
        "DELETE FROM anomaly_feedback WHERE tenant_id = ?1 AND series = ?2 AND first_day = ?3 AND last_day = ?4",
        p![tenant.as_str(), series, first_day, last_day],
    )?;
    Ok(n > 0)
}

/// The tenant's marks, by series and first day.
pub(crate) fn feedback(db: Db<'_>, tenant: &TenantId) -> Result<Vec<AnomalyFeedback>> {
    db.query_map(
        "SELECT series, first_day, last_day, created_at, created_by, note FROM anomaly_feedback \
         WHERE tenant_id = ?1 ORDER BY series, first_day",
        p![tenant.as_str()],
        |r| {
            Ok(AnomalyFeedback {
                series: r.get(0)?,
                first_day: r.get(1)?,
                last_day: r.get(2)?,
                created_at: r.get(3)?,
                created_by: r.get(4)?,
                note: r.get(5)?,
            })
        },
    )
}

const MONITOR_COLUMNS: &str =
    "name, by_dimension, metric, top_values, min_impact, min_percent, level, direction, updated_at, updated_by";

fn monitor_from_row(r: &Row<'_>) -> Result<AnomalyMonitor> {
    let top: i64 = r.get(3)?;
    Ok(AnomalyMonitor {
        name: r.get(0)?,
        by: r.get(1)?,
        metric: r.get(2)?,
        top: u32::try_from(top).map_err(|_| StoreError::Internal(format!("monitor top_values {top} out of range")))?,
        min_impact: r.get(4)?,
        min_percent: r.get(5)?,
        level: r.get(6)?,
        direction: r.get(7)?,
        updated_at: r.get(8)?,
        updated_by: r.get(9)?,
    })
}

/// Saves a monitor under its name, replacing one of the same name; true when it is new.
pub(crate) fn save_monitor(db: Db<'_>, tenant: &TenantId, m: &AnomalyMonitor) -> Result<bool> {
    crate::engine::tenants::ensure_tenant(db, tenant)?;
    let existed = monitor(db, tenant, &m.name)?.is_some();
    db.execute(
        "INSERT INTO anomaly_monitors (tenant_id, name, by_dimension, metric, top_values, min_impact, min_percent, level, direction, updated_at, updated_by) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
         ON CONFLICT (tenant_id, name) DO UPDATE SET by_dimension = excluded.by_dimension, metric = excluded.metric, \
         top_values = excluded.top_values, min_impact = excluded.min_impact, min_percent = excluded.min_percent, \
         level = excluded.level, direction = excluded.direction, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        p![
            tenant.as_str(),
            m.name.as_str(),
            m.by.as_str(),
            m.metric.as_str(),
            i64::from(m.top),
            m.min_impact.as_str(),
            m.min_percent.as_str(),
            m.level.as_str(),
            m.direction.as_str(),
            Utc::now().to_rfc3339(),
            m.updated_by.as_str()
        ],
    )?;
    Ok(!existed)
}

/// Deletes a monitor and forgets what it reported; false when there was none.
pub(crate) fn delete_monitor(db: Db<'_>, tenant: &TenantId, name: &str) -> Result<bool> {
    db.savepoint(|| {
        db.execute("DELETE FROM anomaly_reports WHERE tenant_id = ?1 AND monitor = ?2", p![tenant.as_str(), name])?;
        let n =
            db.execute("DELETE FROM anomaly_monitors WHERE tenant_id = ?1 AND name = ?2", p![tenant.as_str(), name])?;
        Ok(n > 0)
    })
}

/// One monitor by name.
pub(crate) fn monitor(db: Db<'_>, tenant: &TenantId, name: &str) -> Result<Option<AnomalyMonitor>> {
    db.query_opt(
        &format!("SELECT {MONITOR_COLUMNS} FROM anomaly_monitors WHERE tenant_id = ?1 AND name = ?2"),
        p![tenant.as_str(), name],
        monitor_from_row,
    )
}

/// The tenant's monitors, by name.
pub(crate) fn monitors(db: Db<'_>, tenant: &TenantId) -> Result<Vec<AnomalyMonitor>> {
    db.query_map(
        &format!("SELECT {MONITOR_COLUMNS} FROM anomaly_monitors WHERE tenant_id = ?1 ORDER BY name"),
        p![tenant.as_str()],
        monitor_from_row,
    )
}

/// Records that `monitor` reported `reports`; for each, whether it was new (not reported before).
pub(crate) fn report_anomalies(
    db: Db<'_>,
    tenant: &TenantId,
    monitor: &str,
    reports: &[AnomalyReport],
) -> Result<Vec<bool>> {
    crate::engine::tenants::ensure_tenant(db, tenant)?;
    let now = Utc::now().to_rfc3339();
    db.savepoint(|| {
        let mut fresh = Vec::with_capacity(reports.len());
        for r in reports {
            let n = db.execute(
                "INSERT INTO anomaly_reports (tenant_id, monitor, series, currency, first_day, reported_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (tenant_id, monitor, series, currency, first_day) DO NOTHING",
                p![tenant.as_str(), monitor, r.series.as_str(), r.currency.as_str(), r.first_day.as_str(), now.as_str()],
            )?;
            fresh.push(n > 0);
        }
        Ok(fresh)
    })
}

/// What `monitor` has reported, by series, currency and first day.
pub(crate) fn anomaly_reports(db: Db<'_>, tenant: &TenantId, monitor: &str) -> Result<Vec<AnomalyReport>> {
    db.query_map(
        "SELECT series, currency, first_day FROM anomaly_reports WHERE tenant_id = ?1 AND monitor = ?2 \
         ORDER BY series, currency, first_day",
        p![tenant.as_str(), monitor],
        |r| Ok(AnomalyReport { series: r.get(0)?, currency: r.get(1)?, first_day: r.get(2)? }),
    )
}
