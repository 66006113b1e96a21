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
use crate::table::{Cell, Header, Row};
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
enum TagColumn {
    /// A single tag per column with a fixed key.
    Single(usize, String),
    /// A map column (CUR 2.0 `resource_tags`).
    Map(usize),
}

/// The resolved columns of one AWS file.
pub struct AwsPlan {
    header: Header,
    cols: Vec<Option<usize>>,
    tags: Vec<TagColumn>,
    product_map: Option<usize>,
}

const COLUMNS: &[&str] = &[
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
    "line_item_net_unblended_cost",
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
];

// Positions in COLUMNS: the hot path indexes an array instead of hashing names.
const BILL_PAYER_ACCOUNT_ID: usize = 0;
const BILL_PAYER_ACCOUNT_NAME: usize = 1;
const BILL_BILLING_PERIOD_START_DATE: usize = 2;
const BILL_BILLING_PERIOD_END_DATE: usize = 3;
const BILL_INVOICE_ID: usize = 4;
const BILL_BILLING_ENTITY: usize = 5;
const LINE_ITEM_USAGE_ACCOUNT_ID: usize = 6;
const LINE_ITEM_USAGE_ACCOUNT_NAME: usize = 7;
const LINE_ITEM_LINE_ITEM_TYPE: usize = 8;
const LINE_ITEM_USAGE_START_DATE: usize = 9;
const LINE_ITEM_PRODUCT_CODE: usize = 10;
const LINE_ITEM_USAGE_TYPE: usize = 11;
const LINE_ITEM_AVAILABILITY_ZONE: usize = 12;
const LINE_ITEM_RESOURCE_ID: usize = 13;
const LINE_ITEM_USAGE_AMOUNT: usize = 14;
const LINE_ITEM_CURRENCY_CODE: usize = 15;
const LINE_ITEM_UNBLENDED_COST: usize = 16;
const LINE_ITEM_NET_UNBLENDED_COST: usize = 17;
const LINE_ITEM_LINE_ITEM_DESCRIPTION: usize = 18;
const LINE_ITEM_LEGAL_ENTITY: usize = 19;
const PRODUCT_PRODUCT_NAME: usize = 20;
const PRODUCT_SERVICENAME: usize = 21;
const PRODUCT_REGION_CODE: usize = 22;
const PRODUCT_REGION: usize = 23;
const PRODUCT_LOCATION: usize = 24;
const PRODUCT_SKU: usize = 25;
const PRODUCT_PRODUCT_FAMILY: usize = 26;
const PRICING_PUBLIC_ON_DEMAND_COST: usize = 27;
const PRICING_TERM: usize = 28;
const PRICING_UNIT: usize = 29;
const PRICING_RATE_ID: usize = 30;
const PRICING_RATE_CODE: usize = 31;
const RESERVATION_RESERVATION_A_R_N: usize = 32;
const RESERVATION_EFFECTIVE_COST: usize = 33;
const RESERVATION_NET_EFFECTIVE_COST: usize = 34;
const RESERVATION_UNUSED_AMORTIZED_UPFRONT_FEE_FOR_BILLING_PERIOD: usize = 35;
const RESERVATION_NET_UNUSED_AMORTIZED_UPFRONT_FEE_FOR_BILLING_PERIOD: usize = 36;
const RESERVATION_UNUSED_RECURRING_FEE: usize = 37;
const RESERVATION_NET_UNUSED_RECURRING_FEE: usize = 38;
const SAVINGS_PLAN_SAVINGS_PLAN_A_R_N: usize = 39;
const SAVINGS_PLAN_SAVINGS_PLAN_EFFECTIVE_COST: usize = 40;
const SAVINGS_PLAN_NET_SAVINGS_PLAN_EFFECTIVE_COST: usize = 41;
const SAVINGS_PLAN_TOTAL_COMMITMENT_TO_DATE: usize = 42;
const SAVINGS_PLAN_USED_COMMITMENT: usize = 43;

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
                tags.push(TagColumn::Single(i, snake_tag_key(key)));
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

    fn c(&self, col: usize) -> Option<usize> {
        self.cols[col]
    }
}

/// `user_cost_center` → `cost_center`; `aws_created_by` → `aws:created_by`.
fn snake_tag_key(key: &str) -> String {
    if let Some(k) = key.strip_prefix("user_") {
        k.to_string()
    } else if let Some(k) = key.strip_prefix("aws_") {
        format!("aws:{k}")
    } else {
        key.to_string()
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

    fn emit(&self, row: &dyn Row, out: &mut Rollup) -> Result<(), FieldError> {
        let cell = Cell::new(&self.header);
        let t = |name| cell.text(row, self.c(name));
        let start = cell.ts_req(row, self.c(LINE_ITEM_USAGE_START_DATE), "line_item_usage_start_date")?;
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

        let unblended = cell.dec0(row, self.c(LINE_ITEM_UNBLENDED_COST))?;
        let net_unblended = cell.dec(row, self.c(LINE_ITEM_NET_UNBLENDED_COST))?;
        let list = cell.dec(row, self.c(PRICING_PUBLIC_ON_DEMAND_COST))?;
        let amount = cell.dec(row, self.c(LINE_ITEM_USAGE_AMOUNT))?;
        let item_type = t(LINE_ITEM_LINE_ITEM_TYPE).unwrap_or("Usage");
        let ri_arn = t(RESERVATION_RESERVATION_A_R_N);
        let sp_arn = t(SAVINGS_PLAN_SAVINGS_PLAN_A_R_N);
        // Net variants apply EDP and private-rate discounts when the export carries them.
        let net_or = |net: usize, gross: usize| -> Result<Decimal, FieldError> {
            match cell.dec(row, self.c(net))? {
                Some(v) => Ok(v),
                None => cell.dec0(row, self.c(gross)),
            }
        };
        let _ = net_unblended; // BilledCost is the invoice (unblended) amount; net is kept for EffectiveCost.
        l.billed_cost = unblended;
        l.list_cost = list.unwrap_or(Decimal::ZERO);
        let spot = t(PRICING_TERM).is_some_and(|s| s.eq_ignore_ascii_case("spot"));
        let standard = if spot { pricing::DYNAMIC } else { pricing::STANDARD };

        let (category, effective) = match item_type {
            "Usage" => {
                l.pricing_category = Some(standard);
                l.charge_frequency = Some(frequency::USAGE_BASED);
                (ChargeCategory::Usage, unblended)
            }
            "DiscountedUsage" => {
                self.reservation(&mut l, ri_arn);
                l.commitment_discount_status = Some("Used");
                l.pricing_category = Some(pricing::COMMITTED);
                l.charge_frequency = Some(frequency::USAGE_BASED);
                (ChargeCategory::Usage, net_or(RESERVATION_NET_EFFECTIVE_COST, RESERVATION_EFFECTIVE_COST)?)
            }
            "SavingsPlanCoveredUsage" => {
                self.savings_plan(&mut l, sp_arn);
                l.commitment_discount_status = Some("Used");
                l.pricing_category = Some(pricing::COMMITTED);
                l.charge_frequency = Some(frequency::USAGE_BASED);
                (
                    ChargeCategory::Usage,
                    net_or(SAVINGS_PLAN_NET_SAVINGS_PLAN_EFFECTIVE_COST, SAVINGS_PLAN_SAVINGS_PLAN_EFFECTIVE_COST)?,
                )
            }
            "SavingsPlanNegation" => {
                self.savings_plan(&mut l, sp_arn);
                l.commitment_discount_status = Some("Used");
                l.pricing_category = Some(pricing::COMMITTED);
                l.charge_frequency = Some(frequency::USAGE_BASED);
                (ChargeCategory::Usage, Decimal::ZERO)
            }
            "RIFee" => {
                self.reservation(&mut l, ri_arn);
                l.pricing_category = Some(pricing::STANDARD);
                l.charge_frequency = Some(frequency::RECURRING);
                let unused = net_or(
                    RESERVATION_NET_UNUSED_AMORTIZED_UPFRONT_FEE_FOR_BILLING_PERIOD,
                    RESERVATION_UNUSED_AMORTIZED_UPFRONT_FEE_FOR_BILLING_PERIOD,
                )? + net_or(RESERVATION_NET_UNUSED_RECURRING_FEE, RESERVATION_UNUSED_RECURRING_FEE)?;
                (ChargeCategory::Purchase, unused)
            }
            "SavingsPlanRecurringFee" => {
                self.savings_plan(&mut l, sp_arn);
                l.pricing_category = Some(pricing::STANDARD);
                l.charge_frequency = Some(frequency::RECURRING);
                let total = cell.dec0(row, self.c(SAVINGS_PLAN_TOTAL_COMMITMENT_TO_DATE))?;
                let used = cell.dec0(row, self.c(SAVINGS_PLAN_USED_COMMITMENT))?;
                (ChargeCategory::Purchase, total - used)
            }
            "SavingsPlanUpfrontFee" => {
                self.savings_plan(&mut l, sp_arn);
                l.pricing_category = Some(pricing::STANDARD);
                l.charge_frequency = Some(frequency::ONE_TIME);
                (ChargeCategory::Purchase, Decimal::ZERO)
            }
            "Fee" => {
                l.pricing_category = Some(pricing::STANDARD);
                l.charge_frequency = Some(frequency::ONE_TIME);
                if ri_arn.is_some() {
                    // An upfront reservation fee: amortised through DiscountedUsage instead.
                    self.reservation(&mut l, ri_arn);
                    (ChargeCategory::Purchase, Decimal::ZERO)
                } else {
                    (ChargeCategory::Purchase, unblended)
                }
            }
            "Tax" => {
                l.charge_frequency = Some(frequency::RECURRING);
                (ChargeCategory::Tax, unblended)
            }
            "Refund" => {
                l.correction = true;
                l.charge_frequency = Some(frequency::ONE_TIME);
                (ChargeCategory::Credit, unblended)
            }
            "Credit"
            | "BundledDiscount"
            | "EdpDiscount"
            | "PrivateRateDiscount"
            | "Discount"
            | "DistributorDiscount"
            | "SppDiscount" => {
                l.charge_frequency = Some(frequency::ONE_TIME);
                (ChargeCategory::Credit, unblended)
            }
            _ => {
                l.charge_frequency = Some(frequency::ONE_TIME);
                (ChargeCategory::Adjustment, unblended)
            }
        };
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
                        let key = match &k {
                            Cow::Borrowed(s) => Cow::Owned(snake_tag_key(s)),
                            Cow::Owned(s) => Cow::Owned(snake_tag_key(s)),
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

impl AwsPlan {
    fn reservation<'r>(&self, l: &mut CostLine<'r>, arn: Option<&'r str>) {
        if let Some(arn) = arn {
            l.commitment_discount_id = Some(Cow::Borrowed(arn));
            l.commitment_discount_type = Some(Cow::Borrowed("Reservation"));
            l.commitment_discount_category = Some("Usage");
        }
    }

    fn savings_plan<'r>(&self, l: &mut CostLine<'r>, arn: Option<&'r str>) {
        if let Some(arn) = arn {
            l.commitment_discount_id = Some(Cow::Borrowed(arn));
            l.commitment_discount_type = Some(Cow::Borrowed("Savings Plan"));
            l.commitment_discount_category = Some("Spend");
        }
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
