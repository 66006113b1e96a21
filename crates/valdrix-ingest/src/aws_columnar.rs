//! The columnar reader of AWS CUR Parquet batches: the same lines as [`AwsPlan`]'s row reader
//! ([`Normaliser::emit`](crate::Normaliser::emit)), built column by column from interned ids.
//!
//! Both readers share [`Shape`] and [`EffectiveRule`], which hold what each line item type means;
//! what is repeated here is only which column a field comes from, and a test ingests every AWS
//! Parquet sample both ways and compares every record, attributes included.

use rust_decimal::Decimal;
use std::borrow::Cow;

use valdrix_core::focus::{frequency, pricing};
use valdrix_core::time::{month_start, next_month_start};
use valdrix_core::ChargeCategory;

use crate::aws::*;
use crate::columnar::{DayCol, DecimalCache, DictIds, MapCol, NumCol, TextCol};
use crate::error::FieldError;
use crate::mapping::aws_service_category;
use crate::rollup::{category_slot, day_number, from_day_number, Amounts, Attrs, Interner, Pending, Rollup, NONE};
use crate::table::BatchView;

/// Where the tags of a row come from.
enum TagSource<'a> {
    Single(TextCol<'a>, &'a str),
    Map(MapCol<'a>),
}

/// Positions in a row's product map of the first non-blank value of each key the reader uses.
#[derive(Default, Clone, Copy)]
struct ProductEntries {
    product_name: Option<usize>,
    region: Option<usize>,
    region_code: Option<usize>,
    location: Option<usize>,
}

/// The columns of one batch.
struct Columns<'a> {
    plan: &'a AwsPlan,
    batch: &'a BatchView<'a>,
    /// Text columns by [`COLUMNS`] position (absent for the ones not read as text).
    t: Vec<TextCol<'a>>,
    product: MapCol<'a>,
    tags: Vec<TagSource<'a>>,
    numbers: Vec<NumCol<'a>>,
    start: DayCol<'a>,
    /// `line_item_usage_end_date`: a charge period may not end on a day before it starts.
    end: DayCol<'a>,
    period_start: DayCol<'a>,
    period_end: DayCol<'a>,
    /// Line item types seen in this batch, by interned id.
    item_types: Vec<(u32, ItemType)>,
    /// Ids of the constant texts, by value.
    constants: Vec<(&'static str, u32)>,
    /// The tag signature of the current row (see [`Rollup::tag_set`]).
    signature: Vec<u32>,
    /// The last billing period end interned.
    last_end: Option<(chrono::NaiveDate, u32)>,
    /// The day numbers a line may carry (the rollup's plausible range).
    days: (u32, u32),
    /// Currency texts (interned ids) already found to be ISO 4217 codes.
    currencies_ok: Vec<u32>,
}

/// Starts a single-tag column's entry in a tag signature: marker, key id, value id (a map entry is
/// its raw key id and value id; no text id reaches the marker).
const SINGLE_TAG: u32 = u32::MAX - 2;

/// Reads `batch` column by column into `out`; `None` when a column has a type this reader does
/// not handle (the row reader then reads the batch, with its own messages).
pub(crate) fn emit_batch<'a>(
    plan: &'a AwsPlan,
    batch: &'a BatchView<'a>,
    out: &mut Rollup,
) -> Option<Result<(), (usize, FieldError)>> {
    let mut saved = out.take_dict_ids();
    saved.resize_with(COLUMNS.len() + 2 + 2 * plan.tags.len(), DictIds::default);
    let mut take = |slot: usize| std::mem::take(&mut saved[slot]);
    let mut t: Vec<TextCol<'a>> = Vec::with_capacity(COLUMNS.len());
    for c in 0..COLUMNS.len() {
        t.push(if TEXT_COLUMNS.contains(&c) { TextCol::new(batch, plan.c(c), take(c))? } else { TextCol::absent() });
    }
    let product = MapCol::new(batch, plan.product_map, (take(COLUMNS.len()), take(COLUMNS.len() + 1)))?;
    let mut tags = Vec::new();
    for (k, source) in plan.tags.iter().enumerate() {
        let slot = COLUMNS.len() + 2 + 2 * k;
        tags.push(match source {
            TagColumn::Single(i, key) => TagSource::Single(TextCol::new(batch, Some(*i), take(slot))?, key.as_str()),
            TagColumn::Map(i) => TagSource::Map(MapCol::new(batch, Some(*i), (take(slot), take(slot + 1)))?),
        });
    }
    let mut cols = Columns {
        plan,
        batch,
        t,
        product,
        tags,
        numbers: (0..COLUMNS.len()).map(|c| NumCol::new(batch, plan.c(c))).collect(),
        start: DayCol::new(batch, plan.c(LINE_ITEM_USAGE_START_DATE)),
        end: DayCol::new(batch, plan.c(LINE_ITEM_USAGE_END_DATE)),
        period_start: DayCol::new(batch, plan.c(BILL_BILLING_PERIOD_START_DATE)),
        period_end: DayCol::new(batch, plan.c(BILL_BILLING_PERIOD_END_DATE)),
        item_types: Vec::new(),
        constants: Vec::new(),
        signature: Vec::new(),
        last_end: None,
        days: (day_number(out.plausible().first), day_number(out.plausible().last)),
        currencies_ok: Vec::new(),
    };
    let mut tag_buf = Vec::new();
    let mut pending = Vec::with_capacity(batch.len() + 16);
    for i in 0..batch.len() {
        if let Err(e) = cols.row(i, out, &mut tag_buf, &mut pending) {
            return Some(Err((i, e)));
        }
    }
    out.add_pending(&pending, |note, text| cols.attrs(&note.line, note.frequency, note.units, text));
    if let Some(message) = out.take_bad_text() {
        return Some(Err(cols.bad_text(message)));
    }
    out.keep_dict_ids(cols.into_caches());
    Some(Ok(()))
}

/// The [`COLUMNS`] read as text.
const TEXT_COLUMNS: [usize; 27] = [
    BILL_PAYER_ACCOUNT_ID,
    BILL_PAYER_ACCOUNT_NAME,
    BILL_INVOICE_ID,
    BILL_BILLING_ENTITY,
    LINE_ITEM_USAGE_ACCOUNT_ID,
    LINE_ITEM_USAGE_ACCOUNT_NAME,
    LINE_ITEM_LINE_ITEM_TYPE,
    LINE_ITEM_PRODUCT_CODE,
    LINE_ITEM_USAGE_TYPE,
    LINE_ITEM_AVAILABILITY_ZONE,
    LINE_ITEM_RESOURCE_ID,
    LINE_ITEM_CURRENCY_CODE,
    LINE_ITEM_LINE_ITEM_DESCRIPTION,
    LINE_ITEM_LEGAL_ENTITY,
    PRODUCT_PRODUCT_NAME,
    PRODUCT_SERVICENAME,
    PRODUCT_REGION_CODE,
    PRODUCT_REGION,
    PRODUCT_LOCATION,
    PRODUCT_SKU,
    PRODUCT_PRODUCT_FAMILY,
    PRICING_TERM,
    PRICING_UNIT,
    PRICING_RATE_ID,
    PRICING_RATE_CODE,
    RESERVATION_RESERVATION_A_R_N,
    SAVINGS_PLAN_SAVINGS_PLAN_A_R_N,
];

impl<'a> Columns<'a> {
    /// The dictionary ids to keep for the next batch, by slot (see [`emit_batch`]).
    fn into_caches(self) -> Vec<DictIds> {
        let mut out: Vec<DictIds> = self.t.into_iter().map(TextCol::into_cache).collect();
        let (k, v) = self.product.into_caches();
        out.extend([k, v]);
        for source in self.tags {
            match source {
                TagSource::Single(col, _) => out.extend([col.into_cache(), DictIds::default()]),
                TagSource::Map(m) => {
                    let (k, v) = m.into_caches();
                    out.extend([k, v]);
                }
            }
        }
        out
    }

    /// The first row and column of the batch whose text a bill cannot hold, for the `message`
    /// the rollup's interner gave about it (the batch's first row when only its dictionary has it).
    fn bad_text(&self, message: String) -> (usize, FieldError) {
        for i in 0..self.batch.len() {
            for &c in &TEXT_COLUMNS {
                if self.t[c].text(i).is_some_and(|v| crate::validate::check_text("", v).is_err()) {
                    return (i, self.error(c, message));
                }
            }
        }
        (0, FieldError::new("a text column", message))
    }

    /// A message about column `c` of [`COLUMNS`].
    fn error(&self, c: usize, message: String) -> FieldError {
        let name = self.plan.c(c).map_or(COLUMNS[c], |i| self.plan.header.name(i));
        FieldError::new(name, message)
    }

    fn number(&self, c: usize, i: usize, cache: &mut DecimalCache) -> Result<Option<Decimal>, FieldError> {
        self.numbers[c].get(i, self.batch, cache).map_err(|m| self.error(c, m))
    }

    fn day(&self, col: &DayCol<'_>, c: usize, i: usize) -> Result<Option<(u32, bool)>, FieldError> {
        let day = col.get(i, self.batch).map_err(|m| self.error(c, m))?;
        if let Some((n, _)) = day {
            if n < self.days.0 || n > self.days.1 {
                let plausible = crate::validate::Plausible {
                    first: from_day_number(self.days.0),
                    last: from_day_number(self.days.1),
                };
                let column = self.error(c, String::new()).column;
                plausible.check(&column, from_day_number(n))?;
            }
        }
        Ok(day)
    }

    /// The id of a constant text.
    fn constant(&mut self, s: Option<&'static str>, text: &mut Interner) -> u32 {
        let Some(s) = s else { return NONE };
        // Constants are the same &'static str each time: compare addresses first.
        if let Some(&(_, id)) = self.constants.iter().find(|(c, _)| std::ptr::eq(*c, s) || *c == s) {
            return id;
        }
        let id = text.id(s);
        self.constants.push((s, id));
        id
    }

    fn item_type(&mut self, i: usize, text: &mut Interner) -> ItemType {
        let id = self.t[LINE_ITEM_LINE_ITEM_TYPE].id(i, text);
        if let Some(&(_, t)) = self.item_types.iter().find(|(k, _)| *k == id) {
            return t;
        }
        let t = ItemType::parse(text.get(id).unwrap_or("Usage"));
        self.item_types.push((id, t));
        t
    }

    fn product_entries(&self, i: usize) -> ProductEntries {
        let mut found = ProductEntries::default();
        for j in self.product.entries(i) {
            let Some(key) = self.product.keys.text(j) else { continue };
            let slot = match key {
                "product_name" => &mut found.product_name,
                "region" => &mut found.region,
                "region_code" => &mut found.region_code,
                "location" => &mut found.location,
                _ => continue,
            };
            if slot.is_none() && self.product.values.text(j).is_some_and(|v| !v.trim().is_empty()) {
                *slot = Some(j);
            }
        }
        found
    }

    fn map_value(&mut self, j: Option<usize>, text: &mut Interner) -> u32 {
        j.map_or(NONE, |j| self.product.values.id(j, text))
    }

    /// Reads row `i` into one line (two for a commitment fee with an unused share).
    fn row(
        &mut self,
        i: usize,
        out: &mut Rollup,
        tag_buf: &mut Vec<(Cow<'a, str>, Cow<'a, str>)>,
        pending: &mut Vec<Pending<LineNote>>,
    ) -> Result<(), FieldError> {
        let (text, decimals) = out.parts();
        let start = match self.day(&self.start, LINE_ITEM_USAGE_START_DATE, i)? {
            Some((day, _)) => day,
            None => {
                let what = "line_item_usage_start_date";
                let name = self.plan.c(LINE_ITEM_USAGE_START_DATE).map_or(what, |c| self.plan.header.name(c));
                return Err(FieldError::new(name, format!("missing {what}")));
            }
        };
        if let Some((end, _)) = self.day(&self.end, LINE_ITEM_USAGE_END_DATE, i)? {
            if end < start {
                let (from, to) = (from_day_number(start), from_day_number(end));
                let message = format!("the charge period ends ({to}) before it starts ({from})");
                return Err(self.error(LINE_ITEM_USAGE_END_DATE, message));
            }
        }
        let period_start = self.day(&self.period_start, BILL_BILLING_PERIOD_START_DATE, i)?;
        let period_end = self.day(&self.period_end, BILL_BILLING_PERIOD_END_DATE, i)?;
        let period_start_day = match period_start {
            Some((day, _)) => day,
            None => day_number(month_start(from_day_number(start))),
        };
        let currency = match self.t[LINE_ITEM_CURRENCY_CODE].id(i, text) {
            NONE => self.constant(Some("USD"), text),
            id => id,
        };
        if !self.currencies_ok.contains(&currency) {
            let code = text.get(currency).unwrap_or("");
            crate::validate::check_currency(&self.error(LINE_ITEM_CURRENCY_CODE, String::new()).column, code)?;
            self.currencies_ok.push(currency);
        }
        let account = self.t[LINE_ITEM_USAGE_ACCOUNT_ID].id(i, text);
        let payer = match self.t[BILL_PAYER_ACCOUNT_ID].id(i, text) {
            NONE if account != NONE => account,
            NONE => self.constant(Some("unknown"), text),
            id => id,
        };
        let product = if self.product.keys.is_absent() { ProductEntries::default() } else { self.product_entries(i) };
        let mut service = self.t[PRODUCT_PRODUCT_NAME].id(i, text);
        if service == NONE {
            service = self.map_value(product.product_name, text);
        }
        if service == NONE {
            service = self.t[PRODUCT_SERVICENAME].id(i, text);
        }
        if service == NONE {
            service = self.t[LINE_ITEM_PRODUCT_CODE].id(i, text);
        }
        if service == NONE {
            service = self.constant(Some("Unknown"), text);
        }
        let mut region = self.t[PRODUCT_REGION_CODE].id(i, text);
        if region == NONE {
            region = self.t[PRODUCT_REGION].id(i, text);
        }
        if region == NONE {
            region = self.map_value(product.region, text);
        }
        if region == NONE {
            region = self.map_value(product.region_code, text);
        }
        let resource = self.t[LINE_ITEM_RESOURCE_ID].id(i, text);
        let usage_type = self.t[LINE_ITEM_USAGE_TYPE].id(i, text);

        let unblended = self.number(LINE_ITEM_UNBLENDED_COST, i, decimals)?.unwrap_or(Decimal::ZERO);
        let list = self.number(PRICING_PUBLIC_ON_DEMAND_COST, i, decimals)?;
        let amount = self.number(LINE_ITEM_USAGE_AMOUNT, i, decimals)?;
        let ri = self.t[RESERVATION_RESERVATION_A_R_N].id(i, text);
        let sp = self.t[SAVINGS_PLAN_SAVINGS_PLAN_A_R_N].id(i, text);
        let spot = self.t[PRICING_TERM].text(i).is_some_and(is_spot);
        let item = self.item_type(i, text);
        let shape = Shape::of(item, ri != NONE, spot);
        let commitment = match shape.commitment {
            Commitment::None => NONE,
            Commitment::Reservation => ri,
            Commitment::SavingsPlan => sp,
        };
        let effective = shape.effective.amount(unblended, &mut |c| self.number(c, i, decimals))?;
        let contracted = match shape.category {
            ChargeCategory::Usage => list.unwrap_or(unblended),
            _ => unblended,
        };

        // The tags of a row are decided by the interned ids of its tag texts: look that signature
        // up before building, sorting and interning the canonical tag text.
        let (text, _) = out.parts();
        self.signature.clear();
        for source in self.tags.iter_mut() {
            match source {
                TagSource::Single(col, key) => {
                    let v = col.id(i, text);
                    if v != NONE {
                        let key = text.id(key);
                        self.signature.extend([SINGLE_TAG, key, v]);
                    }
                }
                TagSource::Map(m) => {
                    for j in m.entries(i) {
                        let key = m.keys.id(j, text);
                        if key != NONE {
                            self.signature.extend([key, m.values.id(j, text)]);
                        }
                    }
                }
            }
        }
        let tags = if self.signature.is_empty() {
            NONE
        } else if let Some(id) = out.tag_set(&self.signature) {
            id
        } else {
            tag_buf.clear();
            for source in &self.tags {
                match source {
                    TagSource::Single(col, key) => {
                        if let Some(v) = col.text(i) {
                            tag_buf.push((Cow::Borrowed(*key), Cow::Borrowed(v)));
                        }
                    }
                    TagSource::Map(m) => {
                        for j in m.entries(i) {
                            let Some(k) = m.keys.text(j) else { continue };
                            let v = m.values.text(j).unwrap_or("");
                            if !v.trim().is_empty() {
                                tag_buf.push((snake_tag_key(k), Cow::Borrowed(v)));
                            }
                        }
                    }
                }
            }
            let id = out.tags_id(tag_buf)?;
            out.remember_tag_set(&self.signature, id);
            id
        };
        let (text, _) = out.parts();

        let key = [
            self.constant(Some("AWS"), text),
            payer,
            account,
            start,
            period_start_day,
            service,
            region,
            resource,
            usage_type,
            category_slot(shape.category, shape.correction),
            self.constant(shape.pricing, text),
            commitment,
            self.constant(shape.status, text),
            tags,
            currency,
        ];
        let line = Line { i, shape, commitment, region, resource, product, period_start, period_end, start };
        // FOCUS puts a commitment's unused share on a Usage line of its own with status Unused and
        // keeps the purchase line's EffectiveCost at 0 (as the row reader does).
        let split = shape.category == ChargeCategory::Purchase && !effective.is_zero();
        if split {
            let mut unused = key;
            unused[9] = category_slot(ChargeCategory::Usage, shape.correction);
            unused[10] = self.constant(Some(pricing::COMMITTED), text);
            unused[12] = self.constant(Some("Unused"), text);
            pending.push(Pending {
                key: unused,
                amounts: Amounts {
                    billed: Decimal::ZERO,
                    effective,
                    list: Decimal::ZERO,
                    contracted: Decimal::ZERO,
                    quantity: None,
                },
                extra: LineNote { line, frequency: frequency::USAGE_BASED, units: false },
            });
        }
        let quantity = matches!(shape.category, ChargeCategory::Usage | ChargeCategory::Purchase);
        let quantity = if quantity { amount } else { None };
        let effective = if split { Decimal::ZERO } else { effective };
        pending.push(Pending {
            key,
            amounts: Amounts {
                billed: unblended,
                effective,
                list: list.unwrap_or(Decimal::ZERO),
                contracted,
                quantity,
            },
            extra: LineNote { line, frequency: shape.frequency, units: quantity.is_some() },
        });
        Ok(())
    }

    /// The descriptive columns of a line that starts a record, in [`ATTRS`](crate::rollup::ATTRS)
    /// order. `units`: whether the line carries a quantity and so a unit.
    fn attrs(&mut self, l: &Line, frequency: &'static str, units: bool, text: &mut Interner) -> Attrs {
        let i = l.i;
        let start = from_day_number(l.start);
        let mut end = match l.period_start {
            Some((day, _)) => next_month_start(from_day_number(day)),
            None => next_month_start(start),
        };
        if let Some((day, midnight)) = l.period_end {
            // Some exports write the end as the last second of the month.
            let d = from_day_number(day);
            end = if midnight { d } else { d.succ_opt().unwrap_or(d) };
        }
        let region_name = if l.region == NONE {
            NONE
        } else {
            match self.t[PRODUCT_LOCATION].id(i, text) {
                NONE => self.map_value(l.product.location, text),
                id => id,
            }
        };
        let resource_type = if l.resource == NONE { NONE } else { self.t[PRODUCT_PRODUCT_FAMILY].id(i, text) };
        let sku_price = match self.t[PRICING_RATE_CODE].id(i, text) {
            NONE => self.t[PRICING_RATE_ID].id(i, text),
            id => id,
        };
        let publisher = match self.t[LINE_ITEM_LEGAL_ENTITY].id(i, text) {
            NONE => self.t[BILL_BILLING_ENTITY].id(i, text),
            id => id,
        };
        let (kind, category) = if l.commitment == NONE {
            (NONE, NONE)
        } else {
            (self.constant(l.shape.commitment.kind(), text), self.constant(l.shape.commitment.category(), text))
        };
        let unit = if units {
            match self.t[PRICING_UNIT].text(i) {
                Some(u) => text.id(&valdrix_core::units::focus_unit(u)),
                None => text.id("Units"),
            }
        } else {
            NONE
        };
        let service_category = aws_service_category(self.t[LINE_ITEM_PRODUCT_CODE].text(i).unwrap_or(""));
        let end = match self.last_end {
            Some((d, id)) if d == end => id,
            _ => {
                let id = text.id(&end.to_string());
                self.last_end = Some((end, id));
                id
            }
        };
        [
            end,
            self.t[BILL_PAYER_ACCOUNT_NAME].id(i, text),
            self.t[LINE_ITEM_USAGE_ACCOUNT_NAME].id(i, text),
            self.constant(Some(service_category), text),
            region_name,
            self.t[LINE_ITEM_AVAILABILITY_ZONE].id(i, text),
            NONE,
            resource_type,
            self.t[PRODUCT_SKU].id(i, text),
            sku_price,
            self.constant(Some(frequency), text),
            self.t[LINE_ITEM_LINE_ITEM_DESCRIPTION].id(i, text),
            NONE,
            kind,
            category,
            unit,
            unit,
            self.t[BILL_INVOICE_ID].id(i, text),
            publisher,
            self.constant(Some("AWS"), text),
            NONE,
        ]
    }
}

/// A pending line's description: its row, and the frequency and units that differ between a
/// commitment fee and its unused share.
struct LineNote {
    line: Line,
    frequency: &'static str,
    units: bool,
}

/// What the attributes of a line need from its row.
#[derive(Clone, Copy)]
struct Line {
    i: usize,
    shape: Shape,
    commitment: u32,
    region: u32,
    resource: u32,
    product: ProductEntries,
    period_start: Option<(u32, bool)>,
    period_end: Option<(u32, bool)>,
    start: u32,
}
