//! Cost trust as tables: what deliveries changed (`valdrix audit`), a record's history
//! (`valdrix costs history`), record listings, billing periods and restatement alerts.

use rust_decimal::Decimal;

use crate::cli::output::Grid;
use valdrix_store::{AuditEvent, PeriodInfo, RecordHistory, RecordRow, RestatementAlert, RunAudit, RunSummary};

/// An amount: exact for programs, rounded with separators for people.
fn money(d: Decimal, machine: bool) -> String {
    crate::cli::output::money_text(d, !machine)
}

/// A signed amount for people (`+12.35`).
fn delta(d: Decimal, machine: bool) -> String {
    let s = money(d, machine);
    if d > Decimal::ZERO {
        format!("+{s}")
    } else {
        s
    }
}

fn percent(p: Option<Decimal>) -> Option<String> {
    p.map(|p| format!("{}%", p.round_dp(2).normalize()))
}

fn grid(columns: &[&str], numeric: &[bool]) -> Grid {
    Grid { columns: columns.iter().map(|c| c.to_string()).collect(), rows: Vec::new(), numeric: numeric.to_vec() }
}

/// One row per run and currency: what each delivery changed.
pub fn runs_changes(audits: &[RunAudit], machine: bool) -> Grid {
    let mut g = grid(
        &[
            "run",
            "stream",
            "started",
            "records",
            "added",
            "added_late",
            "restated",
            "removed",
            "post_final",
            "alerts",
            "currency",
            "net_billed",
            "net_effective",
            "mean_abs_pct",
            "max_abs_pct",
        ],
        &[true, false, false, true, true, true, true, true, true, true, false, true, true, true, true],
    );
    for a in audits {
        let r = &a.run;
        let c = &r.changes;
        let head = |first: bool, v: String| first.then_some(v);
        let currencies: Vec<_> = if a.currencies.is_empty() {
            vec![(None, None)]
        } else {
            a.currencies.iter().map(|(k, v)| (Some(k.clone()), Some(v.clone()))).collect()
        };
        for (i, (cur, change)) in currencies.into_iter().enumerate() {
            let first = i == 0;
            g.rows.push(vec![
                head(first, r.run_id.to_string()),
                head(first, r.stream.clone()),
                head(first, r.started_at.get(..19).unwrap_or(&r.started_at).replace('T', " ")),
                head(first, r.records.to_string()),
                head(first, c.added.to_string()),
                head(first, c.added_late.to_string()),
                head(first, c.restated.to_string()),
                head(first, c.removed.to_string()),
                head(first, c.post_final.to_string()),
                head(first, c.alerts.to_string()),
                cur,
                change.as_ref().map(|c| delta(c.billed_delta, machine)),
                change.as_ref().map(|c| delta(c.effective_delta, machine)),
                change.as_ref().and_then(|c| percent(c.mean_abs_percent)),
                change.as_ref().and_then(|c| percent(c.max_abs_percent)),
            ]);
        }
    }
    g
}

/// The largest changes of a run, one row per record.
pub fn largest_changes(audit: &RunAudit, machine: bool) -> Grid {
    let mut g = grid(
        &[
            "record",
            "day",
            "reason",
            "account",
            "service",
            "currency",
            "old_billed",
            "new_billed",
            "delta_billed",
            "delta_pct",
            "old_effective",
            "new_effective",
            "old_run",
            "post_final",
        ],
        &[false, false, false, false, false, false, true, true, true, true, true, true, true, false],
    );
    for e in &audit.largest {
        g.rows.push(vec![
            Some(e.record_id.clone()),
            Some(e.charge_date.to_string()),
            Some(e.reason.as_str().to_string()),
            Some(e.account.clone()),
            Some(e.service.clone()),
            Some(e.currency.clone()),
            Some(money(e.old_billed, machine)),
            Some(money(e.new_billed, machine)),
            Some(delta(e.billed_delta(), machine)),
            percent(e.billed_change_percent()),
            Some(money(e.old_effective, machine)),
            Some(money(e.new_effective, machine)),
            e.old_run_id.map(|r| r.to_string()),
            Some(if e.post_final { "yes" } else { "no" }.to_string()),
        ]);
    }
    g
}

/// The files of a run, for lineage: the URI given, else the files read.
fn files_of(run: &RunSummary) -> String {
    if run.files.len() == 1 {
        run.files[0].clone()
    } else {
        format!("{} ({} files)", run.source_uri, run.files.len())
    }
}

/// A record's values, delivery by delivery.
pub fn history(h: &RecordHistory, machine: bool) -> Grid {
    let mut g = grid(
        &["run", "read_at", "change", "billed", "effective", "post_final", "file", "checksum", "assembly"],
        &[true, false, false, true, true, false, false, false, false],
    );
    for p in &h.points {
        g.rows.push(vec![
            Some(p.run.run_id.to_string()),
            Some(p.run.started_at.get(..19).unwrap_or(&p.run.started_at).replace('T', " ")),
            Some(p.change.clone()),
            Some(money(p.billed, machine)),
            Some(money(p.effective, machine)),
            Some(if p.post_final { "yes" } else { "no" }.to_string()),
            Some(files_of(&p.run)),
            Some(if machine { p.run.checksum.clone() } else { p.run.checksum.chars().take(12).collect() }),
            p.run.assembly_id.clone(),
        ]);
    }
    g
}

/// Stored records with their ids.
pub fn records(rows: &[RecordRow], machine: bool) -> Grid {
    let mut g = grid(
        &[
            "record",
            "day",
            "provider",
            "account",
            "service",
            "resource",
            "charge_category",
            "currency",
            "billed",
            "effective",
            "run",
        ],
        &[false, false, false, false, false, false, false, false, true, true, true],
    );
    for r in rows {
        g.rows.push(vec![
            Some(r.record_id.clone()),
            Some(r.charge_date.to_string()),
            Some(r.provider.clone()),
            Some(r.account.clone()),
            Some(r.service.clone()),
            r.resource.clone(),
            Some(r.charge_category.clone()),
            Some(r.currency.clone()),
            Some(money(r.billed, machine)),
            Some(money(r.effective, machine)),
            Some(r.run_id.to_string()),
        ]);
    }
    g
}

/// Billing periods with their state and totals.
pub fn periods(periods: &[PeriodInfo], machine: bool) -> Grid {
    let mut g = grid(
        &[
            "period",
            "state",
            "source",
            "deliveries",
            "current_run",
            "invoice",
            "currency",
            "billed",
            "effective",
            "closed_by",
        ],
        &[false, false, false, true, true, false, false, true, true, false],
    );
    for p in periods {
        let totals: Vec<_> = if p.totals.is_empty() {
            vec![(None, None)]
        } else {
            p.totals.iter().map(|(c, t)| (Some(c.clone()), Some(*t))).collect()
        };
        for (i, (cur, t)) in totals.into_iter().enumerate() {
            let first = i == 0;
            g.rows.push(vec![
                first.then(|| p.period.clone()),
                first.then(|| p.state.as_str().to_string()),
                first.then(|| p.stream.clone()),
                first.then(|| p.deliveries.to_string()),
                first.then(|| p.current_run_id.to_string()),
                if first { p.invoice_id.clone() } else { None },
                cur,
                t.map(|t| money(t.0, machine)),
                t.map(|t| money(t.1, machine)),
                if first { p.closed.as_ref().map(|c| format!("{} ({})", c.closed_by, c.reason)) } else { None },
            ]);
        }
    }
    g
}

/// Restatement alerts.
pub fn alerts(alerts: &[RestatementAlert], machine: bool) -> Grid {
    let mut g = grid(
        &[
            "alert",
            "run",
            "day",
            "account",
            "service",
            "currency",
            "metric",
            "old",
            "new",
            "delta",
            "delta_pct",
            "raised_at",
        ],
        &[true, true, false, false, false, false, false, true, true, true, true, false],
    );
    for a in alerts {
        g.rows.push(vec![
            Some(a.alert_id.to_string()),
            Some(a.run_id.to_string()),
            Some(a.charge_date.to_string()),
            Some(a.account.clone()),
            Some(a.service.clone()),
            Some(a.currency.clone()),
            Some(a.metric.clone()),
            Some(money(a.old_amount, machine)),
            Some(money(a.new_amount, machine)),
            Some(delta(a.delta(), machine)),
            percent(a.percent()).or_else(|| Some("new".to_string())),
            Some(a.created_at.get(..19).unwrap_or(&a.created_at).replace('T', " ")),
        ]);
    }
    g
}

/// Closes, reopens and forced deliveries.
pub fn events(events: &[AuditEvent]) -> Grid {
    let mut g = grid(
        &["event", "at", "kind", "period", "run", "actor", "reason"],
        &[true, false, false, false, true, false, false],
    );
    for e in events {
        g.rows.push(vec![
            Some(e.event_id.to_string()),
            Some(e.at.get(..19).unwrap_or(&e.at).replace('T', " ")),
            Some(e.kind.clone()),
            Some(e.period.clone()),
            e.run_id.map(|r| r.to_string()),
            Some(e.actor.clone()),
            Some(e.reason.clone()),
        ]);
    }
    g
}
