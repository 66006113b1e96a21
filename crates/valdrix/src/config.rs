//! `valdrix.toml`: settings that are configuration, not constants.
//!
//! ```toml
//! [trust]
//! final_after_hours = 48   # a charge day is preliminary until this long after it ends
//! alert_percent = 2        # a restatement alerts past this % of a day × account × service total…
//! alert_floor = "10.00"    # …and past this amount (in that total's currency)
//!
//! [remediation]
//! approvers = ["alice", "bob"]   # who may approve zombie remediation plans (default: anyone
//!                                # but the plan's author)
//! ```
//!
//! Every key is optional; a missing file means the defaults. Unknown keys are errors, so a typo
//! is not silently ignored.

use anyhow::{Context, Result};
use rust_decimal::Decimal;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use valdrix_store::TrustPolicy;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    trust: Option<TrustSection>,
    #[serde(default)]
    remediation: Option<RemediationSection>,
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
            Number::Float(f) => Decimal::from_str(&f.to_string()).with_context(|| format!("{key} = {f}"))?,
            Number::Text(s) => {
                Decimal::from_str(s.trim()).with_context(|| format!("{key} = {s:?}: expected a decimal number"))?
            }
        };
        anyhow::ensure!(d >= Decimal::ZERO, "{key} must not be negative (got {d})");
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
        let file: File = toml::from_str(text)?;
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
        Ok(Config { path: None, trust, approvers })
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
    }
}
