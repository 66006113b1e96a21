//! Zombie scans: the rules of a cloud run over an account (or an inventory file), findings priced
//! from the tenant's bill and recorded with their history; remediation plans.

pub mod remediate;

use chrono::{DateTime, Utc};
use std::path::PathBuf;
use std::time::Duration;
use valdrix_core::TenantId;
use valdrix_store::Store;
use valdrix_zombies::aws::{AwsConnection, AwsProvider};
use valdrix_zombies::azure::{AzureConnection, AzureProvider};
use valdrix_zombies::bill::BillPrices;
use valdrix_zombies::gcp::{GcpConnection, GcpProvider};
use valdrix_zombies::inventory::InventoryProvider;
use valdrix_zombies::rules::Rule;
use valdrix_zombies::scan::Status;
use valdrix_zombies::Kind;
use valdrix_zombies::{Cloud, Configured, Params, Policy, Provider, ScanOptions, ScanReport};

use crate::error::{AppError, Context, Result};

/// What to scan, and how.
#[derive(Debug, Clone)]
pub struct ScanRequest {
    /// The cloud.
    pub cloud: Cloud,
    /// Regions; `all` stands for every region enabled for the account (AWS) or holding
    /// resources (Azure, GCP); none: the home region (AWS) or all (Azure, GCP).
    pub regions: Vec<String>,
    /// A policy file (thresholds, exclusions, rules turned off).
    pub policy: Option<PathBuf>,
    /// Only these rules (none: every enabled rule).
    pub only_rules: Vec<String>,
    /// The evaluation time (default: now).
    pub at: Option<DateTime<Utc>>,
    /// How to reach the AWS account.
    pub aws: AwsConnection,
    /// How to reach the Azure subscription.
    pub azure: AzureConnection,
    /// How to reach the GCP project.
    pub gcp: GcpConnection,
    /// An inventory file to scan instead of the cloud (AWS Config snapshot, Azure Resource
    /// Graph result, GCP Cloud Asset Inventory export, by the cloud).
    pub inventory: Option<PathBuf>,
    /// The account, subscription or project to take from an inventory covering several.
    pub account: Option<String>,
    /// Bound on listing one region.
    pub region_timeout: Duration,
    /// Bound on one rule in one region.
    pub rule_timeout: Duration,
    /// Bound on the whole scan.
    pub timeout: Duration,
    /// Provider calls in flight at once.
    pub concurrency: usize,
}

/// The rules of a cloud with their parameters: defaults, then the policy file.
fn configured<'a>(rules: &'a [Box<dyn Rule>], req: &ScanRequest) -> Result<Vec<Configured<'a>>> {
    let known: Vec<(&str, Params)> = rules.iter().map(|r| (r.id(), r.defaults())).collect();
    let policy = match &req.policy {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| AppError::Invalid(format!("reading policy {}: {e}", path.display())))?;
            Policy::parse(&path.display().to_string(), &text, &known)?
        }
        None => Policy::default(),
    };
    for id in &req.only_rules {
        if !rules.iter().any(|r| r.id() == id) {
            return Err(AppError::Invalid(format!("--rule {id}: no such rule (valdrix zombies rules lists them)")));
        }
    }
    Ok(rules
        .iter()
        .filter(|r| req.only_rules.is_empty() || req.only_rules.iter().any(|id| id == r.id()))
        .map(|r| Configured { rule: r.as_ref(), params: policy.params(r.id(), r.defaults()) })
        .collect())
}

/// Scans, then prices the findings from the tenant's bill where the store has lines for them.
pub fn scan(store: Option<&dyn Store>, tenant: &TenantId, req: &ScanRequest) -> Result<ScanReport> {
    let rules: Vec<Box<dyn Rule>> =
        valdrix_zombies::rules::all().into_iter().filter(|r| r.kind().cloud() == req.cloud).collect();
    let configured = configured(&rules, req)?;
    // Every type an enabled rule judges or consults: what "every region" is discovered from on
    // clouds that list a whole subscription or project at once.
    let kinds: Vec<Kind> = configured
        .iter()
        .filter(|c| c.params.enabled)
        .flat_map(|c| std::iter::once(c.rule.kind()).chain(c.rule.needs().iter().copied()))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let every = req.regions.is_empty() || req.regions.iter().any(|r| r == "all");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let mut report = runtime.block_on(async {
        let discover = |what: &'static str| move |e: valdrix_zombies::ProviderError| AppError::from(e).context(what);
        let options = |regions: Vec<String>| {
            let mut opts = ScanOptions::new(regions, req.at.unwrap_or_else(Utc::now));
            opts.region_timeout = req.region_timeout;
            opts.rule_timeout = req.rule_timeout;
            opts.global_timeout = req.timeout;
            opts.concurrency = req.concurrency;
            opts
        };
        if let Some(path) = &req.inventory {
            let provider = InventoryProvider::read(req.cloud, path, req.account.as_deref())?;
            let regions = if every { provider.regions() } else { req.regions.clone() };
            return Ok(valdrix_zombies::scan(&provider as &dyn Provider, &configured, &options(regions)).await);
        }
        let report = match req.cloud {
            Cloud::Aws => {
                let provider = AwsProvider::connect(&req.aws).await.context("connecting to AWS")?;
                let regions = if req.regions.iter().any(|r| r == "all") {
                    provider.enabled_regions().await.context("listing the account's regions")?
                } else if req.regions.is_empty() {
                    vec![req.aws.home_region.clone().unwrap_or_else(home_region)]
                } else {
                    req.regions.clone()
                };
                valdrix_zombies::scan(&provider as &dyn Provider, &configured, &options(regions)).await
            }
            Cloud::Azure => {
                let provider = AzureProvider::connect(&req.azure).await.context("connecting to Azure")?;
                let regions = if every {
                    bounded(req.timeout, provider.locations(&kinds))
                        .await?
                        .map_err(discover("listing the subscription's resources"))?
                } else {
                    req.regions.clone()
                };
                valdrix_zombies::scan(&provider as &dyn Provider, &configured, &options(regions)).await
            }
            Cloud::Gcp => {
                let provider = GcpProvider::connect(&req.gcp).await.context("connecting to Google Cloud")?;
                let regions = if every {
                    bounded(req.timeout, provider.regions(&kinds))
                        .await?
                        .map_err(discover("listing the project's resources"))?
                } else {
                    req.regions.clone()
                };
                valdrix_zombies::scan(&provider as &dyn Provider, &configured, &options(regions)).await
            }
        };
        Ok::<_, AppError>(report)
    })?;
    if let Some(store) = store {
        report.price_from_bill(&BillPrices::new(store, tenant)).context("reading the bill for prices")?;
    }
    Ok(report)
}

/// A future bounded by the scan's global timeout.
async fn bounded<T>(limit: Duration, f: impl std::future::Future<Output = T>) -> Result<T> {
    tokio::time::timeout(limit, f).await.map_err(|_| {
        AppError::Remote(format!("finding the regions to scan took longer than the scan's timeout ({limit:?})"))
    })
}

/// The region of the environment or profile (`AWS_REGION`, `AWS_DEFAULT_REGION`), else us-east-1.
fn home_region() -> String {
    ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "us-east-1".into())
}

/// Records a scan in the store: what is new, still present, resolved or ignored since the last
/// scan of the account. Findings of rules and regions that did not finish are left as they were.
pub fn record(
    store: &mut dyn Store,
    tenant: &TenantId,
    report: &ScanReport,
    actor: &str,
) -> Result<valdrix_store::zombies::ZombieScanSummary> {
    use valdrix_store::zombies::{NewZombieScan, ZombieKey, ZombieObservation};
    let cloud = report.cloud.as_str().to_string();
    let findings = report
        .findings
        .iter()
        .map(|f| {
            Ok(ZombieObservation {
                key: ZombieKey {
                    cloud: cloud.clone(),
                    account: report.account.clone(),
                    rule: f.rule.clone(),
                    region: f.region.clone(),
                    resource_id: f.resource_id.clone(),
                },
                resource_type: f.resource_type.clone(),
                monthly_cost: f.monthly_cost,
                monthly_savings: f.monthly_savings,
                currency: f.currency.clone(),
                cost_source: cost_source(f),
                finding: serde_json::to_string(f).map_err(|e| AppError::Internal(format!("a finding as JSON: {e}")))?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let statuses = serde_json::json!({ "regions": report.regions, "rules": report.rules });
    let scan = NewZombieScan {
        cloud,
        account: report.account.clone(),
        evaluated_at: report.evaluated_at,
        actor: actor.to_string(),
        complete: report.complete(),
        finished: report
            .rules
            .iter()
            .filter(|r| r.status == Status::Ok)
            .map(|r| (r.rule.clone(), r.region.clone()))
            .collect(),
        statuses: statuses.to_string(),
        findings,
    };
    Ok(store.record_zombie_scan(tenant, &scan)?)
}

pub fn cost_source(f: &valdrix_zombies::Finding) -> String {
    serde_json::to_value(f.cost_source).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}
