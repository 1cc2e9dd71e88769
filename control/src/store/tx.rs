//! A transaction on either backend behind one type, for code that runs many
//! statements in one transaction and is split across files (the message
//! writer): each statement is text plus a list of [`Arg`]s, run on SQLite
//! or MySQL alike. (Elsewhere `with_pool!` expands code once per backend;
//! sqlx's `Any` driver cannot decode MySQL's tinyint or unsigned columns.)

use sqlx::Transaction;
use sqlx::mysql::{MySql, MySqlRow};
use sqlx::sqlite::{Sqlite, SqliteRow};

use super::pool::{InsertId, Pool, RowExt};
use crate::Error;

/// A value bound into a statement.
#[derive(Debug, Clone, Copy)]
pub(super) enum Arg<'a> {
    U32(u32),
    I32(i32),
    Str(&'a str),
}

/// An open transaction.
pub(super) enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    MySql(Transaction<'static, MySql>),
}

/// A row of either backend.
pub(super) enum Row {
    Sqlite(SqliteRow),
    MySql(MySqlRow),
}

/// What a statement did.
#[derive(Debug, Clone, Copy)]
pub(super) struct Done {
    /// The id an INSERT gave its (last) row.
    pub insert_id: u32,
}

macro_rules! bound {
    ($sql:expr, $args:expr) => {{
        let mut q = sqlx::query($sql);
        for a in $args {
            q = match *a {
                Arg::U32(v) => q.bind(v),
                Arg::I32(v) => q.bind(v),
                Arg::Str(v) => q.bind(v),
            };
        }
        q
    }};
}

impl Tx {
    pub(super) async fn begin(pool: &Pool) -> Result<Tx, Error> {
        Ok(match pool {
            Pool::Sqlite(p) => Tx::Sqlite(p.begin().await?),
            Pool::MySql(p) => Tx::MySql(p.begin().await?),
        })
    }

    pub(super) fn is_mysql(&self) -> bool {
        matches!(self, Tx::MySql(_))
    }

    pub(super) async fn rows(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Row>, Error> {
        Ok(match self {
            Tx::Sqlite(tx) => bound!(sql, args)
                .fetch_all(&mut **tx)
                .await?
                .into_iter()
                .map(Row::Sqlite)
                .collect(),
            Tx::MySql(tx) => bound!(sql, args)
                .fetch_all(&mut **tx)
                .await?
                .into_iter()
                .map(Row::MySql)
                .collect(),
        })
    }

    pub(super) async fn row(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Option<Row>, Error> {
        Ok(self.rows(sql, args).await?.into_iter().next())
    }

    pub(super) async fn exec(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Done, Error> {
        Ok(match self {
            Tx::Sqlite(tx) => {
                let r = bound!(sql, args).execute(&mut **tx).await?;
                Done {
                    insert_id: r.insert_id().unwrap_or(0),
                }
            }
            Tx::MySql(tx) => {
                let r = bound!(sql, args).execute(&mut **tx).await?;
                Done {
                    insert_id: r.insert_id().unwrap_or(0),
                }
            }
        })
    }

    pub(super) async fn commit(self) -> Result<(), Error> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await?,
            Tx::MySql(tx) => tx.commit().await?,
        }
        Ok(())
    }
}

impl RowExt for Row {
    fn opt_int(&self, col: &str) -> Result<Option<i128>, Error> {
        match self {
            Row::Sqlite(r) => r.opt_int(col),
            Row::MySql(r) => r.opt_int(col),
        }
    }

    fn text(&self, col: &str) -> Result<String, Error> {
        match self {
            Row::Sqlite(r) => r.text(col),
            Row::MySql(r) => r.text(col),
        }
    }

    fn bytes(&self, col: &str) -> Result<Vec<u8>, Error> {
        match self {
            Row::Sqlite(r) => r.bytes(col),
            Row::MySql(r) => r.bytes(col),
        }
    }
}
