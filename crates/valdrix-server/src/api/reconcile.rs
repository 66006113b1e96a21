//! Reconciliation over HTTP: two sides of stored spend (each a set of filters, e.g. two
//! sources of the same bill) compared per currency, the difference located by service, account
//! and day.

use axum::extract::State;
use axum::Json;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use valdrix_core::reconcile::{reconcile as compare, Contribution, Reconciliation};
use valdrix_store::{CostQuery, Dimension, Filter, Metric};

use super::params::{self, And, Count};
use super::{CostFilters, MetricName, Params, Refusals};
use crate::{ApiError, AppState, Caller};

/// The two sides and how they are compared, beside the filters both share.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SidesParams {
    /// The left side: `DIMENSION=V1,V2` (repeatable), e.g. `source=named:cur`.
    #[serde(default, deserialize_with = "params::each")]
    #[param(required = true, inline, value_type = Vec<super::FilterText>)]
    left: Vec<Filter>,
    /// The right side, in the same form.
    #[serde(default, deserialize_with = "params::each")]
    #[param(required = true, inline, value_type = Vec<super::FilterText>)]
    right: Vec<Filter>,
    /// Amount compared (default billed).
    #[serde(default, deserialize_with = "params::one")]
    #[param(value_type = Option<MetricName>)]
    metric: Option<Metric>,
    /// Flag differences above this many percent (default 0.5).
    #[serde(default, deserialize_with = "params::one")]
    #[param(pattern = r"^[0-9]{1,6}(\.[0-9]{1,6})?$")]
    threshold: Option<String>,
    /// Contributors per dimension (1 to 100, default 5).
    #[serde(default, deserialize_with = "params::one")]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    top: Option<Count<1, 100>>,
}

/// Parameters of `GET /api/v1/reconciliation` (the shared filters are both sides').
pub type ReconcileParams = And<CostFilters, SidesParams>;

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

fn side(base: &CostQuery, filters: &[Filter], name: &str) -> Result<CostQuery, ApiError> {
    let mut q = base.clone();
    q.group_by = vec![Dimension::Service, Dimension::Account, Dimension::SubAccount, Dimension::Day];
    if filters.is_empty() {
        return Err(ApiError::bad_request(format!("give the {name} side: {name}=DIMENSION=VALUES")));
    }
    q.filters.extend_from_slice(filters);
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
    params: Params<ReconcileParams>,
) -> Result<Json<ReconciliationOut>, ApiError> {
    let And(shared, SidesParams { left, right, metric, threshold, top }) = params.into_inner()?;
    let threshold = match threshold {
        None => valdrix_core::reconcile::default_threshold_percent(),
        Some(v) => v
            .parse::<Decimal>()
            .ok()
            .filter(|t| !t.is_sign_negative())
            .ok_or_else(|| ApiError::bad_request(format!("threshold={v:?}: a percentage, e.g. 0.5")))?,
    };
    let top = Count::or(top, 5);
    let base = CostQuery { metric: metric.unwrap_or_default(), ..shared.query() };
    let (lq, rq) = (side(&base, &left, "left")?, side(&base, &right, "right")?);
    let tenant = caller.tenant.clone();
    let (l, r) = state.stores.run(move |s| Ok((s.costs(&tenant, &lq)?, s.costs(&tenant, &rq)?))).await?;
    let reconciliation = compare(&contributions(l), &contributions(r), threshold, top);
    Ok(Json(ReconciliationOut { flagged: reconciliation.flagged(), reconciliation }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_side_needs_a_filter_and_takes_each_given() {
        let base = CostQuery::default();
        assert!(side(&base, &[], "left").is_err());
        let given: ReconcileParams = super::super::params::parse("left=provider=AWS&left=region=").expect("read");
        let q = side(&base, &given.1.left, "left").expect("valid side");
        assert_eq!(q.filters.len(), 2);
        assert_eq!(q.filters[0], Filter { dimension: Dimension::Provider, values: vec!["AWS".into()] });
        assert!(super::super::params::parse::<ReconcileParams>("left=nonsense").is_err());
    }
}
