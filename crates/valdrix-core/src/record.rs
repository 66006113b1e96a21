//! Cost lines (what a reader yields) and cost records (what the store keeps).

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::focus::ChargeCategory;
use crate::tags::Tags;

/// Optional text borrowed from the reader's buffer when it can be.
pub type Text<'a> = Option<Cow<'a, str>>;

/// One billing line normalised to FOCUS 1.2 meanings, before the daily rollup.
///
/// Readers fill it from a provider row; text borrows from the reader's buffers so that the hot
/// path allocates only when a new grain group appears.
#[derive(Debug, Clone)]
pub struct CostLine<'a> {
    /// `ProviderName` (AWS, Microsoft, Google Cloud, or what a FOCUS file says).
    pub provider: Cow<'a, str>,
    /// `PublisherName`.
    pub publisher: Text<'a>,
    /// `InvoiceIssuerName`.
    pub invoice_issuer: Text<'a>,
    /// `BillingAccountId`: AWS payer, Azure billing account, GCP billing account.
    pub billing_account_id: Cow<'a, str>,
    /// `BillingAccountName`.
    pub billing_account_name: Text<'a>,
    /// `SubAccountId`: AWS linked account, Azure subscription, GCP project.
    pub sub_account_id: Text<'a>,
    /// `SubAccountName`.
    pub sub_account_name: Text<'a>,
    /// UTC day of `ChargePeriodStart`.
    pub charge_date: NaiveDate,
    /// `BillingPeriodStart` (a date: every provider starts periods at midnight UTC).
    pub billing_period_start: NaiveDate,
    /// `BillingPeriodEnd` (exclusive).
    pub billing_period_end: NaiveDate,
    /// `ServiceName`.
    pub service_name: Cow<'a, str>,
    /// `ServiceCategory`, when the reader knows it; otherwise the mapping tables decide.
    pub service_category: Option<&'static str>,
    /// Provider service code used to look the category up (AWS product code, Azure consumed service).
    pub service_code: Text<'a>,
    /// `RegionId`.
    pub region_id: Text<'a>,
    /// `RegionName`.
    pub region_name: Text<'a>,
    /// `AvailabilityZone`.
    pub availability_zone: Text<'a>,
    /// `ResourceId`.
    pub resource_id: Text<'a>,
    /// `ResourceName`.
    pub resource_name: Text<'a>,
    /// `ResourceType`.
    pub resource_type: Text<'a>,
    /// `SkuId`.
    pub sku_id: Text<'a>,
    /// `SkuPriceId`.
    pub sku_price_id: Text<'a>,
    /// The provider's usage type or meter (`x_UsageType`): part of the grain.
    pub usage_type: Text<'a>,
    /// `ChargeCategory`.
    pub charge_category: ChargeCategory,
    /// `ChargeClass` = `Correction` when true.
    pub correction: bool,
    /// `ChargeFrequency`.
    pub charge_frequency: Option<&'static str>,
    /// `ChargeDescription`.
    pub charge_description: Text<'a>,
    /// `PricingCategory`.
    pub pricing_category: Option<&'static str>,
    /// `CommitmentDiscountId`.
    pub commitment_discount_id: Text<'a>,
    /// `CommitmentDiscountName`.
    pub commitment_discount_name: Text<'a>,
    /// `CommitmentDiscountType` (provider label).
    pub commitment_discount_type: Text<'a>,
    /// `CommitmentDiscountCategory`: `Spend` or `Usage`.
    pub commitment_discount_category: Option<&'static str>,
    /// `CommitmentDiscountStatus`: `Used` or `Unused`.
    pub commitment_discount_status: Option<&'static str>,
    /// Tags as read (normalised and sorted by the rollup).
    pub tags: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    /// `BillingCurrency`.
    pub currency: Cow<'a, str>,
    /// `BilledCost`.
    pub billed_cost: Decimal,
    /// `EffectiveCost`.
    pub effective_cost: Decimal,
    /// `ListCost`.
    pub list_cost: Decimal,
    /// `ContractedCost`.
    pub contracted_cost: Decimal,
    /// `ConsumedQuantity`.
    pub consumed_quantity: Option<Decimal>,
    /// `ConsumedUnit`.
    pub consumed_unit: Text<'a>,
    /// `PricingQuantity`.
    pub pricing_quantity: Option<Decimal>,
    /// `PricingUnit`.
    pub pricing_unit: Text<'a>,
    /// `InvoiceId`.
    pub invoice_id: Text<'a>,
    /// `PricingCurrency` when it differs from the billing currency.
    pub pricing_currency: Text<'a>,
}

impl<'a> CostLine<'a> {
    /// A line with every optional field empty and zero amounts; readers fill what they have.
    pub fn new(
        provider: Cow<'a, str>,
        billing_account_id: Cow<'a, str>,
        charge_date: NaiveDate,
        currency: Cow<'a, str>,
    ) -> Self {
        CostLine {
            provider,
            publisher: None,
            invoice_issuer: None,
            billing_account_id,
            billing_account_name: None,
            sub_account_id: None,
            sub_account_name: None,
            charge_date,
            billing_period_start: crate::time::month_start(charge_date),
            billing_period_end: crate::time::next_month_start(charge_date),
            service_name: Cow::Borrowed(""),
            service_category: None,
            service_code: None,
            region_id: None,
            region_name: None,
            availability_zone: None,
            resource_id: None,
            resource_name: None,
            resource_type: None,
            sku_id: None,
            sku_price_id: None,
            usage_type: None,
            charge_category: ChargeCategory::Usage,
            correction: false,
            charge_frequency: None,
            charge_description: None,
            pricing_category: None,
            commitment_discount_id: None,
            commitment_discount_name: None,
            commitment_discount_type: None,
            commitment_discount_category: None,
            commitment_discount_status: None,
            tags: Vec::new(),
            currency,
            billed_cost: Decimal::ZERO,
            effective_cost: Decimal::ZERO,
            list_cost: Decimal::ZERO,
            contracted_cost: Decimal::ZERO,
            consumed_quantity: None,
            consumed_unit: None,
            pricing_quantity: None,
            pricing_unit: None,
            invoice_id: None,
            pricing_currency: None,
        }
    }
}

/// The grain of a stored record: every field that, when it differs, makes a separate record.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Grain {
    /// `ProviderName`.
    pub provider: String,
    /// `BillingAccountId`.
    pub billing_account_id: String,
    /// `SubAccountId`.
    pub sub_account_id: Option<String>,
    /// Charge day (UTC).
    pub charge_date: NaiveDate,
    /// `BillingPeriodStart`: corrections to earlier periods stay apart from current charges.
    pub billing_period_start: NaiveDate,
    /// `ServiceName`.
    pub service_name: String,
    /// `RegionId`.
    pub region_id: Option<String>,
    /// `ResourceId`.
    pub resource_id: Option<String>,
    /// Provider usage type or meter, else `SkuId`.
    pub usage_type: Option<String>,
    /// `ChargeCategory`.
    pub charge_category: ChargeCategory,
    /// `ChargeClass` is `Correction`.
    pub correction: bool,
    /// `PricingCategory`.
    pub pricing_category: Option<String>,
    /// `CommitmentDiscountId`.
    pub commitment_discount_id: Option<String>,
    /// `CommitmentDiscountStatus`.
    pub commitment_discount_status: Option<String>,
    /// Canonical tags.
    pub tags: Tags,
    /// `BillingCurrency`: amounts in different currencies never share a record.
    pub currency: String,
}

impl Grain {
    /// A usage charge's grain with only what every record has: provider, billing account,
    /// service, charge day and currency. The billing period is the charge day's month; every
    /// optional field is absent. Callers set the rest with struct update syntax.
    pub fn usage(
        provider: &str,
        billing_account_id: &str,
        service_name: &str,
        charge_date: NaiveDate,
        currency: &str,
    ) -> Grain {
        Grain {
            provider: provider.into(),
            billing_account_id: billing_account_id.into(),
            sub_account_id: None,
            charge_date,
            billing_period_start: crate::time::month_start(charge_date),
            service_name: service_name.into(),
            region_id: None,
            resource_id: None,
            usage_type: None,
            charge_category: ChargeCategory::Usage,
            correction: false,
            pricing_category: None,
            commitment_discount_id: None,
            commitment_discount_status: None,
            tags: Tags::default(),
            currency: currency.into(),
        }
    }

    /// The key of this grain's series: the records of one stream that differ only by charge day
    /// (one resource's usage of one SKU, day after day). A record is identified by its series key
    /// and its charge day. The same inputs always give the same key, so a re-ingest finds the
    /// series it wrote before.
    pub fn series_key(&self, tenant: &str, stream: &str) -> [u8; 16] {
        fn opt(o: &Option<String>) -> &str {
            o.as_deref().unwrap_or("")
        }
        let (period, tags) = (self.billing_period_start.to_string(), self.tags.to_json());
        series_key(
            tenant,
            stream,
            [
                &self.provider,
                &self.billing_account_id,
                opt(&self.sub_account_id),
                &period,
                &self.service_name,
                opt(&self.region_id),
                opt(&self.resource_id),
                opt(&self.usage_type),
                self.charge_category.as_str(),
                if self.correction { "Correction" } else { "" },
                opt(&self.pricing_category),
                opt(&self.commitment_discount_id),
                opt(&self.commitment_discount_status),
                &tags,
                &self.currency,
            ],
        )
    }

    /// This grain with the charge day cleared: equal for every record of one series.
    pub fn without_day(&self) -> Grain {
        Grain { charge_date: NaiveDate::MIN, ..self.clone() }
    }
}

/// The stable key of a series: SHA-256 over the tenant, the stream and the 15 grain fields other
/// than the charge day, in their fixed order (billing period as `YYYY-MM-DD`, tags as canonical
/// JSON, absent values as empty text), cut to 16 bytes. Anything that holds a grain in another
/// shape (the SQLite migration that introduced series, say) computes the same key through this.
pub fn series_key(tenant: &str, stream: &str, fields: [&str; 15]) -> [u8; 16] {
    let mut h = Sha256::new();
    for s in [tenant, stream].into_iter().chain(fields) {
        h.update((s.len() as u64).to_le_bytes());
        h.update(s.as_bytes());
    }
    let mut out = [0u8; 16];
    out.copy_from_slice(&h.finalize()[..16]);
    out
}

/// Records that can be read one by one by position: a `Vec<CostRecord>`, or the compact
/// in-memory rollup, which builds each record only when the store asks for it.
pub trait RecordSource: Sync {
    /// Number of records.
    fn len(&self) -> usize;
    /// Whether there are none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Record `i`.
    fn record(&self, i: usize) -> CostRecord;
    /// The charge day of record `i`; sources may answer without building the record.
    fn charge_date(&self, i: usize) -> NaiveDate {
        self.record(i).grain.charge_date
    }
    /// Record `i` with its grain and sums but no descriptive attributes (for a store that already
    /// wrote the attributes of its [`attrs_group`](Self::attrs_group)).
    fn record_without_attrs(&self, i: usize) -> CostRecord {
        let mut r = self.record(i);
        r.attrs.clear();
        r
    }
    /// A number shared by records whose descriptive attributes are the same (so a store can keep
    /// them once); `None` when the source does not know.
    fn attrs_group(&self, _i: usize) -> Option<u32> {
        None
    }
    /// The sums of record `i`; sources may answer without building the record.
    fn totals(&self, i: usize) -> Totals {
        self.record(i).totals
    }
    /// For each record, the number of its series (records whose grain differs only by charge
    /// day), numbered from 0 in order of first appearance; a store keeps each series' grain once.
    fn series_numbers(&self) -> Vec<u32> {
        let mut seen: std::collections::HashMap<Grain, u32> = std::collections::HashMap::new();
        (0..self.len())
            .map(|i| {
                let next = seen.len() as u32;
                *seen.entry(self.record_without_attrs(i).grain.without_day()).or_insert(next)
            })
            .collect()
    }
    /// Whether records are already in charge-day order (a store then writes them as they come
    /// instead of sorting positions).
    fn sorted_by_day(&self) -> bool {
        false
    }
}

impl RecordSource for Vec<CostRecord> {
    fn len(&self) -> usize {
        self.as_slice().len()
    }
    fn record(&self, i: usize) -> CostRecord {
        self[i].clone()
    }
}

/// Sums of the money and quantity columns of a record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Σ `BilledCost`.
    pub billed_cost: Decimal,
    /// Σ `EffectiveCost`.
    pub effective_cost: Decimal,
    /// Σ `ListCost`.
    pub list_cost: Decimal,
    /// Σ `ContractedCost`.
    pub contracted_cost: Decimal,
    /// Σ `ConsumedQuantity` (None when no line had one).
    pub consumed_quantity: Option<Decimal>,
    /// Σ `PricingQuantity`.
    pub pricing_quantity: Option<Decimal>,
    /// Number of source lines summed.
    pub line_count: u64,
}

impl Totals {
    /// Adds one line's amounts.
    pub fn add_line(&mut self, l: &CostLine<'_>) {
        self.add_amounts(
            l.billed_cost,
            l.effective_cost,
            l.list_cost,
            l.contracted_cost,
            l.consumed_quantity,
            l.pricing_quantity,
        );
    }

    /// Adds one line given by its amounts (columnar readers).
    pub fn add_amounts(
        &mut self,
        billed: Decimal,
        effective: Decimal,
        list: Decimal,
        contracted: Decimal,
        consumed_quantity: Option<Decimal>,
        pricing_quantity: Option<Decimal>,
    ) {
        // Adding zero (most list, effective or contracted amounts of some line types) is skipped:
        // decimal addition aligns scales first and is the costly part of a rollup.
        for (sum, v) in [
            (&mut self.billed_cost, billed),
            (&mut self.effective_cost, effective),
            (&mut self.list_cost, list),
            (&mut self.contracted_cost, contracted),
        ] {
            if !v.is_zero() {
                *sum += v;
            }
        }
        add_opt(&mut self.consumed_quantity, consumed_quantity);
        add_opt(&mut self.pricing_quantity, pricing_quantity);
        self.line_count += 1;
    }

    /// Adds another record's sums (partial rollups, totals per currency).
    pub fn add_totals(&mut self, r: &Totals) {
        self.billed_cost += r.billed_cost;
        self.effective_cost += r.effective_cost;
        self.list_cost += r.list_cost;
        self.contracted_cost += r.contracted_cost;
        add_opt(&mut self.consumed_quantity, r.consumed_quantity);
        add_opt(&mut self.pricing_quantity, r.pricing_quantity);
        self.line_count += r.line_count;
    }
}

fn add_opt(acc: &mut Option<Decimal>, v: Option<Decimal>) {
    if let Some(v) = v {
        *acc = Some(acc.unwrap_or(Decimal::ZERO) + v);
    }
}

/// A stored daily record: the grain, descriptive attributes taken from the first line seen, and
/// the exact sums of every line in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostRecord {
    /// The grain key fields.
    pub grain: Grain,
    /// Descriptive FOCUS columns that do not split records (names, categories, units...), keyed
    /// by FOCUS column name.
    pub attrs: BTreeMap<String, String>,
    /// Money and quantity sums.
    pub totals: Totals,
}

impl CostRecord {
    /// A descriptive attribute by FOCUS column name.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.get(name).map(|s| s.as_str())
    }
}
