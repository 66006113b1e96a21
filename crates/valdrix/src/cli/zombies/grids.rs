//! Zombie answers as tables, CSV and JSON: a scan's report, the rules, stored findings and
//! scans, a remediation plan and its log.

use anyhow::Result;
use std::io::Write;
use valdrix_app::zombies::cost_source;
use valdrix_zombies::scan::Status;
use valdrix_zombies::ScanReport;

use crate::cli::output::{money_for_people, Grid, OutputFormat};

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
pub(crate) fn write_report(report: &ScanReport, format: OutputFormat, out: &mut dyn Write) -> Result<()> {
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
pub(crate) fn rules_grid() -> Grid {
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

/// Stored findings as a grid, for `valdrix zombies list`.
pub(crate) fn stored_grid(rows: &[valdrix_store::zombies::StoredZombie], people: bool) -> Grid {
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
pub(crate) fn scans_grid(scans: &[valdrix_store::zombies::ZombieScanSummary]) -> Grid {
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

/// A plan's steps as a grid.
pub(crate) fn plan_grid(plan: &valdrix_store::zombies::RemediationPlan, people: bool) -> Grid {
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
pub(crate) fn log_grid(entries: &[valdrix_store::zombies::RemediationLogEntry]) -> Grid {
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
