//! Zombie scans and findings: recording a scan against what earlier scans found, and the lists.

use chrono::Utc;
use rust_decimal::Decimal;
use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use valdrix_core::TenantId;

use crate::db::{p, Db, Row};
use crate::error::{Result, StoreError};
use crate::zombies::{
    NewZombieScan, PlanState, RemediationEvent, RemediationLogEntry, RemediationPlan, RemediationStep, StepState,
    StoredZombie, ZombieEvent, ZombieFilter, ZombieKey, ZombieScanSummary, ZombieStatus,
};

const SCAN_COLUMNS: &str = "scan_id, cloud, account, evaluated_at, scanned_at, actor, complete, findings, \
                            new_findings, still_present, resolved, ignored";

fn scan_from_row(r: &Row<'_>) -> Result<ZombieScanSummary> {
    Ok(ZombieScanSummary {
        scan_id: r.get(0)?,
        cloud: r.get(1)?,
        account: r.get(2)?,
        evaluated_at: r.get(3)?,
        scanned_at: r.get(4)?,
        actor: r.get(5)?,
        complete: r.get(6)?,
        findings: r.get(7)?,
        new: r.get(8)?,
        still_present: r.get(9)?,
        resolved: r.get(10)?,
        ignored: r.get(11)?,
    })
}

fn decimal(r: &Row<'_>, i: usize, column: &'static str) -> Result<Option<Decimal>> {
    let text: Option<String> = r.get(i)?;
    text.map(|t| {
        Decimal::from_str(&t).map_err(|e| StoreError::Corrupt {
            table: "zombie_findings",
            column,
            message: e.to_string(),
        })
    })
    .transpose()
}

/// What the store knows of a finding before a scan.
struct Known {
    open: bool,
    ignored: bool,
}

/// When and by whom a transition happened (and in which scan, if a scan made it).
struct Stamp<'a> {
    scan: Option<i64>,
    at: &'a str,
    actor: &'a str,
}

fn event(
    db: Db<'_>,
    tenant: &TenantId,
    stamp: &Stamp<'_>,
    k: &ZombieKey,
    what: &str,
    detail: Option<&str>,
) -> Result<()> {
    db.execute(
        "INSERT INTO zombie_events (tenant_id, scan_id, cloud, account, rule, region, resource_id, event, at, actor, detail) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        p![tenant.as_str(), stamp.scan, k.cloud, k.account, k.rule, k.region, k.resource_id, what, stamp.at, stamp.actor, detail],
    )?;
    Ok(())
}

/// Records a scan: new findings are inserted, known ones updated with the latest evidence
/// (reopened if they had been resolved), and open findings of the rules and regions that
/// finished but were not made again are resolved. All of it or nothing.
pub(crate) fn record_scan(db: Db<'_>, tenant: &TenantId, scan: &NewZombieScan) -> Result<ZombieScanSummary> {
    db.savepoint(|| {
        crate::engine::tenants::ensure_tenant(db, tenant)?;
        let now = Utc::now().to_rfc3339();
        let scan_id: i64 = db.query_row(
            "INSERT INTO zombie_scans (tenant_id, cloud, account, evaluated_at, scanned_at, actor, complete, statuses) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING scan_id",
            p![
                tenant.as_str(),
                scan.cloud,
                scan.account,
                scan.evaluated_at.to_rfc3339(),
                now,
                scan.actor,
                scan.complete,
                scan.statuses
            ],
            |r| r.get(0),
        )?;
        let stamp = Stamp { scan: Some(scan_id), at: &now, actor: &scan.actor };
        let mut known: HashMap<ZombieKey, Known> = HashMap::new();
        db.for_each(
            "SELECT rule, region, resource_id, state, ignored_at FROM zombie_findings \
             WHERE tenant_id = ?1 AND cloud = ?2 AND account = ?3",
            p![tenant.as_str(), scan.cloud, scan.account],
            |r| {
                let key = ZombieKey {
                    cloud: scan.cloud.clone(),
                    account: scan.account.clone(),
                    rule: r.get(0)?,
                    region: r.get(1)?,
                    resource_id: r.get(2)?,
                };
                let state: String = r.get(3)?;
                let ignored: Option<String> = r.get(4)?;
                known.insert(key, Known { open: state == "open", ignored: ignored.is_some() });
                Ok(())
            },
        )?;
        let mut summary = ZombieScanSummary {
            scan_id,
            cloud: scan.cloud.clone(),
            account: scan.account.clone(),
            evaluated_at: scan.evaluated_at.to_rfc3339(),
            scanned_at: now.clone(),
            actor: scan.actor.clone(),
            complete: scan.complete,
            findings: scan.findings.len() as i64,
            new: 0,
            still_present: 0,
            resolved: 0,
            ignored: 0,
        };
        let mut seen: HashSet<&ZombieKey> = HashSet::new();
        for f in &scan.findings {
            let k = &f.key;
            if k.cloud != scan.cloud || k.account != scan.account {
                return Err(StoreError::Internal(format!(
                    "finding {} of {}/{} in a scan of {}/{}",
                    k.resource_id, k.cloud, k.account, scan.cloud, scan.account
                )));
            }
            if !seen.insert(k) {
                continue;
            }
            let cost = f.monthly_cost.map(|d| d.to_string());
            let savings = f.monthly_savings.map(|d| d.to_string());
            // A resolved finding made again starts a new episode: it is new again.
            let was = known.get(k);
            let reopened = was.is_some_and(|w| !w.open);
            db.execute(
                "INSERT INTO zombie_findings (tenant_id, cloud, account, rule, region, resource_id, resource_type, \
                 state, first_scan_id, first_seen_at, last_scan_id, last_seen_at, monthly_cost, monthly_savings, \
                 currency, cost_source, finding) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'open', ?8, ?9, ?8, ?9, ?11, ?12, ?13, ?14, ?15) \
                 ON CONFLICT (tenant_id, cloud, account, rule, region, resource_id) DO UPDATE SET \
                 resource_type = ?7, state = 'open', last_scan_id = ?8, last_seen_at = ?9, \
                 first_scan_id = CASE WHEN ?10 = 1 THEN ?8 ELSE zombie_findings.first_scan_id END, \
                 first_seen_at = CASE WHEN ?10 = 1 THEN ?9 ELSE zombie_findings.first_seen_at END, \
                 resolved_at = NULL, monthly_cost = ?11, monthly_savings = ?12, currency = ?13, \
                 cost_source = ?14, finding = ?15",
                p![
                    tenant.as_str(),
                    k.cloud,
                    k.account,
                    k.rule,
                    k.region,
                    k.resource_id,
                    f.resource_type,
                    scan_id,
                    now,
                    i64::from(reopened),
                    cost,
                    savings,
                    f.currency,
                    f.cost_source,
                    f.finding
                ],
            )?;
            match was {
                None => {
                    event(db, tenant, &stamp, k, "new", None)?;
                    summary.new += 1;
                }
                Some(was) => {
                    if reopened {
                        event(db, tenant, &stamp, k, "reopened", None)?;
                    }
                    if was.ignored {
                        summary.ignored += 1;
                    } else if reopened {
                        summary.new += 1;
                    } else {
                        summary.still_present += 1;
                    }
                }
            }
        }
        let finished: HashSet<(&str, &str)> = scan.finished.iter().map(|(r, g)| (r.as_str(), g.as_str())).collect();
        for (k, was) in &known {
            if !was.open || seen.contains(k) || !finished.contains(&(k.rule.as_str(), k.region.as_str())) {
                continue;
            }
            db.execute(
                "UPDATE zombie_findings SET state = 'resolved', resolved_at = ?7 \
                 WHERE tenant_id = ?1 AND cloud = ?2 AND account = ?3 AND rule = ?4 AND region = ?5 AND resource_id = ?6",
                p![tenant.as_str(), k.cloud, k.account, k.rule, k.region, k.resource_id, now],
            )?;
            event(db, tenant, &stamp, k, "resolved", None)?;
            summary.resolved += 1;
        }
        db.execute(
            "UPDATE zombie_scans SET findings = ?3, new_findings = ?4, still_present = ?5, resolved = ?6, ignored = ?7 \
             WHERE tenant_id = ?1 AND scan_id = ?2",
            p![tenant.as_str(), scan_id, summary.findings, summary.new, summary.still_present, summary.resolved, summary.ignored],
        )?;
        Ok(summary)
    })
}

/// The tenant's scans, newest first.
pub(crate) fn scans(db: Db<'_>, tenant: &TenantId, limit: usize) -> Result<Vec<ZombieScanSummary>> {
    db.query_map(
        &format!("SELECT {SCAN_COLUMNS} FROM zombie_scans WHERE tenant_id = ?1 ORDER BY scan_id DESC LIMIT ?2"),
        p![tenant.as_str(), limit.min(i64::MAX as usize) as i64],
        scan_from_row,
    )
}

/// Stored findings: the open ones first (largest monthly cost first), then the resolved ones.
pub(crate) fn list(db: Db<'_>, tenant: &TenantId, filter: &ZombieFilter) -> Result<Vec<StoredZombie>> {
    // The latest scan of each account tells a new finding from one still present.
    let mut latest: HashMap<(String, String), i64> = HashMap::new();
    db.for_each(
        "SELECT cloud, account, MAX(scan_id) FROM zombie_scans WHERE tenant_id = ?1 GROUP BY cloud, account",
        p![tenant.as_str()],
        |r| {
            latest.insert((r.get(0)?, r.get(1)?), r.get(2)?);
            Ok(())
        },
    )?;
    let mut out = Vec::new();
    db.for_each(
        "SELECT cloud, account, rule, region, resource_id, resource_type, state, first_scan_id, first_seen_at, \
         last_scan_id, last_seen_at, resolved_at, ignored_at, ignored_by, ignore_reason, monthly_cost, \
         monthly_savings, currency, cost_source, finding \
         FROM zombie_findings WHERE tenant_id = ?1 AND (CAST(?2 AS TEXT) IS NULL OR rule = ?2) \
         AND (CAST(?3 AS TEXT) IS NULL OR cloud = ?3)",
        p![tenant.as_str(), filter.rule, filter.cloud],
        |r| {
            let key = ZombieKey {
                cloud: r.get(0)?,
                account: r.get(1)?,
                rule: r.get(2)?,
                region: r.get(3)?,
                resource_id: r.get(4)?,
            };
            let state: String = r.get(6)?;
            let first_scan_id: i64 = r.get(7)?;
            let last_scan_id: i64 = r.get(9)?;
            let ignored_at: Option<String> = r.get(12)?;
            let newest = latest.get(&(key.cloud.clone(), key.account.clone())).copied();
            let status = if state == "resolved" {
                ZombieStatus::Resolved
            } else if ignored_at.is_some() {
                ZombieStatus::Ignored
            } else if first_scan_id == last_scan_id && Some(last_scan_id) == newest {
                ZombieStatus::New
            } else {
                ZombieStatus::StillPresent
            };
            if !filter.statuses.is_empty() && !filter.statuses.contains(&status) {
                return Ok(());
            }
            out.push(StoredZombie {
                key,
                resource_type: r.get(5)?,
                status,
                first_scan_id,
                first_seen_at: r.get(8)?,
                last_scan_id,
                last_seen_at: r.get(10)?,
                resolved_at: r.get(11)?,
                ignored_at,
                ignored_by: r.get(13)?,
                ignore_reason: r.get(14)?,
                monthly_cost: decimal(r, 15, "monthly_cost")?,
                monthly_savings: decimal(r, 16, "monthly_savings")?,
                currency: r.get(17)?,
                cost_source: r.get(18)?,
                finding: r.get(19)?,
            });
            Ok(())
        },
    )?;
    out.sort_by(|a, b| {
        (a.status == ZombieStatus::Resolved)
            .cmp(&(b.status == ZombieStatus::Resolved))
            .then(b.monthly_cost.unwrap_or_default().cmp(&a.monthly_cost.unwrap_or_default()))
            .then(a.key.cmp(&b.key))
    });
    if filter.limit > 0 {
        out.truncate(filter.limit);
    }
    Ok(out)
}

/// Marks a finding ignored (or not); false when the tenant has no such finding. Ignoring an
/// ignored finding changes nothing and logs nothing.
pub(crate) fn set_ignored(
    db: Db<'_>,
    tenant: &TenantId,
    key: &ZombieKey,
    ignored: bool,
    actor: &str,
    reason: &str,
) -> Result<bool> {
    db.savepoint(|| {
        let current: Option<Option<String>> = db.query_opt(
            "SELECT ignored_at FROM zombie_findings \
             WHERE tenant_id = ?1 AND cloud = ?2 AND account = ?3 AND rule = ?4 AND region = ?5 AND resource_id = ?6",
            p![tenant.as_str(), key.cloud, key.account, key.rule, key.region, key.resource_id],
            |r| r.get(0),
        )?;
        let Some(current) = current else { return Ok(false) };
        if current.is_some() == ignored {
            return Ok(true);
        }
        let now = Utc::now().to_rfc3339();
        let (at, by, why) = if ignored { (Some(now.as_str()), Some(actor), Some(reason)) } else { (None, None, None) };
        db.execute(
            "UPDATE zombie_findings SET ignored_at = ?7, ignored_by = ?8, ignore_reason = ?9 \
             WHERE tenant_id = ?1 AND cloud = ?2 AND account = ?3 AND rule = ?4 AND region = ?5 AND resource_id = ?6",
            p![tenant.as_str(), key.cloud, key.account, key.rule, key.region, key.resource_id, at, by, why],
        )?;
        let what = if ignored { "ignored" } else { "unignored" };
        event(db, tenant, &Stamp { scan: None, at: &now, actor }, key, what, Some(reason))?;
        Ok(true)
    })
}

/// A finding's transitions, oldest first.
pub(crate) fn history(db: Db<'_>, tenant: &TenantId, key: &ZombieKey) -> Result<Vec<ZombieEvent>> {
    db.query_map(
        "SELECT scan_id, event, at, actor, detail FROM zombie_events \
         WHERE tenant_id = ?1 AND cloud = ?2 AND account = ?3 AND rule = ?4 AND region = ?5 AND resource_id = ?6 \
         ORDER BY event_id",
        p![tenant.as_str(), key.cloud, key.account, key.rule, key.region, key.resource_id],
        |r| {
            Ok(ZombieEvent { scan_id: r.get(0)?, event: r.get(1)?, at: r.get(2)?, actor: r.get(3)?, detail: r.get(4)? })
        },
    )
}

/// Makes a plan of pending steps (numbered from 1, in the order given) and logs it.
pub(crate) fn create_plan(
    db: Db<'_>,
    tenant: &TenantId,
    cloud: &str,
    account: &str,
    actor: &str,
    steps: &[RemediationStep],
) -> Result<RemediationPlan> {
    if steps.is_empty() {
        return Err(StoreError::InvalidQuery("a remediation plan needs at least one step".into()));
    }
    let plan_id = db.savepoint(|| {
        crate::engine::tenants::ensure_tenant(db, tenant)?;
        let now = Utc::now().to_rfc3339();
        let plan_id: i64 = db.query_row(
            "INSERT INTO remediation_plans (tenant_id, cloud, account, state, created_at, created_by) \
             VALUES (?1, ?2, ?3, 'planned', ?4, ?5) RETURNING plan_id",
            p![tenant.as_str(), cloud, account, now, actor],
            |r| r.get(0),
        )?;
        for (i, s) in steps.iter().enumerate() {
            db.execute(
                "INSERT INTO remediation_steps (tenant_id, plan_id, step_no, rule, region, resource_id, resource_type, \
                 action, monthly_savings, currency, state) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'pending')",
                p![
                    tenant.as_str(),
                    plan_id,
                    i as i64 + 1,
                    s.rule,
                    s.region,
                    s.resource_id,
                    s.resource_type,
                    s.action,
                    s.monthly_savings.map(|d| d.to_string()),
                    s.currency
                ],
            )?;
        }
        let detail = format!("{} steps on {cloud} account {account}", steps.len());
        let entry = Entry { plan_id, step: None, at: &now, actor, event: "planned", detail: &detail };
        log(db, tenant, &entry)?;
        Ok(plan_id)
    })?;
    plan(db, tenant, plan_id)?.ok_or_else(|| StoreError::Internal("the plan just made is missing".into()))
}

/// One entry of a plan's log, as written.
struct Entry<'a> {
    plan_id: i64,
    step: Option<i64>,
    at: &'a str,
    actor: &'a str,
    event: &'a str,
    detail: &'a str,
}

fn log(db: Db<'_>, tenant: &TenantId, e: &Entry<'_>) -> Result<()> {
    db.execute(
        "INSERT INTO remediation_log (tenant_id, plan_id, step_no, at, actor, event, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        p![tenant.as_str(), e.plan_id, e.step, e.at, e.actor, e.event, e.detail],
    )?;
    Ok(())
}

/// A plan with its steps.
pub(crate) fn plan(db: Db<'_>, tenant: &TenantId, plan_id: i64) -> Result<Option<RemediationPlan>> {
    let head = db.query_opt(
        "SELECT plan_id, cloud, account, state, created_at, created_by, approved_at, approved_by, finished_at \
         FROM remediation_plans WHERE tenant_id = ?1 AND plan_id = ?2",
        p![tenant.as_str(), plan_id],
        |r| {
            let state: String = r.get(3)?;
            Ok(RemediationPlan {
                plan_id: r.get(0)?,
                cloud: r.get(1)?,
                account: r.get(2)?,
                state: PlanState::read(&state)?,
                created_at: r.get(4)?,
                created_by: r.get(5)?,
                approved_at: r.get(6)?,
                approved_by: r.get(7)?,
                finished_at: r.get(8)?,
                steps: Vec::new(),
            })
        },
    )?;
    let Some(mut plan) = head else { return Ok(None) };
    plan.steps = db.query_map(
        "SELECT step_no, rule, region, resource_id, resource_type, action, monthly_savings, currency, state, detail \
         FROM remediation_steps WHERE tenant_id = ?1 AND plan_id = ?2 ORDER BY step_no",
        p![tenant.as_str(), plan_id],
        |r| {
            let state: String = r.get(8)?;
            Ok(RemediationStep {
                step_no: r.get(0)?,
                rule: r.get(1)?,
                region: r.get(2)?,
                resource_id: r.get(3)?,
                resource_type: r.get(4)?,
                action: r.get(5)?,
                monthly_savings: decimal(r, 6, "monthly_savings")?,
                currency: r.get(7)?,
                state: StepState::read(&state)?,
                detail: r.get(9)?,
            })
        },
    )?;
    Ok(Some(plan))
}

/// The tenant's plans, newest first (without their steps).
pub(crate) fn plans(db: Db<'_>, tenant: &TenantId, limit: usize) -> Result<Vec<RemediationPlan>> {
    let ids: Vec<i64> = db.query_map(
        "SELECT plan_id FROM remediation_plans WHERE tenant_id = ?1 ORDER BY plan_id DESC LIMIT ?2",
        p![tenant.as_str(), limit.min(i64::MAX as usize) as i64],
        |r| r.get(0),
    )?;
    ids.into_iter().filter_map(|id| plan(db, tenant, id).transpose()).collect()
}

/// Whether a plan may move from one state to another.
fn allowed(from: PlanState, to: PlanState) -> bool {
    use PlanState::*;
    matches!(
        (from, to),
        (Planned, Approved) | (Approved, Executed) | (Approved, Failed) | (Planned | Approved, Cancelled)
    )
}

/// Logs an event of a plan, and applies the step's and the plan's new states it carries.
pub(crate) fn plan_event(db: Db<'_>, tenant: &TenantId, plan_id: i64, e: &RemediationEvent) -> Result<RemediationPlan> {
    db.savepoint(|| {
        let Some(current) = plan(db, tenant, plan_id)? else {
            return Err(StoreError::Conflict(format!("there is no remediation plan {plan_id}")));
        };
        let now = Utc::now().to_rfc3339();
        if let Some(to) = e.plan {
            if !allowed(current.state, to) {
                return Err(StoreError::Conflict(format!(
                    "remediation plan {plan_id} is {}; it cannot become {}",
                    current.state.as_str(),
                    to.as_str()
                )));
            }
            let (approved, finished) = match to {
                PlanState::Approved => (true, false),
                PlanState::Executed | PlanState::Failed | PlanState::Cancelled => (false, true),
                PlanState::Planned => (false, false),
            };
            db.execute(
                "UPDATE remediation_plans SET state = ?3, \
                 approved_at = CASE WHEN ?4 = 1 THEN ?6 ELSE approved_at END, \
                 approved_by = CASE WHEN ?4 = 1 THEN ?7 ELSE approved_by END, \
                 finished_at = CASE WHEN ?5 = 1 THEN ?6 ELSE finished_at END \
                 WHERE tenant_id = ?1 AND plan_id = ?2",
                p![tenant.as_str(), plan_id, to.as_str(), i64::from(approved), i64::from(finished), now, e.actor],
            )?;
        }
        if let (Some(step), Some((state, detail))) = (e.step_no, &e.step) {
            let n = db.execute(
                "UPDATE remediation_steps SET state = ?4, detail = ?5 WHERE tenant_id = ?1 AND plan_id = ?2 AND step_no = ?3",
                p![tenant.as_str(), plan_id, step, state.as_str(), detail],
            )?;
            if n == 0 {
                return Err(StoreError::Conflict(format!("remediation plan {plan_id} has no step {step}")));
            }
        }
        let entry = Entry { plan_id, step: e.step_no, at: &now, actor: &e.actor, event: &e.event, detail: &e.detail };
        log(db, tenant, &entry)?;
        plan(db, tenant, plan_id)?.ok_or_else(|| StoreError::Internal("the plan vanished".into()))
    })
}

/// A plan's log, oldest first.
pub(crate) fn plan_log(db: Db<'_>, tenant: &TenantId, plan_id: i64) -> Result<Vec<RemediationLogEntry>> {
    db.query_map(
        "SELECT step_no, at, actor, event, detail FROM remediation_log WHERE tenant_id = ?1 AND plan_id = ?2 ORDER BY entry_id",
        p![tenant.as_str(), plan_id],
        |r| Ok(RemediationLogEntry { step_no: r.get(0)?, at: r.get(1)?, actor: r.get(2)?, event: r.get(3)?, detail: r.get(4)? }),
    )
}
