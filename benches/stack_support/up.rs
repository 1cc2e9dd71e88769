//! The stack under test: the release `ferry` binary run as `ferry up
//! --any-port` in a child process on a fresh data directory, its
//! addresses read from the banner it prints, its users made with `ferry
//! user add`, and `ferry loadgen` children run against it with `--json`.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context as _, Result, bail};

/// The `ferry` binary cargo built for this bench (release).
pub(crate) const FERRY: &str = env!("CARGO_BIN_EXE_ferry");

/// A running `ferry up`; stopped with SIGINT when dropped.
pub(crate) struct Up {
    child: Child,
    /// Holds the data directory (SQLite, the offline store).
    dir: tempfile::TempDir,
    /// login_server's HTTP base, for `loadgen --server`.
    pub(crate) url: String,
    /// The relay's client port.
    pub(crate) relay: SocketAddr,
    /// The relay's msg link (what msg_server dials).
    pub(crate) msg_link: SocketAddr,
    /// db_proxy's PDU port.
    pub(crate) db_proxy: SocketAddr,
}

impl Up {
    /// Starts `ferry up --any-port --data-dir DIR/data` with a data
    /// directory under `parent` (a real disk: the offline store syncs),
    /// logging at warn to `DIR/up.log`, and waits for its banner.
    pub(crate) fn start(parent: &Path) -> Result<Up> {
        let dir = tempfile::Builder::new()
            .prefix("ferry-stack-bench-")
            .tempdir_in(parent)
            .with_context(|| format!("a directory under {}", parent.display()))?;
        let log = std::fs::File::create(dir.path().join("up.log"))?;
        let mut child = Command::new(FERRY)
            .args(["up", "--any-port", "--data-dir"])
            .arg(dir.path().join("data"))
            .env_remove("FERRY_CONFIG")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .context("starting ferry up")?;
        let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
        let mut banner = Vec::new();
        for line in lines.by_ref() {
            let line = line?;
            let done = line.starts_with("Ctrl-C");
            banner.push(line);
            if done {
                break;
            }
        }
        // Whatever it prints later is read and dropped (never a full pipe).
        std::thread::spawn(move || lines.for_each(drop));
        let field = |service: &str| {
            banner
                .iter()
                .find(|l| l.trim_start().starts_with(service))
                .map(|l| l.split_whitespace().collect::<Vec<_>>())
        };
        let (Some(login), Some(relay), Some(db)) =
            (field("login_server"), field("relay"), field("db_proxy"))
        else {
            let _ = child.kill();
            bail!("ferry up printed {banner:?}");
        };
        // "relay ADDR (msg link ADDR: ferry loadgen ...)"
        let link = relay
            .iter()
            .position(|w| *w == "link")
            .and_then(|i| relay.get(i + 1))
            .map(|w| w.trim_end_matches(':'))
            .context("the relay's msg link in the banner")?;
        Ok(Up {
            url: login[1].trim_end_matches("/msg_server").to_owned(),
            relay: relay[1].parse()?,
            msg_link: link.parse()?,
            db_proxy: db[1].parse()?,
            child,
            dir,
        })
    }

    /// The process id (for `loadgen --server-pid`).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `ferry user add NAME --password PASSWORD --password-scheme
    /// teamtalk-md5` (no argon2 per login), while the stack runs; the
    /// new user's id.
    pub(crate) fn add_user(&self, name: &str, password: &str) -> Result<u32> {
        let out = Command::new(FERRY)
            .args(["user", "add", name, "--password", password])
            .args(["--password-scheme", "teamtalk-md5", "--data-dir"])
            .arg(self.dir.path().join("data"))
            .output()?;
        let said = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            bail!("ferry user add {name}: {said}");
        }
        // "user \"NAME\" created with id N"
        said.split_whitespace()
            .last()
            .and_then(|id| id.parse().ok())
            .with_context(|| format!("a user id in {said:?}"))
    }

    /// Runs `ferry loadgen ARGS --json FILE` to its end; its JSON summary.
    /// The child's stderr (the live line, warnings) goes to `loadgen.log`
    /// beside the data; its table is shown only when it fails.
    pub(crate) fn loadgen(&self, args: &[String]) -> Result<serde_json::Value> {
        let json: PathBuf = self.dir.path().join("loadgen.json");
        let _ = std::fs::remove_file(&json);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("loadgen.log"))?;
        let out = Command::new(FERRY)
            .arg("loadgen")
            .args(args)
            .arg("--json")
            .arg(&json)
            .env("RUST_LOG", "warn")
            .env_remove("FERRY_LINK_SECRET")
            .stderr(log)
            .output()
            .context("running ferry loadgen")?;
        if !out.status.success() {
            bail!(
                "ferry loadgen {}: {}\n{}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stdout)
            );
        }
        let text = std::fs::read_to_string(&json)?;
        Ok(serde_json::from_str(&text)?)
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        // SIGINT drains every service and exits.
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}
