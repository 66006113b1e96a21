//! Exact splitting: an amount divided by weights so that the parts add up to the amount to the
//! last digit, by largest remainders.
//!
//! The amount is split in units of its own last decimal place, and at least of cents (a bill line
//! of 4,500.00 in cents, one of 0.0000001234 in units of 10⁻¹⁰; stored amounts lose their
//! trailing zeros, and 40 split three ways is still split to the cent): each part first gets the whole units its exact share
//! holds, then the units left over go one each to the parts with the largest fractional
//! remainders (ties to the earlier part). Nothing is created or lost, and no part differs from its
//! exact share by a unit or more.

use num_bigint::BigInt;
use rust_decimal::Decimal;

/// The coarsest unit a split works in: hundredths.
pub const MIN_SCALE: u32 = 2;

/// A split that cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    /// A weight is negative.
    #[error("weight {0} is negative")]
    NegativeWeight(Decimal),
    /// The weights add up to zero: there is nothing to split by.
    #[error("the weights add up to zero")]
    NoWeight,
}

/// A decimal as an integer number of units of 10^-scale.
fn units(d: Decimal, scale: u32) -> BigInt {
    let mut d = d;
    d.rescale(scale);
    BigInt::from(d.mantissa())
}

/// The largest scale the weights carry, so that each becomes a whole number.
fn common_scale(ws: &[Decimal]) -> u32 {
    ws.iter().map(|w| w.scale()).max().unwrap_or(0)
}

/// Splits `amount` by `weights`: the parts, in the weights' order, add up to `amount` exactly,
/// each at the amount's scale or [`MIN_SCALE`], whichever is finer. A negative amount (a credit)
/// splits the same way, negated.
pub fn split(amount: Decimal, weights: &[Decimal]) -> Result<Vec<Decimal>, SplitError> {
    if let Some(w) = weights.iter().find(|w| w.is_sign_negative() && !w.is_zero()) {
        return Err(SplitError::NegativeWeight(*w));
    }
    let wscale = common_scale(weights);
    let ws: Vec<BigInt> = weights.iter().map(|w| units(*w, wscale)).collect();
    let total_w: BigInt = ws.iter().sum();
    if total_w == BigInt::from(0) {
        return Err(SplitError::NoWeight);
    }
    let scale = amount.scale().max(MIN_SCALE);
    let negative = amount.is_sign_negative();
    let total = units(amount.abs(), scale);
    // Each part's whole units, and what is left of its exact share (as a numerator over total_w).
    let mut parts = Vec::with_capacity(ws.len());
    let mut remainders = Vec::with_capacity(ws.len());
    for w in &ws {
        let exact = &total * w;
        parts.push(&exact / &total_w);
        remainders.push(&exact % &total_w);
    }
    let given: BigInt = parts.iter().sum();
    let mut left = &total - given;
    // The units left over (fewer than the parts) go to the largest remainders first.
    let mut order: Vec<usize> = (0..ws.len()).collect();
    order.sort_by(|a, b| remainders[*b].cmp(&remainders[*a]).then(a.cmp(b)));
    for i in order {
        if left <= BigInt::from(0) {
            break;
        }
        // A zero weight never receives a unit.
        if ws[i] == BigInt::from(0) {
            continue;
        }
        parts[i] += 1;
        left -= 1;
    }
    Ok(parts
        .into_iter()
        .map(|p| {
            let mantissa: i128 = i128::try_from(p).unwrap_or(i128::MAX);
            let d = Decimal::from_i128_with_scale(mantissa, scale);
            if negative {
                -d
            } else {
                d
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn a_nat_gateway_splits_sixty_forty() {
        assert_eq!(split(d("4500.00"), &[d("60"), d("40")]).unwrap(), vec![d("2700.00"), d("1800.00")]);
    }

    #[test]
    fn thirds_give_the_odd_cent_to_the_first() {
        assert_eq!(split(d("100.00"), &[d("1"), d("1"), d("1")]).unwrap(), vec![d("33.34"), d("33.33"), d("33.33")]);
        assert_eq!(
            split(d("-100.00"), &[d("1"), d("1"), d("1")]).unwrap(),
            vec![d("-33.34"), d("-33.33"), d("-33.33")]
        );
        // Largest remainder, not first: 2/3 of 0.10 is 0.0666…, 1/3 is 0.0333….
        assert_eq!(split(d("0.10"), &[d("1"), d("2")]).unwrap(), vec![d("0.03"), d("0.07")]);
    }

    #[test]
    fn weights_at_any_scale_and_zero_weights() {
        assert_eq!(
            split(d("1.000"), &[d("0.5"), d("0.25"), d("0")]).unwrap(),
            vec![d("0.667"), d("0.333"), d("0.000")]
        );
        assert_eq!(split(d("10"), &[d("0"), d("0")]), Err(SplitError::NoWeight));
        assert!(matches!(split(d("10"), &[d("-1"), d("2")]), Err(SplitError::NegativeWeight(_))));
    }

    #[test]
    fn bill_precision_amounts_split_exactly() {
        let amount = d("0.0000001234567890123");
        let parts = split(amount, &[d("3"), d("7")]).unwrap();
        assert_eq!(parts.iter().sum::<Decimal>(), amount);
        assert_eq!(parts[0].scale(), 19);
    }

    proptest! {
        #[test]
        fn parts_add_up_and_stay_within_a_unit_of_their_share(
            mantissa in -10_000_000_000_000i64..10_000_000_000_000,
            scale in 0u32..12,
            weights in proptest::collection::vec(0u64..1_000_000, 1..12),
        ) {
            prop_assume!(weights.iter().any(|w| *w > 0));
            let amount = Decimal::new(mantissa, scale);
            let ws: Vec<Decimal> = weights.iter().map(|w| Decimal::new(*w as i64, 2)).collect();
            let parts = split(amount, &ws).unwrap();
            prop_assert_eq!(parts.iter().sum::<Decimal>(), amount);
            let total: Decimal = ws.iter().sum();
            let unit = Decimal::new(1, scale);
            for (p, w) in parts.iter().zip(&ws) {
                let exact = amount * *w / total;
                prop_assert!((*p - exact).abs() < unit, "{} vs {}", p, exact);
                if w.is_zero() { prop_assert!(p.is_zero()); }
            }
        }
    }
}
