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
        let out = ferry()
            .args(["user", "add", &format!("burst{u}"), "--password", "pw"])
            .args(["--db", &db])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
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
