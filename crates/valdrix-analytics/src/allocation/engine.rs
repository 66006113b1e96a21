//! Applying rules to records: the direct phase, the shared phase, the unallocated bucket and
//! its optional redistribution, each contribution with its records and arithmetic.

use super::rules::{Method, Record, Rule, RuleError};
use super::split::split;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// The bucket of what no rule claims.
pub const UNALLOCATED: &str = "Unallocated";

/// How a contribution came about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// The target owns the records.
    Direct,
    /// The target's share of a shared cost.
    Shared,
    /// Claimed by no rule.
    Unallocated,
    /// The target's share of the unallocated bucket (and the bucket's matching negative).
    Redistributed,
}

/// The ids of the records behind a contribution, shared between the contributions of one pool.
pub type RecordIds = Arc<[String]>;

/// An amount allocated to a target, with where it comes from.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Contribution {
    /// Who (a team, an owner, or [`UNALLOCATED`]).
    pub target: String,
    /// How.
    pub kind: Kind,
    /// The rule (none for the unallocated bucket).
    pub rule: Option<String>,
    /// The period (`YYYY-MM`) whose records it holds.
    pub period: String,
    /// Currency.
    pub currency: String,
    /// BilledCost allocated.
    pub billed: Decimal,
    /// EffectiveCost allocated.
    pub effective: Decimal,
    /// The source records.
    pub records: RecordIds,
    /// The arithmetic, in words.
    pub basis: String,
}

/// How allocation runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Spread the unallocated bucket over the targets in proportion to what they were
    /// allocated (EffectiveCost), shown as its own kind.
    pub redistribute_unallocated: bool,
}

/// What allocation made.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Allocation {
    /// Every contribution: direct ones first, then shared by rule, then the bucket.
    pub contributions: Vec<Contribution>,
    /// Shared rules that matched records but could not split them (their targets had no
    /// direct spend in that currency), with why; the records stayed unclaimed.
    pub unsplit: Vec<String>,
}

/// A target's totals in one currency.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Totals {
    /// Direct BilledCost.
    pub direct_billed: Decimal,
    /// Direct EffectiveCost.
    pub direct_effective: Decimal,
    /// Shared BilledCost.
    pub shared_billed: Decimal,
    /// Shared EffectiveCost.
    pub shared_effective: Decimal,
    /// Redistributed BilledCost.
    pub redistributed_billed: Decimal,
    /// Redistributed EffectiveCost.
    pub redistributed_effective: Decimal,
}

impl Totals {
    /// All BilledCost.
    pub fn billed(&self) -> Decimal {
        self.direct_billed + self.shared_billed + self.redistributed_billed
    }
    /// All EffectiveCost.
    pub fn effective(&self) -> Decimal {
        self.direct_effective + self.shared_effective + self.redistributed_effective
    }

    fn add(&mut self, c: &Contribution) {
        match c.kind {
            Kind::Direct | Kind::Unallocated => {
                self.direct_billed += c.billed;
                self.direct_effective += c.effective;
            }
            Kind::Shared => {
                self.shared_billed += c.billed;
                self.shared_effective += c.effective;
            }
            Kind::Redistributed => {
                self.redistributed_billed += c.billed;
                self.redistributed_effective += c.effective;
            }
        }
    }
}

impl Allocation {
    /// Each target's totals per currency over every period (the unallocated bucket's direct
    /// column is what no rule claimed).
    pub fn totals(&self) -> BTreeMap<(String, String), Totals> {
        let mut out: BTreeMap<(String, String), Totals> = BTreeMap::new();
        for c in &self.contributions {
            out.entry((c.target.clone(), c.currency.clone())).or_default().add(c);
        }
        out
    }

    /// Each target's totals per period and currency: (period, target, currency).
    pub fn totals_by_period(&self) -> BTreeMap<(String, String, String), Totals> {
        let mut out: BTreeMap<(String, String, String), Totals> = BTreeMap::new();
        for c in &self.contributions {
            out.entry((c.period.clone(), c.target.clone(), c.currency.clone())).or_default().add(c);
        }
        out
    }

    /// Every contribution to a target.
    pub fn explain(&self, target: &str) -> Vec<&Contribution> {
        self.contributions.iter().filter(|c| c.target == target).collect()
    }
}

/// Direct contributions being gathered, per rule, target, currency and period.
#[derive(Default)]
struct Gathered {
    billed: Decimal,
    effective: Decimal,
    records: Vec<String>,
    why: BTreeSet<String>,
}

fn percent(part: Decimal, whole: Decimal) -> String {
    if whole.is_zero() {
        return "0%".into();
    }
    format!("{}%", (part * Decimal::from(100) / whole).round_dp(4).normalize())
}

/// What the direct phase tells the shared one: each target's direct spend per currency and
/// period, and which target owns each record.
struct Direct<'a> {
    spend: HashMap<(&'a str, &'a str, &'a str), Decimal>,
    owner: Vec<Option<usize>>,
    targets: Vec<String>,
}

/// Applies `rules` to `records`. Rules are checked first; the records are left as they are.
///
/// Shared rules take records in priority order, so a record goes to the first shared rule that
/// matches it: one pass over the records finds every pool.
pub fn allocate(records: &[Record], rules: &[Rule], opts: Options) -> Result<Allocation, RuleError> {
    let mut seen = BTreeSet::new();
    for r in rules {
        r.validate()?;
        if !seen.insert(r.id.as_str()) {
            return Err(RuleError::Duplicate(r.id.clone()));
        }
    }
    let mut direct: Vec<&Rule> = rules.iter().filter(|r| r.method.is_direct()).collect();
    // Overrides before owner rules, then by priority; the sort is stable.
    direct.sort_by_key(|r| (!matches!(r.method, Method::Override(_)), r.priority));
    let mut shared: Vec<&Rule> = rules.iter().filter(|r| !r.method.is_direct()).collect();
    shared.sort_by_key(|r| r.priority);

    let mut out = Allocation::default();
    let mut claimed = vec![false; records.len()];

    // Direct: the first rule naming an owner takes the whole record.
    let mut target_index: HashMap<String, usize> = HashMap::new();
    let mut d = Direct { spend: HashMap::new(), owner: vec![None; records.len()], targets: vec![] };
    let mut gathered: BTreeMap<(usize, usize, &str, &str), Gathered> = BTreeMap::new();
    for (i, rec) in records.iter().enumerate() {
        for (n, rule) in direct.iter().enumerate() {
            if !rule.matcher.matches(rec) {
                continue;
            }
            if let Some((owner, why)) = rule.method.owner(rec) {
                let t = match target_index.get(&owner) {
                    Some(t) => *t,
                    None => {
                        d.targets.push(owner.clone());
                        target_index.insert(owner, d.targets.len() - 1);
                        d.targets.len() - 1
                    }
                };
                let g = gathered.entry((n, t, rec.currency.as_str(), rec.period.as_str())).or_default();
                g.billed += rec.billed;
                g.effective += rec.effective;
                g.records.push(rec.id.clone());
                if g.why.len() <= 3 {
                    g.why.insert(why);
                }
                claimed[i] = true;
                d.owner[i] = Some(t);
                break;
            }
        }
    }
    for ((n, t, currency, period), g) in gathered {
        let target = d.targets[t].clone();
        *d.spend.entry((d.targets[t].as_str(), currency, period)).or_default() += g.effective;
        let mut why: Vec<String> = g.why.into_iter().collect();
        let more = why.len() > 3;
        why.truncate(3);
        let basis = format!(
            "{} records owned by {target} ({}{})",
            g.records.len(),
            why.join("; "),
            if more { "; and more" } else { "" }
        );
        out.contributions.push(Contribution {
            target,
            kind: Kind::Direct,
            rule: Some(direct[n].id.clone()),
            period: period.to_string(),
            currency: currency.to_string(),
            billed: g.billed,
            effective: g.effective,
            records: g.records.into(),
            basis,
        });
    }

    // Shared: each unclaimed record joins the pool of the first shared rule matching it; each
    // pool (rule, currency, period) is split once.
    let mut pools: BTreeMap<(usize, &str, &str), Vec<usize>> = BTreeMap::new();
    for (i, rec) in records.iter().enumerate() {
        if claimed[i] {
            continue;
        }
        if let Some(n) = shared.iter().position(|rule| rule.matcher.matches(rec)) {
            pools.entry((n, rec.currency.as_str(), rec.period.as_str())).or_default().push(i);
        }
    }
    let mut quantities: HashMap<usize, Result<Quantities, String>> = HashMap::new();
    for ((n, currency, period), members) in pools {
        let rule = shared[n];
        let billed: Decimal = members.iter().map(|i| records[*i].billed).sum();
        let effective: Decimal = members.iter().map(|i| records[*i].effective).sum();
        let ids: RecordIds = members.iter().map(|i| records[*i].id.clone()).collect();
        if let Method::ProportionalToQuantity { of, .. } = &rule.method {
            quantities.entry(n).or_insert_with(|| quantities_of(records, &d, of));
        }
        let pool = Pool { currency, period, billed, effective, quantities: quantities.get(&n) };
        let shares = match shares(rule, &pool, &d) {
            Ok(s) => s,
            Err(why) => {
                let when = if period.is_empty() { String::new() } else { format!(" ({period})") };
                out.unsplit.push(format!("rule {}{when}: {why}; {effective} {currency} left unallocated", rule.id));
                continue;
            }
        };
        for (target, b, e, basis) in shares {
            out.contributions.push(Contribution {
                target,
                kind: Kind::Shared,
                rule: Some(rule.id.clone()),
                period: period.to_string(),
                currency: currency.to_string(),
                billed: b,
                effective: e,
                records: ids.clone(),
                basis: format!("{basis} of a pool of {billed} billed / {effective} effective ({} records)", ids.len()),
            });
        }
        for i in members {
            claimed[i] = true;
        }
    }

    // The bucket: what no rule claimed, per currency and period.
    let mut bucket: BTreeMap<(&str, &str), (Decimal, Decimal, Vec<String>)> = BTreeMap::new();
    for (i, rec) in records.iter().enumerate() {
        if !claimed[i] {
            let e = bucket.entry((rec.currency.as_str(), rec.period.as_str())).or_default();
            e.0 += rec.billed;
            e.1 += rec.effective;
            e.2.push(rec.id.clone());
        }
    }
    for ((currency, period), (billed, effective, ids)) in bucket {
        let ids: RecordIds = ids.into();
        out.contributions.push(Contribution {
            target: UNALLOCATED.into(),
            kind: Kind::Unallocated,
            rule: None,
            period: period.to_string(),
            currency: currency.to_string(),
            billed,
            effective,
            basis: format!("{} records no rule claimed", ids.len()),
            records: ids.clone(),
        });
        if opts.redistribute_unallocated {
            let pool = Pool { currency, period, billed, effective, quantities: None };
            redistribute(&mut out, &pool, ids);
        }
    }
    Ok(out)
}

/// One pool of a shared rule: what it holds, and where.
struct Pool<'a> {
    currency: &'a str,
    period: &'a str,
    billed: Decimal,
    effective: Decimal,
    quantities: Option<&'a Result<Quantities, String>>,
}

/// Each target's ConsumedQuantity per period over its directly allocated records that a
/// quantity rule counts, and the unit.
#[derive(Default)]
struct Quantities {
    by: HashMap<(String, String), Decimal>,
    unit: Option<String>,
}

fn quantities_of(records: &[Record], d: &Direct<'_>, of: &super::Match) -> Result<Quantities, String> {
    let mut q = Quantities::default();
    for (i, rec) in records.iter().enumerate() {
        let (Some(t), Some(amount)) = (d.owner[i], rec.quantity) else { continue };
        if amount.is_zero() || !of.matches(rec) {
            continue;
        }
        match (&q.unit, &rec.unit) {
            (Some(u), Some(v)) if u != v => return Err(format!("the quantities it counts are in {u} and {v}")),
            (None, Some(v)) => q.unit = Some(v.clone()),
            _ => {}
        }
        *q.by.entry((d.targets[t].clone(), rec.period.clone())).or_default() += amount;
    }
    Ok(q)
}

/// A share of a pool: (target, billed, effective, basis).
type Share = (String, Decimal, Decimal, String);

/// A shared rule's split of a pool.
fn shares(rule: &Rule, pool: &Pool<'_>, d: &Direct<'_>) -> Result<Vec<Share>, String> {
    let weighted = |targets: Vec<(String, Decimal)>, describe: &dyn Fn(Decimal, Decimal) -> String| {
        let weights: Vec<Decimal> = targets.iter().map(|(_, w)| *w).collect();
        let total: Decimal = weights.iter().sum();
        let b = split(pool.billed, &weights).map_err(|e| e.to_string())?;
        let e = split(pool.effective, &weights).map_err(|e| e.to_string())?;
        Ok(targets
            .into_iter()
            .zip(b.into_iter().zip(e))
            .map(|((t, w), (b, e))| (t, b, e, describe(w, total)))
            .collect())
    };
    let (currency, period) = (pool.currency, pool.period);
    match &rule.method {
        Method::Percentages(p) => weighted(p.clone(), &|w, _| format!("{}%", w.normalize())),
        Method::ProportionalToUsage(u) => {
            let figures = u.for_period(period).ok_or_else(|| format!("no usage figures for {period}"))?;
            let when = if u.periods.contains_key(period) { format!(" in {period}") } else { String::new() };
            weighted(figures.to_vec(), &|w, t| {
                format!("usage {} of {}{when} ({})", w.normalize(), t.normalize(), percent(w, t))
            })
        }
        Method::ProportionalToQuantity { targets, .. } => {
            let q = match pool.quantities {
                Some(Ok(q)) => q,
                Some(Err(e)) => return Err(e.clone()),
                None => return Err("no quantities were gathered".into()),
            };
            let unit = q.unit.as_deref().map(|u| format!(" {u}")).unwrap_or_default();
            let weights: Vec<(String, Decimal)> = targets
                .iter()
                .map(|t| {
                    let v = q.by.get(&(t.clone(), period.to_string())).copied().unwrap_or_default();
                    (t.clone(), v.max(Decimal::ZERO))
                })
                .collect();
            if weights.iter().all(|(_, w)| w.is_zero()) {
                return Err(format!("none of its targets used what it counts in {period}"));
            }
            weighted(weights, &|w, t| {
                format!("usage {}{unit} of {}{unit} in the bill ({})", w.normalize(), t.normalize(), percent(w, t))
            })
        }
        Method::Even(targets) => {
            let n = targets.len();
            weighted(targets.iter().map(|t| (t.clone(), Decimal::ONE)).collect(), &|_, _| format!("1/{n}"))
        }
        Method::ProportionalToDirect(targets) => {
            let spend: Vec<(String, Decimal)> = targets
                .iter()
                .map(|t| {
                    let s = d.spend.get(&(t.as_str(), currency, period)).copied().unwrap_or_default();
                    (t.clone(), s.max(Decimal::ZERO))
                })
                .collect();
            if spend.iter().all(|(_, s)| s.is_zero()) {
                return Err(format!("none of its targets has direct spend in {currency}"));
            }
            weighted(spend, &|w, t| format!("direct spend {w} of {t} ({})", percent(w, t)))
        }
        Method::Fixed { amounts, remainder } => {
            // Fixed amounts come out of the pool in the order given, as far as it goes; the
            // rest goes to the remainder target. Billed and effective each the same way.
            let take = |whole: Decimal| {
                let mut left = whole;
                let mut parts = vec![];
                for (t, a) in amounts {
                    let part = if whole.is_sign_negative() { Decimal::ZERO } else { (*a).min(left.max(Decimal::ZERO)) };
                    left -= part;
                    parts.push((t.clone(), part));
                }
                (parts, left)
            };
            let (bp, bl) = take(pool.billed);
            let (ep, el) = take(pool.effective);
            let mut out: Vec<Share> = bp
                .into_iter()
                .zip(ep)
                .zip(amounts)
                .map(|(((t, b), (_, e)), (_, a))| (t, b, e, format!("fixed amount {a}")))
                .collect();
            out.push((remainder.clone(), bl, el, "the remainder after the fixed amounts".into()));
            Ok(out)
        }
        Method::Override(_) | Method::Owner(_) => Err("a direct rule in the shared phase".into()),
    }
}

/// Spreads one currency's bucket of a period over the targets in proportion to what they were
/// allocated in it, and takes it out of the bucket with a matching negative contribution.
fn redistribute(out: &mut Allocation, pool: &Pool<'_>, ids: RecordIds) {
    let (currency, period, billed, effective) = (pool.currency, pool.period, pool.billed, pool.effective);
    let mut allocated: BTreeMap<String, Decimal> = BTreeMap::new();
    for c in
        out.contributions.iter().filter(|c| c.currency == currency && c.period == period && c.target != UNALLOCATED)
    {
        *allocated.entry(c.target.clone()).or_default() += c.effective;
    }
    let targets: Vec<(String, Decimal)> =
        allocated.into_iter().filter(|(_, v)| v.is_sign_positive() && !v.is_zero()).collect();
    let weights: Vec<Decimal> = targets.iter().map(|(_, w)| *w).collect();
    let (Ok(b), Ok(e)) = (split(billed, &weights), split(effective, &weights)) else {
        out.unsplit.push(format!(
            "the unallocated {effective} {currency} of {period} could not be redistributed: nothing was allocated in {currency}"
        ));
        return;
    };
    let total: Decimal = weights.iter().sum();
    for ((t, w), (b, e)) in targets.into_iter().zip(b.into_iter().zip(e)) {
        out.contributions.push(Contribution {
            target: t,
            kind: Kind::Redistributed,
            rule: None,
            period: period.into(),
            currency: currency.into(),
            billed: b,
            effective: e,
            records: ids.clone(),
            basis: format!(
                "allocated {w} of {total} ({}) of the unallocated {billed} billed / {effective} effective",
                percent(w, total)
            ),
        });
    }
    out.contributions.push(Contribution {
        target: UNALLOCATED.into(),
        kind: Kind::Redistributed,
        rule: None,
        period: period.into(),
        currency: currency.into(),
        billed: -billed,
        effective: -effective,
        records: ids,
        basis: "redistributed to the targets in proportion to what they were allocated".into(),
    });
}

/// One group of the unallocated bucket: a value of a dimension and what it holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UnallocatedGroup {
    /// Currency.
    pub currency: String,
    /// The dimension's value (none: records without one).
    pub value: Option<String>,
    /// EffectiveCost in the bucket.
    pub effective: Decimal,
    /// BilledCost in the bucket.
    pub billed: Decimal,
    /// Records.
    pub records: usize,
}

/// What the unallocated bucket holds, by a dimension (the services or resources that lack the
/// tag the rules look for), largest first, at most `top` groups per currency.
pub fn unallocated_by(records: &[Record], a: &Allocation, dim: super::Dim, top: usize) -> Vec<UnallocatedGroup> {
    let bucket: BTreeSet<&str> = a
        .contributions
        .iter()
        .filter(|c| c.kind == Kind::Unallocated)
        .flat_map(|c| c.records.iter().map(String::as_str))
        .collect();
    let mut groups: BTreeMap<(String, Option<String>), (Decimal, Decimal, usize)> = BTreeMap::new();
    for r in records.iter().filter(|r| bucket.contains(r.id.as_str())) {
        let g = groups.entry((r.currency.clone(), r.dim(dim).map(str::to_string))).or_default();
        g.0 += r.effective;
        g.1 += r.billed;
        g.2 += 1;
    }
    let mut out: Vec<UnallocatedGroup> = groups
        .into_iter()
        .map(|((currency, value), (effective, billed, records))| UnallocatedGroup {
            currency,
            value,
            effective,
            billed,
            records,
        })
        .collect();
    out.sort_by(|a, b| {
        (&a.currency, std::cmp::Reverse(a.effective.abs()), &a.value).cmp(&(
            &b.currency,
            std::cmp::Reverse(b.effective.abs()),
            &b.value,
        ))
    });
    let mut per_currency: BTreeMap<String, usize> = BTreeMap::new();
    out.retain(|g| {
        let n = per_currency.entry(g.currency.clone()).or_default();
        *n += 1;
        *n <= top
    });
    out
}
