//! A `valdrix ingest` killed with SIGKILL in the middle of a large ingest leaves the store exactly
//! as it was, and a rerun gives the clean totals.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn sigkill_mid_ingest_leaves_the_store_unchanged_and_a_rerun_is_clean() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.sqlite");
    let journal = dir.path().join("store.sqlite-journal");
    // Data already in the store before the killed ingest.
    let before_file = common::samples().join("azure-cost-details/finops-toolkit/EA_AmortizedCost_Small.csv");
    assert!(common::valdrix(&db, &["ingest", "--quiet", before_file.to_str().unwrap()]).0);
    let before = common::dump(&db);

    // Two large deliveries: the first is written inside the open transaction while the second is
    // still being read, so a kill then lands with the transaction open and its rollback journal
    // hot. Row groups of 100,000 rows make the reader split each file over threads and merge.
    let big: Vec<_> = (0..2)
        .map(|i| {
            let p = dir.path().join(format!("cur2-{i}.parquet"));
            valdrix_bench::generate_cur2_with_row_groups(&p, 400_000, 7 + i, 100_000).unwrap();
            p
        })
        .collect();
    let mut child = Command::new(common::valdrix_bin())
        .arg("--database-url")
        .arg(&db)
        // Both are generated from one template (one account and month): kept side by side.
        .args(["ingest", "--quiet", "--allow-overlap"])
        .args(&big)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    // Wait until the transaction has changed the store: the journal then holds the pages it
    // changed (it is empty between transactions), and the first delivery's records are going in.
    loop {
        let writing = std::fs::metadata(&journal).map(|m| m.len()).unwrap_or(0) > 0;
        if writing {
            std::thread::sleep(Duration::from_millis(300));
            break;
        }
        assert!(child.try_wait().unwrap().is_none(), "the ingest finished before it could be killed");
        assert!(t0.elapsed() < Duration::from_secs(300), "the ingest never started writing");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL on Unix
    let status = child.wait().unwrap();
    assert!(!status.success());

    assert_eq!(common::dump(&db), before, "the killed ingest left a trace in the store");

    // The rerun writes both deliveries; their totals match the independent oracle.
    let args: Vec<String> = ["ingest", "--quiet", "--allow-overlap"]
        .iter()
        .map(|s| s.to_string())
        .chain(big.iter().map(|p| p.display().to_string()))
        .collect();
    let (ok, _, err) = common::valdrix(&db, &args.iter().map(|s| s.as_str()).collect::<Vec<_>>());
    assert!(ok, "{err}");
    let (runs, records) = common::dump(&db);
    assert_eq!(runs.len(), 3);
    let out = Command::new(common::python_bin())
        .arg(common::repo_root().join("tests/oracle/billing_totals.py"))
        .args(&big)
        .arg(&before_file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let oracle: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut want = rust_decimal::Decimal::ZERO;
    for (_, per_file) in oracle.as_object().unwrap() {
        want += per_file["USD"]["billed"].as_str().unwrap().parse::<rust_decimal::Decimal>().unwrap();
    }
    let got: rust_decimal::Decimal = records.iter().map(|r| r.totals.billed_cost).sum();
    assert_eq!(got.normalize(), want.normalize());
}
