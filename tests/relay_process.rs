//! `ferry relay` as a process, as an operator runs it: start-up refusals,
//! the metrics endpoint, memory per idle connection, drain on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct RelayProcess {
    child: Child,
    client: SocketAddr,
    msg: SocketAddr,
    metrics: SocketAddr,
}

/// Starts `ferry relay` on loopback ephemeral ports and reads its
/// addresses from the start-up log line.
fn spawn(extra_env: &[(&str, &str)]) -> RelayProcess {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
    cmd.args([
        "relay",
        "--cores",
        "2",
        "--client-listen",
        "127.0.0.1:0",
        "--msg-listen",
        "127.0.0.1:0",
    ])
    .args(["--core-port-base", "0", "--metrics-listen", "127.0.0.1:0"])
    .env_remove("FERRY_CONFIG")
    .env("RUST_LOG", "info")
    .env("NO_COLOR", "1")
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start ferry relay");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let started = loop {
        let line = lines.next().expect("relay exited before starting").unwrap();
        if line.contains("relay started") {
            break line;
        }
    };
    // Keep draining stderr so the relay never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    let field = |name: &str| -> SocketAddr {
        let start = started
            .find(&format!("{name}="))
            .unwrap_or_else(|| panic!("{name} in {started}"))
            + name.len()
            + 1;
        let value: String = started[start..]
            .chars()
            .take_while(|c| !c.is_whitespace())
            .collect();
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name}: {value:?} in {started}"))
    };
    RelayProcess {
        client: field("client"),
        msg: field("msg"),
        metrics: field("metrics"),
        child,
    }
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
            if let Some(status) = self.child.try_wait().unwrap() {
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
