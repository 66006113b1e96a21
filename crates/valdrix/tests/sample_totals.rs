//! Every sample export ingests, and its stored totals equal, to the last decimal digit and per
//! currency, the totals an independent Python oracle computes from the raw file.

mod common;

use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

use valdrix_app::ingest::{ingest_unit, IngestOptions, UnitOutcome};
use valdrix_core::TenantId;
use valdrix_ingest::{resolve_inputs, SourceUnit};
use valdrix_store::Store;

type Oracle = BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>>;

fn oracle(files: &[PathBuf]) -> Oracle {
    let script = common::repo_root().join("tests/oracle/billing_totals.py");
    let out = Command::new(common::python_bin()).arg(&script).args(files).output().expect("run the oracle");
    assert!(out.status.success(), "oracle failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("oracle JSON")
}

/// Ingests one unit alone into a fresh store (a new tenant on PostgreSQL).
fn ingest_alone(unit: &SourceUnit) -> (Box<dyn Store + Send>, TenantId, valdrix_app::Result<UnitOutcome>) {
    let (mut store, tenant) = common::fresh_store();
    let display = |p: &Path| p.display().to_string();
    // Two samples (koku's test_cur.csv, OpenCost's Template.csv) leave trailing empty fields out.
    let opts = IngestOptions { pad_short_rows: true, ..IngestOptions::default() };
    let outcome = ingest_unit(store.as_mut(), &tenant, unit, &display, &opts, &mut |_, _| {});
    (store, tenant, outcome)
}

fn rejected(p: &Path) -> bool {
    p.to_string_lossy().contains("simple_agreements") || refused_line(p).is_some()
}

/// Samples holding a line no bill can, with what the refusal names: koku's `azure_version_2.csv`
/// bills in "MC", which is no ISO 4217 currency; OpenCost's `headersets/BOM.csv` (a fixture of
/// header spellings) has an empty cost.
fn refused_line(p: &Path) -> Option<[&'static str; 3]> {
    if p.ends_with("azure_version_2.csv") {
        Some(["\"BillingCurrency\"", "\"MC\"", "ISO 4217"])
    } else if p.ends_with("opencost/headersets/BOM.csv") {
        Some(["\"PreTaxCost\"", "the cost is empty", "row 1"])
    } else {
        None
    }
}

fn all_units(samples: &Path) -> Vec<SourceUnit> {
    let dirs: Vec<PathBuf> = std::fs::read_dir(samples)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && !p.ends_with("mappings"))
        .collect();
    resolve_inputs(&dirs).expect("resolve sample folders")
}

#[test]
fn every_sample_matches_the_oracle_to_the_last_digit() {
    let samples = common::samples();
    let units: Vec<SourceUnit> =
        all_units(&samples).into_iter().filter(|u| !u.files.iter().any(|f| rejected(f))).collect();
    let files: Vec<PathBuf> = units.iter().flat_map(|u| u.files.clone()).collect();
    assert!(units.len() >= 45, "expected every sample, found {} units", units.len());
    let expected = oracle(&files);
    let mut checked_effective = 0;
    for unit in &units {
        let (store, tenant, outcome) = ingest_alone(unit);
        let outcome = outcome.unwrap_or_else(|e| panic!("{}: {e:#}", unit.stream));
        if matches!(outcome, UnitOutcome::Empty { .. }) {
            // A header-only export (finops-toolkit's EA_NoRows.csv): said to be empty, nothing
            // written, and the oracle finds no rows either.
            assert!(unit.files.iter().all(|f| expected[&f.display().to_string()].is_empty()), "{}", unit.stream);
            assert!(store.runs(&tenant, 10).unwrap().is_empty());
            continue;
        }
        assert!(matches!(outcome, UnitOutcome::Written(_)));
        let got = store.totals(&tenant).unwrap();
        // The oracle's totals for the unit: the sum over its files.
        let mut want: BTreeMap<String, (Decimal, Decimal)> = BTreeMap::new();
        for f in &unit.files {
            let per_file = &expected[&f.display().to_string()];
            for (cur, t) in per_file {
                let e = want.entry(cur.clone()).or_default();
                e.0 += Decimal::from_str(&t["billed"]).unwrap();
                e.1 += Decimal::from_str(&t["effective"]).unwrap();
            }
        }
        let want_currencies: Vec<&String> = want.keys().collect();
        let got_currencies: Vec<&String> = got.keys().collect();
        if !(want.values().all(|(b, e)| b.is_zero() && e.is_zero()) && got.is_empty()) {
            assert_eq!(got_currencies, want_currencies, "{}: currencies", unit.stream);
        }
        for (cur, (billed, effective)) in &want {
            let Some(g) = got.get(cur) else { continue };
            assert_eq!(g.billed.normalize(), billed.normalize(), "{}: BilledCost {cur}", unit.stream);
            assert_eq!(g.effective.normalize(), effective.normalize(), "{}: EffectiveCost {cur}", unit.stream);
            if g.effective != g.billed {
                checked_effective += 1;
            }
        }
    }
    // The amortised samples (RI, savings plans, Azure amortized, FOCUS commitments) must really
    // have differed from the billed view, or the EffectiveCost comparison proved nothing.
    assert!(checked_effective >= 8, "only {checked_effective} units had EffectiveCost different from BilledCost");
}

#[test]
fn the_specs_dollar_formatted_saas_examples_are_rejected_naming_the_value() {
    let samples = common::samples();
    let units: Vec<SourceUnit> = all_units(&samples)
        .into_iter()
        .filter(|u| u.files.iter().any(|f| rejected(f) && refused_line(f).is_none()))
        .collect();
    assert_eq!(units.len(), 5);
    for unit in &units {
        let (store, tenant, err) = ingest_alone(unit);
        let err = err.expect_err("a $-formatted amount must be rejected");
        let msg = format!("{err:#}");
        assert!(
            msg.contains("row 1") && msg.contains("BilledCost") && msg.contains("$") && msg.contains(".csv"),
            "{msg}"
        );
        assert!(store.runs(&tenant, 10).unwrap().is_empty());
        assert!(store.totals(&tenant).unwrap().is_empty());
    }
}

/// A sample holding a line no bill can (a currency that is no ISO 4217 code, an empty cost) is
/// refused at ingestion, naming the file, row and column, and nothing is written.
#[test]
fn samples_with_lines_no_bill_can_hold_are_rejected_naming_the_value() {
    let units: Vec<SourceUnit> = all_units(&common::samples())
        .into_iter()
        .filter(|u| u.files.iter().any(|f| refused_line(f).is_some()))
        .collect();
    assert_eq!(units.len(), 2);
    for unit in &units {
        let expected = refused_line(&unit.files[0]).unwrap();
        let (store, tenant, err) = ingest_alone(unit);
        let msg = format!("{:#}", err.expect_err("refused"));
        let name = unit.files[0].file_name().unwrap().to_string_lossy().into_owned();
        assert!(msg.contains(&name) && msg.contains("row 1"), "{msg}");
        for e in expected {
            assert!(msg.contains(e), "expected {e:?} in {msg}");
        }
        assert!(store.runs(&tenant, 10).unwrap().is_empty());
    }
}

#[test]
fn the_cur_delivery_layout_takes_the_newest_assembly_only() {
    let samples = common::samples();
    let units = resolve_inputs(&[samples.join("aws-cur-legacy-csv/koku-local-bucket")]).unwrap();
    assert_eq!(units.len(), 1);
    assert_eq!(units[0].assembly_id.as_deref(), Some("16e57707-f9e3-49be-8be6-b84e684b5194"));
    assert_eq!(units[0].files.len(), 1);
}

/// The demo's exports (CUR CSV.gz in the S3 delivery layout, Azure EA CSV with a byte-order mark,
/// GCP newline-delimited JSON with nested credits) match the oracle too, delivery by delivery.
#[test]
fn demo_exports_match_the_oracle() {
    let dir = tempfile::tempdir().unwrap();
    let out =
        Command::new(common::valdrix_bin()).args(["demo", "--no-serve", "--dir"]).arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let units = resolve_inputs(&[dir.path().join("exports")]).unwrap();
    assert_eq!(units.len(), 36, "12 months of AWS, Azure and GCP");
    let files: Vec<PathBuf> = units.iter().flat_map(|u| u.files.clone()).collect();
    assert!(files.iter().any(|f| f.to_string_lossy().ends_with(".jsonl")));
    assert!(files.iter().any(|f| f.to_string_lossy().ends_with(".csv.gz")));
    let expected = oracle(&files);
    for unit in &units {
        let (store, tenant, outcome) = ingest_alone(unit);
        outcome.unwrap_or_else(|e| panic!("{}: {e:#}", unit.stream));
        let got = &store.totals(&tenant).unwrap()["USD"];
        let want = &expected[&unit.files[0].display().to_string()]["USD"];
        assert_eq!(got.billed, Decimal::from_str(&want["billed"]).unwrap(), "{}", unit.stream);
        assert_eq!(got.effective, Decimal::from_str(&want["effective"]).unwrap(), "{}", unit.stream);
    }
}
