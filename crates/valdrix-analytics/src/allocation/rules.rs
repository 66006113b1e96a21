//! Allocation rules: which records a rule matches, and how it assigns them.

use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A dimension of a cost record that rules match on and owners come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dim {
    /// ProviderName.
    Provider,
    /// ServiceName.
    Service,
    /// BillingAccountId.
    Account,
    /// SubAccountId.
    SubAccount,
    /// RegionId.
    Region,
    /// ChargeCategory.
    ChargeCategory,
    /// ResourceId.
    Resource,
    /// Usage type or SKU.
    UsageType,
}

impl Dim {
    /// Every dimension, in order.
    pub const ALL: [Dim; 8] = [
        Dim::Provider,
        Dim::Service,
        Dim::Account,
        Dim::SubAccount,
        Dim::Region,
        Dim::ChargeCategory,
        Dim::Resource,
        Dim::UsageType,
    ];
}

/// A record's dimension values, one slot per [`Dim`] (looked up for every rule on every
/// record, so a slot rather than a map).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dims([Option<String>; 8]);

impl Dims {
    /// A dimension's value.
    pub fn get(&self, d: Dim) -> Option<&str> {
        self.0[d as usize].as_deref()
    }

    /// Sets a dimension's value.
    pub fn insert(&mut self, d: Dim, value: String) {
        self.0[d as usize] = Some(value);
    }
}

impl FromIterator<(Dim, String)> for Dims {
    fn from_iter<I: IntoIterator<Item = (Dim, String)>>(iter: I) -> Dims {
        let mut dims = Dims::default();
        for (d, v) in iter {
            dims.insert(d, v);
        }
        dims
    }
}

impl<const N: usize> From<[(Dim, String); N]> for Dims {
    fn from(pairs: [(Dim, String); N]) -> Dims {
        pairs.into_iter().collect()
    }
}

/// One cost record as allocation sees it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Record {
    /// Its stable id (what `explain` names; shared, not copied, by the contributions).
    pub id: Arc<str>,
    /// BillingCurrency.
    pub currency: String,
    /// BilledCost.
    pub billed: Decimal,
    /// EffectiveCost.
    pub effective: Decimal,
    /// Its dimensions (absent: the record has no value for it).
    pub dims: Dims,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
    /// The period it falls in (`YYYY-MM` of its charge day): shared costs are pooled and split
    /// per period, as chargeback is.
    pub period: String,
    /// ConsumedQuantity, for splits by a usage quantity in the bill.
    pub quantity: Option<Decimal>,
    /// ConsumedUnit.
    pub unit: Option<String>,
}

impl Record {
    /// A stored record under its id.
    pub fn from_cost(id: impl Into<Arc<str>>, r: &valdrix_core::CostRecord) -> Record {
        let g = &r.grain;
        let mut dims = Dims::default();
        let mut put = |d: Dim, v: Option<&str>| {
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                dims.insert(d, v.to_string());
            }
        };
        put(Dim::Provider, Some(&g.provider));
        put(Dim::Service, Some(&g.service_name));
        put(Dim::Account, Some(&g.billing_account_id));
        put(Dim::SubAccount, g.sub_account_id.as_deref());
        put(Dim::Region, g.region_id.as_deref());
        put(Dim::ChargeCategory, Some(g.charge_category.as_str()));
        put(Dim::Resource, g.resource_id.as_deref());
        put(Dim::UsageType, g.usage_type.as_deref());
        Record {
            id: id.into(),
            currency: g.currency.clone(),
            billed: r.totals.billed_cost,
            effective: r.totals.effective_cost,
            dims,
            tags: g.tags.0.clone(),
            period: g.charge_date.format("%Y-%m").to_string(),
            quantity: r.totals.consumed_quantity,
            unit: r.attr("ConsumedUnit").map(str::to_string),
        }
    }

    /// A dimension's value.
    pub fn dim(&self, d: Dim) -> Option<&str> {
        self.dims.get(d)
    }
}

/// A glob over a dimension's value: `*` any run of characters, `?` one character, everything
/// else itself. Matched by hand: faster than a regex on the short values of a bill, and a
/// pattern can never be invalid.
#[derive(Debug, Clone)]
pub struct Glob {
    pattern: String,
    /// Without `?`: the text before the first star, searchers for the pieces between stars,
    /// and the text after the last star (none: no star at all).
    stars: Option<(String, Vec<memchr::memmem::Finder<'static>>, Option<String>)>,
}

impl PartialEq for Glob {
    fn eq(&self, other: &Glob) -> bool {
        self.pattern == other.pattern
    }
}

impl Eq for Glob {}

impl Glob {
    /// A glob from its pattern.
    pub fn new(pattern: &str) -> Glob {
        let stars = (!pattern.contains('?')).then(|| {
            let mut pieces = pattern.split('*');
            let first = pieces.next().unwrap_or("").to_string();
            let mut middle: Vec<&str> = pieces.collect();
            let last = middle.pop().map(str::to_string);
            let finders = middle
                .into_iter()
                .filter(|p| !p.is_empty())
                .map(|p| memchr::memmem::Finder::new(p.as_bytes()).into_owned())
                .collect();
            (first, finders, last)
        });
        Glob { pattern: pattern.to_string(), stars }
    }

    /// The pattern.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Whether `text` matches the whole pattern.
    pub fn matches(&self, text: &str) -> bool {
        let Some((first, finders, last)) = &self.stars else { return self.walk(text) };
        // Only stars: the first piece starts the text, the last ends it, the others are found
        // in order between them.
        let Some(rest) = text.strip_prefix(first.as_str()) else { return false };
        let Some(last) = last else { return rest.is_empty() };
        let mut rest = rest.as_bytes();
        for f in finders {
            match f.find(rest) {
                Some(at) => rest = &rest[at + f.needle().len()..],
                None => return false,
            }
        }
        rest.ends_with(last.as_bytes())
    }

    /// The classic wildcard walk: on a mismatch, the last `*` takes one more character and the
    /// walk resumes after it.
    fn walk(&self, text: &str) -> bool {
        let (p, t) = (self.pattern.as_bytes(), text.as_bytes());
        let (mut i, mut j) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        // The byte length of the character starting at t[k].
        let char_len = |k: usize| text[k..].chars().next().map_or(1, char::len_utf8);
        while j < t.len() {
            if i < p.len() && p[i] == b'*' {
                star = Some((i, j));
                i += 1;
            } else if i < p.len() && p[i] == b'?' {
                i += 1;
                j += char_len(j);
            } else if i < p.len() && p[i] == t[j] {
                i += 1;
                j += 1;
            } else if let Some((si, sj)) = star {
                let next = sj + char_len(sj);
                star = Some((si, next));
                i = si + 1;
                j = next;
            } else {
                return false;
            }
        }
        p[i..].iter().all(|c| *c == b'*')
    }
}

/// One test a record must pass.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// The dimension has one of these values.
    Is(Dim, Vec<String>),
    /// The dimension matches a glob.
    Like(Dim, Glob),
    /// The tag has one of these values (any value when the list is empty).
    Tag(String, Vec<String>),
    /// The record lacks this tag.
    TagMissing(String),
    /// The record is one of these (a manual override names records).
    RecordIs(Vec<String>),
}

impl Condition {
    /// A glob condition; `*` and `?` are the only special characters.
    pub fn like(dim: Dim, glob: &str) -> Condition {
        Condition::Like(dim, Glob::new(glob))
    }

    fn holds(&self, r: &Record) -> bool {
        match self {
            Condition::Is(d, values) => r.dim(*d).is_some_and(|v| values.iter().any(|x| x == v)),
            Condition::Like(d, g) => r.dim(*d).is_some_and(|v| g.matches(v)),
            Condition::Tag(k, values) => r.tags.get(k).is_some_and(|v| values.is_empty() || values.contains(v)),
            Condition::TagMissing(k) => !r.tags.contains_key(k),
            Condition::RecordIs(ids) => ids.iter().any(|id| **id == *r.id),
        }
    }
}

/// All conditions must hold (none: every record).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Match(pub Vec<Condition>);

impl Match {
    /// The glob of a `Like` condition on `d`.
    pub fn glob_of(&self, d: Dim) -> Option<String> {
        self.0.iter().find_map(|c| match c {
            Condition::Like(x, g) if *x == d => Some(g.as_str().to_string()),
            _ => None,
        })
    }

    /// Whether the record passes every condition.
    pub fn matches(&self, r: &Record) -> bool {
        self.0.iter().all(|c| c.holds(r))
    }

    /// The records a condition names, when one does.
    pub(crate) fn records_named(&self) -> Option<&[String]> {
        self.0.iter().find_map(|c| match c {
            Condition::RecordIs(ids) => Some(ids.as_slice()),
            _ => None,
        })
    }

    /// The values a record's `d` must have, when a condition lists them.
    pub(crate) fn values_of(&self, d: Dim) -> Option<&[String]> {
        self.0.iter().find_map(|c| match c {
            Condition::Is(x, values) if *x == d => Some(values.as_slice()),
            _ => None,
        })
    }
}

/// Where an owner rule finds the owner.
#[derive(Debug, Clone, PartialEq)]
pub enum OwnerSource {
    /// A tag's value.
    Tag(String),
    /// A dimension's value.
    Dim(Dim),
    /// A table from a dimension's value (an account) to an owner.
    Table(Dim, BTreeMap<String, String>),
}

/// Why a direct rule gave a record to its owner (made into words once per contribution).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Why<'a> {
    /// A manual override.
    Override,
    /// The tag's value.
    Tag(&'a str),
    /// The dimension's value.
    Dim(Dim),
    /// The table maps this value of the dimension to the owner.
    Table(Dim, &'a str),
}

impl Why<'_> {
    pub(crate) fn text(&self, owner: &str) -> String {
        match self {
            Why::Override => "manual override".into(),
            Why::Tag(k) => format!("tag {k} = {owner}"),
            Why::Dim(d) => format!("{d:?} = {owner}"),
            Why::Table(d, key) => format!("{d:?} {key} is {owner}'s in the table"),
        }
    }
}

impl OwnerSource {
    fn owner<'a>(&'a self, r: &'a Record) -> Option<(&'a str, Why<'a>)> {
        match self {
            OwnerSource::Tag(k) => r.tags.get(k).filter(|v| !v.is_empty()).map(|v| (v.as_str(), Why::Tag(k.as_str()))),
            OwnerSource::Dim(d) => r.dim(*d).map(|v| (v, Why::Dim(*d))),
            OwnerSource::Table(d, table) => {
                let key = r.dim(*d)?;
                table.get(key).map(|v| (v.as_str(), Why::Table(*d, key)))
            }
        }
    }
}

/// How a rule assigns what it matches.
#[derive(Debug, Clone, PartialEq)]
pub enum Method {
    /// Direct: the whole record to this target (a manual override).
    Override(String),
    /// Direct: the owner from the first source that has one (`team = tag:team`, then
    /// `tag:owner`, then an account table).
    Owner(Vec<OwnerSource>),
    /// Shared: fixed percentages adding up to 100.
    Percentages(Vec<(String, Decimal)>),
    /// Shared: in proportion to each target's direct spend (EffectiveCost) in the same currency.
    ProportionalToDirect(Vec<String>),
    /// Shared: in proportion to a usage figure per target (requests, seats, GB) that the user
    /// gives, for every period or period by period.
    ProportionalToUsage(Usage),
    /// Shared: in proportion to a usage quantity in the bill: each target's ConsumedQuantity
    /// over the records allocated to it directly (in the same period and currency) that `of`
    /// matches, say the GB of data transfer each team's resources sent.
    ProportionalToQuantity {
        /// The targets.
        targets: Vec<String>,
        /// Which of their records count.
        of: Match,
    },
    /// Shared: the same share to each target.
    Even(Vec<String>),
    /// Shared: fixed amounts (in the pool's currency), the remainder to a named target.
    Fixed {
        /// Each target's amount.
        amounts: Vec<(String, Decimal)>,
        /// Who takes what is left.
        remainder: String,
    },
}

impl Method {
    /// Whether the rule assigns directly (first phase) or spreads a shared cost.
    pub fn is_direct(&self) -> bool {
        matches!(self, Method::Override(_) | Method::Owner(_))
    }

    /// The owner of a record under a direct method, with why.
    pub(crate) fn owner<'a>(&'a self, r: &'a Record) -> Option<(&'a str, Why<'a>)> {
        match self {
            Method::Override(t) => Some((t.as_str(), Why::Override)),
            Method::Owner(sources) => sources.iter().find_map(|s| s.owner(r)),
            _ => None,
        }
    }
}

/// Usage figures per target: for any period, and for named periods (`YYYY-MM`), which take
/// precedence.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Usage {
    /// Figures for a period without its own.
    pub any_period: Vec<(String, Decimal)>,
    /// Figures for one period.
    pub periods: BTreeMap<String, Vec<(String, Decimal)>>,
}

impl Usage {
    /// The figures that apply to `period`.
    pub fn for_period(&self, period: &str) -> Option<&[(String, Decimal)]> {
        self.periods.get(period).or((!self.any_period.is_empty()).then_some(&self.any_period)).map(Vec::as_slice)
    }
}

/// One allocation rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Its id (what contributions name).
    pub id: String,
    /// Lower runs first within its phase.
    pub priority: i32,
    /// Which records it takes.
    pub matcher: Match,
    /// How it assigns them.
    pub method: Method,
    /// What it is for, in words (kept with the rule set; not used by allocation).
    pub description: Option<String>,
}

/// A rule that cannot be applied as written.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RuleError {
    /// Percentages that do not add up to 100.
    #[error("rule {0}: percentages add up to {1}, not 100")]
    Percentages(String, Decimal),
    /// A rule with no target.
    #[error("rule {0}: no target")]
    NoTarget(String),
    /// A negative figure where shares need one at least zero.
    #[error("rule {0}: {1} is negative")]
    Negative(String, Decimal),
    /// Two rules with one id.
    #[error("two rules are named {0}")]
    Duplicate(String),
}

impl Rule {
    /// Checks what can be checked without records.
    pub fn validate(&self) -> Result<(), RuleError> {
        let id = || self.id.clone();
        let negative = |pairs: &[(String, Decimal)]| {
            pairs.iter().find(|(_, v)| v.is_sign_negative() && !v.is_zero()).map(|(_, v)| *v)
        };
        match &self.method {
            Method::Percentages(p) => {
                if let Some(v) = negative(p) {
                    return Err(RuleError::Negative(id(), v));
                }
                let sum: Decimal = p.iter().map(|(_, v)| *v).sum();
                if sum != Decimal::from(100) {
                    return Err(RuleError::Percentages(id(), sum));
                }
            }
            Method::ProportionalToUsage(u) => {
                for p in std::iter::once(&u.any_period).chain(u.periods.values()) {
                    if let Some(v) = negative(p) {
                        return Err(RuleError::Negative(id(), v));
                    }
                }
                if u.any_period.is_empty() && u.periods.values().all(Vec::is_empty) {
                    return Err(RuleError::NoTarget(id()));
                }
            }
            Method::Fixed { amounts, .. } => {
                if let Some(v) = negative(amounts) {
                    return Err(RuleError::Negative(id(), v));
                }
            }
            Method::ProportionalToDirect(t) | Method::Even(t) | Method::ProportionalToQuantity { targets: t, .. }
                if t.is_empty() =>
            {
                return Err(RuleError::NoTarget(id()))
            }
            Method::Owner(s) if s.is_empty() => return Err(RuleError::NoTarget(id())),
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Glob;

    #[test]
    fn globs_match_whole_values() {
        let yes = |p: &str, t: &str| assert!(Glob::new(p).matches(t), "{p} should match {t}");
        let no = |p: &str, t: &str| assert!(!Glob::new(p).matches(t), "{p} should not match {t}");
        yes("arn:aws:*:eu-west-1:*", "arn:aws:ec2:eu-west-1:123:instance/i-1");
        no("arn:aws:*:eu-west-1:*", "arn:aws:ec2:us-east-1:123:instance/i-1");
        yes("*", "");
        yes("a*b*c", "aXbYbZc");
        no("a*b*c", "aXbYbZ");
        yes("i-????", "i-ab12");
        no("i-????", "i-ab1");
        yes("é?*", "éàx");
        yes("*.*", "a.b.c");
        yes("100%_x", "100%_x");
        no("exact", "exactly");
        no("", "x");
    }
}
