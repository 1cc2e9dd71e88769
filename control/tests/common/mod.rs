//! Test harness: real databases, a db_proxy on 127.0.0.1:0, and a raw PDU
//! client speaking ferry-proto.
//!
//! - SQLite: a temp file, always.
//! - MariaDB: `FERRY_TEST_MYSQL_URL` (server URL, e.g. mysql://root@127.0.0.1:3306/test);
//!   each test creates a fresh database and drops it afterwards.
//! - Redis: `FERRY_TEST_REDIS_URL` (e.g. redis://127.0.0.1:6379); each test takes its own
//!   db number (8 and up) and flushes it before and after.
//!
//! - A read server (TeamTalk's slave, `db_read`): `FERRY_TEST_MYSQL_READ_URL` (e.g.
//!   mysql://root@127.0.0.1:3307/test, a second MariaDB); a database of the same name is
//!   created there for the test and dropped afterwards.
//!
//! Unset variables skip the test with a printed reason, except under `CI`, where they fail it.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ferry_control::db_proxy::{self, DbProxy};
use ferry_control::store::{Pool, StoreOptions};
use ferry_proto::{Frame, Pdu, frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

static NEXT: AtomicU32 = AtomicU32::new(0);

mod skip;
use skip::required_env;

/// A database for one test, removed when dropped.
pub struct Backend {
    pub name: &'static str,
    pub options: StoreOptions,
    _tmp: Option<tempfile::TempDir>,
    mysql: Option<MysqlDb>,
    mysql_read: Option<MysqlDb>,
    redis_db: Option<String>,
}

struct MysqlDb {
    server: String,
    db: String,
}

impl Drop for MysqlDb {
    fn drop(&mut self) {
        let (server, db) = (self.server.clone(), self.db.clone());
        // Drop runs inside the test's runtime: use a thread with its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(Pool::MySql(p)) = Pool::open(&server, 1, true).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS `{db}`"))
                        .execute(&p)
                        .await;
                    p.close().await;
                }
            });
        })
        .join();
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Some(url) = self.redis_db.take() {
            let _ = std::thread::spawn(move || flushdb_blocking(&url)).join();
        }
    }
}

fn flushdb_blocking(url: &str) {
    if let Ok(client) = redis::Client::open(url)
        && let Ok(mut conn) = client.get_connection()
    {
        let _: Result<(), _> = redis::cmd("FLUSHDB").query(&mut conn);
    }
}

fn unique(prefix: &str) -> String {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}_{}_{n}_{nanos}", std::process::id())
}

/// Redis db numbers handed to tests of this binary (8..=15).
static REDIS_DB: AtomicU32 = AtomicU32::new(8);

fn redis_url() -> Option<String> {
    let base = required_env("FERRY_TEST_REDIS_URL")?;
    let db = REDIS_DB.fetch_add(1, Ordering::Relaxed);
    assert!(db <= 15, "more Redis-backed tests than spare db numbers");
    let url = format!("{}/{db}", base.trim_end_matches('/'));
    flushdb_blocking(&url);
    Some(url)
}

/// Logs of the server under test on the test's output (`RUST_LOG`, default warn).
fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

impl Backend {
    pub async fn sqlite() -> Option<Backend> {
        init_logs();
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("ferry.db");
        Some(Backend {
            name: "sqlite",
            options: store_options(format!("sqlite:{}", path.display()), None),
            _tmp: Some(tmp),
            mysql: None,
            mysql_read: None,
            redis_db: None,
        })
    }

    pub async fn mysql() -> Option<Backend> {
        init_logs();
        let server = required_env("FERRY_TEST_MYSQL_URL")?;
        let db = unique("ferry_test");
        let url = create_database(&server, &db).await;
        Some(Backend {
            name: "mysql",
            options: store_options(url, None),
            _tmp: None,
            mysql: Some(MysqlDb { server, db }),
            mysql_read: None,
            redis_db: None,
        })
    }

    /// This MySQL backend with its reads sent to a database of the same name
    /// on the read server (`db_read`). The read database is left empty: the
    /// test gives it the schema and the rows a replica would have.
    pub async fn with_read_server(mut self) -> Option<Backend> {
        let server = required_env("FERRY_TEST_MYSQL_READ_URL")?;
        let db = self.mysql.as_ref().expect("a MySQL backend").db.clone();
        let url = create_database(&server, &db).await;
        self.options.db_read = Some(url);
        self.mysql_read = Some(MysqlDb { server, db });
        self.name = "mysql+read";
        Some(self)
    }

    /// This backend with Redis in front of it (TeamTalk's counters).
    pub async fn sqlite_redis() -> Option<Backend> {
        Self::sqlite().await?.with_redis()
    }

    pub async fn mysql_redis() -> Option<Backend> {
        Self::mysql().await?.with_redis()
    }

    pub fn with_redis(mut self) -> Option<Backend> {
        let url = redis_url()?;
        self.options.redis = Some(url.clone());
        self.redis_db = Some(url);
        self.name = if self.mysql.is_some() {
            "mysql+redis"
        } else {
            "sqlite+redis"
        };
        Some(self)
    }

    pub async fn redis(&self) -> Option<redis::aio::MultiplexedConnection> {
        let url = self.redis_db.as_ref()?;
        let client = redis::Client::open(url.as_str()).unwrap();
        Some(client.get_multiplexed_async_connection().await.unwrap())
    }

    /// A pool on the test database for checks behind db_proxy's back.
    pub async fn pool(&self) -> Pool {
        Pool::open(&self.options.db, 2, false).await.unwrap()
    }

    /// A pool on the read server's database (see [`Backend::with_read_server`]).
    pub async fn read_pool(&self) -> Pool {
        let url = self.options.db_read.as_ref().expect("a read server");
        Pool::open(url, 2, false).await.unwrap()
    }

    pub async fn start(&self) -> Server {
        self.start_with(|_| {}).await
    }

    pub async fn start_with(&self, tune: impl FnOnce(&mut db_proxy::Config)) -> Server {
        let mut options =
            db_proxy::Config::new("127.0.0.1:0".parse().unwrap(), self.options.clone());
        options.drain_timeout = Duration::from_secs(10);
        tune(&mut options);
        let proxy = DbProxy::bind(options).await.unwrap();
        let addr = proxy.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            proxy
                .run(async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap()
        });
        Server {
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }
}

/// Creates database `db` on `server` (a mysql:// URL); returns its URL.
async fn create_database(server: &str, db: &str) -> String {
    let Pool::MySql(p) = Pool::open(server, 1, true).await.unwrap() else {
        panic!("{server} is not a mysql:// URL")
    };
    sqlx::query(&format!(
        "CREATE DATABASE `{db}` DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
    ))
    .execute(&p)
    .await
    .unwrap();
    p.close().await;
    let base = match server.rfind('/') {
        Some(i) if i > "mysql://".len() => &server[..i],
        _ => server,
    };
    format!("{base}/{db}")
}

fn store_options(db: String, redis: Option<String>) -> StoreOptions {
    StoreOptions {
        redis,
        pool_size: 8,
        ..StoreOptions::new(db)
    }
}

pub struct Server {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Server {
    pub async fn connect(&self) -> Client {
        Client::connect(self.addr).await
    }

    /// Graceful shutdown: drain, close the pools, wait for the task.
    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap();
    }
}

/// A raw PDU connection, as a msg_server has one.
pub struct Client {
    stream: TcpStream,
    buf: BytesMut,
    seq: u16,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        Client {
            stream: TcpStream::connect(addr).await.unwrap(),
            buf: BytesMut::new(),
            seq: 0,
        }
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    pub async fn send<T: Pdu>(&mut self, msg: &T) -> u16 {
        self.seq = self.seq.wrapping_add(1);
        let pdu = frame::encode_to_bytes(msg, self.seq, frame::DEFAULT_MAX_FRAME).unwrap();
        self.send_raw(&pdu).await;
        self.seq
    }

    /// The next frame, or `None` when the server closed the connection.
    pub async fn recv_frame(&mut self) -> Option<Frame> {
        loop {
            if let Some(f) = Frame::take(&mut self.buf, frame::DEFAULT_MAX_FRAME).unwrap() {
                return Some(f);
            }
            let n =
                tokio::time::timeout(Duration::from_secs(20), self.stream.read_buf(&mut self.buf))
                    .await
                    .expect("no answer within 20 s")
                    .unwrap_or(0);
            if n == 0 {
                return None;
            }
        }
    }

    /// The next message of type `T`, past the heartbeats db_proxy sends on
    /// a link it has not written to for 5 s.
    pub async fn recv<T: Pdu>(&mut self) -> (u16, T) {
        loop {
            let f = self.recv_frame().await.expect("connection closed");
            if f.header.command == ferry_proto::registry::CID_OTHER_HEARTBEAT
                && T::COMMAND != ferry_proto::registry::CID_OTHER_HEARTBEAT
            {
                continue;
            }
            return (f.header.seq_num, f.decode::<T>().unwrap());
        }
    }

    /// Sends a request and reads its answer, checking the seq is echoed.
    pub async fn call<Req: Pdu, Rsp: Pdu>(&mut self, req: &Req) -> Rsp {
        let seq = self.send(req).await;
        let (got, rsp) = self.recv::<Rsp>().await;
        assert_eq!(got, seq, "answer carries the request's seq");
        rsp
    }

    /// True when nothing arrives within `wait` (a request with no answer).
    pub async fn silent_for(&mut self, wait: Duration) -> bool {
        tokio::time::timeout(wait, self.stream.read_buf(&mut self.buf))
            .await
            .is_err()
            && self.buf.is_empty()
    }
}

/// Counts rows: `SELECT COUNT(*) …` with u32 parameters.
pub async fn count(pool: &Pool, sql: &str, args: &[u32]) -> i64 {
    match pool {
        Pool::Sqlite(p) => {
            let mut q = sqlx::query_scalar::<_, i64>(sql);
            for a in args {
                q = q.bind(*a);
            }
            q.fetch_one(p).await.unwrap()
        }
        Pool::MySql(p) => {
            let mut q = sqlx::query_scalar::<_, i64>(sql);
            for a in args {
                q = q.bind(*a);
            }
            q.fetch_one(p).await.unwrap()
        }
    }
}

/// The first column of the first row as text (`None`: no row or NULL).
/// Read as bytes: MySQL reports TeamTalk's `_bin` text columns as binary.
pub async fn text(pool: &Pool, sql: &str, args: &[u32]) -> Option<String> {
    blob(pool, sql, args)
        .await
        .map(|b| String::from_utf8(b).unwrap())
}

/// The first column of the first row as bytes (`None`: no row or NULL).
pub async fn blob(pool: &Pool, sql: &str, args: &[u32]) -> Option<Vec<u8>> {
    macro_rules! run {
        ($p:expr) => {{
            let mut q = sqlx::query_scalar::<_, Option<Vec<u8>>>(sql);
            for a in args {
                q = q.bind(*a);
            }
            q.fetch_optional($p).await.unwrap().flatten()
        }};
    }
    match pool {
        Pool::Sqlite(p) => run!(p),
        Pool::MySql(p) => run!(p),
    }
}

/// A value bound into a test statement.
pub enum Arg<'a> {
    U(u32),
    S(&'a str),
}

pub async fn exec(pool: &Pool, sql: &str, args: &[Arg<'_>]) {
    macro_rules! run {
        ($p:expr) => {{
            let mut q = sqlx::query(sql);
            for a in args {
                q = match a {
                    Arg::U(v) => q.bind(*v),
                    Arg::S(v) => q.bind(*v),
                };
            }
            q.execute($p).await.unwrap();
        }};
    }
    match pool {
        Pool::Sqlite(p) => run!(p),
        Pool::MySql(p) => run!(p),
    }
}

/// An IMUser row as TeamTalk writes one: password = md5hex(md5hex(plain) + salt).
pub async fn insert_teamtalk_user(pool: &Pool, name: &str, plain: &str, salt: &str, status: u32) {
    let client = ferry_control::store::md5_hex(plain.as_bytes());
    let stored = ferry_control::store::md5_hex(format!("{client}{salt}").as_bytes());
    exec(
        pool,
        "INSERT INTO IMUser (sex, name, domain, nick, password, salt, phone, email, avatar, departId, \
         status, created, updated, push_shield_status, sign_info) \
         VALUES (1, ?, ?, ?, ?, ?, '13800000000', 'a@b.c', '', 3, ?, 100, 100, 0, 'hi')",
        &[
            Arg::S(name),
            Arg::S(name),
            Arg::S(name),
            Arg::S(&stored),
            Arg::S(salt),
            Arg::U(status),
        ],
    )
    .await;
}

/// What clients send as `password`: md5hex(plain).
pub fn client_password(plain: &str) -> String {
    ferry_control::store::md5_hex(plain.as_bytes())
}

pub fn bytes(data: &[u8]) -> Bytes {
    Bytes::copy_from_slice(data)
}

/// Expands one async test body `fn(Backend)` into a test per backend:
/// SQLite and MariaDB, `redis` adds MariaDB + Redis, or a list of
/// [`Backend`] constructors names them.
#[macro_export]
macro_rules! on_backends {
    ($body:ident) => {
        $crate::on_backends!($body, [sqlite, mysql]);
    };
    ($body:ident, redis) => {
        $crate::on_backends!($body, [sqlite, mysql, mysql_redis]);
    };
    ($body:ident, [$($backend:ident),+]) => {
        mod $body {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $backend() {
                    if let Some(b) = $crate::common::Backend::$backend().await {
                        super::$body(b).await
                    }
                }
            )+
        }
    };
}

/// `user`'s recent sessions (CID_BUDDY_LIST_RECENT_CONTACT_SESSION_REQUEST,
/// all of them).
pub async fn recent_sessions(
    c: &mut Client,
    user: u32,
) -> Vec<ferry_proto::pb::im::base_define::ContactSessionInfo> {
    use ferry_proto::pb::im::buddy::{ImRecentContactSessionReq, ImRecentContactSessionRsp};
    let rsp: ImRecentContactSessionRsp = c
        .call(&ImRecentContactSessionReq {
            user_id: user,
            latest_update_time: 0,
            attach_data: None,
        })
        .await;
    rsp.contact_session_list
}

/// The peers (or groups) of `user`'s recent sessions, newest first.
pub async fn session_ids(c: &mut Client, user: u32) -> Vec<u32> {
    recent_sessions(c, user)
        .await
        .iter()
        .map(|s| s.session_id)
        .collect()
}

/// Text fields arrive as bytes (`ferry_proto::text`); the tests compare the
/// UTF-8 ones as `str`.
pub trait AsText {
    fn as_str(&self) -> &str;
}

impl AsText for bytes::Bytes {
    fn as_str(&self) -> &str {
        std::str::from_utf8(self).expect("UTF-8 text")
    }
}
