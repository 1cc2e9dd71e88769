//! One `ferry msg-server` process holding about 20,000 logged-in sessions
//! that heartbeat (issue: "20,000 logged-in sessions with heartbeats on one
//! msg_server process"): all stay up through several PC timeouts, the
//! resident memory each costs is reported and bounded, and logins and
//! messages are still answered meanwhile (the median and maximum latency of
//! 25 of each are printed; speed is the benches' business, so only a
//! sanity bound is asserted).
//!
//! The sessions are held by two child processes (this test binary run
//! again with `--ignored hold_sessions`): this machine's hard limit of open
//! files per process (20,000) would not fit them in one. The same limit
//! caps msg_server, which needs a few descriptors of its own (listener,
//! links, stdio, the runtime's): the test raises its own limit, which its
//! children inherit, to `SESSIONS` + `HEADROOM` where it may (as root, or
//! with CAP_SYS_RESOURCE), and otherwise holds as many as fit under the
//! limit it has with that headroom (19,900 under 20,000), and says so.

mod stack;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ferry_proto::pb::im::base_define::ClientType;
use ferry_proto::pb::im::message::ImMsgDataAck;
use ferry_proto::registry::CID_MSG_DATA;
use stack::process::{at, migrate, port, proc_status, seed_md5_users, spawn, wait_listening};
use stack::{Client, metric, text_msg};

/// A holder child process; killed when dropped.
struct Holder(std::process::Child);

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const SESSIONS: usize = 20_000;
/// Descriptors msg_server needs beside its sessions, with room to spare.
const HEADROOM: u64 = 100;
const HOLDERS: usize = 2;
/// msg_server closes a PC session silent this long; holders heartbeat
/// every third of it, and hold for at least `HOLD` and until the test has
/// taken its measurements: a holder letting go of its 10,000 sessions is a
/// mass logout (some 200 presence notifies per logout), timed apart.
const PC_TIMEOUT: Duration = Duration::from_secs(6);
const HOLD: Duration = Duration::from_secs(20);
const PASSWORD: &str = "secret";
/// Logins and messages timed while the sessions are held, and the pause
/// between two.
const PROBES: usize = 25;
const PROBE_GAP: Duration = Duration::from_millis(150);
/// Logins and messages timed while a holder's sessions log out at once,
/// and the pause between two.
const STORM_PROBES: usize = 20;
const STORM_GAP: Duration = Duration::from_millis(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_thousand_sessions_with_heartbeats_on_one_msg_server() {
    let sessions = sessions_that_fit();
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite:{}", dir.path().join("ferry.db").display());
    // Schema first (db-proxy migrates on start), then the rows.
    migrate(&db_url);
    seed_md5_users(
        &db_url,
        PASSWORD,
        (0..sessions + 1 + PROBES + STORM_PROBES)
            .map(|i| (format!("user{i}"), (i % 50) as u32 + 1)),
    )
    .await;

    let (db, msg, ops) = (port(), port(), port());
    let _db_proxy = spawn(
        "db_proxy",
        &["db-proxy", "--db", &db_url, "--listen", &at(db)],
    );
    wait_listening(SocketAddr::from(([127, 0, 0, 1], db))).await;
    let pc_timeout = format!("pc_timeout={}s", PC_TIMEOUT.as_secs());
    let msg_server = spawn(
        "msg_server",
        &[
            "msg-server",
            "--listen",
            &at(msg),
            "--db-proxy",
            &at(db),
            "--route-server",
            "",
            "--login-server",
            "",
            "--file-server",
            "",
            "--set",
            &pc_timeout,
            "--set",
            &format!("metrics_listen={}", at(ops)),
        ],
    );
    let msg_addr = SocketAddr::from(([127, 0, 0, 1], msg));
    wait_listening(msg_addr).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = msg_server.pid();
    let before = proc_status(pid, "VmRSS:");

    // Two holders, each logging in its share and heartbeating.
    let per = sessions / HOLDERS;
    let mut holders: Vec<(Holder, std::io::Lines<BufReader<std::process::ChildStdout>>)> = (0
        ..HOLDERS)
        .map(|h| {
            let mut child = Command::new(std::env::current_exe().unwrap())
                .args([
                    "--ignored",
                    "--exact",
                    "hold_sessions",
                    "--nocapture",
                    "--test-threads",
                    "1",
                ])
                .env("FERRY_HOLD", format!("{msg_addr},{},{per}", h * per))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap();
            let lines = BufReader::new(child.stdout.take().unwrap()).lines();
            (Holder(child), lines)
        })
        .collect();
    let started = Instant::now();
    let read_line = |lines: &mut std::io::Lines<BufReader<std::process::ChildStdout>>,
                     prefix: &str|
     -> String {
        for line in lines.by_ref() {
            let line = line.unwrap();
            // libtest's "test hold_sessions ... " shares the first line.
            if let Some(at) = line.find(prefix) {
                return line[at + prefix.len()..].trim().to_string();
            }
            eprintln!("holder: {line}");
        }
        panic!("holder ended without {prefix}");
    };
    let logged: Vec<String> = tokio::task::block_in_place(|| {
        holders
            .iter_mut()
            .map(|(_, l)| read_line(l, "logged-in "))
            .collect()
    });
    for l in &logged {
        assert_eq!(l, &per.to_string(), "every login of a holder succeeded");
    }
    let login_time = started.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let held_kib = proc_status(pid, "VmRSS:");
    let per_session = (held_kib.saturating_sub(before) * 1024) / sessions as u64;

    // Meanwhile: logins of users not yet online, and messages between two
    // of them, `PROBES` of each spaced `PROBE_GAP` apart so they sample
    // the whole heartbeat cycle; medians and maxima are reported.
    // A login is timed from its request to its answer, its connect apart.
    // The probes connect from 127.0.0.2: from 127.0.0.1, with 19,900 of
    // its 28,232 local ports taken by the held sessions, the kernel's
    // search for a free port alone took a median 2.5 ms.
    let (mut logins_ms, mut connects_ms) = (Vec::new(), Vec::new());
    let mut probes = Vec::with_capacity(PROBES);
    for i in 0..PROBES {
        let t = Instant::now();
        let mut probe = Client::connect_from(msg_addr, [127, 0, 0, 2].into()).await;
        connects_ms.push(t.elapsed().as_secs_f64() * 1e3);
        let name = format!("user{}", sessions + 1 + i);
        let t = Instant::now();
        let res = probe.try_login(&name, PASSWORD, ClientType::Windows).await;
        logins_ms.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(res.result_code, 0, "login of {name}: {res:?}");
        probes.push(probe);
        tokio::time::sleep(PROBE_GAP).await;
    }
    let mut peer = Client::login(msg_addr, &format!("user{sessions}"), ClientType::Android).await;
    let (mut acks_ms, mut delivered_ms) = (Vec::new(), Vec::new());
    let sender = &mut probes[0];
    for _ in 0..PROBES {
        let t = Instant::now();
        let ack: ImMsgDataAck = sender.call(&text_msg(peer.user, "still answering")).await;
        acks_ms.push(t.elapsed().as_secs_f64() * 1e3);
        assert!(ack.msg_id > 0);
        let _ = peer.expect(CID_MSG_DATA).await;
        delivered_ms.push(t.elapsed().as_secs_f64() * 1e3);
        tokio::time::sleep(PROBE_GAP).await;
    }

    // A mass logout: the first holder lets go of its 9,950 sessions at
    // once, and msg_server tells the sessions still held (each
    // department's share of the other 9,950) of every one of them, some
    // 200 notifies per logout, while logins and messages are timed: each
    // probe logs in a new PC session (the first probes, which do not
    // heartbeat, are gone by then: the holder lets go after `HOLD`) and
    // sends the Android peer a message from it.
    let release = |holder: &mut Holder| {
        let stdin = holder.0.stdin.as_mut().unwrap();
        std::io::Write::write_all(stdin, b"measured\n").unwrap();
    };
    let ops_addr = SocketAddr::from(([127, 0, 0, 1], ops));
    let counted = || async {
        (
            metric(ops_addr, "ferry_msg_presence_notifies_total").await,
            metric(ops_addr, "ferry_msg_presence_pushes_total").await,
        )
    };
    let before_storm = counted().await;
    release(&mut holders[0].0);
    tokio::task::block_in_place(|| read_line(&mut holders[0].1, "releasing"));
    let storm_started = Instant::now();
    let (mut storm_logins_ms, mut storm_acks_ms) = (Vec::new(), Vec::new());
    for i in 0..STORM_PROBES {
        let mut probe = Client::connect_from(msg_addr, [127, 0, 0, 2].into()).await;
        let name = format!("user{}", sessions + 1 + PROBES + i);
        let t = Instant::now();
        let res = probe.try_login(&name, PASSWORD, ClientType::Windows).await;
        storm_logins_ms.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(res.result_code, 0, "login of {name}: {res:?}");
        let t = Instant::now();
        let ack: ImMsgDataAck = probe.call(&text_msg(peer.user, "in the storm")).await;
        storm_acks_ms.push(t.elapsed().as_secs_f64() * 1e3);
        assert!(ack.msg_id > 0);
        let _ = peer.expect(CID_MSG_DATA).await;
        tokio::time::sleep(STORM_GAP).await;
    }
    let storm_probed = storm_started.elapsed();
    // The fan-out is done when the counts stop moving.
    let mut after_storm = counted().await;
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = counted().await;
        if now == after_storm {
            break;
        }
        after_storm = now;
    }
    let (notifies, pushes) = (
        after_storm.0 - before_storm.0,
        after_storm.1 - before_storm.1,
    );
    let alive: Vec<String> = tokio::task::block_in_place(|| {
        let first = read_line(&mut holders[0].1, "alive ");
        release(&mut holders[1].0);
        vec![first, read_line(&mut holders[1].1, "alive ")]
    });
    let (connect, login, ack, delivered) = (
        Spread::of(connects_ms),
        Spread::of(logins_ms),
        Spread::of(acks_ms),
        Spread::of(delivered_ms),
    );
    println!(
        "msg_server with {sessions} sessions: logins took {login_time:?}; RSS {before} KiB idle, \
         {held_kib} KiB held = {per_session} bytes per session; meanwhile ({PROBES} of each) \
         a connect {connect} and a login {login}, a message acked {ack} and \
         delivered {delivered}"
    );
    let (storm_login, storm_ack) = (Spread::of(storm_logins_ms), Spread::of(storm_acks_ms));
    println!(
        "while {per} sessions logged out at once ({STORM_PROBES} of each over \
         {storm_probed:?}): a login {storm_login}, a message acked {storm_ack}; \
         {notifies} presence notifies in {pushes} pushes"
    );
    for a in &alive {
        assert_eq!(
            a,
            &per.to_string(),
            "every session stayed up through {HOLD:?} (pc_timeout {PC_TIMEOUT:?})"
        );
    }
    // The goal is 10 KiB per idle session (issue 11), printed above. RSS
    // after a 19,900-login burst varies with how many logins overlapped
    // (the allocator keeps its high-water mark): 8,887 and 8,957 bytes in
    // two runs, 10,758 in a CI run whose logins went 25% faster, on the
    // same build. The assertion catches a regression beyond that noise.
    assert!(per_session <= 12 << 10, "{per_session} bytes per session");
    assert!(
        login.median < 1000.0 && delivered.median < 1000.0,
        "answered at all under load"
    );
    // Each logout is told to the held sessions of its department (about
    // 200 of the other holder's): two million notifies, which the fan-out
    // coalesces into far fewer pushes (one per session per batch: about 10
    // times fewer in release and debug runs; one push per notify without
    // it).
    assert!(
        notifies >= (per * per / 50 / 2) as u64,
        "{notifies} notifies for {per} logouts"
    );
    assert!(
        pushes * 4 < notifies,
        "{notifies} notifies went in {pushes} pushes"
    );
    drop((probes, peer));
}

/// How many sessions the test holds: `SESSIONS` if this process's limit
/// of open files is (or may be raised to) `SESSIONS` + `HEADROOM`, else as
/// many as fit under it. msg_server and the holders inherit the limit.
#[allow(unsafe_code)]
fn sessions_that_fit() -> usize {
    let want = SESSIONS as u64 + HEADROOM;
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write the struct given.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        if limit.rlim_cur < want {
            let raised = libc::rlimit {
                rlim_cur: want,
                rlim_max: limit.rlim_max.max(want),
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            } else {
                let soft = libc::rlimit {
                    rlim_cur: limit.rlim_max,
                    rlim_max: limit.rlim_max,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &soft) == 0 {
                    limit = soft;
                }
            }
        }
    }
    let fit = limit.rlim_cur.saturating_sub(HEADROOM).min(SESSIONS as u64) as usize;
    if fit < SESSIONS {
        println!(
            "holding {fit} sessions, not {SESSIONS}: the limit of open files is {} and \
             this process may not raise it",
            limit.rlim_cur
        );
    }
    fit
}

/// Median and maximum of latency samples, in ms.
struct Spread {
    median: f64,
    max: f64,
}

impl Spread {
    fn of(mut ms: Vec<f64>) -> Spread {
        ms.sort_by(f64::total_cmp);
        Spread {
            median: ms[ms.len() / 2],
            max: ms[ms.len() - 1],
        }
    }
}

impl std::fmt::Display for Spread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "median {:.2} ms (max {:.2})", self.median, self.max)
    }
}

/// Not a test on its own: the holder process the test above starts
/// (`FERRY_HOLD=addr,first,count`). Logs in users first..first+count, 100
/// logins in flight at a time, prints `logged-in N`, holds them for `HOLD`
/// and until a line on stdin says the test has measured, then prints
/// `releasing`, lets its sessions go (closes their sockets, all at once)
/// and prints `alive N`: the sessions msg_server never closed (and when
/// the first close was seen, if any). Each session heartbeats every third
/// of the PC timeout on its own timer from its login on, whatever the
/// logins still to come are doing.
#[tokio::test(flavor = "current_thread")]
#[ignore = "run by twenty_thousand_sessions_with_heartbeats_on_one_msg_server"]
async fn hold_sessions() {
    let spec = std::env::var("FERRY_HOLD").expect("FERRY_HOLD=addr,first,count");
    let mut parts = spec.split(',');
    let addr: SocketAddr = parts.next().unwrap().parse().unwrap();
    let first: usize = parts.next().unwrap().parse().unwrap();
    let count: usize = parts.next().unwrap().parse().unwrap();
    let started = Instant::now();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut held = tokio::task::JoinSet::new();
    for chunk in (first..first + count).collect::<Vec<_>>().chunks(100) {
        let mut logins = tokio::task::JoinSet::new();
        for i in chunk {
            let name = format!("user{i}");
            logins.spawn(async move { Client::login(addr, &name, ClientType::Windows).await });
        }
        while let Some(c) = logins.join_next().await {
            held.spawn(keep_alive(c.unwrap(), stopped.clone(), started));
        }
    }
    println!("logged-in {}", held.len());
    tokio::time::sleep(HOLD).await;
    let measured = tokio::task::spawn_blocking(|| std::io::stdin().read_line(&mut String::new()));
    measured.await.unwrap().unwrap();
    println!("releasing");
    stop.send(true).unwrap();
    let (mut alive, mut first_close) = (0, None::<Duration>);
    while let Some(held) = held.join_next().await {
        match held.unwrap() {
            Ok(()) => alive += 1,
            Err(at) => first_close = Some(first_close.map_or(at, |f| f.min(at))),
        }
    }
    if let Some(at) = first_close {
        println!("a session was closed {at:?} after the holder started");
    }
    println!("alive {alive}");
}

/// Heartbeats `session` until `stop`; `Err(when)` (since `started`) if
/// msg_server closed it.
async fn keep_alive(
    mut session: Client,
    mut stop: tokio::sync::watch::Receiver<bool>,
    started: Instant,
) -> Result<(), Duration> {
    let mut beat = tokio::time::interval(PC_TIMEOUT / 3);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = beat.tick() => if !session.beat().await {
                return Err(started.elapsed());
            },
            _ = stop.changed() => break,
        }
    }
    if session.is_open().await {
        Ok(())
    } else {
        Err(started.elapsed())
    }
}
