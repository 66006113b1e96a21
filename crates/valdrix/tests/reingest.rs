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
        s.join("azure-cost-details/finops-toolkit"),
        s.join("gcp-bigquery-export"),
    ];
    let args: Vec<&str> = ["ingest", "--quiet"].into_iter().chain(inputs.iter().map(|p| p.to_str().unwrap())).collect();
    let (ok, _, err) = common::valdrix(&db, &args);
    assert!(ok, "{err}");
    let first = common::dump(&db);
    assert!(first.0.len() >= 6 && !first.1.is_empty());
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
