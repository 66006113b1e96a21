//! Stores for request handlers. The store API is blocking, so every call runs on tokio's
//! blocking threads. PostgreSQL: a bounded pool of connections as the application role, each
//! request in its own transaction with the tenant set. SQLite: one connection, one request at a
//! time (the embedded store has one writer).

use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;
use valdrix_store::{PgOptions, PgStore, SqliteStore, Store, StoreError};

/// Where requests get a store from.
#[derive(Clone)]
pub struct StorePool {
    inner: Arc<Inner>,
}

enum Inner {
    Sqlite(Mutex<SqliteStore>),
    Postgres { url: String, options: PgOptions, idle: Mutex<Vec<PgStore>>, permits: Semaphore, size: usize },
}

/// Connections in use and the pool's size (for readiness and metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUsage {
    /// Connections lent out now.
    pub in_use: usize,
    /// At most this many.
    pub size: usize,
}

impl StorePool {
    /// The embedded store at `path` (migrated on open).
    pub fn sqlite(store: SqliteStore) -> Self {
        StorePool { inner: Arc::new(Inner::Sqlite(Mutex::new(store))) }
    }

    /// Up to `size` connections to `url` (the application role); each statement is cancelled
    /// past `options.statement_timeout_ms`.
    pub fn postgres(url: &str, options: PgOptions, size: usize) -> Self {
        let size = size.max(1);
        StorePool {
            inner: Arc::new(Inner::Postgres {
                url: url.to_string(),
                options,
                idle: Mutex::new(Vec::new()),
                permits: Semaphore::new(size),
                size,
            }),
        }
    }

    /// Connections in use.
    pub fn usage(&self) -> PoolUsage {
        match &*self.inner {
            Inner::Sqlite(_) => PoolUsage { in_use: 0, size: 1 },
            Inner::Postgres { permits, size, .. } => {
                PoolUsage { in_use: size.saturating_sub(permits.available_permits()), size: *size }
            }
        }
    }

    /// Runs `f` with a store on a blocking thread.
    pub async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Store) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = self.inner.clone();
        match &*self.inner {
            Inner::Sqlite(_) => {
                spawn(move || {
                    let Inner::Sqlite(m) = &*inner else { unreachable_pool() };
                    let mut store = m.lock().map_err(|_| StoreError::Internal("the store lock is poisoned".into()))?;
                    f(&mut *store)
                })
                .await
            }
            Inner::Postgres { permits, .. } => {
                let _permit = permits
                    .acquire()
                    .await
                    .map_err(|_| StoreError::Internal("the connection pool is closed".into()))?;
                spawn(move || {
                    let Inner::Postgres { url, options, idle, .. } = &*inner else { unreachable_pool() };
                    let taken = idle.lock().ok().and_then(|mut v| v.pop());
                    let mut store = match taken {
                        Some(s) => s,
                        None => PgStore::connect_with(url, options.clone())?,
                    };
                    let result = f(&mut store);
                    // A connection whose last call failed may be broken: let it go.
                    if result.is_ok() {
                        if let Ok(mut v) = idle.lock() {
                            v.push(store);
                        }
                    }
                    result
                })
                .await
            }
        }
    }
}

fn unreachable_pool() -> ! {
    panic!("the pool changed kind")
}

async fn spawn<T: Send + 'static>(f: impl FnOnce() -> Result<T, StoreError> + Send + 'static) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| StoreError::Internal(format!("a store call panicked: {e}")))?
}
