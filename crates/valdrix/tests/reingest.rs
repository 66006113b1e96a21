//! Re-ingesting changes nothing; a newer delivery of the same stream replaces the older one.

mod common;

use std::path::Path;

#[test]
fn reingesting_the_same_files_makes_zero_changes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.sqlite");
    let s = common::samples();
    let inputs = [
        s.join("aws-cur-legacy-csv/koku-local-bucket"),
        s.join("aws-cur2-derived/parquet"),
        // The amortized view only: the actual-cost export is the same bill (one enrollment, one
        // month), which a second stream would count twice.
        s.join("azure-cost-details/finops-toolkit/EA_AmortizedCost_Small.csv"),
        s.join("gcp-bigquery-export"),
    ];
    let args: Vec<&str> = ["ingest", "--quiet"].into_iter().chain(inputs.iter().map(|p| p.to_str().unwrap())).collect();
    let (ok, _, err) = common::valdrix(&db, &args);
    assert!(ok, "{err}");
    let first = common::dump(&db);
    assert!(first.0.len() >= 5 && !first.1.is_empty(), "{:?}", first.0.len());
    let (ok, out, err) = common::valdrix(&db, &args);
    assert!(ok, "{err}");
    assert!(out.contains("unchanged"), "{out}");
    assert_eq!(common::dump(&db), first, "a re-ingest changed the store");

    // The same bytes under another name are recognised too: no double counting.
    let copy = dir.path().join("copy-of-amortized.csv");
    std::fs::copy(s.join("azure-cost-details/finops-toolkit/EA_AmortizedCost_Small.csv"), &copy).unwrap();
    let (ok, out, err) = common::valdrix(&db, &["ingest", "--quiet", copy.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(out.contains("unchanged"), "{out}");
    assert_eq!(common::dump(&db), first);
}

fn write(p: &Path, text: &str) {
    std::fs::write(p, text).unwrap();
}

#[test]
fn a_newer_delivery_of_a_stream_replaces_the_older_one() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.sqlite");
    let f = dir.path().join("export.csv");
    let header = "BillingAccountId,BillingCurrency,BillingPeriodStart,ChargePeriodStart,ChargeCategory,ServiceName,BilledCost,EffectiveCost\n";
    write(&f, &format!("{header}1,USD,2024-09-01,2024-09-02,Usage,Compute,10.5,10.5\n1,USD,2024-09-01,2024-09-03,Usage,Compute,4,4\n"));
    assert!(common::valdrix(&db, &["ingest", "--quiet", f.to_str().unwrap()]).0);
    write(&f, &format!("{header}1,USD,2024-09-01,2024-09-02,Usage,Compute,11.25,11.25\n"));
    let (ok, _, err) = common::valdrix(&db, &["ingest", "--quiet", f.to_str().unwrap()]);
    assert!(ok, "{err}");
    let (runs, records) = common::dump(&db);
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].records_replaced, 2);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].totals.billed_cost.to_string(), "11.25");
    let (_, out, _) = common::valdrix(&db, &["costs", "--format", "csv"]);
    assert!(out.contains("USD,11.25,1"), "{out}");
}

/// The billed total of a FOCUS-shaped CSV of `write`'s layout (BilledCost is column 7).
fn billed_total(text: &str) -> rust_decimal::Decimal {
    text.lines().skip(1).map(|l| l.split(',').nth(6).unwrap().parse::<rust_decimal::Decimal>().unwrap()).sum()
}

fn stored_total(db: &Path) -> rust_decimal::Decimal {
    common::dump(db).1.iter().map(|r| r.totals.billed_cost).sum()
}

const SCOPE_HEADER: &str =
    "BillingAccountId,SubAccountId,BillingCurrency,BillingPeriodStart,ChargePeriodStart,ServiceName,BilledCost\n";

/// A corrected export of the same account and period saved under another name is refused, naming
/// the stream that holds the bill, its files and totals; `--stream` with any spelling Valdrix
/// prints restates that stream, and the month's total is then the newer file's exactly. Separate
/// exports of one account are kept with `--keep-both` only when their sub accounts are disjoint.
#[test]
fn a_renamed_corrected_export_is_refused_or_restates_the_stream_that_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.sqlite");
    let original = dir.path().join("acme-ea-actual-2026-10.csv");
    let body = "900,A,USD,2024-09-01,2024-09-02,Compute,100.00\n900,B,USD,2024-09-01,2024-09-03,Storage,40.00\n";
    write(&original, &format!("{SCOPE_HEADER}{body}"));
    // The corrected copy, as a browser saves a second download: Compute 10 % higher.
    let corrected = dir.path().join("acme-ea-actual-2026-10 (1).csv");
    let fixed = body.replace("100.00", "110.00");
    write(&corrected, &format!("{SCOPE_HEADER}{fixed}"));
    let stream = format!("file:{}", std::fs::canonicalize(&original).unwrap().display());

    let (ok, _, err) = common::valdrix(&db, &["ingest", "--quiet", original.to_str().unwrap()]);
    assert!(ok, "{err}");
    let before = common::dump(&db);
    let (ok, _, err) = common::valdrix(&db, &["ingest", "--quiet", corrected.to_str().unwrap()]);
    assert!(!ok, "the renamed corrected copy was added on top");
    for needed in [stream.as_str(), "2024-09", "billing account 900", "run 1", "140", "--stream", "--keep-both"] {
        assert!(err.contains(needed), "expected {needed:?} in: {err}");
    }
    assert_eq!(common::dump(&db), before, "a refused delivery changed the store");
    // Its sub accounts are the same: keeping both is refused too.
    let (ok, _, err) = common::valdrix(&db, &["ingest", "--quiet", "--keep-both", corrected.to_str().unwrap()]);
    assert!(!ok && err.contains("sub accounts A, B in both"), "{err}");
    assert_eq!(common::dump(&db), before);

    // Restated through the stream id as `runs`, `audit` and `period list` print it.
    let (ok, _, err) = common::valdrix(&db, &["ingest", "--quiet", "--stream", &stream, corrected.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert_eq!(stored_total(&db), billed_total(&format!("{SCOPE_HEADER}{fixed}")));
    assert_eq!(stored_total(&db).normalize().to_string(), "150");
    let (_, out, _) = common::valdrix(&db, &["costs", "-g", "source", "--format", "csv"]);
    assert_eq!(out.lines().count(), 2, "one stream holds the bill: {out}");

    // The path of the file ingested before names its stream too.
    let db2 = dir.path().join("second.sqlite");
    assert!(common::valdrix(&db2, &["ingest", "--quiet", original.to_str().unwrap()]).0);
    let (ok, _, err) = common::valdrix(
        &db2,
        &["ingest", "--quiet", "--stream", original.to_str().unwrap(), corrected.to_str().unwrap()],
    );
    assert!(ok, "{err}");
    assert_eq!(stored_total(&db2).normalize().to_string(), "150");

    // Another linked account's export of the same payer and month: refused without the flag,
    // kept with --keep-both, and both then count.
    let other = dir.path().join("acme-ea-actual-2026-10-team-c.csv");
    write(&other, &format!("{SCOPE_HEADER}900,C,USD,2024-09-01,2024-09-02,Compute,7.25\n"));
    assert!(!common::valdrix(&db2, &["ingest", "--quiet", other.to_str().unwrap()]).0);
    let (ok, _, err) = common::valdrix(&db2, &["ingest", "--quiet", "--keep-both", other.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert_eq!(stored_total(&db2).normalize().to_string(), "157.25");
    let (ok, _, err) = common::valdrix(&db2, &["runs"]);
    assert!(ok && !err.contains("warning"), "disjoint streams are no overlap: {err}");

    // Two copies of one bill kept knowingly (to reconcile them): written, and `runs` and `audit`
    // keep saying so.
    let db3 = dir.path().join("third.sqlite");
    assert!(common::valdrix(&db3, &["ingest", "--quiet", original.to_str().unwrap()]).0);
    let (ok, _, err) = common::valdrix(&db3, &["ingest", "--quiet", "--allow-overlap", corrected.to_str().unwrap()]);
    assert!(ok, "{err}");
    for command in ["runs", "audit"] {
        let (ok, _, err) = common::valdrix(&db3, &[command]);
        assert!(ok, "{err}");
        assert!(err.contains("warning: Unknown billing account 900 for 2024-09"), "{command}: {err}");
        assert!(err.contains("is billed by 2 streams"), "{command}: {err}");
    }
}
