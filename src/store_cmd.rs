//! `ferry store check|repair|import-teamtalk`: the relay's offline block
//! store (`[offline]`, `ferry_storage`) for operators. Run them while no
//! relay serves the store: they read and change it with blocking calls.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use ferry_proto::text;

use crate::cli::ConfigArgs;

/// Which store: the config's `[offline]`, flags on top.
#[derive(Debug, Args)]
pub(crate) struct StoreArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// The store's directory (offline.root; `ferry up` keeps it in
    /// <its data dir>/offline)
    #[arg(long, value_name = "DIR")]
    data_dir: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum StoreCommand {
    /// List every task (id, from, to, name, size, committed, state, age)
    /// and verify every stored block's CRC32C; exit 1 unless all is sound.
    Check(StoreArgs),
    /// Drop what cannot be trusted, so the store checks sound.
    Repair {
        #[command(flatten)]
        store: StoreArgs,
        /// Say what would be dropped; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Import TeamTalk file_server's `offline_file/` tree as complete
    /// tasks; each file refused is listed with its reason (exit 1).
    ImportTeamtalk {
        /// TeamTalk's `offline_file` directory.
        dir: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
    },
}

fn config(args: &StoreArgs) -> Result<ferry_storage::Config> {
    let loaded = args
        .config
        .load("offline", &[("root", args.data_dir.clone())])?;
    let mut store = loaded.config.offline.store;
    // ferry-storage creates a missing root only when it is absolute.
    store.root = std::path::absolute(&store.root)
        .with_context(|| format!("offline root {}", store.root.display()))?;
    Ok(store)
}

/// A store to check or repair must be one: a directory that is not (an
/// empty one, or `ferry up`'s data directory, whose store is its
/// `offline/`) would otherwise check as an empty, sound store.
fn existing(config: ferry_storage::Config) -> Result<ferry_storage::Config> {
    let root = &config.root;
    let layout = ferry_storage::Layout::new(root);
    if !layout.tasks_dir().is_dir() {
        let nested = ferry_storage::Layout::new(root.join("offline"));
        if nested.tasks_dir().is_dir() {
            bail!(
                "no offline store at {0} (no tasks/ in it); {0} looks like a ferry data \
                 directory, whose store is {1}: --data-dir {1}",
                root.display(),
                root.join("offline").display()
            );
        }
        bail!(
            "no offline store at {} (no tasks/ in it: a relay that opened a store there \
             would have made it); `ferry up` keeps its store in <data dir>/offline",
            root.display()
        );
    }
    Ok(config)
}

pub(crate) fn run(command: StoreCommand) -> Result<()> {
    match command {
        StoreCommand::Check(args) => check(&existing(config(&args)?)?),
        StoreCommand::Repair { store, dry_run } => repair(&existing(config(&store)?)?, dry_run),
        StoreCommand::ImportTeamtalk { dir, store } => import(&config(&store)?, &dir),
    }
}

fn check(config: &ferry_storage::Config) -> Result<()> {
    if ferry_storage::StoreLock::held_elsewhere(&config.root)? {
        println!(
            "note: a relay is serving this store (or a repair runs on it): tasks being written show as they stand on disk"
        );
    }
    let found = ferry_storage::check::check(&config.root)
        .with_context(|| format!("cannot check the store at {}", config.root.display()))?;
    let now = unix_now();
    println!(
        "task_id                              from       to         size         committed  state      age_s  name"
    );
    for t in &found.tasks {
        let pct = if t.blocks == 0 {
            100.0
        } else {
            100.0 * f64::from(t.committed) / f64::from(t.blocks)
        };
        println!(
            "{}  {:<10} {:<10} {:<12} {:>8.1}%  {:<10} {:<6} {}",
            t.task_id,
            t.from_user,
            t.to_user,
            t.size,
            pct,
            t.state.as_str(),
            now.saturating_sub(t.created),
            text::show(&t.name)
        );
    }
    for issue in &found.report.issues {
        println!("issue: {issue}");
    }
    println!(
        "{} tasks, {} committed blocks verified, {} issues",
        found.tasks.len(),
        found.report.blocks,
        found.report.issues.len()
    );
    if !found.is_sound() {
        bail!(
            "the store at {} is not sound: `ferry store repair --dry-run` says what repair would drop",
            config.root.display()
        );
    }
    Ok(())
}

fn repair(config: &ferry_storage::Config, dry_run: bool) -> Result<()> {
    // Not under a running relay: it trusts the records a repair rewrites.
    let _lock = ferry_storage::StoreLock::acquire(&config.root)
        .with_context(|| format!("cannot repair the store at {}", config.root.display()))?;
    let done = ferry_storage::check::repair(&config.root, dry_run)
        .with_context(|| format!("cannot repair the store at {}", config.root.display()))?;
    let verb = if dry_run { "would" } else { "did" };
    for r in &done {
        println!("{}: {verb} {}", r.issue, r.action);
    }
    println!(
        "{} repairs ({})",
        done.len(),
        if dry_run { "dry run" } else { "done" }
    );
    Ok(())
}

fn import(config: &ferry_storage::Config, dir: &std::path::Path) -> Result<()> {
    let _lock = ferry_storage::StoreLock::acquire(&config.root)
        .with_context(|| format!("cannot import into the store at {}", config.root.display()))?;
    let now = unix_now();
    let (mut store, _) = ferry_storage::Store::open(
        ferry_storage::StdFs,
        config,
        ferry_storage::RecoveryMode::Quick,
        now,
    )
    .with_context(|| format!("cannot open the store at {}", config.root.display()))?;
    let report = ferry_storage::teamtalk_import::import_teamtalk(dir, &mut store, now)
        .with_context(|| format!("cannot import {}", dir.display()))?;
    for id in &report.imported {
        println!("imported {id}");
    }
    for r in &report.refused {
        println!("refused {}: {}", r.path.display(), r.reason);
    }
    println!(
        "{} imported, {} refused",
        report.imported.len(),
        report.refused.len()
    );
    if !report.refused.is_empty() {
        bail!("{} files were not imported", report.refused.len());
    }
    Ok(())
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
