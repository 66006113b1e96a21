//! Object-storage inputs: `s3://bucket/prefix`, `az://container/prefix` (also `azure://`) and
//! `gs://bucket/prefix`.
//!
//! Objects under the prefix that look like billing exports (and CUR manifests) are downloaded
//! into a private temporary folder that mirrors their keys, then ingested exactly like local files;
//! stream identities and messages name the URL, not the temporary path. Credentials and endpoints
//! come from the environment through `object_store`'s usual chains: for AWS `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`, web identity and instance metadata,
//! with `AWS_ENDPOINT_URL` for S3-compatible endpoints; for Azure `AZURE_STORAGE_ACCOUNT_NAME`,
//! `AZURE_STORAGE_ACCOUNT_KEY`, SAS or service principal variables, `AZURE_STORAGE_USE_EMULATOR`
//! and `AZURITE_BLOB_STORAGE_URL` for Azurite; for Google `GOOGLE_APPLICATION_CREDENTIALS` or
//! `GOOGLE_SERVICE_ACCOUNT` and the metadata server.

use crate::error::{AppError, Result};
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Whether an argument is an object-storage URL rather than a local path.
pub fn is_url(s: &str) -> bool {
    ["s3://", "az://", "azure://", "gs://"].iter().any(|p| s.starts_with(p))
}

/// A prefix downloaded into a temporary folder.
pub struct Downloaded {
    /// Keeps the folder alive; removed when dropped.
    _dir: tempfile::TempDir,
    /// The local folder that mirrors the prefix.
    pub root: PathBuf,
    /// The URL of the prefix, without a trailing slash.
    pub url: String,
    /// Objects downloaded.
    pub objects: usize,
    /// Bytes downloaded.
    pub bytes: u64,
}

fn wanted(key: &str) -> bool {
    let name = key.rsplit('/').next().unwrap_or(key).to_ascii_lowercase();
    let base = name.trim_end_matches(".gz");
    name.ends_with("-manifest.json")
        || base.ends_with(".csv")
        || base.ends_with(".parquet")
        || base.ends_with(".jsonl")
        || base.ends_with(".ndjson")
}

/// A failed object-storage call, with what was being done.
fn remote(context: impl std::fmt::Display, e: impl std::fmt::Display) -> AppError {
    AppError::Remote(format!("{context}: {e}"))
}

fn store_for(scheme: &str, bucket: &str) -> Result<Arc<dyn ObjectStore>> {
    let plain_http = |var: &str| std::env::var(var).map(|v| v.starts_with("http://")).unwrap_or(false);
    Ok(match scheme {
        "s3" => {
            let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
            if std::env::var("AWS_REGION").is_err() && std::env::var("AWS_DEFAULT_REGION").is_err() {
                b = b.with_region("us-east-1");
            }
            if let Ok(r) = std::env::var("AWS_DEFAULT_REGION") {
                b = b.with_region(r);
            }
            if plain_http("AWS_ENDPOINT_URL") || plain_http("AWS_ENDPOINT") {
                b = b.with_allow_http(true);
            }
            Arc::new(b.build().map_err(|e| remote("configuring S3 access", e))?)
        }
        "az" | "azure" => {
            let b = MicrosoftAzureBuilder::from_env().with_container_name(bucket);
            Arc::new(b.build().map_err(|e| remote("configuring Azure Blob access", e))?)
        }
        "gs" => {
            let b = GoogleCloudStorageBuilder::from_env().with_bucket_name(bucket);
            Arc::new(b.build().map_err(|e| remote("configuring Google Cloud Storage access", e))?)
        }
        other => return Err(AppError::Invalid(format!("unsupported URL scheme {other}://"))),
    })
}

/// Downloads the billing files under `url` into a temporary folder.
pub fn fetch(url: &str) -> Result<Downloaded> {
    let (scheme, rest) = url.split_once("://").ok_or_else(|| AppError::Invalid(format!("{url}: not a URL")))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(AppError::Invalid(format!("{url}: the URL names no bucket or container")));
    }
    let prefix = prefix.trim_end_matches('/');
    let store = store_for(scheme, bucket).map_err(|e| e.context(url))?;
    let dir = tempfile::Builder::new().prefix("valdrix-fetch-").tempdir()?;
    let root = dir.path().join("objects");
    std::fs::create_dir_all(&root)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let (objects, bytes, single) = rt.block_on(async {
        let list_prefix = (!prefix.is_empty()).then(|| ObjectPath::from(prefix));
        let mut metas: Vec<_> = store
            .list(list_prefix.as_ref())
            .try_collect()
            .await
            .map_err(|e| remote(format_args!("listing {url}"), e))?;
        // A listing is of what lies under the prefix as a folder: a URL naming one object lists
        // nothing, so the object itself is looked up.
        if metas.is_empty() {
            if let Some(object) = &list_prefix {
                if let Ok(meta) = store.head(object).await {
                    metas.push(meta);
                }
            }
        }
        let single = metas.len() == 1 && metas[0].location.as_ref() == prefix;
        let mut objects = 0usize;
        let mut bytes = 0u64;
        for meta in metas {
            let key = meta.location.to_string();
            if !wanted(&key) {
                continue;
            }
            // Keys relative to the prefix; a URL naming one object keeps its file name.
            let rel = key.strip_prefix(prefix).map(|r| r.trim_start_matches('/')).filter(|r| !r.is_empty());
            let rel = rel.unwrap_or_else(|| key.rsplit('/').next().unwrap_or(&key));
            if rel.split('/').any(|part| part == ".." || part.is_empty()) {
                return Err(AppError::Invalid(format!("{url}: refusing the object key {key:?}")));
            }
            let dest = root.join(rel);
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let downloading = || format!("downloading {scheme}://{bucket}/{key}");
            let data = store
                .get(&meta.location)
                .await
                .map_err(|e| remote(downloading(), e))?
                .bytes()
                .await
                .map_err(|e| remote(downloading(), e))?;
            std::fs::write(&dest, &data)
                .map_err(|e| AppError::from(e).context(format!("writing {}", dest.display())))?;
            objects += 1;
            bytes += data.len() as u64;
        }
        Ok::<_, AppError>((objects, bytes, single))
    })?;
    if objects == 0 {
        return Err(AppError::Invalid(format!(
            "{url}: no billing files (CSV, Parquet, JSON lines or CUR manifests) under this prefix"
        )));
    }
    // One object is downloaded under its own name: the folder it is in stands for the root.
    let prefix = if single { prefix.rsplit_once('/').map_or("", |(dir, _)| dir) } else { prefix };
    let url = format!("{scheme}://{bucket}{}", if prefix.is_empty() { String::new() } else { format!("/{prefix}") });
    Ok(Downloaded { _dir: dir, root, url, objects, bytes })
}

/// Maps a local path inside a downloaded folder back to its URL.
pub fn display_path(downloads: &[Downloaded], p: &Path) -> String {
    for d in downloads {
        if let Ok(rel) = p.strip_prefix(&d.root) {
            let rel = rel.to_string_lossy();
            return if rel.is_empty() { d.url.clone() } else { format!("{}/{}", d.url, rel) };
        }
    }
    p.display().to_string()
}
