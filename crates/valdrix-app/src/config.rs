//! `valdrix.toml`: settings that are configuration, not constants.
//!
//! ```toml
//! [trust]
//! final_after_hours = 48   # a charge day is preliminary until this long after it ends
//! alert_percent = 2        # a restatement alerts past this % of a day × account × service total…
//! alert_floor = "10.00"    # …and past this amount (in that total's currency)
//!
//! [ingest]
//! first_day = "2000-01-01" # charge and billing days before this are refused as damaged dates
//! last_day = "2030-12-31"  # …and after this (default: a year past today)
//!
//! [remediation]
//! approvers = ["alice", "bob"]   # who may approve zombie remediation plans (default: anyone
//!                                # but the plan's author)
//! ```
//!
//! Every key is optional; a missing file means the defaults. Unknown keys are errors, so a typo
//! is not silently ignored.

use crate::error::{AppError, Context, Result};
use rust_decimal::Decimal;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::NaiveDate;
use valdrix_ingest::validate::Plausible;
use valdrix_store::TrustPolicy;

/// Refuses a value of the file unless `ok`.
fn ensure(ok: bool, message: impl FnOnce() -> String) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(AppError::Invalid(message()))
    }
}

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    trust: Option<TrustSection>,
    #[serde(default)]
    remediation: Option<RemediationSection>,
    #[serde(default)]
    ingest: Option<IngestSection>,
}

/// `[ingest]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IngestSection {
    first_day: Option<String>,
    last_day: Option<String>,
}

/// `[remediation]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RemediationSection {
    approvers: Option<Vec<String>>,
}

/// `[trust]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustSection {
    final_after_hours: Option<u32>,
    alert_percent: Option<Number>,
    alert_floor: Option<Number>,
}

/// A decimal written as a TOML number or string (`2`, `2.5`, `"10.00"`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Number {
    Integer(i64),
    Float(f64),
    Text(String),
}

impl Number {
    fn decimal(&self, key: &str) -> Result<Decimal> {
        let d = match self {
            Number::Integer(i) => Decimal::from(*i),
            Number::Float(f) => {
                Decimal::from_str(&f.to_string()).map_err(|e| AppError::Invalid(format!("{key} = {f}: {e}")))?
            }
            Number::Text(s) => Decimal::from_str(s.trim())
                .map_err(|e| AppError::Invalid(format!("{key} = {s:?}: expected a decimal number: {e}")))?,
        };
        ensure(d >= Decimal::ZERO, || format!("{key} must not be negative (got {d})"))?;
        Ok(d)
    }
}

/// Settings in force.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    /// Where they came from (none: defaults).
    pub path: Option<PathBuf>,
    /// Finality and restatement alerts.
    pub trust: TrustPolicy,
    /// Who may approve remediation plans (empty: anyone but the plan's author).
    pub approvers: Vec<String>,
    /// The charge and billing days a bill may hold.
    pub plausible: Plausible,
}

impl Config {
    /// Reads `path`, or the default file (`valdrix.toml` in `default_dir`) when it exists, or
    /// gives the defaults.
    pub fn load(path: Option<&Path>, default_dir: &Path) -> Result<Config> {
        let path = match path {
            Some(p) => p.to_path_buf(),
            None => {
                let p = default_dir.join("valdrix.toml");
                if !p.exists() {
                    return Ok(Config::default());
                }
                p
            }
        };
        let text =
            std::fs::read_to_string(&path).with_context(|| format!("reading the configuration {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("in the configuration {}", path.display())).map(|mut c| {
            c.path = Some(path);
            c
        })
    }

    /// Parses the text of a configuration file.
    pub fn parse(text: &str) -> Result<Config> {
        let file: File = toml::from_str(text).map_err(|e| AppError::Invalid(e.to_string()))?;
        let mut trust = TrustPolicy::default();
        if let Some(t) = file.trust {
            if let Some(h) = t.final_after_hours {
                trust.final_after_hours = h;
            }
            if let Some(p) = t.alert_percent {
                trust.alert_percent = p.decimal("trust.alert_percent")?;
            }
            if let Some(f) = t.alert_floor {
                trust.alert_floor = f.decimal("trust.alert_floor")?;
            }
        }
        let approvers = file.remediation.and_then(|r| r.approvers).unwrap_or_default();
        let mut plausible = Plausible::default();
        if let Some(i) = file.ingest {
            let day = |key: &str, text: &str| {
                NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|e| {
                    AppError::Invalid(format!("ingest.{key} = {text:?}: expected a date, YYYY-MM-DD: {e}"))
                })
            };
            if let Some(t) = &i.first_day {
                plausible.first = day("first_day", t)?;
            }
            if let Some(t) = &i.last_day {
                plausible.last = day("last_day", t)?;
            }
            // PostgreSQL keeps a partition per month and creates none outside these bounds.
            let floor = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or(NaiveDate::MIN);
            ensure(plausible.first >= floor, || "ingest.first_day may not be before 2000-01-01".into())?;
            let ceiling = chrono::Utc::now().date_naive() + chrono::Duration::days(365 * 2);
            ensure(plausible.last <= ceiling, || "ingest.last_day may be at most two years from today".into())?;
            ensure(plausible.first <= plausible.last, || {
                format!("ingest.first_day ({}) is after ingest.last_day ({})", plausible.first, plausible.last)
            })?;
        }
        Ok(Config { path: None, trust, approvers, plausible })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let c = Config::parse("").unwrap_or_default();
        assert_eq!(c.trust, TrustPolicy::default());
        let c = Config::parse("[trust]\nfinal_after_hours = 6\nalert_percent = 2.5\nalert_floor = \"0.50\"\n");
        let c = c.unwrap_or_default();
        assert_eq!(c.trust.final_after_hours, 6);
        assert_eq!(c.trust.alert_percent, Decimal::new(25, 1));
        assert_eq!(c.trust.alert_floor, Decimal::new(50, 2));
    }

    #[test]
    fn typos_and_bad_values_are_errors() {
        assert!(Config::parse("[trust]\nalert_precent = 2\n").is_err());
        assert!(Config::parse("[trust]\nalert_floor = \"ten\"\n").is_err());
        assert!(Config::parse("[trust]\nalert_floor = -1\n").is_err());
        assert!(Config::parse("[ingest]\nfirst_day = \"2020-13-01\"\n").is_err());
        assert!(Config::parse("[ingest]\nfirst_day = \"2020-01-01\"\nlast_day = \"2019-01-01\"\n").is_err());
        assert!(Config::parse("[ingest]\nfirst_day = \"1999-12-31\"\n").is_err());
        assert!(Config::parse("[ingest]\nlast_day = \"2999-01-01\"\n").is_err());
        let c = Config::parse("[ingest]\nfirst_day = \"2015-01-01\"\n").unwrap_or_default();
        assert_eq!(c.plausible.first, NaiveDate::from_ymd_opt(2015, 1, 1).unwrap_or_default());
    }
}
