//! What a delivery's records are grouped by on the write path: their series (with their
//! billing periods and restatement aggregates), the days they span, and the numbers and texts of
//! their attributes, interned.

use chrono::NaiveDate;
use std::collections::HashMap;

use valdrix_core::{RecordSource, Totals};

use super::totals;

/// Billing account × service × currency combinations, numbered: the aggregates a restatement
/// alert watches (per charge day).
#[derive(Default)]
pub(crate) struct Aggregates {
    names: Vec<(String, String, String)>,
    index: HashMap<(String, String, String), u32>,
}

impl Aggregates {
    /// The number of an aggregate, given one if new.
    pub(crate) fn number(&mut self, account: &str, service: &str, currency: &str) -> u32 {
        let key = (account.to_string(), service.to_string(), currency.to_string());
        if let Some(&n) = self.index.get(&key) {
            return n;
        }
        let n = self.names.len() as u32;
        self.names.push(key.clone());
        self.index.insert(key, n);
        n
    }

    pub(crate) fn name(&self, n: u32) -> &(String, String, String) {
        &self.names[n as usize]
    }
}

/// Billing periods and charge days covered by a run's records.
#[derive(Default)]
pub(crate) struct DateSpan {
    pub(crate) period_start: Option<NaiveDate>,
    pub(crate) period_end: Option<NaiveDate>,
    pub(crate) day_min: Option<NaiveDate>,
    pub(crate) day_max: Option<NaiveDate>,
}

impl DateSpan {
    pub(crate) fn widen(
        &mut self,
        period_start: Option<NaiveDate>,
        period_end: Option<NaiveDate>,
        day: Option<NaiveDate>,
    ) {
        fn min(a: Option<NaiveDate>, b: Option<NaiveDate>) -> Option<NaiveDate> {
            a.into_iter().chain(b).min()
        }
        fn max(a: Option<NaiveDate>, b: Option<NaiveDate>) -> Option<NaiveDate> {
            a.into_iter().chain(b).max()
        }
        self.period_start = min(self.period_start, period_start);
        self.period_end = max(self.period_end, period_end);
        self.day_min = min(self.day_min, day);
        self.day_max = max(self.day_max, day);
    }
}

/// The series of a run's records: for each, its first record (which gives the grain) and its
/// number in `cost_series`.
pub(crate) struct RunSeries {
    /// Series of each record, numbered from 0 (see [`RecordSource::series_numbers`]).
    pub(crate) of_record: Vec<u32>,
    /// `series_no` in `cost_series` of each series.
    pub(crate) series_no: Vec<i64>,
    /// Billing period start of each series.
    pub(crate) period: Vec<NaiveDate>,
    /// Aggregate (billing account × service × currency) of each series, for restatement alerts.
    pub(crate) aggregate: Vec<u32>,
    /// The aggregates, numbered.
    pub(crate) aggregates: Aggregates,
    /// Daily totals key of each series.
    pub(crate) rollup: Vec<u32>,
    /// Their keys, and the delivery's changes to the daily totals.
    pub(crate) totals: totals::TotalsDelta,
}

/// Numbers the sets of descriptive attributes of a run in write order.
#[derive(Default)]
pub(crate) struct AttrNumbers {
    pub(crate) of_group: HashMap<u32, i64>,
    pub(crate) next: i64,
}

impl AttrNumbers {
    /// The number of record `i`'s attribute set, and whether it is new (to be written).
    pub(crate) fn number(&mut self, records: &dyn RecordSource, i: usize) -> (i64, bool) {
        let group = records.attrs_group(i);
        if let Some(&n) = group.and_then(|g| self.of_group.get(&g)) {
            return (n, false);
        }
        self.next += 1;
        if let Some(g) = group {
            self.of_group.insert(g, self.next);
        }
        (self.next, true)
    }
}

/// Canonical text of a record's six sums, written into buffers reused from record to record.
#[derive(Default)]
pub(crate) struct DecimalTexts {
    pub(crate) texts: [String; 6],
}

impl DecimalTexts {
    pub(crate) fn set(&mut self, t: &Totals) {
        use std::fmt::Write;
        let values = [
            Some(t.billed_cost),
            Some(t.effective_cost),
            Some(t.list_cost),
            Some(t.contracted_cost),
            t.consumed_quantity,
            t.pricing_quantity,
        ];
        for (text, value) in self.texts.iter_mut().zip(values) {
            text.clear();
            if let Some(d) = value {
                let _ = write!(text, "{}", d.normalize());
            }
        }
    }

    pub(crate) fn get(&self, i: usize) -> &str {
        &self.texts[i]
    }

    /// Text of sum `i` as stored: none for a quantity the record does not have.
    pub(crate) fn get_opt(&self, i: usize, t: &Totals) -> Option<&str> {
        let present = match i {
            4 => t.consumed_quantity.is_some(),
            5 => t.pricing_quantity.is_some(),
            _ => true,
        };
        present.then(|| self.texts[i].as_str())
    }
}
