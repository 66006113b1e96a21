//! The dashboard as a new user meets it: `valdrix demo` generates a year of multi-cloud spend,
//! starts the server and prints the dashboard's URL and a demo key; headless Chromium (Debian's,
//! driven by `scripts/dashboard-browser-test.mjs`) signs in with that key, checks that the pages
//! render, that their numbers match the API, that a filter changes the chart, and signs out.
//! Once on the embedded store and once on PostgreSQL (served as the application role).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{free_port, repo_root, valdrix_bin, Server};
use valdrix_store::testing::PgTestDb;

/// Runs `valdrix [global] demo --listen PORT`, waits for its key, runs the browser check.
fn demo_in_the_browser(global: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(valdrix_bin())
        .args(global)
        .args(["demo", "--dir"])
        .arg(dir.path())
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _server = Server(child);
    let mut url = None;
    let mut key = None;
    let mut printed = String::new();
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        printed.push_str(&line);
        printed.push('\n');
        if let Some(rest) = line.strip_prefix("The dashboard is at ") {
            url = rest.split_whitespace().next().map(|u| u.trim_end_matches('/').to_string());
        }
        if line.trim().starts_with("vdx.") {
            key = Some(line.trim().to_string());
            break;
        }
    }
    // Keep reading what the server prints, as a terminal would.
    std::thread::spawn(move || lines.for_each(drop));
    let (url, key) = (url.expect(&printed), key.expect(&printed));
    assert_eq!(url, format!("http://127.0.0.1:{port}"), "{printed}");
    let out = Command::new("node")
        .arg(repo_root().join("scripts/dashboard-browser-test.mjs"))
        .args([&url, &key])
        .output()
        .expect("node (run scripts/setup-test-tools.sh)");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the browser check failed:\n{text}");
    let seen: serde_json::Value = serde_json::from_str(text.lines().last().unwrap_or("")).expect(&text);
    assert_eq!(seen["ok"], true, "{text}");
    // A year of spend on three clouds: 90 bars, a month to date, more than one provider.
    assert_eq!(seen["overview"]["days"], 90, "{text}");
    assert!(seen["overview"]["mtd"].as_str().unwrap().parse::<f64>().unwrap() > 1000.0, "{text}");
    assert!(seen["runs"]["runs"].as_u64().unwrap() >= 39, "{text}");
    // The forecast band: 31 days; the August runaway instances found, with their root causes.
    assert_eq!(seen["forecast"]["days"], 31, "{text}");
    assert!(seen["anomalies"]["first"].as_str().unwrap().contains("Elastic Compute Cloud 2026-08-14"), "{text}");
    assert!(seen["anomalies"]["causes"].as_u64().unwrap() >= 1, "{text}");
    // October by team: the demo's six teams, finance, platform and the bucket.
    assert!(seen["allocation"]["teams"].as_u64().unwrap() >= 8, "{text}");
}

#[test]
fn demo_dashboard_on_the_embedded_store() {
    demo_in_the_browser(&[]);
}

#[test]
fn demo_dashboard_on_postgres() {
    let db = PgTestDb::new();
    demo_in_the_browser(&["--database-url", &db.owner_url()]);
}
