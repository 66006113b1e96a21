//! The HTTP API across tenants, on PostgreSQL as the application role.
//!
//! Tenants `a` and `b` ingest different exports and get keys through the command line; then
//! `valdrix serve` runs and every endpoint is called with `b`'s keys on `a`'s resources: the
//! answer is always `b`'s own data, 404 or 403, never `a`'s. Errors are problem+json with the
//! request id; every response carries the security headers.

mod common;

use common::{free_port, samples, valdrix, valdrix_bin, wait_for, Server};
use serde_json::Value;
use std::path::Path;
use valdrix_store::testing::PgTestDb;

struct Api {
    base: String,
    agent: ureq::Agent,
}

/// (status, headers, body as JSON or a string).
type Answer = (u16, ureq::http::HeaderMap, Value);

impl Api {
    fn call(&self, method: &str, path: &str, key: Option<&str>, body: Option<Value>) -> Answer {
        let url = format!("{}{path}", self.base);
        let req = ureq::http::Request::builder().method(method).uri(&url);
        let req = match key {
            Some(k) => req.header("Authorization", format!("Bearer {k}")),
            None => req,
        };
        let resp = match body {
            Some(b) => self.agent.run(req.header("Content-Type", "application/json").body(b.to_string()).unwrap()),
            None => self.agent.run(req.body(()).unwrap()),
        }
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.into_body().read_to_string().unwrap_or_default();
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, headers, json)
    }

    fn get(&self, path: &str, key: &str) -> Answer {
        self.call("GET", path, Some(key), None)
    }

    /// POSTs a file's bytes to `path`.
    fn upload(&self, path: &str, key: &str, bytes: Vec<u8>) -> Answer {
        let req = ureq::http::Request::builder()
            .method("POST")
            .uri(format!("{}{path}", self.base))
            .header("Authorization", format!("Bearer {key}"))
            .header("Content-Type", "application/octet-stream")
            .body(bytes)
            .unwrap();
        let resp = self.agent.run(req).unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.into_body().read_to_string().unwrap_or_default();
        (status, headers, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }
}

fn key(db: &PgTestDb, tenant: &str, role: &str) -> String {
    let (ok, out, err) =
        valdrix(Path::new(&db.app_url()), &["--tenant", tenant, "keys", "create", "--name", "test", "--role", role]);
    assert!(ok, "{err}");
    out.trim().to_string()
}

fn key_id(key: &str) -> &str {
    key.split('.').nth(2).unwrap()
}

fn assert_problem(answer: &Answer, status: u16, what: &str) {
    assert_eq!(answer.0, status, "{what}: {:?}", answer.2);
    let ct = answer.1.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    assert_eq!(ct, "application/problem+json", "{what}");
    assert_eq!(answer.2["status"], status, "{what}");
    let id = answer.2["request_id"].as_str().unwrap_or("");
    assert!(!id.is_empty(), "{what}: no request id in {:?}", answer.2);
    assert_eq!(answer.1.get("x-request-id").and_then(|v| v.to_str().ok()), Some(id), "{what}");
    assert!(answer.2["detail"].as_str().is_some_and(|d| !d.is_empty()), "{what}");
}

fn total(answer: &Answer) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = answer.2["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["currency"].as_str().unwrap().to_string(), r["amount"].as_str().unwrap().to_string()))
        .collect();
    rows.sort();
    rows
}

/// Tenants `a` (the CUR 2.0 sample) and `b` (the FOCUS sample) in a throwaway PostgreSQL
/// database, their keys (a admin, b admin, b viewer), and `valdrix serve` on a free port.
struct Fixture {
    db: PgTestDb,
    api: Api,
    a_admin: String,
    b_admin: String,
    b_viewer: String,
    _server: Server,
}

fn fixture(serve_args: &[&str]) -> Fixture {
    fixture_with(serve_args, &[])
}

fn fixture_with(serve_args: &[&str], env: &[(&str, String)]) -> Fixture {
    let db = PgTestDb::new();
    let app = db.app_url();
    let ingest = |tenant: &str, file: &Path| {
        let (ok, out, err) = valdrix(Path::new(&app), &["--tenant", tenant, "ingest", file.to_str().unwrap()]);
        assert!(ok, "{out}{err}");
    };
    ingest("a", &samples().join("aws-cur2-derived/csv/cur2-derived-2018-10-sample1000.csv"));
    ingest("b", &samples().join("focus/focus-1.0-sample/focus_sample_1000.csv"));
    let (a_admin, b_admin, b_viewer) = (key(&db, "a", "admin"), key(&db, "b", "admin"), key(&db, "b", "viewer"));
    let port = free_port();
    let mut server = Server(
        std::process::Command::new(valdrix_bin())
            .args(["--database-url", &db.owner_url(), "serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(serve_args)
            .envs(env.iter().map(|(k, v)| (*k, v)))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for(port, &mut server, "valdrix serve");
    // A connection per request: a pooled one the server has closed would fail the next call.
    let config = ureq::Agent::config_builder().http_status_as_error(false).max_idle_connections(0).build();
    let api = Api { base: format!("http://127.0.0.1:{port}"), agent: config.into() };
    Fixture { db, api, a_admin, b_admin, b_viewer, _server: server }
}

#[test]
fn keys_of_one_tenant_never_reach_another_tenants_data() {
    let Fixture { db, api, a_admin, b_admin, b_viewer, _server } = fixture(&[]);
    let app = db.app_url();

    // Health, and the headers every response carries.
    let health = api.call("GET", "/healthz", None, None);
    assert_eq!(health.0, 200);
    for h in ["x-content-type-options", "x-frame-options", "content-security-policy", "referrer-policy", "x-request-id"]
    {
        assert!(health.1.contains_key(h), "missing {h}");
    }
    assert_eq!(api.call("GET", "/readyz", None, None).0, 200);

    // No key, a malformed key, a key with another tenant's name: 401.
    assert_problem(&api.call("GET", "/api/v1/costs", None, None), 401, "no key");
    assert_problem(&api.get("/api/v1/costs", "vdx.a.nothex.x"), 401, "malformed key");
    let forged = a_admin.replacen("vdx.a.", "vdx.b.", 1);
    assert_problem(&api.get("/api/v1/costs", &forged), 401, "a's key presented as b's");

    // Each tenant sees its own totals, the same as the command line shows it.
    let a_costs = api.get("/api/v1/costs?group_by=service", &a_admin);
    assert_eq!(a_costs.0, 200, "{:?}", a_costs.2);
    assert!(a_costs.2.to_string().contains("Amazon Elastic Compute Cloud"));
    let a_total = total(&api.get("/api/v1/costs", &a_admin));
    let b_total = total(&api.get("/api/v1/costs", &b_admin));
    assert_ne!(a_total, b_total);
    let (ok, cli, _) = valdrix(Path::new(&app), &["--tenant", "b", "costs", "--format", "json"]);
    assert!(ok);
    for (_, amount) in &b_total {
        assert!(cli.contains(amount.as_str()), "API total {amount} not in the CLI's {cli}");
    }
    // b's keys on every endpoint: b's data only, or 404/403.
    for k in [&b_admin, &b_viewer] {
        let runs = api.get("/api/v1/runs", k);
        assert_eq!(runs.0, 200);
        let text = runs.2.to_string();
        assert!(text.contains("focus_sample_1000") && !text.contains("cur2-derived"), "{text}");
        assert_eq!(total(&api.get("/api/v1/costs", k)), b_total);
        let by_service = api.get("/api/v1/costs?group_by=service&filter=provider=AWS", k);
        assert_eq!(by_service.0, 200);
    }
    // Runs page by page, newest first, with a cursor; a cursor cannot reach a's runs.
    for f in ["usage_scenario_1", "purchase_scenario_1"] {
        let file = samples()
            .join(format!("focus/spec-v1.2-examples/commitment_discount_scenarios/commitment_discount_{f}.csv"));
        // Two of the specification's examples, neither naming its billing account: to Valdrix
        // they are the same (unknown) account and month, kept side by side on purpose.
        let args = ["--tenant", "b", "ingest", "--allow-overlap", file.to_str().unwrap()];
        let (ok, out, err) = valdrix(Path::new(&app), &args);
        assert!(ok, "{out}{err}");
    }
    let mut pages = Vec::new();
    let mut path = "/api/v1/runs?limit=1".to_string();
    loop {
        let page = api.get(&path, &b_viewer);
        assert_eq!(page.0, 200, "{:?}", page.2);
        pages.extend(page.2["runs"].as_array().unwrap().iter().map(|r| r["run_id"].as_i64().unwrap()));
        match page.2["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/runs?limit=1&cursor={c}"),
            None => break,
        }
        assert!(pages.len() < 10, "pagination does not end: {pages:?}");
    }
    assert_eq!(pages.len(), 3, "{pages:?}");
    assert!(pages.windows(2).all(|w| w[0] > w[1]), "{pages:?}");
    let a_run = api.get("/api/v1/runs", &a_admin).2["runs"][0]["run_id"].as_i64().unwrap();
    let past_a = api.get(&format!("/api/v1/runs?cursor=r{}", a_run + 1), &b_viewer);
    assert!(past_a.2["runs"].as_array().unwrap().iter().all(|r| r["run_id"].as_i64() != Some(a_run)));
    assert_problem(&api.get("/api/v1/runs?cursor=x", &b_viewer), 400, "bad cursor");
    let b_total = total(&api.get("/api/v1/costs", &b_admin));

    let keys = api.get("/api/v1/keys", &b_admin);
    assert_eq!(keys.0, 200);
    assert!(!keys.2.to_string().contains(key_id(&a_admin)), "b lists a's key");
    assert_problem(&api.get("/api/v1/keys", &b_viewer), 403, "viewer listing keys");
    assert_problem(
        &api.call("DELETE", &format!("/api/v1/keys/{}", key_id(&a_admin)), Some(&b_admin), None),
        404,
        "b revoking a's key",
    );
    assert_problem(
        &api.call("POST", "/api/v1/keys", Some(&b_viewer), Some(serde_json::json!({"name": "x", "role": "admin"}))),
        403,
        "viewer creating keys",
    );
    assert_eq!(api.get("/api/v1/costs", &a_admin).0, 200, "a's key survived b's attempts");

    // Keys made through the API work once, for their tenant only; revoked, they stop.
    let created =
        api.call("POST", "/api/v1/keys", Some(&b_admin), Some(serde_json::json!({"name": "ci", "role": "viewer"})));
    assert_eq!(created.0, 201, "{:?}", created.2);
    let new_key = created.2["key"].as_str().unwrap().to_string();
    assert_eq!(total(&api.get("/api/v1/costs", &new_key)), b_total);
    let revoked = api.call("DELETE", &format!("/api/v1/keys/{}", key_id(&new_key)), Some(&b_admin), None);
    assert_eq!(revoked.0, 204);
    assert_problem(&api.get("/api/v1/costs", &new_key), 401, "revoked key");

    // Bad input: 4xx with a message, never 5xx.
    for (path, what) in [
        ("/api/v1/costs?group_by=nonsense", "unknown dimension"),
        ("/api/v1/costs?from=2024-13-01", "bad date"),
        ("/api/v1/costs?metric=gold", "unknown metric"),
        ("/api/v1/costs?filter=service", "filter without value"),
        ("/api/v1/costs?color=red", "unknown parameter"),
        ("/api/v1/runs?limit=0", "limit"),
    ] {
        assert_problem(&api.get(path, &b_admin), 400, what);
    }
    assert_problem(
        &api.call("POST", "/api/v1/keys", Some(&b_admin), Some(serde_json::json!({"role": "root"}))),
        400,
        "bad body",
    );
    let empty = api.get("/api/v1/costs?from=2024-02-01&to=2024-01-01", &b_admin);
    assert_eq!((empty.0, empty.2["rows"].as_array().map(Vec::len)), (200, Some(0)), "an empty range has no rows");
    assert_problem(&api.get("/api/v1/nothing", &b_admin), 404, "unknown route");
    assert_problem(&api.call("PUT", "/api/v1/costs", Some(&b_admin), None), 405, "wrong method");

    // Metrics of all that, by route template and status, with no tenant in any label.
    let (status, _, page) = api.call("GET", "/metrics", None, None);
    assert_eq!(status, 200);
    let page = page.as_str().unwrap().to_string();
    for want in [
        "valdrix_http_requests_total{method=\"GET\",route=\"/api/v1/costs\",status=\"200\"}",
        "valdrix_http_requests_total{method=\"GET\",route=\"/api/v1/costs\",status=\"400\"}",
        "valdrix_http_requests_total{method=\"DELETE\",route=\"/api/v1/keys/{key_id}\",status=\"404\"}",
        "valdrix_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/v1/runs\",status=\"200\",le=\"0.1\"}",
        "valdrix_db_pool_connections_max 8",
        "valdrix_tenantless_queries_total 0",
        "valdrix_statement_timeouts_total 0",
    ] {
        assert!(page.contains(want), "/metrics lacks {want}:\n{page}");
    }
    assert!(!page.contains("tenant=") && !page.contains(key_id(&a_admin)), "tenant data in metrics");
}

/// Schemathesis (`scripts/schemathesis.sh`) over every operation of the OpenAPI document of a
/// live server with data: no 5xx, no response that violates the schema.
#[test]
fn schemathesis_finds_no_server_error_and_no_schema_violation() {
    // Rate limits are tested on their own: here they would answer 429 and leave the logic behind
    // them untested (Schemathesis warns, and the run is not clean).
    let f = fixture(&["--rate-limit", "1000000", "--rate-burst", "1000000"]);
    // A rule set, so that the allocation views have rules to run (and records in October 2018).
    let saved = f.api.call(
        "PUT",
        "/api/v1/allocation/rules",
        Some(&f.a_admin),
        Some(serde_json::json!({"rules": allocation_rules()})),
    );
    assert_eq!(saved.0, 200, "{:?}", saved.2);
    let out = std::process::Command::new(common::repo_root().join("scripts/schemathesis.sh"))
        .args([&f.api.base, &f.a_admin, "60"])
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "schemathesis found problems:\n{text}");
    // Every generated case passed (warnings, such as 404s for record ids it cannot guess, are
    // not failures).
    let cases = text.split("Test cases:").nth(1).and_then(|t| t.lines().nth(1)).unwrap_or("");
    let counts: Vec<&str> = cases.split(',').map(|p| p.split_whitespace().next().unwrap_or("")).collect();
    assert!(counts.len() >= 2 && counts[0] == counts[1] && cases.contains("passed"), "{cases}\n{text}");
    assert!(!text.contains("failed"), "{text}");
    // It ran every operation.
    assert!(text.contains("Tested: 48"), "{text}");
}

/// One tenant past its rate limit gets 429 with Retry-After; another tenant is not slowed.
#[test]
fn a_tenant_past_its_rate_limit_gets_429_and_others_do_not() {
    let f = fixture(&["--rate-limit", "1", "--rate-burst", "3"]);
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let answer = f.api.get("/api/v1/runs", &f.b_viewer);
        if answer.0 == 429 {
            assert_problem(&answer, 429, "rate limited");
            let wait: u64 =
                answer.1.get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).unwrap();
            assert!((1..=2).contains(&wait), "Retry-After {wait}");
        }
        statuses.push(answer.0);
    }
    assert_eq!(&statuses[..3], &[200, 200, 200], "the burst is allowed: {statuses:?}");
    assert!(statuses[3..].contains(&429), "no 429 past the burst: {statuses:?}");
    // Tenant a has its own bucket.
    assert_eq!(f.api.get("/api/v1/runs", &f.a_admin).0, 200);
    let (_, _, page) = f.api.call("GET", "/metrics", None, None);
    let page = page.as_str().unwrap().to_string();
    let limited = page
        .lines()
        .find_map(|l| l.strip_prefix("valdrix_rate_limited_requests_total "))
        .and_then(|v| v.trim().parse::<f64>().ok());
    assert_eq!(limited, Some(statuses.iter().filter(|s| **s == 429).count() as f64), "{page}");
}

/// The FOCUS sample with its first row's BilledCost and EffectiveCost raised by `add`: a
/// restatement of one record.
fn restated_focus(add: &str) -> Vec<u8> {
    let file = samples().join("focus/focus-1.0-sample/focus_sample_1000.csv");
    let mut reader = csv::Reader::from_path(&file).unwrap();
    let headers = reader.headers().unwrap().clone();
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(&headers).unwrap();
    for (i, row) in reader.records().enumerate() {
        let mut row: Vec<String> = row.unwrap().iter().map(String::from).collect();
        if i == 0 {
            for col in ["BilledCost", "EffectiveCost"] {
                let c = headers.iter().position(|h| h == col).unwrap();
                let v: rust_decimal::Decimal = row[c].parse().unwrap();
                row[c] = (v + add.parse::<rust_decimal::Decimal>().unwrap()).to_string();
            }
        }
        out.write_record(&row).unwrap();
    }
    out.into_inner().unwrap()
}

/// Ingestion, records, lineage, audits, alerts, periods, reconciliation, export and the tenant
/// endpoint: each works for its tenant, and another tenant's keys reach none of it.
#[test]
fn trust_ingestion_and_export_endpoints_stay_within_the_tenant() {
    let (_moto, env) = common::start_moto();
    common::python(
        r#"
import boto3, os
c = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
c.create_bucket(Bucket="billing")
c.upload_file(os.environ["FILE"], "billing", "b/focus/focus.csv")
c.upload_file(os.environ["FILE"], "billing", "a/focus/focus.csv")
"#,
        &[env.clone(), vec![("FILE", samples().join("focus/spec-v1.2-examples/commitment_discount_scenarios/commitment_discount_usage_scenario_1.csv").display().to_string())]].concat(),
    );
    let f = fixture_with(&["--allow-url-prefix", "s3://billing/{tenant}/"], &env);
    let (api, a, b, bv) = (&f.api, &f.a_admin, &f.b_admin, &f.b_viewer);

    let me = api.get("/api/v1/tenant", bv);
    assert_eq!((me.2["tenant"].as_str(), me.2["role"].as_str()), (Some("b"), Some("viewer")));

    // Uploads: tenant a delivers a stream, then a restated copy of it.
    let focus = std::fs::read(samples().join("focus/focus-1.0-sample/focus_sample_1000.csv")).unwrap();
    let first = api.upload("/api/v1/ingest/upload?filename=bill.csv&stream=bill", a, focus.clone());
    assert_eq!(first.0, 200, "{:?}", first.2);
    assert_eq!(first.2["deliveries"][0]["outcome"], "written");
    let again = api.upload("/api/v1/ingest/upload?filename=bill.csv&stream=bill", a, focus);
    assert_eq!(again.2["deliveries"][0]["outcome"], "unchanged", "{:?}", again.2);
    let restated = api.upload("/api/v1/ingest/upload?filename=bill-v2.csv&stream=bill", a, restated_focus("5000"));
    assert_eq!(restated.0, 200, "{:?}", restated.2);
    let a_run = restated.2["deliveries"][0]["run"]["run_id"].as_i64().unwrap();
    assert_eq!(restated.2["deliveries"][0]["run"]["changes"]["restated"], 1, "{:?}", restated.2);
    // The same bill under another name and no stream: refused (409), naming the stream that
    // holds it and how to restate it; nothing written.
    let runs_before = api.get("/api/v1/runs", a).2["runs"].as_array().unwrap().len();
    let renamed = api.upload("/api/v1/ingest/upload?filename=bill-corrected.csv", a, restated_focus("6000"));
    assert_problem(&renamed, 409, "a renamed copy of a held bill");
    let detail = renamed.2["detail"].as_str().unwrap();
    assert!(detail.contains("named:bill") && detail.contains("stream=named:bill"), "{detail}");
    assert_eq!(api.get("/api/v1/runs", a).2["runs"].as_array().unwrap().len(), runs_before);
    // Bad uploads: 4xx naming what is wrong; a viewer may not ingest.
    let garbage = api.upload("/api/v1/ingest/upload?filename=junk.csv", b, b"a,b\n1,2\n".to_vec());
    assert_problem(&garbage, 422, "unreadable upload");
    assert!(garbage.2["detail"].as_str().unwrap().contains("junk.csv"), "{:?}", garbage.2);
    // Lines no bill can hold are refused as on the command line (they were 500s: PostgreSQL
    // could not keep a NUL, nor a partition for year 9999), naming the row and column.
    for (file, column) in [("nul_byte.csv", "ServiceName"), ("year_9999.csv", "ChargePeriodStart")] {
        let bytes = std::fs::read(common::repo_root().join("tests/bad_input").join(file)).unwrap();
        let refused = api.upload(&format!("/api/v1/ingest/upload?filename={file}"), b, bytes);
        assert_problem(&refused, 422, file);
        let detail = refused.2["detail"].as_str().unwrap();
        assert!(detail.contains(file) && detail.contains("row 2") && detail.contains(column), "{detail}");
    }
    assert_problem(&api.upload("/api/v1/ingest/upload?filename=x.csv", bv, b"x".to_vec()), 403, "viewer upload");
    assert_problem(&api.upload("/api/v1/ingest/upload?filename=../x.csv", b, b"x".to_vec()), 400, "path in name");
    assert_problem(&api.upload("/api/v1/ingest/upload?filename=x.csv", b, Vec::new()), 400, "empty upload");

    // Object storage: only under the tenant's own prefix.
    let fetched =
        api.call("POST", "/api/v1/ingest/url", Some(b), Some(serde_json::json!({"url": "s3://billing/b/focus/"})));
    assert_eq!(fetched.0, 200, "{:?}", fetched.2);
    assert_eq!(fetched.2["deliveries"][0]["run"]["source_uri"], "s3://billing/b/focus/focus.csv", "{:?}", fetched.2);
    for url in ["s3://billing/a/focus/", "s3://billing/b/../a/focus/", "file:///etc/passwd"] {
        let refused = api.call("POST", "/api/v1/ingest/url", Some(b), Some(serde_json::json!({ "url": url })));
        assert!(matches!(refused.0, 400 | 403), "{url}: {:?}", refused.2);
    }

    // Audit and alerts of a's restatement: a sees them, b does not.
    let audit = api.get(&format!("/api/v1/runs/{a_run}/audit"), a);
    assert_eq!(audit.0, 200, "{:?}", audit.2);
    assert_eq!(audit.2["largest"][0]["reason"], "restated", "{:?}", audit.2);
    let entries = api.get(&format!("/api/v1/runs/{a_run}/audit/entries?limit=1"), a);
    assert_eq!(entries.2["entries"].as_array().unwrap().len(), 1, "{:?}", entries.2);
    assert_problem(&api.get(&format!("/api/v1/runs/{a_run}/audit"), b), 404, "b auditing a's run");
    assert_problem(&api.get(&format!("/api/v1/runs/{a_run}/audit/entries"), b), 404, "b paging a's audit");
    let a_alerts = api.get("/api/v1/alerts", a);
    let alert = &a_alerts.2["alerts"][0];
    assert_eq!(alert["run_id"], a_run, "{:?}", a_alerts.2);
    assert_eq!(api.get("/api/v1/alerts", b).2["alerts"].as_array().map(Vec::len), Some(0));
    assert_eq!(api.get(&format!("/api/v1/alerts?run={a_run}"), b).2["alerts"].as_array().map(Vec::len), Some(0));

    // Records page by page, largest first, each page after the one before; lineage of a record.
    let mut seen = std::collections::BTreeSet::new();
    let mut last: Option<rust_decimal::Decimal> = None;
    let mut path = "/api/v1/records?limit=200&filter=source=named:bill".to_string();
    loop {
        let page = api.get(&path, a);
        assert_eq!(page.0, 200, "{:?}", page.2);
        for r in page.2["records"].as_array().unwrap() {
            assert!(seen.insert(r["record_id"].as_str().unwrap().to_string()), "a record twice");
            let billed: rust_decimal::Decimal = r["billed"].as_str().unwrap().parse().unwrap();
            assert!(last.is_none_or(|l| l >= billed.abs()), "not largest first");
            last = Some(billed.abs());
        }
        match page.2["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/records?limit=200&filter=source=named:bill&cursor={c}"),
            None => break,
        }
    }
    let (ok, cli, _) = common::valdrix(
        Path::new(&f.db.app_url()),
        &["--tenant", "a", "costs", "records", "--filter", "source=named:bill", "--limit", "100000", "--format", "csv"],
    );
    assert!(ok);
    assert_eq!(seen.len(), cli.lines().count() - 1, "the API's pages and the CLI's list differ");
    let top = api.get("/api/v1/records?limit=1&filter=source=named:bill", a).2["records"][0]["record_id"]
        .as_str()
        .unwrap()
        .to_string();
    let history = api.get(&format!("/api/v1/costs/history/{top}"), a);
    assert_eq!(history.0, 200, "{:?}", history.2);
    let changes: Vec<&str> =
        history.2["points"].as_array().unwrap().iter().map(|p| p["change"].as_str().unwrap()).collect();
    assert_eq!(changes, ["first", "restated"], "{:?}", history.2);
    assert_problem(&api.get(&format!("/api/v1/costs/history/{top}"), b), 404, "b reading a's lineage");
    assert!(!api.get("/api/v1/records?limit=500", b).2.to_string().contains(&top), "b lists a's record");

    // Periods: b closes and reopens its own; a's are untouched; a viewer may not.
    assert_problem(&api.get("/api/v1/periods?cursor=2024%C3%81~x", b), 400, "a cursor that names no month");
    let b_periods = api.get("/api/v1/periods", b);
    let period = b_periods.2["periods"][0]["period"].as_str().unwrap().to_string();
    let a_before = api.get("/api/v1/periods", a).2;
    let why = serde_json::json!({"reason": "invoice reconciled"});
    assert_problem(
        &api.call("POST", &format!("/api/v1/periods/{period}/close"), Some(bv), Some(why.clone())),
        403,
        "viewer closing",
    );
    let closed = api.call("POST", &format!("/api/v1/periods/{period}/close"), Some(b), Some(why.clone()));
    assert_eq!(closed.0, 200, "{:?}", closed.2);
    assert!(api.get("/api/v1/periods", b).2.to_string().contains("\"closed\""));
    assert_eq!(api.get("/api/v1/periods", a).2, a_before, "b's close changed a's periods");
    assert_problem(
        &api.call("POST", &format!("/api/v1/periods/{period}/close"), Some(b), Some(why.clone())),
        409,
        "closing twice",
    );
    assert_eq!(api.call("POST", &format!("/api/v1/periods/{period}/reopen"), Some(b), Some(why)).0, 204);
    let mut periods = Vec::new();
    let mut path = "/api/v1/periods?limit=1".to_string();
    loop {
        let page = api.get(&path, b);
        periods.extend(page.2["periods"].as_array().unwrap().iter().cloned());
        match page.2["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/periods?limit=1&cursor={}", c.replace(':', "%3A").replace('/', "%2F")),
            None => break,
        }
        assert!(periods.len() < 50);
    }
    assert_eq!(periods, b_periods.2["periods"].as_array().unwrap().clone());

    // Reconciliation compares b's own sources; export carries b's records only.
    let rec = api.get("/api/v1/reconciliation?left=provider=Microsoft&right=provider=AWS", b);
    assert_eq!(rec.0, 200, "{:?}", rec.2);
    let b_usd = total(&api.get("/api/v1/costs?filter=provider=Microsoft", b));
    let usd = rec.2["currencies"].as_array().unwrap().iter().find(|c| c["currency"] == "USD").unwrap().clone();
    let dec = |v: &str| v.parse::<rust_decimal::Decimal>().unwrap();
    let api_usd = b_usd.iter().find(|(c, _)| c == "USD").map(|(_, a)| dec(a));
    assert_eq!(Some(dec(usd["left"].as_str().unwrap())), api_usd, "{usd}");
    let export = api.get("/api/v1/export/focus", b);
    assert_eq!(export.0, 200);
    let csv_text = export.2.as_str().unwrap();
    let rows: u64 = export.1.get("x-valdrix-rows").unwrap().to_str().unwrap().parse().unwrap();
    assert_eq!(csv_text.lines().count() as u64, rows + 1);
    let a_export = api.get("/api/v1/export/focus", a).2;
    let a_account = a_export.as_str().unwrap().lines().nth(1).unwrap().to_string();
    assert!(!csv_text.contains(&a_account), "b's export holds a's row");
    assert_problem(&api.get("/api/v1/export/focus?format=xlsx", b), 400, "export format");

    // The dashboard, signed in with b's key: b's pages only; a's run is not found; a forged
    // session cookie is sent to sign in.
    let accounts = |key: &str| -> std::collections::BTreeSet<String> {
        api.get("/api/v1/costs?group_by=account", key).2["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["keys"]["account"].as_str().map(String::from))
            .collect()
    };
    let a_account = accounts(a).difference(&accounts(b)).next().expect("an account only a has").clone();
    let browser = browser();
    let cookie = sign_in(&browser, &api.base, b);
    let page = |path: &str, cookie: &str| {
        let r = browser.get(format!("{}{path}", api.base)).header("Cookie", cookie).call().unwrap();
        (r.status().as_u16(), r.into_body().read_to_string().unwrap_or_default())
    };
    for path in ["/", "/explorer?group_by=account&from=2000-01-01&to=2030-01-01", "/runs"] {
        let (status, html) = page(path, &cookie);
        assert_eq!(status, 200, "{path}: {html}");
        assert!(!html.contains(&a_account), "{path} shows a's account {a_account}");
    }
    let csv = page("/explorer.csv?group_by=account&from=2000-01-01&to=2030-01-01", &cookie).1;
    assert!(csv.starts_with("account,") && !csv.contains(&a_account), "{csv}");
    assert_eq!(page(&format!("/runs/{a_run}"), &cookie).0, 404, "b's session reaching a's run");
    let forged = cookie.replace("vdx_session=v2.b.", "vdx_session=v2.a.");
    assert_ne!(forged, cookie);
    assert_eq!(page("/", &forged).0, 303, "a forged session cookie");
}

/// A browser for the dashboard: statuses as answers, redirects not followed.
fn browser() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).max_redirects(0).max_idle_connections(0).build().into()
}

/// The first form token (`csrf`) of a page.
fn form_token(html: &str) -> String {
    html.split("name=\"csrf\" value=\"").nth(1).and_then(|r| r.split('"').next()).unwrap().to_string()
}

/// Signs in to the dashboard with `key` as a browser does; the session cookie.
fn sign_in(browser: &ureq::Agent, base: &str, key: &str) -> String {
    let form = browser.get(format!("{base}/login")).call().unwrap();
    let set_cookie = |r: &ureq::http::Response<ureq::Body>, name: &str| {
        r.headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|c| c.split(';').next().filter(|p| p.starts_with(name)).map(str::to_string))
            .unwrap_or_else(|| panic!("no {name} cookie"))
    };
    let nonce = set_cookie(&form, "vdx_login=");
    let html = form.into_body().read_to_string().unwrap();
    let csrf = form_token(&html);
    let done = browser
        .post(format!("{base}/login"))
        .header("Cookie", &nonce)
        .send_form([("key", key), ("csrf", csrf.as_str())])
        .unwrap();
    assert_eq!(done.status().as_u16(), 303);
    set_cookie(&done, "vdx_session=")
}

/// Records a zombie scan for `tenant` from an AWS Config snapshot (an unattached volume and an
/// unassociated Elastic IP, both with a remediation).
fn record_zombies(db: &PgTestDb, tenant: &str) {
    let dir = tempfile::tempdir().unwrap();
    let item = |id: &str, kind: &str, config: Value| {
        serde_json::json!({"configurationItemCaptureTime": "2026-05-01T00:00:00Z", "configurationItemStatus": "OK",
            "resourceType": kind, "resourceId": id, "awsRegion": "eu-west-1", "awsAccountId": "123456789012",
            "resourceCreationTime": "2026-01-01T00:00:00Z", "tags": {}, "configuration": config})
    };
    let snapshot = serde_json::json!({"configurationItems": [
        item("vol-1", "AWS::EC2::Volume", serde_json::json!({"size": 10, "volumeType": "gp3", "state": "available"})),
        item("eipalloc-1", "AWS::EC2::EIP", serde_json::json!({"allocationId": "eipalloc-1", "publicIp": "198.51.100.7"})),
    ]});
    let file = dir.path().join("snapshot.json");
    std::fs::write(&file, snapshot.to_string()).unwrap();
    let args =
        ["--tenant", tenant, "zombies", "scan", "--inventory", file.to_str().unwrap(), "--at", "2026-06-15T12:00:00Z"];
    let (ok, out, err) = valdrix(Path::new(&db.app_url()), &args);
    assert!(ok, "{out}{err}");
}

#[test]
fn zombie_findings_and_plans_stay_within_the_tenant_and_need_a_second_admin() {
    let Fixture { db, api, a_admin, b_admin, b_viewer, _server } = fixture(&[]);
    record_zombies(&db, "a");
    let (a_analyst, a_admin2) = (key(&db, "a", "analyst"), key(&db, "a", "admin"));

    // Findings: a's, with their evidence; b sees none.
    let found = api.get("/api/v1/zombies?status=open", &a_admin);
    assert_eq!(found.0, 200, "{:?}", found.2);
    let findings = found.2["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 2, "{findings:?}");
    let eip = findings.iter().find(|f| f["rule"] == "aws.ec2.eip-unassociated").unwrap();
    assert_eq!(eip["monthly_cost"], "3.65");
    assert!(eip["finding"]["reason"].as_str().unwrap().contains("198.51.100.7"), "{eip}");
    assert_eq!(api.get("/api/v1/zombies", &b_admin).2["findings"].as_array().unwrap().len(), 0);
    assert_problem(&api.get("/api/v1/zombies?status=dead", &a_admin), 400, "an unknown status");
    assert_eq!(api.get("/api/v1/zombies/scans", &a_admin).2["scans"].as_array().unwrap().len(), 1);
    assert_eq!(api.get("/api/v1/zombies/scans", &b_admin).2["scans"].as_array().unwrap().len(), 0);

    // Ignoring: an analyst of a may; b cannot reach a's finding; the history says who and why.
    let key_of_eip: Value = ["cloud", "account", "rule", "region", "resource_id"]
        .iter()
        .map(|k| (k.to_string(), eip[*k].clone()))
        .collect::<serde_json::Map<String, Value>>()
        .into();
    let ignore = |key: &str, ignored: bool| {
        let body = serde_json::json!({"finding": key_of_eip, "ignored": ignored, "reason": "kept for the DR drill"});
        api.call("POST", "/api/v1/zombies/ignore", Some(key), Some(body))
    };
    assert_problem(&ignore(&b_viewer, true), 403, "a viewer ignoring");
    assert_problem(&ignore(&b_admin, true), 404, "b ignoring a's finding");
    assert_eq!(ignore(&a_analyst, true).0, 204);
    let history = api.call("POST", "/api/v1/zombies/history", Some(&a_admin), Some(key_of_eip.clone()));
    assert_eq!(history.0, 200, "{:?}", history.2);
    let events: Vec<&str> =
        history.2["events"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["new", "ignored"]);
    assert_problem(
        &api.call("POST", "/api/v1/zombies/history", Some(&b_admin), Some(key_of_eip.clone())),
        404,
        "b's history of a's finding",
    );
    assert_eq!(ignore(&a_analyst, false).0, 204);

    // Plans: b has nothing to plan; a's analyst plans the volume; a's plan is not b's.
    let plan_body = serde_json::json!({"rules": ["aws.ebs.unattached"]});
    assert_problem(
        &api.call("POST", "/api/v1/zombies/plans", Some(&b_viewer), Some(plan_body.clone())),
        403,
        "a viewer planning",
    );
    assert_problem(
        &api.call("POST", "/api/v1/zombies/plans", Some(&b_admin), Some(plan_body.clone())),
        404,
        "b planning a's findings",
    );
    let made = api.call("POST", "/api/v1/zombies/plans", Some(&a_analyst), Some(plan_body));
    assert_eq!(made.0, 201, "{:?}", made.2);
    let plan_id = made.2["plan"]["plan_id"].as_i64().unwrap();
    assert_eq!(made.2["plan"]["state"], "planned");
    assert_eq!(made.2["plan"]["steps"][0]["action"], "snapshot-and-delete-volume");
    assert_problem(&api.get(&format!("/api/v1/zombies/plans/{plan_id}"), &b_admin), 404, "b reading a's plan");
    assert_problem(
        &api.call("POST", &format!("/api/v1/zombies/plans/{plan_id}/approve"), Some(&b_admin), None),
        404,
        "b approving a's plan",
    );
    assert_problem(
        &api.call("POST", &format!("/api/v1/zombies/plans/{plan_id}/approve"), Some(&a_analyst), None),
        403,
        "an analyst approving",
    );

    // Approval on the dashboard by an admin of a who did not make the plan.
    let browser = browser();
    let cookie = sign_in(&browser, &api.base, &a_admin);
    let page = browser.get(format!("{}/zombies", api.base)).header("Cookie", &cookie).call().unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let html = page.into_body().read_to_string().unwrap();
    assert!(html.contains("vol-1") && html.contains("3.65 USD") && html.contains("Approve"), "{html}");
    let csrf = form_token(&html);
    let forged = browser
        .post(format!("{}/zombies/plans/{plan_id}/approve", api.base))
        .header("Cookie", &cookie)
        .send_form([("csrf", "0".repeat(32).as_str())])
        .unwrap();
    assert_eq!(forged.status().as_u16(), 403, "a forged form token");
    let approved = browser
        .post(format!("{}/zombies/plans/{plan_id}/approve", api.base))
        .header("Cookie", &cookie)
        .send_form([("csrf", csrf.as_str())])
        .unwrap();
    assert_eq!(approved.status().as_u16(), 303);
    let plan = api.get(&format!("/api/v1/zombies/plans/{plan_id}"), &a_admin);
    assert_eq!(plan.2["plan"]["state"], "approved", "{:?}", plan.2);
    assert_eq!(plan.2["plan"]["approved_by"], format!("key:{}", key_id(&a_admin)));
    let log: Vec<&str> = plan.2["log"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(log, ["planned", "approved"]);
    // The approver is named in the log, with who created its key.
    let detail = plan.2["log"][1]["detail"].as_str().unwrap_or("");
    assert!(detail.contains(&format!("approved by key:{} ← created by cli:", key_id(&a_admin))), "{detail}");

    // An admin's own plan: refused to its author (and logged), cancelled by an analyst, then
    // past approval.
    let own = api.call(
        "POST",
        "/api/v1/zombies/plans",
        Some(&a_admin),
        Some(serde_json::json!({"rules": ["aws.ec2.eip-unassociated"]})),
    );
    assert_eq!(own.0, 201, "{:?}", own.2);
    let own_id = own.2["plan"]["plan_id"].as_i64().unwrap();
    let refused = api.call("POST", &format!("/api/v1/zombies/plans/{own_id}/approve"), Some(&a_admin), None);
    assert_problem(&refused, 403, "the author approving");
    assert!(refused.2["detail"].as_str().unwrap().contains("author"), "{:?}", refused.2);
    // Four eyes are two people: an admin key the author made (or one made by that key) cannot
    // approve the author's plan either.
    let minted = api.call(
        "POST",
        "/api/v1/keys",
        Some(&a_admin),
        Some(serde_json::json!({"name": "me again", "role": "admin"})),
    );
    assert_eq!(minted.0, 201, "{:?}", minted.2);
    let minted = minted.2["key"].as_str().unwrap().to_string();
    let grandchild = api.call(
        "POST",
        "/api/v1/keys",
        Some(&minted),
        Some(serde_json::json!({"name": "me thrice", "role": "admin"})),
    );
    let grandchild = grandchild.2["key"].as_str().unwrap().to_string();
    for k in [&minted, &grandchild] {
        let refused = api.call("POST", &format!("/api/v1/zombies/plans/{own_id}/approve"), Some(k), None);
        assert_problem(&refused, 403, "a key the author created approving");
        assert!(refused.2["detail"].as_str().unwrap().contains("created by the plan's author"), "{:?}", refused.2);
    }
    let cancel = serde_json::json!({"reason": "the address is for the DR drill"});
    let cancelled = api.call("POST", &format!("/api/v1/zombies/plans/{own_id}/cancel"), Some(&a_analyst), Some(cancel));
    assert_eq!(cancelled.0, 200, "{:?}", cancelled.2);
    let log: Vec<&str> = cancelled.2["log"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(log, ["planned", "refused", "refused", "refused", "cancelled"]);
    assert_problem(
        &api.call("POST", &format!("/api/v1/zombies/plans/{own_id}/approve"), Some(&a_admin2), None),
        409,
        "approving a cancelled plan",
    );
    let plans = api.get("/api/v1/zombies/plans", &a_admin);
    assert_eq!(plans.2["plans"].as_array().unwrap().len(), 2);
    assert_eq!(api.get("/api/v1/zombies/plans", &b_admin).2["plans"].as_array().unwrap().len(), 0);
}

/// The rule set tenant a's allocation tests store: EC2 owned by the account's team, RDS shared
/// 60/40, the rest (S3, CloudWatch) left in the bucket.
fn allocation_rules() -> Value {
    serde_json::json!({"version": 1, "rules": [
        {"id": "ec2", "priority": 10, "match": {"service": ["Amazon Elastic Compute Cloud"]},
         "owner": [{"table": "sub_account", "map": {"836060457634": "Compute"}}]},
        {"id": "rds", "priority": 20, "match": {"service": ["Amazon Relational Database Service"]},
         "percentages": {"Compute": 60, "Data": 40}}
    ]})
}

fn dec(v: &Value) -> rust_decimal::Decimal {
    v.as_str().unwrap_or_else(|| panic!("{v} is not a decimal string")).parse().unwrap()
}

#[test]
fn allocation_rules_and_views_stay_within_the_tenant() {
    let Fixture { db, api, a_admin, b_admin, b_viewer, _server } = fixture(&[]);
    let a_analyst = key(&db, "a", "analyst");
    let put = |key: &str, body: Value| api.call("PUT", "/api/v1/allocation/rules", Some(key), Some(body));

    // Nothing stored: 404 saying how to store; a viewer may not store; a bad rule is a 400
    // naming the rule and the field, and stores nothing.
    assert_problem(&api.get("/api/v1/allocation?month=2018-10", &a_admin), 404, "no rules stored");
    assert_problem(&put(&b_viewer, serde_json::json!({"rules": allocation_rules()})), 403, "a viewer saving");
    let bad = serde_json::json!({"rules": {"version": 1, "rules": [{"id": "rds", "percentages": {"A": 60, "B": 30}}]}});
    let refused = put(&a_analyst, bad);
    assert_problem(&refused, 422, "percentages adding up to 90");
    assert!(refused.2["detail"].as_str().unwrap().contains("rules[0] (rds)"), "{:?}", refused.2);
    assert_problem(&api.get("/api/v1/allocation/rules", &a_admin), 404, "nothing stored after a refusal");

    // Saved by a's analyst as v1; again: unchanged; b sees none of it.
    let saved = put(&a_analyst, serde_json::json!({"rules": allocation_rules(), "note": "EC2 by account"}));
    assert_eq!(saved.0, 200, "{:?}", saved.2);
    assert_eq!((saved.2["version"].as_i64(), saved.2["created"].as_bool()), (Some(1), Some(true)));
    assert_eq!(saved.2["added"], serde_json::json!(["ec2", "rds"]));
    let again = put(&a_admin, serde_json::json!({"rules": allocation_rules()}));
    assert_eq!((again.2["version"].as_i64(), again.2["created"].as_bool()), (Some(1), Some(false)));
    let stored = api.get("/api/v1/allocation/rules", &a_admin);
    assert_eq!(stored.0, 200);
    assert_eq!(stored.2["saved_by"], format!("key:{}", key_id(&a_analyst)));
    assert_eq!(stored.2["rules"]["rules"][1]["percentages"]["Compute"], "60");
    assert_problem(&api.get("/api/v1/allocation/rules", &b_admin), 404, "b reading a's rules");
    assert_problem(&api.get("/api/v1/allocation?month=2018-10", &b_admin), 404, "b allocating by a's rules");

    // October 2018 split: Compute owns EC2 and 60 % of RDS, Data 40 %, S3 and CloudWatch in the
    // bucket; per currency the targets add up to the bill exactly.
    let split = api.get("/api/v1/allocation?month=2018-10", &a_admin);
    assert_eq!(split.0, 200, "{:?}", split.2);
    assert_eq!(split.2["rules"], "rule set v1");
    let targets = split.2["targets"].as_array().unwrap();
    let names: Vec<&str> = targets.iter().map(|t| t["target"].as_str().unwrap()).collect();
    assert_eq!(names, ["Compute", "Data", "Unallocated"]);
    let sum: rust_decimal::Decimal = targets.iter().map(|t| dec(&t["total_effective"])).sum();
    let bill = api.get("/api/v1/costs?metric=effective&from=2018-10-01&to=2018-11-01", &a_admin);
    assert_eq!(sum, dec(&bill.2["rows"][0]["amount"]));
    let data = &targets[1];
    assert_eq!(dec(&data["direct_effective"]), rust_decimal::Decimal::ZERO);
    let compute_share = dec(&targets[0]["shared_effective"]);
    assert_eq!((compute_share / dec(&data["shared_effective"])).round_dp(1), "1.5".parse().unwrap());

    // Month by month, the explanation of Data's figure, and the bucket.
    let months = api.get("/api/v1/allocation/months?from=2018-09-01&to=2018-11-01", &a_admin);
    assert_eq!(months.0, 200);
    assert!(months.2["targets"].as_array().unwrap().iter().all(|t| t["period"] == "2018-10"));
    let explained = api.get("/api/v1/allocation/explain?month=2018-10&target=Data", &a_admin);
    assert_eq!(explained.0, 200, "{:?}", explained.2);
    let c = &explained.2["contributions"][0];
    assert_eq!((c["kind"].as_str(), c["rule"].as_str()), (Some("shared"), Some("rds")));
    assert!(c["basis"].as_str().unwrap().starts_with("40% of a pool of"), "{c}");
    let record = c["record_ids"][0].as_str().unwrap();
    assert_eq!(api.get(&format!("/api/v1/costs/history/{record}"), &a_admin).0, 200);
    let bucket = api.get("/api/v1/allocation/unallocated?month=2018-10&top=5", &a_admin);
    assert_eq!(bucket.0, 200);
    let services: Vec<&str> =
        bucket.2["services"].as_array().unwrap().iter().map(|g| g["value"].as_str().unwrap()).collect();
    assert!(services.contains(&"Amazon Simple Storage Service"), "{services:?}");
    assert_problem(&api.get("/api/v1/allocation?month=2018-13", &a_admin), 400, "month 13");
    assert_problem(&api.get("/api/v1/allocation?month=2018-10&from=2018-10-01", &a_admin), 422, "month and from");

    // A candidate giving RDS to Data alone: Compute loses its 60 %, Data gains it; nothing saved.
    let mut candidate = allocation_rules();
    candidate["rules"][1]["percentages"] = serde_json::json!({"Data": 100});
    let sim = api.call(
        "POST",
        "/api/v1/allocation/simulate",
        Some(&a_admin),
        Some(serde_json::json!({"candidate": candidate, "month": "2018-10"})),
    );
    assert_eq!(sim.0, 200, "{:?}", sim.2);
    let diff = |who: &str| {
        sim.2["targets"].as_array().unwrap().iter().find(|t| t["target"] == who).map(|t| dec(&t["difference"])).unwrap()
    };
    assert_eq!(diff("Compute"), -compute_share);
    assert_eq!(diff("Data"), compute_share);
    assert_eq!(api.get("/api/v1/allocation/rules/history", &a_admin).2["versions"].as_array().unwrap().len(), 1);

    // v2 from a candidate: the history says who changed what.
    assert_eq!(put(&a_admin, serde_json::json!({"rules": candidate, "note": "RDS is Data's"})).0, 200);
    let history = api.get("/api/v1/allocation/rules/history", &a_admin);
    let v2 = &history.2["versions"][0];
    assert_eq!((v2["version"].as_i64(), v2["changed"].clone()), (Some(2), serde_json::json!(["rds"])));
    assert_eq!(v2["saved_by"], format!("key:{}", key_id(&a_admin)));
    assert_eq!(api.get("/api/v1/allocation/rules/history", &b_admin).2["versions"].as_array().unwrap().len(), 0);
    let v1 = api.get("/api/v1/allocation?month=2018-10&version=1", &a_admin);
    assert_eq!(v1.2["rules"], "rule set v1");
}

#[test]
fn forecasts_anomalies_and_marks_stay_within_the_tenant() {
    let Fixture { db, api, a_admin, b_admin, b_viewer, _server } = fixture(&[]);
    let a_analyst = key(&db, "a", "analyst");

    // Tenant a's sample holds too few final days for a forecast: a 422 saying so.
    assert_problem(&api.get("/api/v1/forecast", &a_admin), 422, "nine days of history");
    // Tenant c: 60 days of three services.
    let dir = tempfile::tempdir().unwrap();
    let bill = dir.path().join("c.csv");
    let mut csv = String::from("BillingAccountId,BillingCurrency,BillingPeriodStart,ChargePeriodStart,ChargeCategory,ServiceName,BilledCost,EffectiveCost\n");
    for i in 0..60i64 {
        let day = chrono::NaiveDate::from_ymd_opt(2026, 3, 1).unwrap() + chrono::Duration::days(i);
        let period = format!("{}-01", &day.to_string()[..7]);
        for (k, (service, level)) in
            [("Amazon EC2", 900.0), ("Amazon S3", 200.0), ("Amazon RDS", 400.0)].iter().enumerate()
        {
            let mut cost = level * (1.0 + 0.02 * (((i * 31 + k as i64 * 7) % 10) as f64 - 4.5) / 4.5);
            if i == 50 && k == 0 {
                cost *= 3.0; // 20 April: EC2 spends three times its usual day
            }
            csv.push_str(&format!("1,USD,{period}T00:00:00Z,{day}T00:00:00Z,Usage,{service},{cost:.2},{cost:.2}\n"));
        }
    }
    std::fs::write(&bill, csv).unwrap();
    let (ok, out, err) = valdrix(Path::new(&db.app_url()), &["--tenant", "c", "ingest", bill.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    let c_admin = key(&db, "c", "admin");

    // A week ahead, by service: the total is the sum of the services.
    let f = api.get("/api/v1/forecast?horizon=7&by=service&top=3", &c_admin);
    assert_eq!(f.0, 200, "{:?}", f.2);
    let c = &f.2["currencies"][0];
    assert_eq!(c["currency"], "USD");
    let total = c["total"]["points"].as_array().unwrap();
    assert_eq!(total.len(), 7);
    assert_eq!(total[0]["date"], "2026-04-30");
    let cats = c["categories"].as_array().unwrap();
    assert_eq!(cats.len(), 3, "{cats:?}");
    let sum: f64 = cats.iter().map(|k| k["forecast"]["points"][0]["yhat"].as_f64().unwrap()).sum();
    assert!((sum - total[0]["yhat"].as_f64().unwrap()).abs() < 1e-6, "{sum} against {}", total[0]["yhat"]);
    assert!((sum - 1500.0).abs() < 60.0, "{sum}");
    assert_problem(&api.get("/api/v1/forecast?by=colour", &c_admin), 422, "not a dimension");
    assert_problem(&api.get("/api/v1/forecast?horizon=0", &c_admin), 400, "horizon 0");
    assert_problem(&api.get("/api/v1/forecast?horizon=7&months=2", &c_admin), 422, "horizon and months");
    let months = api.get("/api/v1/forecast?months=1", &c_admin);
    assert_eq!(months.0, 200, "{:?}", months.2);
    assert_eq!(months.2["monthly"][0]["months"][0]["month"], "2026-04");
    assert_eq!(months.2["monthly"][0]["months"][1]["month"], "2026-05");
    // b's forecast is of b's own spend (its September 2024 sample), none of c's.
    let b = api.get("/api/v1/forecast", &b_admin);
    assert_eq!(b.0, 200, "{:?}", b.2);
    assert_eq!(b.2["currencies"][0]["total"]["trained_through"], "2024-09-30");

    // Anomalies: the EC2 day, on the total, with EC2 as its root cause; tracked forecasts are
    // none yet.
    let a = api.get("/api/v1/anomalies", &c_admin);
    assert_eq!(a.0, 200, "{:?}", a.2);
    assert_eq!(a.2["anomalies"].as_array().map(Vec::len), Some(1), "{:?}", a.2);
    assert_eq!(
        (a.2["anomalies"][0]["series"].as_str(), a.2["anomalies"][0]["start"].as_str()),
        (Some("total"), Some("2026-04-20"))
    );
    assert_eq!(a.2["anomalies"][0]["root_causes"][0]["value"], "Amazon EC2", "{:?}", a.2);
    let t = api.get("/api/v1/forecast/tracked", &c_admin);
    assert_eq!((t.0, t.2["forecasts"].as_array().map(Vec::len)), (200, Some(0)));

    // Marks: analysts make them, within their tenant.
    let body = serde_json::json!({"series": "total", "from": "2018-10-10", "to": "2018-10-12", "note": "a migration"});
    let marks = |key: &str, method: &str| api.call(method, "/api/v1/anomalies/marks", Some(key), Some(body.clone()));
    assert_problem(&marks(&b_viewer, "POST"), 403, "a viewer marking");
    let made = marks(&a_analyst, "POST");
    assert_eq!(made.0, 200, "{:?}", made.2);
    assert_eq!(made.2["changed"], true);
    assert_eq!(made.2["marks"][0]["marked_by"], format!("key:{}", key_id(&a_analyst)));
    assert_eq!(marks(&a_analyst, "POST").2["changed"], false);
    assert_eq!(api.get("/api/v1/anomalies/marks", &a_admin).2["marks"].as_array().unwrap().len(), 1);
    assert_eq!(api.get("/api/v1/anomalies/marks", &b_admin).2["marks"].as_array().unwrap().len(), 0);
    let wrong = serde_json::json!({"series": "total", "from": "2018-10-12", "to": "2018-10-10"});
    assert_problem(&api.call("POST", "/api/v1/anomalies/marks", Some(&a_analyst), Some(wrong)), 422, "days reversed");
    let gone = marks(&a_analyst, "DELETE");
    assert_eq!((gone.0, gone.2["changed"].as_bool()), (200, Some(true)));
    assert_eq!(api.get("/api/v1/anomalies/marks", &a_admin).2["marks"].as_array().unwrap().len(), 0);

    // Monitors: analysts keep them, per tenant, and a monitor checks with its own settings.
    let put = |key: &str, name: &str, body: Value| {
        api.call("PUT", &format!("/api/v1/anomalies/monitors/{name}"), Some(key), Some(body))
    };
    assert_problem(&put(&b_viewer, "daily", serde_json::json!({})), 403, "a viewer keeping a monitor");
    let kept = put(&c_admin, "daily", serde_json::json!({"by": "service", "min_impact": 50}));
    assert_eq!(kept.0, 201, "{:?}", kept.2);
    assert_eq!((kept.2["name"].as_str(), kept.2["by"].as_str()), (Some("daily"), Some("service")));
    assert_eq!((kept.2["min_impact"].as_str(), kept.2["level"].as_str()), (Some("50"), Some("95")));
    assert_eq!(kept.2["updated_by"], format!("key:{}", key_id(&c_admin)));
    let replaced = put(&c_admin, "daily", serde_json::json!({"by": "service", "direction": "both"}));
    assert_eq!((replaced.0, replaced.2["direction"].as_str()), (200, Some("both")), "{:?}", replaced.2);
    assert_eq!(replaced.2["min_impact"], "100");
    assert_problem(&put(&c_admin, "daily", serde_json::json!({"by": "colour"})), 422, "not a dimension");
    assert_problem(&put(&c_admin, "two%20words", serde_json::json!({})), 422, "a name with a space");
    assert_problem(&put(&c_admin, "daily", serde_json::json!({"colour": 1})), 400, "an unknown field");
    let listed = api.get("/api/v1/anomalies/monitors", &c_admin);
    assert_eq!(listed.2["monitors"].as_array().map(Vec::len), Some(1), "{:?}", listed.2);
    assert_eq!(api.get("/api/v1/anomalies/monitors", &b_admin).2["monitors"].as_array().map(Vec::len), Some(0));
    let by_monitor = api.get("/api/v1/anomalies?monitor=daily", &c_admin);
    assert_eq!(by_monitor.0, 200, "{:?}", by_monitor.2);
    assert_eq!(by_monitor.2, api.get("/api/v1/anomalies?by=service&direction=both", &c_admin).2);
    assert_problem(&api.get("/api/v1/anomalies?monitor=daily&by=region", &c_admin), 422, "a monitor and its own by");
    assert_problem(&api.get("/api/v1/anomalies?monitor=daily&colour=red", &c_admin), 400, "an unknown parameter");
    assert_problem(&api.get("/api/v1/anomalies?monitor=daily", &b_admin), 404, "another tenant's monitor");
    // An alerting job polls for what the monitor has not reported, passes it on and records it.
    let fresh = api.get("/api/v1/anomalies?monitor=daily&new=true", &c_admin);
    assert_eq!(fresh.2, by_monitor.2);
    let found = by_monitor.2["anomalies"].as_array().unwrap().clone();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["series"], "service=Amazon EC2");
    let reported = |key: &str, name: &str, body: Value| {
        api.call("POST", &format!("/api/v1/anomalies/monitors/{name}/reported"), Some(key), Some(body))
    };
    let posted = serde_json::json!({"anomalies": found});
    assert_problem(&reported(&b_viewer, "daily", posted.clone()), 403, "a viewer recording reports");
    assert_problem(&reported(&b_admin, "daily", posted.clone()), 404, "another tenant's monitor");
    let bad_day = serde_json::json!({"anomalies": [{"series": "total", "currency": "USD", "start": "April"}]});
    assert_problem(&reported(&c_admin, "daily", bad_day), 400, "a start that is no date");
    let bad_series = serde_json::json!({"anomalies": [{"series": "EC2", "currency": "USD", "start": "2026-04-20"}]});
    assert_problem(&reported(&c_admin, "daily", bad_series), 422, "a series naming no dimension");
    let recorded = reported(&c_admin, "daily", posted.clone());
    assert_eq!((recorded.0, recorded.2["recorded"].as_u64(), recorded.2["already"].as_u64()), (200, Some(1), Some(0)));
    assert_eq!(reported(&c_admin, "daily", posted).2["already"], 1);
    let after = api.get("/api/v1/anomalies?monitor=daily&new=true", &c_admin);
    assert_eq!((after.0, after.2["anomalies"].as_array().map(Vec::len)), (200, Some(0)), "{:?}", after.2);
    assert_eq!(api.get("/api/v1/anomalies?monitor=daily&new=false", &c_admin).2, by_monitor.2);
    assert_problem(&api.get("/api/v1/anomalies?new=true", &c_admin), 422, "new without a monitor");
    assert_problem(&api.get("/api/v1/anomalies?monitor=daily&new=yes", &c_admin), 400, "new neither true nor false");
    let level = api.get("/api/v1/anomalies?by=service&level=100", &c_admin);
    assert_problem(&level, 400, "an interval level of 100 %");
    assert_eq!(level.2["detail"], "level=\"100\": a percentage between 0 and 100");
    // The anomalies page lists it, linked to the page with its settings.
    let browser_c = browser();
    let cookie = sign_in(&browser_c, &api.base, &c_admin);
    let page = browser_c.get(format!("{}/anomalies", api.base)).header("Cookie", &cookie).call().unwrap();
    let html = page.into_body().read_to_string().unwrap();
    assert!(html.contains("id=\"monitors\"") && html.contains("data-monitor=\"daily\""), "{html}");
    assert!(html.contains("href=\"/anomalies?by=service&amp;metric=billed&amp;top=10&amp;min_impact=100"), "{html}");
    let delete = |key: &str| api.call("DELETE", "/api/v1/anomalies/monitors/daily", Some(key), None);
    assert_eq!(delete(&b_admin).0, 404, "another tenant's monitor");
    assert_eq!(delete(&c_admin).0, 204);
    assert_eq!(delete(&c_admin).0, 404);

    // The dashboard: c's overview draws c's forecast; a's says why it has none.
    let browser = browser();
    let get = |cookie: &str, path: &str| {
        let r = browser.get(format!("{}{path}", api.base)).header("Cookie", cookie).call().unwrap();
        (r.status().as_u16(), r.into_body().read_to_string().unwrap())
    };
    let c_cookie = sign_in(&browser, &api.base, &c_admin);
    let (status, html) = get(&c_cookie, "/");
    assert_eq!(status, 200);
    assert!(html.contains("data-from=\"2026-04-30\"") && html.contains("id=\"month-forecast\""), "{html}");
    let a_cookie = sign_in(&browser, &api.base, &a_analyst);
    let (_, html) = get(&a_cookie, "/");
    assert!(html.contains("No forecast: ") && !html.contains("class=\"forecast\""), "{html}");
    // Marks from the anomalies page: an analyst's form, kept in the analyst's tenant; a viewer
    // sees no form and is refused; a forged token is refused.
    let (status, html) = get(&a_cookie, "/anomalies?by=service&from=");
    assert_eq!(status, 200);
    assert!(html.contains("id=\"no-anomalies\"") && html.contains("anomaly detection needs at least"), "{html}");
    let csrf = form_token(&html);
    let post = |cookie: &str, path: &str, csrf: &str| {
        let form = [
            ("csrf", csrf),
            ("series", "service=Amazon EC2"),
            ("from", "2026-03-10"),
            ("to", "2026-03-11"),
            ("note", "a load test"),
            ("back", "by=service&from="),
        ];
        let r = browser.post(format!("{}{path}", api.base)).header("Cookie", cookie).send_form(form).unwrap();
        (r.status().as_u16(), r.headers().get("location").and_then(|l| l.to_str().ok()).unwrap_or("").to_string())
    };
    assert_eq!(post(&a_cookie, "/anomalies/mark", &"0".repeat(32)).0, 403, "a forged form token");
    assert_eq!(post(&a_cookie, "/anomalies/mark", &csrf), (303, "/anomalies?by=service&from=".to_string()));
    let kept = api.get("/api/v1/anomalies/marks", &a_admin);
    assert_eq!(kept.2["marks"][0]["series"], "service=Amazon EC2", "{:?}", kept.2);
    assert_eq!(kept.2["marks"][0]["note"], "a load test");
    assert_eq!(api.get("/api/v1/anomalies/marks", &c_admin).2["marks"].as_array().unwrap().len(), 0);
    let (_, html) = get(&a_cookie, "/anomalies");
    assert!(html.contains("id=\"marks\"") && html.contains("Take back"), "{html}");
    let b_cookie = sign_in(&browser, &api.base, &b_viewer);
    let (_, html) = get(&b_cookie, "/anomalies");
    assert!(!html.contains("action=\"/anomalies/mark\""), "a viewer is offered the form: {html}");
    let b_csrf = form_token(&html);
    assert_eq!(post(&b_cookie, "/anomalies/mark", &b_csrf).0, 403, "a viewer marking");
    assert_eq!(post(&a_cookie, "/anomalies/unmark", &csrf).0, 303);
    assert_eq!(api.get("/api/v1/anomalies/marks", &a_admin).2["marks"].as_array().unwrap().len(), 0);
}

/// Sends raw bytes to the server and returns the status line of its answer ("" when the
/// connection was dropped without one).
fn raw_request(base: &str, request: &str) -> String {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).lines().next().unwrap_or("").to_string()
}

/// Text the store cannot keep (NUL), and text that has broken queries before (a backslash, a
/// quote), through every operation of the OpenAPI document: in each path parameter, each query
/// parameter and a JSON body. NUL is a 4xx everywhere; nothing is ever a 5xx. A body declared
/// over the limit is 413 at once, and a filename that is a quote is answered, not dropped.
#[test]
fn hostile_text_in_every_operation_is_a_client_error() {
    let f = fixture(&["--rate-limit", "1000000", "--rate-burst", "1000000"]);
    let (api, key) = (&f.api, &f.a_admin);
    let doc = api.call("GET", "/api/v1/openapi.json", None, None).2;
    let paths = doc["paths"].as_object().unwrap();
    let mut operations = 0;
    for payload in ["a%00b", "a%5Cb%22c", "%22", "%27%3B--"] {
        let nul = payload.contains("%00");
        for (path, item) in paths {
            for (method, op) in item.as_object().unwrap() {
                if !["get", "post", "put", "delete"].contains(&method.as_str()) {
                    continue;
                }
                operations += usize::from(payload == "a%00b");
                let mut url = path.clone();
                let mut query = Vec::new();
                for p in op["parameters"].as_array().cloned().unwrap_or_default() {
                    let name = p["name"].as_str().unwrap().to_string();
                    match p["in"].as_str() {
                        Some("path") => url = url.replace(&format!("{{{name}}}"), payload),
                        Some("query") => query.push(format!("{name}={payload}")),
                        _ => {}
                    }
                }
                if !query.is_empty() {
                    url = format!("{url}?{}", query.join("&"));
                }
                let text = payload
                    .replace("%00", "\u{0}")
                    .replace("%5C", "\\")
                    .replace("%22", "\"")
                    .replace("%27", "'")
                    .replace("%3B", ";");
                let body = op.get("requestBody").map(|_| {
                    serde_json::json!({"name": text, "reason": text, "url": text, "stream": text, "note": text,
                        "rules": {"version": 1, "rules": [{"id": text}]}, "series": text, "ignored": true})
                });
                let carried = url.contains(payload) || body.is_some();
                let answer = api.call(&method.to_uppercase(), &url, Some(key), body);
                assert!(answer.0 < 500, "{method} {url}: {} {:?}", answer.0, answer.2);
                if nul && carried {
                    assert!((400..500).contains(&answer.0), "{method} {url}: {} {:?}", answer.0, answer.2);
                }
            }
        }
    }
    assert!(operations >= 48, "every operation of the document: {operations}");

    // A body declared larger than the route takes is refused before it is sent.
    let host = api.base.trim_start_matches("http://");
    for (path, size) in [("/api/v1/ingest/upload?filename=x.csv", 2u64 << 30), ("/api/v1/allocation/rules", 100 << 20)]
    {
        let status = raw_request(
            &api.base,
            &format!("POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n\r\n"),
        );
        assert!(status.contains(" 413 "), "{path}: {status:?}");
    }
    // A filename that is a double quote, encoded or not: an answer, never a dropped connection.
    for name in ["%22", "\""] {
        let status = raw_request(
            &api.base,
            &format!("POST /api/v1/ingest/upload?filename={name} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\nContent-Length: 3\r\n\r\na,b"),
        );
        assert!(status.contains(" 400 "), "filename={name}: {status:?}");
    }
}

/// Signing out ends the session on the server: the old cookie no longer signs in. Wrong secrets
/// for a key id are answered 401 a few times, then 429; the right key still works.
#[test]
fn sign_out_ends_the_session_and_failed_keys_are_rate_limited() {
    let f = fixture(&[]);
    let browser = browser();
    let cookie = sign_in(&browser, &f.api.base, &f.a_admin);
    let home = |cookie: &str| browser.get(format!("{}/", f.api.base)).header("Cookie", cookie).call().unwrap();
    let page = home(&cookie);
    assert_eq!(page.status().as_u16(), 200);
    let csrf = form_token(&page.into_body().read_to_string().unwrap());
    let out = browser
        .post(format!("{}/logout", f.api.base))
        .header("Cookie", &cookie)
        .send_form([("csrf", csrf.as_str())])
        .unwrap();
    assert_eq!(out.status().as_u16(), 303);
    let replayed = home(&cookie);
    assert_eq!(replayed.status().as_u16(), 303, "the signed-out cookie still signs in");
    assert_eq!(replayed.headers().get("location").and_then(|v| v.to_str().ok()), Some("/login"));
    // Signing in again gives a session that works.
    let again = sign_in(&browser, &f.api.base, &f.a_admin);
    assert_eq!(home(&again).status().as_u16(), 200);

    // A well-formed key with a wrong secret: 401, then 429 once the key id's budget is spent.
    let parts: Vec<&str> = f.a_admin.split('.').collect();
    let wrong = format!("{}.{}.{}.{}", parts[0], parts[1], parts[2], "0".repeat(parts[3].len()));
    let statuses: Vec<u16> = (0..30).map(|_| f.api.get("/api/v1/runs", &wrong).0).collect();
    assert_eq!(statuses[0], 401, "{statuses:?}");
    assert!(statuses.iter().filter(|s| **s == 401).count() <= 20, "{statuses:?}");
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    let limited = f.api.get("/api/v1/runs", &wrong);
    assert_problem(&limited, 429, "a guessed secret");
    assert!(limited.1.get("retry-after").is_some());
    assert_eq!(f.api.get("/api/v1/runs", &f.a_admin).0, 200, "the right key is not locked out");
}
