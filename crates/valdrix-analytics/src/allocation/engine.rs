//! Applying rules to records: the direct phase, the shared phase, the unallocated bucket and
//! its optional redistribution, each contribution with its records and arithmetic.

use super::rules::{Dim, Method, Record, Rule, RuleError, Why};
use super::split::split;
use rust_decimal::Decimal;
use rustc_hash::FxHashMap;
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

impl Kind {
    /// Its name, as reports write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Direct => "direct",
            Kind::Shared => "shared",
            Kind::Unallocated => "unallocated",
            Kind::Redistributed => "redistributed",
        }
    }
}

/// The ids of the records behind a contribution, shared between the contributions of one pool.
pub type RecordIds = Arc<[Arc<str>]>;

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

/// One target under two allocations of the same records.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TargetChange {
    /// The target.
    pub target: String,
    /// Currency.
    pub currency: String,
    /// Its totals under the first (current) allocation.
    pub current: Totals,
    /// Under the second (candidate).
    pub candidate: Totals,
}

impl TargetChange {
    /// Candidate EffectiveCost − current.
    pub fn difference(&self) -> Decimal {
        self.candidate.effective() - self.current.effective()
    }
}

impl Allocation {
    /// Every target of either allocation with its totals under both, per currency, the largest
    /// moves first.
    pub fn compare(&self, candidate: &Allocation) -> Vec<TargetChange> {
        let (now, then) = (self.totals(), candidate.totals());
        let keys: BTreeSet<&(String, String)> = now.keys().chain(then.keys()).collect();
        let mut out: Vec<TargetChange> = keys
            .into_iter()
            .map(|k| TargetChange {
                target: k.0.clone(),
                currency: k.1.clone(),
                current: now.get(k).copied().unwrap_or_default(),
                candidate: then.get(k).copied().unwrap_or_default(),
            })
            .collect();
        out.sort_by(|a, b| {
            (&a.currency, std::cmp::Reverse(a.difference().abs()), &a.target).cmp(&(
                &b.currency,
                std::cmp::Reverse(b.difference().abs()),
                &b.target,
            ))
        });
        out
    }
}

/// Direct contributions being gathered, per rule, target, currency and period.
#[derive(Default)]
struct Gathered<'a> {
    billed: Decimal,
    effective: Decimal,
    records: Vec<Arc<str>>,
    /// The first few distinct reasons (enough for the basis).
    why: Vec<Why<'a>>,
    more: bool,
}

fn percent(part: Decimal, whole: Decimal) -> String {
    if whole.is_zero() {
        return "0%".into();
    }
    format!("{}%", (part * Decimal::from(100) / whole).round_dp(4).normalize())
}

impl<'a> Gathered<'a> {
    /// Keeps the first three distinct reasons, and whether there were more.
    fn note(&mut self, why: Why<'a>) {
        if !self.why.contains(&why) {
            if self.why.len() < 3 {
                self.why.push(why);
            } else {
                self.more = true;
            }
        }
    }
}

/// What the direct phase tells the shared one: each target's direct spend per currency and
/// period, and who owns each record.
struct Direct<'a> {
    spend: HashMap<(&'a str, &'a str, &'a str), Decimal>,
    owner: Vec<Option<&'a str>>,
}

/// What one chunk of the records gave: direct groups (rule, owner, currency, period), shared
/// pools (rule, currency, period) and the bucket (currency, period), by record index, and each
/// record's owner.
#[derive(Default)]
struct Partial<'a> {
    gathered: BTreeMap<(usize, &'a str, &'a str, &'a str), Gathered<'a>>,
    pools: BTreeMap<(usize, &'a str, &'a str), Vec<usize>>,
    bucket: BTreeMap<(&'a str, &'a str), Vec<usize>>,
    owner: Vec<Option<&'a str>>,
}

impl<'a> Partial<'a> {
    /// Adds a later chunk's findings (its records come after this chunk's).
    fn merge(&mut self, later: Partial<'a>) {
        for (k, g) in later.gathered {
            let mine = self.gathered.entry(k).or_default();
            mine.billed += g.billed;
            mine.effective += g.effective;
            mine.records.extend(g.records);
            for why in g.why {
                mine.note(why);
            }
            mine.more |= g.more;
        }
        for (k, v) in later.pools {
            self.pools.entry(k).or_default().extend(v);
        }
        for (k, v) in later.bucket {
            self.bucket.entry(k).or_default().extend(v);
        }
        self.owner.extend(later.owner);
    }
}

/// Direct and shared rules in the order they apply, with what rules to try on a record.
struct Plan<'a> {
    direct: Vec<&'a Rule>,
    shared: Vec<&'a Rule>,
    direct_candidates: Candidates<'a>,
    shared_candidates: Candidates<'a>,
}

/// Each record of a chunk (starting at `offset`) goes to its direct owner, a shared pool or the
/// bucket; what each part holds is summed on the way.
fn classify<'a>(records: &'a [Record], offset: usize, plan: &Plan<'a>) -> Partial<'a> {
    let mut part = Partial { owner: Vec::with_capacity(records.len()), ..Default::default() };
    let mut scratch = Vec::new();
    for (k, rec) in records.iter().enumerate() {
        let i = offset + k;
        let mut owner = None;
        for &n in plan.direct_candidates.for_record(rec, &mut scratch) {
            let rule = plan.direct[n];
            if !rule.matcher.matches(rec) {
                continue;
            }
            if let Some((who, why)) = rule.method.owner(rec) {
                let g = part.gathered.entry((n, who, rec.currency.as_str(), rec.period.as_str())).or_default();
                g.billed += rec.billed;
                g.effective += rec.effective;
                g.records.push(rec.id.clone());
                g.note(why);
                owner = Some(who);
                break;
            }
        }
        part.owner.push(owner);
        if owner.is_some() {
            continue;
        }
        let candidates = plan.shared_candidates.for_record(rec, &mut scratch);
        match candidates.iter().copied().find(|n| plan.shared[*n].matcher.matches(rec)) {
            Some(n) => part.pools.entry((n, rec.currency.as_str(), rec.period.as_str())).or_default().push(i),
            None => part.bucket.entry((rec.currency.as_str(), rec.period.as_str())).or_default().push(i),
        }
    }
    part
}

/// Classifies the records, in as many chunks as there are cores (each chunk's sums are its own;
/// merged in record order, so the result does not depend on the number of chunks).
fn classify_all<'a>(records: &'a [Record], plan: &Plan<'a>, threads: usize) -> Partial<'a> {
    if threads < 2 || records.len() < 2 * threads {
        return classify(records, 0, plan);
    }
    let size = records.len().div_ceil(threads);
    let parts: Vec<Partial<'a>> = std::thread::scope(|scope| {
        let handles: Vec<_> = records
            .chunks(size)
            .enumerate()
            .map(|(c, chunk)| scope.spawn(move || classify(chunk, c * size, plan)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
    });
    let mut all = Partial::default();
    for p in parts {
        all.merge(p);
    }
    all
}

/// Applies `rules` to `records`. Rules are checked first; the records are left as they are.
///
/// Shared rules take records in priority order, so a record goes to the first shared rule that
/// matches it: one pass over the records finds every owner and every pool.
pub fn allocate(records: &[Record], rules: &[Rule], opts: Options) -> Result<Allocation, RuleError> {
    // Below some tens of thousands of records, threads cost more than they save.
    let threads =
        if records.len() < 20_000 { 1 } else { std::thread::available_parallelism().map_or(1, |n| n.get()).min(8) };
    allocate_in(records, rules, opts, threads)
}

/// [`allocate`] with the records classified in `threads` chunks at once.
fn allocate_in(records: &[Record], rules: &[Rule], opts: Options, threads: usize) -> Result<Allocation, RuleError> {
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
    let plan = Plan {
        direct_candidates: Candidates::new(&direct),
        shared_candidates: Candidates::new(&shared),
        direct,
        shared,
    };
    let Partial { gathered, pools, mut bucket, owner } = classify_all(records, &plan, threads);
    let (direct, shared) = (&plan.direct, &plan.shared);

    let mut out = Allocation::default();
    let mut d = Direct { spend: HashMap::new(), owner };
    for ((n, target, currency, period), g) in gathered {
        *d.spend.entry((target, currency, period)).or_default() += g.effective;
        let why: Vec<String> = g.why.iter().map(|w| w.text(target)).collect();
        let basis = format!(
            "{} records owned by {target} ({}{})",
            g.records.len(),
            why.join("; "),
            if g.more { "; and more" } else { "" }
        );
        out.contributions.push(Contribution {
            target: target.to_string(),
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

    // Shared: each pool (rule, currency, period) is split once.
    let mut quantities: HashMap<usize, Result<Quantities, String>> = HashMap::new();
    let mut unsplit_members = false;
    for ((n, currency, period), members) in pools {
        let rule = shared[n];
        let billed: Decimal = members.iter().map(|i| records[*i].billed).sum();
        let effective: Decimal = members.iter().map(|i| records[*i].effective).sum();
        if let Method::ProportionalToQuantity { of, .. } = &rule.method {
            quantities.entry(n).or_insert_with(|| quantities_of(records, &d, of));
        }
        let pool = Pool { currency, period, billed, effective, quantities: quantities.get(&n) };
        let shares = match shares(rule, &pool, &d) {
            Ok(s) => s,
            Err(why) => {
                let when = if period.is_empty() { String::new() } else { format!(" ({period})") };
                out.unsplit.push(format!("rule {}{when}: {why}; {effective} {currency} left unallocated", rule.id));
                bucket.entry((currency, period)).or_default().extend(members);
                unsplit_members = true;
                continue;
            }
        };
        let ids: RecordIds = members.iter().map(|i| records[*i].id.clone()).collect();
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
    }

    // The bucket: what no rule claimed, per currency and period.
    for ((currency, period), mut members) in bucket {
        if unsplit_members {
            members.sort_unstable();
        }
        let billed: Decimal = members.iter().map(|i| records[*i].billed).sum();
        let effective: Decimal = members.iter().map(|i| records[*i].effective).sum();
        let ids: RecordIds = members.iter().map(|i| records[*i].id.clone()).collect();
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

/// The rules worth trying on a record, in priority order: a rule that lists services is tried
/// only on records of those services, and one that names records only on those records.
struct Candidates<'a> {
    by_service: FxHashMap<&'a str, Vec<usize>>,
    any: Vec<usize>,
    by_record: FxHashMap<&'a str, Vec<usize>>,
}

impl<'a> Candidates<'a> {
    fn new(rules: &[&'a Rule]) -> Candidates<'a> {
        let mut any = vec![];
        let mut listed: Vec<(usize, &'a [String])> = vec![];
        let mut by_record: FxHashMap<&'a str, Vec<usize>> = FxHashMap::default();
        for (n, rule) in rules.iter().enumerate() {
            if let Some(ids) = rule.matcher.records_named() {
                for id in ids {
                    by_record.entry(id.as_str()).or_default().push(n);
                }
                continue;
            }
            match rule.matcher.values_of(Dim::Service) {
                Some(services) => listed.push((n, services)),
                None => any.push(n),
            }
        }
        let mut by_service: FxHashMap<&'a str, Vec<usize>> = FxHashMap::default();
        for (n, services) in &listed {
            for s in services.iter() {
                by_service.entry(s.as_str()).or_insert_with(|| any.clone()).push(*n);
            }
        }
        for rules in by_service.values_mut() {
            rules.sort_unstable();
            rules.dedup();
        }
        Candidates { by_service, any, by_record }
    }

    fn for_record<'s>(&'s self, r: &Record, scratch: &'s mut Vec<usize>) -> &'s [usize] {
        let base = r.dim(Dim::Service).and_then(|s| self.by_service.get(s)).map_or(self.any.as_slice(), Vec::as_slice);
        if self.by_record.is_empty() {
            return base;
        }
        match self.by_record.get(&*r.id) {
            None => base,
            Some(named) => {
                scratch.clear();
                scratch.extend_from_slice(base);
                scratch.extend_from_slice(named);
                scratch.sort_unstable();
                scratch.dedup();
                scratch
            }
        }
    }
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
        let (Some(owner), Some(amount)) = (d.owner[i], rec.quantity) else { continue };
        if amount.is_zero() || !of.matches(rec) {
            continue;
        }
        match (&q.unit, &rec.unit) {
            (Some(u), Some(v)) if u != v => return Err(format!("the quantities it counts are in {u} and {v}")),
            (None, Some(v)) => q.unit = Some(v.clone()),
            _ => {}
        }
        *q.by.entry((owner.to_string(), rec.period.clone())).or_default() += amount;
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
        .flat_map(|c| c.records.iter().map(|id| &**id))
        .collect();
    let mut groups: BTreeMap<(String, Option<String>), (Decimal, Decimal, usize)> = BTreeMap::new();
    for r in records.iter().filter(|r| bucket.contains(&*r.id)) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::allocation::{parse, Dim};

    /// Records classified in chunks on several threads allocate exactly as in one pass: the
    /// same contributions, naming the same records in the same order.
    #[test]
    fn chunks_give_the_same_allocation_as_one_pass() {
        let rules = parse(
            "t.json",
            r#"{"version": 1, "rules": [
              {"id": "fix", "match": {"records": ["r7", "r20001"]}, "override": "Ops"},
              {"id": "owner", "priority": 10, "owner": ["tag:team"]},
              {"id": "db", "priority": 20, "match": {"service": ["RDS"]}, "proportional_to_direct": ["A", "B", "C"]},
              {"id": "net", "priority": 30, "match": {"resource_like": "nat-*"}, "percentages": {"A": 50, "B": 50}},
              {"id": "rest", "priority": 40, "match": {"service": ["S3", "Support"]}, "even": ["A", "B", "C"]}
            ]}"#,
        )
        .unwrap();
        let services = ["EC2", "RDS", "S3", "Support", "NAT"];
        let records: Vec<Record> = (0..30_011u64)
            .map(|i| {
                let mut r = Record {
                    id: format!("r{i}").into(),
                    currency: if i % 7 == 0 { "EUR".into() } else { "USD".into() },
                    billed: Decimal::new((i * 7919 % 100_000) as i64 - 5_000, 3),
                    effective: Decimal::new((i * 104_729 % 100_000) as i64, 4),
                    period: if i % 2 == 0 { "2026-10".into() } else { "2026-11".into() },
                    ..Default::default()
                };
                r.dims.insert(Dim::Service, services[(i % 5) as usize].into());
                r.dims.insert(Dim::Resource, format!("{}-{}", if i % 5 == 4 { "nat" } else { "x" }, i % 97));
                if i % 3 != 0 {
                    r.tags.insert("team".into(), ["A", "B", "C"][(i % 3) as usize].into());
                }
                r
            })
            .collect();
        for redistribute in [false, true] {
            let opts = Options { redistribute_unallocated: redistribute };
            let one = allocate_in(&records, &rules, opts, 1).unwrap();
            for threads in [2, 3, 8] {
                assert_eq!(allocate_in(&records, &rules, opts, threads).unwrap(), one, "{threads} threads");
            }
            assert!(one.contributions.iter().any(|c| c.kind == Kind::Shared));
            assert!(one.contributions.iter().any(|c| c.target == "Ops"));
        }
    }
}
