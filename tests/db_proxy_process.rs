//! `ferry db-proxy` as a process, as an operator runs it: a login burst
//! against users made with `ferry user add` (argon2 rows) is answered
//! right, in bounded memory; a busy port is named once, with its address.

mod stack;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use bytes::BytesMut;
use ferry_proto::frame::{self, Frame};
use ferry_proto::pb::im::server::{ImValidateReq, ImValidateRsp};
use stack::process::{port, proc_status};

const BURST: usize = 400;
const USERS: usize = 8;

fn ferry() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
    cmd.env_remove("FERRY_CONFIG");
    cmd
}

/// md5hex, as clients send passwords.
fn client_password(plain: &str) -> String {
    ferry_control::store::md5_hex(plain.as_bytes())
}

struct Stop(Child);

impl Drop for Stop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One correct IMValidateReq on each of 400 connections at once, against
/// 8 argon2 users: every login is answered result 0, and the process's
/// peak memory stays bounded by the hashing gate (cores x argon2's 19 MiB),
/// not by the callers. Before the gate: 3-4 GiB peak and ~400 threads.
#[test]
fn a_login_burst_is_answered_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("ferry.db").display());
    for u in 0..USERS {
        let name = format!("burst{u}");
        stack::process::run(&["user", "add", &name, "--password", "pw", "--db", &db]);
    }
    let addr: SocketAddr = ([127, 0, 0, 1], port()).into();
    let child = ferry()
        .args(["db-proxy", "--db", &db, "--listen", &addr.to_string()])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let proxy = Stop(child);
    let pid = proxy.0.id();
    let mut conns = Vec::new();
    for _ in 0..100 {
        if TcpStream::connect(addr).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for _ in 0..BURST {
        let c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        conns.push(c);
    }
    let gate = Arc::new(Barrier::new(BURST));
    let threads: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| {
            let gate = gate.clone();
            std::thread::spawn(move || {
                let req = ImValidateReq {
                    user_name: format!("burst{}", i % USERS).into(),
                    password: client_password("pw").into(),
                    attach_data: None,
                };
                let pdu = frame::encode_to_bytes(&req, 7, frame::DEFAULT_MAX_FRAME).unwrap();
                gate.wait();
                c.write_all(&pdu).unwrap();
                let mut buf = BytesMut::new();
                loop {
                    if let Some(f) = Frame::take(&mut buf, frame::DEFAULT_MAX_FRAME).unwrap() {
                        // db_proxy heartbeats a link it has not written to for 5 s.
                        if f.header.command == ferry_proto::registry::CID_OTHER_HEARTBEAT {
                            continue;
                        }
                        return f.decode::<ImValidateRsp>().unwrap().result_code;
                    }
                    let mut chunk = [0u8; 1024];
                    let n = c.read(&mut chunk).expect("an answer");
                    assert!(n > 0, "db_proxy closed without answering");
                    buf.extend_from_slice(&chunk[..n]);
                }
            })
        })
        .collect();
    let codes: Vec<u32> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let peak_kib = proc_status(pid, "VmHWM:");
    let wrong: Vec<_> = codes.iter().filter(|&&c| c != 0).collect();
    assert!(
        wrong.is_empty(),
        "{} of {BURST} not result 0: {wrong:?}",
        wrong.len()
    );
    assert!(
        peak_kib < 512 * 1024,
        "peak RSS {} MiB for {BURST} logins: memory follows the callers",
        peak_kib / 1024
    );
}

/// A port already taken is reported once, naming the address, and the
/// process exits with an error.
#[test]
fn a_busy_port_is_named_once() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("ferry.db").display());
    let out = ferry()
        .args(["db-proxy", "--db", &db, "--listen", &addr])
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&addr), "names the address: {err}");
    assert_eq!(err.matches("in use").count(), 1, "said once: {err}");
}

/// A database that accepts the connection and never speaks (a MySQL
/// server that hangs): `ferry db-proxy` waits in its start-up, and SIGINT
/// ends it then, exit 0, rather than after the connect's timeout.
#[test]
fn a_signal_during_a_hung_database_connect_ends_the_start_up() {
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let db = format!("mysql://root@{}/test", silent.local_addr().unwrap());
    let mut proxy = Stop(
        ferry()
            .args(["db-proxy", "--db", &db, "--listen", "127.0.0.1:0"])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // The connect is accepted (the backlog takes it) and left unanswered.
    std::thread::sleep(Duration::from_millis(700));
    assert!(proxy.0.try_wait().unwrap().is_none(), "still starting");
    // SAFETY: kill(2) on our own child, not yet waited for.
    #[allow(unsafe_code)]
    let sent = unsafe { libc::kill(proxy.0.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(sent, 0);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(status) = proxy.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no exit within 5 s of SIGINT while starting"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut said = String::new();
    proxy
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut said)
        .unwrap();
    assert!(status.success(), "{status}: {said}");
    assert!(said.contains("stopped while starting"), "{said}");
    drop(silent);
}
