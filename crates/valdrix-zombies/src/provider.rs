//! The provider trait: what a cloud (or an inventory file) yields to the scan.

use crate::resource::{Cloud, Kind, MetricQuery, Resource, Series};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;

/// A provider call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProviderError {
    /// The provider refused or failed the call (the message is its own).
    #[error("{service} {operation}: {message}")]
    Call {
        /// Service (`ec2`, `cloudwatch`, `compute`).
        service: String,
        /// Operation (`DescribeVolumes`).
        operation: String,
        /// What it said.
        message: String,
    },
    /// The provider has no such resource type (an Azure provider asked for EBS volumes).
    #[error("{0} does not list {1}")]
    Unsupported(&'static str, &'static str),
}

/// What [`Provider::list`] yields: every resource of a type in a region.
pub type Listed<'a> = BoxFuture<'a, Result<Vec<Resource>, ProviderError>>;

/// What [`Provider::metrics`] yields: one series per query, in the order asked.
pub type Measured<'a> = BoxFuture<'a, Result<Vec<Series>, ProviderError>>;

/// The instants a metric read covers: from `from` (inclusive) to `to` (exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The first instant read.
    pub from: DateTime<Utc>,
    /// The instant the read stops before.
    pub to: DateTime<Utc>,
}

/// A source of resources and metrics for one account, subscription or project.
///
/// Calls name the region they are about, so one provider serves a whole scan and the scan
/// decides what runs in parallel. Implementations retry throttled calls with backoff themselves.
pub trait Provider: Send + Sync {
    /// The cloud.
    fn cloud(&self) -> Cloud;
    /// The account, subscription or project scanned.
    fn account(&self) -> &str;
    /// Every resource of a type in a region.
    fn list<'a>(&'a self, region: &'a str, kind: Kind) -> Listed<'a>;
    /// Data points of each query between two instants, in the order asked.
    fn metrics<'a>(&'a self, region: &'a str, queries: &'a [MetricQuery], window: Window) -> Measured<'a>;
    /// Whether the provider has metrics at all (an inventory file has none: the scan then
    /// judges by attributes only, and says so).
    fn has_metrics(&self) -> bool {
        true
    }
}
