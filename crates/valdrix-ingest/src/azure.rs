//! Azure Cost Management cost details: EA (PascalCase) and MCA (camelCase) layouts, actual and
//! amortized datasets, the legacy pay-as-you-go usage format, localised headers and brace-less tags.
//!
//! One rule serves both datasets without knowing which one a file is (BILLING_FORMATS.md §4):
//! commitment-covered usage and unused-commitment rows are paid for by the purchase, so their
//! BilledCost is 0 and their EffectiveCost is the row's cost; commitment purchases and refunds
//! are billed, and their EffectiveCost is 0 because the amortized rows carry it.

use rust_decimal::Decimal;
use std::borrow::Cow;

use valdrix_core::focus::{frequency, pricing};
use valdrix_core::{ChargeCategory, CostLine};

use crate::error::FieldError;
use crate::mapping::{azure_consumed_service_category, azure_region, azure_service, azure_unit};
use crate::rollup::Rollup;
use crate::table::{Cell, Header, Row};
use crate::Normaliser;

/// Whether a header looks like Azure cost details in any of its layouts.
pub fn detect(header: &Header) -> bool {
    header.has(&["MeterCategory", "meterCategory"])
        && header.has(&["Cost", "CostInBillingCurrency", "PreTaxCost", "costInBillingCurrency"])
        || header.has(&["SubscriptionGuid"]) && header.has(&["PreTaxCost"])
}

/// The resolved columns of one Azure file.
pub struct AzurePlan {
    header: Header,
    date: Option<usize>,
    cost: Option<usize>,
    currency: Option<usize>,
    billing_account: Option<usize>,
    billing_account_name: Option<usize>,
    billing_profile: Option<usize>,
    period_start: Option<usize>,
    period_end: Option<usize>,
    subscription: Option<usize>,
    subscription_name: Option<usize>,
    meter_category: Option<usize>,
    meter_id: Option<usize>,
    meter_name: Option<usize>,
    meter_region: Option<usize>,
    part_number: Option<usize>,
    product: Option<usize>,
    consumed_service: Option<usize>,
    resource_type: Option<usize>,
    resource_id: Option<usize>,
    resource_name: Option<usize>,
    location: Option<usize>,
    availability_zone: Option<usize>,
    charge_type: Option<usize>,
    pricing_model: Option<usize>,
    frequency: Option<usize>,
    benefit_id: Option<usize>,
    benefit_name: Option<usize>,
    tags: Option<usize>,
    quantity: Option<usize>,
    unit: Option<usize>,
    payg_price: Option<usize>,
    payg_cost: Option<usize>,
    unit_price: Option<usize>,
    invoice_id: Option<usize>,
    publisher: Option<usize>,
    publisher_type: Option<usize>,
    pricing_currency: Option<usize>,
}

impl AzurePlan {
    /// Resolves the columns of `header`.
    pub fn new(header: Header) -> Self {
        let f = |c: &[&str]| header.find(c);
        AzurePlan {
            date: f(&["Date", "UsageDateTime", "UsageDate"]),
            cost: f(&["CostInBillingCurrency", "Cost", "PreTaxCost"]),
            currency: f(&["BillingCurrency", "BillingCurrencyCode", "Currency"]),
            billing_account: f(&["BillingAccountId"]),
            billing_account_name: f(&["BillingAccountName"]),
            billing_profile: f(&["BillingProfileId"]),
            period_start: f(&["BillingPeriodStartDate"]),
            period_end: f(&["BillingPeriodEndDate"]),
            subscription: f(&["SubscriptionId", "SubscriptionGuid"]),
            subscription_name: f(&["SubscriptionName"]),
            meter_category: f(&["MeterCategory"]),
            meter_id: f(&["MeterId"]),
            meter_name: f(&["MeterName"]),
            meter_region: f(&["MeterRegion"]),
            part_number: f(&["PartNumber"]),
            product: f(&["ProductName", "Product"]),
            consumed_service: f(&["ConsumedService"]),
            resource_type: f(&["ResourceType"]),
            resource_id: f(&["ResourceId", "InstanceId", "InstanceName"]),
            resource_name: f(&["ResourceName"]),
            location: f(&["ResourceLocation", "Location"]),
            availability_zone: f(&["AvailabilityZone"]),
            charge_type: f(&["ChargeType"]),
            pricing_model: f(&["PricingModel"]),
            frequency: f(&["Frequency"]),
            benefit_id: f(&["benefitId", "ReservationId"]),
            benefit_name: f(&["benefitName", "ReservationName"]),
            tags: f(&["Tags"]),
            quantity: f(&["Quantity", "UsageQuantity"]),
            unit: f(&["UnitOfMeasure"]),
            payg_price: f(&["PayGPrice"]),
            payg_cost: f(&["paygCostInBillingCurrency"]),
            unit_price: f(&["UnitPrice"]),
            invoice_id: f(&["InvoiceId"]),
            publisher: f(&["PublisherName"]),
            publisher_type: f(&["PublisherType"]),
            pricing_currency: f(&["PricingCurrency"]),
            header,
        }
    }
}

/// `microsoft.compute/virtualmachinescalesets` from a full ARM resource id.
fn resource_type_of(id: &str) -> Option<String> {
    let lower = id.to_ascii_lowercase();
    let pos = lower.rfind("/providers/")?;
    let parts: Vec<&str> = lower[pos + "/providers/".len()..].split('/').collect();
    if parts.len() >= 2 {
        Some(format!("{}/{}", parts[0], parts[1]))
    } else {
        None
    }
}

/// ARM ids differ only in casing between rows; FOCUS wants one id per resource.
fn lower<'r>(s: &'r str) -> Cow<'r, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(s.to_ascii_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

impl Normaliser for AzurePlan {
    fn header(&self) -> &Header {
        &self.header
    }

    fn emit(&self, row: &dyn Row, out: &mut Rollup) -> Result<(), FieldError> {
        let cell = Cell::new(&self.header);
        let t = |c: Option<usize>| cell.text(row, c);
        let date = cell.ts_req(row, self.date, "Date")?.date();
        let currency = t(self.currency).unwrap_or("USD");
        let subscription = t(self.subscription);
        let account = t(self.billing_account).or(t(self.billing_profile)).or(subscription).unwrap_or("unknown");
        let mut l = CostLine::new(Cow::Borrowed("Microsoft"), Cow::Borrowed(account), date, Cow::Borrowed(currency));
        if let Some(s) = cell.ts(row, self.period_start)? {
            l.billing_period_start = s.date();
            l.billing_period_end = valdrix_core::time::next_month_start(s.date());
        }
        if let Some(e) = cell.ts(row, self.period_end)? {
            // Azure writes the inclusive last day; FOCUS ends are exclusive.
            l.billing_period_end = e.date().succ_opt().unwrap_or(e.date());
        }
        l.billing_account_name = t(self.billing_account_name).map(Cow::Borrowed);
        l.sub_account_id = subscription.map(Cow::Borrowed);
        l.sub_account_name = t(self.subscription_name).map(Cow::Borrowed);
        l.invoice_id = t(self.invoice_id).map(Cow::Borrowed);
        l.publisher = Some(Cow::Borrowed(t(self.publisher).unwrap_or("Microsoft")));
        l.invoice_issuer = Some(Cow::Borrowed("Microsoft"));
        l.pricing_currency = t(self.pricing_currency).filter(|p| !p.eq_ignore_ascii_case(currency)).map(Cow::Borrowed);

        let resource_id = t(self.resource_id);
        let consumed = t(self.consumed_service).unwrap_or("");
        let rtype = t(self.resource_type).map(str::to_string).or_else(|| resource_id.and_then(resource_type_of));
        let svc = azure_service(consumed, rtype.as_deref().unwrap_or(""));
        let meter_category = t(self.meter_category);
        l.service_name = match (svc, meter_category) {
            (Some(s), _) => Cow::Borrowed(s.name),
            (None, Some(m)) => Cow::Borrowed(m),
            (None, None) if !consumed.is_empty() => Cow::Borrowed(consumed),
            _ => Cow::Borrowed("Unknown"),
        };
        l.service_category =
            Some(svc.map(|s| s.category).or_else(|| azure_consumed_service_category(consumed)).unwrap_or("Other"));
        l.service_code = Some(Cow::Borrowed(consumed));
        if let Some(raw) = t(self.location).or(t(self.meter_region)) {
            match azure_region(raw) {
                Some((id, name)) => {
                    l.region_id = Some(Cow::Borrowed(id));
                    l.region_name = Some(Cow::Borrowed(name));
                }
                None if !raw.eq_ignore_ascii_case("unassigned") => {
                    l.region_id = Some(lower(raw));
                    l.region_name = Some(Cow::Borrowed(raw));
                }
                None => {}
            }
        }
        l.availability_zone = t(self.availability_zone).map(Cow::Borrowed);
        l.resource_id = resource_id.map(lower);
        l.resource_name = t(self.resource_name)
            .or_else(|| resource_id.and_then(|id| id.rsplit('/').next()).filter(|s| !s.is_empty()))
            .map(Cow::Borrowed);
        l.resource_type = rtype.map(Cow::Owned);
        l.sku_id = t(self.part_number).or(t(self.meter_id)).map(Cow::Borrowed);
        l.sku_price_id = t(self.meter_id).map(Cow::Borrowed);
        l.usage_type = t(self.meter_id).or(t(self.meter_name)).map(Cow::Borrowed);
        l.charge_description = t(self.product).or(t(self.meter_name)).map(Cow::Borrowed);

        let cost = cell.dec_req(row, self.cost)?;
        let quantity = cell.dec(row, self.quantity)?;
        let charge_type = t(self.charge_type).unwrap_or("Usage");
        let model = t(self.pricing_model).unwrap_or("");
        let benefit = t(self.benefit_id);
        let is_reservation = model.eq_ignore_ascii_case("Reservation")
            || benefit.is_some_and(|b| b.to_ascii_lowercase().contains("microsoft.capacity"));
        let is_savings_plan = model.eq_ignore_ascii_case("SavingsPlan")
            || benefit.is_some_and(|b| b.to_ascii_lowercase().contains("microsoft.billingbenefits"));
        let commitment = is_reservation || is_savings_plan;
        let ct = charge_type.to_ascii_lowercase();
        let unused = ct == "unusedreservation" || ct == "unusedsavingsplan";
        let (category, correction) = match ct.as_str() {
            "usage" | "unusedreservation" | "unusedsavingsplan" => (ChargeCategory::Usage, false),
            "purchase" => (ChargeCategory::Purchase, false),
            "refund" => (ChargeCategory::Purchase, true),
            "tax" => (ChargeCategory::Tax, false),
            "credit" => (ChargeCategory::Credit, false),
            _ => (ChargeCategory::Adjustment, false),
        };
        l.charge_category = category;
        l.correction = correction;
        let covered_usage = (category == ChargeCategory::Usage && commitment) || unused;
        let commitment_purchase = category == ChargeCategory::Purchase && commitment;
        l.billed_cost = if covered_usage { Decimal::ZERO } else { cost };
        l.effective_cost = if commitment_purchase { Decimal::ZERO } else { cost };
        let payg_cost = cell.dec(row, self.payg_cost)?;
        let payg_price = cell.dec(row, self.payg_price)?;
        let unit_price = cell.dec(row, self.unit_price)?;
        l.list_cost = match (payg_cost, payg_price, quantity) {
            (Some(c), _, _) => c,
            (None, Some(p), Some(q)) => p * q,
            _ => cost,
        };
        l.contracted_cost = match (unit_price, quantity) {
            (Some(p), Some(q)) => p * q,
            _ => cost,
        };
        if commitment {
            l.commitment_discount_id = benefit.map(lower);
            l.commitment_discount_name = t(self.benefit_name).map(Cow::Borrowed);
            if is_reservation {
                l.commitment_discount_type = Some(Cow::Borrowed("Reservation"));
                l.commitment_discount_category = Some("Usage");
            } else {
                l.commitment_discount_type = Some(Cow::Borrowed("Savings Plan"));
                l.commitment_discount_category = Some("Spend");
            }
            if l.commitment_discount_id.is_none() {
                l.commitment_discount_type = None;
                l.commitment_discount_category = None;
            } else if category == ChargeCategory::Usage {
                l.commitment_discount_status = Some(if unused { "Unused" } else { "Used" });
            }
        }
        l.pricing_category = match category {
            ChargeCategory::Tax | ChargeCategory::Credit | ChargeCategory::Adjustment => None,
            ChargeCategory::Purchase => Some(pricing::STANDARD),
            ChargeCategory::Usage if covered_usage => Some(pricing::COMMITTED),
            ChargeCategory::Usage => Some(match model.to_ascii_lowercase().as_str() {
                "spot" => pricing::DYNAMIC,
                _ => pricing::STANDARD,
            }),
        };
        l.charge_frequency = Some(match t(self.frequency).and_then(frequency::normalise) {
            Some(f) if !(category == ChargeCategory::Purchase && f == frequency::USAGE_BASED) => f,
            _ if category == ChargeCategory::Purchase => frequency::ONE_TIME,
            _ => frequency::USAGE_BASED,
        });
        if category == ChargeCategory::Usage && !unused {
            if let Some(q) = quantity {
                // `10 Hours` means blocks of ten hours: FOCUS counts single hours.
                let raw = t(self.unit).unwrap_or("");
                let (q, unit) = match azure_unit(raw) {
                    Some((block, unit)) => (q * block, Cow::Borrowed(unit)),
                    None if raw.is_empty() => (q, Cow::Borrowed("Units")),
                    None => (q, valdrix_core::units::focus_unit(raw)),
                };
                l.consumed_quantity = Some(q);
                l.pricing_quantity = Some(q);
                l.consumed_unit = Some(unit.clone());
                l.pricing_unit = Some(unit);
            }
        }
        let _ = t(self.publisher_type);
        l.tags = cell.pairs(row, self.tags)?;
        out.add(l)
    }
}
