//! A small JSON-over-HTTPS client for the Azure and GCP REST APIs: bearer tokens fetched once and
//! renewed before they expire, throttled and transient failures retried with backoff, and each
//! resource type listed once per scan however many regions ask for it.

use crate::provider::ProviderError;
use crate::resource::{Kind, Resource};
use futures::future::BoxFuture;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

/// Attempts per call, the first included, before a throttled or transient failure is reported.
pub const MAX_ATTEMPTS: u32 = 6;

/// A call waits at most this long for an answer.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// The longest pause between attempts, whatever `Retry-After` asks.
const MAX_PAUSE: Duration = Duration::from_secs(30);

/// An access token and how long it lives.
#[derive(Debug, Clone)]
pub struct Token {
    /// The bearer token.
    pub value: String,
    /// Time left when it was issued.
    pub lifetime: Duration,
}

/// Where access tokens come from.
pub trait Credential: Send + Sync {
    /// A fresh token.
    fn fetch<'a>(&'a self, http: &'a Http) -> BoxFuture<'a, Result<Token, ProviderError>>;
    /// What it is, for messages (`client secret of app …`).
    fn describe(&self) -> String;
}

/// An HTTP client that retries what is worth retrying.
#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::Client,
    service: &'static str,
}

/// The error a failed answer carries: the API's own code and message where it gave one.
fn api_message(status: StatusCode, body: &[u8]) -> String {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let from_json = parsed.as_ref().and_then(|v| {
        // Azure and GCP: {"error": {"code": …, "message": …}}; OAuth: {"error": "…", "error_description": "…"}.
        let e = v.get("error")?;
        if let Some(s) = e.as_str() {
            let d = v.get("error_description").and_then(Value::as_str).unwrap_or("");
            return Some(format!("{s}: {d}"));
        }
        let code = e.get("status").or_else(|| e.get("code")).map(|c| match c {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        let message = e.get("message").and_then(Value::as_str).unwrap_or("");
        Some(match code {
            Some(c) => format!("{c}: {message}"),
            None => message.to_string(),
        })
    });
    let text = from_json.unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(300)]).trim().to_string());
    format!("HTTP {}: {text}", status.as_u16())
}

fn retryable(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::REQUEST_TIMEOUT || status.is_server_error()
}

/// The pause before attempt `n + 1`: what `Retry-After` asks, else exponential from 250 ms,
/// with jitter so that parallel callers do not retry in step.
fn pause(attempt: u32, headers: Option<&HeaderMap>) -> Duration {
    let asked = headers
        .and_then(|h| h.get(RETRY_AFTER))
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let base = Duration::from_millis(250u64.saturating_mul(1 << attempt.min(8)));
    let jitter = Duration::from_millis(u64::from(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_millis()).unwrap_or(0)
            % 250,
    ));
    asked.unwrap_or(base + jitter).min(MAX_PAUSE)
}

impl Http {
    /// A client whose errors name `service` (`azure`, `gcp`).
    pub fn new(service: &'static str) -> Result<Http, ProviderError> {
        let client = reqwest::Client::builder().timeout(CALL_TIMEOUT).build().map_err(|e| ProviderError::Call {
            service: service.into(),
            operation: "client".into(),
            message: e.to_string(),
        })?;
        Ok(Http { client, service })
    }

    fn error(&self, operation: &str, message: String) -> ProviderError {
        ProviderError::Call { service: self.service.into(), operation: operation.into(), message }
    }

    /// Sends a request built afresh for each attempt, retrying throttling (429), server errors
    /// and failed connections; answers the body of a success as JSON.
    pub async fn send(
        &self,
        operation: &str,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<Value, ProviderError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= MAX_ATTEMPTS;
            match build(&self.client).send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let headers = resp.headers().clone();
                    let body = resp.bytes().await.map_err(|e| self.error(operation, e.to_string()))?;
                    if status.is_success() {
                        return serde_json::from_slice(&body)
                            .map_err(|e| self.error(operation, format!("the answer is not JSON: {e}")));
                    }
                    if last || !retryable(status) {
                        let tries = if attempt > 1 { format!(" (after {attempt} attempts)") } else { String::new() };
                        return Err(self.error(operation, format!("{}{tries}", api_message(status, &body))));
                    }
                    tokio::time::sleep(pause(attempt, Some(&headers))).await;
                }
                Err(e) => {
                    if last || !(e.is_connect() || e.is_timeout() || e.is_request()) {
                        return Err(self.error(operation, format!("{e} (after {attempt} attempts)")));
                    }
                    tokio::time::sleep(pause(attempt, None)).await;
                }
            }
        }
    }
}

/// An authenticated JSON client for one API family.
pub struct Rest {
    http: Http,
    credential: Box<dyn Credential>,
    token: tokio::sync::Mutex<Option<(String, Instant)>>,
}

impl Rest {
    /// A client that authenticates with `credential`.
    pub fn new(service: &'static str, credential: Box<dyn Credential>) -> Result<Rest, ProviderError> {
        Ok(Rest { http: Http::new(service)?, credential, token: tokio::sync::Mutex::new(None) })
    }

    /// The current token, fetched when there is none or it has less than a minute left.
    async fn bearer(&self) -> Result<String, ProviderError> {
        let mut held = self.token.lock().await;
        if let Some((value, until)) = held.as_ref() {
            if Instant::now() + Duration::from_secs(60) < *until {
                return Ok(value.clone());
            }
        }
        let token = self.credential.fetch(&self.http).await.map_err(|e| match e {
            ProviderError::Call { service, operation, message } => ProviderError::Call {
                service,
                operation,
                message: format!("{message} (credentials: {})", self.credential.describe()),
            },
            other => other,
        })?;
        *held = Some((token.value.clone(), Instant::now() + token.lifetime));
        Ok(token.value)
    }

    /// GETs a URL as JSON.
    pub async fn get(&self, operation: &str, url: &Url) -> Result<Value, ProviderError> {
        let bearer = self.bearer().await?;
        self.http.send(operation, |c| c.request(Method::GET, url.clone()).bearer_auth(&bearer)).await
    }
}

/// One type's listing, shared by every region that asks for it.
type Listing = Arc<OnceCell<Result<Arc<Vec<Resource>>, ProviderError>>>;

/// Each resource type listed once per scan: Azure and GCP list a whole subscription or project
/// at a time, and every region's scan takes its share of the one listing.
#[derive(Default)]
pub struct Listings {
    cells: Mutex<HashMap<Kind, Listing>>,
}

impl Listings {
    /// The resources of a type, listed by `fetch` the first time they are asked for.
    pub async fn get<F>(&self, kind: Kind, fetch: F) -> Result<Arc<Vec<Resource>>, ProviderError>
    where
        F: std::future::Future<Output = Result<Vec<Resource>, ProviderError>>,
    {
        let cell = {
            let mut cells = self.cells.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            cells.entry(kind).or_default().clone()
        };
        cell.get_or_init(|| async { fetch.await.map(Arc::new) }).await.clone()
    }

    /// The resources of a type in one region.
    pub async fn in_region<F>(&self, kind: Kind, region: &str, fetch: F) -> Result<Vec<Resource>, ProviderError>
    where
        F: std::future::Future<Output = Result<Vec<Resource>, ProviderError>>,
    {
        let all = self.get(kind, fetch).await?;
        Ok(all.iter().filter(|r| r.region.eq_ignore_ascii_case(region)).cloned().collect())
    }
}

impl Listings {
    /// The regions holding resources of these types (each type listed by `fetch` if it was not
    /// yet), for a scan of "every region".
    pub async fn regions<F, Fut>(&self, kinds: &[Kind], fetch: F) -> Result<Vec<String>, ProviderError>
    where
        F: Fn(Kind) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<Resource>, ProviderError>>,
    {
        let mut out = std::collections::BTreeSet::new();
        for kind in kinds {
            for r in self.get(*kind, fetch(*kind)).await?.iter() {
                out.insert(r.region.clone());
            }
        }
        Ok(out.into_iter().collect())
    }
}

/// An instant as the Azure and GCP APIs take it (`2026-11-01T00:00:00Z`).
pub fn instant(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A form body (`application/x-www-form-urlencoded`), as token endpoints take it.
pub fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

/// A URL from a base and a path, with query parameters.
pub fn url(base: &Url, path: &str, query: &[(&str, &str)]) -> Result<Url, ProviderError> {
    let mut u = base.join(path.trim_start_matches('/')).map_err(|e| ProviderError::Call {
        service: "http".into(),
        operation: "url".into(),
        message: format!("{base}{path}: {e}"),
    })?;
    if !query.is_empty() {
        u.query_pairs_mut().extend_pairs(query);
    }
    Ok(u)
}

/// A base URL, with the trailing slash `Url::join` needs to keep its path.
pub fn base(s: &str) -> Result<Url, ProviderError> {
    let with_slash = if s.ends_with('/') { s.to_string() } else { format!("{s}/") };
    Url::parse(&with_slash).map_err(|e| ProviderError::Call {
        service: "http".into(),
        operation: "url".into(),
        message: format!("{s}: {e}"),
    })
}

/// A string field of a JSON object, by path (`["properties", "diskState"]`).
pub fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

/// An integer field that APIs write as a number or a string (GCP's int64 fields are strings).
pub fn int_at(v: &Value, path: &[&str]) -> Option<i64> {
    let x = path.iter().try_fold(v, |v, k| v.get(k))?;
    x.as_i64().or_else(|| x.as_str().and_then(|s| s.parse().ok()))
}

/// A timestamp field (RFC 3339, any offset).
pub fn time_at(v: &Value, path: &[&str]) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(str_at(v, path)?).ok().map(|t| t.with_timezone(&chrono::Utc))
}

/// An object's string map (tags or labels).
pub fn string_map(v: Option<&Value>) -> std::collections::BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_errors_keep_the_services_code_and_message() {
        let azure = br#"{"error":{"code":"AuthorizationFailed","message":"no access"}}"#;
        assert_eq!(api_message(StatusCode::FORBIDDEN, azure), "HTTP 403: AuthorizationFailed: no access");
        let gcp = br#"{"error":{"code":403,"message":"denied","status":"PERMISSION_DENIED"}}"#;
        assert_eq!(api_message(StatusCode::FORBIDDEN, gcp), "HTTP 403: PERMISSION_DENIED: denied");
        let oauth = br#"{"error":"invalid_client","error_description":"bad secret"}"#;
        assert_eq!(api_message(StatusCode::UNAUTHORIZED, oauth), "HTTP 401: invalid_client: bad secret");
        assert_eq!(api_message(StatusCode::BAD_GATEWAY, b"upstream down"), "HTTP 502: upstream down");
    }

    #[test]
    fn pauses_grow_and_honour_retry_after_within_bounds() {
        assert!(pause(1, None) >= Duration::from_millis(500));
        assert!(pause(3, None) >= Duration::from_millis(2000));
        assert_eq!(pause(20, None), MAX_PAUSE);
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(pause(1, Some(&h)), Duration::from_secs(2));
        h.insert(RETRY_AFTER, "3600".parse().unwrap());
        assert_eq!(pause(1, Some(&h)), MAX_PAUSE);
        assert!(retryable(StatusCode::TOO_MANY_REQUESTS) && retryable(StatusCode::SERVICE_UNAVAILABLE));
        assert!(!retryable(StatusCode::FORBIDDEN) && !retryable(StatusCode::NOT_FOUND));
    }

    #[test]
    fn fields_read_as_the_apis_write_them() {
        let v: Value = serde_json::json!({"sizeGb": "100", "properties": {"diskSizeGB": 64, "timeCreated": "2026-01-02T03:04:05.5-07:00"}});
        assert_eq!(int_at(&v, &["sizeGb"]), Some(100));
        assert_eq!(int_at(&v, &["properties", "diskSizeGB"]), Some(64));
        assert_eq!(time_at(&v, &["properties", "timeCreated"]).unwrap().to_rfc3339(), "2026-01-02T10:04:05.500+00:00");
        let u = url(&base("http://127.0.0.1:9/x").unwrap(), "/subscriptions/s", &[("api-version", "1")]).unwrap();
        assert_eq!(u.as_str(), "http://127.0.0.1:9/x/subscriptions/s?api-version=1");
    }
}
