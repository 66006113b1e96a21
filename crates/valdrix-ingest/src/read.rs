//! Reading one file: encoding detection (plain, gzip, Parquet, JSON lines), format detection, and
//! streaming rows through the format's normaliser into a rollup.

use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ProjectionMask;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::error::{FieldError, IngestError, Location, Result};
use crate::rollup::Rollup;
use crate::table::{BatchView, CsvRow, Header, JsonRow};
use crate::validate;
use crate::{gcp, Format};

/// How a file's bytes are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Delimited text, optionally gzip-compressed.
    Csv {
        /// gzip-compressed.
        gzip: bool,
    },
    /// Apache Parquet.
    Parquet,
    /// Newline-delimited JSON (BigQuery export), optionally gzip-compressed.
    JsonLines {
        /// gzip-compressed.
        gzip: bool,
    },
}

impl Encoding {
    /// A short name for run records.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Csv { gzip: false } => "csv",
            Encoding::Csv { gzip: true } => "csv.gz",
            Encoding::Parquet => "parquet",
            Encoding::JsonLines { gzip: false } => "jsonl",
            Encoding::JsonLines { gzip: true } => "jsonl.gz",
        }
    }
}

/// What was read from one file.
#[derive(Debug, Clone)]
pub struct FileInfo {
    /// Detected or forced format.
    pub format: Format,
    /// Byte layout.
    pub encoding: Encoding,
    /// Data rows read.
    pub rows: u64,
    /// Size of the file in bytes.
    pub bytes: u64,
    /// Rows read by a columnar reader rather than row by row.
    pub columnar_rows: u64,
}

/// Progress of a read, reported every few thousand rows.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    /// Rows read so far in this file.
    pub rows: u64,
    /// Bytes read so far in this file (estimated for Parquet).
    pub bytes: u64,
}

/// SHA-256 over the bytes of `paths`, in order.
pub fn checksum_files(paths: &[&Path]) -> std::io::Result<String> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    for p in paths {
        let mut f = File::open(p)?;
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
    }
    Ok(hex::encode(h.finalize()))
}

fn io_err(file: &str, e: std::io::Error) -> IngestError {
    IngestError::Io { file: file.to_string(), error: e }
}

/// Sniffs the encoding from the first bytes (and the name, to tell JSON lines from CSV).
fn sniff(path: &Path, file: &str) -> Result<Encoding> {
    let mut f = File::open(path).map_err(|e| io_err(file, e))?;
    let mut head = [0u8; 4];
    let n = f.read(&mut head).map_err(|e| io_err(file, e))?;
    if n == 0 {
        return Err(IngestError::Empty { file: file.to_string() });
    }
    let gzip = n >= 2 && head[0] == 0x1f && head[1] == 0x8b;
    if n == 4 && &head == b"PAR1" {
        return Ok(Encoding::Parquet);
    }
    let name = path.file_name().and_then(|s| s.to_str()).unwrap_or("").to_ascii_lowercase();
    let name = name.trim_end_matches(".gz");
    if name.ends_with(".parquet") && !gzip {
        return Err(IngestError::Parquet {
            file: file.to_string(),
            location: Location::default(),
            message: "the file does not start with the Parquet magic bytes".to_string(),
        });
    }
    let json =
        name.ends_with(".jsonl") || name.ends_with(".ndjson") || name.ends_with(".json") || (!gzip && head[0] == b'{');
    Ok(if json { Encoding::JsonLines { gzip } } else { Encoding::Csv { gzip } })
}

/// Counts bytes as they are read, for progress.
struct Counting<R> {
    inner: R,
    count: Arc<std::sync::atomic::AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

fn open_text(path: &Path, file: &str, gzip: bool) -> Result<(Box<dyn Read>, Arc<std::sync::atomic::AtomicU64>)> {
    let f = File::open(path).map_err(|e| io_err(file, e))?;
    let count = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counted = Counting { inner: BufReader::with_capacity(1 << 20, f), count: count.clone() };
    let r: Box<dyn Read> = if gzip {
        let decoded = flate2::read::MultiGzDecoder::new(counted);
        Box::new(Bounded { inner: decoded, compressed: Some(count.clone()), out: 0, since_newline: 0 })
    } else {
        Box::new(Bounded { inner: counted, compressed: None, out: 0, since_newline: 0 })
    };
    Ok((r, count))
}

/// Text longer than this without a line break is no billing file: a reader holds a whole line
/// (a CSV record, a JSON line) in memory, so this bounds it.
pub const MAX_LINE_BYTES: u64 = 64 << 20;

/// The most a compressed file may expand, once past [`BOMB_FLOOR_BYTES`]: billing CSV
/// compresses 10 to 50 times; a file that expands 250 times is a decompression bomb (deflate
/// reaches about 1,000 at most, on a run of one byte).
pub const MAX_EXPANSION: u64 = 250;

/// Decompressed bytes read before [`MAX_EXPANSION`] applies (small files expand oddly).
pub const BOMB_FLOOR_BYTES: u64 = 64 << 20;

/// Bounds what a text reader may hold: lines of at most [`MAX_LINE_BYTES`], and for compressed
/// input, at most [`MAX_EXPANSION`] times the compressed bytes read. Either limit is an I/O
/// error of kind `InvalidData`, which the readers report with the file and row.
struct Bounded<R> {
    inner: R,
    compressed: Option<Arc<AtomicU64>>,
    out: u64,
    since_newline: u64,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let chunk = &buf[..n];
        self.out += n as u64;
        self.since_newline = match chunk.iter().rposition(|&b| b == b'\n') {
            Some(at) => (n - at - 1) as u64,
            None => self.since_newline + n as u64,
        };
        if self.since_newline > MAX_LINE_BYTES {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("more than {} MiB without a line break: not a billing file", MAX_LINE_BYTES >> 20),
            ));
        }
        if let Some(compressed) = &self.compressed {
            let read = compressed.load(Ordering::Relaxed).max(1);
            if self.out > BOMB_FLOOR_BYTES && self.out > read.saturating_mul(MAX_EXPANSION) {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "the compressed data expands more than {MAX_EXPANSION} times ({} MiB from {} KiB): a decompression bomb?",
                        self.out >> 20,
                        read >> 10
                    ),
                ));
            }
        }
        Ok(n)
    }
}

/// How a file is read.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// The format, instead of detecting it from the header or schema.
    pub format: Option<Format>,
    /// Read Parquet batches column by column where the format has a columnar reader (the
    /// default); `false` reads every row through the row reader (tests compare the two).
    pub columnar: bool,
    /// Read CSV rows with fewer fields than the header as if the missing trailing fields were
    /// empty (some exporters leave them out); by default such a row is an error, since it is
    /// also what a truncated row looks like.
    pub pad_short_rows: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions { format: None, columnar: true, pad_short_rows: false }
    }
}

/// Reads one billing file into `rollup`. `file` is the name used in messages (path or URL).
/// On error the rollup may hold part of the file: callers discard it.
pub fn read_file(
    path: &Path,
    file: &str,
    forced: Option<Format>,
    rollup: &mut Rollup,
    progress: &mut dyn FnMut(Progress),
) -> Result<FileInfo> {
    let options = ReadOptions { format: forced, ..ReadOptions::default() };
    read_file_with(path, file, &options, rollup, progress)
}

/// [`read_file`] with every option.
pub fn read_file_with(
    path: &Path,
    file: &str,
    options: &ReadOptions,
    rollup: &mut Rollup,
    progress: &mut dyn FnMut(Progress),
) -> Result<FileInfo> {
    let forced = options.format;
    let columnar_rows = AtomicU64::new(0);
    let bytes = std::fs::metadata(path).map_err(|e| io_err(file, e))?.len();
    let encoding = sniff(path, file)?;
    let (format, rows) = match encoding {
        Encoding::Csv { gzip } => read_csv(path, file, gzip, options, rollup, progress)?,
        Encoding::Parquet => {
            let columnar = options.columnar.then_some(&columnar_rows);
            read_parquet(path, file, bytes, forced, columnar, rollup, progress)?
        }
        Encoding::JsonLines { gzip } => read_jsonl(path, file, gzip, forced, rollup, progress)?,
    };
    let columnar_rows = columnar_rows.into_inner();
    Ok(FileInfo { format, encoding, rows, bytes, columnar_rows })
}

fn detect_or(forced: Option<Format>, header: &Header, file: &str) -> Result<Format> {
    if let Some(f) = forced {
        return Ok(f);
    }
    Format::detect(header).ok_or_else(|| {
        let shown: Vec<&str> = header.names().iter().take(8).map(|s| s.as_str()).collect();
        IngestError::UnknownFormat {
            file: file.to_string(),
            detail: format!(
                "the header ({}{}) matches no AWS CUR, Azure cost details, GCP billing export or FOCUS layout; pass --format to force one",
                shown.join(", "),
                if header.names().len() > 8 { ", ..." } else { "" }
            ),
        }
    })
}

const PROGRESS_EVERY: u64 = 16_384;

fn read_csv(
    path: &Path,
    file: &str,
    gzip: bool,
    options: &ReadOptions,
    rollup: &mut Rollup,
    progress: &mut dyn FnMut(Progress),
) -> Result<(Format, u64)> {
    let forced = options.format;
    let (reader, count) = open_text(path, file, gzip)?;
    let mut csv = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(reader);
    let mut rec = csv::StringRecord::new();
    let got = csv
        .read_record(&mut rec)
        .map_err(|e| csv_error(file, 0, e, &Header::new(Vec::new(), file).expect("empty header")))?;
    if !got || rec.iter().all(|f| f.trim().is_empty()) {
        return Err(IngestError::Empty { file: file.to_string() });
    }
    let header = Header::new(rec.iter().map(str::to_string).collect(), file)?;
    let width = header.names().len();
    let format = detect_or(forced, &header, file)?;
    let plan = format.plan(header);
    let null_literals = plan.null_literals();
    let mut row_no: u64 = 0;
    loop {
        match csv.read_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(csv_error(file, row_no + 1, e, plan.header())),
        }
        row_no += 1;
        if let Some(col) = swallowed_lines(&rec, width) {
            return Err(IngestError::Data {
                file: file.to_string(),
                location: Location { row: Some(row_no), column: Some(plan.header().name(col).to_string()), ..Default::default() },
                message: "a quoted field runs over the following lines, which look like rows of their own: an unbalanced quote?"
                    .to_string(),
            });
        }
        if rec.len() != width {
            // A blank trailing line is not a row.
            if rec.len() == 1 && rec.get(0).is_some_and(|f| f.trim().is_empty()) {
                row_no -= 1;
                continue;
            }
            // A short row is a truncated row unless the exporter is known to leave trailing
            // empty columns out (--pad-short-rows); a short row whose field spans lines is an
            // unbalanced quote that swallowed the lines after it; a long row has a stray
            // delimiter.
            let spans_lines = rec.iter().any(|f| f.contains('\n'));
            if rec.len() < width && !spans_lines && !options.pad_short_rows {
                return Err(IngestError::Data {
                    file: file.to_string(),
                    location: Location {
                        row: Some(row_no),
                        column: Some(plan.header().name(rec.len()).to_string()),
                        ..Default::default()
                    },
                    message: format!(
                        "the row has {} fields but the header has {width}: a truncated row? (an export that \
                         leaves out trailing empty fields is read with --pad-short-rows)",
                        rec.len()
                    ),
                });
            }
            if rec.len() > width || spans_lines {
                return Err(IngestError::Data {
                    file: file.to_string(),
                    location: Location { row: Some(row_no), ..Default::default() },
                    message: format!(
                        "the row has {} fields but the header has {width}{}",
                        rec.len(),
                        if spans_lines {
                            " and a quoted field runs over several lines: an unbalanced quote?"
                        } else {
                            ": a stray delimiter or unquoted comma?"
                        }
                    ),
                });
            }
            while rec.len() < width {
                rec.push_field("");
            }
        }
        if let Some((col, e)) = bad_field(&rec) {
            return Err(IngestError::Data {
                file: file.to_string(),
                location: Location {
                    row: Some(row_no),
                    column: Some(plan.header().name(col).to_string()),
                    ..Default::default()
                },
                message: e.message,
            });
        }
        let row = CsvRow { record: &rec, null_literals };
        plan.emit(&row, rollup).map_err(|e| IngestError::data(file, Some(row_no), None, e))?;
        if row_no.is_multiple_of(PROGRESS_EVERY) {
            progress(Progress { rows: row_no, bytes: count.load(std::sync::atomic::Ordering::Relaxed) });
        }
    }
    progress(Progress { rows: row_no, bytes: count.load(std::sync::atomic::Ordering::Relaxed) });
    Ok((format, row_no))
}

/// The first field of a CSV record that a bill cannot hold (a control character other than tab
/// and line breaks, or more than [`validate::MAX_FIELD_BYTES`]), with its column. One pass over
/// the record's bytes finds the common case, a clean record, at once.
fn bad_field(rec: &csv::StringRecord) -> Option<(usize, FieldError)> {
    let bytes = rec.as_slice().as_bytes();
    let suspicious = bytes.len() > validate::MAX_FIELD_BYTES || bytes.iter().any(|&b| b < 0x20 || b == 0x7f);
    if !suspicious {
        return None;
    }
    rec.iter().enumerate().find_map(|(i, f)| validate::check_text("", f).err().map(|e| (i, e)))
}

/// A field that holds a line break followed by text with as many delimiters as a whole row: the
/// mark of a quote that was never closed and swallowed the rows after it. Returns its column.
fn swallowed_lines(rec: &csv::StringRecord, width: usize) -> Option<usize> {
    if width < 3 {
        return None;
    }
    rec.iter().position(|f| match f.split_once('\n') {
        Some((_, rest)) => rest.matches(',').count() + 1 >= width,
        None => false,
    })
}

fn csv_error(file: &str, row: u64, e: csv::Error, header: &Header) -> IngestError {
    let mut column = None;
    let message = match e.kind() {
        csv::ErrorKind::Utf8 { err, .. } => {
            column = header.names().get(err.field()).cloned();
            format!("invalid UTF-8 in field {} (after byte {} of the field)", err.field() + 1, err.valid_up_to())
        }
        csv::ErrorKind::Io(io) => {
            if io.kind() == std::io::ErrorKind::InvalidInput || io.kind() == std::io::ErrorKind::UnexpectedEof {
                format!("unreadable compressed data: {io}")
            } else {
                io.to_string()
            }
        }
        _ => e.to_string(),
    };
    IngestError::Data {
        file: file.to_string(),
        location: Location { row: (row > 0).then_some(row), column, ..Default::default() },
        message,
    }
}

fn parquet_error(file: &str, row_group: Option<usize>, e: impl std::fmt::Display) -> IngestError {
    IngestError::Parquet {
        file: file.to_string(),
        location: Location { row_group, ..Default::default() },
        message: e.to_string(),
    }
}

fn read_parquet(
    path: &Path,
    file: &str,
    bytes: u64,
    forced: Option<Format>,
    columnar: Option<&AtomicU64>,
    rollup: &mut Rollup,
    progress: &mut dyn FnMut(Progress),
) -> Result<(Format, u64)> {
    let f = File::open(path).map_err(|e| io_err(file, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| parquet_error(file, None, e))?;
    let schema = builder.schema().clone();
    let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let header = Header::new(names, file)?;
    let format = detect_or(forced, &header, file)?;
    let plan = format.plan(header);
    let total_rows: u64 = builder.metadata().file_metadata().num_rows().max(0) as u64;
    let group_ends: Vec<u64> = builder
        .metadata()
        .row_groups()
        .iter()
        .scan(0u64, |acc, g| {
            *acc += g.num_rows().max(0) as u64;
            Some(*acc)
        })
        .collect();
    // Columns whose every value is null (statistics say so in every row group): read as plain
    // text, since a dictionary of nothing costs a rebuild per batch in the Arrow reader.
    let metadata = builder.metadata();
    let mut all_null = vec![metadata.num_row_groups() > 0; schema.fields().len()];
    for g in metadata.row_groups() {
        for (leaf, chunk) in g.columns().iter().enumerate() {
            let root = metadata.file_metadata().schema_descr().get_column_root_idx(leaf);
            let nulls = chunk.statistics().and_then(|s| s.null_count_opt());
            if nulls != Some(g.num_rows().max(0) as u64) {
                if let Some(a) = all_null.get_mut(root) {
                    *a = false;
                }
            }
        }
    }
    drop(builder);

    // Strings are read as dictionaries: billing columns repeat a few values millions of times,
    // and the dictionary keeps each distinct value once in memory.
    let hinted = Schema::new(
        schema
            .fields()
            .iter()
            .zip(&all_null)
            .map(|(f, &all_null)| match f.data_type() {
                DataType::Utf8 if !all_null => Arc::new(Field::new(f.name(), utf8_dictionary(), f.is_nullable())),
                DataType::Map(entries, sorted) => match entries.data_type() {
                    // Map keys and values too (CUR 2.0 `product`, `resource_tags`).
                    DataType::Struct(kv) => {
                        let kv: Vec<Field> = kv
                            .iter()
                            .map(|c| match c.data_type() {
                                DataType::Utf8 => Field::new(c.name(), utf8_dictionary(), c.is_nullable()),
                                _ => c.as_ref().clone(),
                            })
                            .collect();
                        let entries = Field::new(entries.name(), DataType::Struct(kv.into()), entries.is_nullable());
                        Arc::new(Field::new(f.name(), DataType::Map(Arc::new(entries), *sorted), f.is_nullable()))
                    }
                    _ => f.clone(),
                },
                _ => f.clone(),
            })
            .collect::<Vec<_>>(),
    );
    let options = ArrowReaderOptions::new().with_schema(Arc::new(hinted));
    let width = plan.header().names().len();
    let selected: Vec<usize> = match plan.columns() {
        Some(mut cols) => {
            cols.sort_unstable();
            cols.dedup();
            cols
        }
        None => (0..width).collect(),
    };
    let job = RowGroupJob {
        path,
        file,
        plan: plan.as_ref(),
        options: &options,
        selected: &selected,
        group_ends: &group_ends,
        columnar,
    };
    // Row groups are independent: split them over the cores, each range rolled up on its own
    // thread, then merged in row order.
    let threads = valdrix_core::worker_threads().min(group_ends.len()).max(1);
    let per = group_ends.len().div_ceil(threads).max(1);
    let chunks: Vec<Vec<usize>> = (0..group_ends.len()).collect::<Vec<_>>().chunks(per).map(|c| c.to_vec()).collect();
    if chunks.len() <= 1 {
        let groups = chunks.into_iter().next().unwrap_or_default();
        let rows = job.read(&groups, rollup, &|_| {}, &mut |p| {
            progress(Progress { rows: p, bytes: bytes.saturating_mul(p) / total_rows.max(1) })
        })?;
        return Ok((format, rows));
    }
    // Each thread's rollup, this one's included, gets its share of the memory budget while
    // reading; the whole budget is back for the merge.
    let full_budget = rollup.budget();
    let budget = full_budget / threads;
    rollup.set_budget(budget);
    let plausible = rollup.plausible();
    let others_done = std::sync::atomic::AtomicU64::new(0);
    let (main, others) = std::thread::scope(|s| {
        let handles: Vec<_> = chunks[1..]
            .iter()
            .map(|groups| {
                let (job, others_done) = (&job, &others_done);
                s.spawn(move || {
                    let mut r = Rollup::with_budget(budget);
                    r.set_plausible(plausible);
                    let add = |n: u64| {
                        others_done.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                    };
                    job.read(groups, &mut r, &add, &mut |_| {}).map(|rows| (r, rows))
                })
            })
            .collect();
        let started = std::time::Instant::now();
        let main = job.read(&chunks[0], rollup, &|_| {}, &mut |p| {
            let done = p + others_done.load(std::sync::atomic::Ordering::Relaxed);
            progress(Progress { rows: done, bytes: bytes.saturating_mul(done) / total_rows.max(1) })
        });
        let first_ms = started.elapsed().as_millis() as u64;
        let others: Vec<Result<(Rollup, u64)>> = handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(parquet_error(file, None, "a reader thread panicked"))))
            .collect();
        let all_ms = started.elapsed().as_millis() as u64;
        tracing::debug!(first_ms, all_ms, "row group ranges read");
        (main, others)
    });
    rollup.set_budget(full_budget);
    let mut rows = main?;
    let merge_started = std::time::Instant::now();
    for o in others {
        let (r, n) = o?;
        rollup.merge(r);
        rows += n;
    }
    tracing::debug!(threads, merge_ms = merge_started.elapsed().as_millis() as u64, "reader rollups merged");
    progress(Progress { rows, bytes });
    Ok((format, rows))
}

fn utf8_dictionary() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

/// What every thread reading a range of row groups of one Parquet file shares.
struct RowGroupJob<'a> {
    path: &'a Path,
    file: &'a str,
    plan: &'a dyn crate::Normaliser,
    options: &'a ArrowReaderOptions,
    selected: &'a [usize],
    group_ends: &'a [u64],
    /// Counts the rows read by the columnar reader; `None` reads row by row.
    columnar: Option<&'a AtomicU64>,
}

impl RowGroupJob<'_> {
    /// Reads the row groups `groups` (contiguous, ascending) into `rollup`; returns the rows read.
    /// `batch_done` hears each batch's row count; `progress` the rows done so far in this range.
    fn read(
        &self,
        groups: &[usize],
        rollup: &mut Rollup,
        batch_done: &dyn Fn(u64),
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64> {
        let file = self.file;
        let f = File::open(self.path).map_err(|e| io_err(file, e))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new_with_options(f, self.options.clone())
            .map_err(|e| parquet_error(file, None, e))?;
        let mask = ProjectionMask::roots(builder.parquet_schema(), self.selected.iter().copied());
        let reader = builder
            .with_row_groups(groups.to_vec())
            .with_projection(mask)
            .with_batch_size(8192)
            .build()
            .map_err(|e| parquet_error(file, None, e))?;
        let first_row = groups.first().and_then(|&g| g.checked_sub(1)).map_or(0, |g| self.group_ends[g]);
        let row_group_of = |row: u64| self.group_ends.iter().position(|&end| row < end);
        let width = self.plan.header().names().len();
        let mut done: u64 = 0;
        for batch in reader {
            let batch = batch.map_err(|e| parquet_error(file, row_group_of(first_row + done), e))?;
            let mut full: Vec<Option<&arrow_array::ArrayRef>> = vec![None; width];
            for (k, &col) in self.selected.iter().enumerate() {
                full[col] = batch.columns().get(k);
            }
            let view = BatchView::new(&full, batch.num_rows());
            if let Some(columnar_rows) = self.columnar {
                match self.plan.emit_batch(&view, rollup) {
                    Some(Ok(())) => {
                        columnar_rows.fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
                        done += batch.num_rows() as u64;
                        batch_done(batch.num_rows() as u64);
                        progress(done);
                        continue;
                    }
                    Some(Err((i, e))) => {
                        let row_no = first_row + done + i as u64;
                        return Err(IngestError::data(file, Some(row_no + 1), row_group_of(row_no), e));
                    }
                    None => {}
                }
            }
            // Every borrowed text of these rows lives in `batch`, which outlives the loop.
            rollup.begin_batch();
            for i in 0..batch.num_rows() {
                let row = view.row(i);
                let row_no = first_row + done + i as u64;
                if let Err(e) = self.plan.emit(&row, rollup) {
                    rollup.end_batch();
                    return Err(IngestError::data(file, Some(row_no + 1), row_group_of(row_no), e));
                }
            }
            rollup.end_batch();
            done += batch.num_rows() as u64;
            batch_done(batch.num_rows() as u64);
            progress(done);
        }
        Ok(done)
    }
}

/// Looks a dotted path (`service.description`) up in a JSON object.
fn json_path<'v>(v: &'v serde_json::Value, path: &str) -> Option<&'v serde_json::Value> {
    if let Some(x) = v.get(path) {
        return Some(x);
    }
    let mut cur = v;
    for part in path.split('.') {
        cur = cur.get(part)?;
    }
    Some(cur)
}

fn read_jsonl(
    path: &Path,
    file: &str,
    gzip: bool,
    forced: Option<Format>,
    rollup: &mut Rollup,
    progress: &mut dyn FnMut(Progress),
) -> Result<(Format, u64)> {
    if forced.is_some_and(|f| f != Format::Gcp) {
        return Err(IngestError::UnknownFormat {
            file: file.to_string(),
            detail: "newline-delimited JSON is read as a GCP billing export only".to_string(),
        });
    }
    let (reader, count) = open_text(path, file, gzip)?;
    let mut lines = BufReader::new(reader);
    let header = Header::new(gcp::COLUMNS.iter().map(|s| s.to_string()).collect(), file)?;
    let plan = Format::Gcp.plan(header);
    let mut buf = String::new();
    let mut row_no = 0u64;
    let mut line_no = 0u64;
    loop {
        buf.clear();
        let n = lines.read_line(&mut buf).map_err(|e| IngestError::Data {
            file: file.to_string(),
            location: Location { row: Some(line_no + 1), ..Default::default() },
            message: format!("unreadable line: {e}"),
        })?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if buf.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&buf).map_err(|e| IngestError::Data {
            file: file.to_string(),
            location: Location { row: Some(line_no), ..Default::default() },
            message: format!("invalid JSON: {e}"),
        })?;
        if row_no == 0 && (v.get("billing_account_id").is_none() || v.get("cost").is_none()) {
            return Err(IngestError::UnknownFormat {
                file: file.to_string(),
                detail: "JSON lines without billing_account_id and cost are not a GCP billing export".to_string(),
            });
        }
        row_no += 1;
        let values: Vec<Option<&serde_json::Value>> = gcp::COLUMNS.iter().map(|c| json_path(&v, c)).collect();
        let row = JsonRow { values: &values };
        plan.emit(&row, rollup).map_err(|e| IngestError::data(file, Some(line_no), None, e))?;
        if row_no.is_multiple_of(PROGRESS_EVERY) {
            progress(Progress { rows: row_no, bytes: count.load(std::sync::atomic::Ordering::Relaxed) });
        }
    }
    if line_no == 0 {
        return Err(IngestError::Empty { file: file.to_string() });
    }
    progress(Progress { rows: row_no, bytes: count.load(std::sync::atomic::Ordering::Relaxed) });
    Ok((Format::Gcp, row_no))
}
