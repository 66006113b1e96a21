//! The embedded SQLite backend: one file, nothing to install.

use crate::backend::Backend;
use chrono::Utc;
use rusqlite::{params, Connection, TransactionBehavior};
use std::path::Path;

use valdrix_core::TenantId;

use crate::db::Db;
use crate::error::{Result, StoreError};
use crate::Store;

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/sqlite/0001_init.sql")),
    (2, include_str!("../migrations/sqlite/0002_narrow_records.sql")),
    (3, include_str!("../migrations/sqlite/0003_series.sql")),
    (4, include_str!("../migrations/sqlite/0004_cost_trust.sql")),
    (5, include_str!("../migrations/sqlite/0005_daily_totals.sql")),
    (6, include_str!("../migrations/sqlite/0006_api_keys.sql")),
    (7, include_str!("../migrations/sqlite/0007_zombies.sql")),
    (8, include_str!("../migrations/sqlite/0008_allocation_rules.sql")),
    (9, include_str!("../migrations/sqlite/0009_forecasts.sql")),
    (10, include_str!("../migrations/sqlite/0010_anomaly_monitors.sql")),
    (11, include_str!("../migrations/sqlite/0011_anomaly_reports.sql")),
    (12, include_str!("../migrations/sqlite/0012_session_ends.sql")),
];

/// Migrations after which a step written in Rust completes the schema change.
fn after_migration(tx: &Connection, version: i64) -> Result<()> {
    if version == 5 {
        // Daily totals of every tenant, from its records (exact sums need Rust on SQLite).
        let mut tenants = Vec::new();
        crate::db::Db::Sqlite(tx).for_each("SELECT tenant_id FROM tenants", &[], |r| {
            tenants.push(r.get::<String>(0)?);
            Ok(())
        })?;
        for t in tenants {
            let tenant = TenantId::parse(&t).map_err(|e| StoreError::Internal(format!("tenant {t:?}: {e}")))?;
            crate::engine::totals::rebuild(Db::Sqlite(tx), &tenant)?;
        }
    }
    Ok(())
}

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

impl Backend for SqliteStore {
    /// Runs `f` on the connection (one user, one tenant at a time: nothing to set).
    #[allow(private_bounds)]
    fn scoped<T>(&self, _tenant: &TenantId, f: impl FnOnce(Db<'_>) -> Result<T>) -> Result<T> {
        f(Db::Sqlite(&self.conn))
    }

    fn migrate_schema(&mut self) -> Result<()> {
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
            after_migration(&tx, *version)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
                params![version, Utc::now().to_rfc3339()],
            )?;
            tx.commit()?;
        }
        Ok(())
    }

    fn open_transaction(&mut self) -> Result<()> {
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        Ok(())
    }

    fn commit_transaction(&mut self) -> Result<()> {
        self.conn.execute_batch("COMMIT")?;
        Ok(())
    }

    fn rollback_transaction(&mut self) -> Result<()> {
        if !self.conn.is_autocommit() {
            self.conn.execute_batch("ROLLBACK")?;
        }
        Ok(())
    }
}
