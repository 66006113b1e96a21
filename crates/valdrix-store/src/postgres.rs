//! The PostgreSQL backend: the server's store, shared by many tenants.
//!
//! Tenancy is enforced by the database, not only by the `WHERE tenant_id = ?` every query also
//! carries. Every tenant-owned table has row-level security enabled and forced, with a policy on
//! `valdrix_tenant()`: the tenant set for the current transaction (`app.tenant_id`, set with
//! `set_config(…, true)`, i.e. `SET LOCAL`). With no tenant set, that function raises an error,
//! so a forgotten tenant fails instead of returning nothing or everything. The server connects as
//! `valdrix_app`, a role that owns no table and cannot bypass row-level security; migrations run
//! as the owner (see [`PgStore::open`]).
//!
//! On top of the database's check, [`PgConn`] refuses (and counts, see [`tenantless_queries`])
//! any statement issued without a tenant context: every [`Store`] method runs in
//! [`PgStore::scoped`], which opens the transaction, sets the tenant and the statement timeout.

use crate::backend::Backend;
use std::cell::{Cell as StdCell, RefCell};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{Datelike, Months, NaiveDate, Utc};
use postgres::types::{IsNull, ToSql, Type};
use postgres::{Client, NoTls};

use valdrix_core::TenantId;

use crate::db::{Cell, Db, P};
use crate::error::{Result, StoreError};
use crate::Store;

/// Migrations of the PostgreSQL schema, in order.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/postgres/0001_init.sql")),
    (2, include_str!("../migrations/postgres/0002_zombies.sql")),
    (3, include_str!("../migrations/postgres/0003_allocation_rules.sql")),
    (4, include_str!("../migrations/postgres/0004_forecasts.sql")),
    (5, include_str!("../migrations/postgres/0005_anomaly_monitors.sql")),
    (6, include_str!("../migrations/postgres/0006_anomaly_reports.sql")),
    (7, include_str!("../migrations/postgres/0007_hardening.sql")),
];

/// The role the server connects as: owns nothing, cannot bypass row-level security.
pub const APP_ROLE: &str = "valdrix_app";

/// Statements refused because no tenant was set (since the process started).
static TENANTLESS: AtomicU64 = AtomicU64::new(0);

/// How many tenant-scoped statements were refused for want of a tenant context.
pub fn tenantless_queries() -> u64 {
    TENANTLESS.load(Ordering::Relaxed)
}

/// A PostgreSQL connection with its statement cache and tenant context.
pub struct PgConn {
    client: RefCell<Client>,
    statements: RefCell<HashMap<String, postgres::Statement>>,
    /// The tenant of the open transaction; statements without one are refused.
    tenant: RefCell<Option<String>>,
    /// Schema maintenance (migrations): no tenant involved.
    system: StdCell<bool>,
}

/// `?1` → `$1`, outside quoted text.
fn to_dollar_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quote: Option<char> = None;
    for c in sql.chars() {
        match quote {
            Some(q) => {
                if c == q {
                    quote = None;
                }
                out.push(c);
            }
            None => {
                if c == '\'' || c == '"' {
                    quote = Some(c);
                }
                out.push(if c == '?' { '$' } else { c });
            }
        }
    }
    out
}

impl PgConn {
    fn new(client: Client) -> Self {
        PgConn {
            client: RefCell::new(client),
            statements: RefCell::new(HashMap::new()),
            tenant: RefCell::new(None),
            system: StdCell::new(false),
        }
    }

    fn check_tenant(&self) -> Result<()> {
        if self.tenant.borrow().is_some() || self.system.get() {
            return Ok(());
        }
        TENANTLESS.fetch_add(1, Ordering::Relaxed);
        tracing::error!(event = "tenantless_query", "a tenant-scoped statement was issued without a tenant context");
        Err(StoreError::NoTenantContext)
    }

    pub(crate) fn prepare(&self, sql: &str) -> Result<postgres::Statement> {
        if let Some(s) = self.statements.borrow().get(sql) {
            return Ok(s.clone());
        }
        let stmt = self.client.borrow_mut().prepare(&to_dollar_placeholders(sql))?;
        self.statements.borrow_mut().insert(sql.to_string(), stmt.clone());
        Ok(stmt)
    }

    pub(crate) fn execute_prepared(&self, stmt: &postgres::Statement, params: &[P<'_>]) -> Result<u64> {
        self.check_tenant()?;
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        Ok(self.client.borrow_mut().execute(stmt, &refs)?)
    }

    pub(crate) fn query_prepared(&self, stmt: &postgres::Statement, params: &[P<'_>]) -> Result<Vec<postgres::Row>> {
        self.check_tenant()?;
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        Ok(self.client.borrow_mut().query(stmt, &refs)?)
    }

    pub(crate) fn batch_execute(&self, sql: &str) -> Result<()> {
        Ok(self.client.borrow_mut().batch_execute(sql)?)
    }

    /// Sets the tenant of the open transaction (`SET LOCAL app.tenant_id`).
    fn set_tenant(&self, tenant: &str) -> Result<()> {
        if self.tenant.borrow().as_deref() == Some(tenant) {
            return Ok(());
        }
        self.client.borrow_mut().execute("SELECT set_config('app.tenant_id', $1, true)", &[&tenant])?;
        *self.tenant.borrow_mut() = Some(tenant.to_string());
        Ok(())
    }
}

/// Reads column `i` of a PostgreSQL row as a [`Cell`].
pub(crate) fn cell(r: &postgres::Row, i: usize) -> Result<Cell<'_>> {
    let ty =
        r.columns().get(i).map(|c| c.type_().clone()).ok_or_else(|| StoreError::Internal(format!("no column {i}")))?;
    let cell = match ty {
        Type::INT8 => r.try_get::<_, Option<i64>>(i)?.map(Cell::Int),
        Type::INT4 => r.try_get::<_, Option<i32>>(i)?.map(|v| Cell::Int(v.into())),
        Type::INT2 => r.try_get::<_, Option<i16>>(i)?.map(|v| Cell::Int(v.into())),
        Type::BOOL => r.try_get::<_, Option<bool>>(i)?.map(|v| Cell::Int(v.into())),
        Type::FLOAT8 => r.try_get::<_, Option<f64>>(i)?.map(Cell::Real),
        Type::FLOAT4 => r.try_get::<_, Option<f32>>(i)?.map(|v| Cell::Real(v.into())),
        Type::BYTEA => r.try_get::<_, Option<&[u8]>>(i)?.map(Cell::Blob),
        Type::NUMERIC => r
            .try_get::<_, Option<rust_decimal::Decimal>>(i)?
            .map(|d| Cell::Text(std::borrow::Cow::Owned(d.normalize().to_string()))),
        _ => r.try_get::<_, Option<&str>>(i)?.map(|s| Cell::Text(std::borrow::Cow::Borrowed(s))),
    };
    Ok(cell.unwrap_or(Cell::Null))
}

type BoxError = Box<dyn std::error::Error + Sync + Send>;

impl ToSql for P<'_> {
    fn to_sql(&self, ty: &Type, out: &mut bytes::BytesMut) -> std::result::Result<IsNull, BoxError> {
        match *self {
            P::Null => Ok(IsNull::Yes),
            P::Int(i) => match *ty {
                Type::INT4 => i32::try_from(i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(i)?.to_sql(ty, out),
                Type::BOOL => (i != 0).to_sql(ty, out),
                Type::NUMERIC => rust_decimal::Decimal::from(i).to_sql(ty, out),
                Type::FLOAT8 => (i as f64).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => i.to_string().as_str().to_sql(ty, out),
                _ => i.to_sql(ty, out),
            },
            P::Text(s) => match *ty {
                Type::NUMERIC => {
                    let d = std::str::FromStr::from_str(s)
                        .or_else(|_| rust_decimal::Decimal::from_scientific(s))
                        .map_err(|e| format!("{s:?} is not a decimal: {e}"))?;
                    rust_decimal::Decimal::to_sql(&d, ty, out)
                }
                Type::INT8 => s.parse::<i64>()?.to_sql(ty, out),
                Type::INT4 => s.parse::<i32>()?.to_sql(ty, out),
                Type::JSONB => {
                    // JSONB's binary form: a version byte, then the text.
                    out.extend_from_slice(&[1]);
                    out.extend_from_slice(s.as_bytes());
                    Ok(IsNull::No)
                }
                _ => {
                    out.extend_from_slice(s.as_bytes());
                    Ok(IsNull::No)
                }
            },
            P::Blob(b) => b.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

/// Options of a PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Every statement of a transaction is cancelled past this (milliseconds; 0 = none).
    pub statement_timeout_ms: u64,
    /// Parallel workers one statement may use (`max_parallel_workers_per_gather`; none: the
    /// server's setting). The server gives 0: one request is one backend on one core, so a
    /// tenant's heavy scan cannot take every core from the others.
    pub parallel_workers: Option<u32>,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions { statement_timeout_ms: 5_000, parallel_workers: Some(0) }
    }
}

impl PgOptions {
    /// The `SET LOCAL` statements of a transaction with these options.
    fn set_local(&self) -> String {
        let mut sql = String::new();
        if self.statement_timeout_ms > 0 {
            sql.push_str(&format!("SET LOCAL statement_timeout = {};", self.statement_timeout_ms));
        }
        if let Some(n) = self.parallel_workers {
            sql.push_str(&format!("SET LOCAL max_parallel_workers_per_gather = {n};"));
        }
        sql
    }
}

/// A store in a PostgreSQL database.
pub struct PgStore {
    conn: PgConn,
    /// A transaction opened by [`Store::begin`] is open.
    explicit: StdCell<bool>,
    options: PgOptions,
}

impl PgStore {
    /// Connects to `url` (a `postgres://` or `postgresql://` URL) and applies pending
    /// migrations, which needs a role that owns the schema (or may create it); statements have
    /// no timeout (the command line).
    pub fn open(url: &str) -> Result<Self> {
        let mut s = Self::connect_with(url, PgOptions { statement_timeout_ms: 0, parallel_workers: None })?;
        // The application role may read the schema version but not change the schema: an
        // up-to-date database is opened without trying.
        if s.schema_version()? != Self::newest_version() {
            s.migrate()?;
        }
        Ok(s)
    }

    /// Connects to `url` without migrating (the server's application role); fails when the
    /// schema is missing or older than this build.
    pub fn connect_with(url: &str, options: PgOptions) -> Result<Self> {
        if !is_postgres_url(url) {
            return Err(StoreError::UnsupportedUrl(url.to_string()));
        }
        let client = Client::connect(url, NoTls)?;
        Ok(PgStore { conn: PgConn::new(client), explicit: StdCell::new(false), options })
    }

    /// The schema version of the database (0 when none).
    pub fn schema_version(&self) -> Result<i64> {
        let mut c = self.conn.client.borrow_mut();
        let exists: bool = c.query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])?.get(0);
        if !exists {
            return Ok(0);
        }
        Ok(c.query_one("SELECT COALESCE(MAX(version), 0)::bigint FROM schema_migrations", &[])?.get(0))
    }

    /// The newest schema version this build knows.
    pub fn newest_version() -> i64 {
        MIGRATIONS.last().map(|m| m.0).unwrap_or(0)
    }

    /// Runs `sql` with no tenant context and no checks (tests of the database's own isolation).
    pub fn raw_query(&self, sql: &str) -> std::result::Result<Vec<postgres::Row>, postgres::Error> {
        self.conn.client.borrow_mut().query(sql, &[])
    }
}

/// What [`PgStore::maintain`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Maintenance {
    /// Monthly partitions of `cost_records` that exist now, oldest first (`YYYY-MM`).
    pub partitions: Vec<String>,
    /// Partitions created by this run.
    pub created: Vec<String>,
    /// Partitions dropped by the retention policy (every tenant's records of those months).
    pub dropped: Vec<String>,
}

/// The first day of the month `n` months after (or, negative, before) `day`'s month.
fn month_start(day: NaiveDate, n: i32) -> NaiveDate {
    let first = day.with_day(1).unwrap_or(day);
    if n >= 0 {
        first.checked_add_months(Months::new(n as u32)).unwrap_or(first)
    } else {
        first.checked_sub_months(Months::new(n.unsigned_abs())).unwrap_or(first)
    }
}

impl PgStore {
    /// Creates the monthly partitions of `cost_records` from `today`'s month to `months_ahead`
    /// months after it, and, with a retention of `retain_months`, drops the partitions of months
    /// that ended before the first retained month (the current month and the `retain_months - 1`
    /// before it). Runs as the schema's owner; partitions hold every tenant's records, so
    /// retention is one policy for the database.
    pub fn maintain(&mut self, today: NaiveDate, months_ahead: u32, retain_months: Option<u32>) -> Result<Maintenance> {
        self.conn.system.set(true);
        let result = (|| {
            let mut c = self.conn.client.borrow_mut();
            let mut tx = c.transaction()?;
            let existing = |tx: &mut postgres::Transaction<'_>| -> Result<Vec<String>> {
                let rows = tx.query(
                    "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
                     WHERE i.inhparent = 'cost_records'::regclass ORDER BY 1",
                    &[],
                )?;
                Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect())
            };
            let before = existing(&mut tx)?;
            for n in 0..=months_ahead {
                let m = month_start(today, n as i32).to_string();
                tx.execute("SELECT valdrix_ensure_partition($1)", &[&m])?;
            }
            let mut dropped = Vec::new();
            if let Some(keep) = retain_months {
                if keep == 0 {
                    return Err(StoreError::InvalidQuery("a retention of 0 months would drop every record".into()));
                }
                let first_kept = month_start(today, -(keep as i32 - 1)).format("cost_records_%Y%m").to_string();
                for name in existing(&mut tx)? {
                    // Partition names sort as their months (cost_records_YYYYMM).
                    if name.as_str() < first_kept.as_str() {
                        tx.batch_execute(&format!("DROP TABLE \"{}\"", name.replace('"', "")))?;
                        dropped.push(name);
                    }
                }
            }
            let after = existing(&mut tx)?;
            tx.commit()?;
            let month = |name: &String| {
                let ym = name.trim_start_matches("cost_records_");
                format!("{}-{}", ym.get(..4).unwrap_or(ym), ym.get(4..).unwrap_or(""))
            };
            Ok(Maintenance {
                created: after.iter().filter(|n| !before.contains(n)).map(month).collect(),
                dropped: dropped.iter().map(month).collect(),
                partitions: after.iter().map(month).collect(),
            })
        })();
        self.conn.system.set(false);
        result
    }
}

/// `url` with its user replaced and no password (e.g. the application role's URL from the
/// owner's; give the role's password in `PGPASSWORD` or a password file where one is needed).
pub fn with_user(url: &str, user: &str) -> String {
    let (head, tail) = match url.find("://") {
        Some(i) => url.split_at(i + 3),
        None => ("", url),
    };
    let host = match tail.find('@') {
        Some(i) if tail.find('/').is_none_or(|s| i < s) => &tail[i + 1..],
        _ => tail,
    };
    format!("{head}{user}@{host}")
}

/// Whether a database URL names PostgreSQL.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

impl PgStore {
    fn migrate_impl(&mut self) -> Result<()> {
        self.conn.system.set(true);
        let result = (|| {
            let mut c = self.conn.client.borrow_mut();
            let mut tx = c.transaction()?;
            // One migrator at a time (a server starting while `valdrix migrate` runs).
            tx.execute("SELECT pg_advisory_xact_lock(7205726401)", &[])?;
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL)",
            )?;
            let current: i64 =
                tx.query_one("SELECT COALESCE(MAX(version), 0)::bigint FROM schema_migrations", &[])?.get(0);
            let newest = Self::newest_version();
            if current > newest {
                return Err(StoreError::TooNew { found: current, supported: newest });
            }
            for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
                tx.batch_execute(sql)?;
                tx.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
                    &[version, &Utc::now().to_rfc3339()],
                )?;
            }
            tx.commit()?;
            Ok(())
        })();
        self.conn.system.set(false);
        self.conn.statements.borrow_mut().clear();
        result
    }

    fn begin_impl(&mut self) -> Result<()> {
        self.conn.batch_execute("BEGIN")?;
        let set = self.options.set_local();
        if !set.is_empty() {
            self.conn.batch_execute(&set)?;
        }
        self.explicit.set(true);
        Ok(())
    }

    fn end_impl(&mut self, sql: &str) -> Result<()> {
        self.explicit.set(false);
        *self.conn.tenant.borrow_mut() = None;
        self.conn.batch_execute(sql)
    }
}

impl Backend for PgStore {
    /// Runs `f` with the tenant set for the current transaction: inside the transaction opened
    /// by `begin`, or in one of its own (committed when `f` succeeds) with the statement timeout.
    #[allow(private_bounds)]
    fn scoped<T>(&self, tenant: &TenantId, f: impl FnOnce(Db<'_>) -> Result<T>) -> Result<T> {
        if self.explicit.get() {
            self.conn.set_tenant(tenant.as_str())?;
            return f(Db::Postgres(&self.conn));
        }
        self.conn.batch_execute("BEGIN")?;
        let result = (|| {
            let set = self.options.set_local();
            if !set.is_empty() {
                self.conn.batch_execute(&set)?;
            }
            self.conn.set_tenant(tenant.as_str())?;
            f(Db::Postgres(&self.conn))
        })();
        *self.conn.tenant.borrow_mut() = None;
        match result {
            Ok(v) => {
                self.conn.batch_execute("COMMIT")?;
                Ok(v)
            }
            Err(e) => {
                let _ = self.conn.batch_execute("ROLLBACK");
                Err(e)
            }
        }
    }

    fn migrate_schema(&mut self) -> Result<()> {
        self.migrate_impl()
    }

    fn open_transaction(&mut self) -> Result<()> {
        self.begin_impl()
    }

    fn commit_transaction(&mut self) -> Result<()> {
        self.end_impl("COMMIT")
    }

    fn rollback_transaction(&mut self) -> Result<()> {
        if self.explicit.get() {
            self.end_impl("ROLLBACK")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::p;
    use crate::testing::PgTestDb;

    #[test]
    fn placeholders_become_dollars_outside_quotes() {
        assert_eq!(
            to_dollar_placeholders("a = ?1 AND b = '?2' AND \"?x\" = ?3"),
            "a = $1 AND b = '?2' AND \"?x\" = $3"
        );
    }

    #[test]
    fn a_statement_without_a_tenant_context_is_refused_and_counted() {
        let db = PgTestDb::new();
        let store = db.app_store().unwrap();
        let before = tenantless_queries();
        let err = Db::Postgres(&store.conn)
            .query_row("SELECT count(*) FROM tenants WHERE tenant_id = ?1", p!["a"], |r| r.get::<i64>(0))
            .expect_err("ran without a tenant");
        assert!(matches!(err, StoreError::NoTenantContext), "{err}");
        assert_eq!(tenantless_queries(), before + 1);
        // Inside a scope the same statement runs (and sees only its tenant).
        let n = store
            .scoped(&TenantId::parse("a").unwrap(), |db| {
                db.query_row("SELECT count(*) FROM tenants WHERE tenant_id = ?1", p!["a"], |r| r.get::<i64>(0))
            })
            .unwrap();
        assert_eq!(n, 0);
    }

    #[test]
    fn a_statement_past_the_timeout_is_cancelled() {
        let db = PgTestDb::new();
        let store =
            PgStore::connect_with(&db.app_url(), PgOptions { statement_timeout_ms: 100, parallel_workers: Some(0) })
                .unwrap();
        let err = store
            .scoped(&TenantId::parse("a").unwrap(), |db| db.query_row("SELECT pg_sleep(1)", p![], |_| Ok(())))
            .expect_err("pg_sleep(1) outlived a 100 ms timeout");
        assert!(err.is_statement_timeout(), "{err}");
    }
}

#[cfg(test)]
mod maintenance_tests {
    use super::*;
    use crate::testing::PgTestDb;

    #[test]
    fn partitions_are_created_ahead_and_old_ones_dropped() {
        let db = PgTestDb::new();
        let mut store = PgStore::open(&db.owner_url()).unwrap();
        let today = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
        let m = store.maintain(today, 2, None).unwrap();
        assert_eq!(m.created, ["2026-11", "2026-12", "2027-01"]);
        // Idempotent.
        assert!(store.maintain(today, 2, None).unwrap().created.is_empty());
        // An old month, then a retention of 12 months: 2025-12 .. 2026-11 are kept.
        store.maintain(NaiveDate::from_ymd_opt(2025, 11, 3).unwrap(), 1, None).unwrap();
        let m = store.maintain(today, 2, Some(12)).unwrap();
        assert_eq!(m.dropped, ["2025-11"]);
        assert_eq!(m.partitions, ["2025-12", "2026-11", "2026-12", "2027-01"]);
        assert!(store.maintain(today, 0, Some(0)).is_err());
    }
}
