//! The dashboard: server-rendered HTML (maud) with SVG charts. No script and no front-end build;
//! every view is a plain GET whose query string is the whole state, so a view is a link.
//!
//! Pages read the same store calls as the API (and through the same tenant scoping): the
//! overview and the explorer's chart are answered from the daily totals, never by scanning raw
//! records.

mod allocation;
mod anomalies;
pub mod chart;
mod pages;
pub mod session;
mod zombies;

use axum::extract::{FromRef, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use maud::{html, Markup, DOCTYPE};
use rust_decimal::Decimal;
use serde::Deserialize;

use valdrix_core::TenantId;
use valdrix_store::keys::Role;

use crate::{AppState, RateLimits, StorePool};
use session::{SessionKey, COOKIE, LIFETIME_SECS, LOGIN_COOKIE};

/// The dashboard's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::overview))
        .route("/explorer", get(pages::explorer))
        .route("/explorer.csv", get(pages::explorer_csv))
        .route("/runs", get(pages::runs))
        .route("/runs/{run_id}", get(pages::run))
        .route("/anomalies", get(anomalies::overview))
        .route("/anomalies/mark", axum::routing::post(anomalies::mark))
        .route("/anomalies/unmark", axum::routing::post(anomalies::unmark))
        .route("/zombies", get(zombies::overview))
        .route("/allocation", get(allocation::overview))
        .route("/allocation/explain", get(allocation::explain))
        .route("/zombies/plans/{plan_id}/approve", axum::routing::post(zombies::approve))
        .route("/login", get(login_page).post(login))
        .route("/logout", axum::routing::post(logout))
        .route("/static/dashboard.css", get(stylesheet))
        .route("/favicon.svg", get(favicon))
        .route("/favicon.ico", get(favicon))
}

/// A signed-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    /// The key's tenant.
    pub tenant: TenantId,
    /// The key's id.
    pub key_id: String,
    /// The key's role.
    pub role: Role,
    /// The form token of this session.
    pub csrf: String,
    /// The request's place among its tenant's running requests.
    pub slot: crate::limits::Slot,
}

/// Not signed in (or the key was revoked): to the sign-in page.
pub struct SignIn;

impl IntoResponse for SignIn {
    fn into_response(self) -> Response {
        Redirect::to("/login").into_response()
    }
}

impl FromRef<AppState> for SessionKey {
    fn from_ref(s: &AppState) -> SessionKey {
        s.sessions.clone()
    }
}

/// The request's `Cookie` header ("" when it has none).
fn cookies(headers: &HeaderMap) -> &str {
    headers.get(header::COOKIE).and_then(|v| v.to_str().ok()).unwrap_or("")
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Now in Unix milliseconds, never before a time this process gave already: a session issued
/// right after a sign-out in the same millisecond is still newer than it.
fn now_ms() -> i64 {
    static LAST: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
    let t = chrono::Utc::now().timestamp_millis();
    let prev = LAST.fetch_max(t, std::sync::atomic::Ordering::SeqCst);
    if prev >= t {
        LAST.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1
    } else {
        t
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Session
where
    StorePool: FromRef<S>,
    RateLimits: FromRef<S>,
    SessionKey: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let keys = SessionKey::from_ref(state);
        let value = session::cookie(cookies(&parts.headers), COOKIE).ok_or_else(|| SignIn.into_response())?;
        let (tenant, key_id, issued_ms) = keys.verify(value, now()).ok_or_else(|| SignIn.into_response())?;
        // The key must still be active: revoking it ends its sessions.
        let (t, k) = (tenant.clone(), key_id.clone());
        let found = StorePool::from_ref(state)
            .run(move |s| s.api_key(&t, &k))
            .await
            .map_err(|e| crate::ApiError::from(e).into_response())?;
        let info = match found {
            // Signed out since this session began: every session of the key issued until then
            // is over.
            Some((info, _)) if info.revoked_at.is_none() && info.sessions_after_ms.is_none_or(|t| issued_ms > t) => {
                info
            }
            _ => return Err(SignIn.into_response()),
        };
        let slot = RateLimits::from_ref(state).admit(tenant.as_str()).await.map_err(IntoResponse::into_response)?;
        Ok(Session { tenant, key_id, role: info.role, csrf: keys.csrf(value), slot })
    }
}

/// `12,345.67 USD`: amounts for people (exact values stay in `data-amount` attributes).
pub fn money(amount: Decimal, currency: &str) -> String {
    format!("{} {currency}", valdrix_core::money::for_people(amount))
}

/// The page frame: header, navigation, sign-out, content.
pub fn layout(title: &str, session: Option<&Session>, active: &str, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Valdrix" }
                link rel="stylesheet" href="/static/dashboard.css";
                link rel="icon" href="/favicon.svg" type="image/svg+xml";
            }
            body {
                header.top {
                    a.brand href="/" { "Valdrix" }
                    @if let Some(s) = session {
                        nav {
                            @for (href, name) in [("/", "Overview"), ("/explorer", "Cost explorer"), ("/runs", "Ingestion runs"), ("/allocation", "Allocation"), ("/anomalies", "Anomalies"), ("/zombies", "Zombies"), ("/api/v1/docs/", "API")] {
                                a class=(if name == active { "active" } else { "" }) href=(href) { (name) }
                            }
                        }
                        form.signout method="post" action="/logout" {
                            span.who { (s.tenant.as_str()) " · " (s.role.as_str()) }
                            input type="hidden" name="csrf" value=(s.csrf);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main { (content) }
            }
        }
    }
}

/// An HTML response with a status.
pub fn page(status: StatusCode, markup: Markup) -> Response {
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], markup.into_string()).into_response()
}

fn set_cookie(headers: &mut HeaderMap, request: &HeaderMap, name: &str, value: &str, path: &str, max_age: i64) {
    // Secure when the request came over HTTPS (a proxy in front says so); a browser on plain
    // http://localhost would drop a Secure cookie.
    let https = request.get("x-forwarded-proto").and_then(|v| v.to_str().ok()) == Some("https");
    let cookie = format!(
        "{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Strict{}",
        if https { "; Secure" } else { "" }
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        headers.append(header::SET_COOKIE, v);
    }
}

fn login_form(keys: &SessionKey, nonce: &str, error: Option<&str>) -> Markup {
    layout(
        "Sign in",
        None,
        "",
        html! {
            section.signin {
                h1 { "Sign in" }
                p { "Paste an API key of your tenant (" code { "valdrix keys create" } " makes one). It is checked once and exchanged for a session; the browser never keeps the key." }
                @if let Some(e) = error { p.error role="alert" { (e) } }
                form method="post" action="/login" {
                    label for="key" { "API key" }
                    input #key type="password" name="key" autocomplete="off" required placeholder="vdx.tenant.keyid.secret";
                    input type="hidden" name="csrf" value=(keys.csrf(nonce));
                    button type="submit" { "Sign in" }
                }
            }
        },
    )
}

async fn login_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    login_response(&state.sessions, &headers, StatusCode::OK, None)
}

fn login_response(keys: &SessionKey, request: &HeaderMap, status: StatusCode, error: Option<&str>) -> Response {
    let mut nonce = [0u8; 16];
    if getrandom::fill(&mut nonce).is_err() {
        return crate::ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "no randomness").into_response();
    }
    let nonce = hex::encode(nonce);
    let mut response = page(status, login_form(keys, &nonce, error));
    set_cookie(response.headers_mut(), request, LOGIN_COOKIE, &nonce, "/login", 1800);
    response
}

/// The sign-in form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    key: String,
    csrf: String,
}

async fn login(
    State(state): State<AppState>,
    crate::ClientAddr(addr): crate::ClientAddr,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let keys = &state.sessions;
    let Ok(Form(form)) = form else {
        return login_response(keys, &headers, StatusCode::BAD_REQUEST, Some("The form was incomplete; try again."));
    };
    let nonce_ok = session::cookie(cookies(&headers), LOGIN_COOKIE).is_some_and(|n| keys.check_csrf(n, &form.csrf));
    if !nonce_ok {
        return login_response(keys, &headers, StatusCode::FORBIDDEN, Some("The form expired; try again."));
    }
    let refused = |why: &str| login_response(keys, &headers, StatusCode::UNAUTHORIZED, Some(why));
    let Some(presented) = valdrix_app::keys::parse(form.key.trim()) else {
        return refused("That is not a Valdrix API key (vdx.tenant.keyid.secret).");
    };
    match crate::verify_key(&state.stores, &state.limits, addr, &presented).await {
        Err(e) => e.into_response(),
        Ok(Some(info)) => {
            let cookie = keys.issue(&presented.tenant, &info.key_id, now_ms(), now() + LIFETIME_SECS);
            let mut response = Redirect::to("/").into_response();
            set_cookie(response.headers_mut(), &headers, COOKIE, &cookie, "/", LIFETIME_SECS);
            set_cookie(response.headers_mut(), &headers, LOGIN_COOKIE, "", "/login", 0);
            response
        }
        Ok(None) => refused("The key is unknown or revoked."),
    }
}

/// The sign-out form.
#[derive(Debug, Deserialize)]
pub struct LogoutForm {
    csrf: String,
}

async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<LogoutForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let session = session::cookie(cookies(&headers), COOKIE).unwrap_or("");
    if !form.is_ok_and(|Form(f)| state.sessions.check_csrf(session, &f.csrf)) {
        return crate::ApiError::forbidden("the form's token does not match the session").into_response();
    }
    // End the session on the server: the cookie, copied or kept, no longer signs in.
    if let Some((tenant, key_id, _)) = state.sessions.verify(session, now()) {
        let at = now_ms();
        if let Err(e) = state.stores.run(move |s| s.end_key_sessions(&tenant, &key_id, at)).await {
            return crate::ApiError::from(e).into_response();
        }
    }
    let mut response = Redirect::to("/login").into_response();
    set_cookie(response.headers_mut(), &headers, COOKIE, "", "/", 0);
    response
}

async fn favicon() -> impl IntoResponse {
    const ICON: &str = "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'><rect width='16' height='16' rx='3' fill='#2d5bd7'/><rect x='3' y='8' width='2' height='5' fill='#fff'/><rect x='7' y='5' width='2' height='8' fill='#fff'/><rect x='11' y='3' width='2' height='10' fill='#fff'/></svg>";
    ([(header::CONTENT_TYPE, "image/svg+xml"), (header::CACHE_CONTROL, "max-age=86400")], ICON)
}

async fn stylesheet() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], include_str!("dashboard.css"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_grouped_and_rounded_for_reading() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(money(d("1234567.891"), "USD"), "1,234,567.89 USD");
        assert_eq!(money(d("-0.004"), "EUR"), "0.00 EUR");
        assert_eq!(money(d("-1000"), "USD"), "-1,000.00 USD");
        assert_eq!(money(d("999.995"), "USD"), "1,000.00 USD");
    }
}
