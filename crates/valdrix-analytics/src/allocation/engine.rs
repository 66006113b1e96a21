//! Applying rules to records: the direct phase, the shared phase, the unallocated bucket and
//! its optional redistribution, each contribution with its records and arithmetic.

use super::rules::{Method, Record, Rule, RuleError};
use super::split::split;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet};

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

/// An amount allocated to a target, with where it comes from.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Contribution {
    /// Who (a team, an owner, or [`UNALLOCATED`]).
    pub target: String,
    /// How.
    pub kind: Kind,
    /// The rule (none for the unallocated bucket).
    pub rule: Option<String>,
    /// Currency.
    pub currency: String,
    /// BilledCost allocated.
    pub billed: Decimal,
    /// EffectiveCost allocated.
    pub effective: Decimal,
    /// The source records.
    pub records: Vec<String>,
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
}

impl Allocation {
    /// Each target's totals per currency (the unallocated bucket's direct column is what no
    /// rule claimed).
    pub fn totals(&self) -> BTreeMap<(String, String), Totals> {
        let mut out: BTreeMap<(String, String), Totals> = BTreeMap::new();
        for c in &self.contributions {
            let t = out.entry((c.target.clone(), c.currency.clone())).or_default();
            match c.kind {
                Kind::Direct | Kind::Unallocated => {
                    t.direct_billed += c.billed;
                    t.direct_effective += c.effective;
                }
                Kind::Shared => {
                    t.shared_billed += c.billed;
                    t.shared_effective += c.effective;
                }
                Kind::Redistributed => {
                    t.redistributed_billed += c.billed;
                    t.redistributed_effective += c.effective;
                }
            }
        }
        out
    }

    /// Every contribution to a target.
    pub fn explain(&self, target: &str) -> Vec<&Contribution> {
        self.contributions.iter().filter(|c| c.target == target).collect()
    }
}

type Key = (String, String, String); // (rule, target, currency)

/// Direct contributions being gathered, per rule, target and currency.
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

/// Applies `rules` to `records`. Rules are checked first; the records are left as they are.
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
    let mut gathered: BTreeMap<Key, Gathered> = BTreeMap::new();
    for (i, rec) in records.iter().enumerate() {
        for rule in &direct {
            if !rule.matcher.matches(rec) {
                continue;
            }
            if let Some((owner, why)) = rule.method.owner(rec) {
                let g = gathered.entry((rule.id.clone(), owner, rec.currency.clone())).or_default();
                g.billed += rec.billed;
                g.effective += rec.effective;
                g.records.push(rec.id.clone());
                g.why.insert(why);
                claimed[i] = true;
                break;
            }
        }
    }
    let mut direct_spend: BTreeMap<(String, String), Decimal> = BTreeMap::new();
    for ((rule, target, currency), g) in gathered {
        *direct_spend.entry((target.clone(), currency.clone())).or_default() += g.effective;
        let mut why: Vec<String> = g.why.into_iter().collect();
        let more = why.len().saturating_sub(3);
        why.truncate(3);
        let basis = format!(
            "{} records owned by {target} ({}{})",
            g.records.len(),
            why.join("; "),
            if more > 0 { format!("; and {more} more") } else { String::new() }
        );
        out.contributions.push(Contribution {
            target,
            kind: Kind::Direct,
            rule: Some(rule),
            currency,
            billed: g.billed,
            effective: g.effective,
            records: g.records,
            basis,
        });
    }

    // Shared: each rule pools what it matches of the unclaimed records, per currency.
    for rule in &shared {
        let mut pools: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, rec) in records.iter().enumerate() {
            if !claimed[i] && rule.matcher.matches(rec) {
                pools.entry(rec.currency.clone()).or_default().push(i);
            }
        }
        for (currency, members) in pools {
            let billed: Decimal = members.iter().map(|i| records[*i].billed).sum();
            let effective: Decimal = members.iter().map(|i| records[*i].effective).sum();
            let ids: Vec<String> = members.iter().map(|i| records[*i].id.clone()).collect();
            let shares = match shares(rule, &currency, billed, effective, &direct_spend) {
                Ok(s) => s,
                Err(why) => {
                    out.unsplit.push(format!("rule {}: {why}; {} {currency} left unallocated", rule.id, effective));
                    continue;
                }
            };
            for (target, b, e, basis) in shares {
                out.contributions.push(Contribution {
                    target,
                    kind: Kind::Shared,
                    rule: Some(rule.id.clone()),
                    currency: currency.clone(),
                    billed: b,
                    effective: e,
                    records: ids.clone(),
                    basis: format!(
                        "{basis} of a pool of {billed} billed / {effective} effective ({} records)",
                        ids.len()
                    ),
                });
            }
            for i in members {
                claimed[i] = true;
            }
        }
    }

    // The bucket: what no rule claimed, per currency.
    let mut bucket: BTreeMap<String, (Decimal, Decimal, Vec<String>)> = BTreeMap::new();
    for (i, rec) in records.iter().enumerate() {
        if !claimed[i] {
            let e = bucket.entry(rec.currency.clone()).or_default();
            e.0 += rec.billed;
            e.1 += rec.effective;
            e.2.push(rec.id.clone());
        }
    }
    for (currency, (billed, effective, ids)) in bucket {
        out.contributions.push(Contribution {
            target: UNALLOCATED.into(),
            kind: Kind::Unallocated,
            rule: None,
            currency: currency.clone(),
            billed,
            effective,
            basis: format!("{} records no rule claimed", ids.len()),
            records: ids.clone(),
        });
        if opts.redistribute_unallocated {
            redistribute(&mut out, &currency, billed, effective, &ids);
        }
    }
    Ok(out)
}

/// A shared rule's split of a pool: (target, billed, effective, basis) for each target.
fn shares(
    rule: &Rule,
    currency: &str,
    billed: Decimal,
    effective: Decimal,
    direct_spend: &BTreeMap<(String, String), Decimal>,
) -> Result<Vec<(String, Decimal, Decimal, String)>, String> {
    let weighted = |targets: Vec<(String, Decimal)>, describe: &dyn Fn(Decimal, Decimal) -> String| {
        let weights: Vec<Decimal> = targets.iter().map(|(_, w)| *w).collect();
        let total: Decimal = weights.iter().sum();
        let b = split(billed, &weights).map_err(|e| e.to_string())?;
        let e = split(effective, &weights).map_err(|e| e.to_string())?;
        Ok(targets
            .into_iter()
            .zip(b.into_iter().zip(e))
            .map(|((t, w), (b, e))| (t, b, e, describe(w, total)))
            .collect())
    };
    match &rule.method {
        Method::Percentages(p) => weighted(p.clone(), &|w, _| format!("{}%", w.normalize())),
        Method::ProportionalToUsage(p) => {
            weighted(p.clone(), &|w, t| format!("usage {} of {} ({})", w.normalize(), t.normalize(), percent(w, t)))
        }
        Method::Even(targets) => {
            let n = targets.len();
            weighted(targets.iter().map(|t| (t.clone(), Decimal::ONE)).collect(), &|_, _| format!("1/{n}"))
        }
        Method::ProportionalToDirect(targets) => {
            let spend: Vec<(String, Decimal)> = targets
                .iter()
                .map(|t| {
                    (
                        t.clone(),
                        direct_spend
                            .get(&(t.clone(), currency.to_string()))
                            .copied()
                            .unwrap_or_default()
                            .max(Decimal::ZERO),
                    )
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
            let take = |pool: Decimal| {
                let mut left = pool;
                let mut parts = vec![];
                for (t, a) in amounts {
                    let part = if pool.is_sign_negative() { Decimal::ZERO } else { (*a).min(left.max(Decimal::ZERO)) };
                    left -= part;
                    parts.push((t.clone(), part));
                }
                (parts, left)
            };
            let (bp, bl) = take(billed);
            let (ep, el) = take(effective);
            let mut out: Vec<(String, Decimal, Decimal, String)> = bp
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

/// Spreads one currency's bucket over the targets in proportion to what they were allocated,
/// and takes it out of the bucket with a matching negative contribution.
fn redistribute(out: &mut Allocation, currency: &str, billed: Decimal, effective: Decimal, ids: &[String]) {
    let mut allocated: BTreeMap<String, Decimal> = BTreeMap::new();
    for c in out.contributions.iter().filter(|c| c.currency == currency && c.target != UNALLOCATED) {
        *allocated.entry(c.target.clone()).or_default() += c.effective;
    }
    let targets: Vec<(String, Decimal)> =
        allocated.into_iter().filter(|(_, v)| v.is_sign_positive() && !v.is_zero()).collect();
    let weights: Vec<Decimal> = targets.iter().map(|(_, w)| *w).collect();
    let (Ok(b), Ok(e)) = (split(billed, &weights), split(effective, &weights)) else {
        out.unsplit.push(format!(
            "the unallocated {effective} {currency} could not be redistributed: nothing was allocated in {currency}"
        ));
        return;
    };
    let total: Decimal = weights.iter().sum();
    for ((t, w), (b, e)) in targets.into_iter().zip(b.into_iter().zip(e)) {
        out.contributions.push(Contribution {
            target: t,
            kind: Kind::Redistributed,
            rule: None,
            currency: currency.into(),
            billed: b,
            effective: e,
            records: ids.to_vec(),
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
        currency: currency.into(),
        billed: -billed,
        effective: -effective,
        records: ids.to_vec(),
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
