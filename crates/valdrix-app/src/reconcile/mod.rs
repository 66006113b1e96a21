//! Reconciliation: the stored spend of one source against another source of the same spend
//! (another stream, an invoice's totals, AWS Cost Explorer), with the difference located by
//! service, account and day.

pub mod cost_explorer;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use valdrix_core::reconcile::{reconcile, Contribution, Reconciliation};
use valdrix_core::TenantId;
use valdrix_store::{CostQuery, Dimension, Filter, Store};

use crate::error::{AppError, Result};

/// What the stored side is compared with.
#[derive(Debug, Clone)]
pub enum OtherSide {
    /// Stored costs under these filters.
    Stored(Vec<Filter>),
    /// An invoice-totals CSV (`billing_period`, `currency`, `amount`, optionally `account`).
    Invoice(PathBuf),
    /// AWS Cost Explorer's `GetCostAndUsage` over the same days.
    CostExplorer,
}

/// A reconciliation to run.
#[derive(Debug, Clone)]
pub struct ReconcileRequest {
    /// The metric, days and filters both stored sides share.
    pub query: CostQuery,
    /// The filters of the left side (what is checked).
    pub left: Vec<Filter>,
    /// What it is checked against.
    pub right: OtherSide,
    /// Differences past this percentage of the left side are flagged.
    pub threshold: Decimal,
    /// How many contributors to the difference to list per currency.
    pub top: usize,
}

/// Compares the two sides of `req`.
pub fn run(store: &dyn Store, tenant: &TenantId, req: &ReconcileRequest) -> Result<Reconciliation> {
    let (left, right) = match &req.right {
        OtherSide::Invoice(file) => {
            let (right, periods) = read_invoice(file)?;
            (stored_side(store, tenant, &req.query, &req.left, Some(&periods))?, right)
        }
        OtherSide::CostExplorer => {
            let left = stored_side(store, tenant, &req.query, &req.left, None)?;
            let days = || left.iter().filter_map(|c| c.day);
            let from = req.query.from.or_else(|| days().min());
            let to = req.query.to.or_else(|| days().max().and_then(|d| d.succ_opt()));
            let (Some(from), Some(to)) = (from, to) else {
                return Err(AppError::Invalid(format!(
                    "--left {}: no stored costs match (give --from and --to)",
                    spelled(&req.left)
                )));
            };
            let right = cost_explorer::get_cost_and_usage(from, to, req.query.metric)?;
            (left, right)
        }
        OtherSide::Stored(filters) => (
            stored_side(store, tenant, &req.query, &req.left, None)?,
            stored_side(store, tenant, &req.query, filters, None)?,
        ),
    };
    if left.is_empty() {
        return Err(AppError::Invalid(format!("--left {}: no stored costs match", spelled(&req.left))));
    }
    if right.is_empty() {
        return Err(AppError::Invalid(match &req.right {
            OtherSide::Invoice(f) => format!("{}: no invoice amounts", f.display()),
            OtherSide::CostExplorer => "Cost Explorer returned no amounts for the period".to_string(),
            OtherSide::Stored(filters) => format!("--right {}: no stored costs match", spelled(filters)),
        }));
    }
    Ok(reconcile(&left, &right, req.threshold, req.top))
}

/// Filters as they were written: `DIM=V1,V2`, space-separated.
fn spelled(filters: &[Filter]) -> String {
    filters.iter().map(|f| format!("{}={}", f.dimension.label(), f.values.join(","))).collect::<Vec<_>>().join(" ")
}

/// One side of a reconciliation: the stored amounts by service, account and day under the shared
/// query and this side's filters. A `source` value naming an existing file becomes that file's
/// stream (`file:` and its canonical path), as ingestion named it.
fn stored_side(
    store: &dyn Store,
    tenant: &TenantId,
    shared: &CostQuery,
    side: &[Filter],
    invoice_periods: Option<&BTreeSet<String>>,
) -> Result<Vec<Contribution>> {
    let mut query = shared.clone();
    query.group_by = vec![Dimension::Service, Dimension::Account, Dimension::SubAccount, Dimension::Day];
    if let Some(periods) = invoice_periods {
        query.filters.push(Filter { dimension: Dimension::BillingPeriod, values: periods.iter().cloned().collect() });
    }
    for f in side {
        let mut filter = f.clone();
        if filter.dimension == Dimension::Source {
            for v in &mut filter.values {
                if let Ok(p) = std::fs::canonicalize(&*v) {
                    *v = format!("file:{}", p.display());
                }
            }
        }
        query.filters.push(filter);
    }
    let rows = store.costs(tenant, &query)?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let mut keys = r.keys.into_iter();
            let (service, account, sub_account, day) = (keys.next(), keys.next(), keys.next(), keys.next());
            // Invoices are per billing account; otherwise the usage account locates more finely.
            let account = match invoice_periods {
                Some(_) => account.flatten(),
                None => sub_account.flatten().or(account.flatten()),
            };
            Contribution {
                currency: r.currency,
                service: service.flatten(),
                account,
                day: day.flatten().and_then(|d| chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok()),
                amount: r.amount,
            }
        })
        .collect())
}

/// An invoice-totals CSV as reconciliation amounts, and the billing periods it covers.
pub fn read_invoice(file: &Path) -> Result<(Vec<Contribution>, BTreeSet<String>)> {
    let name = file.display();
    let bad = |what: String| AppError::Invalid(format!("{name}: {what}"));
    let mut reader = csv::Reader::from_path(file).map_err(|e| AppError::Invalid(format!("reading {name}: {e}")))?;
    let headers = reader.headers().map_err(|e| bad(format!("reading the header: {e}")))?.clone();
    let column = |c: &str| headers.iter().position(|h| h.trim().eq_ignore_ascii_case(c));
    let need =
        |c: &str| column(c).ok_or_else(|| bad(format!("no column {c:?} (need billing_period, currency, amount)")));
    let (period_at, currency_at, amount_at) = (need("billing_period")?, need("currency")?, need("amount")?);
    let account_at = column("account");
    let (mut out, mut periods) = (Vec::new(), BTreeSet::new());
    for (i, row) in reader.records().enumerate() {
        let line = i + 2;
        let row = row.map_err(|e| bad(format!("row {line}: {e}")))?;
        let cell = |at: usize| row.get(at).unwrap_or("").trim();
        let period = cell(period_at);
        if valdrix_core::time::parse_month(period).is_none() {
            return Err(bad(format!("row {line}, column billing_period: {period:?} is not YYYY-MM")));
        }
        let currency = cell(currency_at);
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(bad(format!("row {line}, column currency: {currency:?} is not a currency code")));
        }
        let amount =
            valdrix_core::parse_decimal(cell(amount_at)).map_err(|e| bad(format!("row {line}, column amount: {e}")))?;
        periods.insert(period.to_string());
        out.push(Contribution {
            currency: currency.to_ascii_uppercase(),
            service: None,
            account: account_at.map(|at| cell(at).to_string()).filter(|a| !a.is_empty()),
            day: None,
            amount,
        });
    }
    Ok((out, periods))
}
