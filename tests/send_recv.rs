//! `ferry send` and `ferry recv` as a person runs them, against `ferry up`
//! as a child process: a 32 MiB file online to a running receiver, one
//! offline to a receiver who starts later with `--once`, exit codes for a
//! wrong password and an unknown user, hostile file names that never
//! leave `--dir` nor overwrite a file, and SIGINT ending `ferry up` with 0.

mod stack;

use std::io::{BufRead, BufReader, Lines};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::time::{Duration, Instant};

use ferry_client::{Login, Mode, SendOptions, Session};

/// `ferry up` on a fresh data directory, and what it printed.
struct Up {
    service: stack::process::Service,
    /// login_server's URL (`http://127.0.0.1:PORT`).
    url: String,
}

impl Up {
    fn start(dir: &Path) -> Up {
        let data = dir.join("data").to_str().unwrap().to_string();
        let (child, lines) = stack::process::spawn_up(&data);
        let url = lines
            .iter()
            .find(|l| l.trim_start().starts_with("login_server"))
            .and_then(|l| l.split_whitespace().nth(1))
            .map(|w| w.trim_end_matches("/msg_server").to_string());
        let url = url.expect("ferry up printed login_server's address");
        for name in ["alice", "bob"] {
            stack::process::user_add(name, stack::PASSWORD, &["--data-dir", &data]);
        }
        let service = stack::process::Service {
            name: "ferry up",
            child,
        };
        Up { service, url }
    }

    /// `ferry ARGS --server URL --user USER` with the password in the
    /// environment.
    fn ferry(&self, user: &str, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ferry"));
        c.args(args)
            .args(["--server", &self.url, "--user", user])
            .env("FERRY_PASSWORD", stack::PASSWORD)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null());
        c
    }

    /// SIGINT; `ferry up` must exit 0 (within 20 s).
    fn stop(self) {
        let status = self.service.stop_with("-INT");
        assert!(status.success(), "ferry up exits 0 after SIGINT: {status}");
    }
}

/// `size` bytes that differ from block to block.
fn content(size: usize, seed: u32) -> Vec<u8> {
    (0..size)
        .map(|i| ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 11) as u8)
        .collect()
}

fn output(mut c: Command) -> Output {
    let out = c.output().unwrap();
    eprintln!(
        "{:?}: {}\nstdout: {}stderr: {}",
        c.get_args().collect::<Vec<_>>(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A running `ferry recv`, once it has logged in.
fn spawn_recv(up: &Up, args: &[&str]) -> (Child, Lines<BufReader<ChildStdout>>) {
    let mut child = up
        .ferry("bob", args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("ferry recv prints a line").unwrap();
    assert!(first.starts_with("waiting for files as bob"), "{first}");
    (child, lines)
}

fn wait(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "no exit within {within:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn send_online_and_offline_then_recv() {
    let tmp = tempfile::tempdir().unwrap();
    let up = Up::start(tmp.path());
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).unwrap();
    let big = content(32 << 20, 1);
    let big_path = src.join("big.bin");
    std::fs::write(&big_path, &big).unwrap();

    // (a) online, to a receiver that is running.
    let inbox = tmp.path().join("inbox");
    let inbox_arg = inbox.to_str().unwrap();
    let (mut recv, mut lines) = spawn_recv(&up, &["recv", "--dir", inbox_arg, "--count", "1"]);
    let sent = output(up.ferry(
        "alice",
        &["send", big_path.to_str().unwrap(), "--to", "bob"],
    ));
    assert!(sent.status.success(), "ferry send exits 0");
    assert!(String::from_utf8_lossy(&sent.stdout).contains("online"));
    assert!(
        wait(&mut recv, Duration::from_secs(60)).success(),
        "ferry recv exits 0"
    );
    let saved = lines.next().unwrap().unwrap();
    assert!(saved.starts_with("saved "), "{saved}");
    assert!(
        std::fs::read(inbox.join("big.bin")).unwrap() == big,
        "online: bytes equal"
    );

    // (b) offline (over two connections): sent first, received by a
    // `ferry recv --once` started later.
    let later = content((5 << 20) + 3, 2);
    let later_path = src.join("later.bin");
    std::fs::write(&later_path, &later).unwrap();
    let sent = output(up.ferry(
        "alice",
        &[
            "send",
            later_path.to_str().unwrap(),
            "--to",
            "bob",
            "--offline",
            // Two connections at once (one per 4 MiB of file at most).
            "--connections",
            "2",
        ],
    ));
    assert!(sent.status.success(), "ferry send --offline exits 0");
    let inbox2 = tmp.path().join("inbox2");
    let got = output(up.ferry(
        "bob",
        &["recv", "--once", "--dir", inbox2.to_str().unwrap()],
    ));
    assert!(got.status.success(), "ferry recv --once exits 0");
    assert!(
        std::fs::read(inbox2.join("later.bin")).unwrap() == later,
        "offline: bytes equal"
    );
    // Nothing was left behind: no partial files.
    let names: Vec<_> = std::fs::read_dir(&inbox2)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["later.bin"]);
    // Received and removed: a second --once finds nothing.
    let again = output(up.ferry(
        "bob",
        &["recv", "--once", "--dir", inbox2.to_str().unwrap()],
    ));
    assert!(again.status.success());
    assert_eq!(std::fs::read_dir(&inbox2).unwrap().count(), 1);

    // Exit codes: a wrong password (3), an unknown receiver (4), a
    // missing file (5).
    let mut wrong = up.ferry("bob", &["recv", "--once", "--dir", inbox_arg]);
    wrong.env("FERRY_PASSWORD", "not the password");
    assert_eq!(output(wrong).status.code(), Some(3));
    let nobody = up.ferry(
        "alice",
        &["send", later_path.to_str().unwrap(), "--to", "nobody"],
    );
    assert_eq!(output(nobody).status.code(), Some(4));
    // A number is a user id only if such a user exists.
    let no_id = up.ferry(
        "alice",
        &["send", later_path.to_str().unwrap(), "--to", "999999"],
    );
    assert_eq!(output(no_id).status.code(), Some(4));
    let missing = up.ferry("alice", &["send", "/nonexistent/file", "--to", "bob"]);
    assert_eq!(output(missing).status.code(), Some(5));
    // A directory is refused before any task exists: nothing is left
    // waiting in the offline store.
    let store = tmp.path().join("data").join("offline");
    let stored = files_under(&store).len();
    let dir = up.ferry(
        "alice",
        &["send", inbox2.to_str().unwrap(), "--to", "bob", "--offline"],
    );
    assert!(!output(dir).status.success(), "a directory is not sent");
    assert_eq!(files_under(&store).len(), stored, "no upload was begun");
    // The password never comes from the command line.
    let mut usage = Command::new(env!("CARGO_BIN_EXE_ferry"));
    usage.args(["recv", "--user", "bob", "--password", "secret"]);
    assert_eq!(output(usage).status.code(), Some(2));
    up.stop();
}

/// Every file under `root`, recursively.
fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(root).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_never_leave_the_directory_nor_overwrite() {
    let tmp = tempfile::tempdir().unwrap();
    let up = tokio::task::block_in_place(|| Up::start(tmp.path()));
    let inbox = tmp.path().join("deep").join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::write(inbox.join("x"), b"mine").unwrap();
    let outside = tmp.path().join("outside.txt");
    let names: Vec<Vec<u8>> = vec![
        b"../escape.txt".to_vec(),
        b"../../escape2.txt".to_vec(),
        outside.to_str().unwrap().as_bytes().to_vec(),
        b"a\0b.txt".to_vec(),
        b"C:\\x".to_vec(),
        b"C:x".to_vec(),
        b"..".to_vec(),
        b"\x1b]0;title\x07.txt".to_vec(),
        b"\xff\xfe latin1 \xe9.txt".to_vec(),
        // db_proxy keeps offline names up to 2 KiB; 4 KiB goes online below.
        vec![b'n'; 2000],
        b"dup.txt".to_vec(),
        b"dup.txt".to_vec(),
    ];
    let alice = Session::login(&Login::new(up.url.clone(), "alice", stack::PASSWORD))
        .await
        .unwrap();
    let bob = alice.user_id_by_name("bob").await.unwrap().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).unwrap();
    let mut sent = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let body = format!("file {i}: {}", String::from_utf8_lossy(name)).into_bytes();
        let path = src.join(format!("{i}.bin"));
        std::fs::write(&path, &body).unwrap();
        let send = SendOptions {
            mode: Mode::Offline,
            file_name: Some(name.clone().into()),
            ..SendOptions::default()
        };
        alice.send_file(bob, &path, &send).await.unwrap();
        sent.push(body);
    }
    // ADD has no answer: give the last record a moment to land.
    let bob_session = Session::login(&Login::new(up.url.clone(), "bob", stack::PASSWORD))
        .await
        .unwrap();
    for _ in 0..200 {
        if bob_session.offline_files().await.unwrap().len() == names.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(bob_session);
    let got = tokio::task::block_in_place(|| {
        output(up.ferry("bob", &["recv", "--once", "--dir", inbox.to_str().unwrap()]))
    });
    assert!(got.status.success());

    // Online (the name comes in the notify): 4 KiB of text, and dup.txt
    // a third time, to a running `ferry recv`.
    let inbox_arg = inbox.to_str().unwrap().to_string();
    let (mut recv, _lines) = tokio::task::block_in_place(|| {
        spawn_recv(&up, &["recv", "--dir", &inbox_arg, "--count", "2"])
    });
    for name in [vec![b'L'; 4096], b"dup.txt".to_vec()] {
        let i = sent.len();
        let body = format!("file {i}: online {}", name.len()).into_bytes();
        let path = src.join(format!("{i}.bin"));
        std::fs::write(&path, &body).unwrap();
        let send = SendOptions {
            file_name: Some(name.into()),
            ..SendOptions::default()
        };
        let task = alice.send_file(bob, &path, &send).await.unwrap();
        assert_eq!(task.mode, Mode::Online);
        sent.push(body);
    }
    let status = tokio::task::block_in_place(|| wait(&mut recv, Duration::from_secs(30)));
    assert!(status.success());

    // Everything written is directly in the inbox; nothing else appeared.
    let mut received = Vec::new();
    for path in files_under(tmp.path()) {
        if path.starts_with(&src) || path.starts_with(tmp.path().join("data")) {
            continue;
        }
        assert_eq!(
            path.parent(),
            Some(inbox.as_path()),
            "{} is outside --dir",
            path.display()
        );
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        assert!(name.len() <= 210, "{} bytes", name.len());
        assert!(!name.chars().any(char::is_control), "{name:?}");
        if name != "x" {
            received.push(std::fs::read(&path).unwrap());
        }
    }
    assert!(!outside.exists());
    assert_eq!(
        std::fs::read(inbox.join("x")).unwrap(),
        b"mine",
        "never overwritten"
    );
    assert!(inbox.join("x (1)").exists() && inbox.join("x (2)").exists());
    for dup in ["dup.txt", "dup (1).txt", "dup (2).txt"] {
        assert!(inbox.join(dup).exists(), "{dup}");
    }
    let long = "L".repeat(200);
    assert!(inbox.join(&long).exists(), "4 KiB of name cut to 200 bytes");
    sent.sort();
    received.sort();
    let show = |v: &[Vec<u8>]| -> Vec<String> {
        v.iter()
            .map(|b| String::from_utf8_lossy(&b[..b.len().min(40)]).into_owned())
            .collect()
    };
    assert_eq!(show(&received), show(&sent), "every file arrived once");
    assert!(received == sent, "intact");
    up.stop();
}
