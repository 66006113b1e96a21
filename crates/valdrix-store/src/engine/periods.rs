//! Billing periods on the write path: the periods a delivery covers with what the stream held
//! of them before, the refusal of periods closed by hand, and the audit log's period events.

use chrono::{NaiveDate, Utc};
use std::collections::{BTreeMap, BTreeSet};

use valdrix_core::TenantId;

use super::parse::parse_date;
use crate::db::{p, Db};
use crate::error::{Result, StoreError};
use crate::trust::Forced;

/// A billing period of the stream that was delivered before.
#[derive(Debug, Clone)]
pub(crate) struct PriorPeriod {
    pub(crate) day_min: Option<NaiveDate>,
    pub(crate) day_max: Option<NaiveDate>,
    /// Invoiced or closed by hand: every value in it is final.
    pub(crate) final_or_closed: bool,
}

/// `YYYY-MM` of a billing period start.
pub(crate) fn month(period_start: NaiveDate) -> String {
    period_start.format("%Y-%m").to_string()
}

/// The periods among `periods` that the stream was delivered before.
pub(crate) fn prior_periods(
    db: Db<'_>,
    tenant: &TenantId,
    stream_id: i64,
    periods: &BTreeSet<NaiveDate>,
) -> Result<BTreeMap<NaiveDate, PriorPeriod>> {
    let mut stmt = db.prepare(
        "SELECT day_min, day_max, final_run_id, \
         EXISTS (SELECT 1 FROM period_closes pc WHERE pc.tenant_id = sp.tenant_id AND pc.period = substr(sp.period_start, 1, 7)) \
         FROM stream_periods sp WHERE tenant_id = ?1 AND stream_id = ?2 AND period_start = ?3",
    )?;
    let mut out = BTreeMap::new();
    for p in periods {
        let row = stmt.query_opt(p![tenant.as_str(), stream_id, p.to_string()], |r| {
            Ok(PriorPeriod {
                day_min: parse_date(r.get(0)?),
                day_max: parse_date(r.get(1)?),
                final_or_closed: r.get::<Option<i64>>(2)?.is_some() || r.get::<bool>(3)?,
            })
        })?;
        if let Some(prior) = row {
            out.insert(*p, prior);
        }
    }
    Ok(out)
}

/// Refuses a delivery into a billing period closed by hand, unless forced; returns the closed
/// periods a forced delivery goes into.
pub(crate) fn check_closes(
    db: Db<'_>,
    tenant: &TenantId,
    periods: &BTreeSet<NaiveDate>,
    forced: Option<&Forced>,
) -> Result<Vec<String>> {
    let mut stmt =
        db.prepare("SELECT closed_at, closed_by, reason FROM period_closes WHERE tenant_id = ?1 AND period = ?2")?;
    let mut through = Vec::new();
    let months: BTreeSet<String> = periods.iter().map(|p| month(*p)).collect();
    for m in months {
        let closed = stmt.query_opt(p![tenant.as_str(), m], |r| {
            Ok((r.get::<String>(0)?, r.get::<String>(1)?, r.get::<String>(2)?))
        })?;
        if let Some((closed_at, closed_by, reason)) = closed {
            if forced.is_none() {
                return Err(StoreError::PeriodClosed { period: m, closed_at, closed_by, reason });
            }
            through.push(m);
        }
    }
    Ok(through)
}

/// Appends to the audit log of period events.
pub(crate) fn record_event(
    db: Db<'_>,
    tenant: &TenantId,
    kind: &str,
    period: &str,
    run_id: Option<i64>,
    actor: &str,
    reason: &str,
) -> Result<()> {
    db.execute(
        "INSERT INTO audit_events (tenant_id, event_id, at, kind, period, run_id, actor, reason) VALUES (?1, \
         (SELECT COALESCE(MAX(event_id), 0) + 1 FROM audit_events WHERE tenant_id = ?1), ?2, ?3, ?4, ?5, ?6, ?7)",
        p![tenant.as_str(), Utc::now().to_rfc3339(), kind, period, run_id, actor, reason],
    )?;
    Ok(())
}
