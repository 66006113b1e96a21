//! Google Cloud Billing export (standard and detailed): CSV with dotted column names as tools
//! flatten it, and newline-delimited JSON with the nested records BigQuery exports.
//!
//! Credits live inside each row (`credits[].amount`, negative). Valdrix applies them: the row's
//! cost becomes a Usage line and each credit becomes a Credit line of the same grain, so that
//! BilledCost = cost + Σ credits, as on the invoice, and the credits stay visible by type.

use rust_decimal::Decimal;
use std::borrow::Cow;

use valdrix_core::focus::{frequency, pricing};
use valdrix_core::{parse_decimal, ChargeCategory, CostLine};

use crate::error::FieldError;
use crate::mapping::gcp_service_category;
use crate::rollup::Rollup;
use crate::table::{json_pairs, Cell, Header, Row};
use crate::Normaliser;

/// The columns Valdrix reads from a GCP export, in dotted form (also the JSON paths).
pub const COLUMNS: &[&str] = &[
    "billing_account_id",
    "service.id",
    "service.description",
    "sku.id",
    "sku.description",
    "usage_start_time",
    "usage_end_time",
    "project.id",
    "project.name",
    "project.labels",
    "labels",
    "tags",
    "location.location",
    "location.region",
    "location.zone",
    "cost",
    "currency",
    "usage.amount",
    "usage.unit",
    "usage.amount_in_pricing_units",
    "usage.pricing_unit",
    "credits",
    "invoice.month",
    "cost_type",
    "resource.name",
    "resource.global_name",
    "cost_at_list",
    "seller_name",
    "transaction_type",
];

/// Whether a header looks like a GCP billing export.
pub fn detect(header: &Header) -> bool {
    header.has(&["billing_account_id"]) && header.has(&["cost"]) && header.has(&["service.description", "service"])
}

/// The resolved columns of one GCP file.
pub struct GcpPlan {
    header: Header,
    cols: Vec<Option<usize>>,
}

impl GcpPlan {
    /// Resolves the columns of `header`.
    pub fn new(header: Header) -> Self {
        let cols = COLUMNS.iter().map(|c| header.find(&[c])).collect();
        GcpPlan { header, cols }
    }

    fn c(&self, name: &str) -> Option<usize> {
        COLUMNS.iter().position(|c| *c == name).and_then(|i| self.cols[i])
    }
}

/// Converts Python literal text (`[{'amount': -5e-06, 'full_name': None}]`), which some CSV
/// flattenings of the export write, into JSON.
pub fn python_literal_to_json(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len() + 8);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                let quote = c;
                out.push('"');
                loop {
                    match chars.next() {
                        None => return Err("unterminated string".to_string()),
                        Some('\\') => match chars.next() {
                            Some('\'') => out.push('\''),
                            Some(e) => {
                                out.push('\\');
                                out.push(e);
                            }
                            None => return Err("unterminated escape".to_string()),
                        },
                        Some(ch) if ch == quote => break,
                        Some('"') => out.push_str("\\\""),
                        Some(ch) => out.push(ch),
                    }
                }
                out.push('"');
            }
            c if c.is_ascii_alphabetic() => {
                let mut word = String::from(c);
                while let Some(&n) = chars.peek() {
                    if n.is_ascii_alphanumeric() || n == '_' {
                        word.push(n);
                        chars.next();
                    } else {
                        break;
                    }
                }
                match word.as_str() {
                    "None" => out.push_str("null"),
                    "True" => out.push_str("true"),
                    "False" => out.push_str("false"),
                    // Exponents such as 5e-06 reach here only as part of a number.
                    w if w.starts_with('e') || w.starts_with('E') => out.push_str(w),
                    w => return Err(format!("unexpected word {w:?}")),
                }
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

fn credits_of(row: &dyn Row, col: Option<usize>, name: &str) -> Result<Vec<serde_json::Value>, FieldError> {
    let Some(c) = col else { return Ok(Vec::new()) };
    let v = match row.json(c) {
        Ok(v) => v,
        Err(_) => {
            let text = row.text(c).unwrap_or("");
            let json = python_literal_to_json(text)
                .map_err(|e| FieldError::new(name, format!("unreadable credits {text:?}: {e}")))?;
            Some(
                serde_json::from_str(&json)
                    .map_err(|e| FieldError::new(name, format!("unreadable credits {text:?}: {e}")))?,
            )
        }
    };
    match v {
        None | Some(serde_json::Value::Null) => Ok(Vec::new()),
        Some(serde_json::Value::Array(items)) => Ok(items),
        Some(other) => Err(FieldError::new(name, format!("credits is not a list: {other}"))),
    }
}

fn json_text(v: &serde_json::Value, key: &str) -> Option<String> {
    match v.get(key)? {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn labels_of<'r>(row: &'r dyn Row, col: Option<usize>, name: &str) -> Result<crate::table::Pairs<'r>, FieldError> {
    let Some(c) = col else { return Ok(Vec::new()) };
    match row.pairs(c) {
        Ok(p) => Ok(p),
        Err(_) => {
            let text = row.text(c).unwrap_or("");
            let json = python_literal_to_json(text)
                .map_err(|e| FieldError::new(name, format!("unreadable labels {text:?}: {e}")))?;
            let v: serde_json::Value = serde_json::from_str(&json)
                .map_err(|e| FieldError::new(name, format!("unreadable labels {text:?}: {e}")))?;
            json_pairs(&v).ok_or_else(|| FieldError::new(name, format!("labels are not key/value pairs: {text:?}")))
        }
    }
}

impl Normaliser for GcpPlan {
    fn header(&self) -> &Header {
        &self.header
    }

    fn emit(&self, row: &dyn Row, out: &mut Rollup) -> Result<(), FieldError> {
        let cell = Cell::new(&self.header);
        let t = |name: &str| cell.text(row, self.c(name));
        let start = cell.ts_req(row, self.c("usage_start_time"), "usage_start_time")?;
        if let Some(end) = cell.ts(row, self.c("usage_end_time"))? {
            crate::validate::check_charge_period(cell.name(self.c("usage_end_time").unwrap_or(0)), start, end)?;
        }
        let currency = t("currency").unwrap_or("USD");
        let account = t("billing_account_id").unwrap_or("unknown");
        let mut l =
            CostLine::new(Cow::Borrowed("Google Cloud"), Cow::Borrowed(account), start.date(), Cow::Borrowed(currency));
        if let Some(m) = t("invoice.month") {
            // YYYYMM. The invoice month follows US Pacific time; the period is the calendar month.
            let d = chrono::NaiveDate::parse_from_str(&format!("{m}01"), "%Y%m%d").map_err(|_| {
                FieldError::new(
                    self.header.name(self.c("invoice.month").unwrap_or(0)),
                    format!("invalid invoice month {m:?}"),
                )
            })?;
            l.billing_period_start = d;
            l.billing_period_end = valdrix_core::time::next_month_start(d);
        }
        l.sub_account_id = t("project.id").map(Cow::Borrowed);
        l.sub_account_name = t("project.name").map(Cow::Borrowed);
        let service = t("service.description").unwrap_or("Unknown");
        l.service_name = Cow::Borrowed(service);
        l.service_category = Some(gcp_service_category(service));
        l.service_code = t("service.id").map(Cow::Borrowed);
        l.region_id = t("location.region").or(t("location.location")).map(Cow::Borrowed);
        l.region_name = l.region_id.clone();
        l.availability_zone = t("location.zone").map(Cow::Borrowed);
        l.resource_id = t("resource.global_name").or(t("resource.name")).map(Cow::Borrowed);
        l.resource_name = t("resource.name").map(Cow::Borrowed);
        l.sku_id = t("sku.id").map(Cow::Borrowed);
        l.sku_price_id = l.sku_id.clone();
        l.usage_type = l.sku_id.clone();
        l.charge_description = t("sku.description").map(Cow::Borrowed);
        l.publisher = Some(Cow::Borrowed(t("seller_name").unwrap_or("Google Cloud")));
        l.invoice_issuer = Some(Cow::Borrowed("Google Cloud"));
        let cost = cell.dec_req(row, self.c("cost"))?;
        let cost_type = t("cost_type").unwrap_or("regular").to_ascii_lowercase();
        let category = match cost_type.as_str() {
            "regular" => ChargeCategory::Usage,
            "tax" => ChargeCategory::Tax,
            "adjustment" => ChargeCategory::Credit,
            _ => ChargeCategory::Adjustment,
        };
        let mut tags = labels_of(row, self.c("project.labels"), "project.labels")?;
        tags.extend(labels_of(row, self.c("labels"), "labels")?);
        tags.extend(labels_of(row, self.c("tags"), "tags")?);
        l.tags = tags;
        let credits = credits_of(row, self.c("credits"), "credits")?;

        let mut usage = l.clone();
        usage.charge_category = category;
        usage.billed_cost = cost;
        usage.effective_cost = cost;
        usage.contracted_cost = cost;
        usage.list_cost = cell.dec(row, self.c("cost_at_list"))?.unwrap_or(cost);
        if category == ChargeCategory::Usage {
            usage.pricing_category = Some(pricing::STANDARD);
            usage.charge_frequency = Some(frequency::USAGE_BASED);
            usage.consumed_quantity = cell.dec(row, self.c("usage.amount"))?;
            usage.consumed_unit = usage.consumed_quantity.and(t("usage.unit").or(Some("Units")).map(Cow::Borrowed));
            usage.pricing_quantity =
                cell.dec(row, self.c("usage.amount_in_pricing_units"))?.or(usage.consumed_quantity);
            usage.pricing_unit = usage
                .pricing_quantity
                .and(t("usage.pricing_unit").or(t("usage.unit")).or(Some("Units")).map(Cow::Borrowed));
        } else {
            usage.charge_frequency = Some(frequency::ONE_TIME);
        }
        out.add(usage)?;

        for credit in credits {
            let amount = match credit.get("amount") {
                Some(serde_json::Value::Number(n)) => parse_decimal(&n.to_string()),
                Some(serde_json::Value::String(s)) => parse_decimal(s),
                _ => Ok(Decimal::ZERO),
            }
            .map_err(|e| FieldError::new("credits", e.to_string()))?;
            let kind = json_text(&credit, "type").unwrap_or_else(|| "CREDIT".to_string());
            let mut c = l.clone();
            c.charge_category = ChargeCategory::Credit;
            c.charge_frequency = Some(frequency::USAGE_BASED);
            c.billed_cost = amount;
            c.effective_cost = amount;
            c.contracted_cost = amount;
            c.list_cost = Decimal::ZERO;
            c.charge_description = Some(Cow::Owned(
                json_text(&credit, "full_name").or_else(|| json_text(&credit, "name")).unwrap_or_else(|| kind.clone()),
            ));
            if kind.starts_with("COMMITTED_USAGE_DISCOUNT") {
                c.commitment_discount_id =
                    json_text(&credit, "id").or_else(|| json_text(&credit, "name")).map(Cow::Owned);
                c.commitment_discount_name = json_text(&credit, "full_name").map(Cow::Owned);
                c.commitment_discount_type = Some(Cow::Borrowed("Committed Use Discount"));
                c.commitment_discount_category = Some(if kind.ends_with("DOLLAR_BASE") { "Spend" } else { "Usage" });
            }
            c.usage_type = Some(Cow::Owned(format!("{}/{}", l.usage_type.as_deref().unwrap_or(""), kind)));
            out.add(c)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::python_literal_to_json;

    #[test]
    fn python_credits() {
        let j = python_literal_to_json(
            "[{'name': 'FreeTrial:Credit-1', 'amount': -5e-06, 'full_name': None, 'id': 'x', 'type': 'PROMOTION'}]",
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(&j).unwrap();
        assert_eq!(v[0]["type"], "PROMOTION");
        assert!(v[0]["full_name"].is_null());
        assert_eq!(python_literal_to_json("[]").unwrap(), "[]");
        assert!(python_literal_to_json("[{'a': import}]").is_err());
    }
}
