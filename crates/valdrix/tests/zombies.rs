//! `valdrix zombies scan` against a fake AWS account in moto (tests/fixtures/zombie_account.py)
//! and against local fakes of the Azure and GCP APIs (tests/fixtures/fake_cloud.py): a zombie of
//! every rule beside near-miss decoys. Each rule must find exactly its zombies: precision and
//! recall 1.0, rule by rule.

mod common;

use common::{python_bin, repo_root, start_moto, valdrix_env, Server};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use valdrix_zombies::Cloud;

/// Per rule, the ids of a JSON list of ids.
fn ids_by_rule(v: &Value) -> BTreeMap<String, BTreeSet<String>> {
    v.as_object()
        .expect("expected")
        .iter()
        .map(|(rule, ids)| {
            let ids = ids.as_array().expect("ids").iter().map(|i| i.as_str().expect("id").to_string()).collect();
            (rule.clone(), ids)
        })
        .collect()
}

/// Asserts that each rule of `cloud` found exactly what it should (precision and recall 1.0)
/// and that no decoy was found; prints each rule's precision and recall.
fn assert_exact(report: &Value, cloud: Cloud, expected: &BTreeMap<String, BTreeSet<String>>, decoys: &[String]) {
    let findings = report["findings"].as_array().expect("findings");
    let mut found: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in findings {
        for key in ["rule", "resource_id", "resource_type", "region", "reason", "monthly_cost", "cost_source"] {
            assert!(f.get(key).is_some(), "finding without {key}: {f}");
        }
        found.entry(f["rule"].as_str().unwrap().into()).or_default().insert(f["resource_id"].as_str().unwrap().into());
    }
    let rules: Vec<String> = valdrix_zombies::rules::all()
        .iter()
        .filter(|r| r.kind().cloud() == cloud)
        .map(|r| r.id().to_string())
        .collect();
    assert!(!rules.is_empty());
    let mut summary = Vec::new();
    for rule in &rules {
        let want = expected.get(rule).cloned().unwrap_or_default();
        let got = found.get(rule).cloned().unwrap_or_default();
        assert!(!want.is_empty(), "the fixture has no zombie for {rule}");
        let hits = want.intersection(&got).count() as f64;
        let (precision, recall) = (hits / got.len().max(1) as f64, hits / want.len() as f64);
        summary.push(format!("{rule}: precision {precision:.2} recall {recall:.2}"));
        assert_eq!(got, want, "{rule}: found {got:?}, expected {want:?}");
    }
    assert!(found.keys().all(|r| rules.contains(r)), "a rule of another cloud ran: {:?}", found.keys());
    println!("{}", summary.join("\n"));
    for d in decoys {
        assert!(!findings.iter().any(|f| f["resource_id"] == d.as_str()), "decoy {d} was found");
    }
}

/// What the fixture built.
struct Account {
    /// The evaluation time.
    at: String,
    /// Per rule, the ids a scan must find.
    expected: BTreeMap<String, BTreeSet<String>>,
    /// Resources no rule may find.
    decoys: Vec<String>,
    /// Per rule, one zombie in the home region (us-east-1).
    home: BTreeMap<String, String>,
}

/// Builds the account in moto.
fn build_account(env: &[(&str, String)]) -> Account {
    let out = std::process::Command::new(python_bin())
        .arg(repo_root().join("tests/fixtures/zombie_account.py"))
        .envs(env.iter().map(|(k, v)| (*k, v)))
        .output()
        .expect("run the fixture");
    assert!(out.status.success(), "fixture failed: {}", String::from_utf8_lossy(&out.stderr));
    let truth: Value = serde_json::from_slice(&out.stdout).expect("fixture JSON");
    let expected = ids_by_rule(&truth["expected"]);
    let decoys = truth["decoys"].as_array().expect("decoys").iter().map(|d| d.as_str().unwrap().to_string()).collect();
    let home = truth["home"]
        .as_object()
        .expect("home")
        .iter()
        .map(|(rule, id)| (rule.clone(), id.as_str().expect("id").to_string()))
        .collect();
    Account { at: truth["at"].as_str().expect("at").to_string(), expected, decoys, home }
}

/// A FOCUS bill with 30 days of a volume's storage at 0.25 a day, ending the day before `at`.
fn volume_bill(dir: &std::path::Path, at: &str, volume: &str) -> std::path::PathBuf {
    let id = format!("arn:aws:ec2:us-east-1:123456789012:volume/{volume}");
    resource_bill(dir, at, "123456789012", "Amazon Elastic Block Store", &id)
}

/// A FOCUS bill with 30 days of one resource at 0.25 a day, ending the day before `at`.
fn resource_bill(dir: &std::path::Path, at: &str, account: &str, service: &str, id: &str) -> std::path::PathBuf {
    let at = chrono::DateTime::parse_from_rfc3339(at).unwrap().date_naive();
    let mut csv = String::from(
        "BillingAccountId,BillingCurrency,BillingPeriodStart,ChargePeriodStart,ChargeCategory,ServiceName,ResourceId,BilledCost,EffectiveCost\n",
    );
    for back in 1..=30 {
        let day = at - chrono::Days::new(back);
        let period = day.format("%Y-%m-01");
        csv.push_str(&format!("{account},USD,{period}T00:00:00Z,{day}T00:00:00Z,Usage,{service},{id},0.30,0.25\n"));
    }
    let path = dir.join("bill.csv");
    std::fs::write(&path, csv).unwrap();
    path
}

#[test]
fn finds_every_zombie_and_no_decoy_in_moto() {
    let dir = tempfile::tempdir().unwrap();
    let (_moto, env) = start_moto();
    let Account { at, expected, decoys, home } = build_account(&env);
    let db = dir.path().join("zombies.sqlite");

    // The unattached volume of the home region is in the bill: its cost comes from there.
    let volume = home["aws.ebs.unattached"].clone();
    let bill = volume_bill(dir.path(), &at, &volume);
    let (ok, _, err) = valdrix_env(&db, &env, &["ingest", "--quiet", bill.to_str().unwrap()]);
    assert!(ok, "{err}");

    let args = ["zombies", "scan", "--region", "us-east-1", "--region", "us-west-2", "--at", &at, "--format", "json"];
    let (ok, out, err) = valdrix_env(&db, &env, &args);
    assert!(ok, "scan failed: {err}");
    let report: Value = serde_json::from_str(&out).expect("report JSON");

    // Every region and rule finished.
    for part in ["regions", "rules"] {
        for r in report[part].as_array().unwrap() {
            assert_eq!(r["status"], "ok", "{part}: {r}");
        }
    }
    assert_exact(&report, Cloud::Aws, &expected, &decoys);
    let findings = report["findings"].as_array().unwrap();

    // Prices: the billed volume from the bill (0.25 a day over 30 billed days, scaled to 30.4375
    // days), the Elastic IP from the shipped table, labelled an estimate.
    let by = |rule: &str, id: &str| {
        findings.iter().find(|f| f["rule"] == rule && f["resource_id"] == id).unwrap_or_else(|| panic!("{rule} {id}"))
    };
    let billed = by("aws.ebs.unattached", &volume);
    assert_eq!(billed["cost_source"], "bill", "{billed}");
    assert_eq!(billed["monthly_cost"], "7.61", "{billed}");
    assert_eq!(billed["monthly_savings"], "7.61", "{billed}");
    let eip = by("aws.ec2.eip-unassociated", &home["aws.ec2.eip-unassociated"]);
    assert_eq!(eip["cost_source"], "estimate", "{eip}");
    assert_eq!(eip["monthly_cost"], "3.65", "{eip}");
    assert!(eip["cost_basis"].as_str().unwrap().starts_with("estimate:"), "{eip}");
    // Forgotten upload parts are priced as S3 Standard storage, never from the bucket's bill.
    let bucket = by("aws.s3.incomplete-uploads", &home["aws.s3.incomplete-uploads"]);
    assert_eq!(bucket["cost_source"], "estimate", "{bucket}");
    assert!(bucket["cost_basis"].as_str().unwrap().contains("S3 Standard storage"), "{bucket}");
    assert!(bucket["reason"].as_str().unwrap().contains("holding 1 MiB"), "{bucket}");

    // The table names the findings and the savings; CSV has a row per finding.
    let (ok, table, err) = valdrix_env(&db, &env, &["zombies", "scan", "--region", "us-east-1", "--at", &at]);
    assert!(ok, "{err}");
    assert!(table.contains("aws.ec2.idle") && table.contains("monthly savings"), "{table}");
    let (ok, csv, err) =
        valdrix_env(&db, &env, &["zombies", "scan", "--region", "us-west-2", "--at", &at, "--format", "csv"]);
    assert!(ok, "{err}");
    let west = findings.iter().filter(|f| f["region"] == "us-west-2").count();
    assert!(west >= 3, "{west} findings in us-west-2");
    let buckets: Vec<(&str, &str)> = findings
        .iter()
        .filter(|f| f["rule"] == "aws.s3.incomplete-uploads")
        .map(|f| (f["resource_id"].as_str().unwrap(), f["region"].as_str().unwrap()))
        .collect();
    assert_eq!(buckets, [("forgotten-uploads-us-east-1", "us-east-1"), ("forgotten-uploads-west", "us-west-2")]);
    assert_eq!(csv.lines().count(), 1 + west, "{csv}");

    // A policy that raises the idle threshold's peak and excludes a tag changes what is found;
    // an unknown rule in it is an error naming the file.
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "[rules.\"aws.ec2.idle\"]\nenabled = false\n").unwrap();
    let (ok, out, err) = valdrix_env(
        &db,
        &env,
        &["zombies", "scan", "--at", &at, "--policy", policy.to_str().unwrap(), "--format", "json"],
    );
    assert!(ok, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert!(report["findings"].as_array().unwrap().iter().all(|f| f["rule"] != "aws.ec2.idle"));
    std::fs::write(&policy, "[rules.\"aws.ec2.nope\"]\nenabled = false\n").unwrap();
    let (ok, _, err) = valdrix_env(&db, &env, &["zombies", "scan", "--at", &at, "--policy", policy.to_str().unwrap()]);
    assert!(!ok && err.contains("policy.toml") && err.contains("aws.ec2.nope"), "{err}");

    // Every scan that ran was recorded: the findings are open, none resolved so far.
    let list = |status: &str| -> Vec<Value> {
        let (ok, out, err) = valdrix_env(&db, &env, &["zombies", "list", "--status", status, "--format", "json"]);
        assert!(ok, "{err}");
        serde_json::from_str(&out).unwrap()
    };
    assert_eq!(list("open").len(), findings.len());
    assert!(list("resolved").is_empty());
    let (ok, scans, err) = valdrix_env(&db, &env, &["zombies", "scans", "--format", "csv"]);
    assert!(ok, "{err}");
    assert_eq!(scans.lines().count(), 1 + 4, "{scans}");

    // The Elastic IP of us-west-2 is released: the next scan of that region resolves its
    // finding; the volume there is marked ignored and stays so.
    let west = |rule: &str| {
        findings
            .iter()
            .find(|f| f["rule"] == rule && f["region"] == "us-west-2")
            .map(|f| f["resource_id"].as_str().unwrap().to_string())
            .unwrap()
    };
    let (eip, vol) = (west("aws.ec2.eip-unassociated"), west("aws.ebs.unattached"));
    let mut release_env = env.clone();
    release_env.push(("EIP", eip.clone()));
    common::python(
        "import boto3, os\nboto3.client('ec2', region_name='us-west-2').release_address(AllocationId=os.environ['EIP'])",
        &release_env,
    );
    let (ok, out, err) = valdrix_env(
        &db,
        &env,
        &[
            "zombies",
            "ignore",
            "--rule",
            "aws.ebs.unattached",
            "--resource",
            &vol,
            "--region",
            "us-west-2",
            "--reason",
            "legal hold",
        ],
    );
    assert!(ok && out.contains("ignored"), "{out}{err}");
    let (ok, _, err) =
        valdrix_env(&db, &env, &["zombies", "scan", "--region", "us-west-2", "--at", &at, "--format", "json"]);
    assert!(ok, "{err}");
    // The bucket of forgotten uploads is still there; the address is gone; the volume ignored.
    assert!(err.contains("0 new, 1 still present, 1 resolved, 1 ignored"), "{err}");
    let resolved = list("resolved");
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0]["resource_id"], eip.as_str());
    let ignored = list("ignored");
    assert_eq!(ignored.len(), 1);
    assert_eq!(
        (ignored[0]["resource_id"].as_str(), ignored[0]["ignore_reason"].as_str()),
        (Some(vol.as_str()), Some("legal hold"))
    );
}

#[test]
fn an_unreachable_endpoint_is_an_error_not_an_empty_scan() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let mut env = common::aws_env(port);
    env.push(("AWS_MAX_ATTEMPTS", "1".to_string()));
    let db = dir.path().join("z.sqlite");
    let (ok, out, err) = valdrix_env(&db, &env, &["zombies", "scan", "--format", "json"]);
    assert!(!ok, "{out}");
    assert!(err.contains("connecting to AWS") && err.contains("GetCallerIdentity"), "{err}");
}

/// Whether a volume and an address exist, and how many snapshots were taken of the volume.
fn account_state(env: &[(&str, String)], volume: &str, eip: &str) -> (bool, bool, usize) {
    let out = std::process::Command::new(python_bin())
        .arg("-c")
        .arg(
            "import boto3, sys\n\
             e = boto3.client('ec2', region_name='us-east-1')\n\
             v = e.describe_volumes(Filters=[{'Name': 'volume-id', 'Values': [sys.argv[1]]}])['Volumes']\n\
             a = [x for x in e.describe_addresses()['Addresses'] if x.get('AllocationId') == sys.argv[2]]\n\
             s = [x for x in e.describe_snapshots(OwnerIds=['self'])['Snapshots'] if x.get('VolumeId') == sys.argv[1]\n\
                  and x['State'] == 'completed' and {'Key': 'valdrix:volume', 'Value': sys.argv[1]} in x.get('Tags', [])]\n\
             print(len(v), len(a), len(s))",
        )
        .args([volume, eip])
        .envs(env.iter().map(|(k, v)| (*k, v)))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let n: Vec<usize> = text.split_whitespace().map(|t| t.parse().unwrap()).collect();
    (n[0] == 1, n[1] == 1, n[2])
}

#[test]
fn remediation_is_planned_approved_then_executed_in_moto() {
    let dir = tempfile::tempdir().unwrap();
    let (_moto, env) = start_moto();
    let Account { at, home, .. } = build_account(&env);
    let db = dir.path().join("remediate.sqlite");
    let run = |args: &[&str]| valdrix_env(&db, &env, args);
    let (ok, _, err) = run(&["zombies", "scan", "--region", "us-east-1", "--at", &at, "--format", "json"]);
    assert!(ok, "{err}");
    let (volume, eip) = (home["aws.ebs.unattached"].clone(), home["aws.ec2.eip-unassociated"].clone());

    let rules = ["--rule", "aws.ebs.unattached", "--rule", "aws.ec2.eip-unassociated"];
    let (ok, out, err) = run(&[&["zombies", "remediate", "plan", "--actor", "pat"][..], &rules[..]].concat());
    assert!(ok, "{err}");
    assert!(
        out.contains("plan 1") && out.contains(&volume) && out.contains(&eip) && out.contains("Nothing was changed"),
        "{out}"
    );

    // Not approved: executing it is refused and changes nothing.
    let (ok, _, err) = run(&["zombies", "remediate", "execute", "1", "--apply"]);
    assert!(!ok && err.contains("not approved: nothing was changed"), "{err}");
    assert_eq!(account_state(&env, &volume, &eip), (true, true, 0));
    // Its author cannot approve it; someone else can.
    let (ok, _, err) = run(&["zombies", "remediate", "approve", "1", "--actor", "pat"]);
    assert!(!ok && err.contains("author"), "{err}");
    let (ok, out, err) = run(&["zombies", "remediate", "approve", "1", "--actor", "alice"]);
    assert!(ok && out.contains("approved by cli:alice"), "{out}{err}");

    // A dry run asks AWS (DryRun) and changes nothing.
    let (ok, out, err) = run(&["zombies", "remediate", "execute", "1"]);
    assert!(ok, "{err}");
    assert!(out.contains("every step would succeed"), "{out}");
    assert_eq!(account_state(&env, &volume, &eip), (true, true, 0));

    // Applied: the volume is deleted after its snapshot completed; the address is released.
    let (ok, out, err) = run(&["zombies", "remediate", "execute", "1", "--apply", "--actor", "ops"]);
    assert!(ok, "{out}{err}");
    assert_eq!(account_state(&env, &volume, &eip), (false, false, 1));
    let (ok, out, _) = run(&["zombies", "remediate", "show", "1", "--format", "json"]);
    assert!(ok);
    let shown: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown["plan"]["state"], "executed");
    assert!(shown["plan"]["steps"].as_array().unwrap().iter().all(|s| s["state"] == "done"), "{shown}");
    let events: Vec<&str> = shown["log"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(
        events,
        [
            "planned", "refused", "refused", "approved", "dry-run", "dry-run", "dry-run", "started", "done", "started",
            "done", "executed"
        ],
        "{shown}"
    );
    // Executed once: a second execution is refused.
    let (ok, _, err) = run(&["zombies", "remediate", "execute", "1", "--apply"]);
    assert!(!ok && err.contains("executed, not approved"), "{err}");

    // The next scan resolves both findings.
    let (ok, _, err) = run(&["zombies", "scan", "--region", "us-east-1", "--at", &at, "--format", "json"]);
    assert!(ok, "{err}");
    assert!(err.contains(" 2 resolved"), "{err}");
}

/// A fake cloud API (tests/fixtures/fake_cloud.py) and the ground truth it printed.
fn start_fake(cloud: &str) -> (Server, Value) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(python_bin())
        .arg(repo_root().join("tests/fixtures/fake_cloud.py"))
        .arg(cloud)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the fake");
    let stdout = child.stdout.take().expect("stdout");
    let server = Server(child);
    let mut line = String::new();
    std::io::BufReader::new(stdout).read_line(&mut line).expect("the fake's first line");
    let truth: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("the fake printed {line:?}: {e}"));
    (server, truth)
}

/// What the fake served.
fn fake_stats(port: u64) -> Value {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port as u16)).unwrap();
    write!(s, "GET /_fake/stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let body = answer.split("\r\n\r\n").nth(1).expect("a body");
    serde_json::from_str(body).expect("stats JSON")
}

fn regions_of(report: &Value) -> Vec<String> {
    report["regions"].as_array().unwrap().iter().map(|r| r["region"].as_str().unwrap().to_string()).collect()
}

fn all_ok(report: &Value) {
    for part in ["regions", "rules"] {
        for r in report[part].as_array().unwrap() {
            assert_eq!(r["status"], "ok", "{part}: {r}");
        }
    }
}

fn finding<'a>(report: &'a Value, rule: &str, id: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == rule && f["resource_id"] == id)
        .unwrap_or_else(|| panic!("no {rule} finding for {id}"))
}

#[test]
fn finds_every_azure_zombie_and_no_decoy_in_the_fake_resource_manager() {
    let dir = tempfile::tempdir().unwrap();
    let (_fake, truth) = start_fake("azure");
    let port = truth["port"].as_u64().unwrap();
    let at = truth["at"].as_str().unwrap().to_string();
    let subscription = truth["account"].as_str().unwrap().to_string();
    let base = format!("http://127.0.0.1:{port}");
    let env = vec![
        ("AZURE_TENANT_ID", truth["tenant"].as_str().unwrap().to_string()),
        ("AZURE_CLIENT_ID", truth["client_id"].as_str().unwrap().to_string()),
        ("AZURE_CLIENT_SECRET", truth["client_secret"].as_str().unwrap().to_string()),
        ("AZURE_AUTHORITY_HOST", base.clone()),
        ("AZURE_SUBSCRIPTION_ID", subscription.clone()),
        ("VALDRIX_AZURE_ENDPOINT", base.clone()),
    ];
    let expected = ids_by_rule(&truth["expected"]);
    let decoys: Vec<String> =
        truth["decoys"].as_array().unwrap().iter().map(|d| d.as_str().unwrap().to_string()).collect();
    let db = dir.path().join("zombies.sqlite");

    // Cost exports write ARM ids in lower case: the disk is still priced from its bill lines.
    let disk = expected["azure.disk.unattached"].iter().find(|d| d.ends_with("data-detached-20d")).unwrap().clone();
    let bill = resource_bill(dir.path(), &at, &subscription, "Storage", &disk.to_ascii_lowercase());
    let (ok, _, err) = valdrix_env(&db, &env, &["ingest", "--quiet", bill.to_str().unwrap()]);
    assert!(ok, "{err}");

    // No region named: every location holding resources.
    let (ok, out, err) =
        valdrix_env(&db, &env, &["zombies", "scan", "--provider", "azure", "--at", &at, "--format", "json"]);
    assert!(ok, "scan failed: {err}");
    let report: Value = serde_json::from_str(&out).expect("report JSON");
    assert_eq!(report["cloud"], "azure");
    assert_eq!(report["account"], subscription.as_str());
    assert_eq!(regions_of(&report), ["eastus", "westeurope"]);
    all_ok(&report);
    assert_exact(&report, Cloud::Azure, &expected, &decoys);

    // Prices: the disk from the bill (0.25 a day scaled to 30.4375 days), a public IP from the
    // shipped table, labelled an estimate; an orphaned NIC costs nothing and says why.
    let billed = finding(&report, "azure.disk.unattached", &disk);
    assert_eq!(
        (billed["cost_source"].as_str(), billed["monthly_cost"].as_str()),
        (Some("bill"), Some("7.61")),
        "{billed}"
    );
    let pip = expected["azure.network.public-ip-unassociated"].iter().next().unwrap();
    let pip = finding(&report, "azure.network.public-ip-unassociated", pip);
    assert_eq!((pip["cost_source"].as_str(), pip["monthly_cost"].as_str()), (Some("estimate"), Some("3.65")), "{pip}");
    let nic = expected["azure.network.nic-orphaned"].iter().find(|n| n.ends_with("nic-orphaned")).unwrap();
    let nic = finding(&report, "azure.network.nic-orphaned", nic);
    assert_eq!(nic["monthly_cost"], "0.00");
    assert!(nic["reason"].as_str().unwrap().contains("holds 1 public IP"), "{nic}");
    assert!(nic["cost_basis"].as_str().unwrap().contains("not billed"), "{nic}");
    let snap = expected["azure.snapshot.old"].iter().find(|s| s.ends_with("snap-of-deleted-disk")).unwrap();
    assert!(finding(&report, "azure.snapshot.old", snap)["reason"].as_str().unwrap().contains("no longer exists"));

    // Every list was paged, a throttled call was retried, and every call carried the token.
    let stats = fake_stats(port);
    assert!(stats["pages"].as_u64().unwrap() > 5, "{stats}");
    assert!(stats["throttled"].as_u64().unwrap() >= 1, "{stats}");
    assert_eq!(stats["unauthorized"], 0, "{stats}");

    // One location only.
    let args = [
        "zombies",
        "scan",
        "--provider",
        "azure",
        "--region",
        "westeurope",
        "--at",
        &at,
        "--format",
        "json",
        "--no-record",
    ];
    let (ok, out, err) = valdrix_env(&db, &env, &args);
    assert!(ok, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(regions_of(&report), ["westeurope"]);
    assert!(report["findings"].as_array().unwrap().iter().all(|f| f["region"] == "westeurope"));
    assert_eq!(report["findings"].as_array().unwrap().len(), 5);

    // A wrong secret is an error naming the credentials, not an empty scan.
    let mut bad = env.clone();
    bad.retain(|(k, _)| *k != "AZURE_CLIENT_SECRET");
    bad.push(("AZURE_CLIENT_SECRET", "wrong".into()));
    let (ok, out, err) = valdrix_env(&db, &bad, &["zombies", "scan", "--provider", "azure", "--at", &at]);
    assert!(!ok, "a scan with a wrong secret succeeded: {out}");
    assert!(err.contains("invalid_client") && err.contains("client secret of app valdrix-scanner"), "{err}");

    // The findings joined the tenant's history.
    let (ok, out, err) = valdrix_env(&db, &env, &["zombies", "list", "--format", "csv"]);
    assert!(ok, "{err}");
    assert_eq!(out.lines().filter(|l| l.contains("azure.")).count(), 11, "{out}");
}

#[test]
fn finds_every_gcp_zombie_and_no_decoy_in_the_fake_compute_engine() {
    let dir = tempfile::tempdir().unwrap();
    let (_fake, truth) = start_fake("gcp");
    let port = truth["port"].as_u64().unwrap();
    let at = truth["at"].as_str().unwrap().to_string();
    let project = truth["account"].as_str().unwrap().to_string();
    let base = format!("http://127.0.0.1:{port}");
    // The user credentials `gcloud auth application-default login` writes, pointed at the fake.
    let key = dir.path().join("adc.json");
    let refresh = truth["refresh_token"].as_str().unwrap();
    std::fs::write(
        &key,
        format!(
            r#"{{"type":"authorized_user","client_id":"c","client_secret":"s","refresh_token":"{refresh}","token_uri":"{base}/token"}}"#
        ),
    )
    .unwrap();
    let env =
        vec![("GOOGLE_APPLICATION_CREDENTIALS", key.display().to_string()), ("VALDRIX_GCP_ENDPOINT", base.clone())];
    let expected = ids_by_rule(&truth["expected"]);
    let decoys: Vec<String> =
        truth["decoys"].as_array().unwrap().iter().map(|d| d.as_str().unwrap().to_string()).collect();
    let db = dir.path().join("zombies.sqlite");

    // Billing exports name the disk by its global name.
    let disk = expected["gcp.disk.unattached"].iter().find(|d| d.ends_with("data-detached-10d")).unwrap().clone();
    let global = format!("//compute.googleapis.com/{disk}");
    let bill = resource_bill(dir.path(), &at, &project, "Compute Engine", &global);
    let (ok, _, err) = valdrix_env(&db, &env, &["ingest", "--quiet", bill.to_str().unwrap()]);
    assert!(ok, "{err}");

    let args = ["zombies", "scan", "--provider", "gcp", "--project", &project, "--at", &at, "--format", "json"];
    let (ok, out, err) = valdrix_env(&db, &env, &args);
    assert!(ok, "scan failed: {err}");
    let report: Value = serde_json::from_str(&out).expect("report JSON");
    assert_eq!(report["cloud"], "gcp");
    assert_eq!(regions_of(&report), ["europe-west1", "global", "us-central1"]);
    all_ok(&report);
    assert_exact(&report, Cloud::Gcp, &expected, &decoys);

    let billed = finding(&report, "gcp.disk.unattached", &disk);
    assert_eq!(
        (billed["cost_source"].as_str(), billed["monthly_cost"].as_str()),
        (Some("bill"), Some("7.61")),
        "{billed}"
    );
    let address = expected["gcp.address.unused"].iter().find(|a| a.contains("/global/")).unwrap();
    let address = finding(&report, "gcp.address.unused", address);
    assert_eq!((address["cost_source"].as_str(), address["monthly_cost"].as_str()), (Some("estimate"), Some("7.30")));
    // A stopped instance costs what its disks cost: a 20 GiB pd-balanced boot disk.
    let stopped = expected["gcp.instance.stopped"].iter().next().unwrap();
    let stopped = finding(&report, "gcp.instance.stopped", stopped);
    assert_eq!(stopped["monthly_cost"], "2.00", "{stopped}");
    // Utilization is judged in percent, as the policy states it.
    let idle = expected["gcp.instance.idle"].iter().next().unwrap();
    let reason = finding(&report, "gcp.instance.idle", idle)["reason"].as_str().unwrap().to_string();
    assert!(reason.contains("below 2 on each of the last 14 days"), "{reason}");

    let stats = fake_stats(port);
    assert!(stats["pages"].as_u64().unwrap() > 5, "{stats}");
    assert!(stats["throttled"].as_u64().unwrap() >= 2, "{stats}");
    assert_eq!(stats["unauthorized"], 0, "{stats}");

    // A policy turns a rule off and raises another's threshold.
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        "[rules.\"gcp.snapshot.old\"]\nenabled = false\n[rules.\"gcp.instance.idle\"]\nthreshold = 5.0\npeak = 100.0\n",
    )
    .unwrap();
    let args = [
        "zombies",
        "scan",
        "--provider",
        "gcp",
        "--project",
        &project,
        "--at",
        &at,
        "--format",
        "json",
        "--no-record",
        "--policy",
        policy.to_str().unwrap(),
    ];
    let (ok, out, err) = valdrix_env(&db, &env, &args);
    assert!(ok, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let findings = report["findings"].as_array().unwrap();
    assert!(!findings.iter().any(|f| f["rule"] == "gcp.snapshot.old"));
    // At 5 % with no peak bound, the nightly batch (a 4.6 % day) is idle too.
    let idle: BTreeSet<&str> = findings
        .iter()
        .filter(|f| f["rule"] == "gcp.instance.idle")
        .map(|f| f["resource_id"].as_str().unwrap())
        .collect();
    assert!(idle.iter().any(|i| i.ends_with("vm-nightly-batch")), "{idle:?}");

    // A refresh token the issuer refuses is an error, not an empty scan.
    std::fs::write(
        &key,
        format!(r#"{{"type":"authorized_user","client_id":"c","client_secret":"s","refresh_token":"revoked","token_uri":"{base}/token"}}"#),
    )
    .unwrap();
    let (ok, _, err) =
        valdrix_env(&db, &env, &["zombies", "scan", "--provider", "gcp", "--project", &project, "--at", &at]);
    assert!(!ok);
    assert!(err.contains("invalid_grant"), "{err}");
}

#[test]
fn an_aws_config_snapshot_is_scanned_offline() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("zombies.sqlite");
    let item = |id: &str, kind: &str, captured: &str, config: Value| {
        serde_json::json!({"configurationItemCaptureTime": captured, "configurationItemStatus": "OK",
            "resourceType": kind, "resourceId": id, "awsRegion": "eu-west-1", "awsAccountId": "123456789012",
            "resourceCreationTime": "2026-01-01T00:00:00Z", "tags": {}, "configuration": config})
    };
    let snapshot = serde_json::json!({"fileVersion": "1.0", "configurationItems": [
        item("vol-1", "AWS::EC2::Volume", "2026-05-01T00:00:00Z", serde_json::json!({"size": 10, "volumeType": "gp3", "state": "available"})),
        item("vol-2", "AWS::EC2::Volume", "2026-06-14T00:00:00Z", serde_json::json!({"size": 10, "volumeType": "gp3", "state": "available"})),
        item("eipalloc-1", "AWS::EC2::EIP", "2026-05-01T00:00:00Z", serde_json::json!({"allocationId": "eipalloc-1", "publicIp": "198.51.100.7"})),
    ]});
    let file = dir.path().join("config-snapshot.json");
    std::fs::write(&file, snapshot.to_string()).unwrap();
    let args =
        ["zombies", "scan", "--inventory", file.to_str().unwrap(), "--at", "2026-06-15T12:00:00Z", "--format", "json"];
    let (ok, out, err) = common::valdrix(&db, &args);
    assert!(ok, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["account"], "123456789012");
    assert_eq!(regions_of(&report), ["eu-west-1"]);
    let found: BTreeSet<(&str, &str)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["rule"].as_str().unwrap(), f["resource_id"].as_str().unwrap()))
        .collect();
    // The volume detached yesterday (by its capture time) is no finding.
    assert_eq!(found, [("aws.ebs.unattached", "vol-1"), ("aws.ec2.eip-unassociated", "eipalloc-1")].into());
    assert!(err.contains("recorded scan"), "{err}");

    // A file that is not a snapshot is an error naming it; nothing is recorded.
    let bad = dir.path().join("not-a-snapshot.json");
    std::fs::write(&bad, "{\"configurationItems\": [{\"resourceType\": \"AWS::EC2::Volume\"}]}").unwrap();
    let (ok, _, err) = common::valdrix(&db, &["zombies", "scan", "--inventory", bad.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("not-a-snapshot.json") && err.contains("configurationItems[0]"), "{err}");
    let (ok, out, _) = common::valdrix(&db, &["zombies", "scans", "--format", "csv"]);
    assert!(ok);
    assert_eq!(out.lines().count(), 2, "one scan recorded: {out}");
}
