//! Requests the store could not keep, refused before any handler runs.
//!
//! PostgreSQL refuses NUL in text: a request carrying one is the client's fault and is answered
//! 400, on both backends alike, before it reaches SQL (not 500 "the store failed" from deep
//! inside a query). Other control characters are text a database keeps, and pass. A body declared larger
//! than the route takes is 413 at once, before a byte of it is read.

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::ApiError;

/// The largest body of a request other than an upload: JSON documents and forms (an allocation
/// rule set is the largest, a few hundred KiB at most).
pub const MAX_BODY_BYTES: u64 = 2 << 20;

/// The route whose body is a billing file, bounded by the server's upload limit instead.
const UPLOAD_PATH: &str = "/api/v1/ingest/upload";

/// Limits the guard applies.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    /// Bytes an upload may have.
    pub upload: u64,
}

/// The first character of `text` the store cannot keep: NUL.
fn unstorable(text: &str) -> Option<char> {
    text.chars().find(|&c| c == '\0')
}

/// The bytes of a percent-encoded URI part (`+` is left as it is: a space is no control).
fn percent_decoded(part: &str) -> Vec<u8> {
    let bytes = part.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// The first character of a decoded URI part the store cannot keep (NUL).
fn uri_unstorable(part: &str) -> Option<char> {
    percent_decoded(part).into_iter().find(|&b| b == 0).map(char::from)
}

/// A string anywhere in a JSON document (keys included) with a character the store cannot keep.
fn json_unstorable(v: &serde_json::Value) -> Option<char> {
    match v {
        serde_json::Value::String(s) => unstorable(s),
        serde_json::Value::Array(items) => items.iter().find_map(json_unstorable),
        serde_json::Value::Object(map) => map.iter().find_map(|(k, v)| unstorable(k).or_else(|| json_unstorable(v))),
        _ => None,
    }
}

fn refusal(what: &str, c: char) -> Response {
    ApiError::bad_request(format!(
        "{what} holds the character U+{:04X}, which the store cannot keep; remove it",
        c as u32
    ))
    .into_response()
}

/// Middleware: refuses NUL in the path, the query, JSON and form bodies (400),
/// and a declared body over the route's limit (413), before the handler runs.
pub async fn refuse_unstorable(State(limits): State<BodyLimits>, req: Request, next: Next) -> Response {
    let uri = req.uri();
    if let Some(c) = uri_unstorable(uri.path()) {
        return refusal("the request's path", c);
    }
    if let Some(c) = uri.query().and_then(uri_unstorable) {
        return refusal("a query parameter", c);
    }
    let upload = uri.path() == UPLOAD_PATH;
    let limit = if upload { limits.upload } else { MAX_BODY_BYTES };
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the request declares {} bytes; this route takes at most {limit}{}",
                declared.unwrap_or(0),
                if upload { " (register an object-storage URL for larger files)" } else { "" }
            ),
        )
        .into_response();
    }
    if upload || matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        // An upload is a billing file: the readers check every field of it.
        return next.run(req).await;
    }
    let content_type =
        req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    let (parts, body) = req.into_parts();
    let bytes = match to_bytes(body, limit as usize).await {
        Ok(b) => b,
        Err(_) => {
            return ApiError::new(
                axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request's body is over the {limit} bytes this route takes, or was cut off"),
            )
            .into_response()
        }
    };
    if content_type.starts_with("application/json") || content_type.contains("+json") {
        // Only a document that could hold one is parsed twice: a raw NUL is invalid JSON (the
        // handler says so), an escaped one is `\u0000`.
        if bytes.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000")) {
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) {
                if let Some(c) = json_unstorable(&v) {
                    return refusal("a string of the JSON body", c);
                }
            }
        }
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        if let Ok(pairs) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes) {
            if let Some(c) = pairs.iter().find_map(|(k, v)| unstorable(k).or_else(|| unstorable(v))) {
                return refusal("a field of the form", c);
            }
        }
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_is_found_encoded_and_not() {
        assert_eq!(uri_unstorable("/api/v1/zombies/plans/%00"), Some('\0'));
        assert_eq!(uri_unstorable("filter=service%3Da%00b"), Some('\0'));
        assert_eq!(uri_unstorable("x=%0a"), None);
        assert_eq!(uri_unstorable("filter=service%3DAmazon%20EC2&from=2026-01-01"), None);
        assert_eq!(uri_unstorable("broken=%zz%"), None);
        assert_eq!(unstorable("a\tb\nc\u{5}"), None);
        assert_eq!(unstorable("a\u{0}b"), Some('\0'));
        let v: serde_json::Value = serde_json::from_str(r#"{"a": ["ok", {"b\u0000": 1}]}"#).unwrap_or_default();
        assert_eq!(json_unstorable(&v), Some('\0'));
    }
}
