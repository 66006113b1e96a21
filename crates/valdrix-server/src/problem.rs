//! Errors as `application/problem+json` (RFC 9457), each with the request's id, and the headers
//! every response carries.

use axum::body::{to_bytes, Body};
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::atomic::{AtomicU64, Ordering};

/// The header carrying a request's id, taken from the client when it is sane.
pub const REQUEST_ID: &str = "x-request-id";

/// An error a handler answers with.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// What went wrong, for a person.
    pub detail: String,
    /// Seconds to wait before retrying (429).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with this status and detail.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        ApiError { status, detail: detail.into(), retry_after: None }
    }

    /// 429: the tenant's rate limit; retry after `wait`.
    pub fn too_many_requests(wait: std::time::Duration) -> Self {
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("this tenant's request rate limit is reached; retry in {} ms", wait.as_millis().max(1)),
        );
        e.retry_after = Some(wait.as_secs() + u64::from(wait.subsec_nanos() > 0));
        e
    }

    /// 429: too many failed authentications of this key id or from this address; retry after
    /// `wait`.
    pub fn too_many_failures(wait: std::time::Duration) -> Self {
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many failed sign-ins for this key or from this address; retry in {} s", wait.as_secs().max(1)),
        );
        e.retry_after = Some(wait.as_secs().max(1));
        e
    }

    /// 400: the request is wrong.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, detail)
    }
    /// 401: no valid key.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, detail)
    }
    /// 403: the key's role may not do this.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, detail)
    }
    /// 404: nothing of the caller's tenant by that name.
    pub fn not_found(detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, detail)
    }
}

/// A use case's error, answered by whose doing it is: the caller's input 422, a conflict with the
/// stored state 409, something missing 404; the store's own failures as the store's; the rest
/// is ours, logged, and answered without its detail.
impl From<valdrix_app::AppError> for ApiError {
    fn from(e: valdrix_app::AppError) -> Self {
        use valdrix_app::Fault;
        let e = match e.fault() {
            // The store's own failures (a timeout, a lost connection) are answered as the store's.
            Fault::Server => match e.into_store_error() {
                Ok(s) => return s.into(),
                Err(e) => e,
            },
            _ => e,
        };
        match e.fault() {
            Fault::Caller => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
            Fault::Conflict => ApiError::new(StatusCode::CONFLICT, e.to_string()),
            Fault::NotFound => ApiError::not_found(e.to_string()),
            Fault::Server => {
                tracing::error!(error = %e, "operation failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the operation failed; the request id locates it in the server log",
                )
            }
        }
    }
}

impl From<valdrix_store::StoreError> for ApiError {
    fn from(e: valdrix_store::StoreError) -> Self {
        use valdrix_store::StoreError as E;
        let status = match &e {
            E::InvalidQuery(_) => StatusCode::BAD_REQUEST,
            E::NotFound(_) => StatusCode::NOT_FOUND,
            E::PeriodClosed { .. } | E::Conflict(_) | E::ScopeHeld(_) => StatusCode::CONFLICT,
            e if e.is_statement_timeout() => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            // The details stay in the log: they may name tables or other tenants' ids.
            tracing::error!(error = %e, "store error");
            return ApiError::new(status, "the store failed; the request id locates it in the server log");
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            metrics::counter!("valdrix_statement_timeouts_total").increment(1);
            return ApiError::new(status, "the query ran past the statement timeout; narrow it");
        }
        ApiError::new(status, e.to_string())
    }
}

/// The detail of an error response, picked up by [`finish`].
#[derive(Debug, Clone)]
struct Detail(String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = self.status.into_response();
        r.extensions_mut().insert(Detail(self.detail));
        if let Some(secs) = self.retry_after {
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        r
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn request_id(headers: &HeaderMap) -> String {
    let given = headers.get(REQUEST_ID).and_then(|v| v.to_str().ok()).filter(|v| {
        !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    match given {
        Some(v) => v.to_string(),
        None => format!("{:x}-{:06}", std::process::id(), NEXT_ID.fetch_add(1, Ordering::Relaxed)),
    }
}

/// Middleware: gives the request an id, turns every error response into problem+json naming
/// it, and adds the security headers.
pub async fn finish(mut req: Request, next: Next) -> Response {
    let id = request_id(req.headers());
    req.extensions_mut().insert(RequestId(id.clone()));
    let response = next.run(req).await;
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    // Dashboard pages answer errors as HTML pages of their own.
    let is_html = response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    let mut response = if status.as_u16() >= 400 && !is_problem && !is_html {
        let (mut parts, body) = response.into_parts();
        let detail = match parts.extensions.remove::<Detail>() {
            Some(Detail(d)) => d,
            None => {
                let bytes = to_bytes(body, 64 * 1024).await.unwrap_or_default();
                String::from_utf8_lossy(&bytes).trim().to_string()
            }
        };
        let title = status.canonical_reason().unwrap_or("Error");
        let problem = serde_json::json!({
            "type": "about:blank",
            "title": title,
            "status": status.as_u16(),
            "detail": if detail.is_empty() { title.to_string() } else { detail },
            "request_id": id,
        });
        parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        parts.headers.remove(header::CONTENT_LENGTH);
        Response::from_parts(parts, Body::from(problem.to_string()))
    } else {
        response
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&id) {
        h.insert(REQUEST_ID, v);
    }
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert(
        "content-security-policy",
        HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"),
    );
    h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The id of the request being handled.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);
