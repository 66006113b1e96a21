//! FOCUS 1.0, 1.1 and 1.2 (and the pre-1.0 names still written by some tools), CSV or Parquet.
//!
//! Lenient on input: the literal text `NULL`, timestamps without `T`/`Z`, US dates in the spec's
//! own examples, `Usage-based` casing. Strict on amounts: `$10,000.00` is not a FOCUS decimal
//! and is rejected with the value named.

use std::borrow::Cow;

use valdrix_core::focus::{frequency, pricing, service_category};
use valdrix_core::{ChargeCategory, CostLine};

use crate::error::FieldError;
use crate::rollup::Rollup;
use crate::table::{Cell, Header, Row};
use crate::Normaliser;

/// Whether a header is FOCUS.
pub fn detect(header: &Header) -> bool {
    header.has(&["BilledCost"]) && header.has(&["ChargePeriodStart", "BillingPeriodStart"])
}

/// The resolved columns of one FOCUS file.
pub struct FocusPlan {
    header: Header,
    c: Cols,
}

struct Cols {
    billed: Option<usize>,
    effective: Option<usize>,
    list: Option<usize>,
    contracted: Option<usize>,
    currency: Option<usize>,
    account: Option<usize>,
    account_name: Option<usize>,
    sub_account: Option<usize>,
    sub_account_name: Option<usize>,
    charge_start: Option<usize>,
    charge_end: Option<usize>,
    period_start: Option<usize>,
    period_end: Option<usize>,
    service: Option<usize>,
    service_category: Option<usize>,
    region: Option<usize>,
    region_name: Option<usize>,
    zone: Option<usize>,
    resource: Option<usize>,
    resource_name: Option<usize>,
    resource_type: Option<usize>,
    sku: Option<usize>,
    sku_price: Option<usize>,
    usage_type: Option<usize>,
    category: Option<usize>,
    class: Option<usize>,
    frequency: Option<usize>,
    description: Option<usize>,
    pricing_category: Option<usize>,
    cd_id: Option<usize>,
    cd_name: Option<usize>,
    cd_type: Option<usize>,
    cd_category: Option<usize>,
    cd_status: Option<usize>,
    tags: Option<usize>,
    consumed_qty: Option<usize>,
    consumed_unit: Option<usize>,
    pricing_qty: Option<usize>,
    pricing_unit: Option<usize>,
    invoice: Option<usize>,
    provider: Option<usize>,
    publisher: Option<usize>,
    issuer: Option<usize>,
    pricing_currency: Option<usize>,
}

impl FocusPlan {
    /// Resolves the columns of `header`, accepting pre-1.0 names.
    pub fn new(header: Header) -> Self {
        let f = |c: &[&str]| header.find(c);
        let c = Cols {
            billed: f(&["BilledCost"]),
            effective: f(&["EffectiveCost", "AmortizedCost"]),
            list: f(&["ListCost"]),
            contracted: f(&["ContractedCost"]),
            currency: f(&["BillingCurrency", "BilledCurrency"]),
            account: f(&["BillingAccountId"]),
            account_name: f(&["BillingAccountName"]),
            sub_account: f(&["SubAccountId"]),
            sub_account_name: f(&["SubAccountName"]),
            charge_start: f(&["ChargePeriodStart"]),
            charge_end: f(&["ChargePeriodEnd"]),
            period_start: f(&["BillingPeriodStart"]),
            period_end: f(&["BillingPeriodEnd"]),
            service: f(&["ServiceName"]),
            service_category: f(&["ServiceCategory"]),
            region: f(&["RegionId", "Region"]),
            region_name: f(&["RegionName"]),
            zone: f(&["AvailabilityZone"]),
            resource: f(&["ResourceId"]),
            resource_name: f(&["ResourceName"]),
            resource_type: f(&["ResourceType"]),
            sku: f(&["SkuId"]),
            sku_price: f(&["SkuPriceId"]),
            usage_type: f(&["x_UsageType", "x_SkuMeterId", "SkuMeter"]),
            category: f(&["ChargeCategory", "ChargeType"]),
            class: f(&["ChargeClass"]),
            frequency: f(&["ChargeFrequency"]),
            description: f(&["ChargeDescription"]),
            pricing_category: f(&["PricingCategory"]),
            cd_id: f(&["CommitmentDiscountId"]),
            cd_name: f(&["CommitmentDiscountName"]),
            cd_type: f(&["CommitmentDiscountType"]),
            cd_category: f(&["CommitmentDiscountCategory"]),
            cd_status: f(&["CommitmentDiscountStatus"]),
            tags: f(&["Tags"]),
            consumed_qty: f(&["ConsumedQuantity", "UsageQuantity"]),
            consumed_unit: f(&["ConsumedUnit", "UsageUnit"]),
            pricing_qty: f(&["PricingQuantity"]),
            pricing_unit: f(&["PricingUnit"]),
            invoice: f(&["InvoiceId"]),
            provider: f(&["ProviderName", "Provider"]),
            publisher: f(&["PublisherName", "Publisher"]),
            issuer: f(&["InvoiceIssuerName", "InvoiceIssuer"]),
            pricing_currency: f(&["PricingCurrency"]),
        };
        FocusPlan { header, c }
    }
}

impl Normaliser for FocusPlan {
    fn header(&self) -> &Header {
        &self.header
    }

    fn null_literals(&self) -> bool {
        true
    }

    fn emit(&self, row: &dyn Row, out: &mut Rollup) -> Result<(), FieldError> {
        let c = &self.c;
        let cell = Cell::new(&self.header);
        let t = |col: Option<usize>| cell.text(row, col);
        // ChargePeriodStart is mandatory in FOCUS: a file without the column is dated by its
        // billing period, but an empty field is an error, not a line of the period's first day.
        let start = match c.charge_start {
            Some(_) => cell.ts_req(row, c.charge_start, "ChargePeriodStart")?,
            None => cell.ts_req(row, c.period_start, "ChargePeriodStart")?,
        };
        if let Some(end) = cell.ts(row, c.charge_end)? {
            crate::validate::check_charge_period(cell.name(c.charge_end.unwrap_or(0)), start, end)?;
        }
        let currency = t(c.currency).unwrap_or("USD");
        let provider = t(c.provider).unwrap_or("Unknown");
        let account = t(c.account).unwrap_or("unknown");
        let mut l =
            CostLine::new(Cow::Borrowed(provider), Cow::Borrowed(account), start.date(), Cow::Borrowed(currency));
        if let Some(s) = cell.ts(row, c.period_start)? {
            l.billing_period_start = s.date();
            l.billing_period_end = valdrix_core::time::next_month_start(s.date());
        }
        if let Some(e) = cell.ts(row, c.period_end)? {
            l.billing_period_end = e.date();
        }
        l.billing_account_name = t(c.account_name).map(Cow::Borrowed);
        l.sub_account_id = t(c.sub_account).map(Cow::Borrowed);
        l.sub_account_name = t(c.sub_account_name).map(Cow::Borrowed);
        l.service_name = Cow::Borrowed(t(c.service).unwrap_or("Unknown"));
        l.service_category = Some(t(c.service_category).and_then(service_category).unwrap_or("Other"));
        l.region_id = t(c.region).map(Cow::Borrowed);
        l.region_name = t(c.region_name).map(Cow::Borrowed);
        l.availability_zone = t(c.zone).map(Cow::Borrowed);
        l.resource_id = t(c.resource).map(Cow::Borrowed);
        l.resource_name = t(c.resource_name).map(Cow::Borrowed);
        l.resource_type = t(c.resource_type).map(Cow::Borrowed);
        l.sku_id = t(c.sku).map(Cow::Borrowed);
        l.sku_price_id = t(c.sku_price).map(Cow::Borrowed);
        l.usage_type = t(c.usage_type).or(t(c.sku_price)).or(t(c.sku)).map(Cow::Borrowed);
        l.charge_category = match t(c.category) {
            None => ChargeCategory::Usage,
            Some(v) => ChargeCategory::parse(v).ok_or_else(|| {
                FieldError::new(
                    cell.name(c.category.unwrap_or(0)),
                    format!("unknown ChargeCategory {v:?} (expected Usage, Purchase, Tax, Credit or Adjustment)"),
                )
            })?,
        };
        l.correction = t(c.class).is_some_and(|v| v.eq_ignore_ascii_case("correction"));
        l.charge_frequency = t(c.frequency).and_then(frequency::normalise);
        l.charge_description = t(c.description).map(Cow::Borrowed);
        l.pricing_category = t(c.pricing_category).and_then(pricing::normalise);
        l.commitment_discount_id = t(c.cd_id).map(Cow::Borrowed);
        l.commitment_discount_name = t(c.cd_name).map(Cow::Borrowed);
        l.commitment_discount_type = t(c.cd_type).map(Cow::Borrowed);
        l.commitment_discount_category = t(c.cd_category).and_then(|v| match v.to_ascii_lowercase().as_str() {
            "spend" => Some("Spend"),
            "usage" => Some("Usage"),
            _ => None,
        });
        l.commitment_discount_status = t(c.cd_status).and_then(|v| match v.to_ascii_lowercase().as_str() {
            "used" => Some("Used"),
            "unused" => Some("Unused"),
            _ => None,
        });
        l.tags = cell.pairs(row, c.tags)?;
        l.billed_cost = cell.dec_req(row, c.billed)?;
        l.effective_cost = match cell.dec(row, c.effective)? {
            Some(v) => v,
            None => l.billed_cost,
        };
        l.list_cost = cell.dec(row, c.list)?.unwrap_or(l.billed_cost);
        l.contracted_cost = cell.dec(row, c.contracted)?.unwrap_or(l.billed_cost);
        l.consumed_quantity = cell.dec(row, c.consumed_qty)?;
        l.consumed_unit = l.consumed_quantity.and(t(c.consumed_unit).map(Cow::Borrowed));
        l.pricing_quantity = cell.dec(row, c.pricing_qty)?;
        l.pricing_unit = l.pricing_quantity.and(t(c.pricing_unit).map(Cow::Borrowed));
        l.invoice_id = t(c.invoice).map(Cow::Borrowed);
        l.publisher = t(c.publisher).map(Cow::Borrowed);
        l.invoice_issuer = t(c.issuer).map(Cow::Borrowed);
        l.pricing_currency = t(c.pricing_currency).filter(|p| !p.eq_ignore_ascii_case(currency)).map(Cow::Borrowed);
        out.add(l)
    }
}
