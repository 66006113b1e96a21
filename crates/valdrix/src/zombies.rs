//! `valdrix zombies`: scan an account for idle and orphaned resources, price each finding from
//! the tenant's bill (or the shipped list prices, labelled an estimate), and render the report.

use crate::output::{money_for_people, Grid, OutputFormat};
use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use std::io::Write;
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
            let text = std::fs::read_to_string(path).with_context(|| format!("reading policy {}", path.display()))?;
            Policy::parse(&path.display().to_string(), &text, &known)?
        }
        None => Policy::default(),
    };
    for id in &req.only_rules {
        if !rules.iter().any(|r| r.id() == id) {
            bail!("--rule {id}: no such rule (valdrix zombies rules lists them)");
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
        let discover = |what: &'static str| move |e| anyhow::Error::new(e).context(what);
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
            return anyhow::Ok(valdrix_zombies::scan(&provider as &dyn Provider, &configured, &options(regions)).await);
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
        anyhow::Ok(report)
    })?;
    if let Some(store) = store {
        report.price_from_bill(&BillPrices::new(store, tenant)).context("reading the bill for prices")?;
    }
    Ok(report)
}

/// A future bounded by the scan's global timeout.
async fn bounded<T>(limit: Duration, f: impl std::future::Future<Output = T>) -> Result<T> {
    tokio::time::timeout(limit, f)
        .await
        .map_err(|_| anyhow::anyhow!("finding the regions to scan took longer than the scan's timeout ({limit:?})"))
}

/// The region of the environment or profile (`AWS_REGION`, `AWS_DEFAULT_REGION`), else us-east-1.
fn home_region() -> String {
    ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "us-east-1".into())
}

fn money(d: Option<rust_decimal::Decimal>, people: bool) -> Option<String> {
    d.map(|d| if people { money_for_people(d) } else { d.to_string() })
}

/// The findings as a grid (table and CSV).
fn findings_grid(report: &ScanReport, people: bool) -> Grid {
    let columns = [
        "rule",
        "resource_id",
        "resource_type",
        "region",
        "monthly_cost",
        "currency",
        "cost_source",
        "monthly_savings",
        "reason",
    ];
    let rows = report
        .findings
        .iter()
        .map(|f| {
            vec![
                Some(f.rule.clone()),
                Some(f.resource_id.clone()),
                Some(f.resource_type.clone()),
                Some(f.region.clone()),
                money(f.monthly_cost, people),
                f.currency.clone(),
                Some(cost_source(f)),
                money(f.monthly_savings, people),
                Some(f.reason.clone()),
            ]
        })
        .collect();
    Grid {
        columns: columns.iter().map(|c| c.to_string()).collect(),
        rows,
        numeric: columns.iter().map(|c| c.starts_with("monthly")).collect(),
    }
}

fn status_text(s: &Status) -> String {
    match s {
        Status::Ok => "ok".into(),
        Status::Timeout => "timeout".into(),
        Status::Error(m) => format!("error: {m}"),
    }
}

/// Writes a report: JSON is the whole report (findings with their evidence, each region's and
/// rule's status); CSV the findings; a table the findings, then what did not finish and the totals.
pub fn write_report(report: &ScanReport, format: OutputFormat, out: &mut dyn Write) -> Result<()> {
    match format {
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, report)?;
            writeln!(out)?;
        }
        OutputFormat::Csv => findings_grid(report, false).write(format, out)?,
        OutputFormat::Table => {
            findings_grid(report, true).write(format, out)?;
            for r in report.regions.iter().filter(|r| r.status != Status::Ok) {
                writeln!(out, "region {}: {}", r.region, status_text(&r.status))?;
            }
            for r in report.rules.iter().filter(|r| r.status != Status::Ok) {
                writeln!(out, "rule {} in {}: {}", r.rule, r.region, status_text(&r.status))?;
            }
            let savings = report.savings_by_currency();
            let savings = if savings.is_empty() {
                "none priced".to_string()
            } else {
                savings.iter().map(|(c, s)| format!("{} {c}", money_for_people(*s))).collect::<Vec<_>>().join(", ")
            };
            let estimated =
                report.findings.iter().filter(|f| f.cost_source == valdrix_zombies::scan::CostSource::Estimate).count();
            writeln!(
                out,
                "{} finding(s) in account {} across {} region(s) in {:.1} s; monthly savings {savings} ({estimated} priced by estimate){}",
                report.findings.len(),
                report.account,
                report.regions.len(),
                report.elapsed_ms as f64 / 1000.0,
                if report.complete() { "" } else { "; the scan is INCOMPLETE (see above)" },
            )?;
        }
    }
    Ok(())
}

/// Every rule with its defaults, for `valdrix zombies rules`.
pub fn rules_grid() -> Grid {
    let columns =
        ["rule", "resource_type", "window_days", "statistic", "threshold", "missing", "min_age_days", "finds"];
    let rows = valdrix_zombies::rules::all()
        .iter()
        .map(|r| {
            let p = r.defaults();
            vec![
                Some(r.id().to_string()),
                Some(r.kind().as_str().to_string()),
                p.window_days.map(|v| v.to_string()),
                p.statistic.map(|s| s.as_str().to_string()),
                p.threshold.map(|v| v.to_string()),
                p.missing.map(|m| m.as_str().to_string()),
                p.min_age_days.map(|v| v.to_string()),
                Some(r.title().to_string()),
            ]
        })
        .collect();
    Grid {
        columns: columns.iter().map(|c| c.to_string()).collect(),
        rows,
        numeric: columns.iter().map(|c| *c == "window_days" || *c == "threshold" || *c == "min_age_days").collect(),
    }
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
                finding: serde_json::to_string(f)?,
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

fn cost_source(f: &valdrix_zombies::Finding) -> String {
    serde_json::to_value(f.cost_source).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

/// Stored findings as a grid, for `valdrix zombies list`.
pub fn stored_grid(rows: &[valdrix_store::zombies::StoredZombie], people: bool) -> Grid {
    let columns = [
        "status",
        "rule",
        "resource_id",
        "region",
        "account",
        "monthly_cost",
        "currency",
        "cost_source",
        "monthly_savings",
        "first_seen_at",
        "last_seen_at",
        "resolved_at",
        "ignored_by",
        "ignore_reason",
        "reason",
    ];
    let rows = rows
        .iter()
        .map(|z| {
            let reason = serde_json::from_str::<serde_json::Value>(&z.finding)
                .ok()
                .and_then(|v| v.get("reason").and_then(|r| r.as_str()).map(str::to_string));
            vec![
                Some(z.status.as_str().to_string()),
                Some(z.key.rule.clone()),
                Some(z.key.resource_id.clone()),
                Some(z.key.region.clone()),
                Some(z.key.account.clone()),
                money(z.monthly_cost, people),
                z.currency.clone(),
                Some(z.cost_source.clone()),
                money(z.monthly_savings, people),
                Some(z.first_seen_at.clone()),
                Some(z.last_seen_at.clone()),
                z.resolved_at.clone(),
                z.ignored_by.clone(),
                z.ignore_reason.clone(),
                reason,
            ]
        })
        .collect();
    Grid {
        columns: columns.iter().map(|c| c.to_string()).collect(),
        rows,
        numeric: columns.iter().map(|c| c.starts_with("monthly")).collect(),
    }
}

/// Recorded scans as a grid, for `valdrix zombies scans`.
pub fn scans_grid(scans: &[valdrix_store::zombies::ZombieScanSummary]) -> Grid {
    let columns = [
        "scan_id",
        "cloud",
        "account",
        "evaluated_at",
        "scanned_at",
        "actor",
        "complete",
        "findings",
        "new",
        "still_present",
        "resolved",
        "ignored",
    ];
    let rows = scans
        .iter()
        .map(|s| {
            vec![
                Some(s.scan_id.to_string()),
                Some(s.cloud.clone()),
                Some(s.account.clone()),
                Some(s.evaluated_at.clone()),
                Some(s.scanned_at.clone()),
                Some(s.actor.clone()),
                Some(s.complete.to_string()),
                Some(s.findings.to_string()),
                Some(s.new.to_string()),
                Some(s.still_present.to_string()),
                Some(s.resolved.to_string()),
                Some(s.ignored.to_string()),
            ]
        })
        .collect();
    Grid {
        columns: columns.iter().map(|c| c.to_string()).collect(),
        rows,
        numeric: columns
            .iter()
            .map(|c| matches!(*c, "scan_id" | "findings" | "new" | "still_present" | "resolved" | "ignored"))
            .collect(),
    }
}

/// Which findings a remediation plan takes.
#[derive(Debug, Clone, Default)]
pub struct PlanRequest {
    /// Only findings of these rules (none: every rule whose findings allow an action).
    pub rules: Vec<String>,
    /// Only these resources (none: all).
    pub resources: Vec<String>,
    /// Only this account (needed when findings of several match).
    pub account: Option<String>,
}

/// Makes a plan from the open findings (not ignored) whose rule allows an action.
pub fn plan(
    store: &mut dyn Store,
    tenant: &TenantId,
    req: &PlanRequest,
    actor: &str,
) -> Result<valdrix_store::zombies::RemediationPlan> {
    use valdrix_store::zombies::{plan_remediation, PlanSelection};
    let selection =
        PlanSelection { rules: req.rules.clone(), resources: req.resources.clone(), account: req.account.clone() };
    plan_remediation(store, tenant, &selection, actor).map_err(|e| match e {
        valdrix_store::StoreError::InvalidQuery(m) => anyhow::anyhow!("{m} with --account"),
        valdrix_store::StoreError::NotFound(_) => anyhow::anyhow!(
            "no open finding matches whose rule allows a remediation (valdrix zombies list shows the findings)"
        ),
        other => other.into(),
    })
}

/// Approves a plan. Who may: one of `approvers` when the configuration names them, otherwise
/// anyone; never the plan's author (a plan is never approved by the person who made it).
pub fn approve(
    store: &mut dyn Store,
    tenant: &TenantId,
    plan_id: i64,
    actor: &str,
    approvers: &[String],
) -> Result<valdrix_store::zombies::RemediationPlan> {
    use valdrix_store::zombies::{approve_plan, Approval};
    let name = actor.strip_prefix("cli:").unwrap_or(actor).to_string();
    let refusal = |_: &valdrix_store::zombies::RemediationPlan| {
        (!approvers.is_empty() && !approvers.contains(&name))
            .then(|| format!("{name} is not an approver ([remediation] approvers in the configuration)"))
    };
    match approve_plan(store, tenant, plan_id, actor, &refusal)? {
        Approval::Approved(plan) => Ok(plan),
        Approval::Refused(why) => bail!("plan {plan_id} not approved: {why}"),
    }
}

/// Executes an approved plan: a dry run unless `apply`. Each step is checked against the
/// resource as it is now, logged before and after, and its state kept; a step that fails does
/// not stop the others. An unapproved plan is refused and nothing is called.
pub fn execute(
    store: &mut dyn Store,
    tenant: &TenantId,
    plan_id: i64,
    apply: bool,
    actor: &str,
    aws: &AwsConnection,
) -> Result<valdrix_store::zombies::RemediationPlan> {
    use valdrix_store::zombies::{PlanState, RemediationEvent, StepState};
    use valdrix_zombies::aws::Outcome;
    let plan =
        store.remediation_plan(tenant, plan_id)?.with_context(|| format!("there is no remediation plan {plan_id}"))?;
    let note =
        |event: &str, step: Option<i64>, detail: String, step_state: Option<StepState>, plan: Option<PlanState>| {
            RemediationEvent {
                step_no: step,
                actor: actor.to_string(),
                event: event.to_string(),
                step: step_state.map(|s| (s, detail.clone())),
                detail,
                plan,
            }
        };
    if plan.state != PlanState::Approved {
        let why = format!("plan {plan_id} is {}, not approved: nothing was changed", plan.state.as_str());
        store.remediation_event(tenant, plan_id, &note("refused", None, why.clone(), None, None))?;
        bail!(why);
    }
    if plan.cloud != "aws" {
        bail!("remediation on {} needs its provider, which this build does not have yet", plan.cloud);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let provider = runtime.block_on(AwsProvider::connect(aws)).context("connecting to AWS")?;
    if provider.account() != plan.account {
        bail!(
            "the credentials reach account {}, but plan {plan_id} acts on account {}: nothing was changed",
            provider.account(),
            plan.account
        );
    }
    let label = format!("plan {plan_id}");
    let mut failed = 0;
    for step in plan.steps.iter().filter(|s| s.state == StepState::Pending) {
        let action = valdrix_zombies::rules::Action::parse(&step.action)
            .with_context(|| format!("step {} has an unknown action {:?}", step.step_no, step.action))?;
        let what = format!("{} {} in {}", step.action, step.resource_id, step.region);
        if apply {
            store.remediation_event(tenant, plan_id, &note("started", Some(step.step_no), what.clone(), None, None))?;
        }
        let result = runtime.block_on(provider.remediate(&step.region, action, &step.resource_id, !apply, &label));
        let event = match result {
            Ok(Outcome::WouldSucceed(d)) => note("dry-run", Some(step.step_no), d, None, None),
            Ok(Outcome::Done(d)) => note("done", Some(step.step_no), d, Some(StepState::Done), None),
            Ok(Outcome::Skipped(d)) if apply => note("skipped", Some(step.step_no), d, Some(StepState::Skipped), None),
            Ok(Outcome::Skipped(d)) => note("dry-run", Some(step.step_no), format!("would skip: {d}"), None, None),
            Err(e) if apply => {
                failed += 1;
                note("failed", Some(step.step_no), format!("{what}: {e}"), Some(StepState::Failed), None)
            }
            Err(e) => {
                failed += 1;
                note("dry-run", Some(step.step_no), format!("would fail: {e}"), None, None)
            }
        };
        store.remediation_event(tenant, plan_id, &event)?;
    }
    if apply {
        let (state, detail) = if failed == 0 {
            (PlanState::Executed, "every step done or skipped".to_string())
        } else {
            (PlanState::Failed, format!("{failed} steps failed"))
        };
        let event = if failed == 0 { "executed" } else { "failed" };
        Ok(store.remediation_event(tenant, plan_id, &note(event, None, detail, None, Some(state)))?)
    } else {
        let detail = if failed == 0 {
            "dry run: every step would succeed or be skipped; nothing was changed".to_string()
        } else {
            format!("dry run: {failed} steps would fail; nothing was changed")
        };
        Ok(store.remediation_event(tenant, plan_id, &note("dry-run", None, detail, None, None))?)
    }
}

/// A plan's steps as a grid.
pub fn plan_grid(plan: &valdrix_store::zombies::RemediationPlan, people: bool) -> Grid {
    let columns = ["step", "action", "resource_id", "region", "rule", "monthly_savings", "currency", "state", "detail"];
    let rows = plan
        .steps
        .iter()
        .map(|s| {
            vec![
                Some(s.step_no.to_string()),
                Some(s.action.clone()),
                Some(s.resource_id.clone()),
                Some(s.region.clone()),
                Some(s.rule.clone()),
                money(s.monthly_savings, people),
                s.currency.clone(),
                Some(s.state.as_str().to_string()),
                s.detail.clone(),
            ]
        })
        .collect();
    Grid {
        columns: columns.iter().map(|c| c.to_string()).collect(),
        rows,
        numeric: columns.iter().map(|c| *c == "step" || *c == "monthly_savings").collect(),
    }
}

/// A plan's log as a grid.
pub fn log_grid(entries: &[valdrix_store::zombies::RemediationLogEntry]) -> Grid {
    let columns = ["at", "actor", "event", "step", "detail"];
    let rows = entries
        .iter()
        .map(|e| {
            vec![
                Some(e.at.clone()),
                Some(e.actor.clone()),
                Some(e.event.clone()),
                e.step_no.map(|s| s.to_string()),
                Some(e.detail.clone()),
            ]
        })
        .collect();
    Grid {
        columns: columns.iter().map(|c| c.to_string()).collect(),
        rows,
        numeric: vec![false, false, false, true, false],
    }
}
