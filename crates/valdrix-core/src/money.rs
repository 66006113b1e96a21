//! Amounts as text, for people: two decimals grouped by thousands (`1,234.57`); programs and CSV
//! get the exact decimal (`1234.5678`), never rounded. Amounts are never added across currencies here or anywhere.

use rust_decimal::{Decimal, RoundingStrategy};

/// `1,234,567.89`: two decimals, half away from zero, grouped by thousands; a negative amount
/// that rounds to zero reads `0.00`.
pub fn for_people(d: Decimal) -> String {
    let rounded = d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    let text = format!("{:.2}", rounded.abs());
    let (int, frac) = text.split_once('.').unwrap_or((&text, "00"));
    let mut grouped = String::with_capacity(int.len() + int.len() / 3 + 3);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if rounded.is_sign_negative() && !rounded.is_zero() { "-" } else { "" };
    format!("{sign}{grouped}.{frac}")
}

/// For people, or exact for programs and CSV without trailing zeros (`1234.56`), as `people`
/// says.
pub fn text(d: Decimal, people: bool) -> String {
    if people {
        for_people(d)
    } else {
        d.normalize().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn people_read_two_grouped_decimals_and_programs_every_digit() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(for_people(d("1234567.891")), "1,234,567.89");
        assert_eq!(for_people(d("-1234.5")), "-1,234.50");
        assert_eq!(for_people(d("999")), "999.00");
        assert_eq!(for_people(d("999.995")), "1,000.00");
        assert_eq!(for_people(d("-0.004")), "0.00");
        assert_eq!(text(d("1234.5600"), false), "1234.56");
        assert_eq!(text(d("0.125"), true), "0.13");
    }
}
