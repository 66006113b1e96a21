//! Ingestion and export over HTTP: upload a billing file, register an object-storage prefix to
//! fetch, download the FOCUS export. The work itself is the application layer's
//! ([`valdrix_app::ingest`], [`valdrix_app::export`]), as for `valdrix ingest` and `valdrix export`.

use std::path::PathBuf;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use utoipa::{IntoParams, ToSchema};

use valdrix_store::keys::Role;
use valdrix_store::scope::OverlapPolicy;
use valdrix_store::RunSummary;

use super::params::{self, And, FromArg};
use super::{Conflict, CostFilters, Forbidden, NotJson, Params, Refusals, TooLarge, Unreadable};
use crate::{ApiError, AppState, Caller};
use valdrix_app::ingest::request::{IngestInput, IngestOutcome, IngestRequest};

/// FOCUS export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExportFormat {
    /// CSV.
    Csv,
    /// Parquet.
    Parquet,
}

impl ExportFormat {
    /// The file extension (without the dot), which tells the export its format.
    fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Parquet => "parquet",
        }
    }
}

/// Parameters of `POST /api/v1/ingest/upload`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadParams {
    /// The file's name, which tells its compression and is shown in runs and lineage (letters,
    /// digits, `.`, `-`, `_`; e.g. `cur-2026-10.csv.gz`).
    #[serde(default, deserialize_with = "params::one")]
    #[param(required = true, pattern = r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}$")]
    filename: Option<String>,
    /// Deliver as this named stream: successive uploads of the same bill restate each other.
    #[serde(default, deserialize_with = "params::one")]
    #[param(pattern = r"^[A-Za-z0-9._:/-]{1,200}$")]
    stream: Option<String>,
    /// When another stream already holds the file's billing account and period: `refuse` (the
    /// default, 409 naming that stream), `keep_both` (separate exports; refused still when a sub
    /// account is in both) or `allow` (two copies of one bill kept to reconcile them).
    #[serde(default, deserialize_with = "params::one")]
    #[param(value_type = Option<String>, pattern = "^(refuse|keep_both|allow)$")]
    overlap: Option<OverlapPolicy>,
}

const OVERLAP_VALUES: &str = "refuse, keep_both or allow";

impl FromArg for OverlapPolicy {
    fn from_arg(text: &str) -> Result<Self, String> {
        OverlapPolicy::parse(text).ok_or_else(|| OVERLAP_VALUES.into())
    }
}

impl FromArg for ExportFormat {
    fn from_arg(text: &str) -> Result<Self, String> {
        match text {
            "csv" => Ok(ExportFormat::Csv),
            "parquet" => Ok(ExportFormat::Parquet),
            _ => Err("csv or parquet".into()),
        }
    }
}

/// Where to fetch billing files from.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UrlIn {
    /// An object-storage prefix or object: `s3://bucket/prefix`, `gs://…`, `az://container/…`.
    #[schema(pattern = r"^(s3|gs|az|azure)://[^/]+(/.*)?$")]
    pub url: String,
    /// Deliver as this named stream.
    #[schema(pattern = r"^[A-Za-z0-9._:/-]{1,200}$")]
    pub stream: Option<String>,
    /// When another stream already holds a delivery's billing account and period: `refuse` (the
    /// default, 409), `keep_both` or `allow`, as for uploads.
    #[schema(pattern = "^(refuse|keep_both|allow)$")]
    pub overlap: Option<String>,
}

/// One delivery of an ingestion.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryOut {
    /// `written`: a new run; `unchanged`: the same bytes are already the current delivery;
    /// `empty`: the delivery holds no billing rows and nothing was written.
    pub outcome: String,
    /// The run (for `unchanged`, the run that holds the same content; none for `empty`).
    #[schema(value_type = Option<Object>)]
    pub run: Option<RunSummary>,
    /// The delivery's file, for `empty`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// What an ingestion did.
#[derive(Debug, Serialize, ToSchema)]
pub struct IngestOut {
    /// One per delivery found, in order.
    pub deliveries: Vec<DeliveryOut>,
}

fn delivery(o: IngestOutcome) -> DeliveryOut {
    match o {
        IngestOutcome::Written(run) => DeliveryOut { outcome: "written".into(), run: Some(run), source: None },
        IngestOutcome::Unchanged(run) => DeliveryOut { outcome: "unchanged".into(), run: Some(run), source: None },
        IngestOutcome::Empty(source) => DeliveryOut { outcome: "empty".into(), run: None, source: Some(source) },
    }
}

/// The start of an upload's temporary folder's name, followed by the server's process id.
pub const UPLOAD_PREFIX: &str = "valdrix-upload-";

/// Removes the upload folders that servers killed mid-upload left in `dir` (the system's
/// temporary folder): those of processes no longer running (on Linux, no `/proc/PID`) and those
/// untouched for a day. A running server's folders are kept, so
/// several servers may share one machine. Returns how many were removed.
pub fn remove_stale_uploads(dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    let me = std::process::id();
    let proc_fs = std::path::Path::new("/proc/self").exists();
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(UPLOAD_PREFIX) else { continue };
        let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
        // No upload takes a day: an older folder is stale whoever made it (a reused pid too).
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > std::time::Duration::from_secs(86_400));
        let stale = match pid {
            Some(pid) if pid == me => false,
            Some(pid) if proc_fs => old || !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            _ => old,
        };
        if stale && e.file_type().is_ok_and(|t| t.is_dir()) && std::fs::remove_dir_all(e.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

fn valid_filename(name: &str) -> bool {
    (1..=200).contains(&name.len())
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

fn valid_stream(name: &str) -> bool {
    (1..=200).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'/'))
}

async fn run_ingest(state: &AppState, caller: &Caller, req: IngestRequest) -> Result<Json<IngestOut>, ApiError> {
    let (policy, plausible) = (state.policy.clone(), state.plausible);
    let tenant = caller.tenant.clone();
    let outcomes = state
        .stores
        .run(move |s| Ok(valdrix_app::ingest::request::ingest(s, &tenant, &req, &policy, plausible)))
        .await??;
    Ok(Json(IngestOut { deliveries: outcomes.into_iter().map(delivery).collect() }))
}

/// Ingests one uploaded billing file (analyst): CUR, Azure cost details, GCP export or FOCUS, as
/// CSV (optionally gzip) or Parquet, in one transaction.
#[utoipa::path(post, path = "/api/v1/ingest/upload", tag = "ingestion", params(UploadParams),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The file's bytes"),
    security(("api_key" = [])),
    responses((status = 200, description = "Ingested", body = IngestOut), Refusals, Forbidden, Conflict, TooLarge, Unreadable))]
pub async fn upload(
    caller: Caller,
    State(state): State<AppState>,
    params: Params<UploadParams>,
    body: Body,
) -> Result<Json<IngestOut>, ApiError> {
    caller.require(Role::Analyst)?;
    let UploadParams { filename, stream, overlap } = params.into_inner()?;
    if let Some(v) = filename.as_ref().filter(|v| !valid_filename(v)) {
        return Err(ApiError::bad_request(format!(
            "filename={v:?}: 1 to 200 letters, digits, '.', '-', '_', not starting with '.'"
        )));
    }
    if let Some(v) = stream.as_ref().filter(|v| !valid_stream(v)) {
        return Err(ApiError::bad_request(format!("stream={v:?}: 1 to 200 of A-Z a-z 0-9 . - _ : /")));
    }
    let overlap = overlap.unwrap_or(OverlapPolicy::Refuse);
    let name = filename.ok_or_else(|| ApiError::bad_request("give filename=NAME (it tells the compression)"))?;
    // The upload goes to a private folder, streamed, never whole in memory; the folder goes when
    // the request ends.
    let prefix = format!("{UPLOAD_PREFIX}{}-", std::process::id());
    let dir = tempfile::Builder::new()
        .prefix(&prefix)
        .tempdir()
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("creating a temporary folder: {e}")))?;
    let path: PathBuf = dir.path().join(&name);
    let mut file = tokio::fs::File::create(&path)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("creating the upload file: {e}")))?;
    let mut chunks = body.into_data_stream();
    let mut written: u64 = 0;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request(format!("reading the upload: {e}")))?;
        written += chunk.len() as u64;
        if written > state.max_upload_bytes {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "uploads are limited to {} bytes; register an object-storage URL instead",
                    state.max_upload_bytes
                ),
            ));
        }
        file.write_all(&chunk)
            .await
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("writing the upload: {e}")))?;
    }
    file.flush()
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("writing the upload: {e}")))?;
    drop(file);
    if written == 0 {
        return Err(ApiError::bad_request("the upload is empty"));
    }
    let out =
        run_ingest(&state, &caller, IngestRequest { input: IngestInput::Upload { path, name }, stream, overlap }).await;
    drop(dir);
    out
}

/// Fetches and ingests the billing files under an object-storage prefix (analyst), with the
/// server's credentials.
#[utoipa::path(post, path = "/api/v1/ingest/url", tag = "ingestion", request_body = UrlIn, security(("api_key" = [])),
    responses((status = 200, description = "Ingested", body = IngestOut), Refusals, Forbidden, Conflict, NotJson, Unreadable))]
pub async fn from_url(
    caller: Caller,
    State(state): State<AppState>,
    body: super::JsonBody<UrlIn>,
) -> Result<Json<IngestOut>, ApiError> {
    caller.require(Role::Analyst)?;
    let body = body.into_inner()?;
    let url = body.url.trim().to_string();
    let scheme_ok = ["s3://", "gs://", "az://", "azure://"].iter().any(|p| url.starts_with(p));
    let bucket_ok = url.split_once("://").is_some_and(|(_, rest)| !rest.split('/').next().unwrap_or("").is_empty());
    if !scheme_ok || !bucket_ok || url.len() > 2000 {
        // Only object storage: a URL of any other scheme would let a tenant make the server read
        // its own files or its network.
        return Err(ApiError::bad_request(format!("url {url:?}: an s3://, gs:// or az:// bucket URL")));
    }
    let allowed: Vec<String> =
        state.url_prefixes.iter().map(|p| p.replace("{tenant}", caller.tenant.as_str())).collect();
    if allowed.is_empty() {
        return Err(ApiError::forbidden(
            "ingestion from object storage is not enabled on this server (valdrix serve --allow-url-prefix)",
        ));
    }
    if !allowed.iter().any(|p| url.starts_with(p.as_str())) || url.contains("/../") || url.ends_with("/..") {
        return Err(ApiError::forbidden(format!("url {url:?}: this tenant may ingest from {}", allowed.join(", "))));
    }
    if let Some(s) = body.stream.as_deref().filter(|s| !valid_stream(s)) {
        return Err(ApiError::bad_request(format!("stream={s:?}: 1 to 200 of A-Z a-z 0-9 . - _ : /")));
    }
    let overlap = match body.overlap.as_deref() {
        None => OverlapPolicy::Refuse,
        Some(v) => {
            OverlapPolicy::parse(v).ok_or_else(|| ApiError::bad_request(format!("overlap={v:?}: {OVERLAP_VALUES}")))?
        }
    };
    run_ingest(&state, &caller, IngestRequest { input: IngestInput::Url(url), stream: body.stream, overlap }).await
}

/// The format of `GET /api/v1/export/focus`, beside the cost filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FormatParams {
    /// `csv` (default) or `parquet`.
    #[serde(default, deserialize_with = "params::one")]
    #[param(value_type = Option<String>, pattern = "^(csv|parquet)$")]
    format: Option<ExportFormat>,
}

/// Parameters of `GET /api/v1/export/focus`.
pub type ExportParams = And<CostFilters, FormatParams>;

/// The tenant's records as a FOCUS 1.2 file (CSV or Parquet).
#[utoipa::path(get, path = "/api/v1/export/focus", tag = "costs", params(ExportParams), security(("api_key" = [])),
    responses(
        (status = 200, description = "The export", content((String = "text/csv"), (Vec<u8> = "application/vnd.apache.parquet"))),
        Refusals))]
pub async fn export_focus(
    caller: Caller,
    State(state): State<AppState>,
    params: Params<ExportParams>,
) -> Result<Response, ApiError> {
    let And(filters, FormatParams { format }) = params.into_inner()?;
    let (q, format) = (filters.query(), format.unwrap_or(ExportFormat::Csv));
    let dir = tempfile::Builder::new()
        .prefix("valdrix-export-")
        .tempdir()
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("creating a temporary folder: {e}")))?;
    let path = dir.path().join(format!("focus.{}", format.extension()));
    let (tenant, out) = (caller.tenant.clone(), path.clone());
    let rows = state.stores.run(move |s| Ok(valdrix_app::export::export_focus(s, &tenant, &q, &out))).await??;
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("reading the export: {e}")))?;
    // Unlinked now, the open file still streams; the folder goes with `dir`.
    drop(dir);
    let content_type = match format {
        ExportFormat::Csv => "text/csv; charset=utf-8",
        ExportFormat::Parquet => "application/vnd.apache.parquet",
    };
    let mut response = Body::from_stream(tokio_util::io::ReaderStream::new(file)).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"focus-{}.{}\"",
        caller.tenant.as_str(),
        format.extension()
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&rows.to_string()) {
        h.insert("x-valdrix-rows", v);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_folders_of_stopped_servers_are_removed_and_a_running_ones_kept() {
        let tmp = tempfile::tempdir().expect("temp dir");
        // A process that has exited: its pid names no running process.
        let mut child = std::process::Command::new("true").spawn().expect("spawn");
        let dead = child.id();
        child.wait().expect("wait");
        let mine = tmp.path().join(format!("{UPLOAD_PREFIX}{}-abc", std::process::id()));
        let stale = tmp.path().join(format!("{UPLOAD_PREFIX}{dead}-def"));
        let other = tmp.path().join("something-else");
        for d in [&mine, &stale, &other] {
            std::fs::create_dir(d).expect("dir");
            std::fs::write(d.join("cur.csv"), "x").expect("file");
        }
        assert_eq!(remove_stale_uploads(tmp.path()), 1);
        assert!(mine.exists() && other.exists() && !stale.exists());
    }

    #[test]
    fn upload_names_cannot_leave_the_folder() {
        assert!(valid_filename("cur-2026-10.csv.gz"));
        assert!(!valid_filename("../etc/passwd"));
        assert!(!valid_filename(".hidden"));
        assert!(!valid_filename("a/b.csv"));
        assert!(!valid_filename(""));
        assert!(valid_stream("named:aws/cur"));
        assert!(!valid_stream("a b"));
    }
}
