//! Reconciliation over HTTP: two sides of stored spend (each a set of filters, e.g. two
//! sources of the same bill) compared per currency, the difference located by service, account
//! and day.

use axum::extract::{RawQuery, State};
use axum::Json;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use valdrix_core::reconcile::{reconcile as compare, Contribution, Reconciliation};
use valdrix_store::{CostQuery, Dimension};

use super::{cost_query, query_pairs, take, MetricName, Refusals};
use crate::{ApiError, AppState, Caller};

/// Parameters of `GET /api/v1/reconciliation`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ReconcileParams {
    /// The left side: `DIMENSION=V1,V2` (repeatable), e.g. `source=named:cur`.
    #[param(inline, value_type = Vec<super::FilterText>)]
    left: Vec<String>,
    /// The right side, in the same form.
    #[param(inline, value_type = Vec<super::FilterText>)]
    right: Vec<String>,
    /// Amount compared (default billed).
    metric: Option<MetricName>,
    /// First charge day both sides share (YYYY-MM-DD).
    #[param(format = Date)]
    from: Option<String>,
    /// Day after the last (YYYY-MM-DD).
    #[param(format = Date)]
    to: Option<String>,
    /// Filters both sides share (repeatable).
    #[param(inline, value_type = Option<Vec<super::FilterText>>)]
    filter: Option<Vec<String>>,
    /// Flag differences above this many percent (default 0.5).
    #[param(pattern = r"^[0-9]{1,6}(\.[0-9]{1,6})?$")]
    threshold: Option<String>,
    /// Contributors per dimension (1 to 100, default 5).
    #[param(minimum = 1, maximum = 100)]
    top: Option<u32>,
}

/// A reconciliation.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReconciliationOut {
    /// The threshold (in %) and per currency: both totals, the difference, whether it is
    /// flagged, the dimensions it is located by and the largest contributors.
    #[schema(value_type = Object)]
    #[serde(flatten)]
    pub reconciliation: Reconciliation,
    /// Whether any currency's difference is past the threshold.
    pub flagged: bool,
}

fn side(base: &CostQuery, filters: &[(String, String)], name: &str) -> Result<CostQuery, ApiError> {
    let mut q = base.clone();
    q.group_by = vec![Dimension::Service, Dimension::Account, Dimension::SubAccount, Dimension::Day];
    if filters.is_empty() {
        return Err(ApiError::bad_request(format!("give the {name} side: {name}=DIMENSION=VALUES")));
    }
    for (_, v) in filters {
        let parsed = cost_query(&[("filter".to_string(), v.clone())])
            .map_err(|e| ApiError::bad_request(format!("{name}: {}", e.detail)))?;
        q.filters.extend(parsed.filters);
    }
    Ok(q)
}

fn contributions(rows: Vec<valdrix_store::CostRow>) -> Vec<Contribution> {
    rows.into_iter()
        .map(|r| {
            let mut keys = r.keys.into_iter();
            let (service, account, sub_account, day) = (keys.next(), keys.next(), keys.next(), keys.next());
            Contribution {
                currency: r.currency,
                service: service.flatten(),
                // The usage account locates a difference more finely than the billing account.
                account: sub_account.flatten().or(account.flatten()),
                day: day.flatten().and_then(|d| chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok()),
                amount: r.amount,
            }
        })
        .collect()
}

/// Compares two sides of the tenant's stored spend and locates the difference.
#[utoipa::path(get, path = "/api/v1/reconciliation", tag = "trust", params(ReconcileParams), security(("api_key" = [])),
    responses((status = 200, description = "The comparison", body = ReconciliationOut), Refusals))]
pub async fn reconciliation(
    caller: Caller,
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<ReconciliationOut>, ApiError> {
    let mut pairs = query_pairs(&raw)?;
    let left = take(&mut pairs, &["left"]);
    let right = take(&mut pairs, &["right"]);
    let mut threshold = valdrix_core::reconcile::default_threshold_percent();
    let mut top = 5usize;
    for (k, v) in take(&mut pairs, &["threshold", "top"]) {
        if k == "threshold" {
            threshold = v
                .parse::<Decimal>()
                .ok()
                .filter(|t| !t.is_sign_negative())
                .ok_or_else(|| ApiError::bad_request(format!("threshold={v:?}: a percentage, e.g. 0.5")))?;
        } else {
            top = v
                .parse()
                .ok()
                .filter(|n| (1..=100).contains(n))
                .ok_or_else(|| ApiError::bad_request(format!("top={v:?}: 1 to 100")))?;
        }
    }
    let base = cost_query(&pairs)?;
    if !base.group_by.is_empty() {
        return Err(ApiError::bad_request("reconciliation groups by itself: drop group_by"));
    }
    let (lq, rq) = (side(&base, &left, "left")?, side(&base, &right, "right")?);
    let tenant = caller.tenant.clone();
    let (l, r) = state.stores.run(move |s| Ok((s.costs(&tenant, &lq)?, s.costs(&tenant, &rq)?))).await?;
    let reconciliation = compare(&contributions(l), &contributions(r), threshold, top);
    Ok(Json(ReconciliationOut { flagged: reconciliation.flagged(), reconciliation }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use valdrix_store::Filter;

    #[test]
    fn a_side_needs_a_filter_and_takes_each_given() {
        let base = CostQuery::default();
        assert!(side(&base, &[], "left").is_err());
        let q = side(&base, &[("left".into(), "provider=AWS".into()), ("left".into(), "region=".into())], "left")
            .expect("valid side");
        assert_eq!(q.filters.len(), 2);
        assert_eq!(q.filters[0], Filter { dimension: Dimension::Provider, values: vec!["AWS".into()] });
        assert!(side(&base, &[("left".into(), "nonsense".into())], "left").is_err());
    }
}
