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
    cols: FxHashMap<&'static str, usize>,
    tags: Vec<TagColumn>,
    product_map: Option<usize>,
}

const COLUMNS: &[&str] = &[
    "bill_payer_account_id",
    "bill_payer_account_name",
    "bill_billing_period_start_date",
    "bill_billing_period_end_date",
    "bill_invoice_id",
    "bill_invoicing_entity",
    "bill_billing_entity",
    "bill_bill_type",
    "line_item_usage_account_id",
    "line_item_usage_account_name",
    "line_item_line_item_type",
    "line_item_usage_start_date",
    "line_item_product_code",
    "line_item_usage_type",
    "line_item_operation",
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
        let mut cols = FxHashMap::default();
        for c in COLUMNS {
            if let Some(&i) = by_athena.get(*c) {
                cols.insert(*c, i);
            }
        }
        let product_map = header.find(&["product"]);
        AwsPlan {
            header,
            cols,
            tags,
            product_map,
        }
    }

    fn c(&self, name: &'static str) -> Option<usize> {
        self.cols.get(name).copied()
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
        let mut cols: Vec<usize> = self.cols.values().copied().collect();
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
        let start = cell.ts_req(
            row,
            self.c("line_item_usage_start_date"),
            "line_item_usage_start_date",
        )?;
        let currency = t("line_item_currency_code").unwrap_or("USD");
        let payer = t("bill_payer_account_id")
            .or(t("line_item_usage_account_id"))
            .unwrap_or("unknown");
        let mut l = CostLine::new(
            Cow::Borrowed("AWS"),
            Cow::Borrowed(payer),
            start.date(),
            Cow::Borrowed(currency),
        );
        if let Some(bp) = cell.ts(row, self.c("bill_billing_period_start_date"))? {
            l.billing_period_start = bp.date();
            l.billing_period_end = valdrix_core::time::next_month_start(bp.date());
        }
        if let Some(bpe) = cell.ts(row, self.c("bill_billing_period_end_date"))? {
            // Some exports write the end as the last second of the month.
            let d = bpe.date();
            l.billing_period_end = if bpe.time() == chrono::NaiveTime::MIN {
                d
            } else {
                d.succ_opt().unwrap_or(d)
            };
        }
        l.billing_account_name = t("bill_payer_account_name").map(Cow::Borrowed);
        l.sub_account_id = t("line_item_usage_account_id").map(Cow::Borrowed);
        l.sub_account_name = t("line_item_usage_account_name").map(Cow::Borrowed);
        l.invoice_id = t("bill_invoice_id").map(Cow::Borrowed);
        l.publisher = t("line_item_legal_entity")
            .or(t("bill_billing_entity"))
            .map(Cow::Borrowed);
        // AWS issues the invoice, Marketplace purchases included; the seller is the publisher.
        l.invoice_issuer = Some(Cow::Borrowed("AWS"));

        let product_pairs = cell.pairs(row, self.product_map)?;
        let from_product = |key: &str| -> Option<Cow<'_, str>> {
            product_pairs
                .iter()
                .find(|(k, v)| k == key && !v.trim().is_empty())
                .map(|(_, v)| v.clone())
        };
        let code = t("line_item_product_code");
        l.service_name = t("product_product_name")
            .map(Cow::Borrowed)
            .or_else(|| from_product("product_name"))
            .or(t("product_servicename").map(Cow::Borrowed))
            .or(code.map(Cow::Borrowed))
            .unwrap_or(Cow::Borrowed("Unknown"));
        l.service_code = code.map(Cow::Borrowed);
        l.service_category = Some(aws_service_category(code.unwrap_or("")));
        l.region_id = t("product_region_code")
            .or(t("product_region"))
            .map(Cow::Borrowed)
            .or_else(|| from_product("region"))
            .or_else(|| from_product("region_code"));
        l.region_name = t("product_location")
            .map(Cow::Borrowed)
            .or_else(|| from_product("location"));
        if l.region_id.is_none() {
            l.region_name = None;
        }
        l.availability_zone = t("line_item_availability_zone").map(Cow::Borrowed);
        l.resource_id = t("line_item_resource_id").map(Cow::Borrowed);
        l.sku_id = t("product_sku").map(Cow::Borrowed);
        l.sku_price_id = t("pricing_rate_code")
            .or(t("pricing_rate_id"))
            .map(Cow::Borrowed);
        l.usage_type = t("line_item_usage_type").map(Cow::Borrowed);
        l.charge_description = t("line_item_line_item_description").map(Cow::Borrowed);

        let unblended = cell.dec0(row, self.c("line_item_unblended_cost"))?;
        let net_unblended = cell.dec(row, self.c("line_item_net_unblended_cost"))?;
        let list = cell.dec(row, self.c("pricing_public_on_demand_cost"))?;
        let amount = cell.dec(row, self.c("line_item_usage_amount"))?;
        let item_type = t("line_item_line_item_type").unwrap_or("Usage");
        let ri_arn = t("reservation_reservation_a_r_n");
        let sp_arn = t("savings_plan_savings_plan_a_r_n");
        // Net variants apply EDP and private-rate discounts when the export carries them.
        let net_or = |net: &'static str, gross: &'static str| -> Result<Decimal, FieldError> {
            match cell.dec(row, self.c(net))? {
                Some(v) => Ok(v),
                None => cell.dec0(row, self.c(gross)),
            }
        };
        let _ = net_unblended; // BilledCost is the invoice (unblended) amount; net is kept for EffectiveCost.
        l.billed_cost = unblended;
        l.list_cost = list.unwrap_or(Decimal::ZERO);
        let spot = t("pricing_term").is_some_and(|s| s.eq_ignore_ascii_case("spot"));
        let standard = if spot {
            pricing::DYNAMIC
        } else {
            pricing::STANDARD
        };

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
                (
                    ChargeCategory::Usage,
                    net_or(
                        "reservation_net_effective_cost",
                        "reservation_effective_cost",
                    )?,
                )
            }
            "SavingsPlanCoveredUsage" => {
                self.savings_plan(&mut l, sp_arn);
                l.commitment_discount_status = Some("Used");
                l.pricing_category = Some(pricing::COMMITTED);
                l.charge_frequency = Some(frequency::USAGE_BASED);
                (
                    ChargeCategory::Usage,
                    net_or(
                        "savings_plan_net_savings_plan_effective_cost",
                        "savings_plan_savings_plan_effective_cost",
                    )?,
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
                    "reservation_net_unused_amortized_upfront_fee_for_billing_period",
                    "reservation_unused_amortized_upfront_fee_for_billing_period",
                )? + net_or(
                    "reservation_net_unused_recurring_fee",
                    "reservation_unused_recurring_fee",
                )?;
                (ChargeCategory::Purchase, unused)
            }
            "SavingsPlanRecurringFee" => {
                self.savings_plan(&mut l, sp_arn);
                l.pricing_category = Some(pricing::STANDARD);
                l.charge_frequency = Some(frequency::RECURRING);
                let total = cell.dec0(row, self.c("savings_plan_total_commitment_to_date"))?;
                let used = cell.dec0(row, self.c("savings_plan_used_commitment"))?;
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
        let unused_share =
            (category == ChargeCategory::Purchase && !effective.is_zero()).then(|| {
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
                let unit = t("pricing_unit").map(valdrix_core::units::focus_unit);
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
        assert_eq!(
            athena_name("lineItem/UnblendedCost"),
            "line_item_unblended_cost"
        );
        assert_eq!(
            athena_name("reservation/ReservationARN"),
            "reservation_reservation_a_r_n"
        );
        assert_eq!(
            athena_name("savingsPlan/SavingsPlanARN"),
            "savings_plan_savings_plan_a_r_n"
        );
        assert_eq!(athena_name("product/instanceType"), "product_instance_type");
        assert_eq!(
            athena_name("line_item_unblended_cost"),
            "line_item_unblended_cost"
        );
    }
}
