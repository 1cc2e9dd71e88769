//! The two SQL backends behind one type. Queries are plain parameterised
//! strings run against either pool by [`with_pool!`], which expands the same
//! code once per backend (sqlx's `Any` driver cannot decode MySQL's tinyint
//! or unsigned columns, both all over TeamTalk's schema).
//!
//! [`RowExt`] reads TeamTalk's integer columns, signed or unsigned, as `u32`
//! and its text columns as `String` on both backends.

use std::str::FromStr;
use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions, MySqlQueryResult, MySqlRow};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteQueryResult,
    SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, error::BoxDynError};

use crate::Error;

#[derive(Debug, Clone)]
pub enum Pool {
    Sqlite(SqlitePool),
    MySql(MySqlPool),
}

/// Runs `$body` with `$p` bound to the concrete pool of either backend.
macro_rules! with_pool {
    ($pool:expr, $p:ident => $body:expr) => {
        match $pool {
            $crate::store::pool::Pool::Sqlite($p) => $body,
            $crate::store::pool::Pool::MySql($p) => $body,
        }
    };
}
pub(crate) use with_pool;

/// How long a caller waits for a pooled connection before its request fails.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

impl Pool {
    /// Opens a pool for `url` (`sqlite:PATH` or `mysql://…`/`mariadb://…`).
    /// `writer` matters for SQLite only: the write pool holds one connection,
    /// since SQLite has one writer at a time and a second in-process writer
    /// would only wait on the file lock; reads go to a pool of their own (WAL
    /// lets them run beside the writer).
    pub async fn open(url: &str, size: u32, writer: bool) -> Result<Pool, Error> {
        if let Some(rest) = url.strip_prefix("mariadb://") {
            return Self::open_mysql(&format!("mysql://{rest}"), size).await;
        }
        if url.starts_with("mysql://") {
            return Self::open_mysql(url, size).await;
        }
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(ACQUIRE_TIMEOUT);
            let size = if writer { 1 } else { size };
            let pool = SqlitePoolOptions::new()
                .max_connections(size)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options)
                .await?;
            return Ok(Pool::Sqlite(pool));
        }
        Err(Error::Config(format!(
            "database URL {url:?} must start with sqlite:, mysql:// or mariadb://"
        )))
    }

    /// One trivial query: does the database answer?
    ///
    /// Errors: [`Error::Db`] when it does not.
    pub async fn ping(&self) -> Result<(), Error> {
        with_pool!(self, p => sqlx::query("SELECT 1").execute(p).await.map(|_| ()))?;
        Ok(())
    }

    async fn open_mysql(url: &str, size: u32) -> Result<Pool, Error> {
        let options = MySqlConnectOptions::from_str(url)?.charset("utf8mb4");
        let pool = MySqlPoolOptions::new()
            .max_connections(size)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        Ok(Pool::MySql(pool))
    }

    pub fn is_mysql(&self) -> bool {
        matches!(self, Pool::MySql(_))
    }

    pub async fn close(&self) {
        with_pool!(self, p => p.close().await)
    }
}

/// TeamTalk's columns read the same way from both backends.
pub trait RowExt {
    /// A nullable integer column (signed or unsigned, any width); NULL
    /// reads as `None`. What the typed readers below build on.
    fn opt_int(&self, col: &str) -> Result<Option<i128>, Error>;
    /// A text column; NULL reads as empty (TeamTalk's `DEFAULT ''`).
    fn text(&self, col: &str) -> Result<String, Error>;
    /// A column of text or bytes, as stored, whatever its encoding; NULL
    /// reads as empty.
    fn bytes(&self, col: &str) -> Result<Vec<u8>, Error>;

    /// A nullable integer column as `u32`; `Corrupt` when out of range.
    fn opt_u32(&self, col: &str) -> Result<Option<u32>, Error> {
        self.opt_int(col)?.map(|v| to_u32(col, v)).transpose()
    }

    /// An integer column as `u32`; `Corrupt` when NULL or out of range.
    fn u32(&self, col: &str) -> Result<u32, Error> {
        self.opt_u32(col)?
            .ok_or_else(|| Error::Corrupt(format!("{col} is NULL")))
    }

    /// An integer column as `u64` (a file size); `Corrupt` when NULL or
    /// negative.
    fn u64(&self, col: &str) -> Result<u64, Error> {
        let v = (self.opt_int(col)?).ok_or_else(|| Error::Corrupt(format!("{col} is NULL")))?;
        u64::try_from(v).map_err(|_| Error::Corrupt(format!("{col} = {v} is not a u64")))
    }
}

fn to_u32(col: &str, v: i128) -> Result<u32, Error> {
    u32::try_from(v).map_err(|_| Error::Corrupt(format!("{col} = {v} is not a u32")))
}

fn mismatch(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::ColumnDecode { .. })
}

impl RowExt for SqliteRow {
    fn opt_int(&self, col: &str) -> Result<Option<i128>, Error> {
        let v: Option<i64> = self.try_get(col)?;
        Ok(v.map(i128::from))
    }

    fn text(&self, col: &str) -> Result<String, Error> {
        let v: Option<String> = self.try_get(col)?;
        Ok(v.unwrap_or_default())
    }

    fn bytes(&self, col: &str) -> Result<Vec<u8>, Error> {
        // A TEXT or BLOB value alike.
        let v: Option<Vec<u8>> = self.try_get(col)?;
        Ok(v.unwrap_or_default())
    }
}

impl RowExt for MySqlRow {
    fn opt_int(&self, col: &str) -> Result<Option<i128>, Error> {
        // Unsigned columns decode as u64 only, signed ones (TeamTalk's `id`s,
        // COUNT, MAX of a signed column) as i64 only.
        match self.try_get::<Option<u64>, _>(col) {
            Ok(v) => Ok(v.map(i128::from)),
            Err(e) if mismatch(&e) => {
                let v: Option<i64> = self.try_get(col)?;
                Ok(v.map(i128::from))
            }
            Err(e) => Err(e.into()),
        }
    }

    fn text(&self, col: &str) -> Result<String, Error> {
        match self.try_get::<Option<String>, _>(col) {
            Ok(v) => Ok(v.unwrap_or_default()),
            Err(e) if mismatch(&e) => {
                let v: Option<Vec<u8>> = self.try_get(col)?;
                String::from_utf8(v.unwrap_or_default())
                    .map_err(|e| Error::Corrupt(format!("{col}: {}", BoxDynError::from(e))))
            }
            Err(e) => Err(e.into()),
        }
    }

    fn bytes(&self, col: &str) -> Result<Vec<u8>, Error> {
        let v: Option<Vec<u8>> = self.try_get(col)?;
        Ok(v.unwrap_or_default())
    }
}

/// The id an INSERT gave its row (AUTO_INCREMENT / rowid).
pub(super) trait InsertId {
    fn insert_id(&self) -> Result<u32, Error>;
}

impl InsertId for SqliteQueryResult {
    fn insert_id(&self) -> Result<u32, Error> {
        to_u32("rowid", self.last_insert_rowid().into())
    }
}

impl InsertId for MySqlQueryResult {
    fn insert_id(&self) -> Result<u32, Error> {
        to_u32("last_insert_id", self.last_insert_id().into())
    }
}
