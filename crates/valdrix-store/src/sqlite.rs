//! The embedded SQLite backend.

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, TransactionBehavior};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::str::FromStr;
use std::time::Instant;

use valdrix_core::{ChargeCategory, CostRecord, Grain, RecordSource, Tags, TenantId, Totals};

use crate::error::{Result, StoreError};
use crate::query::{CostQuery, CostRow, Dimension};
use crate::trust::{
    AuditEntry, AuditEvent, Closure, Freshness, PeriodInfo, RecordHistory, RestatementAlert, RunAudit, TrustPolicy,
};
use crate::{CurrencyTotals, NewRun, RecordRow, RunSummary, Store};

mod restate;
mod trust;

/// Group-by values and currency of one answer row.
type GroupKey = (Vec<Option<String>>, String);

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/sqlite/0001_init.sql")),
    (2, include_str!("../migrations/sqlite/0002_narrow_records.sql")),
    (3, include_str!("../migrations/sqlite/0003_series.sql")),
    (4, include_str!("../migrations/sqlite/0004_cost_trust.sql")),
];

/// A store in one SQLite file.
pub struct SqliteStore {
    conn: Connection,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at a path or `sqlite://` URL and migrates it.
    pub fn open(url: &str) -> Result<Self> {
        let path = if let Some(p) = url.strip_prefix("sqlite://") {
            p
        } else if let Some(p) = url.strip_prefix("sqlite:") {
            p
        } else if url.contains("://") {
            return Err(StoreError::UnsupportedUrl(url.to_string()));
        } else {
            url
        };
        if let Some(dir) = Path::new(path).parent() {
            if !dir.as_os_str().is_empty() {
                let _ = std::fs::create_dir_all(dir);
            }
        }
        let conn = Connection::open(path)?;
        Self::from_connection(conn)
    }

    /// An in-memory store (tests).
    pub fn in_memory() -> Result<Self> {
        Self::from_connection(Connection::open_in_memory()?)
    }

    fn from_connection(conn: Connection) -> Result<Self> {
        // Records are wide (about 50 columns): larger pages hold more of them per page. Only takes
        // effect when the database is created.
        conn.pragma_update(None, "page_size", 16384)?;
        // A rollback journal rather than WAL: pages added by an ingest (most of a large one) are
        // written once, where WAL writes them twice (log, then checkpoint: 5 s of a 10-million-line
        // ingest). A killed writer leaves a hot journal that the next open rolls back, so the last
        // commit stays intact either way; the embedded store has one writer and few readers.
        conn.pragma_update(None, "journal_mode", "TRUNCATE")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // 64 MiB of page cache: an ingest rewrites whole months of records.
        conn.pragma_update(None, "cache_size", -65536)?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        register_series_key(&conn)?;
        let mut s = SqliteStore { conn };
        s.migrate()?;
        Ok(s)
    }

    fn ensure_tenant(tx: &rusqlite::Connection, tenant: &TenantId) -> Result<()> {
        tx.execute(
            "INSERT OR IGNORE INTO tenants (tenant_id, created_at) VALUES (?1, ?2)",
            params![tenant.as_str(), Utc::now().to_rfc3339()],
        )?;
        Ok(())
    }
}

/// `valdrix_series_key(tenant, stream, 15 grain columns)`: [`valdrix_core::series_key`] for SQL,
/// so a migration keys existing series exactly as ingestion keys new ones. NULL reads as empty.
fn register_series_key(conn: &Connection) -> Result<()> {
    use rusqlite::functions::FunctionFlags;
    conn.create_scalar_function(
        "valdrix_series_key",
        17,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let mut args: Vec<String> = Vec::with_capacity(17);
            for i in 0..17 {
                args.push(ctx.get::<Option<String>>(i)?.unwrap_or_default());
            }
            let fields: [&str; 15] = std::array::from_fn(|i| args[i + 2].as_str());
            Ok(valdrix_core::series_key(&args[0], &args[1], fields).to_vec())
        },
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
}

/// Writes the series of a run into `cost_series`: a series the stream had before keeps its
/// number (so a record keeps its identity across restatements) and a new one gets the next
/// number. Series the delivery no longer has stay: their records are kept, at zero. Returns the
/// number, billing period and aggregate of each series.
fn write_series(
    tx: &Connection,
    tenant: &TenantId,
    stream: &str,
    stream_id: i64,
    records: &dyn RecordSource,
    span: &mut DateSpan,
) -> Result<RunSeries> {
    let of_record = records.series_numbers();
    let count = of_record.iter().map(|&s| s as usize + 1).max().unwrap_or(0);
    let mut first = vec![u32::MAX; count];
    for (i, &s) in of_record.iter().enumerate().rev() {
        first[s as usize] = i as u32;
    }
    let mut before: HashMap<[u8; 16], i64> = HashMap::new();
    {
        let mut stmt =
            tx.prepare("SELECT series_key, series_no FROM cost_series WHERE tenant_id = ?1 AND stream_id = ?2")?;
        let mut rows = stmt.query(params![tenant.as_str(), stream_id])?;
        while let Some(r) = rows.next()? {
            let key: Vec<u8> = r.get(0)?;
            if let Ok(key) = <[u8; 16]>::try_from(key.as_slice()) {
                before.insert(key, r.get(1)?);
            }
        }
    }
    let mut next: i64 = tx.query_row(
        "SELECT COALESCE(MAX(series_no), 0) FROM cost_series WHERE tenant_id = ?1",
        [tenant.as_str()],
        |r| r.get(0),
    )?;
    let mut insert = tx.prepare_cached(&insert_sql(
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
    ))?;
    let mut series_no = Vec::with_capacity(count);
    let mut period = Vec::with_capacity(count);
    let mut aggregate = Vec::with_capacity(count);
    let mut aggregates = restate::Aggregates::default();
    for &i in &first {
        let g = records.record_without_attrs(i as usize).grain;
        span.widen(Some(g.billing_period_start), None, None);
        period.push(g.billing_period_start);
        aggregate.push(aggregates.number(&g.billing_account_id, &g.service_name, &g.currency));
        let key = g.series_key(tenant.as_str(), stream);
        if let Some(no) = before.remove(&key) {
            series_no.push(no);
            continue;
        }
        next += 1;
        let id: &[u8] = &key;
        insert.execute(params![
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
    Ok(RunSeries { of_record, series_no, period, aggregate, aggregates })
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

fn run_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunSummary> {
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
        bytes: r.get::<_, i64>(8)? as u64,
        rows_read: r.get::<_, i64>(9)? as u64,
        lines: r.get::<_, i64>(10)? as u64,
        records: r.get::<_, i64>(11)? as u64,
        records_replaced: r.get::<_, i64>(12)? as u64,
        billing_period_start: parse_date(r.get(13)?),
        billing_period_end: parse_date(r.get(14)?),
        charge_date_min: parse_date(r.get(15)?),
        charge_date_max: parse_date(r.get(16)?),
        totals: serde_json::from_str(&totals).unwrap_or_default(),
        status: r.get(18)?,
        started_at: r.get(19)?,
        finished_at: r.get(20)?,
        read_ms: r.get::<_, i64>(21)? as u64,
        write_ms: r.get::<_, i64>(22)? as u64,
        changes: serde_json::from_str(&r.get::<_, String>(23)?).unwrap_or_default(),
    })
}

/// SQL expression for a dimension. Tag keys are bound as parameters, never spliced.
fn dimension_sql(d: &Dimension, params: &mut Vec<String>) -> String {
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
        Dimension::Tag(k) => {
            params.push(format!("$.\"{}\"", k.replace('"', "\\\"")));
            format!("json_extract(s.tags, ?{})", params.len() + 1)
        }
    }
}

/// WHERE clause (after `tenant_id = ?1`) and its parameters for the query's range and filters.
fn where_sql(q: &CostQuery, params: &mut Vec<String>) -> String {
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
        let expr = dimension_sql(&f.dimension, params);
        let mut alts = Vec::new();
        for v in &f.values {
            if v.is_empty() {
                alts.push(format!("{expr} IS NULL OR {expr} = ''"));
            } else {
                params.push(v.clone());
                alts.push(format!("{expr} = ?{}", params.len() + 1));
            }
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

fn insert_sql(table: &str, cols: &[&str]) -> String {
    let params: Vec<String> = (1..=cols.len()).map(|i| format!("?{i}")).collect();
    format!("INSERT INTO {table} ({}) VALUES ({})", cols.join(", "), params.join(", "))
}

fn insert_attrs_sql() -> String {
    let cols: Vec<&str> =
        ["tenant_id", "run_id", "attrs_no"].into_iter().chain(ATTR_COLUMNS.iter().map(|a| a.1)).collect();
    insert_sql("record_attrs", &cols)
}

fn record_from_row(r: &rusqlite::Row<'_>) -> Result<CostRecord> {
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
        match r.get::<_, Option<String>>(i)? {
            None => Ok(None),
            Some(s) => parse_dec(&s, col).map(Some),
        }
    };
    let mut attrs = BTreeMap::new();
    for (k, (name, _)) in ATTR_COLUMNS.iter().enumerate() {
        if let Some(v) = r.get::<_, Option<String>>(RECORD_COLUMNS.len() + k)? {
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
            correction: r.get::<_, Option<String>>(11)?.is_some(),
            pricing_category: r.get(12)?,
            commitment_discount_id: r.get(13)?,
            commitment_discount_status: r.get(14)?,
            tags: Tags::from_json(&tags).unwrap_or_default(),
            currency: r.get(16)?,
        },
        attrs,
        totals: Totals {
            billed_cost: parse_dec(&r.get::<_, String>(17)?, "billed_cost")?,
            effective_cost: parse_dec(&r.get::<_, String>(18)?, "effective_cost")?,
            list_cost: parse_dec(&r.get::<_, String>(19)?, "list_cost")?,
            contracted_cost: parse_dec(&r.get::<_, String>(20)?, "contracted_cost")?,
            consumed_quantity: opt_dec(21, "consumed_quantity")?,
            pricing_quantity: opt_dec(22, "pricing_quantity")?,
            line_count: r.get::<_, i64>(23)? as u64,
        },
    })
}

impl Store for SqliteStore {
    fn migrate(&mut self) -> Result<()> {
        self.conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)",
        )?;
        let current: i64 =
            self.conn.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |r| r.get(0))?;
        let newest = MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
        if current > newest {
            return Err(StoreError::TooNew { found: current, supported: newest });
        }
        for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
            let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute_batch(sql)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
                params![version, Utc::now().to_rfc3339()],
            )?;
            tx.commit()?;
        }
        Ok(())
    }

    fn current_run_with_checksum(&self, tenant: &TenantId, checksum: &str) -> Result<Option<RunSummary>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM ingest_runs r WHERE tenant_id = ?1 AND checksum = ?2 AND status = 'succeeded' \
             AND run_id = (SELECT MAX(run_id) FROM ingest_runs x WHERE x.tenant_id = r.tenant_id AND x.stream = r.stream) \
             ORDER BY run_id DESC LIMIT 1"
        );
        Ok(self.conn.query_row(&sql, params![tenant.as_str(), checksum], run_from_row).optional()?)
    }

    fn begin(&mut self) -> Result<()> {
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        self.conn.execute_batch("COMMIT")?;
        Ok(())
    }

    fn rollback(&mut self) -> Result<()> {
        if !self.conn.is_autocommit() {
            self.conn.execute_batch("ROLLBACK")?;
        }
        Ok(())
    }

    fn replace_stream(&mut self, tenant: &TenantId, run: &NewRun, records: &dyn RecordSource) -> Result<RunSummary> {
        let started = Instant::now();
        // A savepoint is a transaction of its own, or nests inside one opened by `begin`.
        let tx = self.conn.savepoint()?;
        Self::ensure_tenant(&tx, tenant)?;
        tx.execute(
            "INSERT OR IGNORE INTO streams (tenant_id, stream_id, stream) VALUES (?1, \
             (SELECT COALESCE(MAX(stream_id), 0) + 1 FROM streams WHERE tenant_id = ?1), ?2)",
            params![tenant.as_str(), run.stream],
        )?;
        let stream_id: i64 = tx.query_row(
            "SELECT stream_id FROM streams WHERE tenant_id = ?1 AND stream = ?2",
            params![tenant.as_str(), run.stream],
            |r| r.get(0),
        )?;
        let mut span = DateSpan::default();
        let mut series = write_series(&tx, tenant, &run.stream, stream_id, records, &mut span)?;
        let series_ms = started.elapsed().as_millis();
        let periods: BTreeSet<NaiveDate> = series.period.iter().copied().collect();
        let forced_into = restate::check_closes(&tx, tenant, &periods, run.forced.as_ref())?;
        let prior = restate::prior_periods(&tx, tenant, stream_id, &periods)?;
        let now = Utc::now().to_rfc3339();
        tx.execute(
            "INSERT INTO ingest_runs (tenant_id, stream, source_uri, files, format, checksum, assembly_id, bytes, rows_read, \
             lines, records, records_replaced, totals, status, started_at, finished_at, read_ms, write_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 0, ?12, 'succeeded', ?13, ?14, ?15, 0)",
            params![
                tenant.as_str(),
                run.stream,
                run.source_uri,
                serde_json::to_string(&run.files).unwrap_or_else(|_| "[]".into()),
                run.format,
                run.checksum,
                run.assembly_id,
                run.bytes as i64,
                run.rows_read as i64,
                run.lines as i64,
                records.len() as i64,
                serde_json::to_string(&run.totals).unwrap_or_else(|_| "{}".into()),
                run.started_at.to_rfc3339(),
                now,
                run.read_ms as i64,
            ],
        )?;
        let run_id = tx.last_insert_rowid();
        if let Some(f) = &run.forced {
            for period in &forced_into {
                restate::record_event(&tx, tenant, "forced_delivery", period, Some(run_id), &f.actor, &f.reason)?;
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
        let written = restate::write_records(&tx, &delivery, stream_id, &mut series, &mut span)?;
        restate::record_periods(&tx, tenant, stream_id, run_id, &periods, &written)?;
        // Descriptive columns of the stream's earlier runs that no record points to any more.
        tx.execute(
            "DELETE FROM record_attrs WHERE tenant_id = ?1 AND run_id IN \
             (SELECT run_id FROM ingest_runs WHERE tenant_id = ?1 AND stream = ?2 AND run_id <> ?3) \
             AND NOT EXISTS (SELECT 1 FROM cost_records c WHERE c.tenant_id = ?1 AND c.run_id = record_attrs.run_id)",
            params![tenant.as_str(), run.stream, run_id],
        )?;
        let write_ms = started.elapsed().as_millis() as i64;
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
        tx.execute(
            "UPDATE ingest_runs SET write_ms = ?1, billing_period_start = ?2, billing_period_end = ?3, charge_date_min = ?4, \
             charge_date_max = ?5, records_replaced = ?6, changes = ?7 WHERE run_id = ?8",
            params![
                write_ms,
                text(span.period_start),
                text(span.period_end),
                text(span.day_min),
                text(span.day_max),
                written.replaced as i64,
                serde_json::to_string(&written.changes).unwrap_or_else(|_| "{}".into()),
                run_id
            ],
        )?;
        let sql = format!("SELECT {RUN_COLUMNS} FROM ingest_runs WHERE run_id = ?1");
        let summary = tx.query_row(&sql, params![run_id], run_from_row)?;
        tx.commit()?;
        Ok(summary)
    }

    fn runs(&self, tenant: &TenantId, limit: usize) -> Result<Vec<RunSummary>> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM ingest_runs WHERE tenant_id = ?1 ORDER BY run_id DESC LIMIT ?2");
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(params![tenant.as_str(), limit as i64], run_from_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn costs(&self, tenant: &TenantId, q: &CostQuery) -> Result<Vec<CostRow>> {
        let mut params: Vec<String> = Vec::new();
        let dims: Vec<String> = q.group_by.iter().map(|d| dimension_sql(d, &mut params)).collect();
        let w = where_sql(q, &mut params);
        let select_dims = if dims.is_empty() { String::new() } else { format!("{}, ", dims.join(", ")) };
        // Descriptive columns live in record_attrs: join them only when asked for.
        let uses_attrs = q.group_by.iter().chain(q.filters.iter().map(|f| &f.dimension)).any(|d| d.is_attribute());
        let join = if uses_attrs { JOIN_ATTRS } else { "" };
        let sql = format!(
            "SELECT {select_dims}s.currency, c.{} FROM cost_records c {JOIN_SERIES} {join} WHERE {w}",
            q.metric.column()
        );
        let mut all: Vec<String> = vec![tenant.as_str().to_string()];
        all.extend(params);
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows = stmt.query(params_from_iter(all.iter()))?;
        let n = dims.len();
        let mut sums: BTreeMap<GroupKey, (Decimal, u64)> = BTreeMap::new();
        while let Some(r) = rows.next()? {
            let mut keys = Vec::with_capacity(n);
            for i in 0..n {
                let v: Option<rusqlite::types::Value> = r.get(i)?;
                keys.push(match v {
                    None | Some(rusqlite::types::Value::Null) => None,
                    Some(rusqlite::types::Value::Text(s)) => Some(s),
                    Some(rusqlite::types::Value::Integer(i)) => Some(i.to_string()),
                    Some(rusqlite::types::Value::Real(f)) => Some(f.to_string()),
                    Some(rusqlite::types::Value::Blob(_)) => None,
                });
            }
            let currency: String = r.get(n)?;
            let amount: String = r.get(n + 1)?;
            let e = sums.entry((keys, currency)).or_insert((Decimal::ZERO, 0));
            e.0 += parse_dec(&amount, q.metric.column())?;
            e.1 += 1;
        }
        Ok(sums
            .into_iter()
            .map(|((keys, currency), (amount, records))| CostRow {
                keys,
                currency,
                amount: amount.normalize(),
                records,
            })
            .collect())
    }

    fn for_each_record(
        &self,
        tenant: &TenantId,
        q: &CostQuery,
        f: &mut dyn FnMut(CostRecord) -> Result<()>,
    ) -> Result<()> {
        let mut params: Vec<String> = Vec::new();
        let w = where_sql(q, &mut params);
        let sql = format!(
            "SELECT {} FROM cost_records c {JOIN_SERIES} {JOIN_ATTRS} WHERE {w} ORDER BY c.charge_date, c.series_no",
            select_record_columns()
        );
        let mut all: Vec<String> = vec![tenant.as_str().to_string()];
        all.extend(params);
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows = stmt.query(params_from_iter(all.iter()))?;
        while let Some(r) = rows.next()? {
            f(record_from_row(r)?)?;
        }
        Ok(())
    }

    fn totals(&self, tenant: &TenantId) -> Result<BTreeMap<String, CurrencyTotals>> {
        let mut stmt = self.conn.prepare(
            "SELECT s.currency, c.billed_cost, c.effective_cost, c.list_cost, c.contracted_cost FROM cost_records c \
             JOIN cost_series s ON s.tenant_id = c.tenant_id AND s.series_no = c.series_no WHERE c.tenant_id = ?1",
        )?;
        let mut rows = stmt.query(params![tenant.as_str()])?;
        let mut out: BTreeMap<String, CurrencyTotals> = BTreeMap::new();
        while let Some(r) = rows.next()? {
            let t = out.entry(r.get::<_, String>(0)?).or_default();
            t.billed += parse_dec(&r.get::<_, String>(1)?, "billed_cost")?;
            t.effective += parse_dec(&r.get::<_, String>(2)?, "effective_cost")?;
            t.list += parse_dec(&r.get::<_, String>(3)?, "list_cost")?;
            t.contracted += parse_dec(&r.get::<_, String>(4)?, "contracted_cost")?;
        }
        for t in out.values_mut() {
            t.billed = t.billed.normalize();
            t.effective = t.effective.normalize();
            t.list = t.list.normalize();
            t.contracted = t.contracted.normalize();
        }
        Ok(out)
    }

    fn records(&self, tenant: &TenantId, q: &CostQuery, limit: usize) -> Result<Vec<RecordRow>> {
        self.records_impl(tenant, q, limit)
    }

    fn record_history(&self, tenant: &TenantId, record_id: &str) -> Result<RecordHistory> {
        self.record_history_impl(tenant, record_id)
    }

    fn run_audit(&self, tenant: &TenantId, run_id: i64, largest: usize) -> Result<RunAudit> {
        self.run_audit_impl(tenant, run_id, largest)
    }

    fn audit_entries(&self, tenant: &TenantId, run_id: i64) -> Result<Vec<AuditEntry>> {
        self.audit_entries_impl(tenant, run_id)
    }

    fn periods(&self, tenant: &TenantId, now: DateTime<Utc>) -> Result<Vec<PeriodInfo>> {
        self.periods_impl(tenant, now)
    }

    fn close_period(&mut self, tenant: &TenantId, period: &str, actor: &str, reason: &str) -> Result<Closure> {
        self.close_period_impl(tenant, period, actor, reason)
    }

    fn reopen_period(&mut self, tenant: &TenantId, period: &str, actor: &str, reason: &str) -> Result<()> {
        self.reopen_period_impl(tenant, period, actor, reason)
    }

    fn audit_events(&self, tenant: &TenantId) -> Result<Vec<AuditEvent>> {
        self.audit_events_impl(tenant)
    }

    fn alerts(&self, tenant: &TenantId, run_id: Option<i64>, limit: usize) -> Result<Vec<RestatementAlert>> {
        self.alerts_impl(tenant, run_id, limit)
    }

    fn freshness(&self, tenant: &TenantId, now: DateTime<Utc>, policy: &TrustPolicy) -> Result<Freshness> {
        self.freshness_impl(tenant, now, policy)
    }

    fn final_daily_costs(
        &self,
        tenant: &TenantId,
        q: &CostQuery,
        now: DateTime<Utc>,
        policy: &TrustPolicy,
    ) -> Result<Vec<CostRow>> {
        self.final_daily_costs_impl(tenant, q, now, policy)
    }
}
