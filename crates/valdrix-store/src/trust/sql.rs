//! The read side of cost trust: record ids and histories, run audits, billing period
//! states and closes, alerts, and how far costs are complete and final.

use chrono::{DateTime, Months, NaiveDate, Utc};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap};

use valdrix_core::TenantId;

use crate::db::{p, texts, Db, P};
use crate::engine::parse::{parse_date, parse_dec};
use crate::engine::periods;
use crate::engine::query::{where_sql, JOIN_ATTRS, JOIN_SERIES};
use crate::engine::runs::{run_from_row, RUN_COLUMNS};
use crate::error::{Result, StoreError};
use crate::query::{CostQuery, CostRow, Dimension, Metric};
use crate::trust::{
    parse_record_id, record_id, AuditEntry, AuditEvent, ChangeReason, Closure, CurrencyChange, Freshness, HistoryPoint,
    PeriodInfo, PeriodState, RecordHistory, RestatementAlert, RunAudit, TrustPolicy,
};
use crate::{RecordCursor, RecordRow, RunSummary};

/// `YYYY-MM`, checked.
fn check_period(period: &str) -> Result<String> {
    if valdrix_core::time::parse_month(period).is_some() {
        Ok(period.to_string())
    } else {
        Err(StoreError::InvalidQuery(format!("billing period {period:?}: expected YYYY-MM, e.g. 2026-10")))
    }
}

pub(crate) fn run_by_id(db: Db<'_>, tenant: &TenantId, run_id: i64) -> Result<RunSummary> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM ingest_runs WHERE tenant_id = ?1 AND run_id = ?2");
    db.query_opt(&sql, p![tenant.as_str(), run_id], run_from_row)?
        .ok_or_else(|| StoreError::NotFound(format!("no run {run_id} for tenant {}", tenant.as_str())))
}

pub(crate) fn records(
    db: Db<'_>,
    tenant: &TenantId,
    q: &CostQuery,
    after: Option<&RecordCursor>,
    limit: usize,
) -> Result<Vec<RecordRow>> {
    let mut params: Vec<String> = Vec::new();
    let w = where_sql(db.dialect(), q, &mut params);
    let join = if q.filters.iter().any(|f| f.dimension.is_attribute()) { JOIN_ATTRS } else { "" };
    let sql = format!(
        "SELECT s.series_key, c.charge_date, s.provider, s.billing_account_id, s.service_name, s.resource_id, \
         s.usage_type, s.charge_category, s.currency, c.billed_cost, c.effective_cost, c.run_id, c.line_count \
         FROM cost_records c {JOIN_SERIES} {join} WHERE {w}"
    );
    let mut all: Vec<String> = vec![tenant.as_str().to_string()];
    all.extend(params);
    let mut out = Vec::new();
    db.for_each(&sql, &texts(&all), |r| {
        let key: Vec<u8> = r.get(0)?;
        let day = parse_date(r.get(1)?).unwrap_or_default();
        let row = RecordRow {
            record_id: record_id(&key, day),
            charge_date: day,
            provider: r.get(2)?,
            account: r.get(3)?,
            service: r.get(4)?,
            resource: r.get(5)?,
            usage_type: r.get(6)?,
            charge_category: r.get(7)?,
            currency: r.get(8)?,
            billed: parse_dec(&r.get::<String>(9)?, "billed_cost")?,
            effective: parse_dec(&r.get::<String>(10)?, "effective_cost")?,
            run_id: r.get(11)?,
            removed: r.get::<i64>(12)? == 0,
        };
        if after.is_none_or(|c| c.precedes(&row)) {
            out.push(row);
        }
        Ok(())
    })?;
    out.sort_by(|a, b| {
        b.billed.abs().cmp(&a.billed.abs()).then(a.charge_date.cmp(&b.charge_date)).then(a.record_id.cmp(&b.record_id))
    });
    out.truncate(limit);
    Ok(out)
}

/// The series (number, key) a record id names, and its day.
fn find_record(db: Db<'_>, tenant: &TenantId, id: &str) -> Result<(i64, Vec<u8>, NaiveDate)> {
    let (hex, day) = parse_record_id(id).ok_or_else(|| {
        StoreError::InvalidQuery(format!(
            "record id {id:?}: expected the key in hex (at least 4 digits) and the day, e.g. 5f3ae1c0-20261003"
        ))
    })?;
    let bytes = |pad: char| -> Vec<u8> {
        let full: String = hex.chars().chain(std::iter::repeat(pad)).take(32).collect();
        (0..16).map(|i| u8::from_str_radix(&full[2 * i..2 * i + 2], 16).unwrap_or(0)).collect()
    };
    let (low, high) = (bytes('0'), bytes('f'));
    let found: Vec<(i64, Vec<u8>)> = db.query_map(
        "SELECT s.series_no, s.series_key FROM cost_series s WHERE s.tenant_id = ?1 AND s.series_key BETWEEN ?2 AND ?3 \
         AND EXISTS (SELECT 1 FROM cost_records c WHERE c.tenant_id = s.tenant_id AND c.charge_date = ?4 \
         AND c.series_no = s.series_no) LIMIT 2",
        p![tenant.as_str(), low, high, day.to_string()],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    match found.as_slice() {
        [one] => Ok((one.0, one.1.clone(), day)),
        [] => Err(StoreError::NotFound(format!("no record {id} (list ids with `valdrix costs records`)"))),
        _ => Err(StoreError::Conflict(format!("record id {id} is ambiguous: give more digits of its key"))),
    }
}

pub(crate) fn record_history(db: Db<'_>, tenant: &TenantId, id: &str) -> Result<RecordHistory> {
    let (series_no, key, day) = find_record(db, tenant, id)?;
    let (stream_id, stream, period_start, grain) = db.query_row(
        "SELECT s.stream_id, st.stream, s.billing_period_start, s.provider, s.billing_account_id, s.sub_account_id, \
         s.service_name, s.region_id, s.resource_id, s.usage_type, s.charge_category, s.charge_class, \
         s.pricing_category, s.commitment_discount_id, s.commitment_discount_status, s.tags, s.currency \
         FROM cost_series s JOIN streams st ON st.tenant_id = s.tenant_id AND st.stream_id = s.stream_id \
         WHERE s.tenant_id = ?1 AND s.series_no = ?2",
        p![tenant.as_str(), series_no],
        |r| {
            let names = [
                "ProviderName",
                "BillingAccountId",
                "SubAccountId",
                "ServiceName",
                "RegionId",
                "ResourceId",
                "x_UsageType",
                "ChargeCategory",
                "ChargeClass",
                "PricingCategory",
                "CommitmentDiscountId",
                "CommitmentDiscountStatus",
                "Tags",
                "BillingCurrency",
            ];
            let mut grain = BTreeMap::new();
            for (k, name) in names.iter().enumerate() {
                if let Some(v) = r.get::<Option<String>>(3 + k)?.filter(|v| !v.is_empty() && v != "{}") {
                    grain.insert(name.to_string(), v);
                }
            }
            Ok((r.get::<i64>(0)?, r.get::<String>(1)?, r.get::<String>(2)?, grain))
        },
    )?;
    let first_run: Option<i64> = db
        .query_opt(
            "SELECT first_run_id FROM stream_periods WHERE tenant_id = ?1 AND stream_id = ?2 AND period_start = ?3",
            p![tenant.as_str(), stream_id, period_start],
            |r| r.get(0),
        )?
        .flatten();
    let deliveries: Vec<i64> = db.query_map(
        "SELECT run_id FROM period_deliveries WHERE tenant_id = ?1 AND stream_id = ?2 AND period_start = ?3 \
         ORDER BY run_id",
        p![tenant.as_str(), stream_id, period_start],
        |r| r.get(0),
    )?;
    let entries =
        entries_where(db, "r.series_no = ?2 AND r.charge_date = ?3", p![tenant.as_str(), series_no, day.to_string()])?;
    let (current_billed, current_effective): (String, String) = db.query_row(
        "SELECT billed_cost, effective_cost FROM cost_records WHERE tenant_id = ?1 AND charge_date = ?2 AND series_no = ?3",
        p![tenant.as_str(), day.to_string(), series_no],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    // The value before the first change: the current value minus every delta.
    let mut first_billed = parse_dec(&current_billed, "billed_cost")?;
    let mut first_effective = parse_dec(&current_effective, "effective_cost")?;
    for e in &entries {
        first_billed -= e.billed_delta();
        first_effective -= e.effective_delta();
    }
    let added_late_first =
        entries.first().is_some_and(|e| e.reason == ChangeReason::AddedLate && e.old_run_id.is_none());
    let mut value: Option<(Decimal, Decimal, bool)> = None; // billed, effective, live
    let mut points = Vec::new();
    let by_run: HashMap<i64, &AuditEntry> = entries.iter().map(|e| (e.run_id, e)).collect();
    for run_id in deliveries {
        let (change, post_final) = if let Some(e) = by_run.get(&run_id) {
            value = Some((e.new_billed, e.new_effective, e.reason != ChangeReason::Removed));
            (e.reason.as_str().to_string(), e.post_final)
        } else if value.is_none() && !added_late_first && (Some(run_id) == first_run || first_run.is_none()) {
            value = Some((first_billed, first_effective, true));
            ("first".to_string(), false)
        } else if let Some((_, _, live)) = value {
            ((if live { "unchanged" } else { "absent" }).to_string(), false)
        } else {
            continue;
        };
        let (billed, effective, _) = value.unwrap_or_default();
        points.push(HistoryPoint {
            run: run_by_id(db, tenant, run_id)?,
            change,
            billed: billed.normalize(),
            effective: effective.normalize(),
            post_final,
        });
    }
    Ok(RecordHistory {
        record_id: record_id(&key, day),
        stream,
        charge_date: day,
        billing_period: period_start.get(..7).unwrap_or_default().to_string(),
        grain,
        points,
    })
}

fn entries_where(db: Db<'_>, condition: &str, args: &[P<'_>]) -> Result<Vec<AuditEntry>> {
    let sql = format!(
        "SELECT r.run_id, r.old_run_id, s.series_key, r.charge_date, r.reason, s.billing_account_id, s.service_name, \
         s.currency, r.old_billed, r.new_billed, r.old_effective, r.new_effective, r.post_final \
         FROM record_audit r JOIN cost_series s ON s.tenant_id = r.tenant_id AND s.series_no = r.series_no \
         WHERE r.tenant_id = ?1 AND {condition} ORDER BY r.audit_id"
    );
    let mut out = Vec::new();
    db.for_each(&sql, args, |r| {
        let key: Vec<u8> = r.get(2)?;
        let day = parse_date(r.get(3)?).unwrap_or_default();
        let reason: String = r.get(4)?;
        out.push(AuditEntry {
            run_id: r.get(0)?,
            old_run_id: r.get(1)?,
            record_id: record_id(&key, day),
            charge_date: day,
            reason: crate::error::stored("record_audit", "reason", &reason, ChangeReason::parse)?,
            account: r.get(5)?,
            service: r.get(6)?,
            currency: r.get(7)?,
            old_billed: parse_dec(&r.get::<String>(8)?, "old_billed")?,
            new_billed: parse_dec(&r.get::<String>(9)?, "new_billed")?,
            old_effective: parse_dec(&r.get::<String>(10)?, "old_effective")?,
            new_effective: parse_dec(&r.get::<String>(11)?, "new_effective")?,
            post_final: r.get(12)?,
        });
        Ok(())
    })?;
    Ok(out)
}

pub(crate) fn audit_entries(db: Db<'_>, tenant: &TenantId, run_id: i64) -> Result<Vec<AuditEntry>> {
    entries_where(db, "r.run_id = ?2", p![tenant.as_str(), run_id])
}

pub(crate) fn run_audit(db: Db<'_>, tenant: &TenantId, run_id: i64, largest: usize) -> Result<RunAudit> {
    let run = run_by_id(db, tenant, run_id)?;
    let entries = audit_entries(db, tenant, run_id)?;
    let mut currencies: BTreeMap<String, CurrencyChange> = BTreeMap::new();
    let mut percents: BTreeMap<String, Vec<Decimal>> = BTreeMap::new();
    for e in &entries {
        let c = currencies.entry(e.currency.clone()).or_default();
        c.billed_delta += e.billed_delta();
        c.effective_delta += e.effective_delta();
        c.entries += 1;
        if let Some(p) = e.billed_change_percent() {
            percents.entry(e.currency.clone()).or_default().push(p);
        }
    }
    for (currency, c) in currencies.iter_mut() {
        c.billed_delta = c.billed_delta.normalize();
        c.effective_delta = c.effective_delta.normalize();
        if let Some(ps) = percents.get(currency).filter(|p| !p.is_empty()) {
            let sum: Decimal = ps.iter().sum();
            c.mean_abs_percent = Some((sum / Decimal::from(ps.len())).round_dp(4).normalize());
            c.max_abs_percent = ps.iter().max().copied();
        }
    }
    let mut top = entries;
    top.sort_by(|a, b| b.billed_delta().abs().cmp(&a.billed_delta().abs()).then(a.record_id.cmp(&b.record_id)));
    top.truncate(largest);
    Ok(RunAudit { run, currencies, largest: top })
}

fn closures(db: Db<'_>, tenant: &TenantId) -> Result<BTreeMap<String, Closure>> {
    let rows = db.query_map(
        "SELECT period, closed_at, closed_by, reason FROM period_closes WHERE tenant_id = ?1",
        p![tenant.as_str()],
        |r| Ok(Closure { period: r.get(0)?, closed_at: r.get(1)?, closed_by: r.get(2)?, reason: r.get(3)? }),
    )?;
    let mut out = BTreeMap::new();
    for c in rows {
        out.insert(c.period.clone(), c);
    }
    Ok(out)
}

pub(crate) fn periods(db: Db<'_>, tenant: &TenantId, now: DateTime<Utc>) -> Result<Vec<PeriodInfo>> {
    let closures = closures(db, tenant)?;
    // Totals per (billing period, stream, currency).
    let mut totals: BTreeMap<(String, String), BTreeMap<String, (Decimal, Decimal)>> = BTreeMap::new();
    for metric in [Metric::Billed, Metric::Effective] {
        let q = CostQuery { group_by: vec![Dimension::BillingPeriod, Dimension::Source], metric, ..Default::default() };
        for row in crate::engine::query::costs(db, tenant, &q)? {
            let key = (row.keys[0].clone().unwrap_or_default(), row.keys[1].clone().unwrap_or_default());
            let t = totals.entry(key).or_default().entry(row.currency).or_default();
            match metric {
                Metric::Billed => t.0 = row.amount,
                _ => t.1 = row.amount,
            }
        }
    }
    let mut out = Vec::new();
    db.for_each(
        "SELECT sp.period_start, sp.period_end, st.stream, sp.current_run_id, sp.invoice_id, sp.final_run_id, \
         (SELECT COUNT(*) FROM period_deliveries pd WHERE pd.tenant_id = sp.tenant_id AND pd.stream_id = sp.stream_id \
          AND pd.period_start = sp.period_start) \
         FROM stream_periods sp JOIN streams st ON st.tenant_id = sp.tenant_id AND st.stream_id = sp.stream_id \
         WHERE sp.tenant_id = ?1 ORDER BY sp.period_start DESC, st.stream",
        p![tenant.as_str()],
        |r| {
            let start = parse_date(r.get(0)?).unwrap_or_default();
            let end =
                parse_date(r.get(1)?).unwrap_or_else(|| start.checked_add_months(Months::new(1)).unwrap_or(start));
            let period = periods::month(start);
            let stream: String = r.get(2)?;
            let final_run_id: Option<i64> = r.get(5)?;
            let closed = closures.get(&period).cloned();
            let state = if closed.is_some() {
                PeriodState::Closed
            } else if final_run_id.is_some() {
                PeriodState::Final
            } else if now.date_naive() < end {
                PeriodState::Open
            } else {
                PeriodState::Preliminary
            };
            out.push(PeriodInfo {
                totals: totals.get(&(period.clone(), stream.clone())).cloned().unwrap_or_default(),
                period,
                stream,
                state,
                deliveries: r.get::<i64>(6)? as u64,
                current_run_id: r.get(3)?,
                invoice_id: r.get(4)?,
                final_run_id,
                closed,
            });
            Ok(())
        },
    )?;
    Ok(out)
}

pub(crate) fn close_period(db: Db<'_>, tenant: &TenantId, period: &str, actor: &str, reason: &str) -> Result<Closure> {
    let period = check_period(period)?;
    db.savepoint(|| {
        crate::engine::tenants::ensure_tenant(db, tenant)?;
        if let Some(c) = db.query_opt(
            "SELECT closed_at, closed_by FROM period_closes WHERE tenant_id = ?1 AND period = ?2",
            p![tenant.as_str(), period],
            |r| Ok((r.get::<String>(0)?, r.get::<String>(1)?)),
        )? {
            return Err(StoreError::Conflict(format!(
                "billing period {period} is already closed (by {} at {})",
                c.1, c.0
            )));
        }
        let closure = Closure {
            period: period.clone(),
            closed_at: Utc::now().to_rfc3339(),
            closed_by: actor.into(),
            reason: reason.into(),
        };
        db.execute(
            "INSERT INTO period_closes (tenant_id, period, closed_at, closed_by, reason) VALUES (?1, ?2, ?3, ?4, ?5)",
            p![tenant.as_str(), period, closure.closed_at, actor, reason],
        )?;
        periods::record_event(db, tenant, "period_closed", &period, None, actor, reason)?;
        Ok(closure)
    })
}

pub(crate) fn reopen_period(db: Db<'_>, tenant: &TenantId, period: &str, actor: &str, reason: &str) -> Result<()> {
    let period = check_period(period)?;
    db.savepoint(|| {
        let n =
            db.execute("DELETE FROM period_closes WHERE tenant_id = ?1 AND period = ?2", p![tenant.as_str(), period])?;
        if n == 0 {
            return Err(StoreError::Conflict(format!("billing period {period} is not closed")));
        }
        periods::record_event(db, tenant, "period_reopened", &period, None, actor, reason)
    })
}

pub(crate) fn audit_events(db: Db<'_>, tenant: &TenantId) -> Result<Vec<AuditEvent>> {
    db.query_map(
        "SELECT event_id, at, kind, period, run_id, actor, reason FROM audit_events WHERE tenant_id = ?1 ORDER BY event_id",
        p![tenant.as_str()],
        |r| {
        Ok(AuditEvent {
            event_id: r.get(0)?,
            at: r.get(1)?,
            kind: r.get(2)?,
            period: r.get(3)?,
            run_id: r.get(4)?,
            actor: r.get(5)?,
            reason: r.get(6)?,
        })
    })
}

pub(crate) fn alerts(
    db: Db<'_>,
    tenant: &TenantId,
    run_id: Option<i64>,
    before: Option<i64>,
    limit: usize,
) -> Result<Vec<RestatementAlert>> {
    let mut out = Vec::new();
    db.for_each(
        "SELECT alert_id, run_id, created_at, charge_date, billing_account_id, service_name, currency, metric, \
         old_amount, new_amount, percent_threshold, floor FROM restatement_alerts \
         WHERE tenant_id = ?1 AND run_id = COALESCE(?2, run_id) AND alert_id < COALESCE(?3, alert_id + 1) \
         ORDER BY alert_id DESC LIMIT ?4",
        p![tenant.as_str(), run_id, before, limit as i64],
        |r| {
            out.push(RestatementAlert {
                alert_id: r.get(0)?,
                run_id: r.get(1)?,
                created_at: r.get(2)?,
                charge_date: parse_date(r.get(3)?).unwrap_or_default(),
                account: r.get(4)?,
                service: r.get(5)?,
                currency: r.get(6)?,
                metric: r.get(7)?,
                old_amount: parse_dec(&r.get::<String>(8)?, "old_amount")?,
                new_amount: parse_dec(&r.get::<String>(9)?, "new_amount")?,
                percent_threshold: parse_dec(&r.get::<String>(10)?, "percent_threshold")?,
                floor: parse_dec(&r.get::<String>(11)?, "floor")?,
            });
            Ok(())
        },
    )?;
    Ok(out)
}

pub(crate) fn freshness(db: Db<'_>, tenant: &TenantId, now: DateTime<Utc>, policy: &TrustPolicy) -> Result<Freshness> {
    let closures = closures(db, tenant)?;
    let mut complete: Option<NaiveDate> = None;
    let mut first_day: Option<NaiveDate> = None;
    let mut final_period_through: Option<NaiveDate> = None;
    db.for_each(
        "SELECT sp.period_start, sp.period_end, sp.day_max, sp.final_run_id, r.started_at, sp.day_min \
         FROM stream_periods sp JOIN ingest_runs r ON r.tenant_id = sp.tenant_id AND r.run_id = sp.current_run_id \
         WHERE sp.tenant_id = ?1",
        p![tenant.as_str()],
        |r| {
            let start = parse_date(r.get(0)?).unwrap_or_default();
            let end =
                parse_date(r.get(1)?).unwrap_or_else(|| start.checked_add_months(Months::new(1)).unwrap_or(start));
            let Some(day_max) = parse_date(r.get(2)?) else { return Ok(()) };
            let day_min = parse_date(r.get(5)?).unwrap_or(day_max);
            first_day = Some(first_day.map_or(day_min, |d| d.min(day_min)));
            let read_at: String = r.get(4)?;
            let read_day = DateTime::parse_from_rfc3339(&read_at).map(|t| t.with_timezone(&Utc).date_naive()).ok();
            // A day is complete once it had ended when the delivery was read.
            let through = match read_day {
                Some(d) => day_max.min(d.pred_opt().unwrap_or(d)),
                None => day_max,
            };
            complete = complete.max(Some(through));
            let is_final = r.get::<Option<i64>>(3)?.is_some() || closures.contains_key(&periods::month(start));
            if is_final {
                let last = end.pred_opt().unwrap_or(end).min(day_max);
                final_period_through = final_period_through.max(Some(last));
            }
            Ok(())
        },
    )?;
    let Some(complete) = complete else { return Ok(Freshness::default()) };
    let by_age = policy.final_by_age_through(now);
    let final_through = by_age.max(final_period_through.unwrap_or(by_age)).min(complete);
    // None when not even the first day with data is final.
    let final_through = Some(final_through).filter(|f| first_day.is_none_or(|d| *f >= d));
    Ok(Freshness { complete_through: Some(complete), final_through })
}

pub(crate) fn final_daily_costs(
    db: Db<'_>,
    tenant: &TenantId,
    q: &CostQuery,
    now: DateTime<Utc>,
    policy: &TrustPolicy,
) -> Result<Vec<CostRow>> {
    let Some(final_through) = freshness(db, tenant, now, policy)?.final_through else {
        return Ok(Vec::new());
    };
    let mut q = q.clone();
    let end = final_through.succ_opt().unwrap_or(final_through);
    q.to = Some(q.to.map_or(end, |t| t.min(end)));
    if !q.group_by.contains(&Dimension::Day) {
        q.group_by.insert(0, Dimension::Day);
    }
    crate::engine::query::costs(db, tenant, &q)
}
