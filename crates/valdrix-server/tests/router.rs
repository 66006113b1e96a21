//! The router in-process, without a socket: each answer's status says whose doing a failure is,
//! as the application layer sorts it (no message is inspected to decide), and every refusal is
//! `application/problem+json`.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use tower::ServiceExt;

use valdrix_core::TenantId;
use valdrix_server::{AppState, RateLimits, StorePool};
use valdrix_store::keys::Role;
use valdrix_store::SqliteStore;

/// A router over an empty in-memory store and an analyst key of tenant `acme`.
fn router() -> (axum::Router, String) {
    router_as(Role::Analyst)
}

/// A router over an empty in-memory store and a key of tenant `acme` with `role`.
fn router_as(role: Role) -> (axum::Router, String) {
    let mut store = SqliteStore::in_memory().expect("in-memory store");
    let tenant = TenantId::parse("acme").expect("tenant");
    let (key, _) = valdrix_app::keys::create(&mut store, &tenant, "test", role, "test").expect("key");
    let state = AppState::new(StorePool::sqlite(store), RateLimits::per_tenant(1000, 1000)).expect("state");
    (valdrix_server::router(state), key)
}

/// Sends `method path` (with `body`) and returns the status, content type and body text.
async fn send(
    app: &axum::Router,
    key: Option<&str>,
    method: &str,
    path: &str,
    body: &str,
) -> (StatusCode, String, String) {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(k) = key {
        req = req.header(header::AUTHORIZATION, format!("Bearer {k}"));
    }
    if method != "GET" {
        req = req.header(header::CONTENT_TYPE, "application/octet-stream");
    }
    let res = app.clone().oneshot(req.body(Body::from(body.to_string())).expect("request")).await.expect("answer");
    let status = res.status();
    let kind = res.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20).await.expect("body");
    (status, kind, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test]
async fn each_refusal_is_sorted_by_whose_doing_it_is() {
    let (app, key) = router();
    let key = Some(key.as_str());

    // No key: 401.
    let (status, kind, _) = send(&app, None, "GET", "/api/v1/costs", "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(kind.starts_with("application/problem+json"), "{kind}");

    // An empty store answers an empty cost table.
    let (status, _, body) = send(&app, key, "GET", "/api/v1/costs?group_by=service", "").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // A parameter the endpoint does not take: the caller's (400).
    let (status, kind, _) = send(&app, key, "GET", "/api/v1/costs?colour=blue", "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(kind.starts_with("application/problem+json"), "{kind}");

    // Allocation without a stored rule set: nothing to find (404), not a server error.
    let (status, kind, body) = send(&app, key, "GET", "/api/v1/allocation?month=2026-10", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(kind.starts_with("application/problem+json"), "{kind}");
    assert!(body.contains("no allocation rules"), "{body}");

    // Anomalies with no final spend: nothing to find (404).
    let (status, _, body) = send(&app, key, "GET", "/api/v1/anomalies", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    // A file that is not a bill: the caller's input (422), naming the file.
    let (status, kind, body) =
        send(&app, key, "POST", "/api/v1/ingest/upload?filename=notes.csv", "name,colour\nfig,green\n").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(kind.starts_with("application/problem+json"), "{kind}");
    assert!(body.contains("notes.csv"), "{body}");

    // A bill with a bad amount: 422 naming the row and the column; nothing is written.
    let cur = "identity/LineItemId,identity/TimeInterval,bill/PayerAccountId,lineItem/UsageAccountId,\
lineItem/LineItemType,lineItem/UsageStartDate,lineItem/UsageEndDate,lineItem/ProductCode,\
lineItem/UnblendedCost,lineItem/CurrencyCode,bill/BillingPeriodStartDate,bill/BillingPeriodEndDate\n\
a,2026-10-01T00:00:00Z/2026-10-02T00:00:00Z,1,1,Usage,2026-10-01T00:00:00Z,2026-10-02T00:00:00Z,AmazonEC2,$5,USD,\
2026-10-01T00:00:00Z,2026-11-01T00:00:00Z\n";
    let (status, _, body) = send(&app, key, "POST", "/api/v1/ingest/upload?filename=cur.csv", cur).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains("row 1"), "{body}");
    let (_, _, runs) = send(&app, key, "GET", "/api/v1/runs", "").await;
    assert!(runs.contains("\"runs\":[]") || runs.contains("\"runs\": []"), "{runs}");
}

/// The document's dimension patterns are written from the parser's list: every spelling the
/// parser takes is in them, and no placeholder is left.
#[tokio::test]
async fn the_document_names_every_dimension_the_parser_takes() {
    let (app, _) = router();
    let (status, _, doc) = send(&app, None, "GET", "/api/v1/openapi.json", "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!doc.contains("DIMENSION("), "a pattern kept its placeholder");
    let spelled = valdrix_store::Dimension::pattern();
    assert!(spelled.contains("billing-period|tag:"), "{spelled}");
    let json: serde_json::Value = serde_json::from_str(&doc).expect("JSON");
    let params = &json["paths"]["/api/v1/costs"]["get"]["parameters"];
    let group_by = params.as_array().expect("parameters").iter().find(|p| p["name"] == "group_by").expect("group_by");
    let pattern = group_by["schema"]["pattern"].as_str().expect("pattern");
    assert_eq!(pattern, format!("^({spelled}(,{spelled})*)?$"));
    for (name, _) in valdrix_store::query::SPELLINGS {
        assert!(pattern.contains(&format!("{name}|")), "{name} missing from {pattern}");
    }
}

/// What the document lists is what each endpoint reads: every query parameter the document
/// gives a GET endpoint is taken by it (whatever it says of the value), and a parameter the
/// document does not list is refused by name.
#[tokio::test]
async fn each_endpoint_reads_the_parameters_its_document_lists() {
    // An admin: the keys list answers only admins, and a role is checked before parameters.
    let (app, key) = router_as(Role::Admin);
    let key = Some(key.as_str());
    let (_, _, doc) = send(&app, None, "GET", "/api/v1/openapi.json", "").await;
    let json: serde_json::Value = serde_json::from_str(&doc).expect("JSON");
    let mut checked = 0;
    for (path, item) in json["paths"].as_object().expect("paths") {
        let Some(get) = item.get("get") else { continue };
        let path = path
            .replace("{run_id}", "1")
            .replace("{record_id}", "abcd-20260101")
            .replace("{plan_id}", "1")
            .replace("{name}", "daily");
        let params = get["parameters"].as_array().cloned().unwrap_or_default();
        for p in params.iter().filter(|p| p["in"] == "query") {
            let name = p["name"].as_str().expect("name");
            let (_, _, body) = send(&app, key, "GET", &format!("{path}?{name}=x"), "").await;
            assert!(!body.contains("unknown parameter"), "{path} does not read its documented {name}: {body}");
            checked += 1;
        }
        let (status, _, body) = send(&app, key, "GET", &format!("{path}?undocumented=1"), "").await;
        if path.starts_with("/api/v1/") && get.get("security").is_some() {
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path} took an undocumented parameter: {body}");
            assert!(body.contains("unknown parameter \\\"undocumented\\\""), "{path}: {body}");
        }
    }
    assert!(checked > 40, "only {checked} documented parameters were found");
}
