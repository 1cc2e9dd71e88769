//! Schema migrations, embedded in the binary and run at start (and by
//! `ferry db migrate`). sqlx's `Migrator` keeps its `_sqlx_migrations` table
//! with a checksum per script, so an edited script that already ran is an
//! error rather than a silent drift. The scripts are plain files under
//! `control/migrations/{sqlite,mysql}/`, read with `include_str!` (no sqlx
//! macros, so no build-time database).

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

use super::pool::{Pool, with_pool};
use crate::Error;

type Script = (i64, &'static str, &'static str);

const SQLITE: &[Script] = &[
    (
        1,
        "teamtalk",
        include_str!("../../migrations/sqlite/0001_teamtalk.sql"),
    ),
    (
        2,
        "ferry",
        include_str!("../../migrations/sqlite/0002_ferry.sql"),
    ),
    (
        3,
        "push",
        include_str!("../../migrations/sqlite/0003_push.sql"),
    ),
    (
        4,
        "audio",
        include_str!("../../migrations/sqlite/0004_audio.sql"),
    ),
    (
        5,
        "offline file",
        include_str!("../../migrations/sqlite/0005_offline_file.sql"),
    ),
    (
        6,
        "offline file size",
        include_str!("../../migrations/sqlite/0006_offline_file_size.sql"),
    ),
];

const MYSQL: &[Script] = &[
    (
        1,
        "teamtalk",
        include_str!("../../migrations/mysql/0001_teamtalk.sql"),
    ),
    (
        2,
        "ferry",
        include_str!("../../migrations/mysql/0002_ferry.sql"),
    ),
    (
        3,
        "push",
        include_str!("../../migrations/mysql/0003_push.sql"),
    ),
    (
        4,
        "audio",
        include_str!("../../migrations/mysql/0004_audio.sql"),
    ),
    (
        5,
        "offline file",
        include_str!("../../migrations/mysql/0005_offline_file.sql"),
    ),
    (
        6,
        "offline file size",
        include_str!("../../migrations/mysql/0006_offline_file_size.sql"),
    ),
];

#[derive(Debug)]
struct Embedded(&'static [Script]);

impl MigrationSource<'static> for Embedded {
    fn resolve(
        self,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 'static>> {
        let list = self
            .0
            .iter()
            .map(|&(version, name, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(name),
                    MigrationType::Simple,
                    Cow::Borrowed(sql),
                    false,
                )
            })
            .collect();
        Box::pin(async move { Ok(list) })
    }
}

/// Applies every migration not yet applied; returns how many scripts exist.
pub(super) async fn run(pool: &Pool) -> Result<usize, Error> {
    let scripts = if pool.is_mysql() { MYSQL } else { SQLITE };
    let migrator = Migrator::new(Embedded(scripts)).await?;
    with_pool!(pool, p => migrator.run(p).await)?;
    Ok(scripts.len())
}
