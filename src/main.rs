//! The `ferry` binary: parses the command line, installs logging, loads the
//! config and runs one subcommand. Everything else lives in the crates.

mod cli;
mod db_cmd;
mod relay_cmd;

use std::process::ExitCode;

/// mimalloc: `benches/codec_*` measured it 1.42x faster than glibc malloc
/// decoding a 200-user buddy list and level elsewhere (figures in
/// `benches/codec_system.rs`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = <cli::Cli as clap::Parser>::parse();
    install_tracing();
    match cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Text logs on stderr; `RUST_LOG` filters (default `info`).
fn install_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
