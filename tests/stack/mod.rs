//! The whole control plane in this test process on 127.0.0.1:0 ports:
//! db_proxy (SQLite in a temp dir), route_server, login_server, msg_server
//! and a relay (monoio threads), wired as a deployment wires them; and a
//! raw PDU client that talks to msg_server as a TeamTalk client does.
#![allow(dead_code, unreachable_pub)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use ferry_control::db_proxy::{self, DbProxy};
use ferry_control::login_server::{self, LoginServer};
use ferry_control::msg_server::{self, MsgServer, Snapshotter};
use ferry_control::route_server::{self, RouteServer};
use ferry_control::store::{NewUser, Store, StoreOptions, md5_hex};
use ferry_proto::pb::im::base_define::ClientType;
use ferry_proto::pb::im::login::{ImLoginReq, ImLoginRes};
use ferry_proto::registry::CommandId;
use ferry_proto::{Frame, Pdu, frame};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

pub mod process;
#[path = "../../control/tests/common/skip.rs"]
mod skip;
pub use skip::required_env;

pub const PASSWORD: &str = "secret";

/// Every service up, on loopback.
pub struct Stack {
    pub db: SocketAddr,
    pub route: SocketAddr,
    pub login: login_server::Addresses,
    pub msg: SocketAddr,
    pub relay: Option<ferry_relay::Relay>,
    pub store: StoreOptions,
    pub msg_stats: Arc<Snapshotter>,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

pub async fn until(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

impl Stack {
    /// The stack with a relay.
    pub async fn start() -> Stack {
        Self::start_with(true, |_| {}).await
    }

    /// The stack with a relay that keeps offline files (1 MiB blocks,
    /// under the stack's temporary directory).
    pub async fn start_offline() -> Stack {
        Self::start_full(true, true, |_| {}).await
    }

    /// `relay`: start one; `tune` adjusts msg_server's config.
    pub async fn start_with(relay: bool, tune: impl FnOnce(&mut msg_server::Config)) -> Stack {
        Self::start_full(relay, false, tune).await
    }

    /// `offline`: the relay keeps offline files.
    pub async fn start_full(
        relay: bool,
        offline: bool,
        tune: impl FnOnce(&mut msg_server::Config),
    ) -> Stack {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
            )
            .with_test_writer()
            .try_init();
        let dir = tempfile::tempdir().unwrap();
        let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let (stop, stopped) = watch::channel(false);
        let mut tasks = Vec::new();

        let (db_addr, store) = spawn_db(dir.path(), &stopped, &mut tasks).await;
        let route_addr = spawn_route(route_server::Config::default(), &stopped, &mut tasks).await;

        let login_addrs = spawn_login(&stopped, &mut tasks).await;

        let relay = relay.then(|| {
            let mut config = ferry_relay::Config::local(2);
            if offline {
                config.offline = Some(ferry_storage::Config {
                    root: dir.path().join("offline"),
                    min_free_bytes: 0,
                    ..ferry_storage::Config::default()
                });
            }
            ferry_relay::Relay::start(config).unwrap()
        });
        let mut config = msg_server::Config {
            listen: local,
            db_proxy: vec![db_addr],
            route_server: vec![route_addr],
            login_server: vec![login_addrs.msg_server],
            file_server: relay.iter().map(|r| r.addresses().msg).collect(),
            ..Default::default()
        };
        tune(&mut config);
        let (msg_addr, msg_stats) = spawn_msg(config, &stopped, &mut tasks).await;
        Stack {
            db: db_addr,
            route: route_addr,
            login: login_addrs,
            msg: msg_addr,
            relay,
            store,
            msg_stats,
            stop,
            tasks,
            _dir: dir,
        }
    }

    /// How ferry-client logs in as `user` here (through login_server's
    /// HTTP; requests may take 5 s).
    pub fn login_as(&self, user: &str) -> ferry_client::Login {
        let mut l = ferry_client::Login::new(format!("http://{}", self.login.http), user, PASSWORD);
        l.timeout = Duration::from_secs(5);
        l
    }

    /// Users `names`, created as `ferry user add` does (argon2); their ids.
    pub async fn users(&self, names: &[&str], depart: u32) -> Vec<u32> {
        add_users(&self.store, names, depart).await
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
        if let Some(relay) = self.relay {
            relay.shutdown();
        }
    }
}

pub type Tasks = Vec<tokio::task::JoinHandle<()>>;

pub async fn spawn_db(
    dir: &std::path::Path,
    stopped: &watch::Receiver<bool>,
    tasks: &mut Tasks,
) -> (SocketAddr, StoreOptions) {
    let store = StoreOptions::new(format!("sqlite:{}", dir.join("ferry.db").display()));
    let db = DbProxy::bind(db_proxy::Config::new(LOCAL, store.clone()))
        .await
        .unwrap();
    let addr = db.local_addr().unwrap();
    let s = stopped.clone();
    tasks.push(tokio::spawn(async move { db.run(until(s)).await.unwrap() }));
    (addr, store)
}

pub async fn spawn_route(
    config: route_server::Config,
    stopped: &watch::Receiver<bool>,
    tasks: &mut Tasks,
) -> SocketAddr {
    let route = RouteServer::bind(route_server::Config {
        listen: LOCAL,
        ..config
    })
    .await
    .unwrap();
    let addr = route.local_addr().unwrap();
    let s = stopped.clone();
    tasks.push(tokio::spawn(
        async move { route.run(until(s)).await.unwrap() },
    ));
    addr
}

/// A msg_server, returned once every link it was given is up (one pointed
/// nowhere waits the three seconds out).
pub async fn spawn_msg(
    config: msg_server::Config,
    stopped: &watch::Receiver<bool>,
    tasks: &mut Tasks,
) -> (SocketAddr, Arc<Snapshotter>) {
    let msg = MsgServer::bind(config).await.unwrap();
    let addr = msg.addresses().unwrap().client;
    let stats = msg.stats();
    let s = stopped.clone();
    tasks.push(tokio::spawn(
        async move { msg.run(until(s)).await.unwrap() },
    ));
    for _ in 0..300 {
        if stats.links_up() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (addr, stats)
}

pub async fn spawn_login(
    stopped: &watch::Receiver<bool>,
    tasks: &mut Tasks,
) -> login_server::Addresses {
    let login = LoginServer::bind(login_server::Config {
        http_listen: LOCAL,
        client_listen: LOCAL,
        msg_server_listen: LOCAL,
        msfs_url: "http://127.0.0.1:8700/".into(),
        discovery_url: "http://127.0.0.1/api/discovery".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let addrs = login.addresses().unwrap();
    let s = stopped.clone();
    tasks.push(tokio::spawn(
        async move { login.run(until(s)).await.unwrap() },
    ));
    addrs
}

pub const LOCAL: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);

/// The pair's route_servers' presence_ttl: short, so a test sees a
/// route_server's death quickly.
pub const PAIR_PRESENCE_TTL: Duration = Duration::from_secs(1);

/// Two msg_servers, each linked to a route_server of its own; the two
/// route_servers share one Redis (keys and channels under a prefix of this
/// pair's, deleted at the end), and both msg_servers one db_proxy.
pub struct Pair {
    pub msg: [SocketAddr; 2],
    /// The login_server both msg_servers register with.
    pub login: login_server::Addresses,
    pub msg_stats: [Arc<Snapshotter>; 2],
    /// Stops msg_server i alone (its links close, as at a crash of its
    /// process, but with a drain).
    msg_stop: [watch::Sender<bool>; 2],
    store: StoreOptions,
    pub redis: String,
    /// The route_servers' `redis_prefix`.
    pub prefix: String,
    stop: watch::Sender<bool>,
    tasks: Tasks,
    _dir: tempfile::TempDir,
}

impl Pair {
    /// `None` (skipped) without `FERRY_TEST_REDIS_URL`.
    pub async fn start() -> Option<Pair> {
        let redis = required_env("FERRY_TEST_REDIS_URL")?;
        let dir = tempfile::tempdir().unwrap();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let prefix = format!("ferrytest{}x{nanos}", std::process::id());
        let (stop, stopped) = watch::channel(false);
        let mut tasks = Vec::new();
        let (db, store) = spawn_db(dir.path(), &stopped, &mut tasks).await;
        let login = spawn_login(&stopped, &mut tasks).await;
        let mut msg = Vec::new();
        let mut msg_stats = Vec::new();
        let mut msg_stop = Vec::new();
        for _ in 0..2 {
            let route = route_server::Config {
                redis: Some(redis.clone()),
                redis_prefix: prefix.clone(),
                presence_ttl: PAIR_PRESENCE_TTL,
                ..Default::default()
            };
            let route = spawn_route(route, &stopped, &mut tasks).await;
            let (tx, rx) = watch::channel(false);
            let config = msg_server::Config {
                listen: LOCAL,
                db_proxy: vec![db],
                route_server: vec![route],
                login_server: vec![login.msg_server],
                ..Default::default()
            };
            let (addr, stats) = spawn_msg(config, &rx, &mut tasks).await;
            msg.push(addr);
            msg_stats.push(stats);
            msg_stop.push(tx);
        }
        Some(Pair {
            msg: msg.try_into().unwrap(),
            login,
            msg_stats: msg_stats.try_into().unwrap_or_else(|_| unreachable!()),
            msg_stop: msg_stop.try_into().unwrap_or_else(|_| unreachable!()),
            store,
            redis,
            prefix,
            stop,
            tasks,
            _dir: dir,
        })
    }

    pub async fn users(&self, names: &[&str], depart: u32) -> Vec<u32> {
        add_users(&self.store, names, depart).await
    }

    pub fn stop_msg(&self, i: usize) {
        let _ = self.msg_stop[i].send(true);
    }

    pub async fn stop(self) {
        for s in &self.msg_stop {
            let _ = s.send(true);
        }
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
        let client = redis::Client::open(self.redis.as_str()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:*", self.prefix))
            .query_async(&mut conn)
            .await
            .unwrap();
        if !keys.is_empty() {
            let _: () = redis::cmd("DEL")
                .arg(&keys)
                .query_async(&mut conn)
                .await
                .unwrap();
        }
    }
}

pub async fn add_users(options: &StoreOptions, names: &[&str], depart: u32) -> Vec<u32> {
    let store = Store::open(options).await.unwrap();
    let mut ids = Vec::new();
    for name in names {
        let id = store
            .add_user(&NewUser {
                name: name.to_string(),
                password: PASSWORD.into(),
                nick: String::new(),
                depart_id: depart,
                scheme: Default::default(),
            })
            .await
            .unwrap();
        ids.push(id);
    }
    store.close().await;
    ids
}

/// A single text message to user `to`, as a PC client sends it: no
/// sender id (msg_server takes the session's own), no msg_id or time
/// (db_proxy assigns them).
pub fn text_msg(to: u32, text: &str) -> ferry_proto::pb::im::message::ImMsgData {
    ferry_proto::pb::im::message::ImMsgData {
        from_user_id: 0,
        to_session_id: to,
        msg_id: 0,
        create_time: 0,
        msg_type: ferry_proto::pb::im::base_define::MsgType::SingleText as i32,
        msg_data: text.as_bytes().to_vec().into(),
        attach_data: None,
    }
}

/// A client connection to msg_server, as TeamTalk's clients speak.
pub struct Client {
    stream: TcpStream,
    buf: BytesMut,
    seq: u16,
    /// Frames read while waiting for something else.
    pub queued: VecDeque<Frame>,
    pub user: u32,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        Client::on(TcpStream::connect(addr).await.unwrap())
    }

    /// [`Client::connect`] from `source` (another 127.0.0.x), its port
    /// chosen at connect (IP_BIND_ADDRESS_NO_PORT): a connect from
    /// 127.0.0.1 while tens of thousands of its ports are taken costs the
    /// kernel a search of milliseconds for a free one.
    #[allow(unsafe_code)]
    pub async fn connect_from(addr: SocketAddr, source: std::net::Ipv4Addr) -> Client {
        use std::os::fd::AsRawFd;
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        let on: libc::c_int = 1;
        // SAFETY: setsockopt on a socket this function owns, with a c_int
        // option value of the size given.
        let r = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_BIND_ADDRESS_NO_PORT,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(r, 0, "IP_BIND_ADDRESS_NO_PORT");
        socket.bind(SocketAddr::from((source, 0))).unwrap();
        Client::on(socket.connect(addr).await.unwrap())
    }

    fn on(stream: TcpStream) -> Client {
        stream.set_nodelay(true).unwrap();
        Client {
            stream,
            buf: BytesMut::new(),
            seq: 0,
            queued: VecDeque::new(),
            user: 0,
        }
    }

    /// Connects and logs in as `name`; panics unless result 0.
    pub async fn login(addr: SocketAddr, name: &str, client_type: ClientType) -> Client {
        let mut c = Client::connect(addr).await;
        let res = c.try_login(name, PASSWORD, client_type).await;
        assert_eq!(res.result_code, 0, "login of {name}: {res:?}");
        c.user = res.user_info.unwrap().user_id;
        c
    }

    pub async fn try_login(
        &mut self,
        name: &str,
        password: &str,
        client_type: ClientType,
    ) -> ImLoginRes {
        let req = ImLoginReq {
            user_name: name.to_owned().into(),
            password: md5_hex(password.as_bytes()).into(),
            online_status: 1,
            client_type: client_type as i32,
            client_version: Some("ferry-test".into()),
        };
        self.call(&req).await
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Sends `msg` with the next seq; returns the seq.
    pub async fn send<T: Pdu>(&mut self, msg: &T) -> u16 {
        self.seq = self.seq.wrapping_add(1);
        let pdu = frame::encode_to_bytes(msg, self.seq, frame::DEFAULT_MAX_FRAME).unwrap();
        self.stream.write_all(&pdu).await.unwrap();
        self.seq
    }

    /// Sends a heartbeat (seq 0, as TeamTalk's clients do); false once the
    /// connection is gone, where [`Client::send`] would panic.
    pub async fn beat(&mut self) -> bool {
        let pdu = ferry_control::server::connection::heartbeat_pdu();
        self.stream.write_all(&pdu).await.is_ok()
    }

    /// The next frame off the socket (not the queue); `None` once closed.
    async fn read_frame(&mut self, wait: Duration) -> Option<Frame> {
        loop {
            if let Some(f) = Frame::take(&mut self.buf, frame::DEFAULT_MAX_FRAME).unwrap() {
                return Some(f);
            }
            match tokio::time::timeout(wait, self.stream.read_buf(&mut self.buf)).await {
                Ok(Ok(n)) if n > 0 => {}
                Ok(_) => return None,
                Err(_) => panic!("nothing from msg_server within {wait:?}"),
            }
        }
    }

    /// The next frame of `command` (others are queued); panics at a close.
    pub async fn expect(&mut self, command: CommandId) -> Frame {
        if let Some(i) = self.queued.iter().position(|f| f.header.command == command) {
            return self.queued.remove(i).unwrap();
        }
        loop {
            let f = self
                .read_frame(Duration::from_secs(10))
                .await
                .unwrap_or_else(|| panic!("closed while waiting for {command}"));
            if f.header.command == command {
                return f;
            }
            self.queued.push_back(f);
        }
    }

    /// Sends `req` and returns its answer (the answer's seq is checked).
    pub async fn call<Req: Pdu, Rsp: Pdu>(&mut self, req: &Req) -> Rsp {
        let seq = self.send(req).await;
        let f = self.expect(Rsp::COMMAND).await;
        assert_eq!(
            f.header.seq_num,
            seq,
            "{} answers with the request's seq",
            Rsp::COMMAND
        );
        assert_eq!(
            ferry_proto::attach::bytes_field(&f.body(), 20),
            None,
            "{}: msg_server's cookie never reaches a client",
            Rsp::COMMAND
        );
        f.decode().unwrap()
    }

    /// Frames until msg_server closes the connection (queued first).
    pub async fn until_closed(&mut self) -> Vec<Frame> {
        let mut out: Vec<Frame> = self.queued.drain(..).collect();
        while let Some(f) = self.read_frame(Duration::from_secs(20)).await {
            out.push(f);
        }
        out
    }

    /// The status (online or offline) of the next status notify about
    /// `user`; notifies about others are skipped.
    pub async fn status_notify_about(&mut self, user: u32) -> i32 {
        use ferry_proto::pb::im::buddy::ImUserStatNotify;
        loop {
            let n: ImUserStatNotify = self
                .expect(ferry_proto::registry::CID_BUDDY_LIST_STATUS_NOTIFY)
                .await
                .decode()
                .unwrap();
            if n.user_stat.user_id == user {
                return n.user_stat.status;
            }
        }
    }

    /// False once msg_server has closed the connection (what it sent is
    /// kept for later reads).
    pub async fn is_open(&mut self) -> bool {
        !matches!(
            tokio::time::timeout(
                Duration::from_millis(1),
                self.stream.read_buf(&mut self.buf)
            )
            .await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }

    /// True when nothing of `command` arrives within `wait`.
    pub async fn none_of(&mut self, command: CommandId, wait: Duration) -> bool {
        if self.queued.iter().any(|f| f.header.command == command) {
            return false;
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return true;
            }
            match tokio::time::timeout(left, self.stream.read_buf(&mut self.buf)).await {
                Err(_) => return true,
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => {
                    let mut found = false;
                    while let Some(f) =
                        Frame::take(&mut self.buf, frame::DEFAULT_MAX_FRAME).unwrap()
                    {
                        found |= f.header.command == command;
                        self.queued.push_back(f);
                    }
                    if found {
                        return false;
                    }
                }
            }
        }
    }
}

/// `GET path` on `addr`; the body.
pub async fn http_get(addr: SocketAddr, path: &str) -> String {
    let (status, body) = http_get_status(addr, path).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

/// A counter or gauge on the `/metrics` endpoint at `addr`: its value, summed
/// over its label sets; panics if it is not there.
pub async fn metric(addr: SocketAddr, name: &str) -> u64 {
    let text = http_get(addr, "/metrics").await;
    let values: Vec<u64> = text
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            let value = match rest.strip_prefix('{') {
                Some(labelled) => labelled.split_once("} ")?.1,
                None => rest.strip_prefix(' ')?,
            };
            value.trim().parse().ok()
        })
        .collect();
    assert!(!values.is_empty(), "{name} in\n{text}");
    values.iter().sum()
}

/// `GET path`: the status code and the body.
pub async fn http_get_status(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let (head, body) = out.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status line");
    (status, body.to_string())
}

/// The msg_server login_server at `http` hands out, once one has
/// registered (a msg_server registers when its links are up).
pub async fn msg_server_from(http: SocketAddr) -> SocketAddr {
    let mut json = serde_json::Value::Null;
    for _ in 0..200 {
        json = serde_json::from_str(&http_get(http, "/msg_server").await).unwrap();
        if json["code"] == 0 {
            let ip: std::net::IpAddr = json["priorIP"].as_str().unwrap().parse().unwrap();
            let port: u16 = json["port"].as_str().unwrap().parse().unwrap();
            return SocketAddr::new(ip, port);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("login_server has no msg_server: {json}");
}

/// `from` offers `size` bytes online to `to` (both logged in): the request
/// is answered with a task, `to` is notified of it, and the bytes go
/// through the relay as stock clients move them (34 KiB pulls) and arrive
/// intact.
pub async fn file_online(from: &mut Client, to: &mut Client, size: u32) {
    use ferry_proto::pb::im::base_define::TransferFileType;
    use ferry_proto::pb::im::file::{ImFileNotify, ImFileReq, ImFileRsp};
    let file: bytes::Bytes = (0..size)
        .map(|i| (i * 31 % 251) as u8)
        .collect::<Vec<u8>>()
        .into();
    let rsp: ImFileRsp = from
        .call(&ImFileReq {
            file_size_u64: None,
            sha256: None,
            from_user_id: 0,
            to_user_id: to.user,
            file_name: "online.bin".into(),
            file_size: size,
            trans_mode: TransferFileType::FileTypeOnline as i32,
        })
        .await;
    assert_eq!(rsp.result_code, 0, "{rsp:?}");
    let notify: ImFileNotify = to
        .expect(ferry_proto::registry::CID_FILE_NOTIFY)
        .await
        .decode()
        .unwrap();
    assert_eq!(notify.task_id, rsp.task_id);
    let ip = &rsp.ip_addr_list[0];
    let relay = SocketAddr::new(
        std::str::from_utf8(&ip.ip).unwrap().parse().unwrap(),
        ip.port as u16,
    );
    let received = relay_transfer(
        relay,
        &rsp.task_id,
        from.user,
        to.user,
        file.clone(),
        34 << 10,
    )
    .await;
    assert!(received == file[..], "the file arrives byte for byte");
}

/// Moves `data` through a relay as TeamTalk's clients do: the sender and the
/// receiver log in to `task` at `relay`, the receiver pulls `chunk` bytes at
/// a time with one pull in flight and says DONE; returns what it received.
pub async fn relay_transfer(
    relay: SocketAddr,
    task: &[u8],
    from: u32,
    to: u32,
    data: bytes::Bytes,
    chunk: u32,
) -> Vec<u8> {
    use ferry_proto::pb::im::file::{
        ImFileLoginReq, ImFileLoginRsp, ImFilePullDataReq, ImFilePullDataRsp, ImFileState,
    };
    let task: bytes::Bytes = bytes::Bytes::copy_from_slice(task);
    let mut sender = Client::connect(relay).await;
    let rsp: ImFileLoginRsp = sender
        .call(&ImFileLoginReq {
            file_size_u64: None,
            user_id: from,
            task_id: task.clone(),
            file_role: 1,
        })
        .await;
    assert_eq!(rsp.result_code, 0, "sender's relay login");
    let serving = {
        let (task, data) = (task.clone(), data.clone());
        tokio::spawn(async move {
            loop {
                let f = sender.expect_any().await;
                let Some(f) = f else { return };
                if f.header.command == ferry_proto::registry::CID_FILE_STATE {
                    return;
                }
                let req: ImFilePullDataReq = f.decode().unwrap();
                let (start, len) = (req.offset as usize, req.data_size as usize);
                let rsp = ImFilePullDataRsp {
                    offset_u64: None,
                    result_code: 0,
                    task_id: task.clone(),
                    user_id: from,
                    offset: req.offset,
                    file_data: data.slice(start..start + len),
                };
                sender.send(&rsp).await;
            }
        })
    };
    let mut receiver = Client::connect(relay).await;
    let rsp: ImFileLoginRsp = receiver
        .call(&ImFileLoginReq {
            file_size_u64: None,
            user_id: to,
            task_id: task.clone(),
            file_role: 2,
        })
        .await;
    assert_eq!(rsp.result_code, 0, "receiver's relay login");
    let _ready = receiver.expect(ferry_proto::registry::CID_FILE_STATE).await;
    let mut got = Vec::with_capacity(data.len());
    while got.len() < data.len() {
        let len = chunk.min((data.len() - got.len()) as u32);
        let rsp: ImFilePullDataRsp = receiver
            .call(&ImFilePullDataReq {
                offset_u64: None,
                task_id: task.clone(),
                user_id: to,
                trans_mode: 1,
                offset: got.len() as u32,
                data_size: len,
            })
            .await;
        assert_eq!(rsp.offset as usize, got.len());
        got.extend_from_slice(&rsp.file_data);
    }
    receiver
        .send(&ImFileState {
            state: 3,
            task_id: task,
            user_id: to,
            sha256: None,
        })
        .await;
    let _ = tokio::time::timeout(Duration::from_secs(10), serving).await;
    got
}

impl Client {
    /// The next frame, queued or read; `None` once closed.
    pub async fn expect_any(&mut self) -> Option<Frame> {
        if let Some(f) = self.queued.pop_front() {
            return Some(f);
        }
        self.read_frame(Duration::from_secs(60)).await
    }
}
