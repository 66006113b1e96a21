//! The daily rollup: lines with the same grain are summed exactly into one record.
//!
//! Memory is what limits a rollup of tens of millions of lines, so records are kept compact: every
//! text is interned once and a record holds 4-byte ids for its grain and its descriptive columns,
//! plus its exact sums. A line that joins an existing record costs a few hash lookups and no
//! allocation; full [`CostRecord`]s are built only when the store reads them, one at a time.

use chrono::NaiveDate;
use rustc_hash::{FxBuildHasher, FxHashMap};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::hash::BuildHasher;

use valdrix_core::{CostLine, CostRecord, Grain, RecordSource, Tags, Totals};

use crate::error::FieldError;
use crate::spill::{Merged, Run, SpilledEntry};
use crate::validate::Plausible;

mod day;
mod intern;

pub(crate) use day::{category_slot, day_number, from_day_number, series_of};
use day::{DayTables, CATEGORIES, DAY_SLOT};
pub(crate) use intern::{Attrs, Interner, Key, ATTRS, NONE};

/// Largest tag key accepted, in bytes (AWS allows 128 characters, Azure 512).
pub const MAX_TAG_KEY_BYTES: usize = 512;
/// Largest tag value accepted, in bytes (AWS allows 256 characters, Azure 256, GCP 63).
pub const MAX_TAG_VALUE_BYTES: usize = 4096;

/// Accumulates cost lines into daily records.
pub struct Rollup {
    text: Interner,
    /// Record positions by charge day.
    table: DayTables,
    hasher: FxBuildHasher,
    /// Key and sums of each record, side by side: a line that joins a record touches one place.
    entries: Vec<Entry>,
    /// Each record's descriptive columns, as a number in `attr_sets`: records of one resource
    /// on different days share them.
    attrs: Vec<u32>,
    attr_sets: Vec<Attrs>,
    attr_set_ids: FxHashMap<Attrs, u32>,
    tag_buf: String,
    lines: u64,
    decimals: crate::columnar::DecimalCache,
    /// Tag ids by signature: the interned ids of a row's raw tag texts (see [`Rollup::tag_set`]).
    tag_sets: FxHashMap<Box<[u32]>, u32>,
    /// Reused buffers of [`Rollup::add_pending`].
    scratch_hashes: Vec<u64>,
    scratch_found: Vec<u32>,
    /// Dictionary ids of a columnar reader, kept between its batches.
    dict_ids: Vec<crate::columnar::DictIds>,
    /// Records held in memory before they are spilled to a run (see [`crate::spill`]).
    budget: usize,
    /// Spilled records, in input order.
    runs: Vec<Run>,
    /// The first spill failure (disk full, say): records then stay in memory, and
    /// [`Rollup::seal`] reports it.
    spill_error: Option<std::io::Error>,
    /// After [`Rollup::seal`] of a rollup that spilled: its merged records.
    sealed: Option<Merged>,
    /// The days a line may carry.
    plausible: Plausible,
    /// Interned currency texts already found to be ISO 4217 codes.
    currencies_ok: Vec<u32>,
}

/// Records a rollup holds in memory before spilling, unless `VALDRIX_ROLLUP_RECORDS` says
/// otherwise: about 200 bytes each with their share of the hash table and texts, so 2 million
/// keep a rollup near 400 MiB.
pub const DEFAULT_BUDGET: usize = 2_000_000;

/// The budget of a new rollup: `VALDRIX_ROLLUP_RECORDS`, else [`DEFAULT_BUDGET`].
fn default_budget() -> usize {
    std::env::var("VALDRIX_ROLLUP_RECORDS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(DEFAULT_BUDGET)
}

/// The amounts of one line (quantity: consumed and pricing quantity alike).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Amounts {
    pub billed: rust_decimal::Decimal,
    pub effective: rust_decimal::Decimal,
    pub list: rust_decimal::Decimal,
    pub contracted: rust_decimal::Decimal,
    pub quantity: Option<rust_decimal::Decimal>,
}

/// A line waiting in a batch for [`Rollup::add_pending`]: its key, its amounts, and what the
/// reader needs to describe it should it start a record.
pub(crate) struct Pending<L> {
    pub key: Key,
    pub amounts: Amounts,
    pub extra: L,
}

/// A record's key and sums.
#[derive(Clone)]
struct Entry {
    key: Key,
    totals: Totals,
}

/// The FOCUS column of a line whose text a bill cannot hold (see [`Interner::take_bad`]).
fn bad_column(line: &CostLine<'_>) -> &'static str {
    let fields: [(&'static str, Option<&str>); 16] = [
        ("ProviderName", Some(&line.provider)),
        ("BillingAccountId", Some(&line.billing_account_id)),
        ("SubAccountId", line.sub_account_id.as_deref()),
        ("ServiceName", Some(&line.service_name)),
        ("RegionId", line.region_id.as_deref()),
        ("ResourceId", line.resource_id.as_deref()),
        ("x_UsageType", line.usage_type.as_deref()),
        ("CommitmentDiscountId", line.commitment_discount_id.as_deref()),
        ("BillingCurrency", Some(&line.currency)),
        ("ChargeDescription", line.charge_description.as_deref()),
        ("BillingAccountName", line.billing_account_name.as_deref()),
        ("SubAccountName", line.sub_account_name.as_deref()),
        ("RegionName", line.region_name.as_deref()),
        ("ResourceName", line.resource_name.as_deref()),
        ("ResourceType", line.resource_type.as_deref()),
        ("SkuId", line.sku_id.as_deref()),
    ];
    fields
        .iter()
        .find(|(_, v)| v.is_some_and(|v| crate::validate::check_text("", v).is_err()))
        .map_or("a text column", |(name, _)| name)
}

/// Sorts tags by key, keeps the last value of a repeated key, drops empty keys and rejects
/// oversized keys or values.
fn canonical_tags(tags: &mut Vec<(Cow<'_, str>, Cow<'_, str>)>) -> Result<(), FieldError> {
    for (k, v) in tags.iter() {
        for text in [k, v] {
            if let Some((at, c)) = crate::validate::control_character(text) {
                let shown: String = k.chars().filter(|c| !c.is_control()).take(60).collect();
                return Err(FieldError::new(
                    "Tags",
                    format!(
                        "tag {shown:?} holds control character U+{:04X} at byte {at} (a bill holds none)",
                        c as u32
                    ),
                ));
            }
        }
        if k.len() > MAX_TAG_KEY_BYTES {
            return Err(FieldError::new(
                "Tags",
                format!("tag key of {} bytes exceeds the {MAX_TAG_KEY_BYTES}-byte limit", k.len()),
            ));
        }
        if v.len() > MAX_TAG_VALUE_BYTES {
            let shown: String = k.chars().take(60).collect();
            return Err(FieldError::new(
                "Tags",
                format!("value of tag {shown:?} is {} bytes, over the {MAX_TAG_VALUE_BYTES}-byte limit", v.len()),
            ));
        }
    }
    tags.retain(|(k, _)| !k.trim().is_empty());
    if tags.len() > 1 {
        tags.sort_by(|a, b| a.0.cmp(&b.0));
        // Keep the last of equal keys: reverse, dedup (keeps first), reverse.
        tags.reverse();
        tags.dedup_by(|a, b| a.0 == b.0);
        tags.reverse();
    }
    Ok(())
}

impl Default for Rollup {
    fn default() -> Self {
        Rollup {
            text: Interner::default(),
            table: DayTables::default(),
            hasher: FxBuildHasher,
            entries: Vec::new(),
            attrs: Vec::new(),
            attr_sets: Vec::new(),
            attr_set_ids: FxHashMap::default(),
            tag_buf: String::new(),
            lines: 0,
            decimals: Default::default(),
            tag_sets: FxHashMap::default(),
            scratch_hashes: Vec::new(),
            scratch_found: Vec::new(),
            dict_ids: Vec::new(),
            budget: default_budget(),
            runs: Vec::new(),
            spill_error: None,
            sealed: None,
            plausible: Plausible::default(),
            currencies_ok: Vec::new(),
        }
    }
}

impl Rollup {
    /// An empty rollup.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty rollup that spills to disk whenever it holds `records` records in memory.
    pub fn with_budget(records: usize) -> Self {
        Rollup { budget: records.max(1), ..Self::default() }
    }

    /// The days a line may carry (charge day, billing period start and end).
    pub fn plausible(&self) -> Plausible {
        self.plausible
    }

    /// Sets the days a line may carry; a line outside is refused by [`Rollup::add`].
    pub fn set_plausible(&mut self, plausible: Plausible) {
        self.plausible = plausible;
    }

    /// What was wrong with a text interned since the last call (see [`Interner::take_bad`]).
    pub(crate) fn take_bad_text(&mut self) -> Option<String> {
        self.text.take_bad()
    }

    /// Whether interned text `id` is an ISO 4217 code (checked once per distinct text).
    pub(crate) fn currency_ok(&mut self, id: u32) -> bool {
        if self.currencies_ok.contains(&id) {
            return true;
        }
        let ok = self.text.get(id).is_some_and(crate::validate::is_currency);
        if ok {
            self.currencies_ok.push(id);
        }
        ok
    }

    /// Records held in memory before spilling.
    pub fn budget(&self) -> usize {
        self.budget
    }

    /// Changes the number of records held in memory before spilling (takes effect at the next
    /// line).
    pub fn set_budget(&mut self, records: usize) {
        self.budget = records.max(1);
    }

    /// Number of lines added.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// Number of records: after [`Rollup::seal`], all of them; before, those in memory.
    pub fn len(&self) -> usize {
        self.sealed.as_ref().map_or(self.entries.len(), |m| m.records.len())
    }

    /// Whether there are no records.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether records were spilled to disk so far (or were, before sealing).
    pub fn spilled(&self) -> bool {
        !self.runs.is_empty() || self.sealed.is_some()
    }

    /// Spills the records in memory when they reach the budget. Called between lines, never
    /// while a batch holds record positions.
    fn check_budget(&mut self) {
        if self.entries.len() >= self.budget && self.spill_error.is_none() {
            self.spill_memory();
        }
    }

    /// Writes the records in memory to a new run, sorted, and empties the memory (texts and
    /// attribute sets stay: runs refer to them).
    fn spill_memory(&mut self) {
        if self.entries.is_empty() || self.spill_error.is_some() {
            return;
        }
        let mut order: Vec<u32> = (0..self.entries.len() as u32).collect();
        let entries = &self.entries;
        order.sort_unstable_by(|&a, &b| {
            crate::spill::order(&entries[a as usize].key).cmp(&crate::spill::order(&entries[b as usize].key))
        });
        let spilled = order.iter().map(|&i| {
            let e = &self.entries[i as usize];
            SpilledEntry { key: e.key, attrs: self.attrs[i as usize], series: 0, totals: e.totals.clone() }
        });
        match Run::write(spilled) {
            Ok(run) => {
                tracing::debug!(records = run.len(), runs = self.runs.len() + 1, "rollup spilled to disk");
                self.runs.push(run);
                self.entries.clear();
                self.attrs.clear();
                self.table.clear();
            }
            Err(e) => self.spill_error = Some(e),
        }
    }

    /// Ends adding: a rollup that spilled merges its runs into one sorted file that the store
    /// reads record by record. Call it before reading records; a rollup that never spilled is
    /// left as it is.
    pub fn seal(&mut self) -> std::io::Result<()> {
        if !self.runs.is_empty() {
            self.spill_memory();
        }
        if let Some(e) = self.spill_error.take() {
            return Err(std::io::Error::new(e.kind(), format!("spilling the rollup to a temporary file: {e}")));
        }
        if self.runs.is_empty() {
            return Ok(());
        }
        let merged = crate::spill::merge_runs(&self.runs)
            .map_err(|e| std::io::Error::new(e.kind(), format!("merging the rollup's temporary files: {e}")))?;
        self.runs.clear();
        self.sealed = Some(merged);
        Ok(())
    }

    /// Key, attribute set and sums of record `i`.
    fn at(&self, i: usize) -> (Key, u32, Totals) {
        match &self.sealed {
            Some(m) => {
                let e = m.records.get(i);
                (e.key, e.attrs, e.totals)
            }
            None => (self.entries[i].key, self.attrs[i], self.entries[i].totals.clone()),
        }
    }

    /// Declares that every borrowed text of the lines added until [`Rollup::end_batch`] points into
    /// buffers that stay alive and unchanged until then (an Arrow record batch), so texts can be
    /// recognised by address. Readers whose buffers are reused row by row (CSV) must not call it.
    pub fn begin_batch(&mut self) {
        self.text.by_address.clear();
        self.text.batch_open = true;
    }

    /// Ends the batch opened by [`Rollup::begin_batch`]: its buffers may now be freed.
    pub fn end_batch(&mut self) {
        self.text.by_address.clear();
        self.text.batch_open = false;
    }

    /// Adds one line to its record.
    pub fn add(&mut self, mut line: CostLine<'_>) -> Result<(), FieldError> {
        // What a bill cannot hold, named by its FOCUS column (the normalisers have checked the
        // source columns they read).
        self.plausible.check("ChargePeriodStart", line.charge_date)?;
        self.plausible.check("BillingPeriodStart", line.billing_period_start)?;
        crate::validate::check_period("BillingPeriodEnd", line.billing_period_start, line.billing_period_end)?;
        let currency = self.text.cow(&line.currency);
        if !self.currency_ok(currency) {
            crate::validate::check_currency("BillingCurrency", &line.currency)?;
        }
        let tags = self.tags_id(&mut line.tags)?;
        let t = &mut self.text;
        let category = category_slot(line.charge_category, line.correction);
        let key: Key = [
            t.cow(&line.provider),
            t.cow(&line.billing_account_id),
            t.cow_opt(&line.sub_account_id),
            day_number(line.charge_date),
            day_number(line.billing_period_start),
            t.cow(&line.service_name),
            t.cow_opt(&line.region_id),
            t.cow_opt(&line.resource_id),
            t.cow_opt(&line.usage_type),
            category,
            t.opt(line.pricing_category),
            t.cow_opt(&line.commitment_discount_id),
            t.opt(line.commitment_discount_status),
            tags,
            currency,
        ];
        self.add_keyed(
            key,
            |totals| totals.add_line(&line),
            |text| {
                let period_end = line.billing_period_end.to_string();
                let values: [Option<&str>; ATTRS.len()] = [
                    Some(&period_end),
                    line.billing_account_name.as_deref(),
                    line.sub_account_name.as_deref(),
                    line.service_category,
                    line.region_name.as_deref(),
                    line.availability_zone.as_deref(),
                    line.resource_name.as_deref(),
                    line.resource_type.as_deref(),
                    line.sku_id.as_deref(),
                    line.sku_price_id.as_deref(),
                    line.charge_frequency,
                    line.charge_description.as_deref(),
                    line.commitment_discount_name.as_deref(),
                    line.commitment_discount_type.as_deref(),
                    line.commitment_discount_category,
                    line.consumed_unit.as_deref(),
                    line.pricing_unit.as_deref(),
                    line.invoice_id.as_deref(),
                    line.publisher.as_deref(),
                    line.invoice_issuer.as_deref(),
                    line.pricing_currency.as_deref(),
                ];
                values.map(|v| text.opt(v.filter(|s| !s.is_empty())))
            },
        );
        // Descriptive texts are interned (and so checked) only for a line that starts a record.
        if let Some(message) = self.text.take_bad() {
            return Err(FieldError::new(bad_column(&line), message));
        }
        self.check_budget();
        Ok(())
    }

    /// The id of a line's tags, interned as one canonical text (key, unit separator, value,
    /// record separator, sorted by key); [`NONE`] when there are none. Sorts and checks `tags`.
    pub(crate) fn tags_id(&mut self, tags: &mut Vec<(Cow<'_, str>, Cow<'_, str>)>) -> Result<u32, FieldError> {
        canonical_tags(tags)?;
        if tags.is_empty() {
            return Ok(NONE);
        }
        self.tag_buf.clear();
        for (k, v) in tags.iter() {
            self.tag_buf.push_str(k);
            self.tag_buf.push('\u{1f}');
            self.tag_buf.push_str(v);
            self.tag_buf.push('\u{1e}');
        }
        Ok(self.text.insert(&self.tag_buf))
    }

    /// Adds a batch of lines already reduced to keys, in order, as [`Rollup::add_keyed`] would one
    /// by one. Looking every key up first, in a loop that does nothing else, lets the processor
    /// overlap the cache misses of many lines instead of waiting for each in turn: the records of
    /// a large file do not fit in cache, and these waits are most of a rollup's time.
    pub(crate) fn add_pending<L>(&mut self, lines: &[Pending<L>], mut attrs: impl FnMut(&L, &mut Interner) -> Attrs) {
        let mut hashes = std::mem::take(&mut self.scratch_hashes);
        let mut found = std::mem::take(&mut self.scratch_found);
        hashes.clear();
        hashes.extend(lines.iter().map(|l| self.hasher.hash_one(l.key)));
        found.clear();
        let entries = &self.entries;
        found
            .extend(lines.iter().zip(&hashes).map(|(l, &hash)| self.table.find(&l.key, hash, entries).unwrap_or(NONE)));
        // Touch the sums of every found record in a loop that does nothing else, for the same
        // reason: the additions below then find them in cache.
        let mut touched = 0u64;
        for &at in &found {
            if let Some(e) = self.entries.get(at as usize) {
                touched = touched.wrapping_add(e.totals.line_count) ^ u64::from(e.totals.billed_cost.is_zero());
            }
        }
        std::hint::black_box(touched);
        for ((l, &hash), &at) in lines.iter().zip(&hashes).zip(&found) {
            let a = &l.amounts;
            let add =
                |t: &mut Totals| t.add_amounts(a.billed, a.effective, a.list, a.contracted, a.quantity, a.quantity);
            if at != NONE {
                self.lines += 1;
                add(&mut self.entries[at as usize].totals);
            } else {
                // New before this batch; an earlier line of the batch may have created it since.
                self.add_hashed(l.key, hash, add, |text| attrs(&l.extra, text));
            }
        }
        self.scratch_hashes = hashes;
        self.scratch_found = found;
        self.check_budget();
    }

    /// The number of a set of descriptive columns, adding it when new.
    fn attr_set(&mut self, attrs: Attrs) -> u32 {
        if let Some(&n) = self.attr_set_ids.get(&attrs) {
            return n;
        }
        let n = self.attr_sets.len() as u32;
        self.attr_sets.push(attrs);
        self.attr_set_ids.insert(attrs, n);
        n
    }

    /// The tags id of a row whose raw tag texts have the interned ids `signature` (as the reader
    /// that computes it defines them), if a row with the same signature was seen.
    pub(crate) fn tag_set(&self, signature: &[u32]) -> Option<u32> {
        self.tag_sets.get(signature).copied()
    }

    /// Remembers the tags id [`Rollup::tags_id`] gave for a signature.
    pub(crate) fn remember_tag_set(&mut self, signature: &[u32], id: u32) {
        self.tag_sets.insert(signature.into(), id);
    }

    /// Takes the dictionary ids a columnar reader kept from its previous batch (give them back
    /// with [`Rollup::keep_dict_ids`]).
    pub(crate) fn take_dict_ids(&mut self) -> Vec<crate::columnar::DictIds> {
        std::mem::take(&mut self.dict_ids)
    }

    /// Keeps a columnar reader's dictionary ids for its next batch.
    pub(crate) fn keep_dict_ids(&mut self, ids: Vec<crate::columnar::DictIds>) {
        self.dict_ids = ids;
    }

    /// The interned texts and the decimal cache, for readers that build keys themselves.
    pub(crate) fn parts(&mut self) -> (&mut Interner, &mut crate::columnar::DecimalCache) {
        (&mut self.text, &mut self.decimals)
    }

    /// Adds a line already reduced to its key: `add` puts its amounts into the record's totals,
    /// `attrs` gives the descriptive columns when the line starts a new record.
    pub(crate) fn add_keyed(
        &mut self,
        key: Key,
        add: impl FnOnce(&mut Totals),
        attrs: impl FnOnce(&mut Interner) -> Attrs,
    ) {
        let hash = self.hasher.hash_one(key);
        self.add_hashed(key, hash, add, attrs);
    }

    fn add_hashed(
        &mut self,
        key: Key,
        hash: u64,
        add: impl FnOnce(&mut Totals),
        attrs: impl FnOnce(&mut Interner) -> Attrs,
    ) {
        self.lines += 1;
        let entries = &self.entries;
        if let Some(i) = self.table.find(&key, hash, entries) {
            add(&mut self.entries[i as usize].totals);
            return;
        }
        let i = self.entries.len() as u32;
        let attrs = attrs(&mut self.text);
        let attrs = self.attr_set(attrs);
        let mut totals = Totals::default();
        add(&mut totals);
        self.entries.push(Entry { key, totals });
        self.attrs.push(attrs);
        self.table.insert(&key, hash, i);
    }

    fn tags(&self, id: u32) -> Tags {
        match self.text.get(id) {
            None => Tags::default(),
            Some(text) => {
                Tags::from_pairs(text.split('\u{1e}').filter(|p| !p.is_empty()).filter_map(|p| p.split_once('\u{1f}')))
            }
        }
    }

    /// Adds every record of `other`, which rolled up later rows of the same input (another Parquet
    /// row group range read on another thread). Records already here keep their descriptive
    /// columns, as if the rows had been read in order.
    pub fn merge(&mut self, mut other: Rollup) {
        // Positions of the key that hold text ids (the others are days and the category).
        const TEXT_SLOTS: [usize; 12] = [0, 1, 2, 5, 6, 7, 8, 10, 11, 12, 13, 14];
        let mut map = vec![NONE; other.text.strings.len()];
        let mut translate = |id: u32, text: &mut Interner| -> u32 {
            if id == NONE {
                return NONE;
            }
            let m = &mut map[id as usize];
            if *m == NONE {
                *m = text.id(&other.text.strings[id as usize]);
            }
            *m
        };
        if let Some(e) = other.spill_error.take() {
            self.spill_error.get_or_insert(e);
        }
        if !other.runs.is_empty() {
            // Runs stay in input order: what this rollup holds came before the other's runs. Its
            // memory is given back: each run is loaded whole below to translate it.
            self.spill_memory();
            self.entries.shrink_to_fit();
            self.attrs.shrink_to_fit();
            self.table.shrink_to_fit();
            for run in std::mem::take(&mut other.runs) {
                let mut entries = Vec::with_capacity(run.len());
                let read = run.reader().and_then(|mut r| {
                    while let Some(e) = r.next_entry()? {
                        entries.push(e);
                    }
                    Ok(())
                });
                if let Err(e) = read {
                    self.spill_error.get_or_insert(e);
                    continue;
                }
                for e in &mut entries {
                    for slot in TEXT_SLOTS {
                        e.key[slot] = translate(e.key[slot], &mut self.text);
                    }
                    let attrs = other.attr_sets[e.attrs as usize].map(|a| translate(a, &mut self.text));
                    e.attrs = self.attr_set(attrs);
                }
                // Ids differ here, so the order does too.
                entries.sort_unstable_by(|a, b| crate::spill::order(&a.key).cmp(&crate::spill::order(&b.key)));
                match Run::write(entries.into_iter()) {
                    Ok(r) => self.runs.push(r),
                    Err(e) => {
                        self.spill_error.get_or_insert(e);
                    }
                }
            }
        }
        for (i, e) in other.entries.iter().enumerate() {
            let mut key = e.key;
            for slot in TEXT_SLOTS {
                key[slot] = translate(e.key[slot], &mut self.text);
            }
            let hash = self.hasher.hash_one(key);
            let entries = &self.entries;
            if let Some(j) = self.table.find(&key, hash, entries) {
                self.entries[j as usize].totals.add_totals(&e.totals);
                continue;
            }
            let attrs = other.attr_sets[other.attrs[i] as usize].map(|a| translate(a, &mut self.text));
            let attrs = self.attr_set(attrs);
            let j = self.entries.len() as u32;
            self.entries.push(Entry { key, totals: e.totals.clone() });
            self.attrs.push(attrs);
            self.table.insert(&key, hash, j);
            self.check_budget();
        }
        self.lines += other.lines;
    }

    /// All records as owned values (tests, small inputs): in the order their first line was seen,
    /// or by day and key when the rollup spilled.
    pub fn finish(mut self) -> std::io::Result<Vec<CostRecord>> {
        self.seal()?;
        Ok((0..self.len()).map(|i| self.record(i)).collect())
    }

    /// Totals per currency over every record so far. Never adds amounts of different currencies.
    /// Records still in runs are not counted: call [`Rollup::seal`] first.
    pub fn totals_by_currency(&self) -> BTreeMap<String, Totals> {
        let mut by_id: FxHashMap<u32, Totals> = FxHashMap::default();
        match &self.sealed {
            Some(m) => {
                for i in 0..m.records.len() {
                    let e = m.records.get(i);
                    by_id.entry(e.key[14]).or_default().add_totals(&e.totals);
                }
            }
            None => {
                for Entry { key: k, totals: t } in &self.entries {
                    by_id.entry(k[14]).or_default().add_totals(t);
                }
            }
        }
        let mut out: BTreeMap<String, Totals> = BTreeMap::new();
        for (id, t) in by_id {
            out.entry(self.text.get(id).unwrap_or("").to_string()).or_default().add_totals(&t);
        }
        out
    }
}

impl RecordSource for Rollup {
    fn len(&self) -> usize {
        Rollup::len(self)
    }

    fn record(&self, i: usize) -> CostRecord {
        let (key, attrs, totals) = self.at(i);
        let mut r = self.build(&key, totals);
        r.attrs = ATTRS
            .iter()
            .zip(&self.attr_sets[attrs as usize])
            .filter_map(|(name, &id)| self.text.get(id).map(|v| (name.to_string(), v.to_string())))
            .collect();
        r
    }

    fn record_without_attrs(&self, i: usize) -> CostRecord {
        let (key, _, totals) = self.at(i);
        self.build(&key, totals)
    }

    fn charge_date(&self, i: usize) -> NaiveDate {
        match &self.sealed {
            Some(m) => from_day_number(m.records.get(i).key[DAY_SLOT]),
            None => from_day_number(self.entries[i].key[DAY_SLOT]),
        }
    }

    fn attrs_group(&self, i: usize) -> Option<u32> {
        match &self.sealed {
            Some(m) => Some(m.records.get(i).attrs),
            None => Some(self.attrs[i]),
        }
    }

    fn totals(&self, i: usize) -> Totals {
        self.at(i).2
    }

    fn series_numbers(&self) -> Vec<u32> {
        if let Some(m) = &self.sealed {
            return (0..m.records.len()).map(|i| m.records.get(i).series).collect();
        }
        let mut seen: FxHashMap<Key, u32> = FxHashMap::default();
        self.entries
            .iter()
            .map(|e| {
                let next = seen.len() as u32;
                *seen.entry(series_of(&e.key)).or_insert(next)
            })
            .collect()
    }

    fn sorted_by_day(&self) -> bool {
        self.sealed.is_some()
    }
}

impl Rollup {
    /// A record from its key and sums, without descriptive columns.
    fn build(&self, k: &Key, totals: Totals) -> CostRecord {
        let s = |id: u32| self.text.get(id).map(str::to_string);
        let grain = Grain {
            provider: s(k[0]).unwrap_or_default(),
            billing_account_id: s(k[1]).unwrap_or_default(),
            sub_account_id: s(k[2]),
            charge_date: from_day_number(k[3]),
            billing_period_start: from_day_number(k[4]),
            service_name: s(k[5]).unwrap_or_default(),
            region_id: s(k[6]),
            resource_id: s(k[7]),
            usage_type: s(k[8]),
            charge_category: CATEGORIES[(k[9] >> 1) as usize],
            correction: k[9] & 1 == 1,
            pricing_category: s(k[10]),
            commitment_discount_id: s(k[11]),
            commitment_discount_status: s(k[12]),
            tags: self.tags(k[13]),
            currency: s(k[14]).unwrap_or_default(),
        };
        CostRecord { grain, attrs: BTreeMap::new(), totals }
    }
}

/// Totals per currency over records. Never adds amounts of different currencies.
pub fn totals_by_currency(records: &[CostRecord]) -> BTreeMap<String, Totals> {
    let mut out: BTreeMap<String, Totals> = BTreeMap::new();
    for r in records {
        out.entry(r.grain.currency.clone()).or_default().add_totals(&r.totals);
    }
    out
}

#[cfg(test)]
mod tests;
