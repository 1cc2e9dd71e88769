//! `ferry db-proxy`, `ferry db migrate`, `ferry user add|list`: the db_proxy
//! (configured by `[db_proxy]` and `[storage]`, flags on top) and its admin
//! path. Without `--db` and `db_proxy.db`, the database is SQLite at
//! `<data_dir>/ferry.db` (the directory is created).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use ferry::config;
use ferry_control::db_proxy::{DbProxy, DbProxyOptions};
use ferry_control::store::{NewUser, Store, StoreOptions};

/// Where the database is: flags over config.
#[derive(Debug, Args)]
pub(crate) struct DbArgs {
    /// The TOML config file ([db_proxy] and [storage]); flags override it.
    #[arg(long, value_name = "FILE", env = "FERRY_CONFIG")]
    config: Option<PathBuf>,
    /// sqlite:PATH, mysql://… or mariadb://… [default: SQLite under the data dir]
    #[arg(long, value_name = "URL")]
    db: Option<String>,
    /// The directory of the embedded SQLite (storage.data_dir) [default: ferry-data]
    #[arg(long, value_name = "DIR", conflicts_with = "db")]
    data_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct DbProxyArgs {
    #[command(flatten)]
    db: DbArgs,
    /// PDU port for msg_servers [default: 127.0.0.1:10600]
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// redis://… for TeamTalk's counters and unread hashes [default: none, counters in SQL]
    #[arg(long, value_name = "URL")]
    redis: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum DbCommand {
    /// Apply the schema migrations and exit.
    Migrate(DbArgs),
}

#[derive(Debug, Subcommand)]
pub(crate) enum UserCommand {
    /// Create a user who logs in with PASSWORD (stored as argon2).
    Add {
        name: String,
        #[arg(long)]
        password: String,
        #[arg(long)]
        nick: Option<String>,
        /// Department id (IMUser.departId)
        #[arg(long, value_name = "ID", default_value_t = 0)]
        depart: u32,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List users: id, name, nick, department, status, password scheme.
    List {
        #[command(flatten)]
        db: DbArgs,
    },
}

/// The resolved store settings and the db_proxy section.
fn resolve(args: &DbArgs) -> Result<(StoreOptions, config::DbProxyConfig)> {
    let loaded = config::load(args.config.as_deref())?;
    let d = loaded.config.db_proxy;
    let db = match (&args.db, &args.data_dir, &d.db) {
        (Some(url), _, _) => url.clone(),
        (None, Some(dir), _) => sqlite_under(dir)?,
        (None, None, Some(url)) => url.clone(),
        (None, None, None) => sqlite_under(&loaded.config.storage.data_dir)?,
    };
    let store = StoreOptions {
        db,
        db_read: d.db_read.clone(),
        redis: d.redis.clone(),
        pool_size: d.pool_size,
        hash_concurrency: d.hash_concurrency,
        hash_queue: d.hash_queue,
    };
    Ok((store, d))
}

fn sqlite_under(dir: &Path) -> Result<String> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    Ok(format!("sqlite:{}", dir.join("ferry.db").display()))
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

pub(crate) fn db_proxy(args: DbProxyArgs) -> Result<()> {
    let (mut store, d) = resolve(&args.db)?;
    if args.redis.is_some() {
        store.redis = args.redis;
    }
    let mut options = DbProxyOptions::new(args.listen.unwrap_or(d.listen), store);
    options.queue_limit = d.queue_limit;
    options.heavy_concurrency = d.heavy_concurrency;
    runtime()?.block_on(async {
        let proxy = DbProxy::bind(options).await?;
        proxy.run(shutdown_signal()).await?;
        Ok(())
    })
}

/// SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: draining"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: draining"),
    }
}

pub(crate) fn db(command: DbCommand) -> Result<()> {
    let DbCommand::Migrate(args) = command;
    let (store, _) = resolve(&args)?;
    let n = runtime()?.block_on(Store::migrate(&store.db))?;
    eprintln!("database up to date ({n} migrations)");
    Ok(())
}

pub(crate) fn user(command: UserCommand) -> Result<()> {
    let rt = runtime()?;
    match command {
        UserCommand::Add {
            name,
            password,
            nick,
            depart,
            db,
        } => {
            let (mut store, _) = resolve(&db)?;
            store.redis = None;
            let user = NewUser {
                name,
                password,
                nick: nick.unwrap_or_default(),
                depart_id: depart,
            };
            let id = rt.block_on(async {
                let store = Store::open(&store).await?;
                let id = store.add_user(&user).await;
                store.close().await;
                id
            })?;
            println!("{id}");
            eprintln!("user {:?} created with id {id}", user.name);
        }
        UserCommand::List { db } => {
            let (mut store, _) = resolve(&db)?;
            store.redis = None;
            let users = rt.block_on(async {
                let store = Store::open(&store).await?;
                let users = store.list_users().await;
                store.close().await;
                users
            })?;
            println!("id\tname\tnick\tdepart\tstatus\tpassword");
            for u in users {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    u.id, u.name, u.nick, u.depart_id, u.status, u.scheme
                );
            }
        }
    }
    Ok(())
}
