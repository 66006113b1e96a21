//! The Valdrix HTTP API (`valdrix serve`).
//!
//! Every `/api/v1` request carries an API key (`Authorization: Bearer vdx.TENANT.KEYID.SECRET`);
//! the key names its tenant, which becomes the tenant of every store call the request makes (on
//! PostgreSQL, `SET LOCAL app.tenant_id` in the request's transaction, under row-level security).
//! A key of one tenant therefore cannot name another tenant's data: such requests find nothing
//! (404) or are refused (403). Errors are `application/problem+json` with the request's id.

pub mod api;
pub mod dashboard;
pub mod guard;
pub mod limits;
pub mod metrics;
pub mod pool;
pub mod problem;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::routing::{delete, get, post, put};
use axum::Router;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use valdrix_core::TenantId;
use valdrix_store::keys::Role;

pub use limits::RateLimits;
pub use pool::StorePool;
pub use problem::ApiError;

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    /// Where stores come from.
    pub stores: StorePool,
    /// Requests each tenant may make.
    pub limits: RateLimits,
    /// When records become final (for freshness answers) and when restatements alert.
    pub policy: valdrix_store::TrustPolicy,
    /// The charge and billing days an ingested bill may hold.
    pub plausible: valdrix_ingest::validate::Plausible,
    /// The largest upload accepted, in bytes.
    pub max_upload_bytes: u64,
    /// Object-storage prefixes tenants may ingest from (`{tenant}` stands for the caller's
    /// tenant); none: URL ingestion is off. The server's credentials read them, so a tenant
    /// must not be able to name another tenant's bucket.
    pub url_prefixes: Vec<String>,
    /// Signs dashboard sessions.
    pub sessions: dashboard::session::SessionKey,
}

impl AppState {
    /// State with the default trust policy and plausible days, and a 1 GiB upload limit.
    pub fn new(stores: StorePool, limits: RateLimits) -> Result<Self, String> {
        Ok(AppState {
            stores,
            limits,
            policy: Default::default(),
            plausible: Default::default(),
            max_upload_bytes: 1 << 30,
            url_prefixes: Vec::new(),
            sessions: dashboard::session::SessionKey::random()?,
        })
    }
}

impl FromRef<AppState> for StorePool {
    fn from_ref(s: &AppState) -> StorePool {
        s.stores.clone()
    }
}

impl FromRef<AppState> for RateLimits {
    fn from_ref(s: &AppState) -> RateLimits {
        s.limits.clone()
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
    /// The request's place among its tenant's running requests.
    pub slot: limits::Slot,
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
    RateLimits: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ApiError::unauthorized("send an API key: Authorization: Bearer vdx.…"))?;
        let token = header.strip_prefix("Bearer ").unwrap_or("").trim();
        let limits = RateLimits::from_ref(state);
        let addr = client_address(parts);
        let presented = match valdrix_app::keys::parse(token) {
            Some(p) => p,
            None => {
                refuse_failure(&limits, &auth_subjects(None, addr))?;
                return Err(ApiError::unauthorized("the API key is malformed"));
            }
        };
        let info = verify_key(&StorePool::from_ref(state), &limits, addr, &presented)
            .await?
            .ok_or_else(|| ApiError::unauthorized("the API key is unknown or revoked"))?;
        let slot = limits.admit(presented.tenant.as_str()).await?;
        Ok(Caller { tenant: presented.tenant, role: info.role, key_id: info.key_id, slot })
    }
}

/// The client's address, when the server was started with it (`serve`).
pub fn client_address(parts: &Parts) -> Option<std::net::IpAddr> {
    parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip())
}

/// The client's address as an extractor (none in a router served without connection info).
pub struct ClientAddr(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(client_address(parts)))
    }
}

/// What failed authentications are counted against: the key id presented and the client.
fn auth_subjects(presented: Option<&valdrix_app::keys::PresentedKey>, addr: Option<std::net::IpAddr>) -> Vec<String> {
    let mut out = Vec::with_capacity(2);
    if let Some(p) = presented {
        out.push(format!("key:{}.{}", p.tenant.as_str(), p.key_id));
    }
    if let Some(a) = addr {
        out.push(format!("addr:{a}"));
    }
    out
}

/// The stored key a presented key is, when its secret matches and it is not revoked. Failures
/// are counted per key id and per client address; past their budget a window
/// ([`limits::AUTH_FAILURES_PER_KEY`], [`limits::AUTH_FAILURES_PER_ADDRESS`]) a failure is 429.
pub async fn verify_key(
    stores: &StorePool,
    limits: &RateLimits,
    addr: Option<std::net::IpAddr>,
    presented: &valdrix_app::keys::PresentedKey,
) -> Result<Option<valdrix_store::keys::ApiKeyInfo>, ApiError> {
    let (tenant, key_id) = (presented.tenant.clone(), presented.key_id.clone());
    let found = stores.run(move |s| s.api_key(&tenant, &key_id)).await?;
    let info = found.filter(|(info, hash)| valdrix_app::keys::verify(presented, info, hash)).map(|(info, _)| info);
    if info.is_none() {
        refuse_failure(limits, &auth_subjects(Some(presented), addr))?;
    }
    Ok(info)
}

/// Counts a failed authentication, or answers 429 when its key id or address is over its
/// budget. A valid key is never refused for others' failures (a shared address, a guessed key
/// id): only failures are limited, so the flood of answers to wrong secrets stops.
fn refuse_failure(limits: &RateLimits, subjects: &[String]) -> Result<(), ApiError> {
    if let Some(wait) = limits.auth_blocked(subjects) {
        return Err(ApiError::too_many_failures(wait));
    }
    limits.auth_failed(subjects);
    Ok(())
}

/// The API's routes, with the request-id, problem and security-header middleware.
pub fn router(state: AppState) -> Router {
    metrics::handle();
    let api = Router::new()
        .route("/costs", get(api::costs))
        .route("/runs", get(api::runs))
        .route("/runs/{run_id}/audit", get(api::trust::run_audit))
        .route("/runs/{run_id}/audit/entries", get(api::trust::audit_entries))
        .route("/records", get(api::trust::records))
        .route("/costs/history/{record_id}", get(api::trust::history))
        .route("/alerts", get(api::trust::alerts))
        .route("/periods", get(api::trust::periods))
        .route("/periods/{period}/close", post(api::trust::close_period))
        .route("/periods/{period}/reopen", post(api::trust::reopen_period))
        .route("/freshness", get(api::trust::freshness))
        .route("/reconciliation", get(api::reconcile::reconciliation))
        .route("/ingest/upload", post(api::ingest::upload))
        .route("/ingest/url", post(api::ingest::from_url))
        .route("/export/focus", get(api::ingest::export_focus))
        .route("/zombies", get(api::zombies::list))
        .route("/zombies/history", post(api::zombies::history))
        .route("/zombies/ignore", post(api::zombies::ignore))
        .route("/zombies/scans", get(api::zombies::scans))
        .route("/zombies/plans", get(api::zombies::plans).post(api::zombies::create_plan))
        .route("/zombies/plans/{plan_id}", get(api::zombies::plan))
        .route("/zombies/plans/{plan_id}/approve", post(api::zombies::approve))
        .route("/zombies/plans/{plan_id}/cancel", post(api::zombies::cancel))
        .route("/allocation", get(api::allocation::allocation))
        .route("/allocation/months", get(api::allocation::months))
        .route("/allocation/explain", get(api::allocation::explain))
        .route("/allocation/unallocated", get(api::allocation::unallocated))
        .route("/allocation/simulate", post(api::allocation::simulate))
        .route("/allocation/rules", get(api::allocation::rules).put(api::allocation::save_rules))
        .route("/allocation/rules/history", get(api::allocation::history))
        .route("/forecast", get(api::forecast::forecast))
        .route("/forecast/tracked", get(api::forecast::tracked))
        .route("/anomalies", get(api::anomalies::anomalies))
        .route("/anomalies/marks", get(api::anomalies::marks).post(api::anomalies::mark).delete(api::anomalies::unmark))
        .route("/anomalies/monitors", get(api::monitors::monitors))
        .route("/anomalies/monitors/{name}", put(api::monitors::save_monitor).delete(api::monitors::delete_monitor))
        .route("/anomalies/monitors/{name}/reported", post(api::monitors::report_anomalies))
        .route("/tenant", get(api::tenant))
        .route("/keys", get(api::list_keys).post(api::create_key))
        .route("/keys/{key_id}", delete(api::revoke_key));
    Router::new()
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz))
        .route("/metrics", get(api::metrics_page))
        .nest("/api/v1", api)
        .merge(dashboard::routes())
        // The document, and a browsable page whose assets are compiled in (works offline).
        .merge(SwaggerUi::new("/api/v1/docs").url("/api/v1/openapi.json", api::ApiDoc::openapi()))
        .fallback(|| async { ApiError::not_found("no such route") })
        .layer(axum::middleware::from_fn_with_state(
            guard::BodyLimits { upload: state.max_upload_bytes },
            guard::refuse_unstorable,
        ))
        .with_state(state)
        .layer(axum::middleware::from_fn(metrics::track))
        .layer(axum::middleware::from_fn(problem::finish))
}

/// Serves `router(state)` on `listener` until the process is told to stop.
pub async fn serve(listener: tokio::net::TcpListener, state: AppState) -> std::io::Result<()> {
    // Folders of uploads that a killed server left behind.
    let removed = api::ingest::remove_stale_uploads(&std::env::temp_dir());
    if removed > 0 {
        tracing::info!(removed, "removed upload folders left by servers that stopped mid-upload");
    }
    axum::serve(listener, router(state).into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
