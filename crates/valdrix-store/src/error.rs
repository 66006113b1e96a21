//! Store errors.

/// An error from the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or a statement failed.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A PostgreSQL statement failed or the server could not be reached.
    #[error("PostgreSQL error: {}", pg_message(.0))]
    Postgres(#[from] postgres::Error),
    /// The database URL names a backend this build does not have.
    #[error("unsupported database URL {0:?}: use a file path, a sqlite:// URL or a postgres:// URL")]
    UnsupportedUrl(String),
    /// A tenant-scoped statement was issued with no tenant set (a bug, refused and counted).
    #[error("a tenant-scoped statement was issued without a tenant context")]
    NoTenantContext,
    /// The database was written by a newer Valdrix.
    #[error("the database schema is version {found}, newer than this valdrix (version {supported}); upgrade valdrix")]
    TooNew {
        /// Version found.
        found: i64,
        /// Newest version this build knows.
        supported: i64,
    },
    /// Stored data could not be read back (a corrupted value).
    #[error("corrupt stored value in {table}.{column}: {message}")]
    Corrupt {
        /// Table.
        table: &'static str,
        /// Column.
        column: &'static str,
        /// Details.
        message: String,
    },
    /// A query asked for something invalid.
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    /// Something failed inside the store that is not the caller's doing.
    #[error("internal error: {0}")]
    Internal(String),
    /// A delivery reached a billing period closed by hand.
    #[error(
        "billing period {period} was closed by {closed_by} at {closed_at} ({reason}); a delivery for it is refused \
         unless forced (valdrix ingest --force --reason TEXT), which the audit log records"
    )]
    PeriodClosed {
        /// `YYYY-MM`.
        period: String,
        /// When.
        closed_at: String,
        /// Who.
        closed_by: String,
        /// Why.
        reason: String,
    },
    /// The request conflicts with the current state (closing a closed period, reopening an
    /// open one).
    #[error("{0}")]
    Conflict(String),
    /// Something asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A delivery's billing scope is already held by another stream: ingesting it would count
    /// the same costs twice.
    #[error("{0}")]
    ScopeHeld(Box<crate::scope::ScopeConflict>),
    /// A callback failed while records were streamed.
    #[error("{0}")]
    Callback(String),
}

/// A PostgreSQL error with the server's message and detail, where there is one.
fn pg_message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(d) => format!("{}: {} ({d})", db.code().code(), db.message()),
            None => format!("{}: {}", db.code().code(), db.message()),
        },
        None => e.to_string(),
    }
}

impl StoreError {
    /// Whether PostgreSQL cancelled the statement for running past the statement timeout.
    pub fn is_statement_timeout(&self) -> bool {
        matches!(self, StoreError::Postgres(e) if e.code() == Some(&postgres::error::SqlState::QUERY_CANCELED))
    }
}

/// Result alias for the store.
pub type Result<T> = std::result::Result<T, StoreError>;

/// A stored name read back through its parser (`Role::parse`): a name the parser does not know
/// is a [`StoreError::Corrupt`] naming the table and column.
pub(crate) fn stored<T>(
    table: &'static str,
    column: &'static str,
    text: &str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<T> {
    parse(text).ok_or_else(|| StoreError::Corrupt { table, column, message: text.to_string() })
}
