//! The Valdrix HTTP API (`valdrix serve`).
//!
//! Every `/api/v1` request carries an API key (`Authorization: Bearer vdx.TENANT.KEYID.SECRET`);
//! the key names its tenant, which becomes the tenant of every store call the request makes (on
//! PostgreSQL, `SET LOCAL app.tenant_id` in the request's transaction, under row-level security).
//! A key of one tenant therefore cannot name another tenant's data: such requests find nothing
//! (404) or are refused (403). Errors are `application/problem+json` with the request's id.

pub mod auth;
pub mod metrics;
pub mod pool;
pub mod problem;

use axum::extract::{FromRef, FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use valdrix_core::TenantId;
use valdrix_store::keys::{ApiKeyInfo, Role};
use valdrix_store::{CostQuery, Dimension, Filter, Metric};

pub use pool::StorePool;
pub use problem::ApiError;

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    /// Where stores come from.
    pub stores: StorePool,
}

impl FromRef<AppState> for StorePool {
    fn from_ref(s: &AppState) -> StorePool {
        s.stores.clone()
    }
}

/// The caller, from its API key.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The key's tenant: every store call of the request is scoped to it.
    pub tenant: TenantId,
    /// What the key may do.
    pub role: Role,
    /// The key's id.
    pub key_id: String,
}

impl Caller {
    /// Refuses callers below `role`.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.role >= role {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this needs the {} role; the key has {}",
                role.as_str(),
                self.role.as_str()
            )))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller
where
    StorePool: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ApiError::unauthorized("send an API key: Authorization: Bearer vdx.…"))?;
        let token = header.strip_prefix("Bearer ").unwrap_or("").trim();
        let presented = auth::parse(token).ok_or_else(|| ApiError::unauthorized("the API key is malformed"))?;
        let stores = StorePool::from_ref(state);
        let (tenant, key_id) = (presented.tenant.clone(), presented.key_id.clone());
        let found = stores.run(move |s| s.api_key(&tenant, &key_id)).await?;
        match found {
            Some((info, hash)) if auth::verify(&presented, &info, &hash) => {
                Ok(Caller { tenant: presented.tenant, role: info.role, key_id: info.key_id })
            }
            _ => Err(ApiError::unauthorized("the API key is unknown or revoked")),
        }
    }
}

/// The API's routes, with the request-id, problem and security-header middleware.
pub fn router(state: AppState) -> Router {
    metrics::handle();
    let api = Router::new()
        .route("/costs", get(costs))
        .route("/runs", get(runs))
        .route("/keys", get(list_keys).post(create_key))
        .route("/keys/{key_id}", delete(revoke_key));
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_page))
        .nest("/api/v1", api)
        .fallback(|| async { ApiError::not_found("no such route") })
        .with_state(state)
        .layer(axum::middleware::from_fn(metrics::track))
        .layer(axum::middleware::from_fn(problem::finish))
}

/// Serves `router(state)` on `listener` until the process is told to stop.
pub async fn serve(listener: tokio::net::TcpListener, state: AppState) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}

async fn metrics_page(State(stores): State<StorePool>) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], metrics::render(&stores))
}

async fn readyz(State(stores): State<StorePool>) -> Result<Json<Value>, ApiError> {
    // A tenant-scoped query of a tenant no one has: the database answers, the tenant context
    // works, nothing is read.
    let probe = TenantId::parse("_readyz").map_err(|e| ApiError::bad_request(e.to_string()))?;
    stores.run(move |s| s.api_keys(&probe)).await?;
    let u = stores.usage();
    Ok(Json(json!({ "status": "ready", "pool": { "in_use": u.in_use, "size": u.size } })))
}

/// `key=value` pairs of a query string, in order (repeated keys kept).
fn query_pairs(raw: &Option<String>) -> Result<Vec<(String, String)>, ApiError> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(raw.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("query string: {e}")))
}

fn date(name: &str, v: &str) -> Result<chrono::NaiveDate, ApiError> {
    chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .map_err(|_| ApiError::bad_request(format!("{name}={v:?}: expected YYYY-MM-DD")))
}

/// The cost query a query string asks for: `group_by=service,day`, `metric=billed`,
/// `from`/`to` (YYYY-MM-DD, `to` exclusive), `filter=DIM=V1,V2` (repeatable).
fn cost_query(pairs: &[(String, String)]) -> Result<CostQuery, ApiError> {
    let mut q = CostQuery::default();
    for (k, v) in pairs {
        match k.as_str() {
            "group_by" => {
                for d in v.split(',').map(str::trim).filter(|d| !d.is_empty()) {
                    q.group_by.push(
                        Dimension::parse(d).ok_or_else(|| ApiError::bad_request(format!("unknown dimension {d:?}")))?,
                    );
                }
            }
            "metric" => {
                q.metric = Metric::parse(v).ok_or_else(|| {
                    ApiError::bad_request(format!("metric={v:?}: use billed, effective, list or contracted"))
                })?
            }
            "from" => q.from = Some(date("from", v)?),
            "to" => q.to = Some(date("to", v)?),
            "filter" => {
                let (d, vals) = v
                    .split_once('=')
                    .ok_or_else(|| ApiError::bad_request(format!("filter={v:?}: expected DIMENSION=VALUE")))?;
                let dimension =
                    Dimension::parse(d).ok_or_else(|| ApiError::bad_request(format!("unknown dimension {d:?}")))?;
                q.filters.push(Filter { dimension, values: vals.split(',').map(|s| s.trim().to_string()).collect() });
            }
            other => return Err(ApiError::bad_request(format!("unknown parameter {other:?}"))),
        }
    }
    if let (Some(f), Some(t)) = (q.from, q.to) {
        if f >= t {
            return Err(ApiError::bad_request("from must be before to (to is exclusive)"));
        }
    }
    Ok(q)
}

/// One row of a cost answer.
#[derive(Debug, Serialize)]
struct CostRowOut {
    keys: serde_json::Map<String, Value>,
    currency: String,
    amount: rust_decimal::Decimal,
    records: u64,
}

async fn costs(
    caller: Caller,
    State(stores): State<StorePool>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q = cost_query(&query_pairs(&raw)?)?;
    let tenant = caller.tenant.clone();
    let query = q.clone();
    let rows = stores.run(move |s| s.costs(&tenant, &query)).await?;
    let names: Vec<String> = q.group_by.iter().map(|d| d.label()).collect();
    let rows: Vec<CostRowOut> = rows
        .into_iter()
        .map(|r| CostRowOut {
            keys: names
                .iter()
                .cloned()
                .zip(r.keys.into_iter().map(|k| k.map(Value::String).unwrap_or(Value::Null)))
                .collect(),
            currency: r.currency,
            amount: r.amount,
            records: r.records,
        })
        .collect();
    Ok(Json(json!({ "group_by": names, "metric": q.metric.column(), "rows": rows })))
}

async fn runs(
    caller: Caller,
    State(stores): State<StorePool>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let mut limit = 50usize;
    for (k, v) in query_pairs(&raw)? {
        match k.as_str() {
            "limit" => {
                limit = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=500).contains(n))
                    .ok_or_else(|| ApiError::bad_request(format!("limit={v:?}: 1 to 500")))?
            }
            other => return Err(ApiError::bad_request(format!("unknown parameter {other:?}"))),
        }
    }
    let tenant = caller.tenant.clone();
    let runs = stores.run(move |s| s.runs(&tenant, limit)).await?;
    Ok(Json(json!({ "runs": runs })))
}

async fn list_keys(caller: Caller, State(stores): State<StorePool>) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Admin)?;
    let tenant = caller.tenant.clone();
    let keys: Vec<ApiKeyInfo> = stores.run(move |s| s.api_keys(&tenant)).await?;
    Ok(Json(json!({ "keys": keys })))
}

/// Body of `POST /api/v1/keys`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKeyIn {
    name: String,
    role: Role,
}

async fn create_key(
    caller: Caller,
    State(stores): State<StorePool>,
    body: Result<Json<NewKeyIn>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Role::Admin)?;
    let Json(body) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    if body.name.trim().is_empty() || body.name.len() > 200 {
        return Err(ApiError::bad_request("name: 1 to 200 characters"));
    }
    let issued = auth::issue(&caller.tenant, body.name.trim(), body.role, &format!("key:{}", caller.key_id))
        .map_err(|e| ApiError { status: StatusCode::INTERNAL_SERVER_ERROR, detail: e })?;
    let tenant = caller.tenant.clone();
    let stored = issued.stored.clone();
    let info = stores.run(move |s| s.create_api_key(&tenant, &stored)).await?;
    Ok((StatusCode::CREATED, Json(json!({ "key": issued.key, "info": info, "note": "the key is shown once" }))))
}

async fn revoke_key(
    caller: Caller,
    State(stores): State<StorePool>,
    Path(key_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Admin)?;
    let tenant = caller.tenant.clone();
    let id = key_id.clone();
    if stores.run(move |s| s.revoke_api_key(&tenant, &id)).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("no key {key_id}")))
    }
}
