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

const CANDIDATE_YAML: &str = "version: 1
rules:
  - id: owner
    priority: 10
    owner: [\"tag:team\"]
  - id: nat
    priority: 20
    match: {service: NAT Gateway}
    even: [A, B]
  - id: support
    priority: 30
    match: {service: AWS Support}
    proportional_to_direct: [A, B]
  - id: storage
    priority: 40
    match: {service: Amazon S3}
    fixed: {A: \"10.00\"}
    remainder: B
";

#[test]
fn stored_rule_sets_are_versioned_simulated_and_exported() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.sqlite");
    let (ok, _, err) = valdrix(&db, &["ingest", "--quiet", bill(dir.path()).to_str().unwrap()]);
    assert!(ok, "{err}");
    let path = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let rules = path("rules.json", RULES);
    let candidate = path("candidate.yaml", CANDIDATE_YAML);

    // Nothing stored yet: the run says how to store some.
    let (ok, _, err) = valdrix(&db, &["allocate", "--month", "2026-10"]);
    assert!(!ok && err.contains("no allocation rules stored") && err.contains("allocate rules import"), "{err}");

    // Import: v1; the same rules again save nothing; a bad file saves nothing either.
    let (ok, out, err) = valdrix(&db, &["allocate", "rules", "import", &rules, "--actor", "ana", "--note", "first"]);
    assert!(ok && out.contains("as rule set v1"), "{out}{err}");
    let (ok, out, _) = valdrix(&db, &["allocate", "rules", "import", &rules, "--actor", "bo"]);
    assert!(ok && out.contains("nothing saved"), "{out}");
    let bad = path("bad.yaml", "version: 1\nrules:\n  - id: nat\n    percentages: {A: 60, B: 30}\n");
    let (ok, _, err) = valdrix(&db, &["allocate", "rules", "import", &bad]);
    assert!(!ok && err.contains("bad.yaml: rules[0] (nat): rule nat: percentages add up to 90, not 100"), "{err}");

    // The stored set runs as the file did.
    let (ok, out, err) = valdrix(&db, &["allocate", "--month", "2026-10", "--format", "json"]);
    assert!(ok, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["rules"], "rule set v1");
    assert_eq!(
        totals(&report),
        [("A", "3360"), ("B", "2130"), ("Unallocated", "40")].map(|(a, b)| (a.to_string(), b.to_string()))
    );

    // Simulate the candidate: NAT evenly (A -450, B +450), S3 10 / 30; the bucket empties.
    let (ok, csv, err) =
        valdrix(&db, &["allocate", "simulate", "--candidate", &candidate, "--month", "2026-10", "--format", "csv"]);
    assert!(ok, "{err}");
    let rows: Vec<Vec<&str>> = csv.lines().skip(1).map(|l| l.split(',').collect()).collect();
    let diff = |who: &str| rows.iter().find(|r| r[0] == who).map(|r| r[4].to_string()).unwrap();
    assert_eq!((diff("A"), diff("B"), diff("Unallocated")), ("-440".into(), "480".into(), "-40".into()), "{csv}");

    // v2 from YAML; history says who changed what; export gives back each version.
    let (ok, out, err) =
        valdrix(&db, &["allocate", "rules", "import", &candidate, "--actor", "bo", "--note", "even NAT"]);
    assert!(ok && out.contains("v2") && out.contains("added: storage; changed: nat"), "{out}{err}");
    let (ok, out, _) = valdrix(&db, &["allocate", "rules", "history", "--format", "csv"]);
    assert!(ok);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[1].starts_with("v2,") && lines[1].ends_with(",bo,4,storage,nat,,even NAT"), "{out}");
    assert!(lines[2].starts_with("v1,") && lines[2].ends_with(",ana,3,nat owner support,,,first"), "{out}");
    let (ok, v1, _) = valdrix(&db, &["allocate", "rules", "export", "--rules-version", "1", "--format", "json"]);
    assert!(ok);
    let exported = path("v1.json", &v1);
    let (ok, out, _) = valdrix(&db, &["allocate", "--rules", &exported, "--month", "2026-10", "--format", "json"]);
    assert!(ok);
    assert_eq!(totals(&serde_json::from_str(&out).unwrap()), totals(&report));
    let (ok, yaml, _) = valdrix(&db, &["allocate", "rules", "export"]);
    assert!(ok && yaml.starts_with("version: 1\nrules:\n"), "{yaml}");
    let (ok, out, _) = valdrix(&db, &["allocate", "--rules-version", "1", "--month", "2026-10", "--format", "json"]);
    assert!(ok);
    assert_eq!(totals(&serde_json::from_str(&out).unwrap()), totals(&report));

    // The chargeback statement (current rules, v2), redistributed: per month and target, its
    // totals add up to the bill exactly, and it names the rules.
    let out_file = dir.path().join("chargeback.csv");
    let (ok, _, err) = valdrix(
        &db,
        &["allocate", "export", "--month", "2026-10", "--redistribute", "--out", out_file.to_str().unwrap()],
    );
    assert!(ok, "{err}");
    let csv = std::fs::read_to_string(&out_file).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "period,target,currency,direct_billed,shared_billed,redistributed_billed,total_billed,direct_effective,shared_effective,redistributed_effective,total_effective,rules"
    );
    let mut sum = rust_decimal::Decimal::ZERO;
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        assert_eq!((f[0], f[2], f[11]), ("2026-10", "USD", "rule set v2"), "{l}");
        sum += f[6].parse::<rust_decimal::Decimal>().unwrap();
    }
    assert_eq!(sum, "5530".parse().unwrap(), "{csv}");
}

/// The demo ships a rule set, stored as version 1: October splits into the six teams (each with
/// direct and shared costs), finance's remainder of the BI project, and an Unallocated bucket of
/// the untagged spend, adding up to October's bill exactly.
#[test]
fn the_demo_allocates_its_month_by_team() {
    let dir = tempfile::tempdir().unwrap();
    // The demo's own store: the SQLite file, or in the PostgreSQL pass a throwaway database.
    let db = dir.path().join("valdrix-demo.sqlite");
    let (ok, stdout, err) = valdrix(&db, &["demo", "--no-serve", "--dir", dir.path().to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(stdout.contains("October by team (rule set v1"), "{stdout}");
    let (ok, out, err) = valdrix(&db, &["allocate", "--month", "2026-10", "--format", "json"]);
    assert!(ok, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let dec = |v: &Value| v.as_str().unwrap().parse::<rust_decimal::Decimal>().unwrap();
    let mut sum = rust_decimal::Decimal::ZERO;
    let mut teams = BTreeSet::new();
    for t in report["totals"].as_array().unwrap() {
        let v = &t["totals"];
        let target = t["target"].as_str().unwrap();
        sum += dec(&v["direct_effective"]) + dec(&v["shared_effective"]) + dec(&v["redistributed_effective"]);
        if dec(&v["direct_effective"]) > rust_decimal::Decimal::ZERO
            && dec(&v["shared_effective"]) > rust_decimal::Decimal::ZERO
        {
            teams.insert(target.to_string());
        }
        if target == "Unallocated" {
            assert!(dec(&v["direct_effective"]) > rust_decimal::Decimal::from(1000), "{t}");
        }
    }
    assert_eq!(teams.len(), 6, "{teams:?}");
    let (ok, out, _) = valdrix(
        &db,
        &["costs", "--from", "2026-10-01", "--to", "2026-11-01", "--metric", "effective", "--format", "json"],
    );
    assert!(ok);
    let bill: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(sum, dec(&bill[0]["effective_cost"]), "{bill}");
}
