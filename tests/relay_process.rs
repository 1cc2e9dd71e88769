//! `ferry relay` as a process, as an operator runs it: start-up refusals,
//! the metrics endpoint, memory per idle connection, drain on SIGTERM.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

mod stack;

use stack::process::LoggedRelay;

/// `ferry relay` on loopback ephemeral ports (`stack::process`).
struct RelayProcess(LoggedRelay);

impl std::ops::Deref for RelayProcess {
    type Target = LoggedRelay;
    fn deref(&self) -> &LoggedRelay {
        &self.0
    }
}

fn spawn(extra_env: &[(&str, &str)]) -> RelayProcess {
    RelayProcess(LoggedRelay::spawn(extra_env))
}

impl RelayProcess {
    fn metrics(&self) -> String {
        let mut s = TcpStream::connect(self.metrics).unwrap();
        s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    /// The sum over cores of one metric.
    fn metric(&self, name: &str) -> u64 {
        self.metrics()
            .lines()
            .filter(|l| l.starts_with(&format!("{name}{{")))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
            .sum()
    }

    fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace()
            .nth(1)
            .unwrap()
            .parse::<u64>()
            .unwrap()
            * 1024
    }

    fn terminate(mut self) -> std::process::ExitStatus {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.0.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "relay did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn refuses_to_advertise_an_unspecified_address() {
    let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args([
            "relay",
            "--client-listen",
            "0.0.0.0:0",
            "--msg-listen",
            "127.0.0.1:0",
            "--core-port-base",
            "0",
        ])
        .env_remove("FERRY_CONFIG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--advertise"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn serves_metrics_and_exits_0_on_sigterm() {
    let relay = spawn(&[]);
    let text = relay.metrics();
    assert!(text.starts_with("HTTP/1.0 200 OK"), "{text}");
    for name in [
        "ferry_relay_connections",
        "ferry_relay_tasks",
        "ferry_relay_bytes_relayed_total",
        "ferry_relay_handoffs_total",
    ] {
        assert!(
            text.contains(&format!("{name}{{core=\"1\"}}")),
            "{name} missing:\n{text}"
        );
    }
    let _link = TcpStream::connect(relay.msg).unwrap();
    let _client = TcpStream::connect(relay.client).unwrap();
    let status = relay.terminate();
    assert_eq!(status.code(), Some(0));
}

/// 10,000 client connections that have sent nothing yet: what each costs
/// the relay in resident memory.
#[test]
fn ten_thousand_idle_connections_cost_under_10_kib_each() {
    const N: usize = 10_000;
    let relay = spawn(&[("FERRY_RELAY__LOGIN_TIMEOUT", "120s")]);
    std::thread::sleep(Duration::from_millis(200));
    let before = relay.rss();
    let conns: Vec<TcpStream> = (0..N)
        .map(|_| TcpStream::connect(relay.client).expect("connect"))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while relay.metric("ferry_relay_connections") < N as u64 {
        assert!(
            Instant::now() < deadline,
            "only {} accepted",
            relay.metric("ferry_relay_connections")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let per_conn = relay.rss().saturating_sub(before) / N as u64;
    println!("relay RSS per idle connection: {per_conn} bytes ({N} connections)");
    assert!(per_conn <= 10 << 10, "{per_conn} bytes per idle connection");
    drop(conns);
    assert_eq!(relay.terminate().code(), Some(0));
}

/// One connection speaking PDUs, blocking.
struct Pdus {
    stream: TcpStream,
    buf: bytes::BytesMut,
}

impl Pdus {
    fn connect(addr: SocketAddr) -> Pdus {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        Pdus {
            stream,
            buf: bytes::BytesMut::new(),
        }
    }

    fn send<T: ferry_proto::Pdu>(&mut self, msg: &T, seq: u16) {
        let pdu = ferry_proto::frame::encode_to_bytes(msg, seq, 1 << 22).unwrap();
        self.stream.write_all(&pdu).unwrap();
    }

    fn recv(&mut self) -> ferry_proto::Frame {
        loop {
            if let Some(f) = ferry_proto::Frame::take(&mut self.buf, 1 << 22).unwrap() {
                return f;
            }
            let mut chunk = [0u8; 65536];
            let n = self.stream.read(&mut chunk).unwrap();
            assert!(n > 0, "closed by the relay");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

fn offline_byte(offset: u32) -> u8 {
    (offset.wrapping_mul(2_654_435_761) >> 13) as u8
}

/// `[offline] enabled` through the environment: an offline upload through
/// `ferry relay`, a SIGTERM, a new process on the same store, and the
/// download is the file uploaded.
#[test]
fn offline_files_outlive_the_relay_process() {
    use ferry_proto::pb::im::file::{
        ImFileLoginReq, ImFileLoginRsp, ImFilePullDataReq, ImFilePullDataRsp, ImFileState,
    };
    use ferry_proto::pb::im::server::{ImFileTransferReq, ImFileTransferRsp};

    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap().to_string();
    let env = [
        ("FERRY_OFFLINE__ENABLED", "true"),
        ("FERRY_OFFLINE__ROOT", root.as_str()),
        ("FERRY_OFFLINE__BLOCK_SIZE", "64KiB"),
        ("FERRY_OFFLINE__MIN_FREE_BYTES", "0B"),
    ];
    let size: u32 = 300_001;
    let login = |addr, task: &str, user, role| {
        let mut c = Pdus::connect(addr);
        let req = ImFileLoginReq {
            file_size_u64: None,
            user_id: user,
            task_id: task.to_owned().into(),
            file_role: role,
        };
        c.send(&req, 1);
        let rsp: ImFileLoginRsp = c.recv().decode().unwrap();
        assert_eq!(rsp.result_code, 0);
        c
    };

    let relay = spawn(&env);
    let mut link = Pdus::connect(relay.msg);
    let req = ImFileTransferReq {
        file_size_u64: None,
        sha256: None,
        from_user_id: 5,
        to_user_id: 6,
        file_name: "notes.txt".into(),
        file_size: size,
        trans_mode: 2,
        attach_data: None,
    };
    link.send(&req, 9);
    let rsp: ImFileTransferRsp = link.recv().decode().unwrap();
    assert_eq!(rsp.result_code, 0, "offline transfers are served");
    let task = String::from_utf8(rsp.task_id.unwrap().to_vec()).unwrap();
    let mut up = login(relay.client, &task, 5, 3);
    loop {
        let frame = up.recv();
        if let Ok(state) = frame.decode::<ImFileState>() {
            assert_eq!(state.state, 3, "DONE");
            break;
        }
        let pull: ImFilePullDataReq = frame.decode().unwrap();
        let data: Vec<u8> = (pull.offset..pull.offset + pull.data_size)
            .map(offline_byte)
            .collect();
        let rsp = ImFilePullDataRsp {
            offset_u64: None,
            result_code: 0,
            task_id: task.clone().into(),
            user_id: 5,
            offset: pull.offset,
            file_data: data.into(),
        };
        up.send(&rsp, frame.header.seq_num);
    }
    assert_eq!(
        relay.metric("ferry_relay_store_bytes_stored_total"),
        u64::from(size)
    );
    drop(up);
    drop(link);
    assert_eq!(relay.terminate().code(), Some(0));

    let relay = spawn(&env);
    let mut down = login(relay.client, &task, 6, 4);
    let mut offset = 0;
    while offset < size {
        let req = ImFilePullDataReq {
            offset_u64: None,
            task_id: task.clone().into(),
            user_id: 6,
            trans_mode: 2,
            offset,
            data_size: 32768,
        };
        down.send(&req, 7);
        let rsp: ImFilePullDataRsp = down.recv().decode().unwrap();
        let want: Vec<u8> = (offset..offset + rsp.file_data.len() as u32)
            .map(offline_byte)
            .collect();
        assert_eq!(rsp.offset, offset);
        assert!(rsp.file_data == want, "bytes differ at {offset}");
        offset += rsp.file_data.len() as u32;
    }
    let done: ImFileState = down.recv().decode().unwrap();
    assert_eq!((done.state, done.user_id), (3, 5));
    drop(down);
    assert_eq!(relay.terminate().code(), Some(0));

    // The operator's view: listed and sound; a flipped byte is found.
    let store = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_ferry"))
            .arg("store")
            .args(args)
            .args(["--data-dir", root.as_str()])
            .env_remove("FERRY_CONFIG")
            .output()
            .unwrap()
    };
    let out = store(&["check"]);
    let listing = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{listing}");
    let line = listing
        .lines()
        .find(|l| l.starts_with(&task))
        .expect("task listed");
    assert!(
        line.contains("100.0%") && line.contains("complete") && line.contains("notes.txt"),
        "{line}"
    );
    // A directory that is not a store is said so, not checked as an
    // empty sound one: an empty one, and a ferry data directory (whose
    // store is its offline/).
    let other = tempfile::tempdir().unwrap();
    let not_a_store = |at: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args(["store", "check", "--data-dir", at.to_str().unwrap()])
            .env_remove("FERRY_CONFIG")
            .output()
            .unwrap()
    };
    let out = not_a_store(other.path());
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !out.status.success() && said.contains("no offline store"),
        "{said}"
    );
    std::fs::create_dir_all(other.path().join("offline/tasks")).unwrap();
    let out = not_a_store(other.path());
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !out.status.success() && said.contains("looks like a ferry data directory"),
        "{said}"
    );

    let id = ferry_storage::TaskId::parse(&task).unwrap();
    let data = ferry_storage::Layout::new(dir.path()).data(&id);
    let mut bytes = std::fs::read(&data).unwrap();
    bytes[70_000] ^= 1;
    std::fs::write(&data, bytes).unwrap();
    let out = store(&["check"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a bad block makes the store unsound"
    );
    let out = store(&["repair", "--dry-run"]);
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("would"),
        "{out:?}"
    );
}
