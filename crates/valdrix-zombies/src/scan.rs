//! Scan orchestration: regions and rules in parallel with bounded concurrency, each bounded in
//! time, and a report that always comes back, with a status for every region and rule.
//!
//! Three deadlines bound a scan. Listing a region's resources must finish within the region
//! timeout; evaluating one rule in one region (its metric reads) within the rule timeout; and
//! everything within the global timeout. Whatever finished by then is in the report; whatever did
//! not is marked `timeout`, and a failed call is marked `error` with the provider's message. At
//! most `concurrency` provider calls are in flight at once.

use crate::bill::BillPrices;
use crate::check::{DayTest, Verdict};
use crate::policy::Params;
use crate::provider::{Provider, ProviderError};
use crate::resource::{Cloud, Details, Kind, Resource};
use crate::rules::{Action, Context, Inventory, Rule, Savings};
use chrono::{DateTime, Utc};
use futures::future::join_all;
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::{timeout_at, Instant};
use valdrix_store::StoreError;

/// How a scan runs.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Regions (or locations) scanned.
    pub regions: Vec<String>,
    /// The evaluation time the rules judge at.
    pub now: DateTime<Utc>,
    /// Bound on listing one region's resources (default 30 s).
    pub region_timeout: Duration,
    /// Bound on one rule's evaluation in one region (default 60 s).
    pub rule_timeout: Duration,
    /// Bound on the whole scan (default 5 min).
    pub global_timeout: Duration,
    /// Provider calls in flight at once (default 8).
    pub concurrency: usize,
}

impl ScanOptions {
    /// The defaults, for these regions, judged at `now`.
    pub fn new(regions: Vec<String>, now: DateTime<Utc>) -> ScanOptions {
        ScanOptions {
            regions,
            now,
            region_timeout: Duration::from_secs(30),
            rule_timeout: Duration::from_secs(60),
            global_timeout: Duration::from_secs(300),
            concurrency: 8,
        }
    }
}

/// How a region or a rule fared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "message", rename_all = "lowercase")]
pub enum Status {
    /// Finished.
    Ok,
    /// Ran out of time: what it found before is kept.
    Timeout,
    /// A call failed (the message is the provider's).
    Error(String),
}

/// One region's listing.
#[derive(Debug, Clone, Serialize)]
pub struct RegionReport {
    /// The region.
    pub region: String,
    /// How it fared.
    #[serde(flatten)]
    pub status: Status,
    /// Resources listed, of all types.
    pub resources: usize,
    /// Time taken, in milliseconds.
    pub elapsed_ms: u64,
}

/// One rule in one region.
#[derive(Debug, Clone, Serialize)]
pub struct RuleReport {
    /// The rule.
    pub rule: String,
    /// The region.
    pub region: String,
    /// How it fared.
    #[serde(flatten)]
    pub status: Status,
    /// Resources of the rule's type judged.
    pub resources: usize,
    /// Resources left out by an exclusion tag.
    pub excluded: usize,
    /// Resources that passed the attribute stage.
    pub candidates: usize,
    /// Candidates without enough metric data to judge (left alone).
    pub insufficient: usize,
    /// Findings.
    pub findings: usize,
}

/// Where a finding's monthly cost comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CostSource {
    /// The tenant's ingested bill.
    Bill,
    /// The shipped on-demand price table.
    Estimate,
    /// Neither has a figure.
    None,
}

/// A zombie.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// The rule that found it.
    pub rule: String,
    /// The resource's id.
    pub resource_id: String,
    /// Its type.
    pub resource_type: String,
    /// Region.
    pub region: String,
    /// Account, subscription or project.
    pub account: String,
    /// Display name.
    pub name: Option<String>,
    /// Why it is a zombie, with the evidence.
    pub reason: String,
    /// What it costs a month.
    pub monthly_cost: Option<Decimal>,
    /// Currency of the amounts.
    pub currency: Option<String>,
    /// Where the cost comes from.
    pub cost_source: CostSource,
    /// The cost's arithmetic.
    pub cost_basis: String,
    /// What acting on it would save a month.
    pub monthly_savings: Option<Decimal>,
    /// How the saving was worked out.
    pub savings_basis: String,
    /// The remediation it allows.
    pub action: Option<Action>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// The attributes judged.
    pub details: Details,
    #[serde(skip)]
    bill_ids: Vec<String>,
    #[serde(skip)]
    savings: Savings,
}

impl Finding {
    fn set_cost(&mut self, monthly: Option<Decimal>, currency: Option<String>, source: CostSource, basis: String) {
        self.monthly_cost = monthly;
        self.currency = currency;
        self.cost_source = source;
        self.cost_basis = basis;
        (self.monthly_savings, self.savings_basis) = match (&self.savings, monthly) {
            (_, None) => (None, "no cost figure".into()),
            (Savings::All, Some(m)) => (Some(m), "all of the monthly cost (the resource would be removed)".into()),
            (Savings::Share { fraction, basis }, Some(m)) => (
                Some((m * fraction).round_dp(2)),
                format!("{}% of the monthly cost: {basis}", fraction * Decimal::from(100)),
            ),
            (Savings::Unknown, Some(_)) => (None, "no list price for the replacement".into()),
        };
    }
}

/// What a scan found, and how every part of it fared.
#[derive(Debug, Clone, Serialize)]
pub struct ScanReport {
    /// The cloud.
    pub cloud: Cloud,
    /// The account, subscription or project.
    pub account: String,
    /// The evaluation time.
    pub evaluated_at: DateTime<Utc>,
    /// Wall time, in milliseconds.
    pub elapsed_ms: u64,
    /// Each region's listing.
    pub regions: Vec<RegionReport>,
    /// Each rule in each region.
    pub rules: Vec<RuleReport>,
    /// The findings, by rule, region and resource.
    pub findings: Vec<Finding>,
}

impl ScanReport {
    /// Prices every finding from the bill where it has lines for the resource; the others keep
    /// their estimate.
    pub fn price_from_bill(&mut self, bill: &BillPrices<'_>) -> Result<(), StoreError> {
        let groups: Vec<Vec<String>> = self.findings.iter().map(|f| f.bill_ids.clone()).collect();
        let costs = bill.monthly(&groups, self.evaluated_at)?;
        for (f, cost) in self.findings.iter_mut().zip(costs) {
            if let Some(c) = cost {
                f.set_cost(Some(c.monthly), Some(c.currency), CostSource::Bill, c.basis);
            }
        }
        Ok(())
    }

    /// Whether every region and rule finished.
    pub fn complete(&self) -> bool {
        self.regions.iter().all(|r| r.status == Status::Ok) && self.rules.iter().all(|r| r.status == Status::Ok)
    }

    /// Monthly savings per currency, each resource counted once (its largest saving) when
    /// several rules found it.
    pub fn savings_by_currency(&self) -> BTreeMap<String, Decimal> {
        let mut best: BTreeMap<(&str, &str, &str), Decimal> = BTreeMap::new();
        for f in &self.findings {
            if let (Some(s), Some(c)) = (f.monthly_savings, &f.currency) {
                let e = best.entry((c.as_str(), f.region.as_str(), f.resource_id.as_str())).or_default();
                *e = (*e).max(s);
            }
        }
        let mut out: BTreeMap<String, Decimal> = BTreeMap::new();
        for ((c, _, _), s) in best {
            *out.entry(c.to_string()).or_default() += s;
        }
        out
    }
}

/// A rule with the parameters it runs with.
pub struct Configured<'a> {
    /// The rule.
    pub rule: &'a dyn Rule,
    /// Its parameters (defaults with the policy applied).
    pub params: Params,
}

/// Scans a provider's regions with the enabled rules.
pub async fn scan(provider: &dyn Provider, rules: &[Configured<'_>], opts: &ScanOptions) -> ScanReport {
    let started = Instant::now();
    let global = started + opts.global_timeout;
    let permits = Semaphore::new(opts.concurrency.max(1));
    let rules: Vec<&Configured<'_>> = rules.iter().filter(|c| c.params.enabled).collect();
    let kinds: BTreeSet<Kind> =
        rules.iter().flat_map(|c| std::iter::once(c.rule.kind()).chain(c.rule.needs().iter().copied())).collect();
    let per_region = join_all(
        opts.regions.iter().map(|region| scan_region(provider, region, &kinds, &rules, opts, &permits, global)),
    )
    .await;
    let mut report = ScanReport {
        cloud: provider.cloud(),
        account: provider.account().to_string(),
        evaluated_at: opts.now,
        elapsed_ms: 0,
        regions: vec![],
        rules: vec![],
        findings: vec![],
    };
    for (region, rules, findings) in per_region {
        report.regions.push(region);
        report.rules.extend(rules);
        report.findings.extend(findings);
    }
    report.findings.sort_by(|a, b| (&a.rule, &a.region, &a.resource_id).cmp(&(&b.rule, &b.region, &b.resource_id)));
    report.rules.sort_by(|a, b| (&a.rule, &a.region).cmp(&(&b.rule, &b.region)));
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    report
}

/// How listing one resource type went.
enum Listed {
    Ok,
    Timeout,
    Failed(ProviderError),
}

async fn scan_region(
    provider: &dyn Provider,
    region: &str,
    kinds: &BTreeSet<Kind>,
    rules: &[&Configured<'_>],
    opts: &ScanOptions,
    permits: &Semaphore,
    global: Instant,
) -> (RegionReport, Vec<RuleReport>, Vec<Finding>) {
    let started = Instant::now();
    let deadline = (started + opts.region_timeout).min(global);
    let listed = join_all(kinds.iter().map(|kind| async move {
        let call = async {
            let _permit = permits.acquire().await;
            provider.list(region, *kind).await
        };
        (*kind, timeout_at(deadline, call).await)
    }))
    .await;
    let mut inventory = Inventory::default();
    let mut outcome: BTreeMap<Kind, Listed> = BTreeMap::new();
    for (kind, result) in listed {
        let state = match result {
            Ok(Ok(resources)) => {
                inventory.insert(kind, resources);
                Listed::Ok
            }
            Ok(Err(e)) => Listed::Failed(e),
            Err(_) => Listed::Timeout,
        };
        outcome.insert(kind, state);
    }
    let status = region_status(&outcome);
    let region_report = RegionReport {
        region: region.to_string(),
        status,
        resources: inventory.len(),
        elapsed_ms: started.elapsed().as_millis() as u64,
    };

    let inventory = &inventory;
    let outcome = &outcome;
    let judged = join_all(rules.iter().map(|c| async move {
        let needed: Vec<Kind> = std::iter::once(c.rule.kind()).chain(c.rule.needs().iter().copied()).collect();
        let mut report = RuleReport {
            rule: c.rule.id().to_string(),
            region: region.to_string(),
            status: Status::Ok,
            resources: inventory.get(c.rule.kind()).len(),
            excluded: 0,
            candidates: 0,
            insufficient: 0,
            findings: 0,
        };
        // A rule cannot judge what could not be listed.
        for k in &needed {
            match outcome.get(k) {
                Some(Listed::Failed(e)) => report.status = Status::Error(format!("listing {}: {e}", k.as_str())),
                Some(Listed::Timeout) => report.status = Status::Timeout,
                _ => {}
            }
            if report.status != Status::Ok {
                return (report, vec![]);
            }
        }
        let deadline = (Instant::now() + opts.rule_timeout).min(global);
        match timeout_at(deadline, judge(provider, c, region, inventory, opts.now, permits, &mut report)).await {
            Ok(Ok(findings)) => {
                report.findings = findings.len();
                (report, findings)
            }
            Ok(Err(e)) => {
                report.status = Status::Error(e.to_string());
                (report, vec![])
            }
            Err(_) => {
                report.status = Status::Timeout;
                (report, vec![])
            }
        }
    }))
    .await;
    let mut rule_reports = vec![];
    let mut findings = vec![];
    for (r, f) in judged {
        rule_reports.push(r);
        findings.extend(f);
    }
    (region_report, rule_reports, findings)
}

fn region_status(outcome: &BTreeMap<Kind, Listed>) -> Status {
    let errors: Vec<String> = outcome
        .iter()
        .filter_map(|(k, l)| match l {
            Listed::Failed(e) => Some(format!("{}: {e}", k.as_str())),
            _ => None,
        })
        .collect();
    if !errors.is_empty() {
        Status::Error(errors.join("; "))
    } else if outcome.values().any(|l| matches!(l, Listed::Timeout)) {
        Status::Timeout
    } else {
        Status::Ok
    }
}

/// One rule over one region's inventory: the attribute stage, then the metric stage for the
/// candidates (one batched read).
async fn judge(
    provider: &dyn Provider,
    c: &Configured<'_>,
    region: &str,
    inventory: &Inventory,
    now: DateTime<Utc>,
    permits: &Semaphore,
    report: &mut RuleReport,
) -> Result<Vec<Finding>, ProviderError> {
    let cx = Context { now, account: provider.account(), inventory };
    let mut candidates = vec![];
    for r in inventory.get(c.rule.kind()) {
        if c.params.excludes(r).is_some() {
            report.excluded += 1;
            continue;
        }
        if let Some(cand) = c.rule.select(r, &cx, &c.params) {
            candidates.push((r, cand, c.rule.metrics(r, &c.params)));
        }
    }
    report.candidates = candidates.len();
    // Every check of a rule has the same window, so one read covers them all.
    let queries: Vec<_> = candidates.iter().flat_map(|(_, _, checks)| checks.iter().map(|k| k.query.clone())).collect();
    let offline = !provider.has_metrics();
    let series = match candidates.iter().flat_map(|(_, _, checks)| checks.first()).next() {
        Some(first) if !queries.is_empty() && !offline => {
            let window = first.span(now);
            let _permit = permits.acquire().await;
            provider.metrics(region, &queries, window).await?
        }
        _ => vec![],
    };
    let mut series = series.into_iter();
    let mut findings = vec![];
    for (r, cand, checks) in candidates {
        let mut evidence = vec![];
        let mut idle = true;
        let mut insufficient = false;
        for check in &checks {
            if offline {
                // Without metrics a check that only confirms quiet (no data at all) is noted
                // as unconfirmed; one that decides on the values leaves the resource unjudged.
                match check.test {
                    DayTest::NoData => evidence.push(format!("{} not checked (no metrics offline)", check.query.name)),
                    _ => insufficient = true,
                }
                continue;
            }
            let s = series.next().unwrap_or_default();
            match check.judge(&s, now) {
                Verdict::Idle(e) => evidence.push(e),
                Verdict::Active(_) => idle = false,
                Verdict::Insufficient(_) => insufficient = true,
            }
        }
        if !idle {
            continue;
        }
        if insufficient {
            report.insufficient += 1;
            continue;
        }
        let mut reason = cand.reason;
        for e in evidence {
            reason.push_str("; ");
            reason.push_str(&e);
        }
        findings.push(finding(c.rule, r, reason, cand.bill_ids, cand.estimate, cand.savings));
    }
    Ok(findings)
}

fn finding(
    rule: &dyn Rule,
    r: &Resource,
    reason: String,
    bill_ids: Vec<String>,
    estimate: Option<crate::prices::Estimate>,
    savings: Savings,
) -> Finding {
    let mut f = Finding {
        rule: rule.id().to_string(),
        resource_id: r.id.clone(),
        resource_type: r.kind.as_str().to_string(),
        region: r.region.clone(),
        account: r.account.clone(),
        name: r.name.clone(),
        reason,
        monthly_cost: None,
        currency: None,
        cost_source: CostSource::None,
        cost_basis: String::new(),
        monthly_savings: None,
        savings_basis: String::new(),
        action: rule.action(),
        tags: r.tags.clone(),
        details: r.details.clone(),
        bill_ids,
        savings,
    };
    match estimate {
        Some(e) => {
            f.set_cost(Some(e.monthly), Some(e.currency), CostSource::Estimate, format!("estimate: {}", e.basis))
        }
        None => f.set_cost(None, None, CostSource::None, "no bill line and no list price for it".into()),
    }
    f
}
