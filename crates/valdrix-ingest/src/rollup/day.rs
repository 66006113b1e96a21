//! Records by charge day: day numbers, series keys, and the per-day hash tables that find a
//! record by its grain.

use chrono::{Datelike, NaiveDate};
use hashbrown::HashTable;
use rustc_hash::FxHashMap;

use valdrix_core::ChargeCategory;

use super::{Entry, Key};

pub(crate) const CATEGORIES: [ChargeCategory; 5] = [
    ChargeCategory::Usage,
    ChargeCategory::Purchase,
    ChargeCategory::Tax,
    ChargeCategory::Credit,
    ChargeCategory::Adjustment,
];

/// The day number a key stores for a date.
pub(crate) fn day_number(d: NaiveDate) -> u32 {
    d.num_days_from_ce() as u32
}

/// The date of a key's day number.
pub(crate) fn from_day_number(n: u32) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt(n as i32).unwrap_or_default()
}

/// The key of a record's series: its key with the day cleared (ids compare as the texts do).
pub(crate) fn series_of(key: &Key) -> Key {
    let mut k = *key;
    k[DAY_SLOT] = 0;
    k
}

/// Key equality written out so that it compiles to a few vector compares rather than a call.
#[inline]
pub(crate) fn same_key(a: &Key, b: &Key) -> bool {
    a.iter().zip(b).fold(true, |same, (x, y)| same & (x == y))
}

/// Record positions with their key's hash, one table per charge day.
///
/// Lines come roughly in day order, so the records being added to at any time are those of a few
/// days: one table per day keeps the slots probed in cache (a day of a large account is some
/// tens of thousands of records), where one table for a month of records is tens of megabytes
/// probed at random. Growing a table reads no key: the hash is kept beside the position.
#[derive(Default)]
pub(crate) struct DayTables {
    pub(crate) days: FxHashMap<u32, HashTable<(u64, u32)>>,
}

impl DayTables {
    /// The position of the record with `key` (whose hash is `hash`) among `entries`.
    pub(crate) fn find(&self, key: &Key, hash: u64, entries: &[Entry]) -> Option<u32> {
        let table = self.days.get(&key[DAY_SLOT])?;
        table.find(hash, |&(h, i)| h == hash && same_key(&entries[i as usize].key, key)).map(|&(_, i)| i)
    }

    /// Records that position `i` holds `key`, which is not in the table yet.
    pub(crate) fn insert(&mut self, key: &Key, hash: u64, i: u32) {
        self.days.entry(key[DAY_SLOT]).or_default().insert_unique(hash, (hash, i), |&(h, _)| h);
    }

    pub(crate) fn clear(&mut self) {
        self.days.clear();
    }

    pub(crate) fn shrink_to_fit(&mut self) {
        self.days.shrink_to_fit();
        for t in self.days.values_mut() {
            t.shrink_to_fit(|&(h, _)| h);
        }
    }
}

/// The key slot of the charge day.
pub(crate) const DAY_SLOT: usize = 3;

/// The key slot of a charge category and its correction flag.
pub(crate) fn category_slot(category: ChargeCategory, correction: bool) -> u32 {
    let c = CATEGORIES.iter().position(|c| *c == category).unwrap_or(0) as u32;
    c << 1 | correction as u32
}
