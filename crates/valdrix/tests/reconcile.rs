//! `valdrix reconcile` between two ingested sources: a CUR against its own FOCUS export differs by
//! exactly zero; a deliberately perturbed export shows the perturbation and names its service.

mod common;

use rust_decimal::Decimal;
use std::path::{Path, PathBuf};
use std::str::FromStr;

fn reconcile_json(db: &Path, left: &Path, right: &Path) -> serde_json::Value {
    let left = format!("source={}", left.display());
    let right = format!("source={}", right.display());
    let (ok, out, err) = common::valdrix(db, &["reconcile", "--left", &left, "--right", &right, "--format", "json"]);
    assert!(ok, "{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn dec(v: &serde_json::Value) -> Decimal {
    Decimal::from_str(v.as_str().unwrap_or_else(|| panic!("not a decimal text: {v}"))).unwrap()
}

/// Copies `from` to `to`, adding `delta` to the BilledCost of the first row of `service`.
fn perturb(from: &Path, to: &Path, service: &str, delta: Decimal) {
    let mut reader = csv::Reader::from_path(from).unwrap();
    let headers = reader.headers().unwrap().clone();
    let billed = headers.iter().position(|h| h == "BilledCost").unwrap();
    let name = headers.iter().position(|h| h == "ServiceName").unwrap();
    let mut writer = csv::Writer::from_path(to).unwrap();
    writer.write_record(&headers).unwrap();
    let mut done = false;
    for row in reader.records() {
        let row = row.unwrap();
        let mut cells: Vec<String> = row.iter().map(String::from).collect();
        if !done && cells[name] == service {
            cells[billed] = (Decimal::from_str(&cells[billed]).unwrap() + delta).to_string();
            done = true;
        }
        writer.write_record(&cells).unwrap();
    }
    writer.flush().unwrap();
    assert!(done, "no row of {service}");
}

/// A new store in `dir` holding the October 2018 workshop CUR; the store's and the CUR's paths.
fn october_cur_in(dir: &Path) -> (PathBuf, PathBuf) {
    let db = dir.join("store.sqlite");
    let cur = common::samples()
        .join("aws-cur-legacy-parquet/workshop-cur-2018/year=2018/month=10/Oct2018-WorkshopCUR-00001.snappy.parquet");
    let (ok, _, err) = common::valdrix(&db, &["ingest", "--quiet", cur.to_str().unwrap()]);
    assert!(ok, "{err}");
    (db, cur)
}

#[test]
fn a_cur_reconciles_with_its_own_focus_export_and_a_perturbation_is_located() {
    let dir = tempfile::tempdir().unwrap();
    let (db, cur) = october_cur_in(dir.path());
    let focus = dir.path().join("focus.csv");
    let (ok, _, err) = common::valdrix(&db, &["export", "focus", "--out", focus.to_str().unwrap()]);
    assert!(ok, "{err}");
    // The same bill from two sources, kept side by side on purpose to reconcile them.
    let (ok, _, err) = common::valdrix(&db, &["ingest", "--quiet", "--allow-overlap", focus.to_str().unwrap()]);
    assert!(ok, "{err}");

    let r = reconcile_json(&db, &cur, &focus);
    let currencies = r["currencies"].as_array().unwrap();
    assert_eq!(currencies.len(), 1, "{r}");
    let usd = &currencies[0];
    assert_eq!(usd["currency"], "USD");
    assert!(!dec(&usd["left"]).is_zero());
    assert_eq!(dec(&usd["left"]), dec(&usd["right"]), "{r}");
    assert!(dec(&usd["difference"]).is_zero(), "{r}");
    assert_eq!(usd["flagged"], false);
    assert!(usd["contributors"].as_array().unwrap().is_empty(), "{r}");
    assert_eq!(usd["dimensions"], serde_json::json!(["service", "account", "day"]));

    // Perturb one S3 line of the export by +12.345: the difference is exactly that, and S3 is the
    // top service.
    let perturbed = dir.path().join("perturbed.csv");
    let delta = Decimal::from_str("12.345").unwrap();
    perturb(&focus, &perturbed, "Amazon Simple Storage Service", delta);
    let (ok, _, err) = common::valdrix(&db, &["ingest", "--quiet", "--allow-overlap", perturbed.to_str().unwrap()]);
    assert!(ok, "{err}");
    let r = reconcile_json(&db, &cur, &perturbed);
    let usd = &r["currencies"][0];
    assert_eq!(dec(&usd["difference"]), delta, "{r}");
    assert_eq!(dec(&usd["right"]) - dec(&usd["left"]), delta);
    let top_service = usd["contributors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["dimension"] == "service")
        .unwrap_or_else(|| panic!("no service contributor: {r}"));
    assert_eq!(top_service["value"], "Amazon Simple Storage Service", "{r}");
    assert_eq!(dec(&top_service["difference"]), delta);

    // A side that matches nothing is an error, not an empty report.
    let (ok, _, err) = common::valdrix(&db, &["reconcile", "--left", "source=nothing-here", "--right", "provider=AWS"]);
    assert!(!ok);
    assert!(err.contains("no stored costs match"), "{err}");
}

#[test]
fn stored_costs_reconcile_with_an_invoice_totals_file() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = october_cur_in(dir.path());
    // The invoice: the stored total per billing account, as `valdrix costs` reports it.
    let (ok, out, err) = common::valdrix(&db, &["costs", "-g", "account", "--format", "csv"]);
    assert!(ok, "{err}");
    let mut lines = vec!["billing_period,account,currency,amount".to_string()];
    let mut first_account = None;
    for row in out.lines().skip(1) {
        let cells: Vec<&str> = row.split(',').collect();
        first_account.get_or_insert(cells[0].to_string());
        lines.push(format!("2018-10,{},{},{}", cells[0], cells[1], cells[2]));
    }
    let first_account = first_account.expect("at least one account");
    let invoice = dir.path().join("invoice.csv");
    std::fs::write(&invoice, lines.join("\n") + "\n").unwrap();
    let run = |file: &Path| {
        let (ok, out, err) = common::valdrix(
            &db,
            &["reconcile", "--left", "provider=AWS", "--invoice", file.to_str().unwrap(), "--format", "json"],
        );
        assert!(ok, "{err}");
        serde_json::from_str::<serde_json::Value>(&out).unwrap()
    };
    let r = run(&invoice);
    let usd = &r["currencies"][0];
    assert!(dec(&usd["difference"]).is_zero(), "{r}");
    assert_eq!(usd["dimensions"], serde_json::json!(["account"]), "an invoice knows accounts only");

    // The invoice bills one account 5.00 more than the stored costs: located by account.
    let more: Vec<String> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            if i == 1 {
                let (head, amount) = l.rsplit_once(',').unwrap();
                format!("{head},{}", Decimal::from_str(amount).unwrap() + Decimal::from(5))
            } else {
                l.clone()
            }
        })
        .collect();
    let more_file = dir.path().join("more.csv");
    std::fs::write(&more_file, more.join("\n") + "\n").unwrap();
    let r = run(&more_file);
    let usd = &r["currencies"][0];
    assert_eq!(dec(&usd["difference"]), Decimal::from(5), "{r}");
    assert_eq!(usd["contributors"][0]["dimension"], "account");
    assert_eq!(usd["contributors"][0]["value"], first_account.as_str());

    // Another billing period selects no stored costs; a bad amount names its row and column.
    std::fs::write(dir.path().join("other.csv"), "billing_period,currency,amount\n2019-01,USD,10\n").unwrap();
    let (ok, _, err) = common::valdrix(
        &db,
        &["reconcile", "--left", "provider=AWS", "--invoice", dir.path().join("other.csv").to_str().unwrap()],
    );
    assert!(!ok && err.contains("no stored costs match"), "{err}");
    std::fs::write(dir.path().join("bad.csv"), "billing_period,currency,amount\n2018-10,USD,\"$1,000.00\"\n").unwrap();
    let (ok, _, err) = common::valdrix(
        &db,
        &["reconcile", "--left", "provider=AWS", "--invoice", dir.path().join("bad.csv").to_str().unwrap()],
    );
    assert!(!ok);
    assert!(err.contains("row 2, column amount") && err.contains("$1,000.00"), "{err}");
}
