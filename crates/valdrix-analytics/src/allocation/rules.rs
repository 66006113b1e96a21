//! Allocation rules: which records a rule matches, and how it assigns them.

use rust_decimal::Decimal;
use std::collections::BTreeMap;

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

/// One cost record as allocation sees it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Record {
    /// Its stable id (what `explain` names).
    pub id: String,
    /// BillingCurrency.
    pub currency: String,
    /// BilledCost.
    pub billed: Decimal,
    /// EffectiveCost.
    pub effective: Decimal,
    /// Its dimensions (absent: the record has no value for it).
    pub dims: BTreeMap<Dim, String>,
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
    pub fn from_cost(id: String, r: &valdrix_core::CostRecord) -> Record {
        let g = &r.grain;
        let mut dims = BTreeMap::new();
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
            id,
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
        self.dims.get(&d).map(String::as_str)
    }
}

/// One test a record must pass.
#[derive(Debug, Clone)]
pub enum Condition {
    /// The dimension has one of these values.
    Is(Dim, Vec<String>),
    /// The dimension matches a glob (`*` any run, `?` one character).
    Like(Dim, regex::Regex),
    /// The tag has one of these values (any value when the list is empty).
    Tag(String, Vec<String>),
    /// The record lacks this tag.
    TagMissing(String),
    /// The record is one of these (a manual override names records).
    RecordIs(Vec<String>),
}

impl Condition {
    /// A glob condition; `*` and `?` are the only special characters.
    pub fn like(dim: Dim, glob: &str) -> Result<Condition, RuleError> {
        let mut pattern = String::from("^");
        for c in glob.chars() {
            match c {
                '*' => pattern.push_str(".*"),
                '?' => pattern.push('.'),
                c => pattern.push_str(&regex::escape(&c.to_string())),
            }
        }
        pattern.push('$');
        regex::Regex::new(&pattern)
            .map(|r| Condition::Like(dim, r))
            .map_err(|e| RuleError::Pattern(glob.into(), e.to_string()))
    }

    fn holds(&self, r: &Record) -> bool {
        match self {
            Condition::Is(d, values) => r.dim(*d).is_some_and(|v| values.iter().any(|x| x == v)),
            Condition::Like(d, re) => r.dim(*d).is_some_and(|v| re.is_match(v)),
            Condition::Tag(k, values) => r.tags.get(k).is_some_and(|v| values.is_empty() || values.contains(v)),
            Condition::TagMissing(k) => !r.tags.contains_key(k),
            Condition::RecordIs(ids) => ids.contains(&r.id),
        }
    }
}

impl PartialEq for Condition {
    fn eq(&self, other: &Condition) -> bool {
        match (self, other) {
            (Condition::Is(a, x), Condition::Is(b, y)) => a == b && x == y,
            (Condition::Like(a, x), Condition::Like(b, y)) => a == b && x.as_str() == y.as_str(),
            (Condition::Tag(a, x), Condition::Tag(b, y)) => a == b && x == y,
            (Condition::TagMissing(a), Condition::TagMissing(b)) => a == b,
            (Condition::RecordIs(a), Condition::RecordIs(b)) => a == b,
            _ => false,
        }
    }
}

/// All conditions must hold (none: every record).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Match(pub Vec<Condition>);

impl Match {
    /// The glob a `Like` condition on `d` was made from.
    pub fn glob_of(&self, d: Dim) -> Option<String> {
        self.0.iter().find_map(|c| match c {
            Condition::Like(x, re) if *x == d => Some(glob_from_regex(re.as_str())),
            _ => None,
        })
    }

    /// Whether the record passes every condition.
    pub fn matches(&self, r: &Record) -> bool {
        self.0.iter().all(|c| c.holds(r))
    }
}

/// The glob a [`Condition::like`] regex was made from (the inverse of that translation).
fn glob_from_regex(re: &str) -> String {
    let inner = re.strip_prefix('^').and_then(|r| r.strip_suffix('$')).unwrap_or(re);
    let mut out = String::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            '.' if chars.peek() == Some(&'*') => {
                chars.next();
                out.push('*');
            }
            '.' => out.push('?'),
            c => out.push(c),
        }
    }
    out
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

impl OwnerSource {
    fn owner(&self, r: &Record) -> Option<(String, String)> {
        match self {
            OwnerSource::Tag(k) => {
                r.tags.get(k).filter(|v| !v.is_empty()).map(|v| (v.clone(), format!("tag {k} = {v}")))
            }
            OwnerSource::Dim(d) => r.dim(*d).map(|v| (v.to_string(), format!("{d:?} = {v}"))),
            OwnerSource::Table(d, table) => {
                let key = r.dim(*d)?;
                table.get(key).map(|v| (v.clone(), format!("{d:?} {key} is {v}'s in the table")))
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
    pub(crate) fn owner(&self, r: &Record) -> Option<(String, String)> {
        match self {
            Method::Override(t) => Some((t.clone(), "manual override".into())),
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
    /// A glob that is not one.
    #[error("pattern {0:?}: {1}")]
    Pattern(String, String),
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
