//! The `/api/v1` handlers and their OpenAPI description (what `/api/v1/openapi.json` serves).
//!
//! Each endpoint's query parameters are one type ([`params`]) that both describes them in the
//! document and reads them, so that every mistake becomes a 400 that names the parameter.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use valdrix_core::TenantId;
use valdrix_store::keys::{ApiKeyInfo, Role};
use valdrix_store::{CostQuery, Dimension, Filter, Metric};

use crate::{metrics, ApiError, Caller, StorePool};

pub mod allocation;
pub mod anomalies;
pub mod forecast;
pub mod ingest;
pub mod monitors;
pub mod params;
pub mod reconcile;
mod refusals;
pub mod trust;
pub mod zombies;

pub use params::{NoParams, Params};
pub use refusals::{Conflict, Forbidden, NotFound, NotJson, Refusals, TooLarge, Unreadable, Unready, Unusable};

/// The largest page any list answers.
pub const MAX_PAGE: usize = 500;

/// An error (RFC 9457), as every error response carries it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// Always `about:blank`: the status says what kind of error it is.
    #[serde(rename = "type")]
    pub kind: String,
    /// The status's reason phrase.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// What went wrong, for a person.
    pub detail: String,
    /// The request's id (also in the `x-request-id` header), to find it in the server log.
    pub request_id: String,
}

/// Readiness.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ready {
    /// `ready`.
    pub status: String,
    /// The database connection pool.
    pub pool: PoolOut,
}

/// Connections of the pool.
#[derive(Debug, Serialize, ToSchema)]
pub struct PoolOut {
    /// Lent out now.
    pub in_use: usize,
    /// At most.
    pub size: usize,
}

/// Cost metrics.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MetricName {
    /// BilledCost: the invoice view.
    Billed,
    /// EffectiveCost: amortised.
    Effective,
    /// ListCost.
    List,
    /// ContractedCost.
    Contracted,
}

/// The range and filters of a cost question, shared by costs, records, the export and
/// reconciliation (the same as `valdrix costs --from --to --filter`).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CostFilters {
    /// First charge day (YYYY-MM-DD).
    #[serde(default, deserialize_with = "params::one")]
    #[param(value_type = Option<String>, format = Date)]
    from: Option<chrono::NaiveDate>,
    /// Day after the last charge day (YYYY-MM-DD, exclusive; not after `from` gives no rows).
    #[serde(default, deserialize_with = "params::one")]
    #[param(value_type = Option<String>, format = Date)]
    to: Option<chrono::NaiveDate>,
    /// `DIMENSION=V1,V2`: keep records whose dimension has one of the values (repeatable; an
    /// empty value matches records without one).
    #[serde(default, deserialize_with = "params::each")]
    #[param(inline, value_type = Option<Vec<FilterText>>)]
    filter: Vec<Filter>,
}

impl CostFilters {
    /// The cost query of the range and filters (billed, ungrouped).
    pub fn query(self) -> CostQuery {
        CostQuery { from: self.from, to: self.to, filters: self.filter, ..Default::default() }
    }
}

/// How `GET /api/v1/costs` groups and what it adds up.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Grouping {
    /// Dimensions to group by, comma-separated: provider, service, service-category, account,
    /// sub-account, region, resource, charge-category, pricing-category, usage-type, day, month,
    /// currency, source, billing-period, tag:KEY.
    #[serde(default, deserialize_with = "params::one")]
    #[param(value_type = Option<String>, pattern = r"^(DIMENSION(,DIMENSION)*)?$")]
    group_by: Option<params::Dimensions>,
    /// Which cost to add up (default billed).
    #[serde(default, deserialize_with = "params::one")]
    #[param(value_type = Option<MetricName>)]
    metric: Option<Metric>,
}

/// Parameters of `GET /api/v1/costs`.
pub type CostParams = params::And<CostFilters, Grouping>;

/// A filter, `DIMENSION=V1,V2` (a schema only: filters are read as [`Filter`]).
#[derive(Debug, ToSchema)]
#[schema(value_type = String, pattern = r"^DIMENSION=.*$")]
pub struct FilterText(pub String);

/// One group of a cost answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct CostRowOut {
    /// The group's value of each `group_by` dimension (null: records without one).
    pub keys: BTreeMap<String, Option<String>>,
    /// Currency (amounts of different currencies are never added).
    pub currency: String,
    /// The exact sum, as a decimal string.
    #[schema(value_type = String, example = "1234.5678")]
    pub amount: rust_decimal::Decimal,
    /// Daily records added up.
    pub records: u64,
}

/// A cost answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct CostsOut {
    /// The dimensions grouped by.
    pub group_by: Vec<String>,
    /// The cost added up.
    pub metric: String,
    /// Groups, per currency.
    pub rows: Vec<CostRowOut>,
}

/// Parameters of `GET /api/v1/runs`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunsParams {
    /// Runs per page, newest first (1 to 500, default 50).
    #[serde(default, deserialize_with = "params::one")]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    limit: Option<params::PageSize>,
    /// `next_cursor` of the previous page.
    #[serde(default, deserialize_with = "params::one")]
    #[param(value_type = Option<String>, pattern = r"^r[0-9]{1,18}$")]
    cursor: Option<params::Numbered<'r'>>,
}

/// Ingestion runs, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunsOut {
    /// Each run: its source, files, checksum, rows, records, totals per currency, what it changed.
    #[schema(value_type = Vec<Object>)]
    pub runs: Vec<valdrix_store::RunSummary>,
    /// Give it as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Key roles.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RoleName {
    /// Reads.
    Viewer,
    /// Reads and writes.
    Analyst,
    /// Also manages keys.
    Admin,
}

impl From<RoleName> for Role {
    fn from(r: RoleName) -> Role {
        match r {
            RoleName::Viewer => Role::Viewer,
            RoleName::Analyst => Role::Analyst,
            RoleName::Admin => Role::Admin,
        }
    }
}

/// An API key, without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyOut {
    /// Public id (the third part of the key).
    pub key_id: String,
    /// What it is for.
    pub name: String,
    /// viewer, analyst or admin.
    pub role: String,
    /// Created (RFC 3339).
    pub created_at: String,
    /// By whom.
    pub created_by: String,
    /// Revoked (RFC 3339), if it was.
    pub revoked_at: Option<String>,
}

impl From<ApiKeyInfo> for KeyOut {
    fn from(k: ApiKeyInfo) -> Self {
        KeyOut {
            key_id: k.key_id,
            name: k.name,
            role: k.role.as_str().to_string(),
            created_at: k.created_at,
            created_by: k.created_by,
            revoked_at: k.revoked_at,
        }
    }
}

/// The tenant's keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeysOut {
    /// Oldest first.
    pub keys: Vec<KeyOut>,
}

/// A key to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKeyIn {
    /// What it is for (1 to 200 characters).
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// What it may do.
    pub role: RoleName,
}

/// A created key: shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    /// The key, for `Authorization: Bearer …`; only its hash is stored.
    pub key: String,
    /// Its description.
    pub info: KeyOut,
}

/// The OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "Valdrix API", description = "Cloud costs, ingested exactly and kept per tenant.", version = "1"),
    paths(healthz, readyz, tenant, costs, runs, list_keys, create_key, revoke_key,
        trust::records, trust::history, trust::run_audit, trust::audit_entries, trust::alerts, trust::periods,
        trust::close_period, trust::reopen_period, trust::freshness, reconcile::reconciliation,
        ingest::upload, ingest::from_url, ingest::export_focus,
        zombies::list, zombies::history, zombies::ignore, zombies::scans, zombies::plans, zombies::create_plan,
        zombies::plan, zombies::approve, zombies::cancel,
        allocation::rules, allocation::save_rules, allocation::history, allocation::allocation, allocation::months,
        allocation::explain, allocation::unallocated, allocation::simulate,
        forecast::forecast, forecast::tracked, anomalies::anomalies, anomalies::marks, anomalies::mark, anomalies::unmark,
        monitors::monitors, monitors::save_monitor, monitors::delete_monitor, monitors::report_anomalies),
    components(schemas(MetricName, RoleName, FilterText, Problem)),
    modifiers(&BearerAuth),
    tags((name = "costs", description = "Cost answers and the FOCUS export"),
         (name = "ingestion", description = "Uploads, object-storage fetches, runs and what they changed"),
         (name = "trust", description = "Records and their lineage, alerts, billing periods, reconciliation"),
         (name = "zombies", description = "Idle and orphaned resources found by scans, and their remediation plans"),
         (name = "allocation", description = "Who spent what: versioned allocation rules, each target's costs, the unallocated bucket, the arithmetic behind every figure"),
         (name = "forecasts", description = "Spend forecasts with intervals and their track record, anomalies with root causes, days marked as expected, anomaly monitors"),
         (name = "tenant", description = "The caller's tenant"),
         (name = "keys", description = "API keys of the tenant (admin)"), (name = "health", description = "Health"))
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        // Patterns name a dimension `DIMENSION`, written out here from the parser's own list
        // (`valdrix_store::query::SPELLINGS`), so the document cannot drift from what is parsed.
        let spelled = Dimension::pattern();
        if let Ok(mut doc) = serde_json::to_value(&*openapi) {
            spell_dimensions(&mut doc, &spelled);
            if let Ok(done) = serde_json::from_value(doc) {
                *openapi = done;
            }
        }
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("vdx.TENANT.KEYID.SECRET")
                    .description(Some("An API key; its tenant scopes every answer."))
                    .build(),
            ),
        );
    }
}

/// Writes `spelled` for `DIMENSION` in every `pattern` of the document.
fn spell_dimensions(v: &mut serde_json::Value, spelled: &str) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                match child {
                    serde_json::Value::String(p) if k == "pattern" => *p = p.replace("DIMENSION", spelled),
                    _ => spell_dimensions(child, spelled),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|i| spell_dimensions(i, spelled)),
        _ => {}
    }
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "Alive", body = String)))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the database answers a tenant-scoped query.
#[utoipa::path(get, path = "/readyz", tag = "health", responses(
    (status = 200, description = "Ready", body = Ready), Unready,
))]
pub async fn readyz(State(stores): State<StorePool>) -> Result<Json<Ready>, ApiError> {
    // A tenant no one has: the database answers, the tenant context works, nothing is read.
    let probe = TenantId::parse("_readyz").map_err(|e| ApiError::bad_request(e.to_string()))?;
    stores.run(move |s| s.api_keys(&probe)).await?;
    let u = stores.usage();
    Ok(Json(Ready { status: "ready".into(), pool: PoolOut { in_use: u.in_use, size: u.size } }))
}

/// The metrics page (Prometheus text format).
pub async fn metrics_page(State(stores): State<StorePool>) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], metrics::render(&stores))
}

/// A positive number naming a run or a plan; otherwise a 400 saying which.
pub(crate) fn number(what: &str, v: &str) -> Result<i64, ApiError> {
    use params::FromArg;
    params::Positive::from_arg(v)
        .map(|p| p.0)
        .map_err(|_| ApiError::bad_request(format!("{what} {v:?}: a {what} number")))
}

/// Cuts `rows` (fetched one past `limit`) to a page: the rows, and the cursor of the next page
/// (`cursor` of the last row kept) when there is one.
pub(crate) fn page<T>(mut rows: Vec<T>, limit: usize, cursor: impl Fn(&T) -> String) -> (Vec<T>, Option<String>) {
    if rows.len() <= limit {
        return (rows, None);
    }
    rows.truncate(limit);
    let next = rows.last().map(cursor);
    (rows, next)
}

/// A JSON request body, through the one extractor every handler takes: a body that is not JSON
/// of the right shape is a 400 problem naming what is wrong (415 without the JSON content type).
/// The refusal is handed over when the handler asks for the body, after it has checked the
/// caller's role, so a caller without the role learns that first.
pub struct JsonBody<T>(Result<T, ApiError>);

impl<T> JsonBody<T> {
    /// The body, or the refusal of it.
    pub fn into_inner(self) -> Result<T, ApiError> {
        self.0
    }
}

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequest<S> for JsonBody<T> {
    type Rejection = std::convert::Infallible;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        Ok(JsonBody(json_body(Json::<T>::from_request(req, state).await)))
    }
}

/// A JSON body, or a 400/415 that says what is wrong with it.
fn json_body<T>(body: Result<Json<T>, axum::extract::rejection::JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(b)| b).map_err(|e| {
        let status =
            if e.status() == StatusCode::UNSUPPORTED_MEDIA_TYPE { e.status() } else { StatusCode::BAD_REQUEST };
        ApiError::new(status, e.body_text())
    })
}

/// Splits a use case's result for [`crate::StorePool::run`]: the store's own failures stay the
/// store's (the pool answers them, a timeout as 503), the rest become the caller's answer by whose
/// doing they are ([`valdrix_app::Fault`]).
pub(crate) fn apart<T, E: Into<valdrix_app::AppError>>(
    r: Result<T, E>,
) -> Result<Result<T, ApiError>, valdrix_store::StoreError> {
    match r.map_err(Into::into) {
        Ok(v) => Ok(Ok(v)),
        Err(valdrix_app::AppError::Store(s)) => Err(s),
        Err(e) => Ok(Err(e.into())),
    }
}

/// Cost totals grouped by any dimensions, per currency, exact.
#[utoipa::path(get, path = "/api/v1/costs", tag = "costs", params(CostParams), security(("api_key" = [])), responses(
    (status = 200, description = "Groups per currency", body = CostsOut), Refusals,
))]
pub async fn costs(
    caller: Caller,
    State(stores): State<StorePool>,
    params: Params<CostParams>,
) -> Result<Json<CostsOut>, ApiError> {
    let params::And(filters, grouping) = params.into_inner()?;
    let q = CostQuery {
        group_by: grouping.group_by.unwrap_or_default().0,
        metric: grouping.metric.unwrap_or_default(),
        ..filters.query()
    };
    let tenant = caller.tenant.clone();
    let query = q.clone();
    let rows = stores.run(move |s| s.costs(&tenant, &query)).await?;
    let names: Vec<String> = q.group_by.iter().map(|d| d.label()).collect();
    let rows = rows
        .into_iter()
        .map(|r| CostRowOut {
            keys: names.iter().cloned().zip(r.keys).collect(),
            currency: r.currency,
            amount: r.amount,
            records: r.records,
        })
        .collect();
    Ok(Json(CostsOut { group_by: names, metric: q.metric.column().to_string(), rows }))
}

/// Ingestion runs of the tenant, newest first.
#[utoipa::path(get, path = "/api/v1/runs", tag = "ingestion", params(RunsParams), security(("api_key" = [])), responses(
    (status = 200, description = "Runs", body = RunsOut), Refusals,
))]
pub async fn runs(
    caller: Caller,
    State(stores): State<StorePool>,
    params: Params<RunsParams>,
) -> Result<Json<RunsOut>, ApiError> {
    let p = params.into_inner()?;
    let limit = params::PageSize::or(p.limit, 50);
    let before = p.cursor.map(|c| c.0);
    let tenant = caller.tenant.clone();
    // One more than the page: whether there is a next page.
    let runs = stores.run(move |s| s.runs_before(&tenant, before, limit + 1)).await?;
    let (runs, next_cursor) = page(runs, limit, |r| format!("r{}", r.run_id));
    Ok(Json(RunsOut { runs, next_cursor }))
}

/// The caller's tenant and key.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantOut {
    /// The tenant every answer is scoped to.
    pub tenant: String,
    /// The key's id.
    pub key_id: String,
    /// The key's role.
    pub role: String,
}

/// Who the key is: its tenant and role.
#[utoipa::path(get, path = "/api/v1/tenant", tag = "tenant", security(("api_key" = [])),
    responses((status = 200, description = "The caller", body = TenantOut), Refusals))]
pub async fn tenant(caller: Caller, params: Params<NoParams>) -> Result<Json<TenantOut>, ApiError> {
    params.into_inner()?;
    Ok(Json(TenantOut {
        tenant: caller.tenant.as_str().to_string(),
        key_id: caller.key_id.clone(),
        role: caller.role.as_str().to_string(),
    }))
}

/// The tenant's API keys (admin).
#[utoipa::path(get, path = "/api/v1/keys", tag = "keys", security(("api_key" = [])), responses(
    (status = 200, description = "Keys, without secrets", body = KeysOut), Refusals, Forbidden,
))]
pub async fn list_keys(
    caller: Caller,
    State(stores): State<StorePool>,
    params: Params<NoParams>,
) -> Result<Json<KeysOut>, ApiError> {
    caller.require(Role::Admin)?;
    params.into_inner()?;
    let tenant = caller.tenant.clone();
    let keys = stores.run(move |s| s.api_keys(&tenant)).await?;
    Ok(Json(KeysOut { keys: keys.into_iter().map(KeyOut::from).collect() }))
}

/// Creates a key of the tenant (admin); the key is in this answer only.
#[utoipa::path(post, path = "/api/v1/keys", tag = "keys", request_body = NewKeyIn, security(("api_key" = [])), responses(
    (status = 201, description = "Created", body = CreatedKey), Refusals, Forbidden, NotJson,
))]
pub async fn create_key(
    caller: Caller,
    State(stores): State<StorePool>,
    body: JsonBody<NewKeyIn>,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    caller.require(Role::Admin)?;
    let body = body.into_inner()?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::bad_request("name: 1 to 200 characters"));
    }
    let issued = valdrix_app::keys::issue(&caller.tenant, name, body.role.into(), &format!("key:{}", caller.key_id))?;
    let tenant = caller.tenant.clone();
    let stored = issued.stored.clone();
    let info = stores.run(move |s| s.create_api_key(&tenant, &stored)).await?;
    Ok((StatusCode::CREATED, Json(CreatedKey { key: issued.key, info: info.into() })))
}

/// Revokes a key of the tenant (admin).
#[utoipa::path(delete, path = "/api/v1/keys/{key_id}", tag = "keys", security(("api_key" = [])),
    params(("key_id" = String, Path, description = "The key's id")),
    responses(
        (status = 204, description = "Revoked"), Refusals, Forbidden, NotFound, Conflict,
))]
pub async fn revoke_key(
    caller: Caller,
    State(stores): State<StorePool>,
    Path(key_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Admin)?;
    if key_id == caller.key_id {
        // Revoking the key in use would lock its holder out mid-session; use another admin key.
        return Err(ApiError::new(StatusCode::CONFLICT, "a key cannot revoke itself"));
    }
    let tenant = caller.tenant.clone();
    let id = key_id.clone();
    if stores.run(move |s| s.revoke_api_key(&tenant, &id)).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("no key {key_id}")))
    }
}
