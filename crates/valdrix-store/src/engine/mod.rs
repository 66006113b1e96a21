//! The store's logic, written once over [`Db`] for both backends: writing a delivery (its
//! series, records and run), the cost queries, and (in [`trust`]) the read side of cost trust.
//! [`restate`] holds the record-by-record comparison of a delivery with what is stored.

use chrono::{Datelike, NaiveDate, Utc};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::str::FromStr;
use std::time::Instant;

use valdrix_core::{ChargeCategory, CostRecord, Grain, RecordSource, Tags, TenantId, Totals};

use crate::db::{p, texts, Cell, Db, Dialect, Inserter, Row};
use crate::error::{Result, StoreError};
use crate::query::{CostQuery, CostRow, Dimension};
use crate::{CurrencyTotals, NewRun, RunSummary};

pub(crate) mod allocation;
pub(crate) mod forecasts;
pub(crate) mod keys;
pub(crate) mod restate;
pub(crate) mod scope;
pub(crate) mod totals;
pub(crate) mod trust;
pub(crate) mod zombies;

/// Group-by values and currency of one answer row.
pub(crate) type GroupKey = (Vec<Option<String>>, String);

/// The [`crate::Store`] methods that read or write tenant data, for a backend with a
/// `scoped(tenant, |db| …)` method that runs a closure with the tenant's context set.
macro_rules! store_methods {
    () => {
        fn current_run_with_checksum(
            &self,
            tenant: &valdrix_core::TenantId,
            checksum: &str,
        ) -> $crate::Result<Option<$crate::RunSummary>> {
            self.scoped(tenant, |db| $crate::engine::current_run_with_checksum(db, tenant, checksum))
        }

        fn replace_stream(
            &mut self,
            tenant: &valdrix_core::TenantId,
            run: &$crate::NewRun,
            records: &dyn valdrix_core::RecordSource,
        ) -> $crate::Result<$crate::RunSummary> {
            self.scoped(tenant, |db| $crate::engine::replace_stream(db, tenant, run, records))
        }

        fn runs(&self, tenant: &valdrix_core::TenantId, limit: usize) -> $crate::Result<Vec<$crate::RunSummary>> {
            self.scoped(tenant, |db| $crate::engine::runs(db, tenant, None, limit))
        }

        fn resolve_stream(&self, tenant: &valdrix_core::TenantId, spelling: &str) -> $crate::Result<Option<String>> {
            self.scoped(tenant, |db| $crate::engine::scope::resolve(db, tenant, spelling))
        }

        fn stream_overlaps(
            &self,
            tenant: &valdrix_core::TenantId,
        ) -> $crate::Result<Vec<$crate::scope::StreamOverlap>> {
            self.scoped(tenant, |db| $crate::engine::scope::overlaps(db, tenant))
        }

        fn runs_before(
            &self,
            tenant: &valdrix_core::TenantId,
            before: Option<i64>,
            limit: usize,
        ) -> $crate::Result<Vec<$crate::RunSummary>> {
            self.scoped(tenant, |db| $crate::engine::runs(db, tenant, before, limit))
        }

        fn costs(
            &self,
            tenant: &valdrix_core::TenantId,
            q: &$crate::CostQuery,
        ) -> $crate::Result<Vec<$crate::CostRow>> {
            self.scoped(tenant, |db| $crate::engine::costs(db, tenant, q))
        }

        fn for_each_record(
            &self,
            tenant: &valdrix_core::TenantId,
            q: &$crate::CostQuery,
            f: &mut dyn FnMut(valdrix_core::CostRecord) -> $crate::Result<()>,
        ) -> $crate::Result<()> {
            self.scoped(tenant, |db| $crate::engine::for_each_record(db, tenant, q, f))
        }

        fn for_each_record_with_id(
            &self,
            tenant: &valdrix_core::TenantId,
            q: &$crate::CostQuery,
            f: &mut dyn FnMut(String, valdrix_core::CostRecord) -> $crate::Result<()>,
        ) -> $crate::Result<()> {
            self.scoped(tenant, |db| $crate::engine::for_each_record_with_id(db, tenant, q, f))
        }

        fn totals(
            &self,
            tenant: &valdrix_core::TenantId,
        ) -> $crate::Result<std::collections::BTreeMap<String, $crate::CurrencyTotals>> {
            self.scoped(tenant, |db| $crate::engine::totals(db, tenant))
        }

        fn records(
            &self,
            tenant: &valdrix_core::TenantId,
            q: &$crate::CostQuery,
            after: Option<&$crate::RecordCursor>,
            limit: usize,
        ) -> $crate::Result<Vec<$crate::RecordRow>> {
            self.scoped(tenant, |db| $crate::engine::trust::records(db, tenant, q, after, limit))
        }

        fn record_history(
            &self,
            tenant: &valdrix_core::TenantId,
            record_id: &str,
        ) -> $crate::Result<$crate::RecordHistory> {
            self.scoped(tenant, |db| $crate::engine::trust::record_history(db, tenant, record_id))
        }

        fn run_audit(
            &self,
            tenant: &valdrix_core::TenantId,
            run_id: i64,
            largest: usize,
        ) -> $crate::Result<$crate::RunAudit> {
            self.scoped(tenant, |db| $crate::engine::trust::run_audit(db, tenant, run_id, largest))
        }

        fn audit_entries(
            &self,
            tenant: &valdrix_core::TenantId,
            run_id: i64,
        ) -> $crate::Result<Vec<$crate::AuditEntry>> {
            self.scoped(tenant, |db| $crate::engine::trust::audit_entries(db, tenant, run_id))
        }

        fn periods(
            &self,
            tenant: &valdrix_core::TenantId,
            now: chrono::DateTime<chrono::Utc>,
        ) -> $crate::Result<Vec<$crate::PeriodInfo>> {
            self.scoped(tenant, |db| $crate::engine::trust::periods(db, tenant, now))
        }

        fn close_period(
            &mut self,
            tenant: &valdrix_core::TenantId,
            period: &str,
            actor: &str,
            reason: &str,
        ) -> $crate::Result<$crate::Closure> {
            self.scoped(tenant, |db| $crate::engine::trust::close_period(db, tenant, period, actor, reason))
        }

        fn reopen_period(
            &mut self,
            tenant: &valdrix_core::TenantId,
            period: &str,
            actor: &str,
            reason: &str,
        ) -> $crate::Result<()> {
            self.scoped(tenant, |db| $crate::engine::trust::reopen_period(db, tenant, period, actor, reason))
        }

        fn audit_events(&self, tenant: &valdrix_core::TenantId) -> $crate::Result<Vec<$crate::AuditEvent>> {
            self.scoped(tenant, |db| $crate::engine::trust::audit_events(db, tenant))
        }

        fn alerts(
            &self,
            tenant: &valdrix_core::TenantId,
            run_id: Option<i64>,
            before: Option<i64>,
            limit: usize,
        ) -> $crate::Result<Vec<$crate::RestatementAlert>> {
            self.scoped(tenant, |db| $crate::engine::trust::alerts(db, tenant, run_id, before, limit))
        }

        fn freshness(
            &self,
            tenant: &valdrix_core::TenantId,
            now: chrono::DateTime<chrono::Utc>,
            policy: &$crate::TrustPolicy,
        ) -> $crate::Result<$crate::Freshness> {
            self.scoped(tenant, |db| $crate::engine::trust::freshness(db, tenant, now, policy))
        }

        fn create_api_key(
            &mut self,
            tenant: &valdrix_core::TenantId,
            key: &$crate::keys::NewApiKey,
        ) -> $crate::Result<$crate::keys::ApiKeyInfo> {
            self.scoped(tenant, |db| $crate::engine::keys::create(db, tenant, key))
        }

        fn api_key(
            &self,
            tenant: &valdrix_core::TenantId,
            key_id: &str,
        ) -> $crate::Result<Option<($crate::keys::ApiKeyInfo, Vec<u8>)>> {
            self.scoped(tenant, |db| $crate::engine::keys::get(db, tenant, key_id))
        }

        fn api_keys(&self, tenant: &valdrix_core::TenantId) -> $crate::Result<Vec<$crate::keys::ApiKeyInfo>> {
            self.scoped(tenant, |db| $crate::engine::keys::list(db, tenant))
        }

        fn revoke_api_key(&mut self, tenant: &valdrix_core::TenantId, key_id: &str) -> $crate::Result<bool> {
            self.scoped(tenant, |db| $crate::engine::keys::revoke(db, tenant, key_id))
        }

        fn end_key_sessions(
            &mut self,
            tenant: &valdrix_core::TenantId,
            key_id: &str,
            at_ms: i64,
        ) -> $crate::Result<bool> {
            self.scoped(tenant, |db| $crate::engine::keys::end_sessions(db, tenant, key_id, at_ms))
        }

        fn save_allocation_rules(
            &mut self,
            tenant: &valdrix_core::TenantId,
            rules: &str,
            actor: &str,
            note: &str,
        ) -> $crate::Result<$crate::allocation::SavedRuleSet> {
            self.scoped(tenant, |db| $crate::engine::allocation::save(db, tenant, rules, actor, note))
        }

        fn allocation_rules(
            &self,
            tenant: &valdrix_core::TenantId,
            version: Option<i64>,
        ) -> $crate::Result<Option<$crate::allocation::RuleSetVersion>> {
            self.scoped(tenant, |db| $crate::engine::allocation::get(db, tenant, version))
        }

        fn allocation_rule_history(
            &self,
            tenant: &valdrix_core::TenantId,
        ) -> $crate::Result<Vec<$crate::allocation::RuleSetVersion>> {
            self.scoped(tenant, |db| $crate::engine::allocation::history(db, tenant))
        }

        fn save_forecasts(
            &mut self,
            tenant: &valdrix_core::TenantId,
            forecasts: &[$crate::forecasts::NewForecast],
        ) -> $crate::Result<Vec<i64>> {
            self.scoped(tenant, |db| $crate::engine::forecasts::save(db, tenant, forecasts))
        }

        fn forecasts(
            &self,
            tenant: &valdrix_core::TenantId,
            limit: usize,
        ) -> $crate::Result<Vec<$crate::forecasts::StoredForecast>> {
            self.scoped(tenant, |db| $crate::engine::forecasts::list(db, tenant, limit))
        }

        fn mark_anomaly_expected(
            &mut self,
            tenant: &valdrix_core::TenantId,
            mark: &$crate::forecasts::AnomalyFeedback,
        ) -> $crate::Result<bool> {
            self.scoped(tenant, |db| $crate::engine::forecasts::mark(db, tenant, mark))
        }

        fn unmark_anomaly_expected(
            &mut self,
            tenant: &valdrix_core::TenantId,
            series: &str,
            first_day: &str,
            last_day: &str,
        ) -> $crate::Result<bool> {
            self.scoped(tenant, |db| $crate::engine::forecasts::unmark(db, tenant, series, first_day, last_day))
        }

        fn anomaly_feedback(
            &self,
            tenant: &valdrix_core::TenantId,
        ) -> $crate::Result<Vec<$crate::forecasts::AnomalyFeedback>> {
            self.scoped(tenant, |db| $crate::engine::forecasts::feedback(db, tenant))
        }

        fn save_anomaly_monitor(
            &mut self,
            tenant: &valdrix_core::TenantId,
            monitor: &$crate::forecasts::AnomalyMonitor,
        ) -> $crate::Result<bool> {
            self.scoped(tenant, |db| $crate::engine::forecasts::save_monitor(db, tenant, monitor))
        }

        fn delete_anomaly_monitor(&mut self, tenant: &valdrix_core::TenantId, name: &str) -> $crate::Result<bool> {
            self.scoped(tenant, |db| $crate::engine::forecasts::delete_monitor(db, tenant, name))
        }

        fn anomaly_monitor(
            &self,
            tenant: &valdrix_core::TenantId,
            name: &str,
        ) -> $crate::Result<Option<$crate::forecasts::AnomalyMonitor>> {
            self.scoped(tenant, |db| $crate::engine::forecasts::monitor(db, tenant, name))
        }

        fn anomaly_monitors(
            &self,
            tenant: &valdrix_core::TenantId,
        ) -> $crate::Result<Vec<$crate::forecasts::AnomalyMonitor>> {
            self.scoped(tenant, |db| $crate::engine::forecasts::monitors(db, tenant))
        }

        fn anomaly_reports(
            &self,
            tenant: &valdrix_core::TenantId,
            monitor: &str,
        ) -> $crate::Result<Vec<$crate::forecasts::AnomalyReport>> {
            self.scoped(tenant, |db| $crate::engine::forecasts::anomaly_reports(db, tenant, monitor))
        }

        fn report_anomalies(
            &mut self,
            tenant: &valdrix_core::TenantId,
            monitor: &str,
            reports: &[$crate::forecasts::AnomalyReport],
        ) -> $crate::Result<Vec<bool>> {
            self.scoped(tenant, |db| $crate::engine::forecasts::report_anomalies(db, tenant, monitor, reports))
        }

        fn final_daily_costs(
            &self,
            tenant: &valdrix_core::TenantId,
            q: &$crate::CostQuery,
            now: chrono::DateTime<chrono::Utc>,
            policy: &$crate::TrustPolicy,
        ) -> $crate::Result<Vec<$crate::CostRow>> {
            self.scoped(tenant, |db| $crate::engine::trust::final_daily_costs(db, tenant, q, now, policy))
        }

        fn record_zombie_scan(
            &mut self,
            tenant: &valdrix_core::TenantId,
            scan: &$crate::zombies::NewZombieScan,
        ) -> $crate::Result<$crate::zombies::ZombieScanSummary> {
            self.scoped(tenant, |db| $crate::engine::zombies::record_scan(db, tenant, scan))
        }

        fn zombie_scans(
            &self,
            tenant: &valdrix_core::TenantId,
            limit: usize,
        ) -> $crate::Result<Vec<$crate::zombies::ZombieScanSummary>> {
            self.scoped(tenant, |db| $crate::engine::zombies::scans(db, tenant, limit))
        }

        fn zombies(
            &self,
            tenant: &valdrix_core::TenantId,
            filter: &$crate::zombies::ZombieFilter,
        ) -> $crate::Result<Vec<$crate::zombies::StoredZombie>> {
            self.scoped(tenant, |db| $crate::engine::zombies::list(db, tenant, filter))
        }

        fn set_zombie_ignored(
            &mut self,
            tenant: &valdrix_core::TenantId,
            key: &$crate::zombies::ZombieKey,
            ignored: bool,
            actor: &str,
            reason: &str,
        ) -> $crate::Result<bool> {
            self.scoped(tenant, |db| $crate::engine::zombies::set_ignored(db, tenant, key, ignored, actor, reason))
        }

        fn zombie_history(
            &self,
            tenant: &valdrix_core::TenantId,
            key: &$crate::zombies::ZombieKey,
        ) -> $crate::Result<Vec<$crate::zombies::ZombieEvent>> {
            self.scoped(tenant, |db| $crate::engine::zombies::history(db, tenant, key))
        }

        fn create_remediation_plan(
            &mut self,
            tenant: &valdrix_core::TenantId,
            cloud: &str,
            account: &str,
            actor: &str,
            steps: &[$crate::zombies::RemediationStep],
        ) -> $crate::Result<$crate::zombies::RemediationPlan> {
            self.scoped(tenant, |db| $crate::engine::zombies::create_plan(db, tenant, cloud, account, actor, steps))
        }

        fn remediation_plan(
            &self,
            tenant: &valdrix_core::TenantId,
            plan_id: i64,
        ) -> $crate::Result<Option<$crate::zombies::RemediationPlan>> {
            self.scoped(tenant, |db| $crate::engine::zombies::plan(db, tenant, plan_id))
        }

        fn remediation_plans(
            &self,
            tenant: &valdrix_core::TenantId,
            limit: usize,
        ) -> $crate::Result<Vec<$crate::zombies::RemediationPlan>> {
            self.scoped(tenant, |db| $crate::engine::zombies::plans(db, tenant, limit))
        }

        fn remediation_event(
            &mut self,
            tenant: &valdrix_core::TenantId,
            plan_id: i64,
            event: &$crate::zombies::RemediationEvent,
        ) -> $crate::Result<$crate::zombies::RemediationPlan> {
            self.scoped(tenant, |db| $crate::engine::zombies::plan_event(db, tenant, plan_id, event))
        }

        fn remediation_log(
            &self,
            tenant: &valdrix_core::TenantId,
            plan_id: i64,
        ) -> $crate::Result<Vec<$crate::zombies::RemediationLogEntry>> {
            self.scoped(tenant, |db| $crate::engine::zombies::plan_log(db, tenant, plan_id))
        }
    };
}
pub(crate) use store_methods;

/// Registers the tenant (first write).
pub(crate) fn ensure_tenant(db: Db<'_>, tenant: &TenantId) -> Result<()> {
    db.execute(
        "INSERT INTO tenants (tenant_id, created_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        p![tenant.as_str(), Utc::now().to_rfc3339()],
    )?;
    Ok(())
}

/// Billing periods and charge days covered by a run's records.
#[derive(Default)]
struct DateSpan {
    period_start: Option<NaiveDate>,
    period_end: Option<NaiveDate>,
    day_min: Option<NaiveDate>,
    day_max: Option<NaiveDate>,
}

impl DateSpan {
    fn widen(&mut self, period_start: Option<NaiveDate>, period_end: Option<NaiveDate>, day: Option<NaiveDate>) {
        fn min(a: Option<NaiveDate>, b: Option<NaiveDate>) -> Option<NaiveDate> {
            a.into_iter().chain(b).min()
        }
        fn max(a: Option<NaiveDate>, b: Option<NaiveDate>) -> Option<NaiveDate> {
            a.into_iter().chain(b).max()
        }
        self.period_start = min(self.period_start, period_start);
        self.period_end = max(self.period_end, period_end);
        self.day_min = min(self.day_min, day);
        self.day_max = max(self.day_max, day);
    }
}

/// The series of a run's records: for each, its first record (which gives the grain) and its
/// number in `cost_series`.
struct RunSeries {
    /// Series of each record, numbered from 0 (see [`RecordSource::series_numbers`]).
    of_record: Vec<u32>,
    /// `series_no` in `cost_series` of each series.
    series_no: Vec<i64>,
    /// Billing period start of each series.
    period: Vec<NaiveDate>,
    /// Aggregate (billing account × service × currency) of each series, for restatement alerts.
    aggregate: Vec<u32>,
    /// The aggregates, numbered.
    aggregates: restate::Aggregates,
    /// Daily totals key of each series.
    rollup: Vec<u32>,
    /// Their keys, and the delivery's changes to the daily totals.
    totals: totals::TotalsDelta,
}

/// Writes the series of a run into `cost_series`: a series the stream had before keeps its
/// number (so a record keeps its identity across restatements) and a new one gets the next
/// number. Series the delivery no longer has stay: their records are kept, at zero. Returns the
/// number, billing period and aggregate of each series.
fn write_series(
    db: Db<'_>,
    tenant: &TenantId,
    stream: &str,
    stream_id: i64,
    records: &dyn RecordSource,
    of_record: Vec<u32>,
    span: &mut DateSpan,
) -> Result<RunSeries> {
    let count = of_record.iter().map(|&s| s as usize + 1).max().unwrap_or(0);
    let mut first = vec![u32::MAX; count];
    for (i, &s) in of_record.iter().enumerate().rev() {
        first[s as usize] = i as u32;
    }
    let mut before: HashMap<[u8; 16], i64> = HashMap::new();
    db.for_each(
        "SELECT series_key, series_no FROM cost_series WHERE tenant_id = ?1 AND stream_id = ?2",
        p![tenant.as_str(), stream_id],
        |r| {
            if let Cell::Blob(key) = r.cell(0)? {
                if let Ok(key) = <[u8; 16]>::try_from(key) {
                    before.insert(key, r.get(1)?);
                }
            }
            Ok(())
        },
    )?;
    let mut next: i64 = db.query_row(
        "SELECT COALESCE(MAX(series_no), 0) FROM cost_series WHERE tenant_id = ?1",
        p![tenant.as_str()],
        |r| r.get(0),
    )?;
    let mut insert = Inserter::new(
        db,
        "cost_series",
        &[
            "tenant_id",
            "series_no",
            "series_key",
            "stream_id",
            "provider",
            "billing_account_id",
            "sub_account_id",
            "billing_period_start",
            "service_name",
            "region_id",
            "resource_id",
            "usage_type",
            "charge_category",
            "charge_class",
            "pricing_category",
            "commitment_discount_id",
            "commitment_discount_status",
            "tags",
            "currency",
        ],
    )?;
    let mut series_no = Vec::with_capacity(count);
    let mut period = Vec::with_capacity(count);
    let mut aggregate = Vec::with_capacity(count);
    let mut aggregates = restate::Aggregates::default();
    let mut totals = totals::TotalsDelta::default();
    let mut rollup = Vec::with_capacity(count);
    for &i in &first {
        let g = records.record_without_attrs(i as usize).grain;
        span.widen(Some(g.billing_period_start), None, None);
        period.push(g.billing_period_start);
        aggregate.push(aggregates.number(&g.billing_account_id, &g.service_name, &g.currency));
        rollup.push(totals.key(&g));
        let key = g.series_key(tenant.as_str(), stream);
        if let Some(no) = before.remove(&key) {
            series_no.push(no);
            continue;
        }
        next += 1;
        let id: &[u8] = &key;
        insert.push(p![
            tenant.as_str(),
            next,
            id,
            stream_id,
            g.provider,
            g.billing_account_id,
            g.sub_account_id,
            g.billing_period_start.to_string(),
            g.service_name,
            g.region_id,
            g.resource_id,
            g.usage_type,
            g.charge_category.as_str(),
            g.correction.then_some("Correction"),
            g.pricing_category,
            g.commitment_discount_id,
            g.commitment_discount_status,
            g.tags.to_json(),
            g.currency,
        ])?;
        series_no.push(next);
    }
    insert.flush()?;
    Ok(RunSeries { of_record, series_no, period, aggregate, aggregates, rollup, totals })
}

/// Numbers the sets of descriptive attributes of a run in write order.
#[derive(Default)]
struct AttrNumbers {
    of_group: HashMap<u32, i64>,
    next: i64,
}

impl AttrNumbers {
    /// The number of record `i`'s attribute set, and whether it is new (to be written).
    fn number(&mut self, records: &dyn RecordSource, i: usize) -> (i64, bool) {
        let group = records.attrs_group(i);
        if let Some(&n) = group.and_then(|g| self.of_group.get(&g)) {
            return (n, false);
        }
        self.next += 1;
        if let Some(g) = group {
            self.of_group.insert(g, self.next);
        }
        (self.next, true)
    }
}

/// Canonical text of a record's six sums, written into buffers reused from record to record.
#[derive(Default)]
struct DecimalTexts {
    texts: [String; 6],
}

impl DecimalTexts {
    fn set(&mut self, t: &Totals) {
        use std::fmt::Write;
        let values = [
            Some(t.billed_cost),
            Some(t.effective_cost),
            Some(t.list_cost),
            Some(t.contracted_cost),
            t.consumed_quantity,
            t.pricing_quantity,
        ];
        for (text, value) in self.texts.iter_mut().zip(values) {
            text.clear();
            if let Some(d) = value {
                let _ = write!(text, "{}", d.normalize());
            }
        }
    }

    fn get(&self, i: usize) -> &str {
        &self.texts[i]
    }

    /// Text of sum `i` as stored: none for a quantity the record does not have.
    fn get_opt(&self, i: usize, t: &Totals) -> Option<&str> {
        let present = match i {
            4 => t.consumed_quantity.is_some(),
            5 => t.pricing_quantity.is_some(),
            _ => true,
        };
        present.then(|| self.texts[i].as_str())
    }
}

fn parse_dec(s: &str, column: &'static str) -> Result<Decimal> {
    Decimal::from_str(s).map_err(|e| StoreError::Corrupt {
        table: "cost_records",
        column,
        message: format!("{s:?}: {e}"),
    })
}

fn parse_date(s: Option<String>) -> Option<NaiveDate> {
    s.and_then(|s| NaiveDate::parse_from_str(&s, "%Y-%m-%d").ok())
}

const RUN_COLUMNS: &str = "run_id, tenant_id, stream, source_uri, files, format, checksum, assembly_id, bytes, rows_read, \
    lines, records, records_replaced, billing_period_start, billing_period_end, charge_date_min, charge_date_max, totals, \
    status, started_at, finished_at, read_ms, write_ms, changes";

fn run_from_row(r: &Row<'_>) -> Result<RunSummary> {
    let files: String = r.get(4)?;
    let totals: String = r.get(17)?;
    Ok(RunSummary {
        run_id: r.get(0)?,
        tenant: r.get(1)?,
        stream: r.get(2)?,
        source_uri: r.get(3)?,
        files: serde_json::from_str(&files).unwrap_or_default(),
        format: r.get(5)?,
        checksum: r.get(6)?,
        assembly_id: r.get(7)?,
        bytes: r.get::<i64>(8)? as u64,
        rows_read: r.get::<i64>(9)? as u64,
        lines: r.get::<i64>(10)? as u64,
        records: r.get::<i64>(11)? as u64,
        records_replaced: r.get::<i64>(12)? as u64,
        billing_period_start: parse_date(r.get(13)?),
        billing_period_end: parse_date(r.get(14)?),
        charge_date_min: parse_date(r.get(15)?),
        charge_date_max: parse_date(r.get(16)?),
        totals: serde_json::from_str(&totals).unwrap_or_default(),
        status: r.get(18)?,
        started_at: r.get(19)?,
        finished_at: r.get(20)?,
        read_ms: r.get::<i64>(21)? as u64,
        write_ms: r.get::<i64>(22)? as u64,
        changes: serde_json::from_str(&r.get::<String>(23)?).unwrap_or_default(),
    })
}

/// SQL expression for a dimension. Tag keys are bound as parameters, never spliced.
fn dimension_sql(dialect: Dialect, d: &Dimension, params: &mut Vec<String>) -> String {
    match d {
        Dimension::Provider => "s.provider".into(),
        Dimension::Service => "s.service_name".into(),
        Dimension::ServiceCategory => "a.service_category".into(),
        Dimension::Account => "s.billing_account_id".into(),
        Dimension::SubAccount => "s.sub_account_id".into(),
        Dimension::Region => "s.region_id".into(),
        Dimension::Resource => "s.resource_id".into(),
        Dimension::ChargeCategory => "s.charge_category".into(),
        Dimension::PricingCategory => "s.pricing_category".into(),
        Dimension::UsageType => "s.usage_type".into(),
        Dimension::Day => "c.charge_date".into(),
        Dimension::Month => "substr(c.charge_date, 1, 7)".into(),
        Dimension::Currency => "s.currency".into(),
        Dimension::BillingPeriod => "substr(s.billing_period_start, 1, 7)".into(),
        Dimension::Source => {
            "(SELECT st.stream FROM streams st WHERE st.tenant_id = s.tenant_id AND st.stream_id = s.stream_id)".into()
        }
        Dimension::Tag(k) => match dialect {
            // A JSON path has no escapes for every key (a backslash or a quote in a tag key makes
            // it malformed): keys of plain characters use the fast path, others an exact match
            // of the key in json_each.
            Dialect::Sqlite if !k.contains(['"', '\\']) && !k.chars().any(char::is_control) => {
                params.push(format!("$.\"{k}\""));
                format!("json_extract(s.tags, ?{})", params.len() + 1)
            }
            Dialect::Sqlite => {
                params.push(k.clone());
                format!("(SELECT j.value FROM json_each(s.tags) j WHERE j.key = ?{})", params.len() + 1)
            }
            Dialect::Postgres => {
                params.push(k.clone());
                format!("(s.tags::jsonb ->> ?{})", params.len() + 1)
            }
        },
    }
}

/// WHERE clause (after `tenant_id = ?1`) and its parameters for the query's range and filters.
fn where_sql(dialect: Dialect, q: &CostQuery, params: &mut Vec<String>) -> String {
    // Records a newer delivery removed stay at zero with no lines: not part of any answer.
    let mut w = String::from("c.tenant_id = ?1 AND c.line_count > 0");
    if let Some(from) = q.from {
        params.push(from.to_string());
        w.push_str(&format!(" AND c.charge_date >= ?{}", params.len() + 1));
    }
    if let Some(to) = q.to {
        params.push(to.to_string());
        w.push_str(&format!(" AND c.charge_date < ?{}", params.len() + 1));
    }
    for f in &q.filters {
        let expr = dimension_sql(dialect, &f.dimension, params);
        // One IN list, not a chain of ORs: SQLite bounds an expression's depth at 1,000, and a
        // zombie scan prices thousands of resource ids in one query.
        let mut alts = Vec::new();
        let mut listed = Vec::new();
        for v in &f.values {
            if v.is_empty() {
                alts.push(format!("{expr} IS NULL OR {expr} = ''"));
            } else {
                params.push(v.clone());
                listed.push(format!("?{}", params.len() + 1));
            }
        }
        if !listed.is_empty() {
            alts.push(format!("{expr} IN ({})", listed.join(", ")));
        }
        if !alts.is_empty() {
            w.push_str(&format!(" AND ({})", alts.join(" OR ")));
        }
    }
    w
}

/// Descriptive FOCUS columns stored beside each record: FOCUS name, then column name.
const ATTR_COLUMNS: [(&str, &str); 21] = [
    ("BillingPeriodEnd", "billing_period_end"),
    ("BillingAccountName", "billing_account_name"),
    ("SubAccountName", "sub_account_name"),
    ("ServiceCategory", "service_category"),
    ("RegionName", "region_name"),
    ("AvailabilityZone", "availability_zone"),
    ("ResourceName", "resource_name"),
    ("ResourceType", "resource_type"),
    ("SkuId", "sku_id"),
    ("SkuPriceId", "sku_price_id"),
    ("ChargeFrequency", "charge_frequency"),
    ("ChargeDescription", "charge_description"),
    ("CommitmentDiscountName", "commitment_discount_name"),
    ("CommitmentDiscountType", "commitment_discount_type"),
    ("CommitmentDiscountCategory", "commitment_discount_category"),
    ("ConsumedUnit", "consumed_unit"),
    ("PricingUnit", "pricing_unit"),
    ("InvoiceId", "invoice_id"),
    ("PublisherName", "publisher_name"),
    ("InvoiceIssuerName", "invoice_issuer_name"),
    ("PricingCurrency", "pricing_currency"),
];

/// Grain and sum columns, with their table's alias, in the order `record_from_row` reads them;
/// the attribute columns follow.
const RECORD_COLUMNS: [&str; 24] = [
    "s.series_key",
    "s.provider",
    "s.billing_account_id",
    "s.sub_account_id",
    "c.charge_date",
    "s.billing_period_start",
    "s.service_name",
    "s.region_id",
    "s.resource_id",
    "s.usage_type",
    "s.charge_category",
    "s.charge_class",
    "s.pricing_category",
    "s.commitment_discount_id",
    "s.commitment_discount_status",
    "s.tags",
    "s.currency",
    "c.billed_cost",
    "c.effective_cost",
    "c.list_cost",
    "c.contracted_cost",
    "c.consumed_quantity",
    "c.pricing_quantity",
    "c.line_count",
];

fn select_record_columns() -> String {
    let record = RECORD_COLUMNS.iter().map(|c| c.to_string());
    record.chain(ATTR_COLUMNS.iter().map(|a| format!("a.{}", a.1))).collect::<Vec<_>>().join(", ")
}

/// Joins each record (`c`) to its series (`s`), which holds its grain but the day.
const JOIN_SERIES: &str = "JOIN cost_series s ON s.tenant_id = c.tenant_id AND s.series_no = c.series_no";

/// Joins each record (`c`) to its descriptive columns (`a`).
const JOIN_ATTRS: &str =
    "JOIN record_attrs a ON a.tenant_id = c.tenant_id AND a.run_id = c.run_id AND a.attrs_no = c.attrs_no";

fn attrs_columns() -> Vec<&'static str> {
    ["tenant_id", "run_id", "attrs_no"].into_iter().chain(ATTR_COLUMNS.iter().map(|a| a.1)).collect()
}

fn record_from_row(r: &Row<'_>) -> Result<CostRecord> {
    let date = |i: usize, col: &'static str| -> Result<NaiveDate> {
        let s: String = r.get(i)?;
        NaiveDate::parse_from_str(&s, "%Y-%m-%d").map_err(|e| StoreError::Corrupt {
            table: "cost_records",
            column: col,
            message: format!("{s:?}: {e}"),
        })
    };
    let cat: String = r.get(10)?;
    let tags: String = r.get(15)?;
    let opt_dec = |i: usize, col: &'static str| -> Result<Option<Decimal>> {
        match r.get::<Option<String>>(i)? {
            None => Ok(None),
            Some(s) => parse_dec(&s, col).map(Some),
        }
    };
    let mut attrs = BTreeMap::new();
    for (k, (name, _)) in ATTR_COLUMNS.iter().enumerate() {
        if let Some(v) = r.get::<Option<String>>(RECORD_COLUMNS.len() + k)? {
            attrs.insert(name.to_string(), v);
        }
    }
    Ok(CostRecord {
        grain: Grain {
            provider: r.get(1)?,
            billing_account_id: r.get(2)?,
            sub_account_id: r.get(3)?,
            charge_date: date(4, "charge_date")?,
            billing_period_start: date(5, "billing_period_start")?,
            service_name: r.get(6)?,
            region_id: r.get(7)?,
            resource_id: r.get(8)?,
            usage_type: r.get(9)?,
            charge_category: ChargeCategory::parse(&cat).ok_or(StoreError::Corrupt {
                table: "cost_records",
                column: "charge_category",
                message: cat.clone(),
            })?,
            correction: r.get::<Option<String>>(11)?.is_some(),
            pricing_category: r.get(12)?,
            commitment_discount_id: r.get(13)?,
            commitment_discount_status: r.get(14)?,
            tags: Tags::from_json(&tags).unwrap_or_default(),
            currency: r.get(16)?,
        },
        attrs,
        totals: Totals {
            billed_cost: parse_dec(&r.get::<String>(17)?, "billed_cost")?,
            effective_cost: parse_dec(&r.get::<String>(18)?, "effective_cost")?,
            list_cost: parse_dec(&r.get::<String>(19)?, "list_cost")?,
            contracted_cost: parse_dec(&r.get::<String>(20)?, "contracted_cost")?,
            consumed_quantity: opt_dec(21, "consumed_quantity")?,
            pricing_quantity: opt_dec(22, "pricing_quantity")?,
            line_count: r.get::<i64>(23)? as u64,
        },
    })
}

/// The run whose input had this checksum, if it is still the current delivery of its stream.
pub(crate) fn current_run_with_checksum(db: Db<'_>, tenant: &TenantId, checksum: &str) -> Result<Option<RunSummary>> {
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM ingest_runs r WHERE tenant_id = ?1 AND checksum = ?2 AND status = 'succeeded' \
         AND run_id = (SELECT MAX(run_id) FROM ingest_runs x WHERE x.tenant_id = r.tenant_id AND x.stream = r.stream) \
         ORDER BY run_id DESC LIMIT 1"
    );
    db.query_opt(&sql, p![tenant.as_str(), checksum], run_from_row)
}

/// Writes a delivery (see [`crate::Store::replace_stream`]) inside a savepoint.
pub(crate) fn replace_stream(
    db: Db<'_>,
    tenant: &TenantId,
    run: &NewRun,
    records: &dyn RecordSource,
) -> Result<RunSummary> {
    db.savepoint(|| write_delivery(db, tenant, run, records))
}

fn write_delivery(db: Db<'_>, tenant: &TenantId, run: &NewRun, records: &dyn RecordSource) -> Result<RunSummary> {
    let started = Instant::now();
    ensure_tenant(db, tenant)?;
    db.execute(
        "INSERT INTO streams (tenant_id, stream_id, stream) VALUES (?1, \
         (SELECT COALESCE(MAX(stream_id), 0) + 1 FROM streams WHERE tenant_id = ?1), ?2) ON CONFLICT DO NOTHING",
        p![tenant.as_str(), run.stream],
    )?;
    let stream_id: i64 = db.query_row(
        "SELECT stream_id FROM streams WHERE tenant_id = ?1 AND stream = ?2",
        p![tenant.as_str(), run.stream],
        |r| r.get(0),
    )?;
    // Series numbers are a pass over every record: computed once, for the scope and the series.
    let of_record = records.series_numbers();
    scope::check(db, tenant, &run.stream, stream_id, &scope::of(records, &of_record), run.overlap)?;
    let mut span = DateSpan::default();
    let mut series = write_series(db, tenant, &run.stream, stream_id, records, of_record, &mut span)?;
    let series_ms = started.elapsed().as_millis();
    let periods: BTreeSet<NaiveDate> = series.period.iter().copied().collect();
    let forced_into = restate::check_closes(db, tenant, &periods, run.forced.as_ref())?;
    let prior = restate::prior_periods(db, tenant, stream_id, &periods)?;
    ensure_partitions(db, records)?;
    let now = Utc::now().to_rfc3339();
    let files = serde_json::to_string(&run.files).unwrap_or_else(|_| "[]".into());
    let totals = serde_json::to_string(&run.totals).unwrap_or_else(|_| "{}".into());
    let run_id: i64 = db.query_row(
        "INSERT INTO ingest_runs (tenant_id, stream, source_uri, files, format, checksum, assembly_id, bytes, rows_read, \
         lines, records, records_replaced, totals, status, started_at, finished_at, read_ms, write_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 0, ?12, 'succeeded', ?13, ?14, ?15, 0) RETURNING run_id",
        p![
            tenant.as_str(),
            run.stream,
            run.source_uri,
            files,
            run.format,
            run.checksum,
            run.assembly_id,
            run.bytes as i64,
            run.rows_read as i64,
            run.lines as i64,
            records.len() as i64,
            totals,
            run.started_at.to_rfc3339(),
            now,
            run.read_ms as i64,
        ],
        |r| r.get(0),
    )?;
    if let Some(f) = &run.forced {
        for period in &forced_into {
            restate::record_event(db, tenant, "forced_delivery", period, Some(run_id), &f.actor, &f.reason)?;
        }
    }
    let delivery = restate::Delivery {
        tenant,
        run_id,
        started_at: run.started_at,
        policy: &run.policy,
        records,
        prior: &prior,
        stream: &run.stream,
    };
    let mut written = restate::write_records(db, &delivery, stream_id, &mut series, &mut span)?;
    restate::record_periods(db, tenant, stream_id, run_id, &periods, &written)?;
    std::mem::take(&mut written.totals).write(db, tenant)?;
    // Descriptive columns of the stream's earlier runs that no record points to any more.
    db.execute(
        "DELETE FROM record_attrs WHERE tenant_id = ?1 AND run_id IN \
         (SELECT run_id FROM ingest_runs WHERE tenant_id = ?1 AND stream = ?2 AND run_id <> ?3) \
         AND NOT EXISTS (SELECT 1 FROM cost_records c WHERE c.tenant_id = ?1 AND c.run_id = record_attrs.run_id)",
        p![tenant.as_str(), run.stream, run_id],
    )?;
    let write_ms = started.elapsed().as_millis() as i64;
    // Recorded where a recorder is installed (the server); a no-op in the command line.
    metrics::counter!("valdrix_ingest_records_total").increment(records.len() as u64);
    metrics::counter!("valdrix_ingest_rows_total").increment(run.rows_read);
    metrics::histogram!("valdrix_ingest_write_duration_seconds").record(started.elapsed().as_secs_f64());
    tracing::debug!(
        records = records.len(),
        series = series.series_no.len(),
        series_ms,
        write_ms,
        restated = written.changes.restated,
        added_late = written.changes.added_late,
        removed = written.changes.removed,
        "records written"
    );
    let text = |d: Option<NaiveDate>| d.map(|d| d.to_string());
    let changes = serde_json::to_string(&written.changes).unwrap_or_else(|_| "{}".into());
    db.execute(
        "UPDATE ingest_runs SET write_ms = ?1, billing_period_start = ?2, billing_period_end = ?3, charge_date_min = ?4, \
         charge_date_max = ?5, records_replaced = ?6, changes = ?7 WHERE tenant_id = ?8 AND run_id = ?9",
        p![
            write_ms,
            text(span.period_start),
            text(span.period_end),
            text(span.day_min),
            text(span.day_max),
            written.replaced as i64,
            changes,
            tenant.as_str(),
            run_id
        ],
    )?;
    let sql = format!("SELECT {RUN_COLUMNS} FROM ingest_runs WHERE tenant_id = ?1 AND run_id = ?2");
    db.query_row(&sql, p![tenant.as_str(), run_id], run_from_row)
}

/// PostgreSQL keeps cost records in monthly partitions: makes sure the months of a delivery
/// have theirs (`valdrix maintain` creates them ahead of time; a late or historical month is
/// created here, by a function that runs as the schema's owner).
fn ensure_partitions(db: Db<'_>, records: &dyn RecordSource) -> Result<()> {
    if db.dialect() != Dialect::Postgres {
        return Ok(());
    }
    let mut months: BTreeSet<NaiveDate> = BTreeSet::new();
    let mut last: Option<NaiveDate> = None;
    for i in 0..records.len() {
        let day = records.charge_date(i);
        if last == Some(day) {
            continue;
        }
        last = Some(day);
        months.insert(day.with_day(1).unwrap_or(day));
    }
    for m in months {
        db.query_row("SELECT valdrix_ensure_partition(?1)", p![m.to_string()], |_| Ok(()))?;
    }
    Ok(())
}

/// Ingestion history, newest first.
pub(crate) fn runs(db: Db<'_>, tenant: &TenantId, before: Option<i64>, limit: usize) -> Result<Vec<RunSummary>> {
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM ingest_runs WHERE tenant_id = ?1 AND run_id < ?2 ORDER BY run_id DESC LIMIT ?3"
    );
    db.query_map(&sql, p![tenant.as_str(), before.unwrap_or(i64::MAX), limit as i64], run_from_row)
}

/// A group-by value as text.
fn key_text(cell: Cell<'_>) -> Option<String> {
    match cell {
        Cell::Null | Cell::Blob(_) => None,
        Cell::Text(s) => Some(s.into_owned()),
        Cell::Int(i) => Some(i.to_string()),
        Cell::Real(f) => Some(f.to_string()),
    }
}

/// Grouped cost totals, per currency. PostgreSQL adds up `NUMERIC` exactly in SQL; SQLite's
/// `SUM` over decimal text would be a float, so its amounts are added up here.
pub(crate) fn costs(db: Db<'_>, tenant: &TenantId, q: &CostQuery) -> Result<Vec<CostRow>> {
    if let Some(rows) = totals::costs(db, tenant, q)? {
        return Ok(rows);
    }
    records_costs(db, tenant, q)
}

/// [`costs`] from the daily records themselves.
pub(crate) fn records_costs(db: Db<'_>, tenant: &TenantId, q: &CostQuery) -> Result<Vec<CostRow>> {
    let dialect = db.dialect();
    let mut params: Vec<String> = Vec::new();
    let dims: Vec<String> = q.group_by.iter().map(|d| dimension_sql(dialect, d, &mut params)).collect();
    let w = where_sql(dialect, q, &mut params);
    let select_dims = if dims.is_empty() { String::new() } else { format!("{}, ", dims.join(", ")) };
    // Descriptive columns live in record_attrs: join them only when asked for.
    let uses_attrs = q.group_by.iter().chain(q.filters.iter().map(|f| &f.dimension)).any(|d| d.is_attribute());
    let join = if uses_attrs { JOIN_ATTRS } else { "" };
    let column = q.metric.column();
    let sql = match dialect {
        Dialect::Sqlite => {
            format!("SELECT {select_dims}s.currency, c.{column}, 1 FROM cost_records c {JOIN_SERIES} {join} WHERE {w}")
        }
        Dialect::Postgres => {
            let groups: Vec<String> = (1..=dims.len() + 1).map(|i| i.to_string()).collect();
            format!(
                "SELECT {select_dims}s.currency, SUM(c.{column}), COUNT(*) FROM cost_records c {JOIN_SERIES} {join} \
                 WHERE {w} GROUP BY {}",
                groups.join(", ")
            )
        }
    };
    let mut all: Vec<String> = vec![tenant.as_str().to_string()];
    all.extend(params);
    let n = dims.len();
    let mut sums: BTreeMap<GroupKey, (Decimal, u64)> = BTreeMap::new();
    db.for_each(&sql, &texts(&all), |r| {
        let mut keys = Vec::with_capacity(n);
        for i in 0..n {
            keys.push(key_text(r.cell(i)?));
        }
        let currency: String = r.get(n)?;
        let amount: String = r.get(n + 1)?;
        let e = sums.entry((keys, currency)).or_insert((Decimal::ZERO, 0));
        e.0 += parse_dec(&amount, column)?;
        e.1 += r.get::<i64>(n + 2)? as u64;
        Ok(())
    })?;
    Ok(sums
        .into_iter()
        .map(|((keys, currency), (amount, records))| CostRow { keys, currency, amount: amount.normalize(), records })
        .collect())
}

/// Calls `f` with the row of every record matching the query's range and filters (the columns
/// of [`select_record_columns`]), in charge-date order.
fn for_each_record_row(
    db: Db<'_>,
    tenant: &TenantId,
    q: &CostQuery,
    f: &mut dyn FnMut(&Row<'_>) -> Result<()>,
) -> Result<()> {
    let mut params: Vec<String> = Vec::new();
    let w = where_sql(db.dialect(), q, &mut params);
    let sql = format!(
        "SELECT {} FROM cost_records c {JOIN_SERIES} {JOIN_ATTRS} WHERE {w} ORDER BY c.charge_date, c.series_no",
        select_record_columns()
    );
    let mut all: Vec<String> = vec![tenant.as_str().to_string()];
    all.extend(params);
    db.for_each(&sql, &texts(&all), f)
}

/// Calls `f` with every record matching the query's range and filters, in charge-date order.
pub(crate) fn for_each_record(
    db: Db<'_>,
    tenant: &TenantId,
    q: &CostQuery,
    f: &mut dyn FnMut(CostRecord) -> Result<()>,
) -> Result<()> {
    for_each_record_row(db, tenant, q, &mut |r| f(record_from_row(r)?))
}

/// [`for_each_record`], with each record's stable id (from its series key, the first column,
/// and its day).
pub(crate) fn for_each_record_with_id(
    db: Db<'_>,
    tenant: &TenantId,
    q: &CostQuery,
    f: &mut dyn FnMut(String, CostRecord) -> Result<()>,
) -> Result<()> {
    for_each_record_row(db, tenant, q, &mut |r| {
        let key: Vec<u8> = r.get(0)?;
        let record = record_from_row(r)?;
        f(crate::trust::record_id(&key, record.grain.charge_date), record)
    })
}

/// Totals per currency over all stored records of the tenant.
pub(crate) fn totals(db: Db<'_>, tenant: &TenantId) -> Result<BTreeMap<String, CurrencyTotals>> {
    let mut out: BTreeMap<String, CurrencyTotals> = BTreeMap::new();
    db.for_each(
        "SELECT s.currency, c.billed_cost, c.effective_cost, c.list_cost, c.contracted_cost FROM cost_records c \
         JOIN cost_series s ON s.tenant_id = c.tenant_id AND s.series_no = c.series_no WHERE c.tenant_id = ?1",
        p![tenant.as_str()],
        |r| {
            let t = out.entry(r.get::<String>(0)?).or_default();
            t.billed += parse_dec(&r.get::<String>(1)?, "billed_cost")?;
            t.effective += parse_dec(&r.get::<String>(2)?, "effective_cost")?;
            t.list += parse_dec(&r.get::<String>(3)?, "list_cost")?;
            t.contracted += parse_dec(&r.get::<String>(4)?, "contracted_cost")?;
            Ok(())
        },
    )?;
    for t in out.values_mut() {
        t.billed = t.billed.normalize();
        t.effective = t.effective.normalize();
        t.list = t.list.normalize();
        t.contracted = t.contracted.normalize();
    }
    Ok(out)
}
