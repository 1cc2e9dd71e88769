//! `ferry loadgen SCENARIO`: drives a running stack (`--server`, the
//! login_server URL) as many TeamTalk clients at once, or a relay alone
//! (`--relay` + `--msg-link`: it plays msg_server on the relay's msg link
//! itself, with synthetic user ids), and reports what it did: a live line per second, then a summary table (throughput,
//! operations/s, latency p50/p90/p99/max, errors by kind, the server's CPU
//! and RSS with `--server-pid`), optionally as JSON (`--json`) and as a
//! chart (`--svg`).
//!
//! - `scenario`: what one operation is, per scenario.
//! - `record`: latencies, bytes and errors, overall and per second.
//! - `report`: the table, the JSON and the SVG.
//! - `size`: `--size` (fixed or a log-uniform range) and the seeded
//!   generator behind sizes and patterns.
//!
//! Against a stack, users `PREFIX0 .. PREFIX{n-1}` must exist with `--password` (TeamTalk
//! rows or `ferry user add`); with `--data-dir` (ferry up's, or the
//! embedded database's) the missing ones are created first.

mod record;
mod report;
mod scenario;
mod size;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use clap::Args;
use ferry_client::link::RelayLink;
use ferry_client::{Login, Session};

use crate::client_cmd::runtime;
use crate::db_cmd::DbArgs;
use record::Recorder;
use report::{ServerUse, Setup};
pub(crate) use scenario::Scenario;
use scenario::{Files, Pair, Side, Worker};
use size::{Rng, SizeSpec};

#[derive(Debug, Args)]
pub(crate) struct LoadgenArgs {
    /// What each operation is: online / offline file transfers, mixed (all
    /// in turn), login-storm (fresh logins), msg-storm (text messages)
    #[arg(value_enum)]
    scenario: Scenario,
    /// login_server's HTTP address (the stack driven, unless --relay)
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// Drive a relay alone (ferry's or TeamTalk's file_server) at this
    /// client address, playing msg_server on --msg-link: online, offline
    /// (the relay's store on) and mixed; user ids are synthetic (1..=--users)
    #[arg(long, value_name = "ADDR", requires = "msg_link")]
    relay: Option<SocketAddr>,
    /// The relay's msg link (relay.msg_listen), with --relay
    #[arg(long, value_name = "ADDR", requires = "relay")]
    msg_link: Option<SocketAddr>,
    /// The relay's relay.link_secret, if it has one (ferry's extension;
    /// FERRY_LINK_SECRET keeps it out of the process list)
    #[arg(
        long,
        value_name = "SECRET",
        env = "FERRY_LINK_SECRET",
        hide_env_values = true,
        requires = "relay"
    )]
    link_secret: Option<String>,
    /// Users taking part (two per concurrent worker at least)
    #[arg(long, default_value_t = 8)]
    users: usize,
    /// Operations in progress at once (each worker one sender/receiver pair)
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Run this long ("30s", "2m")
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, conflicts_with = "count")]
    duration: Option<Duration>,
    /// Run this many operations in all (default: 100 without --duration)
    #[arg(long)]
    count: Option<u64>,
    /// File size of the online and offline scenarios: one size ("1MiB",
    /// "96KiB", "1000") or a range LO..HI ("64KiB..1GiB") drawn
    /// log-uniformly (each doubling equally likely); past 4GiB-1 only for
    /// the offline scenario (ferry's relay: u64 sizes)
    #[arg(long, value_name = "SIZE|LO..HI", default_value = "1MiB", value_parser = SizeSpec::parse)]
    size: SizeSpec,
    /// Seed of the sizes drawn and of the bytes sent: the same seed, the
    /// same run
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Keep files off the disk: senders answer pulls from a generated
    /// pattern, receivers check every byte against it and discard it (so
    /// the run measures the relay, not loadgen's disk)
    #[arg(long)]
    no_disk: bool,
    /// Pulls in flight per transfer (the relay allows relay.window)
    #[arg(long, default_value_t = 8)]
    window: u32,
    /// Connections an offline upload uses at once (ferry's relay spreads
    /// the blocks over them; one per 4 MiB of file at most)
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=64))]
    upload_connections: u32,
    /// Bytes per pull
    #[arg(long, value_name = "SIZE", default_value = "256KiB")]
    chunk: bytesize::ByteSize,
    /// Operations per second per worker at most (default: 18 for
    /// msg-storm, under TeamTalk's 20 messages/s per connection, which
    /// msg_server enforces; unpaced otherwise). Raise --concurrency for more
    #[arg(long, value_name = "PER_SECOND")]
    rate: Option<f64>,
    /// User names are PREFIX0, PREFIX1, ...
    #[arg(long, default_value = "load")]
    user_prefix: String,
    /// Their password (test accounts; a value given here is visible in
    /// the process list, FERRY_PASSWORD is not)
    #[arg(
        long,
        env = "FERRY_PASSWORD",
        hide_env_values = true,
        default_value = "loadgen"
    )]
    password: String,
    /// How users created here (--data-dir or --db) store the password:
    /// teamtalk-md5 makes a login storm measure the servers rather than
    /// argon2 (about 10 ms of CPU per login)
    #[arg(long, value_enum, default_value_t)]
    password_scheme: crate::db_cmd::SchemeArg,
    /// Write the results as JSON here
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write a chart of throughput and p99 latency per second here
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
    /// The server process to report CPU and RSS of (Linux /proc)
    #[arg(long, value_name = "PID")]
    server_pid: Option<u32>,
    /// Create missing users in this deployment's database first
    #[command(flatten)]
    db: DbArgs,
}

pub(crate) fn run(args: LoadgenArgs) -> Result<()> {
    if args.users < 2 * args.concurrency {
        bail!(
            "--users {} is too few for --concurrency {}: each worker needs two users",
            args.users,
            args.concurrency
        );
    }
    if args.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    let names: Vec<String> = (0..args.users)
        .map(|i| format!("{}{i}", args.user_prefix))
        .collect();
    if args.relay.is_some() && matches!(args.scenario, Scenario::LoginStorm | Scenario::MsgStorm) {
        bail!(
            "{} needs a stack (--server): against a relay alone (--relay) only online, offline and mixed run",
            clap::ValueEnum::to_possible_value(&args.scenario)
                .map_or_else(String::new, |v| v.get_name().to_owned())
        );
    }
    if args.relay.is_some() && args.db.given() {
        bail!("--relay runs without a database (synthetic users): drop --db / --data-dir");
    }
    if args.db.given() {
        crate::db_cmd::ensure_users(&args.db, &names, &args.password, args.password_scheme)?;
    }
    runtime()?.block_on(load(args, names))
}

async fn load(args: LoadgenArgs, names: Vec<String>) -> Result<()> {
    let work = tempfile_dir()?;
    let transfer = ferry_client::Options::default()
        .with_window(args.window)
        .with_upload_connections(args.upload_connections)
        .with_chunk(u32::try_from(args.chunk.as_u64()).context("--chunk is too large")?);
    let login = |name: &str| Login::new(args.server.clone(), name, args.password.clone());
    let link = match (args.relay, args.msg_link) {
        (Some(relay), Some(at)) => {
            let secret = args.link_secret.as_deref().map(str::as_bytes);
            let link = RelayLink::connect(at, secret, vec![relay], transfer.timeout)
                .await
                .with_context(|| format!("connecting to the relay's msg link at {at}"))?;
            Some(Arc::new(link))
        }
        _ => None,
    };

    let mut workers = Vec::new();
    for k in 0..args.concurrency {
        let side = match &link {
            Some(link) => Side::Relay {
                link: link.clone(),
                from: 2 * k as u32 + 1,
                to: 2 * k as u32 + 2,
            },
            None => {
                let (a, b) = (login(&names[2 * k]), login(&names[2 * k + 1]));
                let sender = Session::login(&a)
                    .await
                    .with_context(|| format!("logging in {}", a.user))?;
                let receiver = Session::login(&b)
                    .await
                    .with_context(|| format!("logging in {}", b.user))?;
                Side::Stack(Box::new(Pair {
                    sender,
                    receiver,
                    sender_login: a,
                }))
            }
        };
        let files = if args.no_disk {
            Files::Memory
        } else {
            Files::Disk {
                source: work.join(format!("source-{k}.bin")),
                source_size: None,
                sink: work.join(format!("sink-{k}.bin")),
            }
        };
        workers.push(Worker {
            side,
            files,
            sizes: args.size,
            rng: Rng::new(args.seed, k as u64),
            transfer: transfer.clone(),
            done: 0,
        });
    }

    let setup = Setup {
        scenario: args.scenario,
        users: args.users,
        concurrency: args.concurrency,
        against: match args.relay {
            Some(relay) => format!("relay {relay}"),
            None => args.server.clone(),
        },
        size: args.size,
        seed: args.seed,
        no_disk: args.no_disk,
        window: args.window,
        chunk_bytes: transfer.chunk,
    };
    let cpu_before = args.server_pid.map(proc_cpu_seconds).transpose()?;
    let recorder = Arc::new(Recorder::new());
    let deadline = args.duration.map(|d| Instant::now() + d);
    let budget = Arc::new(AtomicU64::new(match (args.count, deadline) {
        (Some(n), _) => n,
        (None, Some(_)) => u64::MAX,
        (None, None) => 100,
    }));
    let rate = args
        .rate
        .or((args.scenario == Scenario::MsgStorm).then_some(18.0));
    let every = match rate {
        Some(r) if r > 0.0 => Some(Duration::from_secs_f64(1.0 / r)),
        Some(r) => bail!("--rate {r} must be above 0"),
        None => None,
    };
    let ticker = tokio::spawn(live(recorder.clone()));
    let logged = Arc::new(AtomicU64::new(0));
    let mut running = Vec::new();
    for mut worker in workers {
        let (recorder, budget, logged) = (recorder.clone(), budget.clone(), logged.clone());
        let scenario = args.scenario;
        running.push(tokio::spawn(async move {
            let mut next = Instant::now();
            while deadline.is_none_or(|d| Instant::now() < d)
                && budget
                    .fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1))
                    .is_ok()
            {
                if let Some(every) = every {
                    tokio::time::sleep_until(next.into()).await;
                    next += every;
                }
                let done = match worker.prepare(scenario) {
                    Ok(job) => {
                        let t0 = Instant::now();
                        worker.run(job).await.map(|moved| (t0.elapsed(), moved))
                    }
                    Err(e) => Err(e),
                };
                match done {
                    Ok((took, moved)) => {
                        recorder.ok(took, moved.bytes);
                        if moved.file {
                            recorder.file_size(moved.bytes);
                        }
                        if let Some(p) = moved.phases {
                            recorder.phase("upload", p.upload, moved.bytes);
                            recorder.phase("download", p.download, moved.bytes);
                        }
                    }
                    Err(e) => {
                        // The first few in full; the rest are counted.
                        if logged.fetch_add(1, Relaxed) < ERRORS_LOGGED {
                            tracing::warn!(error = %e, "operation failed");
                        }
                        recorder.error(e.kind());
                    }
                }
            }
            worker.close().await;
        }));
    }
    for r in running {
        r.await.context("a worker panicked")?;
    }
    ticker.abort();
    let summary = recorder.summary();
    let server = match (args.server_pid, cpu_before) {
        (Some(pid), Some(before)) => Some(ServerUse {
            pid,
            cpu_s: proc_cpu_seconds(pid)? - before,
            rss_kib: proc_rss_kib(pid)?,
        }),
        _ => None,
    };
    print!("{}", report::table(&setup, &summary, server));
    if let Some(path) = &args.json {
        let doc = report::json(&setup, &summary, server);
        std::fs::write(path, serde_json::to_string_pretty(&doc)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.svg {
        std::fs::write(path, report::svg(&setup, &summary))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let _ = std::fs::remove_dir_all(&work);
    if summary.error_count() > 0 {
        bail!("{} operations failed", summary.error_count());
    }
    Ok(())
}

/// Failed operations logged one by one; the rest are only counted.
const ERRORS_LOGGED: u64 = 10;

/// A line on stderr each second: operations and errors so far.
async fn live(recorder: Arc<Recorder>) {
    let started = Instant::now();
    let mut last = 0;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (ops, errors) = recorder.counts();
        eprintln!(
            "{:>4.0}s  {ops} ops ({}/s)  {errors} errors",
            started.elapsed().as_secs_f64(),
            ops - last
        );
        last = ops;
    }
}

/// A private directory for the run's files.
fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("ferry-loadgen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// utime + stime of `pid` in seconds (/proc/PID/stat, clock ticks of 100 Hz).
fn proc_cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat (--server-pid)"))?;
    // Fields after the command name in parentheses; utime and stime are
    // the 14th and 15th fields of the line.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok((ticks(11) + ticks(12)) as f64 / 100.0)
}

/// VmRSS of `pid` in KiB.
fn proc_rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status (--server-pid)"))?;
    Ok(status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0))
}
