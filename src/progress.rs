//! A transfer's progress for people: a bar with speed and ETA (indicatif)
//! when stderr is a terminal, else a plain line at every tenth and at the
//! end (a log or a pipe gets no control characters).

use std::io::IsTerminal as _;
use std::time::Instant;

use ferry_client::Progress;
use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::watch;

const TEMPLATE: &str = "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}";

/// Shows `progress` for the transfer named `label` until it is dropped
/// (the transfer's options, and so the sender, are gone) or [`Shown::end`].
pub(crate) struct Shown {
    task: tokio::task::JoinHandle<()>,
}

impl Shown {
    pub(crate) fn start(label: String, mut progress: watch::Receiver<Progress>) -> Shown {
        let task = tokio::spawn(async move {
            if std::io::stderr().is_terminal() {
                // Drawn from the first report on, when the size is known: a
                // bar of length 0 would be drawn full ("0 B/0 B").
                if progress.changed().await.is_err() {
                    return;
                }
                let first = *progress.borrow_and_update();
                let bar = ProgressBar::new(first.total);
                if let Ok(style) = ProgressStyle::with_template(TEMPLATE) {
                    bar.set_style(style.progress_chars("=> "));
                }
                bar.set_message(label);
                bar.set_position(first.done);
                while progress.changed().await.is_ok() {
                    let p = *progress.borrow_and_update();
                    bar.set_length(p.total);
                    bar.set_position(p.done);
                }
                bar.finish_and_clear();
            } else {
                let started = Instant::now();
                let mut tenth = None;
                while progress.changed().await.is_ok() {
                    let p = *progress.borrow_and_update();
                    let now = (p.done * 10).checked_div(p.total).unwrap_or(10);
                    if tenth.is_none_or(|t| now > t) {
                        tenth = Some(now);
                        let secs = started.elapsed().as_secs_f64().max(1e-3);
                        eprintln!(
                            "{label}: {}% ({} of {} bytes, {:.1} MiB/s)",
                            now * 10,
                            p.done,
                            p.total,
                            p.done as f64 / secs / f64::from(1 << 20)
                        );
                    }
                }
            }
        });
        Shown { task }
    }

    /// Waits for the display to finish (after the options are dropped).
    pub(crate) async fn end(self) {
        let _ = self.task.await;
    }
}
