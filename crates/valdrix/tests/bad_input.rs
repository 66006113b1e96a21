//! Every file of the bad-input corpus is rejected with an error naming the file, row and column,
//! a non-zero exit, and a store left exactly as it was.

mod common;

use std::path::PathBuf;

fn corpus() -> PathBuf {
    common::repo_root().join("tests/bad_input")
}

/// File, then the texts its error must contain.
const CASES: &[(&str, &[&str])] = &[
    ("truncated.parquet", &["corrupt or truncated Parquet"]),
    ("corrupt_page.parquet", &["row group 0", "Parquet"]),
    ("unknown_schema.csv", &["unknown billing format", "date, amount, team"]),
    ("unbalanced_quotes.csv", &["row 2", "lineItem/LineItemDescription", "unbalanced quote"]),
    ("invalid_utf8.csv", &["row 2", "MeterCategory", "UTF-8"]),
    ("nan_cost.csv", &["row 2", "\"BilledCost\"", "NaN"]),
    ("non_numeric_cost.csv", &["row 3", "\"EffectiveCost\"", "12abc"]),
    ("impossible_date.csv", &["row 2", "\"ChargePeriodStart\"", "2023-02-30"]),
    ("duplicate_headers.csv", &["\"BilledCost\"", "duplicate column"]),
    ("empty.csv", &["empty file"]),
    ("enormous_tag.csv", &["row 2", "\"Tags\"", "team", "4096-byte limit"]),
    ("truncated.csv.gz", &["compressed data"]),
    ("broken_line.jsonl", &["row 2", "invalid JSON"]),
];

#[test]
fn every_bad_file_is_rejected_and_the_store_is_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.sqlite");
    let good = common::samples().join("focus/focus-1.0-sample/focus_sample_1000.csv");
    let (ok, _, err) = common::valdrix(&db, &["ingest", "--quiet", good.to_str().unwrap()]);
    assert!(ok, "{err}");
    let before = common::dump(&db);
    assert_eq!(before.0.len(), 1);
    let listed: Vec<String> = std::fs::read_dir(corpus())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "README.md")
        .collect();
    assert_eq!(listed.len(), CASES.len(), "every corpus file has a case: {listed:?}");
    for (file, expected) in CASES {
        let path = corpus().join(file);
        let (ok, _, err) = common::valdrix(&db, &["ingest", "--quiet", path.to_str().unwrap()]);
        assert!(!ok, "{file} was accepted");
        assert!(err.contains(file), "{file}: the error does not name the file: {err}");
        for e in *expected {
            assert!(err.contains(e), "{file}: expected {e:?} in: {err}");
        }
        assert_eq!(common::dump(&db), before, "{file} changed the store");
    }
}

#[test]
fn a_bad_file_after_good_ones_writes_nothing_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.sqlite");
    let good = common::samples().join("azure-cost-details/finops-toolkit");
    let bad = corpus().join("nan_cost.csv");
    let (ok, _, err) = common::valdrix(&db, &["ingest", "--quiet", good.to_str().unwrap(), bad.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("nan_cost.csv"), "{err}");
    let (runs, records) = common::dump(&db);
    assert!(runs.is_empty() && records.is_empty(), "the good files before the bad one were written");
}
