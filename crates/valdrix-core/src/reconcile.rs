//! Reconciliation: two sources of the same spend over the same scope, compared, and the
//! difference located.
//!
//! Each side is a list of [`Contribution`]s: an amount in one currency, with the dimensions the
//! source knows (an invoice-totals file knows accounts but not services; a CUR knows all three).
//! The [`Reconciliation`] holds, per currency (amounts of different currencies are never added),
//! both totals, their difference and, for each dimension, the values that contribute most to the
//! difference. Anything whose difference exceeds the threshold (0.5 % by default) is flagged.
//! The arithmetic is exact: a source reconciled against itself differs by exactly zero.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::BTreeMap;

/// The dimensions a difference is located by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dimension {
    /// `ServiceName`.
    Service,
    /// The account an amount belongs to (which account, sub-account or billing account, is the
    /// caller's choice, the same for both sides).
    Account,
    /// The charge day.
    Day,
}

impl Dimension {
    /// Every dimension, in report order.
    pub const ALL: [Dimension; 3] = [Dimension::Service, Dimension::Account, Dimension::Day];
}

/// One amount of one side, with the dimension values its source knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contribution {
    /// ISO currency code.
    pub currency: String,
    /// Service name, when the source has one.
    pub service: Option<String>,
    /// Account id, when the source has one.
    pub account: Option<String>,
    /// Charge day, when the source has one.
    pub day: Option<NaiveDate>,
    /// The amount (billed or effective cost, as the caller chose).
    pub amount: Decimal,
}

impl Contribution {
    /// The value of dimension `d`, as text (`None` when the source does not know it).
    fn value(&self, d: Dimension) -> Option<String> {
        match d {
            Dimension::Service => self.service.clone(),
            Dimension::Account => self.account.clone(),
            Dimension::Day => self.day.map(|d| d.to_string()),
        }
    }
}

/// Both sides' amounts for one value of a dimension (or for a whole currency).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// Σ of the left side.
    pub left: Decimal,
    /// Σ of the right side.
    pub right: Decimal,
    /// `right - left`.
    pub difference: Decimal,
    /// The difference in % of the left side; `None` when the left side is zero (or so small
    /// that the percentage does not fit a decimal).
    pub percent: Option<Decimal>,
    /// Whether |percent| exceeds the threshold (or the left side is zero and the right is not).
    pub flagged: bool,
}

impl Difference {
    fn new(left: Decimal, right: Decimal, threshold_percent: Decimal) -> Self {
        let difference = right - left;
        // Checked: a tiny left side against a large difference overflows 28 digits; the
        // percentage is then unknown and the difference flagged.
        let percent =
            difference.checked_div(left).and_then(|q| q.checked_mul(Decimal::ONE_HUNDRED)).map(|p| p.round_dp(4));
        let flagged = match percent {
            Some(p) => p.abs() > threshold_percent,
            None => !difference.is_zero(),
        };
        Difference { left, right, difference, percent, flagged }
    }
}

/// A dimension value that contributes to a currency's difference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Contributor {
    /// The dimension.
    pub dimension: Dimension,
    /// Its value (always known: see [`CurrencyReconciliation::dimensions`]).
    pub value: String,
    /// Both sides for this value.
    #[serde(flatten)]
    pub amounts: Difference,
}

/// The reconciliation of one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CurrencyReconciliation {
    /// ISO currency code.
    pub currency: String,
    /// Both totals and their difference.
    #[serde(flatten)]
    pub total: Difference,
    /// The dimensions every amount of both sides knows, which the difference is located by (an
    /// invoice-totals file knows accounts only: its difference with a CUR is located by account).
    pub dimensions: Vec<Dimension>,
    /// For each of those dimensions, its values with a non-zero difference, largest |difference|
    /// first, at most the limit asked for.
    pub contributors: Vec<Contributor>,
}

/// What [`reconcile`] found, one entry per currency present on either side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reconciliation {
    /// The threshold used, in %.
    pub threshold_percent: Decimal,
    /// Per currency, in code order.
    pub currencies: Vec<CurrencyReconciliation>,
}

impl Reconciliation {
    /// Whether any currency's total is flagged.
    pub fn flagged(&self) -> bool {
        self.currencies.iter().any(|c| c.total.flagged)
    }
}

/// The default threshold above which a difference is flagged, in %.
pub fn default_threshold_percent() -> Decimal {
    Decimal::new(5, 1)
}

/// Compares `left` with `right`: totals per currency, and per dimension the `limit` values that
/// contribute most to the difference (by |difference|, ties by value). A value is a contributor
/// only if its difference is not zero.
pub fn reconcile(
    left: &[Contribution],
    right: &[Contribution],
    threshold_percent: Decimal,
    limit: usize,
) -> Reconciliation {
    // currency → (left, right) total, and (currency, dimension, value) → (left, right).
    let mut totals: BTreeMap<&str, (Decimal, Decimal)> = BTreeMap::new();
    let mut by_value: BTreeMap<(&str, Dimension, String), (Decimal, Decimal)> = BTreeMap::new();
    // (currency, dimension) pairs some amount does not know.
    let mut unknown: std::collections::BTreeSet<(&str, Dimension)> = std::collections::BTreeSet::new();
    for (side, contributions) in [(0, left), (1, right)] {
        for c in contributions {
            let t = totals.entry(c.currency.as_str()).or_default();
            let slot = if side == 0 { &mut t.0 } else { &mut t.1 };
            *slot += c.amount;
            for d in Dimension::ALL {
                let Some(value) = c.value(d) else {
                    unknown.insert((c.currency.as_str(), d));
                    continue;
                };
                let v = by_value.entry((c.currency.as_str(), d, value)).or_default();
                let slot = if side == 0 { &mut v.0 } else { &mut v.1 };
                *slot += c.amount;
            }
        }
    }
    let currencies = totals
        .into_iter()
        .map(|(currency, (l, r))| {
            let mut contributors = Vec::new();
            let dimensions: Vec<Dimension> =
                Dimension::ALL.into_iter().filter(|d| !unknown.contains(&(currency, *d))).collect();
            for &d in &dimensions {
                let mut of_dimension: Vec<Contributor> = by_value
                    .range((currency, d, String::new())..)
                    .take_while(|((c, dim, _), _)| *c == currency && *dim == d)
                    .filter(|(_, (l, r))| l != r)
                    .map(|((_, _, value), (l, r))| Contributor {
                        dimension: d,
                        value: value.clone(),
                        amounts: Difference::new(*l, *r, threshold_percent),
                    })
                    .collect();
                of_dimension.sort_by(|a, b| {
                    b.amounts.difference.abs().cmp(&a.amounts.difference.abs()).then_with(|| a.value.cmp(&b.value))
                });
                of_dimension.truncate(limit);
                contributors.extend(of_dimension);
            }
            CurrencyReconciliation {
                currency: currency.to_string(),
                total: Difference::new(l, r, threshold_percent),
                dimensions,
                contributors,
            }
        })
        .collect();
    Reconciliation { threshold_percent, currencies }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn c(currency: &str, service: &str, account: &str, day: u32, amount: &str) -> Contribution {
        Contribution {
            currency: currency.into(),
            service: Some(service.into()),
            account: Some(account.into()),
            day: NaiveDate::from_ymd_opt(2026, 10, day),
            amount: Decimal::from_str(amount).unwrap(),
        }
    }

    fn sample() -> Vec<Contribution> {
        vec![
            c("USD", "EC2", "111", 1, "100.0000000001"),
            c("USD", "S3", "111", 1, "20.5"),
            c("USD", "EC2", "222", 2, "300"),
            c("EUR", "VM", "sub-1", 1, "50"),
        ]
    }

    #[test]
    fn a_source_against_itself_differs_by_exactly_zero() {
        let r = reconcile(&sample(), &sample(), default_threshold_percent(), 5);
        assert_eq!(r.currencies.len(), 2);
        for c in &r.currencies {
            assert!(c.total.difference.is_zero());
            assert_eq!(c.total.percent, Some(Decimal::ZERO));
            assert!(!c.total.flagged);
            assert!(c.contributors.is_empty());
        }
        assert!(!r.flagged());
    }

    #[test]
    fn the_perturbed_service_is_the_top_contributor() {
        let mut right = sample();
        right[1].amount += Decimal::from_str("3.25").unwrap(); // S3 on day 1, account 111
        right[2].amount -= Decimal::from_str("0.5").unwrap(); // EC2 on day 2, account 222
        let r = reconcile(&sample(), &right, default_threshold_percent(), 5);
        let usd = r.currencies.iter().find(|c| c.currency == "USD").unwrap();
        assert_eq!(usd.total.difference, Decimal::from_str("2.75").unwrap());
        assert_eq!(usd.total.left, Decimal::from_str("420.5000000001").unwrap());
        assert!(usd.total.flagged, "2.75 of 420.5 is 0.65 %");
        let services: Vec<_> = usd.contributors.iter().filter(|c| c.dimension == Dimension::Service).collect();
        assert_eq!(services[0].value, "S3");
        assert_eq!(services[0].amounts.difference, Decimal::from_str("3.25").unwrap());
        assert!(services[0].amounts.flagged);
        assert_eq!(services[1].value, "EC2");
        assert_eq!(services[1].amounts.difference, Decimal::from_str("-0.5").unwrap());
        assert!(!services[1].amounts.flagged, "0.5 of 400 is 0.125 %");
        let days: Vec<_> = usd.contributors.iter().filter(|c| c.dimension == Dimension::Day).collect();
        assert_eq!(days[0].value, "2026-10-01");
        // The other currency is untouched: never summed with USD.
        let eur = r.currencies.iter().find(|c| c.currency == "EUR").unwrap();
        assert!(eur.total.difference.is_zero());
    }

    #[test]
    fn located_only_by_the_dimensions_both_sides_know() {
        // An invoice-totals file knows the account, not the service or the day.
        let invoice = vec![Contribution {
            currency: "USD".into(),
            service: None,
            account: Some("111".into()),
            day: None,
            amount: Decimal::from_str("120.5000000001").unwrap(),
        }];
        let left: Vec<_> = sample().into_iter().filter(|c| c.account.as_deref() == Some("111")).collect();
        let r = reconcile(&left, &invoice, default_threshold_percent(), 5);
        let usd = &r.currencies[0];
        assert!(usd.total.difference.is_zero());
        assert_eq!(usd.dimensions, vec![Dimension::Account]);
        assert!(usd.contributors.is_empty(), "the account totals agree");
        let mut short = invoice.clone();
        short[0].amount -= Decimal::ONE;
        let r = reconcile(&left, &short, default_threshold_percent(), 5);
        let usd = &r.currencies[0];
        assert_eq!(usd.contributors.len(), 1);
        assert_eq!(usd.contributors[0].dimension, Dimension::Account);
        assert_eq!(usd.contributors[0].value, "111");
        assert_eq!(usd.contributors[0].amounts.difference, -Decimal::ONE);
    }

    #[test]
    fn a_currency_on_one_side_only_is_flagged_without_a_percentage() {
        let right = vec![c("GBP", "EC2", "111", 1, "1")];
        let r = reconcile(&[], &right, default_threshold_percent(), 5);
        assert_eq!(r.currencies[0].total.percent, None);
        assert!(r.currencies[0].total.flagged);
    }

    #[test]
    fn a_percentage_too_large_to_hold_is_unknown_and_flagged() {
        let left = vec![c("USD", "EC2", "1", 1, "0.0000000000000000000000000001")];
        let right = vec![c("USD", "EC2", "1", 1, "79228162514264337593543950")];
        let r = reconcile(&left, &right, default_threshold_percent(), 5);
        assert_eq!(r.currencies[0].total.percent, None);
        assert!(r.currencies[0].total.flagged);
    }

    #[test]
    fn contributors_are_limited_per_dimension() {
        let left: Vec<_> = (1..=9).map(|d| c("USD", &format!("s{d}"), "1", d, "1")).collect();
        let right: Vec<_> = (1..=9).map(|d| c("USD", &format!("s{d}"), "1", d, &format!("{}", 1 + d))).collect();
        let r = reconcile(&left, &right, default_threshold_percent(), 3);
        let services: Vec<_> =
            r.currencies[0].contributors.iter().filter(|c| c.dimension == Dimension::Service).collect();
        assert_eq!(services.len(), 3);
        assert_eq!(services[0].value, "s9");
    }
}
