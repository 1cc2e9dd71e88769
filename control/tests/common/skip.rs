//! Tests that need a server the machine may lack: skipped with a reason
//! (listed at the end of README's test command), failed under CI. Shared by
//! control's tests and the root package's (`#[path]`).

/// The env var's value, or `None` (skip) — a failure under CI.
///
/// libtest has no "skipped" outcome: a test that returns early is counted
/// as passed. So a skip is also written, with the test's name and the
/// reason, to the file `FERRY_SKIP_LOG` names; README's test command
/// (`scripts/test`) sets it and ends the run by listing every skipped case.
pub fn required_env(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ if std::env::var_os("CI").is_some() => {
            panic!("{var} is not set and CI is: this test needs that server")
        }
        _ => {
            let test = std::thread::current()
                .name()
                .unwrap_or("(unnamed test)")
                .to_string();
            let reason = format!("{var} is not set (see scripts/services)");
            eprintln!("skipped {test}: {reason}");
            if let Some(log) = std::env::var_os("FERRY_SKIP_LOG") {
                use std::io::Write as _;
                if let Ok(mut f) = std::fs::OpenOptions::new()
                    .append(true)
                    .create(true)
                    .open(log)
                {
                    let _ = writeln!(f, "{}::{test}: {reason}", env!("CARGO_CRATE_NAME"));
                }
            }
            None
        }
    }
}
