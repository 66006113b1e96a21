//! `valdrix allocate`: the stored records of a range split among teams by a rule file, with the
//! unallocated bucket and, for any target, the contributions that make up its figure.

use crate::output::{money_text, Grid};
use anyhow::{Context, Result};
use rust_decimal::Decimal;
use std::path::Path;
use valdrix_analytics::allocation::{
    allocate, parse, unallocated_by, Allocation, Dim, Kind, Options, Record, UNALLOCATED,
};
use valdrix_core::TenantId;
use valdrix_store::{CostQuery, Store};

/// Reads the rule file, the records of the query's range and filters, and allocates them; the
/// records come back too, for reports on them.
pub fn run(
    store: &dyn Store,
    tenant: &TenantId,
    rules: &Path,
    q: &CostQuery,
    redistribute: bool,
) -> Result<(Allocation, Vec<Record>)> {
    let text = std::fs::read_to_string(rules).with_context(|| format!("reading rules {}", rules.display()))?;
    let rules = parse(&rules.display().to_string(), &text)?;
    let mut records = Vec::new();
    store.for_each_record_with_id(tenant, q, &mut |id, r| {
        records.push(Record::from_cost(id, &r));
        Ok(())
    })?;
    let allocation = allocate(&records, &rules, Options { redistribute_unallocated: redistribute })?;
    Ok((allocation, records))
}

/// The unallocated bucket: its share of each currency's spend, then the services and the
/// resources holding most of it (what lacks the tags the rules look for).
pub fn unallocated_grid(a: &Allocation, records: &[Record], top: usize, people: bool) -> Grid {
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

fn amount(d: Decimal, people: bool) -> Option<String> {
    Some(money_text(d, people))
}

/// Each target's direct, shared and redistributed cost (EffectiveCost) and its total, billed and
/// effective, per currency, largest first; the unallocated bucket last.
pub fn totals_grid(a: &Allocation, people: bool) -> Grid {
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
pub fn explain_grid(a: &Allocation, target: &str, people: bool) -> Grid {
    Grid {
        columns: ["kind", "rule", "currency", "billed", "effective", "records", "first_records", "basis"]
            .map(String::from)
            .to_vec(),
        numeric: vec![false, false, false, true, true, true, false, false],
        rows: a
            .explain(target)
            .into_iter()
            .map(|c| {
                let kind = match c.kind {
                    Kind::Direct => "direct",
                    Kind::Shared => "shared",
                    Kind::Unallocated => "unallocated",
                    Kind::Redistributed => "redistributed",
                };
                let first: Vec<&str> = c.records.iter().take(3).map(String::as_str).collect();
                vec![
                    Some(kind.to_string()),
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
