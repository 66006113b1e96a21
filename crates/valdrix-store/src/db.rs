//! One way to talk SQL to either backend.
//!
//! The store's logic (writing deliveries, the audit log, every query) is written once, over
//! [`Db`], and runs on SQLite (rusqlite) and PostgreSQL (the `postgres` crate) alike. Statements
//! use SQLite's numbered placeholders (`?1`); the PostgreSQL side rewrites them to `$1`. Both
//! schemas keep the same tables and column names, so the few places where the dialects differ
//! ([`Dialect`]) are functions, not structure.
//!
//! Parameters are [`P`] (null, integer, text, bytes), borrowed from the caller: the write path
//! binds millions of values and copies none. A PostgreSQL parameter is encoded for whatever type
//! the server inferred for it, so text binds to `NUMERIC` (money) and integers to `BOOLEAN` the
//! same way they bind to SQLite's dynamic columns. Values come back as a [`Cell`]; money read from
//! `NUMERIC` comes back as its canonical decimal text, which is what SQLite stores.

use std::borrow::Cow;

use crate::error::{Result, StoreError};
use crate::postgres::PgConn;

/// Which SQL dialect a statement goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// The embedded store.
    Sqlite,
    /// The server store.
    Postgres,
}

/// A connection (inside whatever transaction its owner opened).
#[derive(Clone, Copy)]
pub(crate) enum Db<'c> {
    Sqlite(&'c rusqlite::Connection),
    Postgres(&'c PgConn),
}

/// A statement parameter, borrowed.
#[derive(Debug, Clone, Copy)]
pub enum P<'a> {
    /// SQL NULL.
    Null,
    /// An integer (also booleans: 0 or 1).
    Int(i64),
    /// Text (also decimals, dates and JSON, as text).
    Text(&'a str),
    /// Bytes.
    Blob(&'a [u8]),
}

/// Turns a value into a [`P`] that borrows it.
pub trait ToP {
    /// The parameter.
    fn to_p(&self) -> P<'_>;
}

impl ToP for str {
    fn to_p(&self) -> P<'_> {
        P::Text(self)
    }
}
impl ToP for String {
    fn to_p(&self) -> P<'_> {
        P::Text(self)
    }
}
impl ToP for [u8] {
    fn to_p(&self) -> P<'_> {
        P::Blob(self)
    }
}
impl ToP for Vec<u8> {
    fn to_p(&self) -> P<'_> {
        P::Blob(self)
    }
}
impl ToP for i64 {
    fn to_p(&self) -> P<'_> {
        P::Int(*self)
    }
}
impl ToP for bool {
    fn to_p(&self) -> P<'_> {
        P::Int(i64::from(*self))
    }
}
impl<T: ToP + ?Sized> ToP for &T {
    fn to_p(&self) -> P<'_> {
        (**self).to_p()
    }
}
impl<T: ToP> ToP for Option<T> {
    fn to_p(&self) -> P<'_> {
        match self {
            Some(v) => v.to_p(),
            None => P::Null,
        }
    }
}
impl ToP for P<'_> {
    fn to_p(&self) -> P<'_> {
        *self
    }
}

/// Parameters of a statement: `p![tenant.as_str(), run_id]`.
macro_rules! p {
    ($($e:expr),* $(,)?) => {
        &[$($crate::db::ToP::to_p(&$e)),*] as &[$crate::db::P<'_>]
    };
}
pub(crate) use p;

/// Text parameters from owned strings (dynamic filters).
pub(crate) fn texts(values: &[String]) -> Vec<P<'_>> {
    values.iter().map(|v| P::Text(v)).collect()
}

/// A value read back.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    /// SQL NULL.
    Null,
    /// An integer (booleans read as 0 or 1).
    Int(i64),
    /// A floating-point number.
    Real(f64),
    /// Text; a `NUMERIC` as its canonical decimal text.
    Text(Cow<'a, str>),
    /// Bytes.
    Blob(&'a [u8]),
}

/// A Rust type a [`Cell`] converts into.
pub trait FromCell: Sized {
    /// Converts, or says what was found instead.
    fn from_cell(cell: Cell<'_>) -> std::result::Result<Self, String>;
}

impl FromCell for i64 {
    fn from_cell(cell: Cell<'_>) -> std::result::Result<Self, String> {
        match cell {
            Cell::Int(i) => Ok(i),
            other => Err(format!("expected an integer, found {other:?}")),
        }
    }
}
impl FromCell for bool {
    fn from_cell(cell: Cell<'_>) -> std::result::Result<Self, String> {
        i64::from_cell(cell).map(|i| i != 0)
    }
}
impl FromCell for String {
    fn from_cell(cell: Cell<'_>) -> std::result::Result<Self, String> {
        match cell {
            Cell::Text(s) => Ok(s.into_owned()),
            Cell::Int(i) => Ok(i.to_string()),
            other => Err(format!("expected text, found {other:?}")),
        }
    }
}
impl FromCell for Vec<u8> {
    fn from_cell(cell: Cell<'_>) -> std::result::Result<Self, String> {
        match cell {
            Cell::Blob(b) => Ok(b.to_vec()),
            other => Err(format!("expected bytes, found {other:?}")),
        }
    }
}
impl<T: FromCell> FromCell for Option<T> {
    fn from_cell(cell: Cell<'_>) -> std::result::Result<Self, String> {
        match cell {
            Cell::Null => Ok(None),
            other => T::from_cell(other).map(Some),
        }
    }
}

/// One row of an answer.
pub(crate) enum Row<'r> {
    Sqlite(&'r rusqlite::Row<'r>),
    Postgres(&'r postgres::Row),
}

impl Row<'_> {
    /// Column `i`.
    pub(crate) fn cell(&self, i: usize) -> Result<Cell<'_>> {
        match self {
            Row::Sqlite(r) => {
                use rusqlite::types::ValueRef;
                Ok(match r.get_ref(i)? {
                    ValueRef::Null => Cell::Null,
                    ValueRef::Integer(v) => Cell::Int(v),
                    ValueRef::Real(v) => Cell::Real(v),
                    ValueRef::Text(t) => Cell::Text(Cow::Borrowed(
                        std::str::from_utf8(t).map_err(|e| StoreError::Internal(format!("column {i}: {e}")))?,
                    )),
                    ValueRef::Blob(b) => Cell::Blob(b),
                })
            }
            Row::Postgres(r) => crate::postgres::cell(r, i),
        }
    }

    /// Column `i` as `T`.
    pub(crate) fn get<T: FromCell>(&self, i: usize) -> Result<T> {
        T::from_cell(self.cell(i)?).map_err(|m| StoreError::Internal(format!("column {i}: {m}")))
    }
}

/// A prepared statement (cached by the connection).
pub(crate) enum Stmt<'c> {
    Sqlite(rusqlite::CachedStatement<'c>),
    Postgres(&'c PgConn, postgres::Statement),
}

impl Stmt<'_> {
    /// Runs it; the number of rows changed.
    pub(crate) fn execute(&mut self, params: &[P<'_>]) -> Result<u64> {
        match self {
            Stmt::Sqlite(s) => Ok(s.execute(rusqlite::params_from_iter(params.iter()))? as u64),
            Stmt::Postgres(c, s) => c.execute_prepared(s, params),
        }
    }

    /// Calls `f` with each row of its answer.
    pub(crate) fn for_each(&mut self, params: &[P<'_>], mut f: impl FnMut(&Row<'_>) -> Result<()>) -> Result<()> {
        match self {
            Stmt::Sqlite(s) => {
                let mut rows = s.query(rusqlite::params_from_iter(params.iter()))?;
                while let Some(r) = rows.next()? {
                    f(&Row::Sqlite(r))?;
                }
                Ok(())
            }
            Stmt::Postgres(c, s) => {
                for r in c.query_prepared(s, params)? {
                    f(&Row::Postgres(&r))?;
                }
                Ok(())
            }
        }
    }

    /// The first row of its answer, if any, through `f`.
    pub(crate) fn query_opt<T>(
        &mut self,
        params: &[P<'_>],
        f: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<Option<T>> {
        match self {
            Stmt::Sqlite(s) => {
                let mut rows = s.query(rusqlite::params_from_iter(params.iter()))?;
                match rows.next()? {
                    Some(r) => f(&Row::Sqlite(r)).map(Some),
                    None => Ok(None),
                }
            }
            Stmt::Postgres(c, s) => match c.query_prepared(s, params)?.first() {
                Some(r) => f(&Row::Postgres(r)).map(Some),
                None => Ok(None),
            },
        }
    }
}

impl<'c> Db<'c> {
    /// The dialect of this connection.
    pub(crate) fn dialect(&self) -> Dialect {
        match self {
            Db::Sqlite(_) => Dialect::Sqlite,
            Db::Postgres(_) => Dialect::Postgres,
        }
    }

    /// A prepared statement, from the connection's cache.
    pub(crate) fn prepare(&self, sql: &str) -> Result<Stmt<'c>> {
        match *self {
            Db::Sqlite(c) => Ok(Stmt::Sqlite(c.prepare_cached(sql)?)),
            Db::Postgres(c) => Ok(Stmt::Postgres(c, c.prepare(sql)?)),
        }
    }

    /// Runs one statement; the number of rows changed.
    pub(crate) fn execute(&self, sql: &str, params: &[P<'_>]) -> Result<u64> {
        self.prepare(sql)?.execute(params)
    }

    /// Runs statements separated by `;` (no parameters).
    pub(crate) fn execute_batch(&self, sql: &str) -> Result<()> {
        match *self {
            Db::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Db::Postgres(c) => c.batch_execute(sql),
        }
    }

    /// Calls `f` with each row of the answer.
    pub(crate) fn for_each(&self, sql: &str, params: &[P<'_>], f: impl FnMut(&Row<'_>) -> Result<()>) -> Result<()> {
        self.prepare(sql)?.for_each(params, f)
    }

    /// Every row of the answer, through `f`.
    pub(crate) fn query_map<T>(
        &self,
        sql: &str,
        params: &[P<'_>],
        mut f: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        self.for_each(sql, params, |r| {
            out.push(f(r)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// The first row of the answer, if any, through `f`.
    pub(crate) fn query_opt<T>(
        &self,
        sql: &str,
        params: &[P<'_>],
        f: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<Option<T>> {
        self.prepare(sql)?.query_opt(params, f)
    }

    /// The first row of an answer that must have one.
    pub(crate) fn query_row<T>(&self, sql: &str, params: &[P<'_>], f: impl FnOnce(&Row<'_>) -> Result<T>) -> Result<T> {
        self.query_opt(sql, params, f)?.ok_or_else(|| {
            StoreError::Internal(format!(
                "no row returned by: {}",
                sql.split_whitespace().take(8).collect::<Vec<_>>().join(" ")
            ))
        })
    }

    /// Runs `f` inside a savepoint: its writes are kept when it succeeds and undone when it
    /// fails. Nests inside an open transaction; without one (SQLite), it is the transaction.
    pub(crate) fn savepoint<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        self.execute_batch("SAVEPOINT valdrix_write")?;
        match f() {
            Ok(v) => {
                self.execute_batch("RELEASE SAVEPOINT valdrix_write")?;
                Ok(v)
            }
            Err(e) => {
                // The error that matters is the first one; a failed rollback leaves the outer
                // transaction to be rolled back by its owner.
                let _ = self.execute_batch("ROLLBACK TO SAVEPOINT valdrix_write; RELEASE SAVEPOINT valdrix_write");
                Err(e)
            }
        }
    }
}

impl rusqlite::ToSql for P<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match *self {
            P::Null => ValueRef::Null,
            P::Int(i) => ValueRef::Integer(i),
            P::Text(t) => ValueRef::Text(t.as_bytes()),
            P::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

/// An owned parameter value, buffered by an [`Inserter`].
enum Owned {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

impl Owned {
    fn of(p: &P<'_>) -> Owned {
        match p {
            P::Null => Owned::Null,
            P::Int(i) => Owned::Int(*i),
            P::Text(s) => Owned::Text((*s).to_string()),
            P::Blob(b) => Owned::Blob(b.to_vec()),
        }
    }

    fn p(&self) -> P<'_> {
        match self {
            Owned::Null => P::Null,
            Owned::Int(i) => P::Int(*i),
            Owned::Text(s) => P::Text(s),
            Owned::Blob(b) => P::Blob(b),
        }
    }
}

/// Rows per multi-row `INSERT` on PostgreSQL (12 to 25 columns: well under its 65,535
/// parameters a statement).
const ROWS_PER_INSERT: usize = 500;

/// Inserts rows into one table. On SQLite, one cached statement per row (in process, already
/// fast). On PostgreSQL a round trip per row is what bounds the write rate, so rows are buffered
/// and sent [`ROWS_PER_INSERT`] at a time in one multi-row `INSERT`. Call [`Inserter::flush`]
/// before anything reads the table and before the end: rows still buffered are not written.
pub(crate) struct Inserter<'c> {
    db: Db<'c>,
    table: &'static str,
    cols: Vec<&'static str>,
    /// SQLite: the one-row statement; PostgreSQL: the full-batch statement.
    stmt: Stmt<'c>,
    buffer: Vec<Owned>,
}

impl<'c> Inserter<'c> {
    /// An inserter of `cols` into `table`.
    pub(crate) fn new(db: Db<'c>, table: &'static str, cols: &[&'static str]) -> Result<Self> {
        let rows = match db.dialect() {
            Dialect::Sqlite => 1,
            Dialect::Postgres => ROWS_PER_INSERT,
        };
        let stmt = db.prepare(&Self::sql(table, cols, rows))?;
        Ok(Inserter { db, table, cols: cols.to_vec(), stmt, buffer: Vec::new() })
    }

    fn sql(table: &str, cols: &[&str], rows: usize) -> String {
        let n = cols.len();
        let tuples: Vec<String> = (0..rows)
            .map(|r| {
                let params: Vec<String> = (1..=n).map(|c| format!("?{}", r * n + c)).collect();
                format!("({})", params.join(", "))
            })
            .collect();
        format!("INSERT INTO {table} ({}) VALUES {}", cols.join(", "), tuples.join(", "))
    }

    /// Inserts one row (its values in column order), now or with the next batch.
    pub(crate) fn push(&mut self, row: &[P<'_>]) -> Result<()> {
        debug_assert_eq!(row.len(), self.cols.len());
        if let Db::Sqlite(_) = self.db {
            self.stmt.execute(row)?;
            return Ok(());
        }
        self.buffer.extend(row.iter().map(Owned::of));
        if self.buffer.len() >= ROWS_PER_INSERT * self.cols.len() {
            let params: Vec<P<'_>> = self.buffer.iter().map(Owned::p).collect();
            self.stmt.execute(&params)?;
            self.buffer.clear();
        }
        Ok(())
    }

    /// Writes the rows still buffered: in chunks of powers of two, so that the statements the
    /// connection prepares and keeps are a handful of shapes, not one per remainder.
    pub(crate) fn flush(&mut self) -> Result<()> {
        let n = self.cols.len();
        let mut start = 0;
        let rows = self.buffer.len() / n;
        while start < rows {
            let chunk = 1usize << (usize::BITS - 1 - (rows - start).leading_zeros());
            let params: Vec<P<'_>> = self.buffer[start * n..(start + chunk) * n].iter().map(Owned::p).collect();
            self.db.prepare(&Self::sql(self.table, &self.cols, chunk))?.execute(&params)?;
            start += chunk;
        }
        self.buffer.clear();
        Ok(())
    }
}
