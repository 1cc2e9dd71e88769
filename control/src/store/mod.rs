//! The database behind db_proxy: a write pool, a read pool (TeamTalk's
//! master and slave; the same server unless `db_read` says otherwise),
//! optional Redis, and the login lockout. One file per domain noun holds its
//! queries; every query is a constant string with `?` placeholders.

mod audio;
mod content;
mod counter;
mod department;
mod device_token;
mod group;
mod group_member;
mod group_shield;
mod history;
mod lockout;
mod message;
mod message_writer;
mod migrate;
mod offline_file;
mod password;
mod pool;
mod profile;
pub(crate) mod redis_conn;
mod redis_epoch;
mod session;
mod shard;
mod sql_text;
mod tx;
mod unread;
mod user;

use std::time::{SystemTime, UNIX_EPOCH};

pub use audio::{MAX_BYTES as AUDIO_MAX_BYTES, PATH_PREFIX as AUDIO_PATH_PREFIX};
pub use content::{MARKER as CONTENT_MARKER, MAX_CHARS as CONTENT_MAX_CHARS};
pub use device_token::{TOKEN_MAX_CHARS, quiet_hours};
pub use group::{GROUP_TEXT_MAX_CHARS, NewGroup};
pub use group_member::MemberChange;
pub use history::{Conversation, Latest, PAGE_BYTES, PREVIEW_BYTES};
pub use lockout::{Lockout, MAX_FAILURES, WINDOW_SECS};
pub use message::Outgoing;
use message_writer::MessageWriter;
pub use offline_file::FILE_NAME_MAX_BYTES as OFFLINE_FILE_NAME_MAX_BYTES;
pub use password::{ARGON2_MARKER, md5_hex};
pub use pool::{Pool, RowExt};
pub use profile::SIGN_INFO_MAX_CHARS;
pub use redis_conn::RedisConn;
pub use redis_epoch::EPOCH_KEY as REDIS_EPOCH_KEY;
pub use user::{NewUser, PasswordScheme, UserRow, Validation};

use ferry_config::value::opt_text;
use ferry_config::{Problems, Validate};
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::admission::{Gate, GateStats, available_cores};

/// What the store connects to, and the bounds of the work done on it:
/// keys of the `[db_proxy]` section (see `db_proxy::Config`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct StoreOptions {
    /// `sqlite:PATH` or `mysql://…` / `mariadb://…`: writes (and reads,
    /// unless `db_read` is set). Empty: SQLite under `storage.data_dir`
    /// (the binary fills it in).
    pub db: String,
    /// A read replica (TeamTalk's `teamtalk_slave`); empty reads from `db`.
    #[serde(with = "opt_text")]
    pub db_read: Option<String>,
    /// `redis://…`: TeamTalk's counters and unread hashes; empty keeps them
    /// in SQL only.
    #[serde(with = "opt_text")]
    pub redis: Option<String>,
    /// Connections per pool (SQLite's write pool always has one).
    pub pool_size: u32,
    /// argon2 checks running at once at most (each holds ~19 MiB and a
    /// core for ~20 ms); 0 means one per available core.
    pub hash_concurrency: usize,
    /// argon2 checks waiting at most beyond those running; more logins are
    /// answered "server busy" at once.
    pub hash_queue: usize,
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions::new("")
    }
}

impl StoreOptions {
    /// `db` with the defaults of everything else: no read replica, no
    /// Redis, a pool of 16, hashing bounded to the cores with 1024 waiting.
    pub fn new(db: impl Into<String>) -> StoreOptions {
        StoreOptions {
            db: db.into(),
            db_read: None,
            redis: None,
            pool_size: 16,
            hash_concurrency: 0,
            hash_queue: 1024,
        }
    }
}

impl Validate for StoreOptions {
    fn validate(&self, p: &mut Problems) {
        const DB: &[&str] = &["sqlite:", "mysql://", "mariadb://"];
        const REDIS: &[&str] = &["redis://", "rediss://", "redis+unix://"];
        let urls = [
            ("db", Some(&self.db).filter(|d| !d.is_empty()), DB),
            ("db_read", self.db_read.as_ref(), DB),
            ("redis", self.redis.as_ref(), REDIS),
        ];
        for (key, url, schemes) in urls {
            if let Some(url) = url
                && !schemes.iter().any(|s| url.starts_with(s))
            {
                p.fail(
                    key,
                    format!("{url:?} must start with one of {}", schemes.join(", ")),
                );
            }
        }
        p.range("pool_size", self.pool_size, 1..=1024);
        p.range("hash_concurrency", self.hash_concurrency, 0..=1024);
        p.range("hash_queue", self.hash_queue, 0..=1_000_000);
    }
}

#[derive(Debug)]
pub struct Store {
    write: Pool,
    read: Pool,
    redis: Option<RedisConn>,
    lockout: Lockout,
    messages: MessageWriter,
    /// Bounds argon2 checks (login and `user add`): see [`crate::admission`].
    hashing: Gate,
    /// The task noticing that Redis lost its data (`redis_epoch`).
    epoch_watch: Option<tokio::task::AbortHandle>,
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Some(watch) = &self.epoch_watch {
            watch.abort();
        }
    }
}

impl Store {
    /// Connects, applies the migrations on the write pool, connects Redis
    /// (lazily: an unreachable Redis is logged, and each request that needs
    /// it gets an error result until it is back).
    pub async fn open(options: &StoreOptions) -> Result<Store, Error> {
        let write = Pool::open(&options.db, options.pool_size, true).await?;
        let applied = migrate::run(&write).await?;
        tracing::info!(db = %redact(&options.db), scripts = applied, "database ready");
        let read = match (&options.db_read, &write) {
            (Some(url), _) => Pool::open(url, options.pool_size, false).await?,
            (None, Pool::Sqlite(_)) => Pool::open(&options.db, options.pool_size, false).await?,
            (None, Pool::MySql(_)) => write.clone(),
        };
        let redis = match &options.redis {
            Some(url) => Some(RedisConn::connect(url).await?),
            None => None,
        };
        let messages = MessageWriter::spawn(write.clone(), redis.clone());
        // Redis without ferry's mark has lost (or never had) the counters:
        // rebuild them before the first request, then keep watching.
        let epoch_watch = match &redis {
            Some(r) => {
                if let Err(e) = redis_epoch::check(&write, r).await {
                    tracing::warn!(error = %e, "cannot check redis for lost counters yet");
                }
                let task = tokio::spawn(redis_epoch::watch(write.clone(), r.clone()));
                Some(task.abort_handle())
            }
            None => None,
        };
        let hash_concurrency = match options.hash_concurrency {
            0 => available_cores(),
            n => n,
        };
        Ok(Store {
            write,
            read,
            redis,
            lockout: Lockout::default(),
            messages,
            hashing: Gate::new("password hashing", hash_concurrency, options.hash_queue),
            epoch_watch,
        })
    }

    /// Opens and migrates only (`ferry db migrate`).
    pub async fn migrate(db: &str) -> Result<usize, Error> {
        let pool = Pool::open(db, 1, true).await?;
        let n = migrate::run(&pool).await?;
        pool.close().await;
        Ok(n)
    }

    pub fn write_pool(&self) -> &Pool {
        &self.write
    }

    pub fn redis(&self) -> Option<&RedisConn> {
        self.redis.as_ref()
    }

    pub fn lockout(&self) -> &Lockout {
        &self.lockout
    }

    /// The password-hashing gate's counters.
    pub fn hashing(&self) -> GateStats {
        self.hashing.stats()
    }

    pub async fn close(&self) {
        if let Some(watch) = &self.epoch_watch {
            watch.abort();
        }
        self.write.close().await;
        self.read.close().await;
    }
}

/// `text` as `str` for a text column, or [`Error::InvalidArgument`] naming
/// `field`: TeamTalk's text columns are utf8mb4 and cannot hold other
/// encodings, so such a request gets its failure answer. (Columns that can
/// hold any bytes, such as an offline file's name, take the bytes as sent.)
pub(crate) fn utf8_arg<'a>(field: &str, text: &'a [u8]) -> Result<&'a str, Error> {
    ferry_proto::text::utf8(text).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "{field} {} is not UTF-8 text",
            ferry_proto::text::show(text)
        ))
    })
}

/// Unix seconds, as TeamTalk's u32 time columns hold them.
pub fn now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as u32)
}

/// A URL without its password, for logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}
