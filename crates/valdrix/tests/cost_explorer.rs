//! `valdrix reconcile --cost-explorer` through the official AWS SDK against moto's Cost Explorer,
//! started by the test. moto answers `GetCostAndUsage` with results the test queues: the stored
//! October workshop CUR's own daily amounts per service and linked account (unblended = billed),
//! then amortized amounts with one S3 day perturbed.

mod common;

use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

fn dec(v: &Value) -> Decimal {
    Decimal::from_str(v.as_str().unwrap_or_else(|| panic!("not a decimal text: {v}"))).unwrap()
}

/// Stored amounts of `metric` by (day, service, linked account).
fn stored(db: &Path, metric: &str) -> BTreeMap<(String, String, String), Decimal> {
    let (ok, out, err) = common::valdrix(
        db,
        &["costs", "-g", "day,service,account,sub-account", "--metric", metric, "--format", "json"],
    );
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let mut m = BTreeMap::new();
    for r in v.as_array().unwrap() {
        let text = |c: &str| r[c].as_str().map(String::from);
        let account = text("sub_account").or_else(|| text("account")).unwrap_or_default();
        let key = (text("day").unwrap(), text("service").unwrap_or_default(), account);
        *m.entry(key).or_insert(Decimal::ZERO) += dec(&r[format!("{metric}_cost").as_str()]);
    }
    m
}

/// A `GetCostAndUsage` response (as moto queues it): one result per day, grouped by service and
/// linked account.
fn response(amounts: &BTreeMap<(String, String, String), Decimal>, metric: &str) -> Value {
    let mut days: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for ((day, service, account), amount) in amounts {
        days.entry(day).or_default().push(json!({
            "Keys": [service, account],
            "Metrics": { metric: { "Amount": amount.to_string(), "Unit": "USD" } }
        }));
    }
    let results: Vec<Value> = days
        .into_iter()
        .map(|(day, groups)| {
            let end =
                (chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap() + chrono::Duration::days(1)).to_string();
            json!({ "TimePeriod": { "Start": day, "End": end }, "Total": {}, "Groups": groups, "Estimated": false })
        })
        .collect();
    json!({ "ResultsByTime": results, "DimensionValueAttributes": [] })
}

#[test]
fn stored_costs_reconcile_with_cost_explorer_unblended_and_amortized() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.sqlite");
    let cur = common::samples()
        .join("aws-cur-legacy-parquet/workshop-cur-2018/year=2018/month=10/Oct2018-WorkshopCUR-00001.snappy.parquet");
    let (ok, _, err) = common::valdrix(&db, &["ingest", "--quiet", cur.to_str().unwrap()]);
    assert!(ok, "{err}");

    let billed = stored(&db, "billed");
    let mut effective = stored(&db, "effective");
    let s3 = effective
        .keys()
        .find(|k| k.0 == "2018-10-09" && k.1 == "Amazon Simple Storage Service")
        .cloned()
        .expect("S3 spend on 9 October");
    let delta = Decimal::from_str("7.5").unwrap();
    *effective.get_mut(&s3).unwrap() += delta;
    let queue = json!({ "results": [response(&billed, "UnblendedCost"), response(&effective, "AmortizedCost")] });

    let (_moto, env) = common::start_moto();
    let queue_file = dir.path().join("queue.json");
    std::fs::write(&queue_file, queue.to_string()).unwrap();
    let mut post_env = env.clone();
    post_env.push(("QUEUE", queue_file.display().to_string()));
    common::python(
        r#"
import os, urllib.request
body = open(os.environ["QUEUE"], "rb").read()
req = urllib.request.Request(os.environ["AWS_ENDPOINT_URL"] + "/moto-api/static/ce/cost-and-usage-results",
                             data=body, method="POST", headers={"Content-Type": "application/json"})
assert urllib.request.urlopen(req).status in (200, 201)
"#,
        &post_env,
    );

    let reconcile = |metric: &str| -> Value {
        let (ok, out, err) = common::valdrix_env(
            &db,
            &env,
            &["reconcile", "--left", "provider=AWS", "--cost-explorer", "--metric", metric, "--format", "json"],
        );
        assert!(ok, "{err}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    };

    // Unblended against billed: the same amounts, a difference of exactly zero.
    let r = reconcile("billed");
    let usd = &r["currencies"][0];
    assert_eq!(usd["currency"], "USD", "{r}");
    assert!(!dec(&usd["left"]).is_zero());
    assert!(dec(&usd["difference"]).is_zero(), "{r}");
    assert_eq!(usd["flagged"], false);

    // Amortized against effective, one S3 day 7.50 higher in Cost Explorer: the difference is
    // exactly that, S3 tops the services and 9 October the days.
    let r = reconcile("effective");
    let usd = &r["currencies"][0];
    assert_eq!(dec(&usd["difference"]), delta, "{r}");
    let top = |dim: &str| {
        usd["contributors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["dimension"] == dim)
            .map(|c| c["value"].as_str().unwrap().to_string())
    };
    assert_eq!(top("service").as_deref(), Some("Amazon Simple Storage Service"), "{r}");
    assert_eq!(top("day").as_deref(), Some("2018-10-09"), "{r}");
    assert_eq!(top("account").as_deref(), Some(s3.2.as_str()), "{r}");

    // Metrics Cost Explorer does not have are refused with the ones it does.
    let (ok, _, err) =
        common::valdrix_env(&db, &env, &["reconcile", "--left", "provider=AWS", "--cost-explorer", "--metric", "list"]);
    assert!(!ok && err.contains("UnblendedCost"), "{err}");
}
