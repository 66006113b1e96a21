//! A row-oriented view over CSV records and Arrow record batches, so that one normaliser per
//! billing format serves both CSV and Parquet input.

use arrow_array::cast::AsArray;
use arrow_array::types::Int32Type;
use arrow_array::{
    Array, ArrayRef, BooleanArray, DictionaryArray, Float32Array, Float64Array, Int32Array, Int64Array,
    LargeStringArray, MapArray, StringArray, StringViewArray, StructArray,
};
use arrow_schema::{DataType, TimeUnit};
use chrono::{DateTime, NaiveDateTime};
use rust_decimal::Decimal;
use rustc_hash::FxHashMap;
use std::borrow::Cow;

use valdrix_core::time::parse_timestamp;
use valdrix_core::{decimal_from_f64, parse_decimal};

use crate::error::{FieldError, IngestError, Location};

/// Key-value pairs read from a map, JSON or array-of-structs column.
pub type Pairs<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;

/// One row of a billing table. Column numbers come from [`Header::find`].
pub trait Row {
    /// The text of a column, trimmed; `None` when null or empty.
    fn text(&self, col: usize) -> Option<&str>;
    /// An exact decimal; `Ok(None)` when null or empty.
    fn decimal(&self, col: usize) -> Result<Option<Decimal>, String>;
    /// A UTC date-time; `Ok(None)` when null or empty.
    fn timestamp(&self, col: usize) -> Result<Option<NaiveDateTime>, String>;
    /// Key-value pairs from a map column (Parquet) or a JSON object text (CSV).
    fn pairs(&self, col: usize) -> Result<Pairs<'_>, String>;
    /// A nested value (a struct or list column, or JSON text) as JSON, for nested exports.
    fn json(&self, col: usize) -> Result<Option<serde_json::Value>, String>;
}

/// Column names of a table and a case-insensitive index over them.
#[derive(Debug, Clone)]
pub struct Header {
    names: Vec<String>,
    index: FxHashMap<String, usize>,
}

/// The lookup key of a header name: BOM and spaces stripped, a localised name such as
/// `Abonnement-GUID (SubscriptionGuid)` reduced to the name in parentheses, lower case.
fn header_key(name: &str) -> String {
    let n = name.trim_start_matches('\u{feff}').trim();
    let n = match (n.rfind('('), n.ends_with(')')) {
        (Some(open), true) if open > 0 => &n[open + 1..n.len() - 1],
        _ => n,
    };
    n.trim().to_ascii_lowercase()
}

impl Header {
    /// Builds a header; two columns with the same name are an error naming that column.
    pub fn new(names: Vec<String>, file: &str) -> Result<Self, IngestError> {
        let names: Vec<String> =
            names.into_iter().map(|n| n.trim_start_matches('\u{feff}').trim().to_string()).collect();
        let mut seen: FxHashMap<&str, usize> = FxHashMap::default();
        for (i, n) in names.iter().enumerate() {
            if let Some(first) = seen.insert(n.as_str(), i) {
                return Err(IngestError::Schema {
                    file: file.to_string(),
                    location: Location { column: Some(n.clone()), ..Default::default() },
                    message: format!("duplicate column (columns {} and {} have the same name)", first + 1, i + 1),
                });
            }
        }
        let mut index = FxHashMap::default();
        for (i, n) in names.iter().enumerate() {
            index.entry(header_key(n)).or_insert(i);
        }
        Ok(Header { names, index })
    }

    /// The first of `candidates` present in the header, matched case-insensitively.
    pub fn find(&self, candidates: &[&str]) -> Option<usize> {
        candidates.iter().find_map(|c| self.index.get(&c.to_ascii_lowercase()).copied())
    }

    /// Whether any of `candidates` is present.
    pub fn has(&self, candidates: &[&str]) -> bool {
        self.find(candidates).is_some()
    }

    /// The column names as written.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The name of column `i`.
    pub fn name(&self, i: usize) -> &str {
        &self.names[i]
    }
}

/// Typed accessors that turn a row-level message into a [`FieldError`] naming the column.
pub struct Cell<'h> {
    header: &'h Header,
}

impl<'h> Cell<'h> {
    /// Accessors over `header`.
    pub fn new(header: &'h Header) -> Self {
        Cell { header }
    }

    /// Text of an optional column.
    pub fn text<'r>(&self, row: &'r dyn Row, col: Option<usize>) -> Option<&'r str> {
        col.and_then(|c| row.text(c))
    }

    /// Decimal of an optional column.
    pub fn dec(&self, row: &dyn Row, col: Option<usize>) -> Result<Option<Decimal>, FieldError> {
        match col {
            None => Ok(None),
            Some(c) => row.decimal(c).map_err(|m| FieldError::new(self.header.name(c), m)),
        }
    }

    /// Decimal of an optional column, zero when absent or null.
    pub fn dec0(&self, row: &dyn Row, col: Option<usize>) -> Result<Decimal, FieldError> {
        Ok(self.dec(row, col)?.unwrap_or(Decimal::ZERO))
    }

    /// The amount a line is billed: an error when the column is there but the field is empty
    /// (a bill has no line without its cost); zero when the file has no such column.
    pub fn dec_req(&self, row: &dyn Row, col: Option<usize>) -> Result<Decimal, FieldError> {
        match col {
            None => Ok(Decimal::ZERO),
            Some(c) => self.dec(row, col)?.ok_or_else(|| {
                FieldError::new(self.header.name(c), "the cost is empty (a billing line always has one)")
            }),
        }
    }

    /// Timestamp of an optional column.
    pub fn ts(&self, row: &dyn Row, col: Option<usize>) -> Result<Option<NaiveDateTime>, FieldError> {
        match col {
            None => Ok(None),
            Some(c) => row.timestamp(c).map_err(|m| FieldError::new(self.header.name(c), m)),
        }
    }

    /// A required timestamp: missing is an error naming the column.
    pub fn ts_req(&self, row: &dyn Row, col: Option<usize>, what: &str) -> Result<NaiveDateTime, FieldError> {
        match self.ts(row, col)? {
            Some(t) => Ok(t),
            None => Err(FieldError::new(
                col.map(|c| self.header.name(c).to_string()).unwrap_or_else(|| what.to_string()),
                format!("missing {what}"),
            )),
        }
    }

    /// Pairs of an optional column.
    pub fn pairs<'r>(&self, row: &'r dyn Row, col: Option<usize>) -> Result<Pairs<'r>, FieldError> {
        match col {
            None => Ok(Vec::new()),
            Some(c) => row.pairs(c).map_err(|m| FieldError::new(self.header.name(c), m)),
        }
    }

    /// The name of a column (for error messages).
    pub fn name(&self, col: usize) -> &str {
        self.header.name(col)
    }
}

fn text_error(value: &str, e: impl std::fmt::Display) -> String {
    let shown: String = value.chars().take(80).collect();
    format!("invalid value {shown:?}: {e}")
}

/// Parses JSON object text into pairs. Accepts the brace-less Azure form
/// (`"env": "prod","org": "trey"`). Non-string values keep their JSON text.
pub fn parse_json_pairs(text: &str) -> Result<Pairs<'static>, String> {
    let t = text.trim();
    if t.is_empty() || t == "{}" || t == "[]" || t.eq_ignore_ascii_case("null") {
        return Ok(Vec::new());
    }
    let wrapped;
    let body = if t.starts_with('{') || t.starts_with('[') {
        t
    } else {
        wrapped = format!("{{{t}}}");
        wrapped.as_str()
    };
    let v: serde_json::Value =
        serde_json::from_str(body).map_err(|e| text_error(t, format!("not a JSON object ({e})")))?;
    json_pairs(&v).ok_or_else(|| text_error(t, "not a JSON object or key/value list"))
}

/// Pairs from a JSON object, or from a BigQuery-style list of `{key, value}` structs.
pub fn json_pairs(v: &serde_json::Value) -> Option<Pairs<'static>> {
    let scalar = |x: &serde_json::Value| match x {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    };
    match v {
        serde_json::Value::Object(m) => {
            Some(m.iter().map(|(k, x)| (Cow::Owned(k.clone()), Cow::Owned(scalar(x)))).collect())
        }
        serde_json::Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for it in items {
                let k = it.get("key")?;
                let val = it.get("value").cloned().unwrap_or(serde_json::Value::Null);
                out.push((Cow::Owned(scalar(k)), Cow::Owned(scalar(&val))));
            }
            Some(out)
        }
        serde_json::Value::Null => Some(Vec::new()),
        _ => None,
    }
}

/// A CSV record viewed as a [`Row`].
pub struct CsvRow<'a> {
    /// The record.
    pub record: &'a csv::StringRecord,
    /// Whether the literal text `NULL` (any case) means null, as in the official FOCUS 1.0 sample.
    pub null_literals: bool,
}

impl Row for CsvRow<'_> {
    fn text(&self, col: usize) -> Option<&str> {
        let t = self.record.get(col)?.trim();
        if t.is_empty() || (self.null_literals && t.eq_ignore_ascii_case("null")) {
            None
        } else {
            Some(t)
        }
    }

    fn decimal(&self, col: usize) -> Result<Option<Decimal>, String> {
        match self.text(col) {
            None => Ok(None),
            Some(t) => parse_decimal(t).map(Some).map_err(|e| e.to_string()),
        }
    }

    fn timestamp(&self, col: usize) -> Result<Option<NaiveDateTime>, String> {
        match self.text(col) {
            None => Ok(None),
            Some(t) => parse_timestamp(t).map(Some).ok_or_else(|| text_error(t, "not a valid date or timestamp")),
        }
    }

    fn pairs(&self, col: usize) -> Result<Pairs<'_>, String> {
        match self.text(col) {
            None => Ok(Vec::new()),
            Some(t) => parse_json_pairs(t),
        }
    }

    fn json(&self, col: usize) -> Result<Option<serde_json::Value>, String> {
        match self.text(col) {
            None => Ok(None),
            Some(t) => serde_json::from_str(t).map(Some).map_err(|e| text_error(t, e)),
        }
    }
}

/// One Arrow column downcast once per batch.
pub(crate) enum View<'a> {
    Str(&'a StringArray),
    LargeStr(&'a LargeStringArray),
    StrViews(&'a StringViewArray),
    Dict(&'a Int32Array, &'a StringArray),
    F64(&'a Float64Array),
    F32(&'a Float32Array),
    I64(&'a Int64Array),
    I32(&'a Int32Array),
    Bool(&'a BooleanArray),
    Ts(&'a dyn Array, TimeUnit),
    Date32(&'a dyn Array),
    Map(&'a MapArray),
    Nested(&'a ArrayRef),
    Null,
    Other(&'a ArrayRef),
}

/// An Arrow record batch with its columns downcast, ready to be read row by row.
pub struct BatchView<'a> {
    views: Vec<View<'a>>,
    rows: usize,
}

impl<'a> BatchView<'a> {
    /// Downcasts every column once; `None` marks a column that was not read (it reads as null).
    /// `rows` is the batch's row count.
    pub fn new(columns: &'a [Option<&'a ArrayRef>], rows: usize) -> Self {
        let views = columns
            .iter()
            .map(|a| match a {
                None => View::Null,
                Some(a) => Self::view(a),
            })
            .collect();
        BatchView { views, rows }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether the batch has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The downcast column `col` (columnar readers).
    pub(crate) fn column(&self, col: usize) -> &View<'a> {
        &self.views[col]
    }

    fn view(a: &'a ArrayRef) -> View<'a> {
        {
            match a.data_type() {
                DataType::Utf8 => View::Str(a.as_string::<i32>()),
                DataType::LargeUtf8 => View::LargeStr(a.as_string::<i64>()),
                DataType::Utf8View => View::StrViews(a.as_string_view()),
                DataType::Dictionary(k, v) if **k == DataType::Int32 && **v == DataType::Utf8 => {
                    let d: &DictionaryArray<Int32Type> = a.as_dictionary();
                    View::Dict(d.keys(), d.values().as_string::<i32>())
                }
                DataType::Float64 => View::F64(a.as_primitive()),
                DataType::Float32 => View::F32(a.as_primitive()),
                DataType::Int64 => View::I64(a.as_primitive()),
                DataType::Int32 => View::I32(a.as_primitive()),
                DataType::Boolean => View::Bool(a.as_boolean()),
                DataType::Timestamp(unit, _) => View::Ts(a.as_ref(), *unit),
                DataType::Date32 => View::Date32(a.as_ref()),
                DataType::Map(_, _) => View::Map(a.as_map()),
                DataType::Struct(_) | DataType::List(_) | DataType::LargeList(_) => View::Nested(a),
                DataType::Null => View::Null,
                _ => View::Other(a),
            }
        }
    }

    /// Row `i` of the batch.
    pub fn row(&'a self, i: usize) -> ArrowRow<'a> {
        ArrowRow { batch: self, i }
    }
}

/// One row of a [`BatchView`].
pub struct ArrowRow<'a> {
    batch: &'a BatchView<'a>,
    i: usize,
}

/// `s` trimmed, or `None` when blank (the text rule of every reader).
pub(crate) fn non_empty(s: &str) -> Option<&str> {
    // Most values carry no surrounding space: check the ends before trimming.
    let b = s.as_bytes();
    let t = match (b.first(), b.last()) {
        (None, _) => return None,
        (Some(f), Some(l)) if !f.is_ascii_whitespace() && !l.is_ascii_whitespace() && *f < 0x80 && *l < 0x80 => s,
        _ => s.trim(),
    };
    if t.is_empty() {
        None
    } else {
        Some(t)
    }
}

fn ts_from_i64(v: i64, unit: TimeUnit) -> Option<NaiveDateTime> {
    let dt = match unit {
        TimeUnit::Second => DateTime::from_timestamp(v, 0),
        TimeUnit::Millisecond => DateTime::from_timestamp_millis(v),
        TimeUnit::Microsecond => DateTime::from_timestamp_micros(v),
        TimeUnit::Nanosecond => Some(DateTime::from_timestamp_nanos(v)),
    };
    dt.map(|d| d.naive_utc())
}

impl ArrowRow<'_> {
    fn view(&self, col: usize) -> &View<'_> {
        &self.batch.views[col]
    }
}

impl Row for ArrowRow<'_> {
    fn text(&self, col: usize) -> Option<&str> {
        let i = self.i;
        match self.view(col) {
            View::Str(a) => a.is_valid(i).then(|| a.value(i)).and_then(non_empty),
            View::LargeStr(a) => a.is_valid(i).then(|| a.value(i)).and_then(non_empty),
            View::StrViews(a) => a.is_valid(i).then(|| a.value(i)).and_then(non_empty),
            View::Dict(keys, values) => {
                if keys.is_valid(i) {
                    let k = keys.value(i) as usize;
                    (k < values.len() && values.is_valid(k)).then(|| values.value(k)).and_then(non_empty)
                } else {
                    None
                }
            }
            _ => None,
        }
    }

    fn decimal(&self, col: usize) -> Result<Option<Decimal>, String> {
        let i = self.i;
        match self.view(col) {
            View::F64(a) => {
                if a.is_null(i) {
                    Ok(None)
                } else {
                    decimal_from_f64(a.value(i)).map(Some).map_err(|e| e.to_string())
                }
            }
            View::F32(a) => {
                if a.is_null(i) {
                    Ok(None)
                } else {
                    // The shortest text of the f32, not of its widened f64.
                    let text = a.value(i).to_string();
                    parse_decimal(&text).map(Some).map_err(|e| e.to_string())
                }
            }
            View::I64(a) => Ok(a.is_valid(i).then(|| Decimal::from(a.value(i)))),
            View::I32(a) => Ok(a.is_valid(i).then(|| Decimal::from(a.value(i)))),
            View::Null => Ok(None),
            View::Other(a) if matches!(a.data_type(), DataType::Decimal128(_, _)) => {
                let arr = a.as_primitive::<arrow_array::types::Decimal128Type>();
                if arr.is_null(i) {
                    return Ok(None);
                }
                let scale = match a.data_type() {
                    DataType::Decimal128(_, s) => *s,
                    _ => 0,
                };
                if !(0..=28).contains(&scale) {
                    return Err(format!("decimal scale {scale} is out of range"));
                }
                Decimal::try_from_i128_with_scale(arr.value(i), scale as u32)
                    .map(|d| Some(d.normalize()))
                    .map_err(|e| e.to_string())
            }
            View::Str(_) | View::LargeStr(_) | View::StrViews(_) | View::Dict(_, _) => match self.text(col) {
                None => Ok(None),
                Some(t) => parse_decimal(t).map(Some).map_err(|e| e.to_string()),
            },
            _ => {
                if self.is_null(col) {
                    Ok(None)
                } else {
                    Err("column is not numeric".to_string())
                }
            }
        }
    }

    fn timestamp(&self, col: usize) -> Result<Option<NaiveDateTime>, String> {
        let i = self.i;
        match self.view(col) {
            View::Ts(a, unit) => {
                if a.is_null(i) {
                    return Ok(None);
                }
                let v = match unit {
                    TimeUnit::Second => a.as_primitive::<arrow_array::types::TimestampSecondType>().value(i),
                    TimeUnit::Millisecond => a.as_primitive::<arrow_array::types::TimestampMillisecondType>().value(i),
                    TimeUnit::Microsecond => a.as_primitive::<arrow_array::types::TimestampMicrosecondType>().value(i),
                    TimeUnit::Nanosecond => a.as_primitive::<arrow_array::types::TimestampNanosecondType>().value(i),
                };
                ts_from_i64(v, *unit).map(Some).ok_or_else(|| format!("timestamp {v} is out of range"))
            }
            View::Date32(a) => {
                if a.is_null(i) {
                    return Ok(None);
                }
                let days = a.as_primitive::<arrow_array::types::Date32Type>().value(i);
                ts_from_i64(days as i64 * 86_400, TimeUnit::Second)
                    .map(Some)
                    .ok_or_else(|| format!("date {days} is out of range"))
            }
            View::Null => Ok(None),
            _ => match self.text(col) {
                None => {
                    if self.is_null(col) {
                        Ok(None)
                    } else {
                        Err("column is not a timestamp".to_string())
                    }
                }
                Some(t) => parse_timestamp(t).map(Some).ok_or_else(|| text_error(t, "not a valid date or timestamp")),
            },
        }
    }

    fn pairs(&self, col: usize) -> Result<Pairs<'_>, String> {
        let i = self.i;
        match self.view(col) {
            View::Map(m) => {
                if m.is_null(i) {
                    return Ok(Vec::new());
                }
                let offsets = m.value_offsets();
                let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
                let keys = m.keys();
                let values = m.values();
                let kv = BatchViewColumns::strings(keys).ok_or("map keys are not strings")?;
                let vv = BatchViewColumns::strings(values).ok_or("map values are not strings")?;
                let mut out = Vec::with_capacity(end - start);
                for j in start..end {
                    if let Some(k) = kv.get(j) {
                        out.push((Cow::Borrowed(k), Cow::Borrowed(vv.get(j).unwrap_or(""))));
                    }
                }
                Ok(out)
            }
            View::Nested(_) => match self.json(col)? {
                None => Ok(Vec::new()),
                Some(v) => json_pairs(&v).ok_or_else(|| "not a key/value column".to_string()),
            },
            _ => match self.text(col) {
                None => Ok(Vec::new()),
                Some(t) => parse_json_pairs(t),
            },
        }
    }

    fn json(&self, col: usize) -> Result<Option<serde_json::Value>, String> {
        match self.view(col) {
            View::Nested(a) => {
                if a.is_null(self.i) {
                    return Ok(None);
                }
                Ok(Some(arrow_value_json(a.as_ref(), self.i)))
            }
            _ => match self.text(col) {
                None => Ok(None),
                Some(t) => serde_json::from_str(t).map(Some).map_err(|e| text_error(t, e)),
            },
        }
    }
}

impl ArrowRow<'_> {
    fn is_null(&self, col: usize) -> bool {
        match self.view(col) {
            View::Str(a) => a.is_null(self.i),
            View::LargeStr(a) => a.is_null(self.i),
            View::StrViews(a) => a.is_null(self.i),
            View::Dict(k, _) => k.is_null(self.i),
            View::F64(a) => a.is_null(self.i),
            View::F32(a) => a.is_null(self.i),
            View::I64(a) => a.is_null(self.i),
            View::I32(a) => a.is_null(self.i),
            View::Bool(a) => a.is_null(self.i),
            View::Ts(a, _) | View::Date32(a) => a.is_null(self.i),
            View::Map(a) => a.is_null(self.i),
            View::Nested(a) | View::Other(a) => a.is_null(self.i),
            View::Null => true,
        }
    }
}

/// String access to the key or value child of a map column.
enum BatchViewColumns<'a> {
    Str(&'a StringArray),
    Dict(&'a Int32Array, &'a StringArray),
}

impl<'a> BatchViewColumns<'a> {
    fn strings(a: &'a ArrayRef) -> Option<Self> {
        match a.data_type() {
            DataType::Utf8 => Some(BatchViewColumns::Str(a.as_string::<i32>())),
            DataType::Dictionary(k, v) if **k == DataType::Int32 && **v == DataType::Utf8 => {
                let d: &DictionaryArray<Int32Type> = a.as_dictionary();
                Some(BatchViewColumns::Dict(d.keys(), d.values().as_string::<i32>()))
            }
            _ => None,
        }
    }

    fn get(&self, j: usize) -> Option<&'a str> {
        match self {
            BatchViewColumns::Str(a) => a.is_valid(j).then(|| a.value(j)),
            BatchViewColumns::Dict(k, v) => k.is_valid(j).then(|| v.value(k.value(j) as usize)),
        }
    }
}

/// Converts one value of a nested Arrow column to JSON (BigQuery exports: structs and lists).
fn arrow_value_json(a: &dyn Array, i: usize) -> serde_json::Value {
    use serde_json::Value;
    if a.is_null(i) {
        return Value::Null;
    }
    match a.data_type() {
        DataType::Struct(fields) => {
            let s: &StructArray = a.as_struct();
            let mut m = serde_json::Map::new();
            for (f, c) in fields.iter().zip(s.columns()) {
                m.insert(f.name().clone(), arrow_value_json(c.as_ref(), i));
            }
            Value::Object(m)
        }
        DataType::List(_) => {
            let l = a.as_list::<i32>();
            let v = l.value(i);
            Value::Array((0..v.len()).map(|j| arrow_value_json(v.as_ref(), j)).collect())
        }
        DataType::LargeList(_) => {
            let l = a.as_list::<i64>();
            let v = l.value(i);
            Value::Array((0..v.len()).map(|j| arrow_value_json(v.as_ref(), j)).collect())
        }
        DataType::Utf8 => Value::String(a.as_string::<i32>().value(i).to_string()),
        DataType::LargeUtf8 => Value::String(a.as_string::<i64>().value(i).to_string()),
        DataType::Dictionary(_, _) => {
            let d: &DictionaryArray<Int32Type> = a.as_dictionary();
            let vals = d.values().as_string::<i32>();
            Value::String(vals.value(d.keys().value(i) as usize).to_string())
        }
        DataType::Float64 => {
            // Keep the shortest text so that decimals are read exactly downstream.
            let v = a.as_primitive::<arrow_array::types::Float64Type>().value(i);
            serde_json::Number::from_f64(v).map(Value::Number).unwrap_or(Value::Null)
        }
        DataType::Int64 => Value::from(a.as_primitive::<arrow_array::types::Int64Type>().value(i)),
        DataType::Int32 => Value::from(a.as_primitive::<arrow_array::types::Int32Type>().value(i)),
        DataType::Boolean => Value::Bool(a.as_boolean().value(i)),
        DataType::Timestamp(unit, _) => {
            let v = match unit {
                TimeUnit::Second => a.as_primitive::<arrow_array::types::TimestampSecondType>().value(i),
                TimeUnit::Millisecond => a.as_primitive::<arrow_array::types::TimestampMillisecondType>().value(i),
                TimeUnit::Microsecond => a.as_primitive::<arrow_array::types::TimestampMicrosecondType>().value(i),
                TimeUnit::Nanosecond => a.as_primitive::<arrow_array::types::TimestampNanosecondType>().value(i),
            };
            ts_from_i64(v, *unit)
                .map(|t| Value::String(t.format("%Y-%m-%dT%H:%M:%S%.fZ").to_string()))
                .unwrap_or(Value::Null)
        }
        _ => Value::Null,
    }
}

/// A JSON object (one line of newline-delimited JSON) viewed as a [`Row`], with dotted column
/// names (`service.description`) reaching into nested objects.
pub struct JsonRow<'a> {
    /// Values of the header's columns for this line, in header order.
    pub values: &'a [Option<&'a serde_json::Value>],
}

impl Row for JsonRow<'_> {
    fn text(&self, col: usize) -> Option<&str> {
        match self.values.get(col).copied().flatten()? {
            serde_json::Value::String(s) => non_empty(s),
            _ => None,
        }
    }

    fn decimal(&self, col: usize) -> Result<Option<Decimal>, String> {
        match self.values.get(col).copied().flatten() {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::Number(n)) => parse_decimal(&n.to_string()).map(Some).map_err(|e| e.to_string()),
            Some(serde_json::Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(serde_json::Value::String(s)) => parse_decimal(s).map(Some).map_err(|e| e.to_string()),
            Some(other) => Err(text_error(&other.to_string(), "not a number")),
        }
    }

    fn timestamp(&self, col: usize) -> Result<Option<NaiveDateTime>, String> {
        match self.text(col) {
            None => Ok(None),
            Some(t) => parse_timestamp(t).map(Some).ok_or_else(|| text_error(t, "not a valid date or timestamp")),
        }
    }

    fn pairs(&self, col: usize) -> Result<Pairs<'_>, String> {
        match self.values.get(col).copied().flatten() {
            None => Ok(Vec::new()),
            Some(serde_json::Value::String(s)) => parse_json_pairs(s),
            Some(v) => json_pairs(v).ok_or_else(|| text_error(&v.to_string(), "not a key/value list")),
        }
    }

    fn json(&self, col: usize) -> Result<Option<serde_json::Value>, String> {
        Ok(self.values.get(col).copied().flatten().cloned())
    }
}
