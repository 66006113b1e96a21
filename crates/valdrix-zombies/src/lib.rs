//! Zombie detection: idle and orphaned cloud resources, found by policy rules and priced from
//! the bill.
//!
//! The parts, in the order a scan uses them:
//! - [`provider`]: the trait a cloud (or an inventory file) implements: resources of a type in a
//!   region, and metric series.
//! - [`resource`]: what providers yield: [`resource::Resource`] with typed details, metric queries
//!   and series.
//! - [`rules`]: Cloud Custodian-style rules: a resource type, an attribute stage, metric checks
//!   ([`check`]) and the remediation they allow; thresholds come from a [`policy`] file.
//! - [`scan`]: regions and rules in parallel, bounded in time and concurrency, with a status per
//!   region and rule and partial results always returned.
//! - [`aws`]: the AWS provider, through the official SDK clients and CloudWatch GetMetricData.
//! - [`azure`] and [`gcp`]: the Azure (Resource Manager and Azure Monitor) and Google Cloud
//!   (Compute Engine and Cloud Monitoring) providers, over their REST APIs ([`rest`]).
//! - [`bill`] and [`prices`]: each finding's monthly cost, from the tenant's bill where it has
//!   lines for the resource, else from the shipped list prices, labelled an estimate.

pub mod aws;
pub mod azure;
pub mod bill;
pub mod check;
pub mod gcp;
pub mod inventory;
pub mod policy;
pub mod prices;
pub mod provider;
pub mod resource;
pub mod rest;
pub mod rules;
pub mod scan;

pub use policy::{Params, Policy};
pub use provider::{Listed, Measured, Provider, ProviderError, Window};
pub use resource::{Cloud, Details, Kind, MetricQuery, Resource, Series, Statistic};
pub use scan::{scan, Configured, Finding, ScanOptions, ScanReport, Status};
