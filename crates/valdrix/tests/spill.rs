//! A rollup over its memory budget spills to disk, and the store ends up with exactly the records
//! it gets when everything fits in memory: same grains, same descriptive columns (of each
//! record's first line), same exact sums, same run totals.

mod common;

use std::path::Path;
use std::process::Command;

use valdrix_core::CostRecord;

/// Ingests `files` into a new store at `db` with the given rollup budget and reader threads;
/// returns stderr (debug logs of the rollup).
fn ingest(db: &Path, files: &[&Path], budget: Option<usize>, threads: usize) -> String {
    let mut cmd = Command::new(common::valdrix_bin());
    cmd.arg("--database-url").arg(db).args(["ingest", "--quiet"]).args(files);
    cmd.env("VALDRIX_THREADS", threads.to_string()).env("VALDRIX_LOG", "valdrix_ingest=debug");
    match budget {
        Some(b) => cmd.env("VALDRIX_ROLLUP_RECORDS", b.to_string()),
        None => cmd.env_remove("VALDRIX_ROLLUP_RECORDS"),
    };
    let out = cmd.output().expect("run valdrix");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "ingest failed: {stderr}");
    stderr
}

/// Records sorted by grain (the order of records of a spilled rollup differs).
fn sorted(mut records: Vec<CostRecord>) -> Vec<CostRecord> {
    records.sort_by(|a, b| a.grain.cmp(&b.grain));
    records
}

#[test]
fn spilled_rollups_store_the_same_records() {
    let dir = tempfile::tempdir().unwrap();
    // A generated CUR 2.0 file in row groups of 20,000 rows (read on two threads, whose spilled
    // rollups are then merged) and a CSV sample read row by row.
    let cur = dir.path().join("cur2.parquet");
    valdrix_bench::generate_cur2_with_row_groups(&cur, 120_000, 3, 20_000).unwrap();
    let azure = common::samples().join("azure-cost-details/finops-toolkit/EA_AmortizedCost_Small.csv");
    let files = [cur.as_path(), azure.as_path()];

    let whole = dir.path().join("whole.sqlite");
    let log = ingest(&whole, &files, None, 2);
    assert!(!log.contains("rollup spilled"), "the default budget should hold this input: {log}");
    let (runs_whole, records_whole) = common::dump(&whole);

    for threads in [1, 2] {
        let spilled = dir.path().join(format!("spilled-{threads}.sqlite"));
        let log = ingest(&spilled, &files, Some(500), threads);
        assert!(log.matches("rollup spilled").count() > 4, "expected several spills with {threads} thread(s): {log}");
        let (runs, records) = common::dump(&spilled);
        assert_eq!(records.len(), records_whole.len(), "record count with {threads} thread(s)");
        assert!(sorted(records.clone()) == sorted(records_whole.clone()), "records differ with {threads} thread(s)");
        for (a, b) in runs.iter().zip(&runs_whole) {
            assert_eq!((a.records, a.lines, &a.totals), (b.records, b.lines, &b.totals));
            assert_eq!((a.charge_date_min, a.charge_date_max), (b.charge_date_min, b.charge_date_max));
            assert_eq!((a.billing_period_start, a.billing_period_end), (b.billing_period_start, b.billing_period_end));
        }
        // Re-ingesting the same files changes nothing, spilled or not.
        ingest(&spilled, &files, Some(500), threads);
        assert_eq!(common::dump(&spilled).1.len(), records.len());
    }
}
