//! Runs: the ingestion history, read back; the stored totals per currency.

use std::collections::BTreeMap;

use valdrix_core::TenantId;

use super::parse::{parse_date, parse_dec};
use crate::db::{p, Db, Row};
use crate::error::Result;
use crate::{CurrencyTotals, RunSummary};

pub(crate) const RUN_COLUMNS: &str = "run_id, tenant_id, stream, source_uri, files, format, checksum, assembly_id, bytes, rows_read, \
    lines, records, records_replaced, billing_period_start, billing_period_end, charge_date_min, charge_date_max, totals, \
    status, started_at, finished_at, read_ms, write_ms, changes";

pub(crate) fn run_from_row(r: &Row<'_>) -> Result<RunSummary> {
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

/// Ingestion history, newest first.
pub(crate) fn runs(db: Db<'_>, tenant: &TenantId, before: Option<i64>, limit: usize) -> Result<Vec<RunSummary>> {
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM ingest_runs WHERE tenant_id = ?1 AND run_id < ?2 ORDER BY run_id DESC LIMIT ?3"
    );
    db.query_map(&sql, p![tenant.as_str(), before.unwrap_or(i64::MAX), limit as i64], run_from_row)
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
