//! Exact decimal parsing for billing amounts.
//!
//! Billing files write money as plain decimals (`0.0000000072922557592391990000`), in E-notation
//! (`-5e-06`), or as IEEE doubles in Parquet. Every form becomes a `Decimal` without passing
//! through binary floating point arithmetic: doubles are converted through their shortest
//! round-trip text, which is the number the exporting tool meant to write.

use rust_decimal::Decimal;
use std::str::FromStr;

/// Why a text could not be read as an exact decimal amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    /// Not a number at all (currency symbols, thousands separators, words).
    #[error("{0:?} is not a decimal number (no currency symbols or thousands separators are allowed)")]
    NotANumber(String),
    /// `NaN` or an infinity.
    #[error("{0:?} is not a finite number")]
    NotFinite(String),
    /// More than 28 significant digits or an exponent out of range.
    #[error("{0:?} does not fit an exact 28-digit decimal")]
    OutOfRange(String),
}

/// Parses a decimal amount exactly. Surrounding white space is ignored; an empty text is an error
/// (callers decide what a missing value means before calling this).
pub fn parse_decimal(text: &str) -> Result<Decimal, DecimalError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(DecimalError::NotANumber(text.to_string()));
    }
    let lower = t.to_ascii_lowercase();
    let unsigned = lower.trim_start_matches(['+', '-']);
    if unsigned.starts_with("nan") || unsigned.starts_with("inf") {
        return Err(DecimalError::NotFinite(text.to_string()));
    }
    let valid_chars = t.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'));
    if !valid_chars || !t.bytes().any(|b| b.is_ascii_digit()) {
        return Err(DecimalError::NotANumber(text.to_string()));
    }
    let parsed = if t.contains(['e', 'E']) { Decimal::from_scientific(t) } else { Decimal::from_str(t) };
    match parsed {
        Ok(d) => Ok(d.normalize()),
        Err(_) if t.contains(['e', 'E']) || t.len() > 29 => {
            // Either a malformed exponent or more digits than 28: tell them apart.
            if t.matches('.').count() > 1 || t.matches(['e', 'E']).count() > 1 {
                Err(DecimalError::NotANumber(text.to_string()))
            } else {
                parse_long_decimal(t).ok_or_else(|| DecimalError::OutOfRange(text.to_string()))
            }
        }
        Err(_) => Err(DecimalError::NotANumber(text.to_string())),
    }
}

/// Long plain decimals whose trailing zeros push them past 28 digits
/// (`0.0000000191107392311096200000` has 28 decimals, some exports pad to 30).
fn parse_long_decimal(t: &str) -> Option<Decimal> {
    if t.contains(['e', 'E']) {
        return None;
    }
    let trimmed = if t.contains('.') { t.trim_end_matches('0').trim_end_matches('.') } else { t };
    Decimal::from_str(trimmed).ok().map(|d| d.normalize())
}

/// Converts a double read from a Parquet file into the decimal it denotes: the shortest text that
/// reads back as the same double (what `repr` prints in Python and `Display` in Rust).
pub fn decimal_from_f64(v: f64) -> Result<Decimal, DecimalError> {
    if !v.is_finite() {
        return Err(DecimalError::NotFinite(v.to_string()));
    }
    if v == 0.0 {
        return Ok(Decimal::ZERO);
    }
    // ryu writes the shortest round-trip digits into a stack buffer (no allocation).
    let mut buf = ryu::Buffer::new();
    let text = buf.format_finite(v);
    if let Some(d) = shortest_text_to_decimal(text.as_bytes()) {
        return Ok(d);
    }
    let parsed = if text.contains(['e', 'E']) { Decimal::from_scientific(text) } else { Decimal::from_str(text) };
    parsed.map(|d| d.normalize()).map_err(|_| DecimalError::OutOfRange(v.to_string()))
}

/// The decimal of ryu's output (`-12.5`, `1.5e-7`, `1e21`) read digit by digit: the hot path of
/// Parquet amounts. `None` for what it does not cover (more than 28 decimals, more than 96 bits),
/// which the general parser then handles with its own errors and rounding.
fn shortest_text_to_decimal(text: &[u8]) -> Option<Decimal> {
    let (negative, rest) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    let (digits, exponent) = match rest.iter().position(|&b| b == b'e' || b == b'E') {
        Some(e) => {
            let exp = std::str::from_utf8(&rest[e + 1..]).ok()?.parse::<i32>().ok()?;
            (&rest[..e], exp)
        }
        None => (rest, 0),
    };
    let mut mantissa: u64 = 0;
    let mut fraction_digits: i32 = 0;
    let mut seen_point = false;
    let mut count = 0;
    for &b in digits {
        match b {
            b'0'..=b'9' => {
                count += 1;
                if count > 19 {
                    return None;
                }
                mantissa = mantissa * 10 + u64::from(b - b'0');
                if seen_point {
                    fraction_digits += 1;
                }
            }
            b'.' if !seen_point => seen_point = true,
            _ => return None,
        }
    }
    if count == 0 {
        return None;
    }
    let scale = fraction_digits - exponent;
    let (mantissa, scale) = if scale < 0 {
        let m = i128::from(mantissa).checked_mul(10i128.checked_pow(u32::try_from(-scale).ok()?)?)?;
        (m, 0u32)
    } else {
        (i128::from(mantissa), u32::try_from(scale).ok()?)
    };
    if scale > 28 || mantissa >= 1i128 << 96 {
        return None;
    }
    let m = if negative { -mantissa } else { mantissa };
    Some(Decimal::from_i128_with_scale(m, scale).normalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_scientific_and_padded() {
        assert_eq!(parse_decimal("0.00004").unwrap().to_string(), "0.00004");
        assert_eq!(parse_decimal("-5e-06").unwrap().to_string(), "-0.000005");
        assert_eq!(parse_decimal(" 0.00 ").unwrap().to_string(), "0");
        assert_eq!(parse_decimal("0.0000000191107392311096200000").unwrap().to_string(), "0.00000001911073923110962");
        assert_eq!(parse_decimal("1.5E-7").unwrap().to_string(), "0.00000015");
    }

    #[test]
    fn rejects_non_numbers() {
        assert!(matches!(parse_decimal("$10,000.00 "), Err(DecimalError::NotANumber(_))));
        assert!(matches!(parse_decimal("NaN"), Err(DecimalError::NotFinite(_))));
        assert!(matches!(parse_decimal("-inf"), Err(DecimalError::NotFinite(_))));
        assert!(matches!(parse_decimal("abc"), Err(DecimalError::NotANumber(_))));
        assert!(matches!(parse_decimal("1.2.3"), Err(DecimalError::NotANumber(_))));
        assert!(parse_decimal("").is_err());
    }

    #[test]
    fn the_fast_path_equals_the_general_parser() {
        // Doubles over many magnitudes, signs and digit counts, deterministic.
        let mut state = 0x1234_5678_9abc_def0u64;
        let mut next = || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        let mut fast_hits = 0;
        for i in 0..200_000 {
            let bits = next();
            let v = match i % 3 {
                0 => f64::from_bits(bits),
                1 => {
                    (bits % 10_000_000) as f64 / 10f64.powi((bits % 19) as i32) * if bits & 1 == 1 { -1.0 } else { 1.0 }
                }
                _ => (bits >> 11) as f64 / (1u64 << 53) as f64 * 10f64.powi((bits % 40) as i32 - 30),
            };
            if !v.is_finite() || v == 0.0 {
                continue;
            }
            let mut buf = ryu::Buffer::new();
            let text = buf.format_finite(v);
            let general = if text.contains('e') { Decimal::from_scientific(text) } else { Decimal::from_str(text) }
                .ok()
                .map(|d| d.normalize());
            if let Some(fast) = shortest_text_to_decimal(text.as_bytes()) {
                assert_eq!(Some(fast), general, "{text}");
                assert_eq!(fast.to_string(), general.unwrap().to_string(), "{text}");
                fast_hits += 1;
            }
        }
        assert!(fast_hits > 100_000, "the fast path covered only {fast_hits} values");
    }

    #[test]
    fn doubles_use_shortest_text() {
        assert_eq!(decimal_from_f64(0.1).unwrap().to_string(), "0.1");
        assert_eq!(decimal_from_f64(22.3369863).unwrap().to_string(), "22.3369863");
        assert_eq!(decimal_from_f64(-5e-06).unwrap().to_string(), "-0.000005");
        assert!(decimal_from_f64(f64::NAN).is_err());
        assert!(decimal_from_f64(1e300).is_err());
    }
}
