//! The Google Cloud provider: resources through the Compute Engine REST API, metrics through
//! Cloud Monitoring.
//!
//! Compute Engine lists a whole project at a time (aggregated lists over every zone and region,
//! global lists for snapshots, machine images and global addresses), so each resource type is
//! listed once and each region of the scan takes its share; global resources fall in the region
//! `global`. Lists follow `nextPageToken` to the end, and a zone the aggregated list could not
//! reach fails the listing rather than silently leaving its resources out. Metrics are read for
//! up to 100 resources a call (`one_of` in the filter), following page tokens.
//!
//! The endpoints are Google's unless the connection (or `VALDRIX_GCP_ENDPOINT`) names one base
//! URL serving both APIs' paths, which is how the tests point it at a local fake.

mod auth;
pub(crate) mod collect;

pub use auth::{GcpCredential, SCOPE};

use crate::provider::{Listed, Measured, Provider, ProviderError, Window};
use crate::resource::{Cloud, Kind, MetricQuery, Resource, Series, Statistic};
use crate::rest::{self, Listings, Rest};
use chrono::{DateTime, Duration, Utc};
use reqwest::Url;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// Compute Engine's API.
const COMPUTE: &str = "https://compute.googleapis.com/compute/v1/";
/// Cloud Monitoring's API.
const MONITORING: &str = "https://monitoring.googleapis.com/v3/";

/// Resources per Cloud Monitoring call.
const METRIC_BATCH: usize = 100;

/// Pages a listing may follow before it is treated as a loop.
const MAX_PAGES: usize = 10_000;

/// How to reach one Google Cloud project.
#[derive(Debug, Clone, Default)]
pub struct GcpConnection {
    /// The project (default: `GOOGLE_CLOUD_PROJECT`, `CLOUDSDK_CORE_PROJECT`, else the key
    /// file's).
    pub project: Option<String>,
    /// One base URL for both APIs (default: `VALDRIX_GCP_ENDPOINT`, else Google's).
    pub endpoint: Option<String>,
}

/// One Google Cloud project, scanned through Compute Engine and Cloud Monitoring.
pub struct GcpProvider {
    rest: Rest,
    compute: Url,
    monitoring: Url,
    project: String,
    listings: Listings,
}

impl std::fmt::Debug for GcpProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcpProvider").field("project", &self.project).finish_non_exhaustive()
    }
}

fn error(operation: &str, message: impl Into<String>) -> ProviderError {
    ProviderError::Call { service: "gcp".into(), operation: operation.into(), message: message.into() }
}

/// Cloud Monitoring's aligner for a statistic.
fn aligner(s: Statistic) -> &'static str {
    match s {
        Statistic::Average => "ALIGN_MEAN",
        Statistic::Sum => "ALIGN_SUM",
        Statistic::Maximum => "ALIGN_MAX",
        Statistic::Minimum => "ALIGN_MIN",
    }
}

impl GcpProvider {
    /// Resolves credentials and reads the project, which proves they reach it.
    pub async fn connect(conn: &GcpConnection) -> Result<GcpProvider, ProviderError> {
        let (credential, file_project) = GcpCredential::from_env()?;
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let project = conn
            .project
            .clone()
            .or_else(|| env("GOOGLE_CLOUD_PROJECT"))
            .or_else(|| env("CLOUDSDK_CORE_PROJECT"))
            .or(file_project)
            .ok_or_else(|| error("connect", "no project: pass --project or set GOOGLE_CLOUD_PROJECT"))?;
        let (compute, monitoring) = match conn.endpoint.clone().or_else(|| env("VALDRIX_GCP_ENDPOINT")) {
            Some(e) => {
                let e = e.trim_end_matches('/');
                (rest::base(&format!("{e}/compute/v1"))?, rest::base(&format!("{e}/v3"))?)
            }
            None => (rest::base(COMPUTE)?, rest::base(MONITORING)?),
        };
        let provider = GcpProvider {
            rest: Rest::new("gcp", Box::new(credential))?,
            compute,
            monitoring,
            project,
            listings: Listings::default(),
        };
        let url = rest::url(&provider.compute, &format!("projects/{}", provider.project), &[("fields", "name,id")])?;
        provider.rest.get("GetProject", &url).await?;
        Ok(provider)
    }

    /// The regions (and `global`) that hold resources of these types, for a scan of "every
    /// region".
    pub async fn regions(&self, kinds: &[Kind]) -> Result<Vec<String>, ProviderError> {
        self.listings.regions(kinds, |k| self.list_all(k)).await
    }

    /// Every page of a list: `items` as an array (global lists) or as a map of scopes
    /// (aggregated lists), each scope's `collection` array.
    async fn pages(&self, operation: &str, path: &str, collection: &str) -> Result<Vec<Value>, ProviderError> {
        let aggregated = path.contains("/aggregated/");
        let mut token: Option<String> = None;
        let mut items = vec![];
        for _ in 0..MAX_PAGES {
            let mut query = vec![("maxResults", "500")];
            if aggregated {
                query.push(("returnPartialSuccess", "true"));
            }
            if let Some(t) = &token {
                query.push(("pageToken", t));
            }
            let url = rest::url(&self.compute, &format!("projects/{}/{path}", self.project), &query)?;
            let page = self.rest.get(operation, &url).await?;
            if let Some(unreachable) = page.get("unreachables").and_then(Value::as_array).filter(|u| !u.is_empty()) {
                let scopes: Vec<&str> = unreachable.iter().filter_map(Value::as_str).collect();
                return Err(error(operation, format!("unreachable: {}", scopes.join(", "))));
            }
            match page.get("items") {
                Some(Value::Array(list)) => items.extend(list.iter().cloned()),
                Some(Value::Object(scopes)) => {
                    for scoped in scopes.values() {
                        if let Some(list) = scoped.get(collection).and_then(Value::as_array) {
                            items.extend(list.iter().cloned());
                        }
                    }
                }
                _ => {}
            }
            match page.get("nextPageToken").and_then(Value::as_str).filter(|s| !s.is_empty()) {
                Some(t) => token = Some(t.to_string()),
                None => return Ok(items),
            }
        }
        Err(error(operation, format!("more than {MAX_PAGES} pages")))
    }

    async fn list_all(&self, kind: Kind) -> Result<Vec<Resource>, ProviderError> {
        let lists: &[(&str, &str, &str)] = match kind {
            Kind::GcpDisk => &[("disks.aggregatedList", "aggregated/disks", "disks")],
            Kind::GcpInstance => &[("instances.aggregatedList", "aggregated/instances", "instances")],
            Kind::GcpSnapshot => &[("snapshots.list", "global/snapshots", "items")],
            Kind::GcpMachineImage => &[("machineImages.list", "global/machineImages", "items")],
            Kind::GcpAddress => &[
                ("addresses.aggregatedList", "aggregated/addresses", "addresses"),
                ("globalAddresses.list", "global/addresses", "items"),
            ],
            other => return Err(ProviderError::Unsupported("the GCP provider", other.as_str())),
        };
        let mut out = vec![];
        for (operation, path, collection) in lists {
            let items = self.pages(operation, path, collection).await?;
            out.extend(items.iter().filter_map(|v| collect::resource(kind, v, &self.project)));
        }
        Ok(out)
    }

    /// Series of queries that share a metric, statistic, period and label, read for up to
    /// [`METRIC_BATCH`] resources a call.
    async fn read_group(
        &self,
        queries: &[(usize, &MetricQuery)],
        out: &mut [Series],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<(), ProviderError> {
        const OP: &str = "timeSeries.list";
        let Some((_, first)) = queries.first() else { return Ok(()) };
        let Some((label, _)) = first.dimensions.first() else {
            return Err(error(OP, format!("{}: no resource label", first.name)));
        };
        let metric_type = format!("{}/{}", first.namespace, first.name);
        // Utilization is published as a fraction; rules speak in percent.
        let scale = if first.name.ends_with("utilization") { 100.0 } else { 1.0 };
        let period = Duration::seconds(i64::from(first.period_secs));
        for batch in queries.chunks(METRIC_BATCH) {
            let mut by_value: HashMap<&str, Vec<usize>> = HashMap::new();
            for (i, q) in batch {
                if let Some((_, v)) = q.dimensions.first() {
                    by_value.entry(v.as_str()).or_default().push(*i);
                }
            }
            let values: Vec<String> = by_value.keys().map(|v| format!("{v:?}")).collect();
            let filter =
                format!("metric.type = \"{metric_type}\" AND resource.labels.{label} = one_of({})", values.join(","));
            let alignment = format!("{}s", first.period_secs);
            let (start, end) = (rest::instant(from), rest::instant(to));
            let mut token: Option<String> = None;
            for _ in 0..MAX_PAGES {
                let mut query = vec![
                    ("filter", filter.as_str()),
                    ("interval.startTime", start.as_str()),
                    ("interval.endTime", end.as_str()),
                    ("aggregation.alignmentPeriod", alignment.as_str()),
                    ("aggregation.perSeriesAligner", aligner(first.statistic)),
                ];
                if let Some(t) = &token {
                    query.push(("pageToken", t));
                }
                let url = rest::url(&self.monitoring, &format!("projects/{}/timeSeries", self.project), &query)?;
                let page = self.rest.get(OP, &url).await?;
                for ts in page.get("timeSeries").and_then(Value::as_array).into_iter().flatten() {
                    let Some(owner) = rest::str_at(ts, &["resource", "labels", label]) else { continue };
                    let Some(targets) = by_value.get(owner) else { continue };
                    for p in ts.get("points").and_then(Value::as_array).into_iter().flatten() {
                        let value = p
                            .pointer("/value/doubleValue")
                            .and_then(Value::as_f64)
                            .or_else(|| rest::int_at(p, &["value", "int64Value"]).map(|n| n as f64));
                        // An aligned point ends at its period's end: it belongs to the period
                        // before, so that the last hour of a day is not counted in the next.
                        let start = rest::time_at(p, &["interval", "endTime"]).map(|t| t - period);
                        if let (Some(t), Some(v)) = (start, value) {
                            for i in targets {
                                if let Some(s) = out.get_mut(*i) {
                                    s.points.push((t, v * scale));
                                }
                            }
                        }
                    }
                }
                match page.get("nextPageToken").and_then(Value::as_str).filter(|s| !s.is_empty()) {
                    Some(t) => token = Some(t.to_string()),
                    None => break,
                }
            }
        }
        Ok(())
    }

    async fn read_metrics(
        &self,
        queries: &[MetricQuery],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Series>, ProviderError> {
        // Queries that can share a call: metric, statistic, period and resource label alike.
        type Shared = (String, String, &'static str, u32, String);
        let mut groups: BTreeMap<Shared, Vec<(usize, &MetricQuery)>> = BTreeMap::new();
        for (i, q) in queries.iter().enumerate() {
            let label = q.dimensions.first().map(|(k, _)| k.clone()).unwrap_or_default();
            groups
                .entry((q.namespace.clone(), q.name.clone(), q.statistic.as_str(), q.period_secs, label))
                .or_default()
                .push((i, q));
        }
        let mut out = vec![Series::default(); queries.len()];
        for group in groups.values() {
            self.read_group(group, &mut out, from, to).await?;
        }
        Ok(out)
    }
}

impl Provider for GcpProvider {
    fn cloud(&self) -> Cloud {
        Cloud::Gcp
    }

    fn account(&self) -> &str {
        &self.project
    }

    fn list<'a>(&'a self, region: &'a str, kind: Kind) -> Listed<'a> {
        Box::pin(self.listings.in_region(kind, region, self.list_all(kind)))
    }

    fn metrics<'a>(&'a self, _region: &'a str, queries: &'a [MetricQuery], window: Window) -> Measured<'a> {
        Box::pin(self.read_metrics(queries, window.from, window.to))
    }
}
