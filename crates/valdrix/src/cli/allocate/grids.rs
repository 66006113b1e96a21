//! Allocation answers as grids: a run's totals, one target's contributions, the untagged report,
//! a simulation, the chargeback statement, the rule set's versions.

use anyhow::Result;
use rust_decimal::Decimal;
use valdrix_analytics::allocation::{unallocated_by, Allocation, Dim, Record, UNALLOCATED};
use valdrix_core::TenantId;
use valdrix_store::Store;

use crate::cli::output::{money_text, Grid};

/// Every version of the tenant's rule set, newest first, with what each changed.
pub(crate) fn history_grid(store: &dyn Store, tenant: &TenantId) -> Result<Grid> {
    let list = |ids: &[String]| (!ids.is_empty()).then(|| ids.join(" "));
    let rows = valdrix_app::allocate::history(store, tenant)?
        .into_iter()
        .map(|c| {
            let v = &c.version;
            vec![
                Some(format!("v{}", v.version)),
                Some(v.created_at.clone()),
                Some(v.created_by.clone()),
                Some(c.rules.to_string()),
                list(&c.diff.added),
                list(&c.diff.changed),
                list(&c.diff.removed),
                (!v.note.is_empty()).then(|| v.note.clone()),
            ]
        })
        .collect();
    Ok(Grid {
        columns: ["version", "saved_at", "saved_by", "rules", "added", "changed", "removed", "note"]
            .map(String::from)
            .to_vec(),
        numeric: vec![false, false, false, true, false, false, false, false],
        rows,
    })
}

/// A candidate rule set against the current one over the same records: each target's total
/// (EffectiveCost and BilledCost) under both, and the difference.
pub(crate) fn simulate_grid(current: &Allocation, candidate: &Allocation, people: bool) -> Grid {
    let rows = current
        .compare(candidate)
        .into_iter()
        .map(|t| {
            let (a, b, change) = (t.current, t.candidate, t.difference());
            let pct = (!a.effective().is_zero()).then(|| {
                let p = (change * Decimal::from(100) / a.effective()).round_dp(1);
                if p.is_zero() {
                    "0%".to_string()
                } else {
                    format!("{p:+}%")
                }
            });
            vec![
                Some(t.target),
                Some(t.currency),
                amount(a.effective(), people),
                amount(b.effective(), people),
                Some(signed(change, people)),
                pct,
                amount(a.billed(), people),
                amount(b.billed(), people),
            ]
        })
        .collect();
    Grid {
        columns: [
            "target",
            "currency",
            "current_effective",
            "candidate_effective",
            "difference",
            "change",
            "current_billed",
            "candidate_billed",
        ]
        .map(String::from)
        .to_vec(),
        numeric: vec![false, false, true, true, true, true, true, true],
        rows,
    }
}

/// The showback / chargeback statement: one row per period, target and currency, direct,
/// shared, redistributed and total cost, billed and effective, exact, naming the rules used.
pub(crate) fn chargeback_grid(a: &Allocation, rules_label: &str) -> Grid {
    let rows = a
        .totals_by_period()
        .into_iter()
        .map(|((period, target, currency), t)| {
            let text = |d: Decimal| Some(d.normalize().to_string());
            vec![
                Some(period),
                Some(target),
                Some(currency),
                text(t.direct_billed),
                text(t.shared_billed),
                text(t.redistributed_billed),
                text(t.billed()),
                text(t.direct_effective),
                text(t.shared_effective),
                text(t.redistributed_effective),
                text(t.effective()),
                Some(rules_label.to_string()),
            ]
        })
        .collect();
    Grid {
        columns: [
            "period",
            "target",
            "currency",
            "direct_billed",
            "shared_billed",
            "redistributed_billed",
            "total_billed",
            "direct_effective",
            "shared_effective",
            "redistributed_effective",
            "total_effective",
            "rules",
        ]
        .map(String::from)
        .to_vec(),
        numeric: vec![false, false, false, true, true, true, true, true, true, true, true, false],
        rows,
    }
}

/// The unallocated bucket: its share of each currency's spend, then the services and the
/// resources holding most of it (what lacks the tags the rules look for).
pub(crate) fn unallocated_grid(a: &Allocation, records: &[Record], top: usize, people: bool) -> Grid {
    let mut spend: std::collections::BTreeMap<&str, Decimal> = Default::default();
    for r in records {
        *spend.entry(r.currency.as_str()).or_default() += r.effective;
    }
    let share = |v: Decimal, currency: &str| {
        let whole = spend.get(currency).copied().unwrap_or_default();
        (!whole.is_zero()).then(|| format!("{}%", (v * Decimal::from(100) / whole).round_dp(1)))
    };
    let mut rows = vec![];
    for ((target, currency), t) in a.totals() {
        if target == UNALLOCATED {
            let v = t.direct_effective;
            rows.push(vec![Some("total".into()), None, Some(currency.clone()), amount(v, people), share(v, &currency)]);
        }
    }
    for (label, dim) in [("service", Dim::Service), ("resource", Dim::Resource)] {
        for g in unallocated_by(records, a, dim, top) {
            let s = share(g.effective, &g.currency);
            rows.push(vec![Some(label.into()), g.value, Some(g.currency), amount(g.effective, people), s]);
        }
    }
    Grid {
        columns: ["group", "value", "currency", "effective", "share_of_spend"].map(String::from).to_vec(),
        numeric: vec![false, false, false, true, true],
        rows,
    }
}

/// Each target's direct, shared and redistributed cost (EffectiveCost) and its total, billed and
/// effective, per currency, largest first; the unallocated bucket last.
pub(crate) fn totals_grid(a: &Allocation, people: bool) -> Grid {
    let totals = a.totals();
    let mut by_currency: std::collections::BTreeMap<&str, Decimal> = Default::default();
    for ((_, c), t) in &totals {
        *by_currency.entry(c.as_str()).or_default() += t.effective();
    }
    let mut rows: Vec<_> = totals.iter().collect();
    rows.sort_by(|((ta, ca), a), ((tb, cb), b)| {
        (ca, ta == UNALLOCATED, std::cmp::Reverse(a.effective()), ta).cmp(&(
            cb,
            tb == UNALLOCATED,
            std::cmp::Reverse(b.effective()),
            tb,
        ))
    });
    Grid {
        columns: [
            "target",
            "currency",
            "direct",
            "shared",
            "redistributed",
            "total_effective",
            "total_billed",
            "share",
        ]
        .map(String::from)
        .to_vec(),
        numeric: vec![false, false, true, true, true, true, true, true],
        rows: rows
            .into_iter()
            .map(|((target, currency), t)| {
                let whole = by_currency.get(currency.as_str()).copied().unwrap_or_default();
                let share = if whole.is_zero() {
                    None
                } else {
                    Some(format!("{}%", (t.effective() * Decimal::from(100) / whole).round_dp(1)))
                };
                vec![
                    Some(target.clone()),
                    Some(currency.clone()),
                    amount(t.direct_effective, people),
                    amount(t.shared_effective, people),
                    amount(t.redistributed_effective, people),
                    amount(t.effective(), people),
                    amount(t.billed(), people),
                    share,
                ]
            })
            .collect(),
    }
}

/// The contributions to one target: how each part of its figure was worked out, from which
/// records.
pub(crate) fn explain_grid(a: &Allocation, target: &str, people: bool) -> Grid {
    Grid {
        columns: ["period", "kind", "rule", "currency", "billed", "effective", "records", "first_records", "basis"]
            .map(String::from)
            .to_vec(),
        numeric: vec![false, false, false, false, true, true, true, false, false],
        rows: a
            .explain(target)
            .into_iter()
            .map(|c| {
                let first: Vec<&str> = c.records.iter().take(3).map(|id| &**id).collect();
                vec![
                    Some(c.period.clone()),
                    Some(c.kind.as_str().to_string()),
                    c.rule.clone(),
                    Some(c.currency.clone()),
                    amount(c.billed, people),
                    amount(c.effective, people),
                    Some(c.records.len().to_string()),
                    Some(first.join(" ")),
                    Some(c.basis.clone()),
                ]
            })
            .collect(),
    }
}

/// A difference: with its sign for people.
fn signed(d: Decimal, people: bool) -> String {
    let text = money_text(d, people);
    if people && d.is_sign_positive() && !d.is_zero() {
        format!("+{text}")
    } else {
        text
    }
}

fn amount(d: Decimal, people: bool) -> Option<String> {
    Some(money_text(d, people))
}
