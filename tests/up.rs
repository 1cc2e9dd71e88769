//! `ferry up` as a new user runs it: the whole stack in one process on a
//! fresh data directory; users added with `ferry user add` while it runs
//! (one with its password in a file);
//! two clients find msg_server through login_server's HTTP, exchange a
//! message and move a file through the relay; Ctrl-C (SIGINT) drains and
//! exits 0.

mod stack;

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use ferry_proto::pb::im::base_define::ClientType;
use ferry_proto::pb::im::message::{ImMsgData, ImMsgDataAck};
use ferry_proto::registry::CID_MSG_DATA;
use stack::{Client, text_msg};

/// The address after `label` on the line of `ferry up`'s start-up text
/// that starts with it.
fn address(lines: &[String], label: &str) -> SocketAddr {
    let line = lines
        .iter()
        .find(|l| l.trim_start().starts_with(label))
        .unwrap_or_else(|| panic!("no {label} line in {lines:?}"));
    let word = line.split_whitespace().nth(1).unwrap();
    let word = word.trim_start_matches("http://");
    let word = word.split('/').next().unwrap();
    word.parse().unwrap_or_else(|e| panic!("{word}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ferry_up_runs_the_whole_stack_in_one_process() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let started = Instant::now();
    let (mut up, lines) = tokio::task::block_in_place(|| stack::process::spawn_up(data));
    println!("ferry up: listening {:?} after start", started.elapsed());
    assert!(
        lines.iter().any(|l| l.contains("ferry user add")),
        "tells how to add a user: {lines:?}"
    );
    let http = address(&lines, "login_server");

    stack::process::user_add("alice", stack::PASSWORD, &["--data-dir", data]);
    // bob's password from a file (its first line), as an operator keeps it
    // off the command line.
    let file = dir.path().join("bob.password");
    std::fs::write(&file, format!("{}\nnot part of it\n", stack::PASSWORD)).unwrap();
    let file = file.to_str().unwrap();
    stack::process::run(&[
        "user",
        "add",
        "bob",
        "--password-file",
        file,
        "--data-dir",
        data,
    ]);
    let msg = stack::msg_server_from(http).await;
    let mut alice = Client::login(msg, "alice", ClientType::Windows).await;
    let mut bob = Client::login(msg, "bob", ClientType::Windows).await;

    let ack: ImMsgDataAck = alice.call(&text_msg(bob.user, "hello from ferry up")).await;
    let got: ImMsgData = bob.expect(CID_MSG_DATA).await.decode().unwrap();
    assert_eq!(
        (got.msg_id, &got.msg_data[..]),
        (ack.msg_id, &b"hello from ferry up"[..])
    );

    stack::file_online(&mut alice, &mut bob, 300 << 10).await;
    // ferry up keeps offline files: the relay takes an offline task.
    let offline: ferry_proto::pb::im::file::ImFileRsp = alice
        .call(&ferry_proto::pb::im::file::ImFileReq {
            file_size_u64: None,
            sha256: None,
            from_user_id: 0,
            to_user_id: bob.user,
            file_name: "later.bin".into(),
            file_size: 1000,
            trans_mode: ferry_proto::pb::im::base_define::TransferFileType::FileTypeOffline as i32,
        })
        .await;
    assert_eq!(offline.result_code, 0, "{offline:?}");
    assert!(
        lines.iter().any(|l| l.contains("offline files")),
        "says where offline files go: {lines:?}"
    );
    drop((alice, bob));

    // The relay owns its store: a repair is refused while it runs; a check
    // reads it and says a relay serves it.
    let store = format!("{data}/offline");
    let repair = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["store", "repair", "--data-dir", &store])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&repair.stderr);
    assert!(
        !repair.status.success() && said.contains("in use"),
        "repair under a running relay: {said}"
    );
    let said = stack::process::run(&["store", "check", "--data-dir", &store]);
    assert!(
        said.contains("a relay is serving this store"),
        "check under a running relay: {said}"
    );

    let _ = Command::new("kill")
        .args(["-INT", &up.id().to_string()])
        .status();
    let status = exit_of(&mut up, "SIGINT");
    assert!(status.success(), "exit 0 after SIGINT: {status}");
}

/// `up`'s exit status, waited for at most 20 s after `what` was sent.
fn exit_of(up: &mut std::process::Child, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = up.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "ferry up did not exit after {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A signal the moment the banner is out (a supervisor's stop, a quick
/// Ctrl-C) drains and exits 0: the listeners are installed before anything
/// listens. They used to be installed after the banner, and a signal in
/// between killed the process (exit by signal 2 or 15: one start of three
/// with the release build). The signal is sent from this process as soon
/// as the banner's last line is read, not through kill(1), whose start
/// alone outlasted the window.
#[test]
fn a_signal_right_after_the_banner_still_drains_and_exits_0() {
    for (i, signal) in [libc::SIGINT, libc::SIGTERM]
        .iter()
        .cycle()
        .take(16)
        .enumerate()
    {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let (mut up, _) = stack::process::spawn_up(data.to_str().unwrap());
        // SAFETY: kill(2) on our own child's pid, which has not been waited for.
        #[allow(unsafe_code)]
        let sent = unsafe { libc::kill(up.id() as libc::pid_t, *signal) };
        assert_eq!(sent, 0);
        let status = exit_of(&mut up, &format!("signal {signal} (start {i})"));
        assert!(
            status.success(),
            "start {i}: signal {signal} right after the banner: {status}"
        );
    }
}
