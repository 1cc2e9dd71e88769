//! What `ferry send` and `ferry recv` share: where and as whom to log in,
//! the password (a file, `FERRY_PASSWORD` or a prompt; never a
//! command-line value, which other users see in the process list), and
//! the exit codes that say what failed.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::anyhow;
use clap::Args;
use ferry_client::{Login, Session};

/// The exit codes of `ferry send` and `ferry recv` (also in their `--help`).
pub(crate) const EXIT_CODES: &str = "Exit codes: 0 done; 1 another failure; 2 usage \
(arguments, no password given, a path that is not a regular file); 3 login refused \
(wrong user or password, the server refusing logins); 4 the transfer was refused \
(unknown user, the request refused, the peer cancelled or refused); 5 local I/O (reading \
the file to send, writing into --dir); 6 the server failed (unreachable, closed, timed \
out, or an answer that breaks the protocol).";

/// Where and as whom to log in.
#[derive(Debug, Args)]
pub(crate) struct ClientArgs {
    /// login_server's HTTP address (TeamTalk clients start there)
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// The user to log in as
    #[arg(long, value_name = "NAME")]
    user: String,
    /// Read the password from the first line of this file (else
    /// FERRY_PASSWORD, else a prompt on the terminal)
    #[arg(long, value_name = "PATH")]
    password_file: Option<PathBuf>,
}

/// A failure with the exit code that names its kind.
#[derive(Debug, thiserror::Error)]
#[error("{error:#}")]
pub(crate) struct Failed {
    pub(crate) code: u8,
    error: anyhow::Error,
}

impl Failed {
    pub(crate) const USAGE: u8 = 2;
    pub(crate) const LOGIN: u8 = 3;
    pub(crate) const REFUSED: u8 = 4;
    pub(crate) const IO: u8 = 5;
    pub(crate) const SERVER: u8 = 6;

    pub(crate) fn new(code: u8, error: impl Into<anyhow::Error>) -> Failed {
        Failed {
            code,
            error: error.into(),
        }
    }

    /// A transfer's error, by kind: refused or cancelled (4), a local file
    /// (5), an impossible request (2), else the server's (6).
    pub(crate) fn transfer(e: ferry_client::Error, doing: String) -> Failed {
        let code = if e.is_refused() || e.is_cancelled() {
            Failed::REFUSED
        } else if e.is_file() {
            Failed::IO
        } else if e.is_invalid() {
            Failed::USAGE
        } else {
            Failed::SERVER
        };
        Failed::new(code, anyhow::Error::new(e).context(doing))
    }
}

/// The process's exit code for an error of `ferry send` or `recv`.
pub(crate) fn exit_code(e: &anyhow::Error) -> ExitCode {
    match e.downcast_ref::<Failed>() {
        Some(f) => ExitCode::from(f.code),
        None => ExitCode::FAILURE,
    }
}

impl ClientArgs {
    /// Logs in (password as the module says).
    pub(crate) async fn login(&self) -> Result<Session, Failed> {
        let password = self.password()?;
        let login = Login::new(self.server.clone(), self.user.clone(), password);
        Session::login(&login).await.map_err(|e| {
            let code = if e.is_refused() {
                Failed::LOGIN
            } else {
                Failed::SERVER
            };
            let doing = format!("logging in as {} at {}", self.user, self.server);
            Failed::new(code, anyhow::Error::new(e).context(doing))
        })
    }

    pub(crate) fn user(&self) -> &str {
        &self.user
    }

    fn password(&self) -> Result<String, Failed> {
        if let Some(path) = &self.password_file {
            return password_from_file(path).map_err(|e| {
                Failed::new(
                    Failed::IO,
                    anyhow!("reading the password file {}: {e}", path.display()),
                )
            });
        }
        if let Ok(p) = std::env::var("FERRY_PASSWORD") {
            return Ok(p);
        }
        rpassword::prompt_password(format!("password for {}: ", self.user)).map_err(|e| {
            Failed::new(
                Failed::USAGE,
                anyhow!("no password: give --password-file or FERRY_PASSWORD, or run on a terminal ({e})"),
            )
        })
    }
}

/// A password file's first line (the rest, and the line end, are not part
/// of it).
pub(crate) fn password_from_file(path: &std::path::Path) -> std::io::Result<String> {
    let text = std::fs::read_to_string(path)?;
    Ok(text.lines().next().unwrap_or("").to_string())
}

/// A tokio runtime for a client command (two threads: the transfer and
/// the session's heartbeats beside the file I/O pool).
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}
