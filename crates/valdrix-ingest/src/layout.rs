//! Finding what to ingest under a path: single files, folders of exports, and the AWS CUR S3
//! delivery layout (billing-period folder → assembly folder → manifest), where only the newest
//! assembly of each period counts because each delivery replaces the one before.

use std::path::{Path, PathBuf};

use crate::error::{IngestError, Result};

/// One ingestion unit: files that together make one delivery of one source stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceUnit {
    /// Identifies the stream: a newer delivery of the same stream replaces the older one.
    pub stream: String,
    /// The files of the delivery, in order.
    pub files: Vec<PathBuf>,
    /// The CUR assembly id, when the unit comes from a manifest.
    pub assembly_id: Option<String>,
    /// Billing period label from the manifest (`20180801-20180901`).
    pub period: Option<String>,
}

fn is_billing_file(p: &Path) -> bool {
    let name = p.file_name().and_then(|s| s.to_str()).unwrap_or("").to_ascii_lowercase();
    if name.starts_with('.') || name.ends_with("manifest.json") {
        return false;
    }
    let base = name.trim_end_matches(".gz");
    base.ends_with(".csv")
        || base.ends_with(".parquet")
        || base.ends_with(".jsonl")
        || base.ends_with(".ndjson")
        || base.ends_with(".json")
}

fn is_period_folder(name: &str) -> bool {
    // `20180801-20180901`
    name.len() == 17
        && name.as_bytes()[8] == b'-'
        && name.bytes().enumerate().all(|(i, b)| i == 8 || b.is_ascii_digit())
}

fn canonical(p: &Path) -> String {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf()).to_string_lossy().into_owned()
}

/// Reads a CUR manifest: assembly id and the data files it lists, resolved below `period_dir`.
fn manifest_unit(manifest: &Path, period_dir: &Path) -> Result<SourceUnit> {
    let file = manifest.to_string_lossy().into_owned();
    let text = std::fs::read_to_string(manifest).map_err(|e| IngestError::Io { file: file.clone(), error: e })?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| IngestError::Manifest { file: file.clone(), message: e.to_string() })?;
    let assembly = v
        .get("assemblyId")
        .and_then(|a| a.as_str())
        .ok_or_else(|| IngestError::Manifest { file: file.clone(), message: "no assemblyId".to_string() })?
        .to_string();
    let period_name = period_dir.file_name().and_then(|s| s.to_str()).unwrap_or("").to_string();
    let keys = v
        .get("reportKeys")
        .and_then(|k| k.as_array())
        .ok_or_else(|| IngestError::Manifest { file: file.clone(), message: "no reportKeys".to_string() })?;
    let mut files = Vec::new();
    for k in keys {
        let key = k.as_str().unwrap_or("");
        // Keys are bucket paths: keep what follows the period folder.
        let marker = format!("{period_name}/");
        let rel = key.find(&marker).map(|i| &key[i + marker.len()..]).ok_or_else(|| IngestError::Manifest {
            file: file.clone(),
            message: format!("report key {key:?} is not inside the period folder {period_name}"),
        })?;
        let p = period_dir.join(rel);
        if !p.exists() {
            return Err(IngestError::Manifest {
                file: file.clone(),
                message: format!("listed file {} does not exist", p.display()),
            });
        }
        files.push(p);
    }
    let report_dir = period_dir.parent().unwrap_or(period_dir);
    Ok(SourceUnit {
        stream: format!("cur:{}:{}", canonical(report_dir), period_name),
        files,
        assembly_id: Some(assembly),
        period: Some(period_name),
    })
}

/// The newest delivery of a CUR period folder: the period-level manifest names the current
/// assembly; without one, the assembly folder whose manifest was written last.
fn period_unit(period_dir: &Path) -> Result<Option<SourceUnit>> {
    let entries: Vec<PathBuf> = read_dir_sorted(period_dir)?;
    if let Some(m) = entries.iter().find(|p| p.is_file() && p.to_string_lossy().ends_with("-Manifest.json")) {
        return manifest_unit(m, period_dir).map(Some);
    }
    let mut newest: Option<(std::time::SystemTime, PathBuf)> = None;
    for d in entries.iter().filter(|p| p.is_dir()) {
        for m in read_dir_sorted(d)? {
            if m.to_string_lossy().ends_with("-Manifest.json") {
                let t = std::fs::metadata(&m).and_then(|md| md.modified()).unwrap_or(std::time::UNIX_EPOCH);
                if newest.as_ref().is_none_or(|(nt, _)| t > *nt) {
                    newest = Some((t, m));
                }
            }
        }
    }
    match newest {
        Some((_, m)) => manifest_unit(&m, period_dir).map(Some),
        None => Ok(None),
    }
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>> {
    let file = dir.to_string_lossy().into_owned();
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| IngestError::Io { file: file.clone(), error: e })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    v.sort();
    Ok(v)
}

fn walk(dir: &Path, out: &mut Vec<SourceUnit>) -> Result<()> {
    let name = dir.file_name().and_then(|s| s.to_str()).unwrap_or("");
    if is_period_folder(name) {
        if let Some(u) = period_unit(dir)? {
            out.push(u);
            return Ok(());
        }
    }
    for p in read_dir_sorted(dir)? {
        if p.is_dir() {
            walk(&p, out)?;
        } else if is_billing_file(&p) {
            out.push(SourceUnit {
                stream: format!("file:{}", canonical(&p)),
                files: vec![p],
                assembly_id: None,
                period: None,
            });
        }
    }
    Ok(())
}

/// Expands command-line paths into ingestion units. A file is one unit; a folder is searched
/// recursively, and CUR period folders yield their newest assembly only.
pub fn resolve_inputs(paths: &[PathBuf]) -> Result<Vec<SourceUnit>> {
    let mut out = Vec::new();
    for p in paths {
        let file = p.to_string_lossy().into_owned();
        let md = std::fs::metadata(p).map_err(|e| IngestError::Io { file: file.clone(), error: e })?;
        if md.is_dir() {
            walk(p, &mut out)?;
        } else if p.to_string_lossy().ends_with("-Manifest.json") {
            let period_dir =
                p.parent().and_then(|d| if is_period_folder(d.file_name()?.to_str()?) { Some(d) } else { d.parent() });
            let period_dir = period_dir.unwrap_or(Path::new("."));
            out.push(manifest_unit(p, period_dir)?);
        } else {
            out.push(SourceUnit {
                stream: format!("file:{}", canonical(p)),
                files: vec![p.clone()],
                assembly_id: None,
                period: None,
            });
        }
    }
    Ok(out)
}
