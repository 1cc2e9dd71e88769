//! A run's results for people (the summary table), for programs (`--json`)
//! and at a glance (`--svg`: operations/s or MiB/s and p99 latency over the
//! run's seconds).
//!
//! JSON layout (all latencies in ms, rates per second):
//!
//! ```text
//! { scenario, against, users, concurrency, window, chunk_bytes,
//!   size: { spec, distribution, lo_bytes, hi_bytes }, seed, no_disk,
//!   files: { count, min_bytes, max_bytes, mean_bytes } | null,
//!   elapsed_s, ops, errors, errors_by_kind: { kind: count },
//!   ops_per_s, mib_per_s,
//!   latency_ms: { p50, p90, p99, max },
//!   phases: { NAME: { ops, mib, transfer_mib_per_s, latency_ms: { p50, p90, p99, max } } },
//!   server: { pid, cpu_s, rss_kib } | null,
//!   timeline: [ { second, span_s, ops, errors, mib, p99_ms } ] }  (span_s: 1 but for
//!   the last second, cut short by the end of the run)
//! ```
//!
//! `phases` holds the parts of an operation timed apart: an offline file's
//! `upload` (request to the relay's DONE) and `download` (listed to the
//! last byte), empty for the other scenarios. A phase's
//! `transfer_mib_per_s` is one transfer's rate in it: its bytes over the
//! time its operations spent in it, summed (the phase's throughput when
//! `--concurrency` is 1; per transfer otherwise).

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::record::{Summary, quantile_ms};
use super::scenario::Scenario;
use super::size::SizeSpec;

/// What the run was asked to do, echoed in the reports.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Setup {
    pub scenario: Scenario,
    /// The login_server URL, or "relay ADDR".
    pub against: String,
    pub users: usize,
    pub concurrency: usize,
    /// `--size`.
    #[serde(skip)]
    pub size: SizeSpec,
    /// `--seed`.
    pub seed: u64,
    /// `--no-disk`.
    pub no_disk: bool,
    pub window: u32,
    pub chunk_bytes: u32,
}

/// The server's CPU seconds and resident memory over the run
/// (`--server-pid`), read from /proc.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub(crate) struct ServerUse {
    pub pid: u32,
    pub cpu_s: f64,
    pub rss_kib: u64,
}

/// The summary table.
pub(crate) fn table(setup: &Setup, s: &Summary, server: Option<ServerUse>) -> String {
    let l = &s.latencies;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "scenario {} against {}, {} users, concurrency {}, {:.1} s",
        clap::ValueEnum::to_possible_value(&setup.scenario).map_or_else(
            || format!("{:?}", setup.scenario),
            |v| v.get_name().to_owned()
        ),
        setup.against,
        setup.users,
        setup.concurrency,
        s.elapsed.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "{:>8} {:>7} {:>10} {:>10} {:>9} {:>9} {:>9} {:>9}",
        "ops", "errors", "ops/s", "MiB/s", "p50 ms", "p90 ms", "p99 ms", "max ms"
    );
    let _ = writeln!(
        out,
        "{:>8} {:>7} {:>10.1} {:>10.1} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
        s.ops,
        s.error_count(),
        s.rate(),
        s.mib_per_s(),
        quantile_ms(l, 0.50),
        quantile_ms(l, 0.90),
        quantile_ms(l, 0.99),
        quantile_ms(l, 1.0),
    );
    for (kind, n) in &s.errors {
        let _ = writeln!(out, "  errors {kind}: {n}");
    }
    if let Some(f) = &s.files {
        let iec = |n: u64| bytesize::ByteSize(n).display().iec().to_string();
        let _ = writeln!(
            out,
            "files: {} moved, {}..{}, mean {} (--size {}, --seed {}{})",
            f.count,
            iec(f.min_bytes),
            iec(f.max_bytes),
            iec(f.mean_bytes()),
            setup.size,
            setup.seed,
            if setup.no_disk { ", no disk" } else { "" }
        );
    }
    // In the order an operation goes through them (upload, then download).
    let mut phases: Vec<_> = s.phases.iter().collect();
    phases.sort_by_key(|(name, _)| (**name != "upload", **name));
    for (name, p) in phases {
        let l = &p.latencies;
        let _ = writeln!(
            out,
            "  {name}: {} ops, {:.1} MiB/s a transfer, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            l.len(),
            p.transfer_mib_per_s(),
            quantile_ms(l, 0.50),
            quantile_ms(l, 0.99),
            quantile_ms(l, 1.0),
        );
    }
    if let Some(u) = server {
        let _ = writeln!(
            out,
            "server pid {}: {:.2} CPU-s during the run, RSS {} KiB at the end",
            u.pid, u.cpu_s, u.rss_kib
        );
    }
    out
}

/// The `--json` document.
pub(crate) fn json(setup: &Setup, s: &Summary, server: Option<ServerUse>) -> Value {
    let l = &s.latencies;
    let timeline: Vec<Value> = (s.seconds.iter().enumerate())
        .map(|(i, sec)| {
            let mut lat = sec.latencies.clone();
            lat.sort_unstable();
            json!({
                "second": i,
                // Seconds this entry covers: 1 but for the last, cut short
                // by the end of the run.
                "span_s": (s.elapsed.as_secs_f64() - i as f64).clamp(0.0, 1.0),
                "ops": sec.ops,
                "errors": sec.errors,
                "mib": sec.bytes as f64 / f64::from(1 << 20),
                "p99_ms": quantile_ms(&lat, 0.99),
            })
        })
        .collect();
    json!({
        "scenario": setup.scenario,
        "against": setup.against,
        "users": setup.users,
        "concurrency": setup.concurrency,
        "size": {
            "spec": setup.size.to_string(),
            "distribution": setup.size.distribution(),
            "lo_bytes": setup.size.lo(),
            "hi_bytes": setup.size.hi(),
        },
        "seed": setup.seed,
        "no_disk": setup.no_disk,
        "files": s.files.map(|f| json!({
            "count": f.count,
            "min_bytes": f.min_bytes,
            "max_bytes": f.max_bytes,
            "mean_bytes": f.mean_bytes(),
        })),
        "window": setup.window,
        "chunk_bytes": setup.chunk_bytes,
        "elapsed_s": s.elapsed.as_secs_f64(),
        "ops": s.ops,
        "errors": s.error_count(),
        "errors_by_kind": s.errors,
        "ops_per_s": s.rate(),
        "mib_per_s": s.mib_per_s(),
        "latency_ms": {
            "p50": quantile_ms(l, 0.50),
            "p90": quantile_ms(l, 0.90),
            "p99": quantile_ms(l, 0.99),
            "max": quantile_ms(l, 1.0),
        },
        "phases": (s.phases.iter())
            .map(|(name, p)| {
                let l = &p.latencies;
                let phase = json!({
                    "ops": l.len(),
                    "mib": p.bytes as f64 / f64::from(1 << 20),
                    "transfer_mib_per_s": p.transfer_mib_per_s(),
                    "latency_ms": {
                        "p50": quantile_ms(l, 0.50),
                        "p90": quantile_ms(l, 0.90),
                        "p99": quantile_ms(l, 0.99),
                        "max": quantile_ms(l, 1.0),
                    },
                });
                ((*name).to_owned(), phase)
            })
            .collect::<serde_json::Map<String, Value>>(),
        "server": server,
        "timeline": timeline,
    })
}

/// Chart size and margins, px.
const W: f64 = 720.0;
const H: f64 = 360.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 70.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;

/// The `--svg` chart: throughput per second (MiB/s for file scenarios,
/// operations/s otherwise) on the left axis, p99 latency (ms) per second
/// on the right, seconds of the run along the bottom, with a legend.
pub(crate) fn svg(setup: &Setup, s: &Summary) -> String {
    let files = s.bytes > 0 && !matches!(setup.scenario, Scenario::MsgStorm);
    let (rate_name, rate_unit) = if files {
        ("throughput", "MiB/s")
    } else {
        ("operations", "ops/s")
    };
    let rate: Vec<f64> = (s.seconds.iter())
        .map(|sec| {
            if files {
                sec.bytes as f64 / f64::from(1 << 20)
            } else {
                sec.ops as f64
            }
        })
        .collect();
    let p99: Vec<f64> = (s.seconds.iter())
        .map(|sec| {
            let mut lat = sec.latencies.clone();
            lat.sort_unstable();
            quantile_ms(&lat, 0.99)
        })
        .collect();
    // The last second is usually cut short by the end of the run: its
    // counts are a rate over what it lasted, or left out when that is too
    // short to mean anything (a quarter of a second).
    let (mut rate, mut p99) = (rate, p99);
    let cut = s.elapsed.as_secs_f64() - (rate.len().max(1) - 1) as f64;
    if rate.len() > 1 && cut < 0.25 {
        rate.pop();
        p99.pop();
    } else if let Some(last) = rate.last_mut()
        && cut < 1.0
    {
        *last /= cut.max(f64::EPSILON);
    }
    let seconds = rate.len().max(1);
    let x = |i: usize| LEFT + (W - LEFT - RIGHT) * (i as f64 + 0.5) / seconds as f64;
    let top = |v: &[f64]| nice_top(v.iter().copied().fold(0.0, f64::max));
    let (rate_top, p99_top) = (top(&rate), top(&p99));
    let y = |v: f64, top: f64| TOP + (H - TOP - BOTTOM) * (1.0 - v / top);
    let points = |v: &[f64], top: f64| {
        (v.iter().enumerate())
            .map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v, top)))
            .collect::<Vec<_>>()
            .join(" ")
    };

    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        out,
        r#"<title>ferry loadgen {:?}: {rate_name} ({rate_unit}) and p99 latency (ms) per second</title>"#,
        setup.scenario
    );
    let _ = writeln!(out, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    // Axes.
    let (x0, x1, y0, y1) = (LEFT, W - RIGHT, TOP, H - BOTTOM);
    let _ = writeln!(
        out,
        r#"<path d="M{x0},{y0} V{y1} H{x1} V{y0}" fill="none" stroke="black"/>"#
    );
    for k in 0..=4 {
        let f = f64::from(k) / 4.0;
        let yy = y1 - (y1 - y0) * f;
        let _ = writeln!(
            out,
            r##"<line x1="{x0}" y1="{yy:.1}" x2="{x1}" y2="{yy:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text><text x="{:.1}" y="{:.1}">{}</text>"##,
            x0 - 6.0,
            yy + 4.0,
            tick(rate_top * f),
            x1 + 6.0,
            yy + 4.0,
            tick(p99_top * f),
        );
    }
    let step = seconds.div_ceil(10).max(1);
    for i in (0..seconds).step_by(step) {
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{i}</text>"#,
            x(i),
            y1 + 16.0
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">second of the run</text>"#,
        (x0 + x1) / 2.0,
        H - 10.0
    );
    let _ = writeln!(
        out,
        r#"<text transform="translate(16,{:.1}) rotate(-90)" text-anchor="middle">{rate_name} ({rate_unit})</text>"#,
        (y0 + y1) / 2.0
    );
    let _ = writeln!(
        out,
        r#"<text transform="translate({:.1},{:.1}) rotate(90)" text-anchor="middle">p99 latency (ms)</text>"#,
        W - 14.0,
        (y0 + y1) / 2.0
    );
    // Series.
    let _ = writeln!(
        out,
        r##"<polyline id="{rate_name}" points="{}" fill="none" stroke="#1f77b4" stroke-width="2"/>"##,
        points(&rate, rate_top)
    );
    let _ = writeln!(
        out,
        r##"<polyline id="p99" points="{}" fill="none" stroke="#d62728" stroke-width="2" stroke-dasharray="6 3"/>"##,
        points(&p99, p99_top)
    );
    // Legend.
    let _ = writeln!(
        out,
        r##"<g id="legend"><line x1="{0}" y1="20" x2="{1}" y2="20" stroke="#1f77b4" stroke-width="2"/><text x="{2}" y="24">{rate_name} ({rate_unit}, left)</text><line x1="{3}" y1="20" x2="{4}" y2="20" stroke="#d62728" stroke-width="2" stroke-dasharray="6 3"/><text x="{5}" y="24">p99 latency (ms, right)</text></g>"##,
        LEFT,
        LEFT + 24.0,
        LEFT + 30.0,
        LEFT + 250.0,
        LEFT + 274.0,
        LEFT + 280.0,
    );
    out.push_str("</svg>\n");
    out
}

/// An axis top at or above `max`: 1, 2 or 5 times a power of ten.
fn nice_top(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|t| *t >= max)
        .unwrap_or(10.0 * p)
}

fn tick(v: f64) -> String {
    if v >= 100.0 || v == v.trunc() {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::super::record::{Second, Summary};
    use super::super::size::SizeSpec;
    use super::{Scenario, Setup, nice_top, svg};

    /// The y of each point of the SVG's polyline `id`.
    fn ys(svg: &str, id: &str) -> Vec<f64> {
        let at = svg
            .find(&format!("id=\"{id}\" points=\""))
            .expect("the series");
        let rest = &svg[at..];
        let points = rest.split('"').nth(3).unwrap();
        (points.split(' '))
            .map(|p| p.split(',').nth(1).unwrap().parse().unwrap())
            .collect()
    }

    /// Three seconds of 100 MiB/s, the last cut short at `elapsed`.
    fn chart(elapsed: f64) -> String {
        let setup = Setup {
            scenario: Scenario::Online,
            against: "test".into(),
            users: 2,
            concurrency: 1,
            size: SizeSpec::parse("1MiB").unwrap(),
            seed: 1,
            no_disk: true,
            window: 1,
            chunk_bytes: 32 << 10,
        };
        let mib = 1u64 << 20;
        let second = |bytes: u64| Second {
            ops: bytes / mib,
            errors: 0,
            bytes,
            latencies: vec![1_000],
        };
        let last = ((elapsed - 2.0) * 100.0) as u64 * mib;
        let summary = Summary {
            elapsed: Duration::from_secs_f64(elapsed),
            ops: 0,
            bytes: 200 * mib + last,
            errors: BTreeMap::new(),
            files: None,
            phases: BTreeMap::new(),
            latencies: vec![1_000],
            seconds: vec![second(100 * mib), second(100 * mib), second(last)],
        };
        svg(&setup, &summary)
    }

    #[test]
    fn a_last_second_cut_short_is_a_rate_not_a_drop() {
        // Half a second of 50 MiB: drawn at 100 MiB/s like the others.
        let y = ys(&chart(2.5), "throughput");
        assert_eq!(y.len(), 3);
        assert!(y.iter().all(|v| (v - y[0]).abs() < 0.5), "{y:?}");
        // A tenth of a second is left out.
        assert_eq!(ys(&chart(2.1), "throughput").len(), 2);
    }

    #[test]
    fn axis_tops_are_round_and_cover_the_data() {
        assert_eq!(nice_top(0.0), 1.0);
        assert_eq!(nice_top(3.2), 5.0);
        assert_eq!(nice_top(50.0), 50.0);
        assert_eq!(nice_top(51.0), 100.0);
        assert_eq!(nice_top(0.013), 0.02);
    }
}
