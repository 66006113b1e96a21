//! Column-at-a-time access to Arrow batches, for the hot path of large Parquet files.
//!
//! Reading a row through [`Row`](crate::table::Row) costs a dynamic call, a type dispatch and,
//! in the rollup, a hash lookup per text. A columnar reader instead turns each text into an
//! interned id through a per-batch cache indexed by the dictionary key (billing columns repeat a
//! few values millions of times), each double into a decimal through a small cache keyed by its
//! bits, and each timestamp into a day number with integer arithmetic. The values are the same
//! as the row reader's: the same trimming rule, the same shortest-text decimal, the same UTC day.

use arrow_array::{Array, Float64Array, Int32Array, LargeStringArray, MapArray, StringArray, StringViewArray};
use arrow_schema::{DataType, TimeUnit};
use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use rustc_hash::FxHashMap;

use valdrix_core::decimal_from_f64;

use crate::rollup::{Interner, NONE};
use crate::table::{non_empty, BatchView, Row, View};

/// A cache slot not filled yet (distinct from [`NONE`], which is a valid answer).
const UNSET: u32 = u32::MAX - 1;

/// Doubles already converted to exact decimals, keyed by their bits: amounts repeat (the same
/// rate times the same hourly quantity), and the shortest-text conversion is the costly part.
pub(crate) struct DecimalCache {
    slots: Vec<(u64, Decimal)>,
}

impl Default for DecimalCache {
    fn default() -> Self {
        // NaN never converts, so its bits mark an empty slot.
        DecimalCache { slots: vec![(f64::NAN.to_bits(), Decimal::ZERO); 1 << 12] }
    }
}

impl DecimalCache {
    /// The exact decimal of `v` (see [`decimal_from_f64`]).
    pub(crate) fn get(&mut self, v: f64) -> Result<Decimal, String> {
        let bits = v.to_bits();
        let slot = (bits.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 52) as usize;
        let (k, d) = self.slots[slot];
        if k == bits {
            return Ok(d);
        }
        let d = decimal_from_f64(v).map_err(|e| e.to_string())?;
        self.slots[slot] = (bits, d);
        Ok(d)
    }
}

/// Ids of a dictionary's values, kept from batch to batch: the batches of one Parquet column
/// chunk share its dictionary, so each distinct value is interned once per row group rather
/// than once per batch. Holding the dictionary keeps its buffers alive, so an equal address
/// means the same dictionary.
#[derive(Default)]
pub(crate) struct DictIds {
    dict: Option<StringArray>,
    ids: Vec<u32>,
}

fn same_dictionary(a: &StringArray, b: &StringArray) -> bool {
    a.len() == b.len()
        && a.values().as_ptr() == b.values().as_ptr()
        && a.value_offsets().as_ptr() == b.value_offsets().as_ptr()
}

/// Where the strings of a column live.
enum Strings<'a> {
    Absent,
    Dict(&'a Int32Array, &'a StringArray),
    Str(&'a StringArray),
    LargeStr(&'a LargeStringArray),
    Views(&'a StringViewArray),
}

impl<'a> Strings<'a> {
    fn of(a: &'a dyn Array) -> Option<Self> {
        use arrow_array::cast::AsArray;
        Some(match a.data_type() {
            DataType::Utf8 => Strings::Str(a.as_string::<i32>()),
            DataType::LargeUtf8 => Strings::LargeStr(a.as_string::<i64>()),
            DataType::Utf8View => Strings::Views(a.as_string_view()),
            DataType::Dictionary(k, v) if **k == DataType::Int32 && **v == DataType::Utf8 => {
                let d = a.as_dictionary::<arrow_array::types::Int32Type>();
                Strings::Dict(d.keys(), d.values().as_string::<i32>())
            }
            DataType::Null => Strings::Absent,
            _ => return None,
        })
    }

    /// The raw text of entry `j`, `None` when null.
    fn raw(&self, j: usize) -> Option<&'a str> {
        match self {
            Strings::Absent => None,
            Strings::Dict(k, v) => {
                if k.is_null(j) {
                    return None;
                }
                let key = k.value(j) as usize;
                (key < v.len() && v.is_valid(key)).then(|| v.value(key))
            }
            Strings::Str(a) => a.is_valid(j).then(|| a.value(j)),
            Strings::LargeStr(a) => a.is_valid(j).then(|| a.value(j)),
            Strings::Views(a) => a.is_valid(j).then(|| a.value(j)),
        }
    }
}

/// A text column whose values become interned ids. `trim` applies the row reader's text rule
/// (trimmed, blank is absent); without it values are kept as written (map values).
pub(crate) struct TextCol<'a> {
    strings: Strings<'a>,
    trim: bool,
    /// Dictionary columns: id per dictionary key, filled on first use.
    by_key: Vec<u32>,
    /// The dictionary `by_key` belongs to.
    dict: Option<StringArray>,
    /// Whether `by_key` is still empty for a dictionary first seen in this batch.
    fresh: bool,
    /// Plain columns: id per distinct text of this batch.
    by_text: FxHashMap<&'a str, u32>,
}

impl<'a> TextCol<'a> {
    fn with(strings: Strings<'a>, trim: bool, cache: DictIds) -> Self {
        let (by_key, dict, fresh) = match &strings {
            Strings::Dict(_, v) => match cache.dict {
                Some(d) if same_dictionary(&d, v) => (cache.ids, Some(d), false),
                _ => (vec![UNSET; v.len()], Some((*v).clone()), true),
            },
            _ => (Vec::new(), None, false),
        };
        TextCol { strings, trim, by_key, dict, fresh, by_text: FxHashMap::default() }
    }

    /// An absent column.
    pub(crate) fn absent() -> Self {
        Self::with(Strings::Absent, true, DictIds::default())
    }

    /// What to keep for the next batch.
    pub(crate) fn into_cache(self) -> DictIds {
        DictIds { dict: self.dict, ids: self.by_key }
    }

    /// Column `col` of `batch` (absent when `None` or not read); `None` when the column is not
    /// text, so the caller can fall back to the row reader and its error messages.
    pub(crate) fn new(batch: &BatchView<'a>, col: Option<usize>, cache: DictIds) -> Option<Self> {
        let strings = match col.map(|c| batch.column(c)) {
            None | Some(View::Null) => Strings::Absent,
            Some(View::Dict(k, v)) => Strings::Dict(k, v),
            Some(View::Str(a)) => Strings::Str(a),
            Some(View::LargeStr(a)) => Strings::LargeStr(a),
            Some(View::StrViews(a)) => Strings::Views(a),
            Some(_) => return None,
        };
        Some(Self::with(strings, true, cache))
    }

    /// Whether the column is absent from the file.
    pub(crate) fn is_absent(&self) -> bool {
        matches!(self.strings, Strings::Absent)
    }

    /// The text of row `i` under this column's rule.
    pub(crate) fn text(&self, i: usize) -> Option<&'a str> {
        let raw = self.strings.raw(i)?;
        if self.trim {
            non_empty(raw)
        } else {
            Some(raw)
        }
    }

    /// The interned id of row `i`'s text, [`NONE`] when absent.
    pub(crate) fn id(&mut self, i: usize, text: &mut Interner) -> u32 {
        if let Strings::Dict(k, values) = &self.strings {
            if self.fresh {
                // Intern the whole new dictionary in one tight loop: its lookups are independent,
                // so their cache misses overlap (a per-batch dictionary holds only values in use).
                self.fresh = false;
                for (key, id) in self.by_key.iter_mut().enumerate() {
                    let raw = values.is_valid(key).then(|| values.value(key));
                    *id = text.opt(if self.trim { raw.and_then(non_empty) } else { raw });
                }
            }
            if k.is_null(i) {
                return NONE;
            }
            let key = k.value(i) as usize;
            if let Some(&id) = self.by_key.get(key) {
                if id != UNSET {
                    return id;
                }
                let id = text.opt(self.text(i));
                self.by_key[key] = id;
                return id;
            }
            return NONE;
        }
        match self.text(i) {
            None => NONE,
            Some(s) => *self.by_text.entry(s).or_insert_with(|| text.id(s)),
        }
    }
}

/// A map column (CUR 2.0 `product`, `resource_tags`): the entries of each row.
pub(crate) struct MapCol<'a> {
    map: Option<&'a MapArray>,
    /// Keys as written.
    pub keys: TextCol<'a>,
    /// Values as written.
    pub values: TextCol<'a>,
}

impl<'a> MapCol<'a> {
    /// Column `col` of `batch`; `None` when it is not a map of strings.
    pub(crate) fn new(batch: &BatchView<'a>, col: Option<usize>, caches: (DictIds, DictIds)) -> Option<Self> {
        match col.map(|c| batch.column(c)) {
            None | Some(View::Null) => Some(MapCol {
                map: None,
                keys: TextCol::with(Strings::Absent, false, DictIds::default()),
                values: TextCol::with(Strings::Absent, false, DictIds::default()),
            }),
            Some(View::Map(m)) => Some(MapCol {
                map: Some(m),
                keys: TextCol::with(Strings::of(m.keys().as_ref())?, false, caches.0),
                values: TextCol::with(Strings::of(m.values().as_ref())?, false, caches.1),
            }),
            Some(_) => None,
        }
    }

    /// What to keep for the next batch.
    pub(crate) fn into_caches(self) -> (DictIds, DictIds) {
        (self.keys.into_cache(), self.values.into_cache())
    }

    /// Entry positions of row `i`.
    pub(crate) fn entries(&self, i: usize) -> std::ops::Range<usize> {
        match self.map {
            Some(m) if m.is_valid(i) => {
                let o = m.value_offsets();
                o[i] as usize..o[i + 1] as usize
            }
            _ => 0..0,
        }
    }
}

/// A numeric column read as exact decimals.
pub(crate) enum NumCol<'a> {
    Absent,
    F64(&'a Float64Array),
    /// Anything else: read through the row reader, with its conversions and messages.
    Row(usize),
}

impl<'a> NumCol<'a> {
    /// Column `col` of `batch`.
    pub(crate) fn new(batch: &BatchView<'a>, col: Option<usize>) -> Self {
        match col.map(|c| (c, batch.column(c))) {
            None | Some((_, View::Null)) => NumCol::Absent,
            Some((_, View::F64(a))) => NumCol::F64(a),
            Some((c, _)) => NumCol::Row(c),
        }
    }

    /// The decimal of row `i`; `Ok(None)` when null.
    pub(crate) fn get(
        &self,
        i: usize,
        batch: &BatchView<'_>,
        cache: &mut DecimalCache,
    ) -> Result<Option<Decimal>, String> {
        match self {
            NumCol::Absent => Ok(None),
            NumCol::F64(a) => {
                if a.is_null(i) {
                    Ok(None)
                } else {
                    cache.get(a.value(i)).map(Some)
                }
            }
            NumCol::Row(c) => batch.row(i).decimal(*c),
        }
    }
}

/// Day number of 1970-01-01 in [`NaiveDate::num_days_from_ce`] terms.
const UNIX_EPOCH_DAY: i64 = 719_163;

/// A timestamp column read as (day number, whether the time is midnight).
pub(crate) enum DayCol<'a> {
    Absent,
    /// The raw values, ticks per day, and the last value converted (timestamps come in runs).
    Typed(&'a dyn Array, &'a [i64], i64, std::cell::Cell<(i64, u32, bool)>),
    Row(usize),
}

impl<'a> DayCol<'a> {
    /// Column `col` of `batch`.
    pub(crate) fn new(batch: &BatchView<'a>, col: Option<usize>) -> Self {
        use arrow_array::cast::AsArray;
        use arrow_array::types::{
            TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
        };
        match col.map(|c| (c, batch.column(c))) {
            None | Some((_, View::Null)) => DayCol::Absent,
            Some((_, View::Ts(a, unit))) => {
                let (values, per_day): (&[i64], i64) = match unit {
                    TimeUnit::Second => (a.as_primitive::<TimestampSecondType>().values(), 86_400),
                    TimeUnit::Millisecond => (a.as_primitive::<TimestampMillisecondType>().values(), 86_400_000),
                    TimeUnit::Microsecond => (a.as_primitive::<TimestampMicrosecondType>().values(), 86_400_000_000),
                    TimeUnit::Nanosecond => (a.as_primitive::<TimestampNanosecondType>().values(), 86_400_000_000_000),
                };
                // i64::MIN never occurs as a valid timestamp here: it marks "nothing converted".
                DayCol::Typed(*a, values, per_day, std::cell::Cell::new((i64::MIN, 0, false)))
            }
            Some((c, _)) => DayCol::Row(c),
        }
    }

    /// Row `i` as a day number and a midnight flag; `Ok(None)` when null.
    pub(crate) fn get(&self, i: usize, batch: &BatchView<'_>) -> Result<Option<(u32, bool)>, String> {
        match self {
            DayCol::Absent => Ok(None),
            DayCol::Typed(a, values, per_day, last) => {
                if a.is_null(i) {
                    return Ok(None);
                }
                let (v, per_day) = (values[i], *per_day);
                let (last_v, last_day, last_midnight) = last.get();
                if v == last_v {
                    return Ok(Some((last_day, last_midnight)));
                }
                let day = v.div_euclid(per_day) + UNIX_EPOCH_DAY;
                // The row reader's range: the dates chrono can represent.
                let range = i64::from(NaiveDate::MIN.num_days_from_ce())..=i64::from(NaiveDate::MAX.num_days_from_ce());
                if !range.contains(&day) || day < 0 {
                    return Err(format!("timestamp {v} is out of range"));
                }
                let midnight = v.rem_euclid(per_day) == 0;
                last.set((v, day as u32, midnight));
                Ok(Some((day as u32, midnight)))
            }
            DayCol::Row(c) => Ok(batch
                .row(i)
                .timestamp(*c)?
                .map(|t| (crate::rollup::day_number(t.date()), t.time() == chrono::NaiveTime::MIN))),
        }
    }
}
