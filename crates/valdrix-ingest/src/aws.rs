//! AWS Cost and Usage Report: legacy CSV (`lineItem/UnblendedCost`), legacy Parquet and Athena
//! CSV (`line_item_unblended_cost`, `resource_tags_user_*`), and CUR 2.0 (Data Exports) with its
//! `product`, `resource_tags`, `cost_category` and `discount` map columns.
//!
//! Every header spelling is reduced to the snake_case name Athena uses, so one column plan serves
//! all three layouts. Amounts follow AWS's own definitions (BILLING_FORMATS.md §2.4).

use rust_decimal::Decimal;
use rustc_hash::FxHashMap;
use std::borrow::Cow;

use valdrix_core::focus::{frequency, pricing};
use valdrix_core::{ChargeCategory, CostLine};

use crate::error::FieldError;
use crate::mapping::aws_service_category;
use crate::rollup::Rollup;
use crate::table::{BatchView, Cell, Header, Row};
use crate::Normaliser;

/// Converts a legacy CSV header (`lineItem/UnblendedCost`, `reservation/ReservationARN`) to the
/// Athena name (`line_item_unblended_cost`, `reservation_reservation_a_r_n`): every capital letter
/// starts a new word.
pub fn athena_name(header: &str) -> String {
    let mut out = String::with_capacity(header.len() + 8);
    for part in header.split('/') {
        if !out.is_empty() {
            out.push('_');
        }
        for (i, ch) in part.chars().enumerate() {
            if ch.is_ascii_uppercase() {
                if i > 0 && !out.ends_with('_') {
                    out.push('_');
                }
                out.push(ch.to_ascii_lowercase());
            } else {
                out.push(ch);
            }
        }
    }
    out
}

/// Where a tag column's key comes from.
pub(crate) enum TagColumn {
    /// A single tag per column with a fixed key.
    Single(usize, String),
    /// A map column (CUR 2.0 `resource_tags`).
    Map(usize),
}

/// The resolved columns of one AWS file.
pub struct AwsPlan {
    pub(crate) header: Header,
    pub(crate) cols: Vec<Option<usize>>,
    pub(crate) tags: Vec<TagColumn>,
    pub(crate) product_map: Option<usize>,
}

pub(crate) const COLUMNS: &[&str] = &[
    "bill_payer_account_id",
    "bill_payer_account_name",
    "bill_billing_period_start_date",
    "bill_billing_period_end_date",
    "bill_invoice_id",
    "bill_billing_entity",
    "line_item_usage_account_id",
    "line_item_usage_account_name",
    "line_item_line_item_type",
    "line_item_usage_start_date",
    "line_item_product_code",
    "line_item_usage_type",
    "line_item_availability_zone",
    "line_item_resource_id",
    "line_item_usage_amount",
    "line_item_currency_code",
    "line_item_unblended_cost",
    "line_item_line_item_description",
    "line_item_legal_entity",
    "product_product_name",
    "product_servicename",
    "product_region_code",
    "product_region",
    "product_location",
    "product_sku",
    "product_product_family",
    "pricing_public_on_demand_cost",
    "pricing_term",
    "pricing_unit",
    "pricing_rate_id",
    "pricing_rate_code",
    "reservation_reservation_a_r_n",
    "reservation_effective_cost",
    "reservation_net_effective_cost",
    "reservation_unused_amortized_upfront_fee_for_billing_period",
    "reservation_net_unused_amortized_upfront_fee_for_billing_period",
    "reservation_unused_recurring_fee",
    "reservation_net_unused_recurring_fee",
    "savings_plan_savings_plan_a_r_n",
    "savings_plan_savings_plan_effective_cost",
    "savings_plan_net_savings_plan_effective_cost",
    "savings_plan_total_commitment_to_date",
    "savings_plan_used_commitment",
    "line_item_usage_end_date",
];

// Positions in COLUMNS: the hot path indexes an array instead of hashing names.
pub(crate) const BILL_PAYER_ACCOUNT_ID: usize = 0;
pub(crate) const BILL_PAYER_ACCOUNT_NAME: usize = 1;
pub(crate) const BILL_BILLING_PERIOD_START_DATE: usize = 2;
pub(crate) const BILL_BILLING_PERIOD_END_DATE: usize = 3;
pub(crate) const BILL_INVOICE_ID: usize = 4;
pub(crate) const BILL_BILLING_ENTITY: usize = 5;
pub(crate) const LINE_ITEM_USAGE_ACCOUNT_ID: usize = 6;
pub(crate) const LINE_ITEM_USAGE_ACCOUNT_NAME: usize = 7;
pub(crate) const LINE_ITEM_LINE_ITEM_TYPE: usize = 8;
pub(crate) const LINE_ITEM_USAGE_START_DATE: usize = 9;
pub(crate) const LINE_ITEM_PRODUCT_CODE: usize = 10;
pub(crate) const LINE_ITEM_USAGE_TYPE: usize = 11;
pub(crate) const LINE_ITEM_AVAILABILITY_ZONE: usize = 12;
pub(crate) const LINE_ITEM_RESOURCE_ID: usize = 13;
pub(crate) const LINE_ITEM_USAGE_AMOUNT: usize = 14;
pub(crate) const LINE_ITEM_CURRENCY_CODE: usize = 15;
pub(crate) const LINE_ITEM_UNBLENDED_COST: usize = 16;
pub(crate) const LINE_ITEM_LINE_ITEM_DESCRIPTION: usize = 17;
pub(crate) const LINE_ITEM_LEGAL_ENTITY: usize = 18;
pub(crate) const PRODUCT_PRODUCT_NAME: usize = 19;
pub(crate) const PRODUCT_SERVICENAME: usize = 20;
pub(crate) const PRODUCT_REGION_CODE: usize = 21;
pub(crate) const PRODUCT_REGION: usize = 22;
pub(crate) const PRODUCT_LOCATION: usize = 23;
pub(crate) const PRODUCT_SKU: usize = 24;
pub(crate) const PRODUCT_PRODUCT_FAMILY: usize = 25;
pub(crate) const PRICING_PUBLIC_ON_DEMAND_COST: usize = 26;
pub(crate) const PRICING_TERM: usize = 27;
pub(crate) const PRICING_UNIT: usize = 28;
pub(crate) const PRICING_RATE_ID: usize = 29;
pub(crate) const PRICING_RATE_CODE: usize = 30;
pub(crate) const RESERVATION_RESERVATION_A_R_N: usize = 31;
pub(crate) const RESERVATION_EFFECTIVE_COST: usize = 32;
pub(crate) const RESERVATION_NET_EFFECTIVE_COST: usize = 33;
pub(crate) const RESERVATION_UNUSED_AMORTIZED_UPFRONT_FEE_FOR_BILLING_PERIOD: usize = 34;
pub(crate) const RESERVATION_NET_UNUSED_AMORTIZED_UPFRONT_FEE_FOR_BILLING_PERIOD: usize = 35;
pub(crate) const RESERVATION_UNUSED_RECURRING_FEE: usize = 36;
pub(crate) const RESERVATION_NET_UNUSED_RECURRING_FEE: usize = 37;
pub(crate) const SAVINGS_PLAN_SAVINGS_PLAN_A_R_N: usize = 38;
pub(crate) const SAVINGS_PLAN_SAVINGS_PLAN_EFFECTIVE_COST: usize = 39;
pub(crate) const SAVINGS_PLAN_NET_SAVINGS_PLAN_EFFECTIVE_COST: usize = 40;
pub(crate) const SAVINGS_PLAN_TOTAL_COMMITMENT_TO_DATE: usize = 41;
pub(crate) const SAVINGS_PLAN_USED_COMMITMENT: usize = 42;
pub(crate) const LINE_ITEM_USAGE_END_DATE: usize = 43;

/// Whether a header looks like an AWS CUR in any layout.
pub fn detect(header: &Header) -> bool {
    header.names().iter().any(|n| {
        let a = athena_name(n);
        a == "line_item_unblended_cost" || a == "line_item_line_item_type"
    })
}

/// Whether the header is CUR 2.0 (Data Exports): snake_case with the `product` map column.
pub fn is_cur2(header: &Header) -> bool {
    header.has(&["product"]) && header.has(&["line_item_unblended_cost"])
}

impl AwsPlan {
    /// Resolves the columns of `header`.
    pub fn new(header: Header) -> Self {
        let mut by_athena: FxHashMap<String, usize> = FxHashMap::default();
        let mut tags = Vec::new();
        for (i, n) in header.names().iter().enumerate() {
            if let Some(key) = n.strip_prefix("resourceTags/") {
                let key = key.strip_prefix("user:").unwrap_or(key);
                tags.push(TagColumn::Single(i, key.to_string()));
                continue;
            }
            if let Some(key) = n.strip_prefix("resource_tags_") {
                tags.push(TagColumn::Single(i, snake_tag_key(key).into_owned()));
                continue;
            }
            if n == "resource_tags" {
                tags.push(TagColumn::Map(i));
                continue;
            }
            by_athena.entry(athena_name(n)).or_insert(i);
        }
        let cols = COLUMNS.iter().map(|c| by_athena.get(*c).copied()).collect();
        let product_map = header.find(&["product"]);
        AwsPlan { header, cols, tags, product_map }
    }

    pub(crate) fn c(&self, col: usize) -> Option<usize> {
        self.cols[col]
    }
}

/// `user_cost_center` → `cost_center`; `aws_created_by` → `aws:created_by`.
pub(crate) fn snake_tag_key(key: &str) -> Cow<'_, str> {
    if let Some(k) = key.strip_prefix("user_") {
        Cow::Borrowed(k)
    } else if let Some(k) = key.strip_prefix("aws_") {
        Cow::Owned(format!("aws:{k}"))
    } else {
        Cow::Borrowed(key)
    }
}

/// `pricing_term` values that mean spot pricing.
pub(crate) fn is_spot(term: &str) -> bool {
    term.eq_ignore_ascii_case("spot")
}

/// The CUR `line_item_line_item_type` values Valdrix distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ItemType {
    Usage,
    DiscountedUsage,
    SavingsPlanCoveredUsage,
    SavingsPlanNegation,
    RiFee,
    SavingsPlanRecurringFee,
    SavingsPlanUpfrontFee,
    Fee,
    Tax,
    Refund,
    Credit,
    Other,
}

impl ItemType {
    pub(crate) fn parse(s: &str) -> Self {
        match s {
            "Usage" => ItemType::Usage,
            "DiscountedUsage" => ItemType::DiscountedUsage,
            "SavingsPlanCoveredUsage" => ItemType::SavingsPlanCoveredUsage,
            "SavingsPlanNegation" => ItemType::SavingsPlanNegation,
            "RIFee" => ItemType::RiFee,
            "SavingsPlanRecurringFee" => ItemType::SavingsPlanRecurringFee,
            "SavingsPlanUpfrontFee" => ItemType::SavingsPlanUpfrontFee,
            "Fee" => ItemType::Fee,
            "Tax" => ItemType::Tax,
            "Refund" => ItemType::Refund,
            "Credit"
            | "BundledDiscount"
            | "EdpDiscount"
            | "PrivateRateDiscount"
            | "Discount"
            | "DistributorDiscount"
            | "SppDiscount" => ItemType::Credit,
            _ => ItemType::Other,
        }
    }
}

/// Which commitment a line refers to (its ARN column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Commitment {
    None,
    Reservation,
    SavingsPlan,
}

impl Commitment {
    /// FOCUS `CommitmentDiscountType`.
    pub(crate) fn kind(self) -> Option<&'static str> {
        match self {
            Commitment::None => None,
            Commitment::Reservation => Some("Reservation"),
            Commitment::SavingsPlan => Some("Savings Plan"),
        }
    }

    /// FOCUS `CommitmentDiscountCategory`.
    pub(crate) fn category(self) -> Option<&'static str> {
        match self {
            Commitment::None => None,
            Commitment::Reservation => Some("Usage"),
            Commitment::SavingsPlan => Some("Spend"),
        }
    }
}

/// How a line's EffectiveCost is computed (BILLING_FORMATS.md §2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EffectiveRule {
    /// The invoice amount itself.
    Unblended,
    /// `reservation_effective_cost` (net variant first): the amortised RI cost of covered usage.
    Reservation,
    /// `savings_plan_savings_plan_effective_cost` (net first).
    SavingsPlan,
    /// Nothing: negations, and fees that are amortised through covered usage instead.
    Zero,
    /// The RI's unused amortised upfront fee plus its unused recurring fee (net first).
    ReservationUnused,
    /// The savings plan's commitment not used: total commitment to date minus used commitment.
    SavingsPlanUnused,
}

impl EffectiveRule {
    /// The EffectiveCost of a line whose invoice amount is `unblended`; `dec` reads a column of
    /// [`COLUMNS`] by position (`Ok(None)` when absent or null).
    pub(crate) fn amount(
        self,
        unblended: Decimal,
        dec: &mut dyn FnMut(usize) -> Result<Option<Decimal>, FieldError>,
    ) -> Result<Decimal, FieldError> {
        // Net variants apply EDP and private-rate discounts when the export carries them.
        let mut net_or = |net: usize, gross: usize| -> Result<Decimal, FieldError> {
            match dec(net)? {
                Some(v) => Ok(v),
                None => Ok(dec(gross)?.unwrap_or(Decimal::ZERO)),
            }
        };
        Ok(match self {
            EffectiveRule::Unblended => unblended,
            EffectiveRule::Zero => Decimal::ZERO,
            EffectiveRule::Reservation => net_or(RESERVATION_NET_EFFECTIVE_COST, RESERVATION_EFFECTIVE_COST)?,
            EffectiveRule::SavingsPlan => {
                net_or(SAVINGS_PLAN_NET_SAVINGS_PLAN_EFFECTIVE_COST, SAVINGS_PLAN_SAVINGS_PLAN_EFFECTIVE_COST)?
            }
            EffectiveRule::ReservationUnused => {
                net_or(
                    RESERVATION_NET_UNUSED_AMORTIZED_UPFRONT_FEE_FOR_BILLING_PERIOD,
                    RESERVATION_UNUSED_AMORTIZED_UPFRONT_FEE_FOR_BILLING_PERIOD,
                )? + net_or(RESERVATION_NET_UNUSED_RECURRING_FEE, RESERVATION_UNUSED_RECURRING_FEE)?
            }
            EffectiveRule::SavingsPlanUnused => {
                let total = dec(SAVINGS_PLAN_TOTAL_COMMITMENT_TO_DATE)?.unwrap_or(Decimal::ZERO);
                let used = dec(SAVINGS_PLAN_USED_COMMITMENT)?.unwrap_or(Decimal::ZERO);
                total - used
            }
        })
    }
}

/// Everything a line item type decides about a FOCUS line, before amounts: one function shared
/// by the row-at-a-time and the columnar readers so that both mean the same thing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shape {
    pub category: ChargeCategory,
    pub correction: bool,
    pub pricing: Option<&'static str>,
    pub frequency: &'static str,
    pub status: Option<&'static str>,
    pub commitment: Commitment,
    pub effective: EffectiveRule,
}

impl Shape {
    /// The shape of a line of type `item`; `has_ri` tells whether it names a reservation, `spot`
    /// whether it is priced on the spot market.
    pub(crate) fn of(item: ItemType, has_ri: bool, spot: bool) -> Shape {
        let base = Shape {
            category: ChargeCategory::Usage,
            correction: false,
            pricing: None,
            frequency: frequency::ONE_TIME,
            status: None,
            commitment: Commitment::None,
            effective: EffectiveRule::Unblended,
        };
        let covered = |commitment, effective| Shape {
            pricing: Some(pricing::COMMITTED),
            frequency: frequency::USAGE_BASED,
            status: Some("Used"),
            commitment,
            effective,
            ..base
        };
        let purchase = |frequency, commitment, effective| Shape {
            category: ChargeCategory::Purchase,
            pricing: Some(pricing::STANDARD),
            frequency,
            commitment,
            effective,
            ..base
        };
        match item {
            ItemType::Usage => Shape {
                pricing: Some(if spot { pricing::DYNAMIC } else { pricing::STANDARD }),
                frequency: frequency::USAGE_BASED,
                ..base
            },
            ItemType::DiscountedUsage => covered(Commitment::Reservation, EffectiveRule::Reservation),
            ItemType::SavingsPlanCoveredUsage => covered(Commitment::SavingsPlan, EffectiveRule::SavingsPlan),
            ItemType::SavingsPlanNegation => covered(Commitment::SavingsPlan, EffectiveRule::Zero),
            ItemType::RiFee => {
                purchase(frequency::RECURRING, Commitment::Reservation, EffectiveRule::ReservationUnused)
            }
            ItemType::SavingsPlanRecurringFee => {
                purchase(frequency::RECURRING, Commitment::SavingsPlan, EffectiveRule::SavingsPlanUnused)
            }
            ItemType::SavingsPlanUpfrontFee => {
                purchase(frequency::ONE_TIME, Commitment::SavingsPlan, EffectiveRule::Zero)
            }
            // An upfront reservation fee is amortised through DiscountedUsage instead.
            ItemType::Fee if has_ri => purchase(frequency::ONE_TIME, Commitment::Reservation, EffectiveRule::Zero),
            ItemType::Fee => purchase(frequency::ONE_TIME, Commitment::None, EffectiveRule::Unblended),
            ItemType::Tax => Shape { category: ChargeCategory::Tax, frequency: frequency::RECURRING, ..base },
            ItemType::Refund => Shape { category: ChargeCategory::Credit, correction: true, ..base },
            ItemType::Credit => Shape { category: ChargeCategory::Credit, ..base },
            ItemType::Other => Shape { category: ChargeCategory::Adjustment, ..base },
        }
    }
}

impl Normaliser for AwsPlan {
    fn header(&self) -> &Header {
        &self.header
    }

    fn columns(&self) -> Option<Vec<usize>> {
        let mut cols: Vec<usize> = self.cols.iter().flatten().copied().collect();
        cols.extend(self.product_map);
        for t in &self.tags {
            cols.push(match t {
                TagColumn::Single(i, _) | TagColumn::Map(i) => *i,
            });
        }
        Some(cols)
    }

    fn emit_batch(&self, batch: &BatchView<'_>, out: &mut Rollup) -> Option<Result<(), (usize, FieldError)>> {
        crate::aws_columnar::emit_batch(self, batch, out)
    }

    fn emit(&self, row: &dyn Row, out: &mut Rollup) -> Result<(), FieldError> {
        let cell = Cell::new(&self.header);
        let t = |name| cell.text(row, self.c(name));
        let start = cell.ts_req(row, self.c(LINE_ITEM_USAGE_START_DATE), "line_item_usage_start_date")?;
        if let Some(end) = cell.ts(row, self.c(LINE_ITEM_USAGE_END_DATE))? {
            crate::validate::check_charge_period(cell.name(self.c(LINE_ITEM_USAGE_END_DATE).unwrap_or(0)), start, end)?;
        }
        let currency = t(LINE_ITEM_CURRENCY_CODE).unwrap_or("USD");
        let payer = t(BILL_PAYER_ACCOUNT_ID).or(t(LINE_ITEM_USAGE_ACCOUNT_ID)).unwrap_or("unknown");
        let mut l = CostLine::new(Cow::Borrowed("AWS"), Cow::Borrowed(payer), start.date(), Cow::Borrowed(currency));
        if let Some(bp) = cell.ts(row, self.c(BILL_BILLING_PERIOD_START_DATE))? {
            l.billing_period_start = bp.date();
            l.billing_period_end = valdrix_core::time::next_month_start(bp.date());
        }
        if let Some(bpe) = cell.ts(row, self.c(BILL_BILLING_PERIOD_END_DATE))? {
            // Some exports write the end as the last second of the month.
            let d = bpe.date();
            l.billing_period_end = if bpe.time() == chrono::NaiveTime::MIN { d } else { d.succ_opt().unwrap_or(d) };
        }
        l.billing_account_name = t(BILL_PAYER_ACCOUNT_NAME).map(Cow::Borrowed);
        l.sub_account_id = t(LINE_ITEM_USAGE_ACCOUNT_ID).map(Cow::Borrowed);
        l.sub_account_name = t(LINE_ITEM_USAGE_ACCOUNT_NAME).map(Cow::Borrowed);
        l.invoice_id = t(BILL_INVOICE_ID).map(Cow::Borrowed);
        l.publisher = t(LINE_ITEM_LEGAL_ENTITY).or(t(BILL_BILLING_ENTITY)).map(Cow::Borrowed);
        // AWS issues the invoice, Marketplace purchases included; the seller is the publisher.
        l.invoice_issuer = Some(Cow::Borrowed("AWS"));

        let product_pairs = cell.pairs(row, self.product_map)?;
        let from_product = |key: &str| -> Option<Cow<'_, str>> {
            product_pairs.iter().find(|(k, v)| k == key && !v.trim().is_empty()).map(|(_, v)| v.clone())
        };
        let code = t(LINE_ITEM_PRODUCT_CODE);
        l.service_name = t(PRODUCT_PRODUCT_NAME)
            .map(Cow::Borrowed)
            .or_else(|| from_product("product_name"))
            .or(t(PRODUCT_SERVICENAME).map(Cow::Borrowed))
            .or(code.map(Cow::Borrowed))
            .unwrap_or(Cow::Borrowed("Unknown"));
        l.service_code = code.map(Cow::Borrowed);
        l.service_category = Some(aws_service_category(code.unwrap_or("")));
        l.region_id = t(PRODUCT_REGION_CODE)
            .or(t(PRODUCT_REGION))
            .map(Cow::Borrowed)
            .or_else(|| from_product("region"))
            .or_else(|| from_product("region_code"));
        l.region_name = t(PRODUCT_LOCATION).map(Cow::Borrowed).or_else(|| from_product("location"));
        if l.region_id.is_none() {
            l.region_name = None;
        }
        l.availability_zone = t(LINE_ITEM_AVAILABILITY_ZONE).map(Cow::Borrowed);
        l.resource_id = t(LINE_ITEM_RESOURCE_ID).map(Cow::Borrowed);
        l.resource_type = l.resource_id.as_ref().and(t(PRODUCT_PRODUCT_FAMILY)).map(Cow::Borrowed);
        l.sku_id = t(PRODUCT_SKU).map(Cow::Borrowed);
        l.sku_price_id = t(PRICING_RATE_CODE).or(t(PRICING_RATE_ID)).map(Cow::Borrowed);
        l.usage_type = t(LINE_ITEM_USAGE_TYPE).map(Cow::Borrowed);
        l.charge_description = t(LINE_ITEM_LINE_ITEM_DESCRIPTION).map(Cow::Borrowed);

        let unblended = cell.dec_req(row, self.c(LINE_ITEM_UNBLENDED_COST))?;
        let list = cell.dec(row, self.c(PRICING_PUBLIC_ON_DEMAND_COST))?;
        let amount = cell.dec(row, self.c(LINE_ITEM_USAGE_AMOUNT))?;
        let ri_arn = t(RESERVATION_RESERVATION_A_R_N);
        let sp_arn = t(SAVINGS_PLAN_SAVINGS_PLAN_A_R_N);
        let spot = t(PRICING_TERM).is_some_and(is_spot);
        let shape = Shape::of(ItemType::parse(t(LINE_ITEM_LINE_ITEM_TYPE).unwrap_or("Usage")), ri_arn.is_some(), spot);
        l.billed_cost = unblended;
        l.list_cost = list.unwrap_or(Decimal::ZERO);
        l.pricing_category = shape.pricing;
        l.charge_frequency = Some(shape.frequency);
        l.commitment_discount_status = shape.status;
        l.correction = shape.correction;
        let arn = match shape.commitment {
            Commitment::None => None,
            Commitment::Reservation => ri_arn,
            Commitment::SavingsPlan => sp_arn,
        };
        if let Some(arn) = arn {
            l.commitment_discount_id = Some(Cow::Borrowed(arn));
            l.commitment_discount_type = shape.commitment.kind().map(Cow::Borrowed);
            l.commitment_discount_category = shape.commitment.category();
        }
        let category = shape.category;
        let effective = shape.effective.amount(unblended, &mut |c| cell.dec(row, self.c(c)))?;
        l.charge_category = category;
        l.effective_cost = effective;
        l.contracted_cost = match category {
            ChargeCategory::Usage => list.unwrap_or(unblended),
            _ => unblended,
        };
        // FOCUS puts a commitment's unused share on a Usage row of its own with status Unused and
        // keeps the purchase row's EffectiveCost at 0: split the RIFee / recurring-fee line so.
        let unused_share = (category == ChargeCategory::Purchase && !effective.is_zero()).then(|| {
            let mut u = l.clone();
            u.charge_category = ChargeCategory::Usage;
            u.charge_frequency = Some(frequency::USAGE_BASED);
            u.pricing_category = Some(pricing::COMMITTED);
            u.commitment_discount_status = Some("Unused");
            u.billed_cost = Decimal::ZERO;
            u.effective_cost = effective;
            u.list_cost = Decimal::ZERO;
            u.contracted_cost = Decimal::ZERO;
            u
        });
        if unused_share.is_some() {
            l.effective_cost = Decimal::ZERO;
        }
        if matches!(category, ChargeCategory::Usage | ChargeCategory::Purchase) {
            l.consumed_quantity = amount;
            l.pricing_quantity = amount;
            if amount.is_some() {
                let unit = t(PRICING_UNIT).map(valdrix_core::units::focus_unit);
                l.consumed_unit = unit.clone().or(Some(Cow::Borrowed("Units")));
                l.pricing_unit = l.consumed_unit.clone();
            }
        }
        for tc in &self.tags {
            match tc {
                TagColumn::Single(i, key) => {
                    if let Some(v) = row.text(*i) {
                        l.tags.push((Cow::Borrowed(key.as_str()), Cow::Borrowed(v)));
                    }
                }
                TagColumn::Map(i) => {
                    for (k, v) in cell.pairs(row, Some(*i))? {
                        if v.trim().is_empty() {
                            continue;
                        }
                        let key = match k {
                            Cow::Borrowed(s) => snake_tag_key(s),
                            Cow::Owned(s) => Cow::Owned(snake_tag_key(&s).into_owned()),
                        };
                        l.tags.push((key, v));
                    }
                }
            }
        }
        if let Some(mut u) = unused_share {
            u.tags = l.tags.clone();
            out.add(u)?;
        }
        out.add(l)
    }
}

#[cfg(test)]
mod tests {
    use super::athena_name;

    #[test]
    fn athena_names() {
        assert_eq!(athena_name("lineItem/UnblendedCost"), "line_item_unblended_cost");
        assert_eq!(athena_name("reservation/ReservationARN"), "reservation_reservation_a_r_n");
        assert_eq!(athena_name("savingsPlan/SavingsPlanARN"), "savings_plan_savings_plan_a_r_n");
        assert_eq!(athena_name("product/instanceType"), "product_instance_type");
        assert_eq!(athena_name("line_item_unblended_cost"), "line_item_unblended_cost");
    }
}
