//! `ferry send FILE --to USER [--offline]`: logs in, asks msg_server for a
//! task and sends the file through the relay: online while the receiver
//! has a PC client on (msg_server makes it offline otherwise), or
//! uploaded for later with `--offline`.

use std::path::PathBuf;

use anyhow::{Result, anyhow};
use clap::Args;
use ferry_client::{Mode, SendOptions, Session};

use crate::client_cmd::{ClientArgs, Failed, runtime};
use crate::progress::Shown;

#[derive(Debug, Args)]
#[command(after_help = crate::client_cmd::EXIT_CODES)]
pub(crate) struct SendArgs {
    /// The file to send (a regular file; past 4 GiB − 1 bytes its size and
    /// offsets move on ferry's u64 extension fields, so the receiver must
    /// be a ferry client)
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// The receiver: a user name, or a numeric user id
    #[arg(long, value_name = "USER")]
    to: String,
    /// Leave the file on the relay for the receiver to fetch later, even
    /// when they are online
    #[arg(long)]
    offline: bool,
    /// An offline upload goes over up to N connections at once: ferry's
    /// relay spreads the file's blocks over them (it takes
    /// relay.offline_uploaders_per_task, 4 by default; one per 4 MiB of
    /// file at most). Keep 1 for TeamTalk's file_server, which takes a
    /// second upload connection as replacing the first
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=64))]
    connections: u32,
    #[command(flatten)]
    client: ClientArgs,
}

pub(crate) fn run(args: SendArgs) -> Result<()> {
    runtime()?.block_on(send(args))
}

async fn send(args: SendArgs) -> Result<()> {
    let session = args.client.login().await?;
    let to = resolve(&session, &args.to).await?;
    let mut send = SendOptions {
        mode: if args.offline {
            Mode::Offline
        } else {
            Mode::Online
        },
        ..SendOptions::default()
    };
    send.transfer.upload_connections = args.connections;
    let label = args.file.file_name().map_or_else(
        || args.file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let shown = Shown::start(label.clone(), send.transfer.watch_progress());
    let sent = session.send_file(to, &args.file, &send).await;
    drop(send);
    shown.end().await;
    // ADD_OFFLINE has no answer: written before the process ends.
    session.close().await;
    let task = sent.map_err(|e| {
        Failed::transfer(e, format!("sending {} to {}", args.file.display(), args.to))
    })?;
    let how = match task.mode {
        Mode::Online => "online",
        Mode::Offline => "offline, kept on the relay",
    };
    println!(
        "sent {label} to {} (user {to}): {} bytes, {how}, task {}",
        args.to, task.size, task.task_id
    );
    Ok(())
}

/// A user name from the all-users list, else a numeric id that list holds.
async fn resolve(session: &Session, to: &str) -> Result<u32, Failed> {
    let found = session
        .user_id_by_name(to)
        .await
        .map_err(|e| Failed::transfer(e, "listing users".into()))?;
    found.ok_or_else(|| {
        Failed::new(
            Failed::REFUSED,
            anyhow!("no user named {to:?} (nor with that id)"),
        )
    })
}
