//! Throwaway PostgreSQL databases for tests.
//!
//! Tests that need PostgreSQL create their own database on the server at `VALDRIX_TEST_PG`
//! (default `postgres://postgres@127.0.0.1:5432/postgres`, a role allowed to create databases and
//! roles) and drop it when done. They fail loudly when the server cannot be reached: a test that
//! silently skips would hide a broken backend.

use std::sync::atomic::{AtomicU64, Ordering};

use postgres::{Client, NoTls};

use crate::postgres::{with_user, APP_ROLE};
use crate::{PgOptions, PgStore, Result, Store};

/// The server tests use.
pub fn admin_url() -> String {
    std::env::var("VALDRIX_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// `url` with its database (the path) replaced.
fn with_database(url: &str, db: &str) -> String {
    let (head, tail) = match url.find("://") {
        Some(i) => url.split_at(i + 3),
        None => ("", url),
    };
    let (authority, query) = match tail.find('/') {
        Some(i) => (&tail[..i], tail[i..].split_once('?').map(|(_, q)| format!("?{q}")).unwrap_or_default()),
        None => (tail, String::new()),
    };
    format!("{head}{authority}/{db}{query}")
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A database created for one test, dropped (with its connections) when this is dropped.
pub struct PgTestDb {
    name: String,
    admin: String,
}

impl PgTestDb {
    /// Creates an empty database with the schema applied (by the owner).
    ///
    /// # Panics
    /// When the PostgreSQL server cannot be reached or refuses: tests must not skip silently.
    pub fn new() -> Self {
        let admin = admin_url();
        let name = format!(
            "valdrix_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0)
        );
        let mut c = Client::connect(&admin, NoTls).unwrap_or_else(|e| {
            panic!("PostgreSQL is unreachable at {admin} (set VALDRIX_TEST_PG): {e}; these tests need it")
        });
        c.batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("creating the test database {name}: {e}"));
        let db = PgTestDb { name, admin };
        PgStore::open(&db.owner_url()).unwrap_or_else(|e| panic!("migrating the test database: {e}"));
        db
    }

    /// URL of the database as its owner (the server's admin role).
    pub fn owner_url(&self) -> String {
        with_database(&self.admin, &self.name)
    }

    /// URL of the database as the application role (row-level security applies).
    pub fn app_url(&self) -> String {
        with_user(&self.owner_url(), APP_ROLE)
    }

    /// A store connected as the application role.
    pub fn app_store(&self) -> Result<PgStore> {
        PgStore::connect_with(&self.app_url(), PgOptions::default())
    }

    /// A store as the application role, boxed.
    pub fn boxed(&self) -> Box<dyn Store + Send> {
        Box::new(self.app_store().unwrap_or_else(|e| panic!("connecting as {APP_ROLE}: {e}")))
    }

    /// A client connected as the owner (for checks the store does not offer).
    pub fn owner_client(&self) -> Client {
        Client::connect(&self.owner_url(), NoTls).unwrap_or_else(|e| panic!("connecting to {}: {e}", self.name))
    }

    /// A client connected as the application role, with no tenant set.
    pub fn app_client(&self) -> Client {
        Client::connect(&self.app_url(), NoTls).unwrap_or_else(|e| panic!("connecting as {APP_ROLE}: {e}"))
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Default for PgTestDb {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for PgTestDb {
    fn drop(&mut self) {
        // On a thread of its own: this may run as a thread-local is destroyed, when the client's
        // runtime can no longer use the dropping thread's.
        let (admin, name) = (self.admin.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            if let Ok(mut c) = Client::connect(&admin, NoTls) {
                let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        })
        .join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_swap_database_and_user() {
        let u = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable";
        assert_eq!(with_database(u, "x"), "postgres://postgres@127.0.0.1:5432/x?sslmode=disable");
        assert_eq!(with_user("postgres://postgres:pw@h:1/db", "app"), "postgres://app@h:1/db");
        assert_eq!(with_user("postgres://h/db", "app"), "postgres://app@h/db");
    }
}
