//! The `ferry` binary: parses the command line, installs logging, loads the
//! config and runs one subcommand. Everything else lives in the crates.

mod cli;
mod client_cmd;
mod control_cmd;
mod db_cmd;
mod loadgen;
mod progress;
mod recv_cmd;
mod relay_cmd;
mod safe_name;
mod send_cmd;
mod store_cmd;
mod up_cmd;

use std::process::ExitCode;

/// mimalloc: `benches/codec_*` measured it 1.42x faster than glibc malloc
/// decoding a 200-user buddy list and level elsewhere (figures in
/// `benches/codec_system.rs`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = <cli::Cli as clap::Parser>::parse();
    install_tracing(cli.default_log());
    match cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", report(&e));
            client_cmd::exit_code(&e)
        }
    }
}

/// An error and its causes on one line, each cause once: an error whose
/// message already ends with its source's text (`"i/o: {0}"`, as the
/// libraries write them so a log line carries the detail) does not repeat it.
fn report(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.ends_with(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// Text logs on stderr; `RUST_LOG` filters (default `level`). Colour only
/// when stderr is a terminal (and `NO_COLOR` is unset): a log file or a
/// pipe gets plain text.
fn install_tracing(level: &str) {
    use std::io::IsTerminal as _;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .init();
}

#[cfg(test)]
mod tests {
    use super::report;

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let io = std::io::Error::from(std::io::ErrorKind::AddrInUse);
        let inner = ferry_control::Error::Bind {
            addr: "127.0.0.1:10600".parse().unwrap(),
            source: io,
        };
        let e = anyhow::Error::new(inner).context("db_proxy");
        let line = report(&e);
        assert_eq!(line.matches("in use").count(), 1, "{line}");
        assert!(
            line.starts_with("db_proxy: cannot listen on 127.0.0.1:10600: "),
            "{line}"
        );
    }
}
