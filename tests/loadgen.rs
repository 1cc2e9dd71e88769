//! `ferry loadgen` against `ferry up` as child processes: a short run of
//! every scenario ends with zero errors, its JSON summary counts every
//! operation (overall and in the per-second timeline) with the server's
//! CPU and RSS, and its SVG is an SVG with the series it claims.

mod stack;

use std::process::Command;

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

    for scenario in ["login-storm", "msg-storm", "online", "offline", "mixed"] {
        let json = dir.path().join(format!("{scenario}.json"));
        let svg = dir.path().join(format!("{scenario}.svg"));
        let count = 12;
        let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args(["loadgen", scenario, "--server", &url, "--data-dir", &data])
            .args(["--users", "6", "--concurrency", "3", "--size", "96KiB"])
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
    let status = up.stop_with("-INT");
    assert!(status.success(), "ferry up exits 0 after SIGINT: {status}");
}
