//! Cost trust through the command line: the koku preliminary → final pair, synthetic
//! restatement sequences built from the October 2018 workshop CUR (exact audit entries, removals
//! included), record histories, restatement alerts against an independent recomputation, period
//! close and forced deliveries, and the finalised series.

mod common;

use rust_decimal::Decimal;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;

fn dec(v: &Value) -> Decimal {
    Decimal::from_str(v.as_str().unwrap_or_else(|| panic!("not a decimal text: {v}"))).unwrap()
}

fn run_ok(db: &Path, args: &[&str]) -> String {
    let (ok, out, err) = common::valdrix(db, args);
    assert!(ok, "valdrix {args:?} failed: {err}");
    out
}

fn json(db: &Path, args: &[&str]) -> Value {
    let out = run_ok(db, args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// Ingests `file` as the named stream; returns the run's JSON row.
fn deliver(db: &Path, stream: &str, file: &Path) -> Value {
    let v = json(db, &["ingest", "--quiet", "--stream", stream, "--output", "json", file.to_str().unwrap()]);
    v.as_array().and_then(|a| a.first()).cloned().unwrap_or_else(|| panic!("no run in {v}"))
}

fn run_id(row: &Value) -> String {
    row["run"].as_str().unwrap().to_string()
}

/// The audit entries of a run, keyed by record id: (reason, old billed, new billed).
fn entries(db: &Path, run: &str) -> BTreeMap<String, (String, Decimal, Decimal)> {
    let v = json(db, &["audit", "--run", run, "--format", "json"]);
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["record"].as_str().unwrap().to_string(),
                (e["reason"].as_str().unwrap().to_string(), dec(&e["old_billed"]), dec(&e["new_billed"])),
            )
        })
        .collect()
}

/// Stored records (id → billed) matching filters.
fn records(db: &Path, filters: &[&str]) -> BTreeMap<String, Decimal> {
    let mut args = vec!["costs", "records", "--limit", "1000000", "--format", "json"];
    args.extend_from_slice(filters);
    json(db, &args)
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["record"].as_str().unwrap().to_string(), dec(&r["billed"])))
        .collect()
}

fn period_state(db: &Path, period: &str) -> String {
    let v = json(db, &["period", "list", "--format", "json"]);
    let p = v.as_array().unwrap().iter().find(|p| p["period"] == period).unwrap_or_else(|| panic!("{period} in {v}"));
    p["state"].as_str().unwrap().to_string()
}

/// Day × account × service totals of one metric on the given days.
fn aggregates(db: &Path, metric: &str) -> BTreeMap<(String, String, String), Decimal> {
    let v = json(db, &["costs", "-g", "day,account,service", "--metric", metric, "--format", "json"]);
    let col = format!("{metric}_cost");
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let k = |c: &str| r[c].as_str().unwrap_or("").to_string();
            ((k("day"), k("account"), k("service")), dec(&r[col.as_str()]))
        })
        .collect()
}

/// The alerts the thresholds imply for a move from `before` to `after`, recomputed here: totals
/// that existed before and moved past both thresholds.
fn expected_alerts(
    before: &BTreeMap<(String, String, String), Decimal>,
    after: &BTreeMap<(String, String, String), Decimal>,
    percent: Decimal,
    floor: Decimal,
) -> BTreeSet<(String, String, String)> {
    before
        .keys()
        .filter(|k| {
            let old = before[*k];
            let new = after.get(k).copied().unwrap_or_default();
            let delta = (new - old).abs();
            delta > floor && (old.is_zero() || delta * Decimal::ONE_HUNDRED > percent * old.abs())
        })
        .cloned()
        .collect()
}

fn alerts_of(db: &Path, run: &str, metric: &str) -> BTreeSet<(String, String, String)> {
    let v = json(db, &["alerts", "--run", run, "--limit", "100000", "--format", "json"]);
    v.as_array()
        .unwrap()
        .iter()
        .filter(|a| a["metric"] == metric)
        .map(|a| {
            let k = |c: &str| a[c].as_str().unwrap().to_string();
            (k("day"), k("account"), k("service"))
        })
        .collect()
}

fn restate(input: &Path, output: &Path, args: &[&str]) -> Value {
    let script = common::repo_root().join("tests/fixtures/restate_cur.py");
    let out = std::process::Command::new(common::python_bin())
        .arg(script)
        .arg(input)
        .arg(output)
        .args(args)
        .output()
        .expect("run restate_cur.py");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn october() -> PathBuf {
    common::samples()
        .join("aws-cur-legacy-parquet/workshop-cur-2018/year=2018/month=10/Oct2018-WorkshopCUR-00001.snappy.parquet")
}

#[test]
fn the_koku_pair_moves_the_period_from_preliminary_to_final() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.sqlite");
    let koku = common::samples().join("aws-cur-legacy-csv/koku");
    let first = deliver(&db, "koku", &koku.join("2023-06-01-not-final.csv"));
    assert_eq!(period_state(&db, "2023-06"), "preliminary");
    let second = deliver(&db, "koku", &koku.join("2023-06-01.csv"));
    assert_eq!(period_state(&db, "2023-06"), "final");
    let v = json(&db, &["period", "list", "--format", "json"]);
    assert_eq!(v[0]["invoice"], "987654321", "{v}");
    assert_eq!(v[0]["deliveries"], "2", "{v}");
    assert_eq!(dec(&v[0]["billed"]), Decimal::from(30), "{v}");

    // The final file names another payer account: the preliminary record is removed (kept at zero)
    // and the final one added late; the total does not move.
    let e = entries(&db, &run_id(&second));
    let reasons: Vec<(&str, Decimal, Decimal)> = e.values().map(|(r, o, n)| (r.as_str(), *o, *n)).collect();
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(reasons.contains(&("removed", Decimal::from(30), Decimal::ZERO)), "{e:?}");
    assert!(reasons.contains(&("added_late", Decimal::ZERO, Decimal::from(30))), "{e:?}");
    // One alert: the preliminary payer's EC2 total of the day went from 30 to 0. The final
    // payer's total is new data (it had no records before).
    let alerts = json(&db, &["alerts", "--run", &run_id(&second), "--format", "json"]);
    let billed: Vec<&Value> = alerts.as_array().unwrap().iter().filter(|a| a["metric"] == "billed").collect();
    assert_eq!(billed.len(), 1, "{alerts}");
    assert_eq!(billed[0]["account"], "9999999999999");
    assert_eq!((dec(&billed[0]["old"]), dec(&billed[0]["new"])), (Decimal::from(30), Decimal::ZERO));
    let removed = e.iter().find(|(_, v)| v.0 == "removed").map(|(k, _)| k.clone()).unwrap();
    let h = json(&db, &["costs", "history", &removed, "--format", "json"]);
    let points = h["points"].as_array().unwrap();
    assert_eq!(points.len(), 2, "{h}");
    assert_eq!(points[0]["change"], "first");
    assert_eq!(points[0]["run"]["run_id"].to_string(), run_id(&first));
    assert_eq!(points[1]["change"], "removed");
    assert_eq!(dec(&points[1]["billed"]), Decimal::ZERO);
    // Removed records are out of every answer but their history.
    assert!(!records(&db, &[]).contains_key(&removed));
}

#[test]
fn workshop_restatements_produce_the_exact_audit_entries() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.sqlite");
    let full = october();
    let partial = dir.path().join("d1.parquet");
    restate(&full, &partial, &["--drop-day", "2018-10-31", "--clear-invoice"]);
    let restated = dir.path().join("d3.parquet");
    let what = restate(&full, &restated, &["--bump", "1.25", "--drop-resource-day", "2018-10-15"]);
    // Alerts when a day × account × service total moves by more than 1 % and more than 0.50.
    let config = dir.path().join("valdrix.toml");
    std::fs::write(&config, "[trust]\nalert_percent = 1\nalert_floor = \"0.50\"\n").unwrap();
    let cfg = config.to_str().unwrap();
    let deliver = |file: &Path| -> Value {
        let v = json(
            &db,
            &["--config", cfg, "ingest", "--quiet", "--stream", "workshop", "--output", "json", file.to_str().unwrap()],
        );
        v[0].clone()
    };

    // 1. October without its last day and not invoiced yet: a month still growing.
    let d1 = deliver(&partial);
    assert!(entries(&db, &run_id(&d1)).is_empty());
    assert_eq!(period_state(&db, "2018-10"), "preliminary");

    // 2. The whole month: the records of 31 October are added late, nothing else changes.
    let before = (aggregates(&db, "billed"), aggregates(&db, "effective"));
    let d2 = deliver(&full);
    let day31 = records(&db, &["--from", "2018-10-31", "--to", "2018-11-01"]);
    assert!(!day31.is_empty());
    let e2 = entries(&db, &run_id(&d2));
    let expected: BTreeMap<String, (String, Decimal, Decimal)> =
        day31.iter().map(|(id, b)| (id.clone(), ("added_late".to_string(), Decimal::ZERO, *b))).collect();
    assert_eq!(e2, expected);
    assert_eq!(period_state(&db, "2018-10"), "final", "the full month carries its invoice id");
    let after = (aggregates(&db, "billed"), aggregates(&db, "effective"));
    let (pct, floor) = (Decimal::ONE, Decimal::new(50, 2));
    assert_eq!(alerts_of(&db, &run_id(&d2), "billed"), expected_alerts(&before.0, &after.0, pct, floor));
    assert_eq!(alerts_of(&db, &run_id(&d2), "effective"), expected_alerts(&before.1, &after.1, pct, floor));
    // A day seen for the first time is new data, not a restatement: no alert.
    assert!(alerts_of(&db, &run_id(&d2), "billed").is_empty());

    // 3. One line restated, one resource's records of 15 October gone.
    let bumped = &what["bumped"];
    let day = bumped["day"].as_str().unwrap();
    let next = (chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap() + chrono::Duration::days(1)).to_string();
    let resource_filter = format!("resource={}", bumped["resource"].as_str().unwrap());
    let usage_filter = format!("usage-type={}", bumped["usage_type"].as_str().unwrap());
    let candidates =
        records(&db, &["--filter", &resource_filter, "--filter", &usage_filter, "--from", day, "--to", &next]);
    let dropped = &what["dropped_resource"];
    let dropped_filter = format!("resource={}", dropped["resource"].as_str().unwrap());
    let gone = records(&db, &["--filter", &dropped_filter, "--from", "2018-10-15", "--to", "2018-10-16"]);
    assert!(!gone.is_empty());
    let line_delta = Decimal::from_str(bumped["new_cost"].as_str().unwrap()).unwrap()
        - Decimal::from_str(bumped["old_cost"].as_str().unwrap()).unwrap();
    let before = (aggregates(&db, "billed"), aggregates(&db, "effective"));
    let d3 = deliver(&restated);
    let e3 = entries(&db, &run_id(&d3));
    let restated_entries: Vec<_> = e3.iter().filter(|(_, v)| v.0 == "restated").collect();
    assert_eq!(restated_entries.len(), 1, "{e3:?}");
    let (bumped_id, (_, old, new)) = restated_entries[0];
    assert_eq!(candidates.get(bumped_id), Some(old), "the restated record is the bumped line's");
    assert_eq!(*new - *old, line_delta);
    let removed: BTreeMap<String, (String, Decimal, Decimal)> =
        e3.iter().filter(|(_, v)| v.0 == "removed").map(|(k, v)| (k.clone(), v.clone())).collect();
    let expected: BTreeMap<String, (String, Decimal, Decimal)> =
        gone.iter().map(|(id, b)| (id.clone(), ("removed".to_string(), *b, Decimal::ZERO))).collect();
    assert_eq!(removed, expected);
    assert_eq!(e3.len(), 1 + gone.len());
    let after = (aggregates(&db, "billed"), aggregates(&db, "effective"));
    assert_eq!(alerts_of(&db, &run_id(&d3), "billed"), expected_alerts(&before.0, &after.0, pct, floor));
    assert_eq!(alerts_of(&db, &run_id(&d3), "effective"), expected_alerts(&before.1, &after.1, pct, floor));
    assert!(!alerts_of(&db, &run_id(&d3), "billed").is_empty(), "the removed resource-day moves its total");

    // 4. The original again: the line goes back, the removed records come back (added late).
    let d4 = deliver(&full);
    let e4 = entries(&db, &run_id(&d4));
    assert_eq!(e4.get(bumped_id), Some(&("restated".to_string(), *new, *old)));
    for (id, b) in &gone {
        assert_eq!(e4.get(id), Some(&("added_late".to_string(), Decimal::ZERO, *b)), "{id}");
    }
    assert_eq!(e4.len(), 1 + gone.len());

    // The store's totals are the first delivery's plus every delta, and the whole month's.
    let audit = json(&db, &["audit", "--format", "json"]);
    let net: Decimal = audit
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["net_billed"].as_str())
        .map(|s| Decimal::from_str(s).unwrap())
        .sum();
    let first = dec(&d1["billed"]);
    let totals = json(&db, &["costs", "--format", "json"]);
    assert_eq!(dec(&totals[0]["billed_cost"]), first + net);
    assert_eq!(dec(&totals[0]["billed_cost"]), dec(&d4["billed"]));

    // The bumped record's history: first seen, unchanged, restated, restated back.
    let h = json(&db, &["costs", "history", bumped_id, "--format", "json"]);
    let changes: Vec<&str> = h["points"].as_array().unwrap().iter().map(|p| p["change"].as_str().unwrap()).collect();
    assert_eq!(changes, ["first", "unchanged", "restated", "restated"], "{h}");
    let billed: Vec<Decimal> = h["points"].as_array().unwrap().iter().map(|p| dec(&p["billed"])).collect();
    assert_eq!(billed, [*old, *old, *new, *old]);
    // A prefix of the key finds the same record.
    let short = format!("{}-{}", &bumped_id[..10], &bumped_id[bumped_id.len() - 8..]);
    assert_eq!(json(&db, &["costs", "history", &short, "--format", "json"])["record_id"], h["record_id"]);

    // November is another billing period: delivering it restates nothing of October.
    let november = common::samples()
        .join("aws-cur-legacy-parquet/workshop-cur-2018/year=2018/month=11/Nov2018-WorkshopCUR-00001.snappy.parquet");
    let d5 = deliver(&november);
    assert!(entries(&db, &run_id(&d5)).is_empty());
    assert_eq!(
        dec(&json(&db, &["costs", "--to", "2018-11-01", "--format", "json"])[0]["billed_cost"]),
        dec(&d4["billed"])
    );
}

#[test]
fn a_closed_period_refuses_deliveries_unless_forced_and_the_audit_log_says_who() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.sqlite");
    let koku = common::samples().join("aws-cur-legacy-csv/koku");
    deliver(&db, "koku", &koku.join("2023-06-01-not-final.csv"));
    run_ok(&db, &["period", "close", "2023-06", "--reason", "books closed", "--actor", "alice"]);
    assert_eq!(period_state(&db, "2023-06"), "closed");
    let final_file = koku.join("2023-06-01.csv");
    let (ok, _, err) = common::valdrix(&db, &["ingest", "--quiet", "--stream", "koku", final_file.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("billing period 2023-06 was closed by alice"), "{err}");
    assert!(err.contains("--force"), "{err}");
    assert_eq!(json(&db, &["runs", "--format", "json"]).as_array().unwrap().len(), 1, "nothing written");
    // --force needs a reason.
    let (ok, _, _) =
        common::valdrix(&db, &["ingest", "--quiet", "--force", "--stream", "koku", final_file.to_str().unwrap()]);
    assert!(!ok);
    let run = deliver_forced(&db, &final_file);
    let events = run_ok(&db, &["audit"]);
    assert!(
        events.contains("forced_delivery") && events.contains("invoice re-issued") && events.contains("bob"),
        "{events}"
    );
    assert!(events.contains("period_closed") && events.contains("books closed"), "{events}");
    assert_eq!(entries(&db, &run).len(), 2);
    // Reopened, it takes deliveries again.
    run_ok(&db, &["period", "reopen", "2023-06", "--reason", "audit finished", "--actor", "alice"]);
    assert_eq!(period_state(&db, "2023-06"), "final");
}

fn deliver_forced(db: &Path, file: &Path) -> String {
    let v = json(
        db,
        &[
            "ingest",
            "--quiet",
            "--stream",
            "koku",
            "--force",
            "--reason",
            "invoice re-issued",
            "--actor",
            "bob",
            "--output",
            "json",
            file.to_str().unwrap(),
        ],
    );
    run_id(&v[0])
}

#[test]
fn costs_say_how_far_they_are_complete_and_final() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.sqlite");
    let koku = common::samples().join("aws-cur-legacy-csv/koku");
    deliver(&db, "koku", &koku.join("2023-06-01-not-final.csv"));
    let out = run_ok(&db, &["costs", "-g", "day"]);
    // 2023 is long past: every day is final by age, though June is not invoiced.
    assert!(out.contains("costs complete through 2023-06-01; final through 2023-06-01"), "{out}");
    assert!(out.contains("final"), "{out}");
    // A day that ended less than `final_after_hours` ago is preliminary: with a threshold of
    // 100 years, every day of the uninvoiced month is.
    let config = dir.path().join("valdrix.toml");
    std::fs::write(&config, "[trust]\nfinal_after_hours = 876000\n").unwrap();
    let cfg = config.to_str().unwrap();
    let out = run_ok(&db, &["--config", cfg, "costs", "-g", "day"]);
    assert!(out.contains("preliminary") && out.contains("no day final yet"), "{out}");
    let v = json(&db, &["--config", cfg, "costs", "--final-only", "--format", "json"]);
    assert!(v.as_array().unwrap().is_empty(), "no final day: {v}");
    let all = json(&db, &["costs", "--final-only", "--format", "json"]);
    assert_eq!(all, json(&db, &["costs", "--format", "json"]));
    // Once invoiced, the month is final whatever its age.
    deliver(&db, "koku", &koku.join("2023-06-01.csv"));
    let out = run_ok(&db, &["--config", cfg, "costs", "-g", "day"]);
    assert!(!out.contains("preliminary") && out.contains("final through 2023-06-01"), "{out}");
}
