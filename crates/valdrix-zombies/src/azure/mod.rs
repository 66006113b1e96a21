//! The Azure provider: resources through the Resource Manager REST API, metrics through Azure
//! Monitor.
//!
//! Resource Manager lists a whole subscription at a time, so each resource type is listed once
//! and each location (region) of the scan takes its share. Lists follow `nextLink` to the end.
//! Metrics are read per resource (the Monitor API answers one resource a call), a few calls at
//! a time. The endpoint is `https://management.azure.com/` unless the connection (or
//! `VALDRIX_AZURE_ENDPOINT`) names another, which is how the tests point it at a local fake.

mod auth;
pub(crate) mod collect;

pub use auth::AzureCredential;

use crate::provider::{Listed, Measured, Provider, ProviderError, Window};
use crate::resource::{Cloud, Kind, MetricQuery, Resource, Series, Statistic};
use crate::rest::{self, Listings, Rest};
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use reqwest::Url;
use serde_json::Value;

/// Azure Resource Manager in the public cloud.
pub const ARM_ENDPOINT: &str = "https://management.azure.com/";

/// Azure Monitor metric reads in flight at once, per scan call.
const METRIC_CALLS: usize = 8;

/// Pages a listing may follow before it is treated as a loop.
const MAX_PAGES: usize = 10_000;

/// How to reach one Azure subscription.
#[derive(Debug, Clone, Default)]
pub struct AzureConnection {
    /// The subscription (default: `AZURE_SUBSCRIPTION_ID`).
    pub subscription: Option<String>,
    /// Resource Manager's base URL (default: `VALDRIX_AZURE_ENDPOINT`, else the public cloud's).
    pub endpoint: Option<String>,
}

/// One Azure subscription, scanned through Resource Manager and Azure Monitor.
pub struct AzureProvider {
    rest: Rest,
    arm: Url,
    subscription: String,
    listings: Listings,
}

impl std::fmt::Debug for AzureProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureProvider").field("subscription", &self.subscription).finish_non_exhaustive()
    }
}

fn error(operation: &str, message: impl Into<String>) -> ProviderError {
    ProviderError::Call { service: "azure".into(), operation: operation.into(), message: message.into() }
}

/// Azure Monitor's name for a period (it takes only these).
fn interval(period_secs: u32) -> Option<&'static str> {
    Some(match period_secs {
        60 => "PT1M",
        300 => "PT5M",
        900 => "PT15M",
        1800 => "PT30M",
        3600 => "PT1H",
        21_600 => "PT6H",
        43_200 => "PT12H",
        86_400 => "P1D",
        _ => return None,
    })
}

/// Azure Monitor's aggregation for a statistic, and the key its data points carry it under.
fn aggregation(s: Statistic) -> (&'static str, &'static str) {
    match s {
        Statistic::Average => ("Average", "average"),
        Statistic::Sum => ("Total", "total"),
        Statistic::Maximum => ("Maximum", "maximum"),
        Statistic::Minimum => ("Minimum", "minimum"),
    }
}

impl AzureProvider {
    /// Resolves credentials and reads the subscription, which proves they reach it.
    pub async fn connect(conn: &AzureConnection) -> Result<AzureProvider, ProviderError> {
        let subscription = conn
            .subscription
            .clone()
            .or_else(|| std::env::var("AZURE_SUBSCRIPTION_ID").ok())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| error("connect", "no subscription: pass --subscription or set AZURE_SUBSCRIPTION_ID"))?;
        let endpoint = conn
            .endpoint
            .clone()
            .or_else(|| std::env::var("VALDRIX_AZURE_ENDPOINT").ok())
            .unwrap_or_else(|| ARM_ENDPOINT.to_string());
        let provider = AzureProvider {
            rest: Rest::new("azure", Box::new(AzureCredential::from_env()))?,
            arm: rest::base(&endpoint)?,
            subscription,
            listings: Listings::default(),
        };
        let url = rest::url(
            &provider.arm,
            &format!("subscriptions/{}", provider.subscription),
            &[("api-version", "2022-12-01")],
        )?;
        let sub = provider.rest.get("GetSubscription", &url).await?;
        let state = rest::str_at(&sub, &["state"]).unwrap_or("Enabled");
        if !matches!(state, "Enabled" | "PastDue" | "Warned") {
            return Err(error("GetSubscription", format!("subscription {} is {state}", provider.subscription)));
        }
        Ok(provider)
    }

    /// The locations that hold resources of these types, for a scan of "every region".
    pub async fn locations(&self, kinds: &[Kind]) -> Result<Vec<String>, ProviderError> {
        self.listings.regions(kinds, |k| self.list_all(k)).await
    }

    /// Every item of a subscription-wide list, following `nextLink`.
    async fn pages(
        &self,
        operation: &str,
        provider_path: &str,
        query: &[(&str, &str)],
    ) -> Result<Vec<Value>, ProviderError> {
        let mut url =
            rest::url(&self.arm, &format!("subscriptions/{}/providers/{provider_path}", self.subscription), query)?;
        let mut items = vec![];
        for _ in 0..MAX_PAGES {
            let page = self.rest.get(operation, &url).await?;
            if let Some(values) = page.get("value").and_then(Value::as_array) {
                items.extend(values.iter().cloned());
            }
            match page.get("nextLink").and_then(Value::as_str).filter(|s| !s.is_empty()) {
                Some(next) => url = Url::parse(next).map_err(|e| error(operation, format!("nextLink {next}: {e}")))?,
                None => return Ok(items),
            }
        }
        Err(error(operation, format!("more than {MAX_PAGES} pages")))
    }

    async fn list_all(&self, kind: Kind) -> Result<Vec<Resource>, ProviderError> {
        let (operation, path, version) = match kind {
            Kind::AzureDisk => ("ListDisks", "Microsoft.Compute/disks", "2023-10-02"),
            Kind::AzureSnapshot => ("ListSnapshots", "Microsoft.Compute/snapshots", "2023-10-02"),
            Kind::AzurePublicIp => ("ListPublicIPAddresses", "Microsoft.Network/publicIPAddresses", "2024-05-01"),
            Kind::AzureNic => ("ListNetworkInterfaces", "Microsoft.Network/networkInterfaces", "2024-05-01"),
            Kind::AzureVm => ("ListVirtualMachines", "Microsoft.Compute/virtualMachines", "2024-07-01"),
            other => return Err(ProviderError::Unsupported("the Azure provider", other.as_str())),
        };
        let mut query = vec![("api-version", version)];
        // The power state comes with the list only when asked for.
        if kind == Kind::AzureVm {
            query.push(("statusOnly", "true"));
        }
        let items = self.pages(operation, path, &query).await?;
        Ok(items.iter().filter_map(|v| collect::resource(kind, v, &self.subscription)).collect())
    }

    /// One resource's metric between two instants.
    async fn read_metric(
        &self,
        q: &MetricQuery,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Series, ProviderError> {
        const OP: &str = "GetMetrics";
        let resource = q
            .dimensions
            .iter()
            .find(|(k, _)| k == "resourceId")
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| error(OP, format!("{}: no resourceId dimension", q.name)))?;
        let period = interval(q.period_secs)
            .ok_or_else(|| error(OP, format!("Azure Monitor has no {}-second interval", q.period_secs)))?;
        let (aggregation, key) = aggregation(q.statistic);
        let timespan = format!("{}/{}", rest::instant(from), rest::instant(to));
        let url = rest::url(
            &self.arm,
            &format!("{}/providers/Microsoft.Insights/metrics", resource.trim_start_matches('/')),
            &[
                ("api-version", "2023-10-01"),
                ("metricnames", &q.name),
                ("metricnamespace", &q.namespace),
                ("timespan", &timespan),
                ("interval", period),
                ("aggregation", aggregation),
            ],
        )?;
        let answer = self.rest.get(OP, &url).await?;
        let mut series = Series::default();
        for metric in answer.get("value").and_then(Value::as_array).into_iter().flatten() {
            for ts in metric.get("timeseries").and_then(Value::as_array).into_iter().flatten() {
                for point in ts.get("data").and_then(Value::as_array).into_iter().flatten() {
                    // A period without data has a time stamp and no value.
                    if let (Some(t), Some(v)) =
                        (rest::time_at(point, &["timeStamp"]), point.get(key).and_then(Value::as_f64))
                    {
                        series.points.push((t, v));
                    }
                }
            }
        }
        Ok(series)
    }
}

impl Provider for AzureProvider {
    fn cloud(&self) -> Cloud {
        Cloud::Azure
    }

    fn account(&self) -> &str {
        &self.subscription
    }

    fn list<'a>(&'a self, region: &'a str, kind: Kind) -> Listed<'a> {
        Box::pin(self.listings.in_region(kind, region, self.list_all(kind)))
    }

    fn metrics<'a>(&'a self, _region: &'a str, queries: &'a [MetricQuery], window: Window) -> Measured<'a> {
        Box::pin(
            futures::stream::iter(queries.iter().map(move |q| self.read_metric(q, window.from, window.to)))
                .buffered(METRIC_CALLS)
                .try_collect(),
        )
    }
}
