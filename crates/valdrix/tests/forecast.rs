//! `valdrix forecast` and `valdrix anomalies`: on stored spend (a FOCUS bill of 140 days, three
//! services with a weekly cycle, one of them with a three-day spike) and on `date,value` files.

mod common;

use chrono::{Datelike, Duration, NaiveDate};
use common::valdrix;
use serde_json::Value;

fn day0() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 2).unwrap()
}

/// Index of the spike's first day, and its length.
const SPIKE: (i64, i64) = (120, 3);
const DAYS: i64 = 140;

/// Deterministic noise in [-1, 1).
fn noise(i: i64, k: i64) -> f64 {
    let x = ((i * 7919 + k * 104_729) % 1000) as f64 / 500.0;
    x - 1.0
}

fn bill(dir: &std::path::Path) -> std::path::PathBuf {
    bill_of(dir, "bill.csv", 0..DAYS)
}

fn bill_of(dir: &std::path::Path, name: &str, days: std::ops::Range<i64>) -> std::path::PathBuf {
    let mut csv = String::from(
        "BillingAccountId,BillingCurrency,BillingPeriodStart,ChargePeriodStart,ChargeCategory,ServiceName,RegionId,BilledCost,EffectiveCost\n",
    );
    for i in days {
        let day = day0() + Duration::days(i);
        let period = NaiveDate::from_ymd_opt(day.year(), day.month(), 1).unwrap();
        let weekend = day.weekday().number_from_monday() >= 6;
        for (k, (service, region, level)) in
            [("Amazon EC2", "us-east-1", 1000.0), ("Amazon S3", "us-east-1", 300.0), ("Amazon RDS", "eu-west-1", 500.0)]
                .into_iter()
                .enumerate()
        {
            let mut cost =
                level * if weekend && service == "Amazon EC2" { 0.6 } else { 1.0 } * (1.0 + 0.03 * noise(i, k as i64));
            if service == "Amazon EC2" && (SPIKE.0..SPIKE.0 + SPIKE.1).contains(&i) {
                cost += 900.0;
            }
            csv.push_str(&format!(
                "111122223333,USD,{period}T00:00:00Z,{day}T00:00:00Z,Usage,{service},{region},{cost:.2},{cost:.2}\n"
            ));
        }
    }
    let path = dir.join(name);
    std::fs::write(&path, csv).unwrap();
    path
}

fn json(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn stored_spend_is_forecast_and_its_spike_found_with_its_root_cause() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v.sqlite");
    let (ok, _, err) = valdrix(&db, &["ingest", "--quiet", bill(dir.path()).to_str().unwrap()]);
    assert!(ok, "{err}");

    // The total, 30 days ahead.
    let (ok, out, err) = valdrix(&db, &["forecast", "--format", "json"]);
    assert!(ok, "{err}");
    let f = json(&out);
    let total = &f[0]["total"];
    assert_eq!(f[0]["currency"], "USD");
    let points = total["points"].as_array().unwrap();
    assert_eq!(points.len(), 30);
    assert_eq!(points[0]["date"], (day0() + Duration::days(DAYS)).to_string());
    // The spike is left out of training: a weekday is forecast near 1,800, not 2,700.
    let weekday = points.iter().find(|p| p["date"].as_str().unwrap() == "2026-07-21").unwrap();
    let yhat = weekday["yhat"].as_f64().unwrap();
    assert!((yhat - 1800.0).abs() < 90.0, "{yhat}");
    let spike_days: Vec<String> = (0..SPIKE.1).map(|d| (day0() + Duration::days(SPIKE.0 + d)).to_string()).collect();
    let outliers: Vec<&str> = total["outliers"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(spike_days.iter().all(|d| outliers.contains(&d.as_str())), "{outliers:?}");
    assert!(total["accuracy"]["mape"].as_f64().unwrap() < 0.05);

    // Split by service, the total's forecast is the sum of the services'.
    let (ok, out, err) = valdrix(&db, &["forecast", "--by", "service", "--horizon", "14", "--format", "json"]);
    assert!(ok, "{err}");
    let f = json(&out);
    let cats = f[0]["categories"].as_array().unwrap();
    assert_eq!(cats.len(), 3);
    assert_eq!(cats[0]["key"], "Amazon EC2");
    for h in 0..14 {
        let sum: f64 = cats.iter().map(|c| c["forecast"]["points"][h]["yhat"].as_f64().unwrap()).sum();
        let total = f[0]["total"]["points"][h]["yhat"].as_f64().unwrap();
        assert!((sum - total).abs() < 1e-6, "day {h}: {sum} against {total}");
        let i80 = &f[0]["total"]["points"][h]["intervals"][0];
        assert!(i80["lo"].as_f64().unwrap() <= total && total <= i80["hi"].as_f64().unwrap());
    }

    // Month by month.
    let (ok, out, err) = valdrix(&db, &["forecast", "--months", "2", "--format", "csv"]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "series,currency,month,days,yhat,lo80,hi80,lo95,hi95");
    assert_eq!(lines.len(), 1 + 3, "July's rest, August, September: {out}");
    assert!(lines[1].starts_with("total,USD,2026-07,"), "{out}");

    // The spike, as one anomaly of the total, with EC2 first among its services.
    let from = (day0() + Duration::days(60)).to_string();
    let (ok, out, err) = valdrix(&db, &["anomalies", "--from", &from, "--format", "json"]);
    assert!(ok, "{err}");
    let a = json(&out);
    let list = a.as_array().unwrap();
    assert_eq!(list.len(), 1, "{out}");
    assert_eq!(list[0]["start"], spike_days[0]);
    assert_eq!(list[0]["end"], spike_days[2]);
    let impact = list[0]["impact"].as_f64().unwrap();
    assert!((impact - 2700.0).abs() < 300.0, "{impact}");
    let first_service =
        list[0]["root_causes"].as_array().unwrap().iter().find(|c| c["dimension"] == "service").unwrap();
    assert_eq!(first_service["value"], "Amazon EC2");
    // Per service, only EC2 has it.
    let (ok, out, err) = valdrix(&db, &["anomalies", "--from", &from, "--by", "service", "--format", "json"]);
    assert!(ok, "{err}");
    let a = json(&out);
    assert_eq!(a.as_array().unwrap().len(), 1, "{out}");
    assert_eq!(a[0]["key"], "Amazon EC2");
    // Marked as expected on the command line: nothing left.
    let expected = format!("{}..{}", spike_days[0], spike_days[2]);
    let (ok, out, err) = valdrix(&db, &["anomalies", "--from", &from, "--expected", &expected, "--format", "json"]);
    assert!(ok, "{err}");
    assert_eq!(json(&out).as_array().unwrap().len(), 0, "{out}");
    // Marked in the store, for the total: gone from the total, still there per service.
    let (ok, out, err) =
        valdrix(&db, &["anomalies", "expect", "total", &expected, "--note", "a load test", "--actor", "ana"]);
    assert!(ok, "{err}");
    assert!(out.contains("marked as expected"), "{out}");
    let (ok, out, _) = valdrix(&db, &["anomalies", "--from", &from, "--format", "json"]);
    assert!(ok);
    assert_eq!(json(&out).as_array().unwrap().len(), 0, "{out}");
    let (ok, out, _) = valdrix(&db, &["anomalies", "--from", &from, "--by", "service", "--format", "json"]);
    assert!(ok);
    assert_eq!(json(&out).as_array().unwrap().len(), 1, "{out}");
    let (ok, out, _) = valdrix(&db, &["anomalies", "marks", "--format", "csv"]);
    assert!(ok);
    assert!(
        out.contains(&format!("total,{},{},", spike_days[0], spike_days[2])) && out.contains("ana,a load test"),
        "{out}"
    );
    let (ok, out, _) = valdrix(&db, &["anomalies", "unexpect", "total", &expected]);
    assert!(ok && out.contains("mark taken back"), "{out}");
    let (ok, out, _) = valdrix(&db, &["anomalies", "--from", &from, "--format", "json"]);
    assert!(ok);
    assert_eq!(json(&out).as_array().unwrap().len(), 1, "{out}");
}

#[test]
fn kept_monitors_check_with_their_own_settings() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v.sqlite");
    let (ok, _, err) = valdrix(&db, &["ingest", "--quiet", bill(dir.path()).to_str().unwrap()]);
    assert!(ok, "{err}");
    let (ok, out, err) = valdrix(&db, &["anomalies", "--monitors", "--format", "json"]);
    assert!(ok, "{err}");
    assert_eq!(json(&out).as_array().map(Vec::len), Some(0), "{out}");

    // Two monitors; one whose dimension does not exist is refused and not kept.
    let watch = ["anomalies", "monitor", "ec2-watch", "--by", "service", "--min-impact", "500", "--actor", "ana"];
    let (ok, out, err) = valdrix(&db, &watch);
    assert!(ok && out.contains("monitor ec2-watch kept"), "{out}{err}");
    let (ok, _, err) = valdrix(&db, &["anomalies", "monitor", "quiet", "--min-impact", "100000"]);
    assert!(ok, "{err}");
    let (ok, _, err) = valdrix(&db, &["anomalies", "monitor", "bad", "--by", "colour"]);
    assert!(!ok && err.contains("not a dimension"), "{err}");
    // Thresholds are checked the same way on the command line, in a monitor and over the API.
    let (ok, _, err) = valdrix(&db, &["anomalies", "monitor", "bad", "--direction", "sideways"]);
    assert!(!ok && err.contains("direction \"sideways\": up, down or both"), "{err}");
    let (ok, _, err) = valdrix(&db, &["anomalies", "--level", "100"]);
    assert!(!ok && err.contains("--level \"100\": a percentage between 0 and 100"), "{err}");

    // Each runs with its own settings: the spike, per service, for one; nothing over its
    // floor for the other.
    let (ok, out, err) = valdrix(&db, &["anomalies", "--monitors", "--format", "json"]);
    assert!(ok, "{err}");
    let runs = json(&out);
    let names: Vec<&str> = runs.as_array().unwrap().iter().map(|r| r["monitor"].as_str().unwrap()).collect();
    assert_eq!(names, ["ec2-watch", "quiet"], "{out}");
    let found = runs[0]["anomalies"].as_array().unwrap();
    assert_eq!(found.len(), 1, "{out}");
    assert_eq!(found[0]["key"], "Amazon EC2");
    assert_eq!(found[0]["start"], (day0() + Duration::days(SPIKE.0)).to_string());
    assert_eq!(runs[1]["anomalies"].as_array().map(Vec::len), Some(0), "{out}");
    let (ok, out, err) = valdrix(&db, &["anomalies", "--monitor", "ec2-watch", "--format", "csv"]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].starts_with("monitor,series,currency,start,end,"), "{out}");
    assert!(lines[1].starts_with("ec2-watch,service=Amazon EC2,USD,"), "{out}");
    // A monitor's settings are its own: they are not mixed with the command line's.
    let (ok, _, err) = valdrix(&db, &["anomalies", "--monitor", "ec2-watch", "--min-impact", "1"]);
    assert!(!ok && err.contains("cannot be used with"), "{err}");
    let (ok, _, err) = valdrix(&db, &["anomalies", "--monitor", "nope"]);
    assert!(!ok && err.contains("no monitor \"nope\""), "{err}");

    // --new: each anomaly once. The first run reports the spike and remembers it; the next
    // does not report it again, while a plain run still lists it.
    let new = ["anomalies", "--monitors", "--new", "--format", "csv"];
    let (ok, out, err) = valdrix(&db, &new);
    assert!(ok, "{err}");
    assert!(out.lines().nth(1).is_some_and(|l| l.starts_with("ec2-watch,service=Amazon EC2,USD,")), "{out}");
    let (ok, out, err) = valdrix(&db, &new);
    assert!(ok, "{err}");
    assert_eq!(out.lines().count(), 1, "only the header: {out}");
    let (ok, out, _) = valdrix(&db, &["anomalies", "--monitor", "ec2-watch", "--format", "csv"]);
    assert!(ok && out.lines().count() == 2, "{out}");
    let (ok, _, err) = valdrix(&db, &["anomalies", "--new"]);
    assert!(!ok && err.contains("--new is for kept monitors"), "{err}");

    // Replaced: looking for drops, it finds none.
    let (ok, out, err) = valdrix(&db, &[&watch[..], &["--direction", "down"]].concat());
    assert!(ok && out.contains("monitor ec2-watch replaced"), "{out}{err}");
    let (ok, out, err) = valdrix(&db, &["anomalies", "--monitor", "ec2-watch", "--format", "json"]);
    assert!(ok, "{err}");
    assert_eq!(json(&out)[0]["anomalies"].as_array().map(Vec::len), Some(0), "{out}");
    let (ok, out, _) = valdrix(&db, &["anomalies", "monitors", "--format", "csv"]);
    assert!(ok);
    assert!(out.contains("ec2-watch,service,billed,10,500,10,95,down,") && out.contains(",ana\n"), "{out}");
    assert!(out.contains("quiet,(total),billed,10,100000,") && !out.contains("bad,"), "{out}");

    let (ok, out, _) = valdrix(&db, &["anomalies", "unmonitor", "quiet"]);
    assert!(ok && out.contains("monitor quiet deleted"), "{out}");
    // A monitor deleted forgets what it reported: kept again, it reports the spike anew.
    let (ok, _, _) = valdrix(&db, &["anomalies", "unmonitor", "ec2-watch"]);
    assert!(ok);
    let (ok, _, err) = valdrix(&db, &watch);
    assert!(ok, "{err}");
    let (ok, out, _) = valdrix(&db, &new);
    assert!(ok && out.lines().count() == 2, "{out}");
    let (ok, _, err) = valdrix(&db, &["anomalies", "unmonitor", "quiet"]);
    assert!(!ok && err.contains("no monitor"), "{err}");
}

#[test]
fn kept_forecasts_are_tracked_as_days_become_final() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.sqlite");
    let early = bill_of(dir.path(), "early.csv", 0..110);
    let (ok, _, err) = valdrix(&db, &["ingest", "--quiet", "--stream", "bill", early.to_str().unwrap()]);
    assert!(ok, "{err}");
    let (ok, _, err) = valdrix(&db, &["forecast", "--by", "service", "--save", "--format", "json"]);
    assert!(ok, "{err}");
    assert!(err.contains("kept as forecasts 1 to 4"), "{err}");
    let (ok, out, err) = valdrix(&db, &["forecast", "track", "--format", "json"]);
    assert!(ok, "{err}");
    let t = json(&out);
    assert_eq!(t.as_array().unwrap().len(), 4);
    assert!(t.as_array().unwrap().iter().all(|k| k["days_compared"] == 0));
    // Twenty more days arrive (the spike among them: days 120 to 122), in the bill's next
    // delivery: the same days so far and the new ones.
    let late = bill_of(dir.path(), "late.csv", 0..130);
    let (ok, _, err) = valdrix(&db, &["ingest", "--quiet", "--stream", "bill", late.to_str().unwrap()]);
    assert!(ok, "{err}");
    let (ok, out, err) = valdrix(&db, &["forecast", "track", "--format", "json"]);
    assert!(ok, "{err}");
    let t = json(&out);
    let by_series = |s: &str| t.as_array().unwrap().iter().find(|k| k["series"] == s).unwrap().clone();
    let s3 = by_series("service=Amazon S3");
    assert_eq!(s3["days_compared"], 20);
    assert_eq!(s3["horizon"], 30);
    assert!(s3["mape"].as_f64().unwrap() < 0.05, "{s3}");
    assert!(s3["coverage"][1]["share"].as_f64().unwrap() >= 0.8, "{s3}");
    let total = by_series("total");
    let actual = total["actual"].as_f64().unwrap();
    assert!(actual > total["forecast"].as_f64().unwrap() + 2000.0, "the spike was not forecast: {total}");
    let (ok, out, _) = valdrix(&db, &["forecast", "track"]);
    assert!(ok && out.contains("20 of 30"), "{out}");
}

fn series_file(dir: &std::path::Path, spike: bool) -> std::path::PathBuf {
    let mut csv = String::from("date,value\n");
    for i in 0..DAYS {
        let day = day0() + Duration::days(i);
        let weekend = day.weekday().number_from_monday() >= 6;
        let mut v = if weekend { 600.0 } else { 1000.0 } * (1.0 + 0.03 * noise(i, 9));
        if spike && i == DAYS - 5 {
            v += 1500.0;
        }
        csv.push_str(&format!("{day},{v:.3}\n"));
    }
    let path = dir.join("series.csv");
    std::fs::write(&path, csv).unwrap();
    path
}

#[test]
fn any_series_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("unused.sqlite");
    let input = series_file(dir.path(), true);
    let input = input.to_str().unwrap();
    let (ok, out, err) = valdrix(&db, &["forecast", "--input", input, "--horizon", "10", "--format", "csv"]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "date,yhat,lo80,hi80,lo95,hi95");
    assert_eq!(lines.len(), 11);
    for l in &lines[1..] {
        let v: Vec<f64> = l.split(',').skip(1).map(|x| x.parse().unwrap()).collect();
        assert!(v[3] <= v[1] && v[1] <= v[0] && v[0] <= v[2] && v[2] <= v[4], "{l}");
    }
    let (ok, out, err) = valdrix(&db, &["anomalies", "--input", input, "--format", "csv"]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "date,actual,expected,lo,hi,score");
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[1].starts_with(&(day0() + Duration::days(DAYS - 5)).to_string()), "{out}");

    // Other levels on request.
    let (ok, out, err) =
        valdrix(&db, &["forecast", "--input", input, "--level", "50", "--level", "99", "--format", "csv"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("date,yhat,lo50,hi50,lo99,hi99\n"), "{out}");
}

#[test]
fn bad_series_files_are_refused_with_the_row_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("unused.sqlite");
    let path = dir.path().join("bad.csv");
    std::fs::write(&path, "date,value\n2026-01-01,10\n2026-01-02,ten\n").unwrap();
    let (ok, out, err) = valdrix(&db, &["forecast", "--input", path.to_str().unwrap(), "--format", "csv"]);
    assert!(!ok);
    assert!(out.is_empty());
    assert!(err.contains("bad.csv: row 3, column 2 (value)"), "{err}");
    // Too short to forecast.
    std::fs::write(&path, "date,value\n2026-01-01,10\n2026-01-02,11\n").unwrap();
    let (ok, _, err) = valdrix(&db, &["forecast", "--input", path.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("a forecast needs at least 14"), "{err}");
    let input = series_file(dir.path(), false);
    let (ok, _, err) = valdrix(&db, &["forecast", "--input", input.to_str().unwrap(), "--horizon", "500"]);
    assert!(!ok);
    assert!(err.contains("horizon 500 days is out of range"), "{err}");
}
