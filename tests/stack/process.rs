//! `ferry` subcommands as processes, for tests and benches that run the
//! services as an operator does: free ports, a child that is killed when
//! dropped and can be asked to drain, waiting for a port to listen, the
//! memory a process holds, TeamTalk MD5 user rows (cheap logins), and a
//! `ferry relay` on ephemeral ports whose log the test reads.

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ferry_control::store::{Pool, md5_hex};

/// A port nothing listens on now, on 127.0.0.1.
pub fn port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `127.0.0.1:port` as text, for flags.
pub fn at(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

/// A `ferry` process; killed when dropped.
pub struct Service {
    pub name: &'static str,
    pub child: Child,
}

/// Starts `ferry args…` with no config file, stdout discarded, stderr
/// shared; its log level is `FERRY_CHILD_LOG` (default `warn`).
pub fn spawn(name: &'static str, args: &[&str]) -> Service {
    spawn_exe(env!("CARGO_BIN_EXE_ferry"), name, args)
}

/// [`spawn`] of another `ferry` binary (a bench's A/B against an older
/// build).
pub fn spawn_exe(exe: &str, name: &'static str, args: &[&str]) -> Service {
    let child = Command::new(exe)
        .args(args)
        .env_remove("FERRY_CONFIG")
        .env(
            "RUST_LOG",
            std::env::var("FERRY_CHILD_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    Service { name, child }
}

impl Service {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `signal` (`-TERM`, `-INT`); the exit status within 20 s.
    pub fn stop_with(mut self, signal: &str) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit after {signal}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM; the exit status within 20 s.
    pub fn terminate(self) -> std::process::ExitStatus {
        self.stop_with("-TERM")
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Returns once something accepts on `addr` (10 s at most).
pub async fn wait_listening(addr: SocketAddr) {
    for _ in 0..400 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("nothing listens on {addr}");
}

/// A `/proc/PID/status` value: kB for the Vm* keys, a count for Threads.
pub fn proc_status(pid: u32, key: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = text.lines().find(|l| l.starts_with(key)).unwrap();
    line[key.len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// `ferry db migrate --db URL`: the schema, before rows are written.
pub fn migrate(db: &str) {
    run(&["db", "migrate", "--db", db]);
}

/// `ferry args…` to completion with no config file; its stdout. Panics
/// with its stderr unless it exits 0.
pub fn run(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(args)
        .env_remove("FERRY_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ferry {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// TeamTalk MD5 rows (password `password`), one per `(name, department)`,
/// in one transaction: logins that cost a hash of microseconds.
pub async fn seed_md5_users(db: &str, password: &str, users: impl Iterator<Item = (String, u32)>) {
    let pool = Pool::open(db, 1, true).await.unwrap();
    let salt = "4321";
    let stored = md5_hex(format!("{}{salt}", md5_hex(password.as_bytes())).as_bytes());
    let sql = "INSERT INTO IMUser (sex, name, domain, nick, password, salt, phone, email, avatar, \
               departId, status, created, updated, push_shield_status, sign_info) \
               VALUES (1, ?, ?, ?, ?, ?, '', '', '', ?, 0, 100, 100, 0, '')";
    macro_rules! insert {
        ($p:expr) => {{
            let mut tx = $p.begin().await.unwrap();
            for (name, depart) in users {
                sqlx::query(sql)
                    .bind(&name)
                    .bind(&name)
                    .bind(&name)
                    .bind(&stored)
                    .bind(salt)
                    .bind(i64::from(depart))
                    .execute(&mut *tx)
                    .await
                    .unwrap();
            }
            tx.commit().await.unwrap();
        }};
    }
    match &pool {
        Pool::Sqlite(p) => insert!(p),
        Pool::MySql(p) => insert!(p),
    }
    pool.close().await;
}

/// CPU time a process has used so far (user + system), in seconds, from
/// `/proc/PID/stat` (clock ticks of 1/100 s, Linux's USER_HZ).
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 here.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}

/// `ferry user add NAME --password PASSWORD` plus `place` (`--data-dir
/// DIR` or `--db URL`, and e.g. `--depart 1`); the new user's id.
pub fn user_add(name: &str, password: &str, place: &[&str]) -> u32 {
    let mut args = vec!["user", "add", name, "--password", password];
    args.extend_from_slice(place);
    run(&args).trim().parse().unwrap()
}

/// `ferry login-server` on the given HTTP, client and registration ports.
pub fn spawn_login(http: u16, client: u16, registration: u16) -> Service {
    spawn(
        "login_server",
        &[
            "login-server",
            "--http-listen",
            &at(http),
            "--client-listen",
            &at(client),
            "--msg-server-listen",
            &at(registration),
        ],
    )
}

/// `ferry relay` on `cores` cores, its shared client port and msg-link
/// port given, per-core ports the system's, advertising 127.0.0.1.
pub fn spawn_relay(client: u16, msg_link: u16, cores: u16) -> Service {
    spawn(
        "relay",
        &[
            "relay",
            "--client-listen",
            &at(client),
            "--msg-listen",
            &at(msg_link),
            "--cores",
            &cores.to_string(),
            "--core-port-base",
            "0",
            "--advertise",
            "127.0.0.1",
        ],
    )
}

/// `ferry up --any-port --data-dir DATA` as a child (stdout read here,
/// stderr shared) and the lines it printed up to `Ctrl-C stops
/// everything.`; panics when it stops before.
pub fn spawn_up(data: &str) -> (Child, Vec<String>) {
    use std::io::{BufRead, BufReader};
    let mut up = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["up", "--any-port", "--data-dir", data])
        .env_remove("FERRY_CONFIG")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = Vec::new();
    for line in BufReader::new(up.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let done = line.starts_with("Ctrl-C");
        lines.push(line);
        if done {
            return (up, lines);
        }
    }
    let _ = up.kill();
    let _ = up.wait();
    panic!("ferry up printed {lines:?} and stopped");
}

/// `ferry relay` on loopback ephemeral ports (2 cores, per-core ports the
/// system's, metrics on), its addresses read from the start-up log line
/// and every later log line kept for the test; killed when dropped.
pub struct LoggedRelay {
    pub child: Child,
    pub client: SocketAddr,
    pub msg: SocketAddr,
    pub metrics: SocketAddr,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl LoggedRelay {
    /// Starts it with `env` added (config overrides such as
    /// `FERRY_OFFLINE__ENABLED`), logging at info.
    pub fn spawn(env: &[(&str, &str)]) -> LoggedRelay {
        use std::io::{BufRead, BufReader};
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
        cmd.args(["relay", "--cores", "2", "--core-port-base", "0"])
            .args([
                "--client-listen",
                "127.0.0.1:0",
                "--msg-listen",
                "127.0.0.1:0",
            ])
            .args(["--metrics-listen", "127.0.0.1:0"])
            .env_remove("FERRY_CONFIG")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
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
        // Kept, and drained so the relay never blocks on a full pipe.
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let keep = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                keep.lock().unwrap().push(line);
            }
        });
        let field = |name: &str| -> SocketAddr {
            let at = started
                .find(&format!(" {name}="))
                .unwrap_or_else(|| panic!("{name} in {started}"))
                + name.len()
                + 2;
            let value: String = started[at..]
                .chars()
                .take_while(|c| !c.is_whitespace())
                .collect();
            value
                .parse()
                .unwrap_or_else(|_| panic!("{name}: {value:?} in {started}"))
        };
        LoggedRelay {
            client: field("client"),
            msg: field("msg"),
            metrics: field("metrics"),
            child,
            log,
        }
    }

    /// Log lines so far containing `text`.
    pub fn lines_with(&self, text: &str) -> usize {
        let log = self.log.lock().unwrap();
        log.iter().filter(|l| l.contains(text)).count()
    }

    /// Waits (2 s at most) until exactly `n` log lines contain `text`.
    pub fn wait_for(&self, text: &str, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.lines_with(text) < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(self.lines_with(text), n, "relay log lines with {text:?}");
    }
}

impl Drop for LoggedRelay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
