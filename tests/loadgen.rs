//! `ferry loadgen` against `ferry up` as child processes: a short run of
//! every scenario ends with zero errors, its JSON summary counts every
//! operation (overall and in the per-second timeline) with the server's
//! CPU and RSS (offline: the upload and download apart), and its SVG is an SVG with the series it claims; with
//! `--no-disk` and a size range too; users created with
//! `--password-scheme teamtalk-md5` are TeamTalk MD5 rows and log in.
//!
//! Against a `ferry relay` child alone (`--relay` + `--msg-link`, loadgen
//! playing msg_server): online and offline runs with a log-uniform size
//! range, on disk and not, end clean with the count asked, sizes in range
//! and one relay task per operation; the link secret is answered, and its
//! absence is a clear error; `--size` errors name the flag. An offline
//! run reports its upload and download phases apart (either way).

mod stack;

use std::process::{Command, Output};

use stack::process::LoggedRelay;

/// Every offline file a run stored is deleted by its receiver's
/// DEL_OFFLINE, the last transfer's too (its session is closed only once
/// that is written): the store under `root` is empty within 10 s (the
/// relay is told by msg_server, after loadgen has exited).
fn no_file_left(root: &str, scenario: &str) {
    let mut last = String::new();
    for _ in 0..100 {
        last = stack::process::run(&["store", "check", "--data-dir", root]);
        if last.contains("\n0 tasks,") {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("{scenario}: files left on the relay:\n{last}");
}

#[test]
fn every_scenario_runs_clean_against_ferry_up() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data").to_str().unwrap().to_string();
    let (child, lines) = stack::process::spawn_up(&data);
    let up = stack::process::Service {
        name: "ferry up",
        child,
    };
    let url = lines
        .iter()
        .find(|l| l.trim_start().starts_with("login_server"))
        .and_then(|l| l.split_whitespace().nth(1))
        .map(|w| w.trim_end_matches("/msg_server").to_string())
        .expect("ferry up printed login_server's address");

    // The last two: no file on disk, sizes drawn from a range.
    let runs = [
        ("login-storm", "96KiB", false),
        ("msg-storm", "96KiB", false),
        ("online", "96KiB", false),
        ("offline", "96KiB", false),
        ("mixed", "96KiB", false),
        ("online", "16KiB..512KiB", true),
        ("offline", "16KiB..512KiB", true),
    ];
    for (i, (scenario, size, no_disk)) in runs.into_iter().enumerate() {
        let json = dir.path().join(format!("{i}-{scenario}.json"));
        let svg = dir.path().join(format!("{i}-{scenario}.svg"));
        let count = 12;
        let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args(["loadgen", scenario, "--server", &url, "--data-dir", &data])
            .args(["--users", "6", "--concurrency", "3", "--size", size])
            .args(no_disk.then_some("--no-disk"))
            .args(["--count", &count.to_string()])
            .args(["--server-pid", &up.pid().to_string()])
            .arg("--json")
            .arg(&json)
            .arg("--svg")
            .arg(&svg)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{scenario}: {}\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("p99 ms"), "{scenario}: the table: {stdout}");

        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        assert_eq!(doc["ops"], count, "{scenario}: {doc}");
        assert_eq!(doc["errors"], 0, "{scenario}: {doc}");
        let timeline = doc["timeline"].as_array().unwrap();
        let per_second: u64 = timeline.iter().map(|s| s["ops"].as_u64().unwrap()).sum();
        assert_eq!(
            per_second, count,
            "{scenario}: the timeline counts every op"
        );
        assert!(doc["latency_ms"]["p99"].as_f64().unwrap() > 0.0);
        assert!(doc["server"]["rss_kib"].as_u64().unwrap() > 0, "{doc}");
        if matches!(scenario, "online" | "offline") {
            let mib = doc["mib_per_s"].as_f64().unwrap();
            assert!(mib > 0.0, "{scenario}: files moved: {doc}");
            assert_eq!(doc["files"]["count"], count, "{scenario}: {doc}");
            assert_eq!(doc["no_disk"], no_disk, "{scenario}: {doc}");
            sizes_within(&doc, size);
        }
        phases_reported(&doc, scenario, count);
        if matches!(scenario, "offline" | "mixed") {
            no_file_left(&format!("{data}/offline"), scenario);
        }

        let chart = std::fs::read_to_string(&svg).unwrap();
        assert!(chart.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(chart.trim_end().ends_with("</svg>"));
        let rate = if matches!(scenario, "online" | "offline" | "mixed") {
            "throughput"
        } else {
            "operations"
        };
        for series in [
            format!("<polyline id=\"{rate}\""),
            "<polyline id=\"p99\"".into(),
        ] {
            assert!(chart.contains(&series), "{scenario}: {series} in {chart}");
        }
        assert!(chart.contains("p99 latency (ms"), "{scenario}: legend/axis");
        assert_eq!(
            chart.matches('<').count(),
            chart.matches('>').count(),
            "{scenario}: tags balance"
        );
    }

    // Users created with TeamTalk's MD5 scheme log in (no argon2 per login).
    let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args([
            "loadgen",
            "login-storm",
            "--server",
            &url,
            "--data-dir",
            &data,
        ])
        .args(["--users", "4", "--concurrency", "2", "--count", "8"])
        .args(["--user-prefix", "md5-", "--password-scheme", "teamtalk-md5"])
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stderr).contains("4 users created"),
        "md5 login-storm: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let list = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["user", "list", "--data-dir", &data])
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    let scheme = |name: &str| {
        let row = list.lines().find(|l| l.split('\t').nth(1) == Some(name));
        row.and_then(|l| l.split('\t').nth(5)).map(str::to_owned)
    };
    assert_eq!(scheme("md5-0").as_deref(), Some("md5"), "{list}");
    assert_eq!(scheme("load0").as_deref(), Some("argon2"), "{list}");

    let status = up.stop_with("-INT");
    assert!(status.success(), "ferry up exits 0 after SIGINT: {status}");
}

/// An offline run reports its upload and its download apart: every
/// operation in each, the bytes of every file, a rate and a p99; a mixed
/// run its offline share; online and the storms no phases.
fn phases_reported(doc: &serde_json::Value, scenario: &str, count: u64) {
    let phases = doc["phases"].as_object().expect("a phases object");
    if !matches!(scenario, "offline" | "mixed") {
        assert!(phases.is_empty(), "{scenario}: {doc}");
        return;
    }
    let offline_ops = phases["upload"]["ops"].as_u64().unwrap();
    if scenario == "offline" {
        assert_eq!(offline_ops, count, "{doc}");
        let files_mib = doc["files"]["count"].as_f64().unwrap()
            * doc["files"]["mean_bytes"].as_f64().unwrap()
            / f64::from(1 << 20);
        for name in ["upload", "download"] {
            // The mean is rounded down to whole bytes.
            let mib = phases[name]["mib"].as_f64().unwrap();
            assert!(mib >= files_mib && mib - files_mib < 1e-3, "{name}: {doc}");
        }
    }
    assert!(offline_ops > 0 && offline_ops <= count, "{scenario}: {doc}");
    for name in ["upload", "download"] {
        let p = &phases[name];
        assert_eq!(p["ops"], offline_ops, "{name}: {doc}");
        assert!(
            p["transfer_mib_per_s"].as_f64().unwrap() > 0.0,
            "{name}: {doc}"
        );
        let p99 = p["latency_ms"]["p99"].as_f64().unwrap();
        assert!(
            p99 > 0.0 && p99 <= doc["latency_ms"]["max"].as_f64().unwrap(),
            "{name}: a phase is part of the operation: {doc}"
        );
    }
}

/// The JSON's file sizes lie within `--size` and match its bounds; a
/// range is spread (not one size drawn again and again).
fn sizes_within(doc: &serde_json::Value, size: &str) {
    let kib = |s: &str| s.trim_end_matches("KiB").parse::<u64>().unwrap() << 10;
    let (lo, hi) = match size.split_once("..") {
        Some((lo, hi)) => (kib(lo), kib(hi)),
        None => (kib(size), kib(size)),
    };
    assert_eq!(doc["size"]["lo_bytes"], lo, "{doc}");
    assert_eq!(doc["size"]["hi_bytes"], hi, "{doc}");
    let files = &doc["files"];
    let (min, max, mean) = (
        files["min_bytes"].as_u64().unwrap(),
        files["max_bytes"].as_u64().unwrap(),
        files["mean_bytes"].as_u64().unwrap(),
    );
    assert!(
        lo <= min && min <= mean && mean <= max && max <= hi,
        "{size}: {files}"
    );
    if lo < hi {
        assert_eq!(doc["size"]["distribution"], "log-uniform", "{doc}");
        assert!(min < max, "a range gives different sizes: {files}");
    } else {
        assert_eq!(min, lo, "{files}");
    }
}

/// `ferry relay` on loopback, its log lines kept for the test to count.
struct Relay(LoggedRelay);

impl std::ops::Deref for Relay {
    type Target = LoggedRelay;
    fn deref(&self) -> &LoggedRelay {
        &self.0
    }
}

impl Relay {
    fn spawn(env: &[(&str, &str)]) -> Relay {
        Relay(LoggedRelay::spawn(env))
    }

    /// `ferry loadgen` against this relay alone.
    fn loadgen(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
        cmd.arg("loadgen")
            .args(args)
            .args(["--relay", &self.client.to_string()])
            .args(["--msg-link", &self.msg.to_string()])
            .env_remove("FERRY_LINK_SECRET");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn online_and_offline_against_a_relay_alone_run_clean_with_sizes_in_range() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let relay = Relay::spawn(&[
        ("FERRY_OFFLINE__ENABLED", "true"),
        ("FERRY_OFFLINE__ROOT", store.to_str().unwrap()),
        ("FERRY_OFFLINE__BLOCK_SIZE", "64KiB"),
        ("FERRY_OFFLINE__MIN_FREE_BYTES", "0B"),
    ]);
    let (mut online, mut offline) = (0, 0);
    for (scenario, size, no_disk) in [
        ("online", "64KiB..1024KiB", false),
        ("online", "64KiB..1024KiB", true),
        ("offline", "64KiB..1024KiB", true),
        ("offline", "96KiB", false),
    ] {
        let json = dir.path().join(format!("{scenario}-{no_disk}.json"));
        let count = 10;
        let mut args = vec![scenario, "--users", "6", "--concurrency", "3"];
        args.extend(["--count", "10", "--size", size, "--seed", "7"]);
        args.extend(no_disk.then_some("--no-disk"));
        args.extend(["--json", json.to_str().unwrap()]);
        let out = relay.loadgen(&args, &[]);
        let said = text(&out);
        assert!(out.status.success(), "{scenario} {size}: {said}");
        assert!(said.contains("p99 ms"), "the table: {said}");
        assert!(said.contains("files: 10 moved"), "the sizes line: {said}");

        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        assert_eq!(doc["ops"], count, "{doc}");
        assert_eq!(doc["errors"], 0, "{doc}");
        assert_eq!(doc["files"]["count"], count, "{doc}");
        assert_eq!(doc["no_disk"], no_disk, "{doc}");
        assert_eq!(doc["seed"], 7, "{doc}");
        assert!(
            doc["against"].as_str().unwrap().starts_with("relay "),
            "{doc}"
        );
        assert!(doc["mib_per_s"].as_f64().unwrap() > 0.0, "{doc}");
        sizes_within(&doc, size);
        phases_reported(&doc, scenario, count as u64);
        // Every operation was a task of the relay's: created on the msg
        // link (online), or uploaded to its store (offline).
        match scenario {
            "online" => online += count,
            _ => offline += count,
        }
        relay.wait_for("ferry_relay::msg_link: task created", online);
        relay.wait_for("offline upload complete", offline);
        // Each downloaded offline file deleted, as its receiver's
        // msg_server would (the store does not grow over a run).
        relay.wait_for("offline file deleted by its receiver", offline);
    }
}

#[test]
fn a_relay_with_a_link_secret_is_answered_and_bad_arguments_are_named() {
    let secret = "a-test-secret-of-enough-bytes";
    let relay = Relay::spawn(&[("FERRY_RELAY__LINK_SECRET", secret)]);
    let args = [
        "online",
        "--users",
        "2",
        "--concurrency",
        "1",
        "--count",
        "3",
    ];
    let args = [&args[..], &["--size", "32KiB", "--no-disk"]].concat();

    let out = relay.loadgen(&args, &[("FERRY_LINK_SECRET", secret)]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("files: 3 moved"), "{}", text(&out));

    let out = relay.loadgen(&args, &[]);
    assert!(!out.status.success(), "no secret: {}", text(&out));
    assert!(text(&out).contains("link secret"), "{}", text(&out));
    let out = relay.loadgen(&args, &[("FERRY_LINK_SECRET", "not-the-secret-at-all")]);
    assert!(!out.status.success(), "a wrong secret: {}", text(&out));
    assert!(text(&out).contains("wrong link secret"), "{}", text(&out));

    for (size, says) in [
        ("2MiB..1MiB", "above the upper bound"),
        ("64KiB..", "upper bound is missing"),
        ("big", "not a size"),
    ] {
        let out = relay.loadgen(&["online", "--size", size], &[]);
        assert_eq!(out.status.code(), Some(2), "{size}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("--size") && stderr.contains(says),
            "{size}: {stderr}"
        );
    }
    let out = relay.loadgen(&["msg-storm"], &[]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("msg-storm needs a stack"),
        "{}",
        text(&out)
    );
}
