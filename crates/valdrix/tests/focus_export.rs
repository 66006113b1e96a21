//! `valdrix export focus` output passes focus-validator 2.2.1 (FOCUS 1.2 rules) with zero failed
//! rules, for the demo data and for the AWS CUR, Azure and GCP samples.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn validate(files: &[PathBuf]) -> (bool, String) {
    let out = Command::new(common::repo_root().join("scripts/focus-validate.sh"))
        .args(files)
        .output()
        .expect("run focus-validate.sh");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn ingest_and_export(dir: &Path, name: &str, inputs: &[PathBuf], formats: &[&str]) -> Vec<PathBuf> {
    let db = dir.join(format!("{name}.sqlite"));
    // Every sample is read, including the same bill in several formats (the workshop CUR as
    // legacy Parquet and as CUR 2.0) and exporters that leave trailing empty fields out: this
    // checks the FOCUS export, not the totals.
    let mut args: Vec<String> = ["ingest", "--quiet", "--allow-overlap", "--pad-short-rows"].map(String::from).to_vec();
    args.extend(inputs.iter().map(|p| p.display().to_string()));
    let (ok, _, err) = common::valdrix(&db, &args.iter().map(|s| s.as_str()).collect::<Vec<_>>());
    assert!(ok, "{err}");
    formats
        .iter()
        .map(|ext| {
            let out = dir.join(format!("{name}.{ext}"));
            let (ok, _, err) = common::valdrix(&db, &["export", "focus", "--out", out.to_str().unwrap()]);
            assert!(ok, "{err}");
            out
        })
        .collect()
}

#[test]
fn demo_export_passes_the_focus_validator() {
    let dir = tempfile::tempdir().unwrap();
    let out =
        Command::new(common::valdrix_bin()).args(["demo", "--no-serve", "--dir"]).arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let db = dir.path().join("valdrix-demo.sqlite");
    let files: Vec<PathBuf> = ["csv", "parquet"]
        .iter()
        .map(|ext| {
            let f = dir.path().join(format!("demo.{ext}"));
            let (ok, _, err) = common::valdrix(&db, &["export", "focus", "--out", f.to_str().unwrap()]);
            assert!(ok, "{err}");
            f
        })
        .collect();
    let (ok, report) = validate(&files);
    assert!(ok, "{report}");
    assert!(report.contains(" 0 failed"), "{report}");
}

#[test]
fn sample_exports_pass_the_focus_validator() {
    let dir = tempfile::tempdir().unwrap();
    let s = common::samples();
    let mut files = Vec::new();
    // CSV readers infer numeric-looking account ids as numbers, which the type rules reject:
    // the typed Parquet export is what carries AWS's 12-digit ids faithfully.
    files.extend(ingest_and_export(
        dir.path(),
        "aws",
        &[s.join("aws-cur-legacy-csv"), s.join("aws-cur-legacy-parquet"), s.join("aws-cur2-derived")],
        &["parquet"],
    ));
    let azure: Vec<PathBuf> =
        // Two samples hold lines no bill can (a currency "MC", an empty cost) and are refused.
        walk(&s.join("azure-cost-details"))
            .into_iter()
            .filter(|p| !p.ends_with("azure_version_2.csv") && !p.ends_with("opencost/headersets/BOM.csv"))
            .collect();
    files.extend(ingest_and_export(dir.path(), "azure", &azure, &["csv", "parquet"]));
    files.extend(ingest_and_export(dir.path(), "gcp", &[s.join("gcp-bigquery-export")], &["csv", "parquet"]));
    let (ok, report) = validate(&files);
    assert!(ok, "{report}");
    assert_eq!(report.matches(" 0 failed").count(), files.len(), "{report}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().filter_map(|e| e.ok()) {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().is_some_and(|x| x == "csv") {
            out.push(p);
        }
    }
    out.sort();
    out
}
