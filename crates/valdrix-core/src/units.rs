//! Units in the FOCUS "UnitFormat": `Hours`, `GB-Months`, `GB/Month`, `1000 Requests`.
//!
//! Providers abbreviate (`Hrs`, `GB-Mo`, `Lambda-GB-Second`); FOCUS wants whole words with
//! plural time units after a hyphen and singular ones after a slash.

use std::borrow::Cow;
use std::sync::OnceLock;

const SIZES: &str = "b|Kb|Mb|Gb|Tb|Pb|Eb|B|KB|MB|GB|TB|PB|EB|Kib|Mib|Gib|Tib|Pib|Eib|KiB|MiB|GiB|TiB|PiB|EiB";
const WORD: &str = r"[A-Za-z][A-Za-z0-9]*(?:\s+[A-Za-z][A-Za-z0-9]*)*";
const PLURAL: &str = "Years|Months|Days|Hours|Minutes|Seconds";
const SINGULAR: &str = "Year|Month|Day|Hour|Minute|Second";

fn pattern() -> &'static regex::Regex {
    static R: OnceLock<regex::Regex> = OnceLock::new();
    R.get_or_init(|| {
        let unit = format!("(?:{SIZES}|{SINGULAR}|{PLURAL}|{WORD})");
        let base = format!("(?:{SIZES}|{WORD})");
        let forms = [
            format!("^{unit}$"),
            format!("^{base}-(?:{PLURAL})$"),
            format!("^(?:{base}|{PLURAL})/(?:{SINGULAR})$"),
            format!("^[0-9]+ {unit}$"),
            format!("^(?:{base}|{PLURAL})/[0-9]+ (?:{PLURAL})$"),
        ];
        regex::Regex::new(&forms.join("|")).expect("valid unit pattern")
    })
}

/// Whether `s` follows the FOCUS UnitFormat.
pub fn is_focus_unit(s: &str) -> bool {
    pattern().is_match(s)
}

/// Rewrites provider unit abbreviations into the FOCUS UnitFormat where a rewrite is known;
/// other text is returned unchanged.
pub fn focus_unit(raw: &str) -> Cow<'_, str> {
    let t = raw.trim();
    let exact = match t {
        "Hrs" | "hrs" | "Hr" | "hr" | "hours" => Some("Hours"),
        "GB-Mo" | "GB-Month" | "GB-month" => Some("GB-Months"),
        "Lambda-GB-Second" | "GB-Second" => Some("GB-Seconds"),
        "GB-Hrs" | "GB-Hour" => Some("GB-Hours"),
        "vCPU-Hrs" | "vCPU-Hour" => Some("vCPU-Hours"),
        _ => None,
    };
    if let Some(e) = exact {
        return Cow::Borrowed(e);
    }
    if is_focus_unit(t) && !t.ends_with("-Mo") && !t.ends_with("-Hrs") && !t.ends_with("-Second") {
        return Cow::Borrowed(t);
    }
    let mut s = t.to_string();
    for (from, to) in [
        ("-Hrs", "-Hours"),
        ("-Hr", "-Hours"),
        ("-Mo", "-Months"),
        ("-Month", "-Months"),
        ("-Second", "-Seconds"),
        ("-Minute", "-Minutes"),
        ("-Hour", "-Hours"),
        ("-Day", "-Days"),
    ] {
        if s.ends_with(from) {
            s.truncate(s.len() - from.len());
            s.push_str(to);
            break;
        }
    }
    // `Lambda-GB-Seconds` → `GB-Seconds`; `Metric-Months` stays.
    if !is_focus_unit(&s) {
        if let Some((_, tail)) = s.split_once('-') {
            if is_focus_unit(tail) {
                s = tail.to_string();
            }
        }
    }
    // `1/Month` → `Units/Month`
    if !is_focus_unit(&s) {
        if let Some(rest) = s.strip_prefix("1/").or_else(|| s.strip_prefix("1 /")) {
            s = format!("Units/{}", rest.trim());
        }
    }
    Cow::Owned(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_units_become_focus_units() {
        for (raw, want) in [
            ("Hrs", "Hours"),
            ("GB-Mo", "GB-Months"),
            ("Lambda-GB-Second", "GB-Seconds"),
            ("ReadCapacityUnit-Hrs", "ReadCapacityUnit-Hours"),
            ("Requests", "Requests"),
            ("1 Hour", "1 Hour"),
            ("GB/Month", "GB/Month"),
            ("gibibyte month", "gibibyte month"),
            ("1/Month", "Units/Month"),
        ] {
            assert_eq!(focus_unit(raw), want, "{raw}");
            assert!(is_focus_unit(&focus_unit(raw)), "{raw}");
        }
        assert!(!is_focus_unit("GB-Mo"));
    }
}
