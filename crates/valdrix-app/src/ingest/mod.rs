//! Ingestion: inputs (files, folders, object-storage prefixes, uploads) → delivery units → read
//! and roll up → one atomic store write per unit, all units in one transaction.

pub mod remote;
pub mod request;

use chrono::Utc;
use std::path::{Path, PathBuf};
use std::time::Instant;

use valdrix_core::TenantId;
use valdrix_ingest::validate::Plausible;
use valdrix_ingest::{
    checksum_files, read_file_with, resolve_inputs, Format, Progress, ReadOptions, Rollup, SourceUnit,
};
use valdrix_store::scope::OverlapPolicy;
use valdrix_store::{CurrencyTotals, Forced, NewRun, RunSummary, Store, TrustPolicy};

use crate::error::{AppError, Context, Result};

/// An I/O error reading the caller's input: theirs to fix (a file gone, unreadable), as a
/// malformed row is.
fn input_io(context: String, e: std::io::Error) -> AppError {
    AppError::Invalid(format!("{context}: {e}"))
}

/// What happened to one unit.
#[derive(Debug, Clone)]
pub enum UnitOutcome {
    /// Written as a new run.
    Written(RunSummary),
    /// The delivery holds no billing rows (a header only, a Parquet file of no rows): nothing
    /// was written.
    Empty {
        /// The unit's display name.
        source: String,
    },
    /// Identical bytes are already the current delivery: nothing changed.
    Unchanged {
        /// The unit's display name.
        source: String,
        /// The run that holds the same content.
        existing: RunSummary,
    },
}

/// Options for an ingest.
#[derive(Debug, Clone, Default)]
pub struct IngestOptions {
    /// Force a format instead of detecting it.
    pub format: Option<Format>,
    /// Local folders that mirror object-storage prefixes, with their URLs: stream identities use
    /// the URL, so a delivery fetched again replaces the one before wherever it was downloaded.
    pub url_roots: Vec<(PathBuf, String)>,
    /// Deliver every unit as the named stream (`named:NAME`) instead of its file or CUR report:
    /// successive exports of the same bill under different file names then restate each other,
    /// billing period by billing period.
    pub stream: Option<String>,
    /// When records become final and when restatements alert.
    pub policy: TrustPolicy,
    /// Who forces a delivery into a billing period closed by hand, and why.
    pub forced: Option<Forced>,
    /// What to do when another stream already holds a delivery's billing scope.
    pub overlap: OverlapPolicy,
    /// Read CSV rows shorter than their header as if the trailing fields were empty.
    pub pad_short_rows: bool,
    /// The days a bill may hold; `None`: [`Plausible::default`].
    pub plausible: Option<Plausible>,
    /// Record a delivery that holds no billing rows (by default it is reported and skipped).
    pub allow_empty: bool,
}

/// Ingests every unit found under `inputs` into `store` in one transaction: either every unit is
/// written or, on the first error (or a crash), none is. Memory is bounded by one unit's records.
pub fn ingest_paths(
    store: &mut dyn Store,
    tenant: &TenantId,
    inputs: &[PathBuf],
    display: &dyn Fn(&Path) -> String,
    opts: &IngestOptions,
    on_progress: &mut dyn FnMut(&str, Progress),
) -> Result<Vec<UnitOutcome>> {
    let mut units = resolve_inputs(inputs)?;
    for (root, url) in &opts.url_roots {
        let local = std::fs::canonicalize(root).unwrap_or_else(|_| root.clone()).to_string_lossy().into_owned();
        for u in units.iter_mut().filter(|u| u.stream.contains(&local)) {
            u.stream = u.stream.replacen(&local, url, 1);
        }
    }
    if let Some(spelling) = &opts.stream {
        let stream = resolve_stream(store, tenant, spelling)?;
        for u in units.iter_mut() {
            u.stream = stream.clone();
        }
    }
    if units.is_empty() {
        return Err(AppError::Invalid(format!(
            "no billing files found under {}",
            inputs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        )));
    }
    let mut out = Vec::with_capacity(units.len());
    store.begin()?;
    for unit in &units {
        match ingest_unit(store, tenant, unit, display, opts, on_progress) {
            Ok(o) => out.push(o),
            Err(e) => {
                store.rollback()?;
                return Err(e);
            }
        }
    }
    store.commit()?;
    Ok(out)
}

/// The local paths of an ingestion's arguments: object-storage URLs are fetched into temporary
/// folders, which live as long as this.
pub struct Inputs {
    /// Local files and folders, in the order given.
    pub paths: Vec<PathBuf>,
    /// The prefixes fetched.
    pub downloads: Vec<remote::Downloaded>,
}

impl Inputs {
    /// Resolves `args` (paths, or `s3://`, `az://`, `gs://` URLs); `fetched` is told of each
    /// prefix downloaded.
    pub fn resolve(args: &[String], fetched: &mut dyn FnMut(&remote::Downloaded)) -> Result<Inputs> {
        let mut inputs = Inputs { paths: Vec::new(), downloads: Vec::new() };
        for p in args {
            if remote::is_url(p) {
                let d = remote::fetch(p)?;
                fetched(&d);
                inputs.paths.push(d.root.clone());
                inputs.downloads.push(d);
            } else if p.contains("://") {
                return Err(AppError::Invalid(format!(
                    "{p}: unsupported URL scheme (use s3://, az://, gs:// or a local path)"
                )));
            } else {
                inputs.paths.push(PathBuf::from(p));
            }
        }
        Ok(inputs)
    }

    /// The local folders that stand for URLs, with their URLs ([`IngestOptions::url_roots`]).
    pub fn url_roots(&self) -> Vec<(PathBuf, String)> {
        self.downloads.iter().map(|d| (d.root.clone(), d.url.clone())).collect()
    }

    /// How a path under these inputs is shown: its URL when it was fetched.
    pub fn display(&self, p: &Path) -> String {
        remote::display_path(&self.downloads, p)
    }
}

/// Reads and rolls up every unit under `paths` without writing anything (`ingest --dry-run`),
/// handing each to `each` as it is read.
pub fn dry_run(
    paths: &[PathBuf],
    display: &dyn Fn(&Path) -> String,
    opts: &IngestOptions,
    on_progress: &mut dyn FnMut(&str, Progress),
    each: &mut dyn FnMut(ReadUnit),
) -> Result<()> {
    for unit in &resolve_inputs(paths)? {
        each(read_unit(unit, display, opts, on_progress)?);
    }
    Ok(())
}

/// Prefixes of the stream ids Valdrix makes: a spelling that starts with one is a stream id.
const STREAM_PREFIXES: [&str; 4] = ["file:", "cur:", "named:", "upload/"];

/// The stream a `--stream` spelling names. Every spelling Valdrix prints (`file:/…`, `cur:…`,
/// `named:NAME`, `upload/NAME`, or the bare NAME of a named stream) names the existing stream,
/// and so does a path to a file ingested before; a stream id not stored yet is used as spelled;
/// anything else is a new named stream, `named:NAME`.
pub fn resolve_stream(store: &dyn Store, tenant: &TenantId, spelling: &str) -> Result<String> {
    if let Some(stream) = store.resolve_stream(tenant, spelling)? {
        return Ok(stream);
    }
    if let Ok(path) = std::fs::canonicalize(spelling) {
        if let Some(stream) = store.resolve_stream(tenant, &format!("file:{}", path.to_string_lossy()))? {
            return Ok(stream);
        }
    }
    if STREAM_PREFIXES.iter().any(|p| spelling.starts_with(p)) {
        Ok(spelling.to_string())
    } else {
        Ok(format!("named:{spelling}"))
    }
}

/// A unit read and rolled up, not yet written.
pub struct ReadUnit {
    /// Display name of the unit.
    pub source: String,
    /// File names, in order.
    pub names: Vec<String>,
    /// Daily records.
    pub records: Rollup,
    /// Detected format.
    pub format: Option<Format>,
    /// Bytes read.
    pub bytes: u64,
    /// Rows read.
    pub rows: u64,
    /// Normalised lines.
    pub lines: u64,
    /// When reading started.
    pub started_at: chrono::DateTime<Utc>,
    /// Reading time in ms.
    pub read_ms: u64,
}

fn unit_source(unit: &SourceUnit, display: &dyn Fn(&Path) -> String) -> String {
    match (&unit.assembly_id, unit.files.first()) {
        (Some(_), Some(first)) => display(first.parent().unwrap_or(first)),
        (_, Some(first)) => display(first),
        _ => unit.stream.clone(),
    }
}

/// Reads every file of a unit into one rollup: the parse + normalise + rollup stage, no store.
pub fn read_unit(
    unit: &SourceUnit,
    display: &dyn Fn(&Path) -> String,
    opts: &IngestOptions,
    on_progress: &mut dyn FnMut(&str, Progress),
) -> Result<ReadUnit> {
    let names: Vec<String> = unit.files.iter().map(|p| display(p)).collect();
    let started_at = Utc::now();
    let t0 = Instant::now();
    let mut rollup = Rollup::new();
    rollup.set_plausible(opts.plausible.unwrap_or_default());
    let read_options =
        ReadOptions { format: opts.format, pad_short_rows: opts.pad_short_rows, ..ReadOptions::default() };
    let mut format = None;
    let mut bytes = 0u64;
    let mut rows = 0u64;
    for (path, name) in unit.files.iter().zip(&names) {
        let info = read_file_with(path, name, &read_options, &mut rollup, &mut |p| on_progress(name, p))?;
        if let Some(f) = format {
            if f != info.format {
                return Err(AppError::Invalid(format!(
                    "{name}: format {} differs from {} in the other files of the same delivery",
                    info.format, f
                )));
            }
        }
        format = Some(info.format);
        bytes += info.bytes;
        rows += info.rows;
    }
    rollup.seal().map_err(|e| input_io(format!("reading {}", unit_source(unit, display)), e))?;
    let lines = rollup.lines();
    Ok(ReadUnit {
        source: unit_source(unit, display),
        names,
        records: rollup,
        format,
        bytes,
        rows,
        lines,
        started_at,
        read_ms: t0.elapsed().as_millis() as u64,
    })
}

/// Ingests one unit (one delivery of one stream).
pub fn ingest_unit(
    store: &mut dyn Store,
    tenant: &TenantId,
    unit: &SourceUnit,
    display: &dyn Fn(&Path) -> String,
    opts: &IngestOptions,
    on_progress: &mut dyn FnMut(&str, Progress),
) -> Result<UnitOutcome> {
    let source = unit_source(unit, display);
    let paths: Vec<&Path> = unit.files.iter().map(|p| p.as_path()).collect();
    let checksum = checksum_files(&paths).map_err(|e| input_io(format!("reading {source}"), e))?;
    if let Some(existing) = store.current_run_with_checksum(tenant, &checksum)? {
        return Ok(UnitOutcome::Unchanged { source, existing });
    }
    let read = read_unit(unit, display, opts, on_progress)?;
    if read.lines == 0 && !opts.allow_empty {
        return Ok(UnitOutcome::Empty { source });
    }
    let totals = read.records.totals_by_currency().iter().map(|(c, t)| (c.clone(), CurrencyTotals::from(t))).collect();
    let run = NewRun {
        stream: unit.stream.clone(),
        source_uri: read.source.clone(),
        files: read.names,
        format: read.format.map(|f| f.name().to_string()).unwrap_or_default(),
        checksum,
        assembly_id: unit.assembly_id.clone(),
        bytes: read.bytes,
        rows_read: read.rows,
        lines: read.lines,
        totals,
        started_at: read.started_at,
        read_ms: read.read_ms,
        policy: opts.policy.clone(),
        forced: opts.forced.clone(),
        overlap: opts.overlap,
    };
    let summary =
        store.replace_stream(tenant, &run, &read.records).with_context(|| format!("writing {source} to the store"))?;
    Ok(UnitOutcome::Written(summary))
}
