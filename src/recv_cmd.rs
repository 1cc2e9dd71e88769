//! `ferry recv [--dir DIR] [--once]`: logs in, downloads the offline files
//! waiting for the user, then takes every file offered (online: received;
//! offline: downloaded once its upload is done).
//!
//! ```text
//! login ─> "waiting for files as NAME (user ID)" on stdout
//! offline list ─> each: download into DIR/.ferry-<task>.part (resumed if there) ─> saved
//! --once: exit; else notifies ─> online: receive / offline ready: download ─> saved
//! saved = size checked, new name claimed with create_new (a suffix when taken),
//!         the partial file renamed over the claim, "saved PATH ..." on stdout
//! ```

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};
use clap::Args;
use ferry_client::{Event, FileTask, Mode, Options, Session};

use crate::client_cmd::{ClientArgs, Failed, runtime};
use crate::progress::Shown;
use crate::safe_name;

#[derive(Debug, Args)]
#[command(after_help = crate::client_cmd::EXIT_CODES)]
pub(crate) struct RecvArgs {
    /// Where received files go (created if missing); nothing is written
    /// outside it, and no existing file is overwritten
    #[arg(long, value_name = "DIR", default_value = ".")]
    dir: PathBuf,
    /// Exit once the files waiting now have arrived
    #[arg(long)]
    once: bool,
    /// Exit after this many files
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Pulls in flight (TeamTalk's clients: 1; ferry's relay allows 16)
    #[arg(long, value_name = "N", default_value_t = 8)]
    window: u32,
    /// Bytes a pull asks for (TeamTalk's clients: 34KiB; ferry's relay
    /// allows 1MiB)
    #[arg(long, value_name = "SIZE", default_value = "256KiB", value_parser = parse_size)]
    chunk: u32,
    #[command(flatten)]
    client: ClientArgs,
}

fn parse_size(text: &str) -> Result<u32, String> {
    let size: bytesize::ByteSize = text.parse()?;
    u32::try_from(size.as_u64()).map_err(|_| format!("{text} is too large"))
}

pub(crate) fn run(args: RecvArgs) -> Result<()> {
    runtime()?.block_on(recv(args))
}

async fn recv(args: RecvArgs) -> Result<()> {
    std::fs::create_dir_all(&args.dir)
        .map_err(|e| Failed::new(Failed::IO, anyhow!("creating {}: {e}", args.dir.display())))?;
    let mut session = args.client.login().await?;
    println!(
        "waiting for files as {} (user {})",
        args.client.user(),
        session.user_id()
    );
    let served = serve(&mut session, &args).await;
    // The last DEL_OFFLINE has no answer: written before the process ends.
    session.close().await;
    served
}

/// Takes what is pending, then what is notified, until `args` says enough.
async fn serve(session: &mut Session, args: &RecvArgs) -> Result<()> {
    let opts = Options::default()
        .with_window(args.window)
        .with_chunk(args.chunk);
    let mut received = 0u64;
    let enough = |n: u64| args.count.is_some_and(|c| n >= c);
    received += take_pending(session, args, &opts, args.count).await?;
    if args.once || enough(received) {
        return Ok(());
    }
    while let Some(event) = session.next_event().await {
        if let Event::Reconnected { msg_server } = event {
            // Notifies sent while the session was down are lost: what was
            // recorded meanwhile is in the offline list.
            eprintln!("logged in again at {msg_server}");
            let left = args.count.map(|c| c - received);
            received += take_pending(session, args, &opts, left).await?;
            if enough(received) {
                return Ok(());
            }
            continue;
        }
        let Event::File(notify) = event else { continue };
        let task = match FileTask::from_notify(&notify) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "an unreadable file notify; skipped");
                continue;
            }
        };
        if task.mode == Mode::Offline && !task.offline_ready {
            continue; // the upload is running; a second notify says it is done
        }
        match take(session, &task, &args.dir, &opts).await {
            Ok(()) => received += 1,
            // A sender that gives up ends its transfer, not this receiver.
            Err(e) if e.code == Failed::REFUSED => eprintln!("warning: {e}"),
            Err(e) => return Err(e.into()),
        }
        if enough(received) {
            return Ok(());
        }
    }
    Err(Failed::new(Failed::SERVER, anyhow!("msg_server closed the session")).into())
}

/// Receives the offline files pending now, `at_most` of them; how many.
async fn take_pending(
    session: &Session,
    args: &RecvArgs,
    opts: &Options,
    at_most: Option<u64>,
) -> Result<u64, Failed> {
    let pending = session
        .offline_files()
        .await
        .map_err(|e| Failed::transfer(e, "listing offline files".into()))?;
    let mut taken = 0;
    for task in pending {
        if at_most.is_some_and(|n| taken >= n) {
            break;
        }
        take(session, &task, &args.dir, opts).await?;
        taken += 1;
    }
    Ok(taken)
}

/// Receives `task` into `dir` under a safe, unused name; prints where.
async fn take(
    session: &Session,
    task: &FileTask,
    dir: &Path,
    opts: &Options,
) -> Result<(), Failed> {
    let name = safe_name::sanitize(&task.file_name);
    // The task id is a checked UUID: a safe name. A download cut off in an
    // earlier run resumes from this file; an online task cannot resume.
    let part = dir.join(format!(".ferry-{}.part", task.task_id));
    if task.mode == Mode::Online {
        let _ = std::fs::remove_file(&part);
    }
    let mut opts = opts.clone();
    let shown = Shown::start(name.clone(), opts.watch_progress());
    let got = session.receive_file(task, &part, &opts).await;
    drop(opts);
    shown.end().await;
    got.map_err(|e| {
        Failed::transfer(
            e,
            format!(
                "receiving {} from user {}",
                task.display_name(),
                task.from_user_id
            ),
        )
    })?;
    let io = |doing: &str, path: &Path, e: std::io::Error| {
        Failed::new(Failed::IO, anyhow!("{doing} {}: {e}", path.display()))
    };
    let len = std::fs::metadata(&part)
        .map_err(|e| io("reading", &part, e))?
        .len();
    if len != task.size {
        return Err(Failed::new(
            Failed::SERVER,
            anyhow!(
                "{} holds {len} bytes, the file {}",
                part.display(),
                task.size
            ),
        ));
    }
    let (path, _claim) =
        safe_name::create_unique(dir, &name).map_err(|e| io("creating", dir, e))?;
    std::fs::rename(&part, &path).map_err(|e| io("renaming into", &path, e))?;
    println!(
        "saved {} ({} bytes from user {}, {})",
        path.display(),
        task.size,
        task.from_user_id,
        if task.mode == Mode::Online {
            "online"
        } else {
            "offline"
        }
    );
    Ok(())
}
