//! The write path: a delivery's series, records and run, written in one savepoint after its
//! scope is checked and its records compared with what is stored ([`super::restate`]).

use chrono::{Datelike, NaiveDate, Utc};
use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use valdrix_core::{RecordSource, TenantId};

use crate::db::{p, Cell, Db, Dialect, Inserter};
use crate::error::Result;
use crate::{NewRun, RunSummary};

use super::runs::{run_from_row, RUN_COLUMNS};
use super::series::{Aggregates, DateSpan, RunSeries};
use super::tenants::ensure_tenant;
use super::{periods, restate, totals};
use crate::scope::sql as scope;

/// Writes the series of a run into `cost_series`: a series the stream had before keeps its
/// number (so a record keeps its identity across restatements) and a new one gets the next
/// number. Series the delivery no longer has stay: their records are kept, at zero. Returns the
/// number, billing period and aggregate of each series.
pub(crate) fn write_series(
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
    let mut aggregates = Aggregates::default();
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

pub(crate) fn write_delivery(
    db: Db<'_>,
    tenant: &TenantId,
    run: &NewRun,
    records: &dyn RecordSource,
) -> Result<RunSummary> {
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
    let forced_into = periods::check_closes(db, tenant, &periods, run.forced.as_ref())?;
    let prior = periods::prior_periods(db, tenant, stream_id, &periods)?;
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
            periods::record_event(db, tenant, "forced_delivery", period, Some(run_id), &f.actor, &f.reason)?;
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
pub(crate) fn ensure_partitions(db: Db<'_>, records: &dyn RecordSource) -> Result<()> {
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
