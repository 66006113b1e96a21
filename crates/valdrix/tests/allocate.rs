//! `valdrix allocate` on stored records: a month of a small FOCUS bill split by a rule file
//! (owners by tag, a NAT gateway 60/40, support by EC2 spend), adding up to the bill to the cent,
//! every contribution naming records the store knows.

mod common;

use common::valdrix;
use serde_json::Value;
use std::collections::BTreeSet;

/// A FOCUS bill for 2026-10-05: EC2 for teams A and B, support and S3 untagged, a NAT gateway.
fn bill(dir: &std::path::Path) -> std::path::PathBuf {
    let mut csv = String::from(
        "BillingAccountId,BillingCurrency,BillingPeriodStart,ChargePeriodStart,ChargeCategory,ServiceName,ResourceId,BilledCost,EffectiveCost,Tags\n",
    );
    for (service, resource, cost, tags) in [
        ("Amazon EC2", "i-a", "600.00", r#""{""team"":""A""}""#),
        ("Amazon EC2", "i-b", "300.00", r#""{""team"":""B""}""#),
        ("AWS Support", "", "90.00", ""),
        ("NAT Gateway", "nat-1", "4500.00", ""),
        ("Amazon S3", "bucket-x", "40.00", ""),
    ] {
        csv.push_str(&format!(
            "111122223333,USD,2026-10-01T00:00:00Z,2026-10-05T00:00:00Z,Usage,{service},{resource},{cost},{cost},{tags}\n"
        ));
    }
    let path = dir.join("bill.csv");
    std::fs::write(&path, csv).unwrap();
    path
}

const RULES: &str = r#"{"version": 1, "rules": [
  {"id": "owner", "priority": 10, "owner": ["tag:team"]},
  {"id": "nat", "priority": 20, "match": {"service": ["NAT Gateway"]}, "percentages": {"A": 60, "B": 40}},
  {"id": "support", "priority": 30, "match": {"service": ["AWS Support"]}, "proportional_to_direct": ["A", "B"]}
]}"#;

fn totals(report: &Value) -> Vec<(String, String)> {
    let mut t: Vec<(String, String)> = report["totals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let v = &r["totals"];
            let sum = ["direct_effective", "shared_effective", "redistributed_effective"]
                .iter()
                .map(|k| v[*k].as_str().unwrap().parse::<rust_decimal::Decimal>().unwrap())
                .sum::<rust_decimal::Decimal>();
            (r["target"].as_str().unwrap().to_string(), sum.normalize().to_string())
        })
        .collect();
    t.sort();
    t
}

#[test]
fn a_month_is_split_by_the_rules_to_the_cent() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.sqlite");
    let (ok, _, err) = valdrix(&db, &["ingest", "--quiet", bill(dir.path()).to_str().unwrap()]);
    assert!(ok, "{err}");
    let rules = dir.path().join("rules.json");
    std::fs::write(&rules, RULES).unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["allocate", "--rules", rules.to_str().unwrap(), "--month", "2026-10", "--format", "json"];
        args.extend_from_slice(extra);
        let (ok, out, err) = valdrix(&db, &args);
        assert!(ok, "{err}");
        serde_json::from_str::<Value>(&out).unwrap()
    };

    // A: 600 direct, 2,700 of the NAT gateway, 60 of support; B: 300, 1,800, 30; 40 unclaimed.
    let report = run(&[]);
    assert_eq!(
        totals(&report),
        [("A", "3360"), ("B", "2130"), ("Unallocated", "40")].map(|(a, b)| (a.to_string(), b.to_string()))
    );
    // Redistributed in proportion to 3,360 : 2,130, to the cent, the bucket netted out.
    let spread = run(&["--redistribute"]);
    assert_eq!(
        totals(&spread),
        [("A", "3384.48"), ("B", "2145.52"), ("Unallocated", "0")].map(|(a, b)| (a.to_string(), b.to_string()))
    );

    // Explain: every contribution to A names records the store lists.
    let explained = run(&["--explain", "A"]);
    let contributions = explained["contributions"].as_array().unwrap();
    assert_eq!(contributions.len(), 3);
    let (ok, out, _) = valdrix(&db, &["costs", "records", "--format", "json"]);
    assert!(ok);
    let stored: BTreeSet<String> = serde_json::from_str::<Value>(&out)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["record"].as_str().unwrap().to_string())
        .collect();
    for c in contributions {
        for id in c["records"].as_array().unwrap() {
            assert!(stored.contains(id.as_str().unwrap()), "{id} is not a stored record");
        }
    }
    let nat = contributions.iter().find(|c| c["rule"] == "nat").unwrap();
    assert_eq!(nat["effective"], "2700.00");
    assert!(nat["basis"].as_str().unwrap().starts_with("60% of a pool of 4500 billed"), "{nat}");

    // The table and CSV for people and programs.
    let (ok, table, err) = valdrix(&db, &["allocate", "--rules", rules.to_str().unwrap(), "--month", "2026-10"]);
    assert!(ok, "{err}");
    assert!(table.contains("Unallocated") && table.contains("3,360.00"), "{table}");
    let (ok, csv, _) =
        valdrix(&db, &["allocate", "--rules", rules.to_str().unwrap(), "--explain", "B", "--format", "csv"]);
    assert!(ok);
    assert_eq!(csv.lines().count(), 1 + 3, "{csv}");

    // The bucket: 40 of 5,530 (0.7 %), all of it S3's bucket-x.
    let (ok, csv, err) =
        valdrix(&db, &["allocate", "--rules", rules.to_str().unwrap(), "--unallocated", "--format", "csv"]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines,
        [
            "group,value,currency,effective,share_of_spend",
            "total,,USD,40,0.7%",
            "service,Amazon S3,USD,40,0.7%",
            "resource,bucket-x,USD,40,0.7%"
        ]
    );

    // A bad rule file is an error naming the file and the rule; a month with no records has
    // nothing to explain.
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"version": 1, "rules": [{"id": "nat", "percentages": {"A": 60, "B": 30}}]}"#).unwrap();
    let (ok, _, err) = valdrix(&db, &["allocate", "--rules", bad.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("bad.json: rules[0] (nat): rule nat: percentages add up to 90, not 100"), "{err}");
    let (ok, _, err) =
        valdrix(&db, &["allocate", "--rules", rules.to_str().unwrap(), "--month", "2025-01", "--explain", "A"]);
    assert!(!ok && err.contains("nothing was allocated to \"A\""), "{err}");
}
