//! AWS Cost Explorer `GetCostAndUsage` as one side of a reconciliation: daily amounts per
//! service and linked account, unblended (the invoice view, against BilledCost) or amortized
//! (against EffectiveCost).
//!
//! Credentials, region and endpoint come from the AWS environment (`AWS_PROFILE`,
//! `AWS_ACCESS_KEY_ID`…, `AWS_ENDPOINT_URL`); Cost Explorer lives in `us-east-1`, the default
//! region here. Cost Explorer names services its own way ("Amazon Elastic Compute Cloud -
//! Compute", "EC2 - Other") where a CUR says "Amazon Elastic Compute Cloud": totals and accounts
//! compare directly, service rows may pair up by name only partly.

use crate::error::{AppError, Result};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::str::FromStr;

use aws_sdk_costexplorer::error::DisplayErrorContext;
use aws_sdk_costexplorer::types::{DateInterval, Granularity, GroupDefinition, GroupDefinitionType};
use valdrix_core::reconcile::Contribution;
use valdrix_store::Metric;

/// The Cost Explorer metric that matches a stored metric.
pub fn metric_name(metric: Metric) -> Result<&'static str> {
    Ok(match metric {
        Metric::Billed => "UnblendedCost",
        Metric::Effective => "AmortizedCost",
        other => {
            return Err(AppError::Invalid(format!(
                "Cost Explorer has no metric for {other:?}: use billed (UnblendedCost) or effective (AmortizedCost)"
            )))
        }
    })
}

/// Daily amounts per service and linked account from `from` (included) to `to` (excluded).
pub fn get_cost_and_usage(from: NaiveDate, to: NaiveDate, metric: Metric) -> Result<Vec<Contribution>> {
    let name = metric_name(metric)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(fetch(from, to, name))
}

async fn fetch(from: NaiveDate, to: NaiveDate, metric: &str) -> Result<Vec<Contribution>> {
    let region = aws_config::meta::region::RegionProviderChain::default_provider().or_else("us-east-1");
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).region(region).load().await;
    let client = aws_sdk_costexplorer::Client::new(&config);
    let period = DateInterval::builder()
        .start(from.to_string())
        .end(to.to_string())
        .build()
        .map_err(|e| AppError::Internal(format!("Cost Explorer period: {e}")))?;
    let group = |key: &str| GroupDefinition::builder().r#type(GroupDefinitionType::Dimension).key(key).build();
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let resp = client
            .get_cost_and_usage()
            .time_period(period.clone())
            .granularity(Granularity::Daily)
            .metrics(metric)
            .group_by(group("SERVICE"))
            .group_by(group("LINKED_ACCOUNT"))
            .set_next_page_token(token.take())
            .send()
            .await
            .map_err(|e| AppError::Remote(format!("Cost Explorer GetCostAndUsage: {}", DisplayErrorContext(&e))))?;
        for r in resp.results_by_time() {
            let start = r.time_period().map(|t| t.start()).unwrap_or_default();
            let day = NaiveDate::parse_from_str(start, "%Y-%m-%d")
                .map_err(|e| AppError::Remote(format!("Cost Explorer returned a period starting {start:?}: {e}")))?;
            for g in r.groups() {
                let keys = g.keys();
                let Some(value) = g.metrics().and_then(|m| m.get(metric)) else { continue };
                let amount = value.amount().unwrap_or("0");
                out.push(Contribution {
                    currency: value.unit().unwrap_or("USD").to_string(),
                    service: keys.first().cloned(),
                    account: keys.get(1).cloned(),
                    day: Some(day),
                    amount: Decimal::from_str(amount)
                        .or_else(|_| Decimal::from_scientific(amount))
                        .map_err(|e| AppError::Remote(format!("Cost Explorer amount {amount:?} on {day}: {e}")))?,
                });
            }
        }
        pages += 1;
        match resp.next_page_token() {
            Some(t) if !t.is_empty() && pages < 10_000 => token = Some(t.to_string()),
            _ => break,
        }
    }
    Ok(out)
}
