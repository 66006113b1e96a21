//! The daily rollup: lines with the same grain are summed exactly into one record.
//!
//! The grain key of each line is encoded into a reusable byte buffer and looked up in a hash map,
//! so a line that joins an existing record costs no allocation; only the first line of a record
//! is turned into owned strings.

use rust_decimal::Decimal;
use rustc_hash::FxHashMap;
use std::borrow::Cow;
use std::collections::BTreeMap;

use valdrix_core::{CostLine, CostRecord, Grain, Tags, Totals};

use crate::error::FieldError;

/// Largest tag key accepted, in bytes (AWS allows 128 characters, Azure 512).
pub const MAX_TAG_KEY_BYTES: usize = 512;
/// Largest tag value accepted, in bytes (AWS allows 256 characters, Azure 256, GCP 63).
pub const MAX_TAG_VALUE_BYTES: usize = 4096;

/// Accumulates cost lines into daily records.
#[derive(Default)]
pub struct Rollup {
    index: FxHashMap<Box<[u8]>, usize>,
    records: Vec<CostRecord>,
    key: Vec<u8>,
    lines: u64,
}

fn put(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as u32).to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
}

fn put_opt(buf: &mut Vec<u8>, s: &Option<Cow<'_, str>>) {
    match s {
        Some(s) => put(buf, s),
        None => buf.extend_from_slice(&u32::MAX.to_le_bytes()),
    }
}

fn owned(s: &Option<Cow<'_, str>>) -> Option<String> {
    s.as_ref().map(|c| c.to_string())
}

/// Sorts tags by key, keeps the last value of a repeated key, drops empty keys and rejects
/// oversized keys or values.
fn canonical_tags(tags: &mut Vec<(Cow<'_, str>, Cow<'_, str>)>) -> Result<(), FieldError> {
    for (k, v) in tags.iter() {
        if k.len() > MAX_TAG_KEY_BYTES {
            return Err(FieldError::new(
                "Tags",
                format!(
                    "tag key of {} bytes exceeds the {MAX_TAG_KEY_BYTES}-byte limit",
                    k.len()
                ),
            ));
        }
        if v.len() > MAX_TAG_VALUE_BYTES {
            let shown: String = k.chars().take(60).collect();
            return Err(FieldError::new(
                "Tags",
                format!(
                    "value of tag {shown:?} is {} bytes, over the {MAX_TAG_VALUE_BYTES}-byte limit",
                    v.len()
                ),
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

impl Rollup {
    /// An empty rollup.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of lines added.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// Number of records so far.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether no line was added.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Adds one line to its record.
    pub fn add(&mut self, mut line: CostLine<'_>) -> Result<(), FieldError> {
        canonical_tags(&mut line.tags)?;
        let k = &mut self.key;
        k.clear();
        put(k, &line.provider);
        put(k, &line.billing_account_id);
        put_opt(k, &line.sub_account_id);
        k.extend_from_slice(&chrono::Datelike::num_days_from_ce(&line.charge_date).to_le_bytes());
        k.extend_from_slice(
            &chrono::Datelike::num_days_from_ce(&line.billing_period_start).to_le_bytes(),
        );
        put(k, &line.service_name);
        put_opt(k, &line.region_id);
        put_opt(k, &line.resource_id);
        put_opt(k, &line.usage_type);
        k.push(line.charge_category as u8);
        k.push(line.correction as u8);
        put(k, line.pricing_category.unwrap_or("\u{0}"));
        put_opt(k, &line.commitment_discount_id);
        put(k, line.commitment_discount_status.unwrap_or("\u{0}"));
        k.extend_from_slice(&(line.tags.len() as u32).to_le_bytes());
        for (tk, tv) in &line.tags {
            put(k, tk);
            put(k, tv);
        }
        put(k, &line.currency);
        self.lines += 1;
        if let Some(&i) = self.index.get(k.as_slice()) {
            self.records[i].totals.add_line(&line);
            return Ok(());
        }
        let rec = new_record(&line);
        self.index
            .insert(k.clone().into_boxed_slice(), self.records.len());
        self.records.push(rec);
        let last = self.records.len() - 1;
        self.records[last].totals.add_line(&line);
        Ok(())
    }

    /// The records, in the order their first line was seen.
    pub fn finish(self) -> Vec<CostRecord> {
        self.records
    }

    /// Totals per currency over every record so far.
    pub fn totals_by_currency(&self) -> BTreeMap<String, Totals> {
        totals_by_currency(&self.records)
    }
}

/// Totals per currency over records. Never adds amounts of different currencies.
pub fn totals_by_currency(records: &[CostRecord]) -> BTreeMap<String, Totals> {
    let mut out: BTreeMap<String, Totals> = BTreeMap::new();
    for r in records {
        let t = out.entry(r.grain.currency.clone()).or_default();
        t.billed_cost += r.totals.billed_cost;
        t.effective_cost += r.totals.effective_cost;
        t.list_cost += r.totals.list_cost;
        t.contracted_cost += r.totals.contracted_cost;
        t.line_count += r.totals.line_count;
        if let Some(q) = r.totals.consumed_quantity {
            t.consumed_quantity = Some(t.consumed_quantity.unwrap_or(Decimal::ZERO) + q);
        }
    }
    out
}

fn new_record(l: &CostLine<'_>) -> CostRecord {
    let grain = Grain {
        provider: l.provider.to_string(),
        billing_account_id: l.billing_account_id.to_string(),
        sub_account_id: owned(&l.sub_account_id),
        charge_date: l.charge_date,
        billing_period_start: l.billing_period_start,
        service_name: l.service_name.to_string(),
        region_id: owned(&l.region_id),
        resource_id: owned(&l.resource_id),
        usage_type: owned(&l.usage_type),
        charge_category: l.charge_category,
        correction: l.correction,
        pricing_category: l.pricing_category.map(str::to_string),
        commitment_discount_id: owned(&l.commitment_discount_id),
        commitment_discount_status: l.commitment_discount_status.map(str::to_string),
        tags: Tags::from_pairs(l.tags.iter().map(|(k, v)| (k.as_ref(), v.as_ref()))),
        currency: l.currency.to_string(),
    };
    let mut attrs = BTreeMap::new();
    let mut set = |name: &str, v: Option<&str>| {
        if let Some(v) = v {
            if !v.is_empty() {
                attrs.insert(name.to_string(), v.to_string());
            }
        }
    };
    set("BillingPeriodEnd", Some(&l.billing_period_end.to_string()));
    set("BillingAccountName", l.billing_account_name.as_deref());
    set("SubAccountName", l.sub_account_name.as_deref());
    set("ServiceCategory", l.service_category);
    set("RegionName", l.region_name.as_deref());
    set("AvailabilityZone", l.availability_zone.as_deref());
    set("ResourceName", l.resource_name.as_deref());
    set("ResourceType", l.resource_type.as_deref());
    set("SkuId", l.sku_id.as_deref());
    set("SkuPriceId", l.sku_price_id.as_deref());
    set("ChargeFrequency", l.charge_frequency);
    set("ChargeDescription", l.charge_description.as_deref());
    set(
        "CommitmentDiscountName",
        l.commitment_discount_name.as_deref(),
    );
    set(
        "CommitmentDiscountType",
        l.commitment_discount_type.as_deref(),
    );
    set("CommitmentDiscountCategory", l.commitment_discount_category);
    set("ConsumedUnit", l.consumed_unit.as_deref());
    set("PricingUnit", l.pricing_unit.as_deref());
    set("InvoiceId", l.invoice_id.as_deref());
    set("PublisherName", l.publisher.as_deref());
    set("InvoiceIssuerName", l.invoice_issuer.as_deref());
    set("PricingCurrency", l.pricing_currency.as_deref());
    CostRecord {
        grain,
        attrs,
        totals: Totals::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use std::str::FromStr;

    fn line(cost: &str, tags: &[(&'static str, &'static str)]) -> CostLine<'static> {
        let mut l = CostLine::new(
            Cow::Borrowed("AWS"),
            Cow::Borrowed("123"),
            NaiveDate::from_ymd_opt(2024, 1, 2).unwrap(),
            Cow::Borrowed("USD"),
        );
        l.service_name = Cow::Borrowed("EC2");
        l.billed_cost = Decimal::from_str(cost).unwrap();
        l.tags = tags
            .iter()
            .map(|(k, v)| (Cow::Borrowed(*k), Cow::Borrowed(*v)))
            .collect();
        l
    }

    #[test]
    fn same_grain_sums_exactly_and_tag_order_does_not_matter() {
        let mut r = Rollup::new();
        r.add(line("0.1", &[("a", "1"), ("b", "2")])).unwrap();
        r.add(line("0.2", &[("b", "2"), ("a", "1")])).unwrap();
        r.add(line("0.3", &[("a", "other")])).unwrap();
        let recs = r.finish();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].totals.billed_cost.to_string(), "0.3");
        assert_eq!(recs[0].totals.line_count, 2);
    }

    #[test]
    fn enormous_tag_values_are_rejected() {
        let big: &'static str = Box::leak("x".repeat(MAX_TAG_VALUE_BYTES + 1).into_boxed_str());
        let mut r = Rollup::new();
        let e = r.add(line("1", &[("team", big)])).unwrap_err();
        assert!(e.message.contains("team"), "{}", e.message);
    }
}
