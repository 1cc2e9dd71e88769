//! `ferry db-proxy`, `ferry db migrate`, `ferry user add|list`: db_proxy
//! (configured by `[db_proxy]`, `ferry_control::db_proxy::Config`, and
//! `[storage]`, with the environment and flags on top) and its admin path.
//! With `db_proxy.db` empty, the database is SQLite at
//! `<storage.data_dir>/ferry.db` (the directory is created).

use std::path::Path;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use ferry_control::db_proxy::{self, DbProxy};
use ferry_control::store::{NewUser, PasswordScheme, Store};

use crate::cli::ConfigArgs;

/// Where the database is: flags over config.
#[derive(Debug, Args)]
pub(crate) struct DbArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// sqlite:PATH, mysql://… or mariadb://… (db_proxy.db)
    #[arg(long, value_name = "URL")]
    db: Option<String>,
    /// The directory of the embedded SQLite (storage.data_dir)
    #[arg(long, value_name = "DIR", conflicts_with = "db")]
    data_dir: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct DbProxyArgs {
    #[command(flatten)]
    db: DbArgs,
    /// PDU port for msg_servers (db_proxy.listen)
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// redis://… for TeamTalk's counters and unread hashes (db_proxy.redis)
    #[arg(long, value_name = "URL")]
    redis: Option<String>,
    /// GET /health and /metrics for operators (db_proxy.metrics_listen)
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum DbCommand {
    /// Apply the schema migrations and exit.
    Migrate(DbArgs),
}

/// How a created user's password is stored (`--password-scheme`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum SchemeArg {
    /// argon2id (FerryPassword.hash)
    #[default]
    Argon2,
    /// TeamTalk's md5(md5(password) + salt) in IMUser.password: for
    /// migrations and load tests (a check costs microseconds, not
    /// milliseconds); weak against a stolen database
    TeamtalkMd5,
}

impl From<SchemeArg> for PasswordScheme {
    fn from(s: SchemeArg) -> PasswordScheme {
        match s {
            SchemeArg::Argon2 => PasswordScheme::Argon2,
            SchemeArg::TeamtalkMd5 => PasswordScheme::TeamTalkMd5,
        }
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum UserCommand {
    /// Create a user who logs in with a password (stored as argon2 unless
    /// --password-scheme says otherwise): --password, the first line of
    /// --password-file, else asked on the terminal.
    Add {
        name: String,
        /// The password itself (visible in the process list and the shell's
        /// history: prefer --password-file or the prompt where that matters)
        #[arg(long, conflicts_with = "password_file")]
        password: Option<String>,
        /// A file whose first line is the password
        #[arg(long, value_name = "FILE")]
        password_file: Option<std::path::PathBuf>,
        #[arg(long, value_enum, default_value_t)]
        password_scheme: SchemeArg,
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

/// The `[db_proxy]` settings with the flags applied and an empty `db`
/// resolved to the embedded SQLite under the data directory.
fn resolve(args: &DbArgs, more: &[(&str, Option<String>)]) -> Result<db_proxy::Config> {
    let mut named = vec![
        ("db", args.db.clone()),
        ("storage.data_dir", args.data_dir.clone()),
    ];
    named.extend(more.iter().cloned());
    let loaded = args.config.load("db_proxy", &named)?;
    let mut config = loaded.config.db_proxy;
    if config.store.db.is_empty() {
        config.store.db = sqlite_under(&loaded.config.storage.data_dir)?;
    }
    Ok(config)
}

impl DbArgs {
    /// Whether `--db` or `--data-dir` was given.
    pub(crate) fn given(&self) -> bool {
        self.db.is_some() || self.data_dir.is_some()
    }
}

/// Creates those of `names` that do not exist yet, with `password`
/// (`ferry loadgen --data-dir`). Works while the deployment runs, as
/// `ferry user add` does.
pub(crate) fn ensure_users(
    db: &DbArgs,
    names: &[String],
    password: &str,
    scheme: SchemeArg,
) -> Result<()> {
    let mut store = resolve(db, &[])?.store;
    store.redis = None;
    runtime()?.block_on(async {
        let store = Store::open(&store).await?;
        let existing = store.list_users().await?;
        let mut created = 0;
        for name in names {
            if existing.iter().any(|u| u.name == *name) {
                continue;
            }
            let user = NewUser {
                name: name.clone(),
                password: password.to_string(),
                nick: String::new(),
                depart_id: 0,
                scheme: scheme.into(),
            };
            store.add_user(&user).await?;
            created += 1;
        }
        store.close().await;
        eprintln!("{created} users created, {} existed", names.len() - created);
        Ok(())
    })
}

pub(crate) fn sqlite_under(dir: &Path) -> Result<String> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    Ok(format!("sqlite:{}", dir.join("ferry.db").display()))
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

pub(crate) fn db_proxy(args: DbProxyArgs) -> Result<()> {
    let config = resolve(
        &args.db,
        &[
            ("listen", args.listen),
            ("redis", args.redis),
            ("metrics_listen", args.metrics_listen),
        ],
    )?;
    runtime()?.block_on(async {
        let stop = shutdown_signal();
        tokio::pin!(stop);
        let Some(proxy) = until_stopped(DbProxy::bind(config), &mut stop).await else {
            return Ok(());
        };
        proxy?.run(stop).await?;
        Ok(())
    })
}

/// `starting` (a service's bind: a database connect may hang), or `None`
/// if `stop` (a [`shutdown_signal`]) comes first.
pub(crate) async fn until_stopped<T>(
    starting: impl std::future::Future<Output = T>,
    stop: &mut std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) -> Option<T> {
    tokio::select! {
        started = starting => Some(started),
        () = stop.as_mut() => {
            eprintln!("stopped while starting");
            None
        }
    }
}

/// Resolves at the first SIGTERM or SIGINT. The listeners are installed
/// when this is called, not when it is first awaited: call it before the
/// service binds, so a signal sent as soon as it says it listens (a
/// supervisor's stop, a quick Ctrl-C) drains it rather than killing it.
/// Must be called inside the runtime.
pub(crate) fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: draining"),
            _ = int.recv() => tracing::info!("SIGINT: draining"),
        }
    }
}

pub(crate) fn db(command: DbCommand) -> Result<()> {
    let DbCommand::Migrate(args) = command;
    let config = resolve(&args, &[])?;
    let n = runtime()?.block_on(Store::migrate(&config.store.db))?;
    eprintln!("database up to date ({n} migrations)");
    Ok(())
}

/// A new user's password: `given`, else the first line of `file`, else
/// asked twice on the terminal (a typo would lock the user out).
fn new_password(given: Option<String>, file: Option<&Path>, name: &str) -> Result<String> {
    if let Some(p) = given {
        return Ok(p);
    }
    if let Some(path) = file {
        return crate::client_cmd::password_from_file(path)
            .with_context(|| format!("reading the password file {}", path.display()));
    }
    let ask = |what: &str| {
        rpassword::prompt_password(what)
            .context("no password: give --password or --password-file, or run on a terminal")
    };
    let first = ask(&format!("password for {name}: "))?;
    if ask("again: ")? != first {
        anyhow::bail!("the two passwords differ");
    }
    Ok(first)
}

pub(crate) fn user(command: UserCommand) -> Result<()> {
    let rt = runtime()?;
    match command {
        UserCommand::Add {
            name,
            password,
            password_file,
            password_scheme,
            nick,
            depart,
            db,
        } => {
            let password = new_password(password, password_file.as_deref(), &name)?;
            let mut store = resolve(&db, &[])?.store;
            store.redis = None;
            let user = NewUser {
                name,
                password,
                nick: nick.unwrap_or_default(),
                depart_id: depart,
                scheme: password_scheme.into(),
            };
            let id = rt.block_on(async {
                let store = Store::open(&store).await?;
                let id = store.add_user(&user).await;
                store.close().await;
                id
            })?;
            println!("{id}");
            // Which database: a `user add` run outside `ferry up`'s data
            // directory writes a database of its own, which the stack
            // never reads.
            eprintln!(
                "user {:?} created with id {id} in {}",
                user.name,
                ferry_control::store::redact(&store.db)
            );
        }
        UserCommand::List { db } => {
            let mut store = resolve(&db, &[])?.store;
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
