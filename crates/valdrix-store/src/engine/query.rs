//! Cost queries: grouped totals over any dimensions, and the records themselves, streamed.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::collections::BTreeMap;

use valdrix_core::{ChargeCategory, CostRecord, Grain, Tags, TenantId, Totals};

use super::parse::{parse_dec, GroupKey};
use super::totals;
use crate::db::{texts, Cell, Db, Dialect, Row};
use crate::error::{Result, StoreError};
use crate::query::{CostQuery, CostRow, Dimension};

/// SQL expression for a dimension. Tag keys are bound as parameters, never spliced.
pub(crate) fn dimension_sql(dialect: Dialect, d: &Dimension, params: &mut Vec<String>) -> String {
    match d {
        Dimension::Provider => "s.provider".into(),
        Dimension::Service => "s.service_name".into(),
        Dimension::ServiceCategory => "a.service_category".into(),
        Dimension::Account => "s.billing_account_id".into(),
        Dimension::SubAccount => "s.sub_account_id".into(),
        Dimension::Region => "s.region_id".into(),
        Dimension::Resource => "s.resource_id".into(),
        Dimension::ChargeCategory => "s.charge_category".into(),
        Dimension::PricingCategory => "s.pricing_category".into(),
        Dimension::UsageType => "s.usage_type".into(),
        Dimension::Day => "c.charge_date".into(),
        Dimension::Month => "substr(c.charge_date, 1, 7)".into(),
        Dimension::Currency => "s.currency".into(),
        Dimension::BillingPeriod => "substr(s.billing_period_start, 1, 7)".into(),
        Dimension::Source => {
            "(SELECT st.stream FROM streams st WHERE st.tenant_id = s.tenant_id AND st.stream_id = s.stream_id)".into()
        }
        Dimension::Tag(k) => match dialect {
            // A JSON path has no escapes for every key (a backslash or a quote in a tag key makes
            // it malformed): keys of plain characters use the fast path, others an exact match
            // of the key in json_each.
            Dialect::Sqlite if !k.contains(['"', '\\']) && !k.chars().any(char::is_control) => {
                params.push(format!("$.\"{k}\""));
                format!("json_extract(s.tags, ?{})", params.len() + 1)
            }
            Dialect::Sqlite => {
                params.push(k.clone());
                format!("(SELECT j.value FROM json_each(s.tags) j WHERE j.key = ?{})", params.len() + 1)
            }
            Dialect::Postgres => {
                params.push(k.clone());
                format!("(s.tags::jsonb ->> ?{})", params.len() + 1)
            }
        },
    }
}

/// WHERE clause (after `tenant_id = ?1`) and its parameters for the query's range and filters.
pub(crate) fn where_sql(dialect: Dialect, q: &CostQuery, params: &mut Vec<String>) -> String {
    // Records a newer delivery removed stay at zero with no lines: not part of any answer.
    let mut w = String::from("c.tenant_id = ?1 AND c.line_count > 0");
    if let Some(from) = q.from {
        params.push(from.to_string());
        w.push_str(&format!(" AND c.charge_date >= ?{}", params.len() + 1));
    }
    if let Some(to) = q.to {
        params.push(to.to_string());
        w.push_str(&format!(" AND c.charge_date < ?{}", params.len() + 1));
    }
    for f in &q.filters {
        let expr = dimension_sql(dialect, &f.dimension, params);
        // One IN list, not a chain of ORs: SQLite bounds an expression's depth at 1,000, and a
        // zombie scan prices thousands of resource ids in one query.
        let mut alts = Vec::new();
        let mut listed = Vec::new();
        for v in &f.values {
            if v.is_empty() {
                alts.push(format!("{expr} IS NULL OR {expr} = ''"));
            } else {
                params.push(v.clone());
                listed.push(format!("?{}", params.len() + 1));
            }
        }
        if !listed.is_empty() {
            alts.push(format!("{expr} IN ({})", listed.join(", ")));
        }
        if !alts.is_empty() {
            w.push_str(&format!(" AND ({})", alts.join(" OR ")));
        }
    }
    w
}

/// Descriptive FOCUS columns stored beside each record: FOCUS name, then column name.
pub(crate) const ATTR_COLUMNS: [(&str, &str); 21] = [
    ("BillingPeriodEnd", "billing_period_end"),
    ("BillingAccountName", "billing_account_name"),
    ("SubAccountName", "sub_account_name"),
    ("ServiceCategory", "service_category"),
    ("RegionName", "region_name"),
    ("AvailabilityZone", "availability_zone"),
    ("ResourceName", "resource_name"),
    ("ResourceType", "resource_type"),
    ("SkuId", "sku_id"),
    ("SkuPriceId", "sku_price_id"),
    ("ChargeFrequency", "charge_frequency"),
    ("ChargeDescription", "charge_description"),
    ("CommitmentDiscountName", "commitment_discount_name"),
    ("CommitmentDiscountType", "commitment_discount_type"),
    ("CommitmentDiscountCategory", "commitment_discount_category"),
    ("ConsumedUnit", "consumed_unit"),
    ("PricingUnit", "pricing_unit"),
    ("InvoiceId", "invoice_id"),
    ("PublisherName", "publisher_name"),
    ("InvoiceIssuerName", "invoice_issuer_name"),
    ("PricingCurrency", "pricing_currency"),
];

/// Grain and sum columns, with their table's alias, in the order `record_from_row` reads them;
/// the attribute columns follow.
pub(crate) const RECORD_COLUMNS: [&str; 24] = [
    "s.series_key",
    "s.provider",
    "s.billing_account_id",
    "s.sub_account_id",
    "c.charge_date",
    "s.billing_period_start",
    "s.service_name",
    "s.region_id",
    "s.resource_id",
    "s.usage_type",
    "s.charge_category",
    "s.charge_class",
    "s.pricing_category",
    "s.commitment_discount_id",
    "s.commitment_discount_status",
    "s.tags",
    "s.currency",
    "c.billed_cost",
    "c.effective_cost",
    "c.list_cost",
    "c.contracted_cost",
    "c.consumed_quantity",
    "c.pricing_quantity",
    "c.line_count",
];

pub(crate) fn select_record_columns() -> String {
    let record = RECORD_COLUMNS.iter().map(|c| c.to_string());
    record.chain(ATTR_COLUMNS.iter().map(|a| format!("a.{}", a.1))).collect::<Vec<_>>().join(", ")
}

/// Joins each record (`c`) to its series (`s`), which holds its grain but the day.
pub(crate) const JOIN_SERIES: &str = "JOIN cost_series s ON s.tenant_id = c.tenant_id AND s.series_no = c.series_no";

/// Joins each record (`c`) to its descriptive columns (`a`).
pub(crate) const JOIN_ATTRS: &str =
    "JOIN record_attrs a ON a.tenant_id = c.tenant_id AND a.run_id = c.run_id AND a.attrs_no = c.attrs_no";

pub(crate) fn attrs_columns() -> Vec<&'static str> {
    ["tenant_id", "run_id", "attrs_no"].into_iter().chain(ATTR_COLUMNS.iter().map(|a| a.1)).collect()
}

pub(crate) fn record_from_row(r: &Row<'_>) -> Result<CostRecord> {
    let date = |i: usize, col: &'static str| -> Result<NaiveDate> {
        let s: String = r.get(i)?;
        NaiveDate::parse_from_str(&s, "%Y-%m-%d").map_err(|e| StoreError::Corrupt {
            table: "cost_records",
            column: col,
            message: format!("{s:?}: {e}"),
        })
    };
    let cat: String = r.get(10)?;
    let tags: String = r.get(15)?;
    let opt_dec = |i: usize, col: &'static str| -> Result<Option<Decimal>> {
        match r.get::<Option<String>>(i)? {
            None => Ok(None),
            Some(s) => parse_dec(&s, col).map(Some),
        }
    };
    let mut attrs = BTreeMap::new();
    for (k, (name, _)) in ATTR_COLUMNS.iter().enumerate() {
        if let Some(v) = r.get::<Option<String>>(RECORD_COLUMNS.len() + k)? {
            attrs.insert(name.to_string(), v);
        }
    }
    Ok(CostRecord {
        grain: Grain {
            provider: r.get(1)?,
            billing_account_id: r.get(2)?,
            sub_account_id: r.get(3)?,
            charge_date: date(4, "charge_date")?,
            billing_period_start: date(5, "billing_period_start")?,
            service_name: r.get(6)?,
            region_id: r.get(7)?,
            resource_id: r.get(8)?,
            usage_type: r.get(9)?,
            charge_category: crate::error::stored("cost_records", "charge_category", &cat, ChargeCategory::parse)?,
            correction: r.get::<Option<String>>(11)?.is_some(),
            pricing_category: r.get(12)?,
            commitment_discount_id: r.get(13)?,
            commitment_discount_status: r.get(14)?,
            tags: Tags::from_json(&tags).unwrap_or_default(),
            currency: r.get(16)?,
        },
        attrs,
        totals: Totals {
            billed_cost: parse_dec(&r.get::<String>(17)?, "billed_cost")?,
            effective_cost: parse_dec(&r.get::<String>(18)?, "effective_cost")?,
            list_cost: parse_dec(&r.get::<String>(19)?, "list_cost")?,
            contracted_cost: parse_dec(&r.get::<String>(20)?, "contracted_cost")?,
            consumed_quantity: opt_dec(21, "consumed_quantity")?,
            pricing_quantity: opt_dec(22, "pricing_quantity")?,
            line_count: r.get::<i64>(23)? as u64,
        },
    })
}

/// A group-by value as text.
pub(crate) fn key_text(cell: Cell<'_>) -> Option<String> {
    match cell {
        Cell::Null | Cell::Blob(_) => None,
        Cell::Text(s) => Some(s.into_owned()),
        Cell::Int(i) => Some(i.to_string()),
        Cell::Real(f) => Some(f.to_string()),
    }
}

/// Grouped cost totals, per currency. PostgreSQL adds up `NUMERIC` exactly in SQL; SQLite's
/// `SUM` over decimal text would be a float, so its amounts are added up here.
pub(crate) fn costs(db: Db<'_>, tenant: &TenantId, q: &CostQuery) -> Result<Vec<CostRow>> {
    if let Some(rows) = totals::costs(db, tenant, q)? {
        return Ok(rows);
    }
    records_costs(db, tenant, q)
}

/// [`costs`] from the daily records themselves.
pub(crate) fn records_costs(db: Db<'_>, tenant: &TenantId, q: &CostQuery) -> Result<Vec<CostRow>> {
    let dialect = db.dialect();
    let mut params: Vec<String> = Vec::new();
    let dims: Vec<String> = q.group_by.iter().map(|d| dimension_sql(dialect, d, &mut params)).collect();
    let w = where_sql(dialect, q, &mut params);
    let select_dims = if dims.is_empty() { String::new() } else { format!("{}, ", dims.join(", ")) };
    // Descriptive columns live in record_attrs: join them only when asked for.
    let uses_attrs = q.group_by.iter().chain(q.filters.iter().map(|f| &f.dimension)).any(|d| d.is_attribute());
    let join = if uses_attrs { JOIN_ATTRS } else { "" };
    let column = q.metric.column();
    let sql = match dialect {
        Dialect::Sqlite => {
            format!("SELECT {select_dims}s.currency, c.{column}, 1 FROM cost_records c {JOIN_SERIES} {join} WHERE {w}")
        }
        Dialect::Postgres => {
            let groups: Vec<String> = (1..=dims.len() + 1).map(|i| i.to_string()).collect();
            format!(
                "SELECT {select_dims}s.currency, SUM(c.{column}), COUNT(*) FROM cost_records c {JOIN_SERIES} {join} \
                 WHERE {w} GROUP BY {}",
                groups.join(", ")
            )
        }
    };
    let mut all: Vec<String> = vec![tenant.as_str().to_string()];
    all.extend(params);
    let n = dims.len();
    let mut sums: BTreeMap<GroupKey, (Decimal, u64)> = BTreeMap::new();
    db.for_each(&sql, &texts(&all), |r| {
        let mut keys = Vec::with_capacity(n);
        for i in 0..n {
            keys.push(key_text(r.cell(i)?));
        }
        let currency: String = r.get(n)?;
        let amount: String = r.get(n + 1)?;
        let e = sums.entry((keys, currency)).or_insert((Decimal::ZERO, 0));
        e.0 += parse_dec(&amount, column)?;
        e.1 += r.get::<i64>(n + 2)? as u64;
        Ok(())
    })?;
    Ok(sums
        .into_iter()
        .map(|((keys, currency), (amount, records))| CostRow { keys, currency, amount: amount.normalize(), records })
        .collect())
}

/// Calls `f` with the row of every record matching the query's range and filters (the columns
/// of [`select_record_columns`]), in charge-date order.
pub(crate) fn for_each_record_row(
    db: Db<'_>,
    tenant: &TenantId,
    q: &CostQuery,
    f: &mut dyn FnMut(&Row<'_>) -> Result<()>,
) -> Result<()> {
    let mut params: Vec<String> = Vec::new();
    let w = where_sql(db.dialect(), q, &mut params);
    let sql = format!(
        "SELECT {} FROM cost_records c {JOIN_SERIES} {JOIN_ATTRS} WHERE {w} ORDER BY c.charge_date, c.series_no",
        select_record_columns()
    );
    let mut all: Vec<String> = vec![tenant.as_str().to_string()];
    all.extend(params);
    db.for_each(&sql, &texts(&all), f)
}

/// Calls `f` with every record matching the query's range and filters, in charge-date order.
pub(crate) fn for_each_record(
    db: Db<'_>,
    tenant: &TenantId,
    q: &CostQuery,
    f: &mut dyn FnMut(CostRecord) -> Result<()>,
) -> Result<()> {
    for_each_record_row(db, tenant, q, &mut |r| f(record_from_row(r)?))
}

/// [`for_each_record`], with each record's stable id (from its series key, the first column,
/// and its day).
pub(crate) fn for_each_record_with_id(
    db: Db<'_>,
    tenant: &TenantId,
    q: &CostQuery,
    f: &mut dyn FnMut(String, CostRecord) -> Result<()>,
) -> Result<()> {
    for_each_record_row(db, tenant, q, &mut |r| {
        let key: Vec<u8> = r.get(0)?;
        let record = record_from_row(r)?;
        f(crate::trust::record_id(&key, record.grain.charge_date), record)
    })
}
