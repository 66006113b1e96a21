//! The AWS provider: resources through the official Rust SDK, metrics through CloudWatch's
//! GetMetricData.
//!
//! Credentials come from the standard chain (environment, profile, SSO, instance role), or from a
//! role assumed with an external id, which is how a customer grants a cross-account scan. The
//! endpoint honours `AWS_ENDPOINT_URL` (and the per-service variants), which is how the tests
//! point it at moto. Throttled and transient failures are retried by the SDK's standard retry
//! strategy with exponential backoff and jitter, up to [`MAX_ATTEMPTS`] attempts per call unless
//! `AWS_MAX_ATTEMPTS` says otherwise.

pub(crate) mod collect;
mod remediate;

pub use remediate::Outcome;

use crate::provider::{Listed, Measured, Provider, ProviderError, Window};
use crate::resource::{Cloud, Kind, MetricQuery, Series};
use aws_config::retry::RetryConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
use aws_smithy_types::error::display::DisplayErrorContext;
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// Attempts per API call, the first included, before a throttled or transient failure is
/// reported (the SDK's standard strategy: exponential backoff with jitter between them).
pub const MAX_ATTEMPTS: u32 = 6;

/// GetMetricData takes at most 500 queries a call.
const METRIC_BATCH: usize = 500;

/// Days back that ListMetrics vouches for: it lists what had data in the past two weeks.
const LISTED_DAYS: i64 = 13;

/// Queries from which listing the metrics first pays (fewer are read directly).
const LIST_FIRST: usize = 20;

/// How to reach one AWS account.
#[derive(Debug, Clone, Default)]
pub struct AwsConnection {
    /// A named profile of the shared config files (default: the standard chain).
    pub profile: Option<String>,
    /// A role to assume in the scanned account.
    pub role_arn: Option<String>,
    /// The external id the role's trust policy requires.
    pub external_id: Option<String>,
    /// The region for global calls (STS); default: the environment's, else `us-east-1`.
    pub home_region: Option<String>,
}

/// The SDK clients of one region.
struct Clients {
    ec2: aws_sdk_ec2::Client,
    elb: aws_sdk_elasticloadbalancing::Client,
    elbv2: aws_sdk_elasticloadbalancingv2::Client,
    rds: aws_sdk_rds::Client,
    redshift: aws_sdk_redshift::Client,
    sagemaker: aws_sdk_sagemaker::Client,
    ecr: aws_sdk_ecr::Client,
    s3: aws_sdk_s3::Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
}

impl Clients {
    fn new(base: &SdkConfig, region: &str) -> Clients {
        let config = base.to_builder().region(Region::new(region.to_string())).build();
        Clients {
            ec2: aws_sdk_ec2::Client::new(&config),
            elb: aws_sdk_elasticloadbalancing::Client::new(&config),
            elbv2: aws_sdk_elasticloadbalancingv2::Client::new(&config),
            rds: aws_sdk_rds::Client::new(&config),
            redshift: aws_sdk_redshift::Client::new(&config),
            sagemaker: aws_sdk_sagemaker::Client::new(&config),
            ecr: aws_sdk_ecr::Client::new(&config),
            // A custom endpoint (moto, LocalStack, MinIO) serves buckets by path, not by host.
            s3: aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(&config).force_path_style(config.endpoint_url().is_some()).build(),
            ),
            cloudwatch: aws_sdk_cloudwatch::Client::new(&config),
        }
    }
}

/// One AWS account, scanned through the SDK.
pub struct AwsProvider {
    config: SdkConfig,
    account: String,
    regions: Mutex<HashMap<String, Arc<Clients>>>,
}

impl std::fmt::Debug for AwsProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsProvider").field("account", &self.account).finish_non_exhaustive()
    }
}

/// A failed SDK call as a provider error, with the service's own code and message.
pub(crate) fn call_error<E>(service: &str, operation: &str, err: E) -> ProviderError
where
    E: std::error::Error + 'static,
{
    ProviderError::Call {
        service: service.into(),
        operation: operation.into(),
        message: DisplayErrorContext(&err).to_string(),
    }
}

/// An SDK timestamp as a chrono one.
pub(crate) fn to_chrono(t: &aws_smithy_types::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

fn to_smithy(t: DateTime<Utc>) -> aws_smithy_types::DateTime {
    aws_smithy_types::DateTime::from_secs(t.timestamp())
}

impl AwsProvider {
    /// Resolves credentials (assuming the role if one is given) and learns the account id
    /// from STS GetCallerIdentity, which also proves the credentials work.
    pub async fn connect(conn: &AwsConnection) -> Result<AwsProvider, ProviderError> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        // `AWS_MAX_ATTEMPTS` (or the profile's `max_attempts`) wins when set.
        if std::env::var_os("AWS_MAX_ATTEMPTS").is_none() {
            loader = loader.retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS));
        }
        if let Some(profile) = &conn.profile {
            loader = loader.profile_name(profile);
        }
        let region = match &conn.home_region {
            Some(r) => Region::new(r.clone()),
            None => aws_config::meta::region::RegionProviderChain::default_provider()
                .region()
                .await
                .unwrap_or_else(|| Region::new("us-east-1")),
        };
        let mut config = loader.region(region).load().await;
        if let Some(role) = &conn.role_arn {
            let mut assume =
                AssumeRoleProvider::builder(role.clone()).session_name("valdrix-zombies").configure(&config);
            if let Some(id) = &conn.external_id {
                assume = assume.external_id(id.clone());
            }
            let creds = assume.build().await;
            config = config.into_builder().credentials_provider(SharedCredentialsProvider::new(creds)).build();
        }
        let who = aws_sdk_sts::Client::new(&config)
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| call_error("sts", "GetCallerIdentity", e))?;
        let account = who.account().unwrap_or_default().to_string();
        Ok(AwsProvider { config, account, regions: Mutex::new(HashMap::new()) })
    }

    /// The regions enabled for the account (EC2 DescribeRegions), for `--region all`.
    pub async fn enabled_regions(&self) -> Result<Vec<String>, ProviderError> {
        let home = self.config.region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".into());
        let out = self
            .clients(&home)
            .ec2
            .describe_regions()
            .send()
            .await
            .map_err(|e| call_error("ec2", "DescribeRegions", e))?;
        let mut regions: Vec<String> =
            out.regions().iter().filter_map(|r| r.region_name().map(str::to_string)).collect();
        regions.sort();
        Ok(regions)
    }

    fn clients(&self, region: &str) -> Arc<Clients> {
        let mut map = self.regions.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.entry(region.to_string()).or_insert_with(|| Arc::new(Clients::new(&self.config, region))).clone()
    }

    /// The dimension sets of a metric that CloudWatch lists in a region: those with a data
    /// point in the past two weeks.
    async fn listed(
        &self,
        cw: &aws_sdk_cloudwatch::Client,
        namespace: &str,
        name: &str,
    ) -> Result<HashSet<DimensionKey>, ProviderError> {
        let mut pages = cw.list_metrics().namespace(namespace).metric_name(name).into_paginator().send();
        let mut out = HashSet::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| call_error("cloudwatch", "ListMetrics", e))?;
            for m in page.metrics() {
                out.insert(dimension_key(
                    m.dimensions().iter().map(|d| (d.name().unwrap_or_default(), d.value().unwrap_or_default())),
                ));
            }
        }
        Ok(out)
    }

    /// Reads metrics, asking GetMetricData only about what can have data.
    ///
    /// GetMetricData is billed per metric read, and a scan asks about thousands (every
    /// unattached volume's I/O). ListMetrics names every metric with a data point in the past
    /// two weeks, a page of 500 at a time, so when the window lies within them a metric it does
    /// not name has no data there and is not read; when the window reaches further back, only
    /// the older part is read for it.
    async fn read_metrics(
        &self,
        region: &str,
        queries: &[MetricQuery],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Series>, ProviderError> {
        let cw = self.clients(region).cloudwatch.clone();
        let now = Utc::now();
        let all: Vec<usize> = (0..queries.len()).collect();
        let reads = if worth_listing(queries.len(), to, now) {
            let mut active: HashMap<(&str, &str), HashSet<DimensionKey>> = HashMap::new();
            for q in queries {
                if let std::collections::hash_map::Entry::Vacant(e) = active.entry((&q.namespace, &q.name)) {
                    e.insert(self.listed(&cw, &q.namespace, &q.name).await?);
                }
            }
            let listed: Vec<bool> = queries
                .iter()
                .map(|q| {
                    let key = dimension_key(q.dimensions.iter().map(|(k, v)| (k.as_str(), v.as_str())));
                    active.get(&(q.namespace.as_str(), q.name.as_str())).is_some_and(|set| set.contains(&key))
                })
                .collect();
            plan_reads(&listed, from, to, now - chrono::Duration::days(LISTED_DAYS))
        } else {
            vec![Read { queries: all, from, to }]
        };
        let mut out = vec![Series::default(); queries.len()];
        for read in reads {
            let asked: Vec<&MetricQuery> = read.queries.iter().map(|i| &queries[*i]).collect();
            for (i, s) in read.queries.iter().zip(self.get_metric_data(&cw, &asked, read.from, read.to).await?) {
                out[*i] = s;
            }
        }
        Ok(out)
    }

    /// GetMetricData over queries, 500 a call, following next tokens; series in query order.
    async fn get_metric_data(
        &self,
        cw: &aws_sdk_cloudwatch::Client,
        queries: &[&MetricQuery],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Series>, ProviderError> {
        let mut out = vec![Series::default(); queries.len()];
        for (batch_no, batch) in queries.chunks(METRIC_BATCH).enumerate() {
            let base = batch_no * METRIC_BATCH;
            let mut request = cw.get_metric_data().start_time(to_smithy(from)).end_time(to_smithy(to));
            for (i, q) in batch.iter().enumerate() {
                let mut metric = Metric::builder().namespace(&q.namespace).metric_name(&q.name);
                for (k, v) in &q.dimensions {
                    metric = metric.dimensions(Dimension::builder().name(k).value(v).build());
                }
                let stat = MetricStat::builder()
                    .metric(metric.build())
                    .period(i32::try_from(q.period_secs).unwrap_or(i32::MAX))
                    .stat(q.statistic.as_str())
                    .build();
                request = request.metric_data_queries(
                    MetricDataQuery::builder().id(format!("q{}", base + i)).metric_stat(stat).return_data(true).build(),
                );
            }
            let mut pages = request.into_paginator().send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| call_error("cloudwatch", "GetMetricData", e))?;
                for result in page.metric_data_results() {
                    let Some(index) =
                        result.id().and_then(|id| id.strip_prefix('q')).and_then(|n| n.parse::<usize>().ok())
                    else {
                        continue;
                    };
                    let Some(series) = out.get_mut(index) else { continue };
                    for (t, v) in result.timestamps().iter().zip(result.values()) {
                        if let Some(t) = to_chrono(t) {
                            series.points.push((t, *v));
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}

/// One GetMetricData read: which queries, over which span.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Read {
    queries: Vec<usize>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
}

/// Whether listing the metrics first pays: enough queries, and a window that ended an hour ago
/// (a metric takes up to 15 minutes to be listed after its first data point).
fn worth_listing(queries: usize, to: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    queries >= LIST_FIRST && to <= now - chrono::Duration::hours(1)
}

/// The reads, given which queries' metrics ListMetrics names (`listed`) and the instant since
/// which it vouches (`listed_from`): a listed metric is read over the whole window; one it does
/// not name has no data since `listed_from`, so it is read only over the part of the window
/// before that, if any.
fn plan_reads(listed: &[bool], from: DateTime<Utc>, to: DateTime<Utc>, listed_from: DateTime<Utc>) -> Vec<Read> {
    let (loud, quiet): (Vec<usize>, Vec<usize>) = (0..listed.len()).partition(|i| listed[*i]);
    let mut reads = vec![];
    if !loud.is_empty() {
        reads.push(Read { queries: loud, from, to });
    }
    if !quiet.is_empty() && from < listed_from {
        reads.push(Read { queries: quiet, from, to: listed_from.min(to) });
    }
    reads
}

/// A metric's dimensions (name, value) in a canonical order.
type DimensionKey = Vec<(String, String)>;

/// A metric's dimensions in a canonical order, to compare sets.
fn dimension_key<'a>(dims: impl Iterator<Item = (&'a str, &'a str)>) -> DimensionKey {
    let mut key: Vec<(String, String)> = dims.map(|(k, v)| (k.to_string(), v.to_string())).collect();
    key.sort();
    key
}

impl Provider for AwsProvider {
    fn cloud(&self) -> Cloud {
        Cloud::Aws
    }

    fn account(&self) -> &str {
        &self.account
    }

    fn list<'a>(&'a self, region: &'a str, kind: Kind) -> Listed<'a> {
        Box::pin(async move {
            let clients = self.clients(region);
            let cx = collect::Listing { clients: &clients, region, account: &self.account };
            cx.list(kind).await
        })
    }

    fn metrics<'a>(&'a self, region: &'a str, queries: &'a [MetricQuery], window: Window) -> Measured<'a> {
        Box::pin(self.read_metrics(region, queries, window.from, window.to))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn day(d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, d, 0, 0, 0).unwrap()
    }

    #[test]
    fn quiet_metrics_are_read_only_before_what_list_metrics_vouches_for() {
        // A 7-day window inside the listed two weeks: only the listed metric is read.
        let reads = plan_reads(&[true, false, false], day(20), day(27), day(14));
        assert_eq!(reads, vec![Read { queries: vec![0], from: day(20), to: day(27) }]);
        // A 30-day window: the quiet ones are read over the part before the listed span.
        let reads = plan_reads(&[false, true, false], day(1), day(27), day(14));
        assert_eq!(
            reads,
            vec![
                Read { queries: vec![1], from: day(1), to: day(27) },
                Read { queries: vec![0, 2], from: day(1), to: day(14) }
            ]
        );
        // A window that ended before the listed span: read whole.
        let reads = plan_reads(&[false], day(1), day(8), day(14));
        assert_eq!(reads, vec![Read { queries: vec![0], from: day(1), to: day(8) }]);
        assert!(plan_reads(&[], day(1), day(8), day(14)).is_empty());
    }

    #[test]
    fn listing_first_needs_enough_queries_and_a_window_an_hour_old() {
        let now = day(27) + chrono::Duration::hours(3);
        assert!(worth_listing(LIST_FIRST, day(27), now));
        assert!(!worth_listing(LIST_FIRST - 1, day(27), now));
        // Judged minutes after midnight: the last data may not be listed yet.
        assert!(!worth_listing(500, day(27), day(27) + chrono::Duration::minutes(20)));
        // Judged in the future (tests move the clock): never.
        assert!(!worth_listing(500, day(28), now));
    }
}
