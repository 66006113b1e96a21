//! The policy file: which rules run, their thresholds, and what is excluded.
//!
//! Every rule ships with defaults ([`crate::rules::Rule::defaults`]); a policy file overrides any
//! of them, rule by rule, and names exclusions for all rules. It is TOML, meant to be edited:
//!
//! ```toml
//! # Resources carrying any of these tags or labels (a key, or key=value) are never findings.
//! exclude_tags = ["valdrix:ignore", "valdrix-ignore", "env=dr"]
//!
//! [rules."aws.ec2.idle"]
//! window_days = 21
//! threshold = 1.5
//!
//! [rules."aws.ec2.previous-generation"]
//! enabled = false
//! ```

use crate::check::Missing;
use crate::resource::{Resource, Statistic};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The tag that excludes a resource from every rule unless the policy says otherwise.
pub const IGNORE_TAG: &str = "valdrix:ignore";

/// The same for GCP, whose label keys cannot hold a colon.
pub const IGNORE_LABEL: &str = "valdrix-ignore";

/// A policy file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// Not valid TOML for a policy, or an unknown key (the message names it and its line).
    #[error("policy {file}: {message}")]
    Syntax {
        /// The file.
        file: String,
        /// What is wrong, and where.
        message: String,
    },
    /// A rule the policy names does not exist.
    #[error("policy {file}: no rule named {rule:?} (valdrix zombies rules lists them)")]
    UnknownRule {
        /// The file.
        file: String,
        /// The name.
        rule: String,
    },
    /// A setting out of range.
    #[error("policy {file}: rule {rule}: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// The rule.
        rule: String,
        /// What is wrong.
        message: String,
    },
}

/// A rule's settings as a policy file gives them: each one overrides the rule's default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSettings {
    /// Run the rule at all.
    pub enabled: Option<bool>,
    /// How old (or how long in its state) a resource must be, in days.
    pub min_age_days: Option<u32>,
    /// Days of metrics judged.
    pub window_days: Option<u32>,
    /// Seconds per metric data point.
    pub period_secs: Option<u32>,
    /// Statistic per period.
    pub statistic: Option<Statistic>,
    /// The idle threshold (the rule says of what: percent CPU, bytes, connections).
    pub threshold: Option<f64>,
    /// For mean tests: no period may reach this.
    pub peak: Option<f64>,
    /// Data points a day needs not to count as missing.
    pub min_points_per_day: Option<usize>,
    /// What a day without enough data means: `not-idle` or `zero`.
    pub missing: Option<Missing>,
    /// Instance families judged previous-generation, with their successor (`m4 = "m5"`).
    pub families: Option<BTreeMap<String, String>>,
    /// More exclusion tags, for this rule only.
    pub exclude_tags: Option<Vec<String>>,
}

/// A rule's settings with every default filled in: what the rule runs with, and what
/// `valdrix zombies rules` shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Params {
    /// Runs.
    pub enabled: bool,
    /// Days old (or in its state) a resource must be, if the rule has an age test.
    pub min_age_days: Option<u32>,
    /// Days of metrics judged, if the rule reads metrics.
    pub window_days: Option<u32>,
    /// Seconds per data point.
    pub period_secs: Option<u32>,
    /// Statistic per period.
    pub statistic: Option<Statistic>,
    /// The idle threshold.
    pub threshold: Option<f64>,
    /// Highest period value allowed, for mean tests.
    pub peak: Option<f64>,
    /// Data points a day needs.
    pub min_points_per_day: Option<usize>,
    /// What a day without enough data means.
    pub missing: Option<Missing>,
    /// Previous-generation families and successors.
    pub families: BTreeMap<String, String>,
    /// Exclusion tags (the policy's and the rule's).
    pub exclude_tags: Vec<String>,
}

impl Params {
    /// Defaults for a rule without metrics or age.
    pub fn plain() -> Params {
        Params {
            enabled: true,
            min_age_days: None,
            window_days: None,
            period_secs: None,
            statistic: None,
            threshold: None,
            peak: None,
            min_points_per_day: None,
            missing: None,
            families: BTreeMap::new(),
            exclude_tags: vec![],
        }
    }

    /// Applies a policy's settings over these defaults.
    fn with(mut self, s: &RuleSettings) -> Params {
        if let Some(v) = s.enabled {
            self.enabled = v;
        }
        macro_rules! over {
            ($($f:ident),*) => { $( if s.$f.is_some() { self.$f = s.$f; } )* };
        }
        over!(min_age_days, window_days, period_secs, statistic, threshold, peak, min_points_per_day, missing);
        if let Some(f) = &s.families {
            self.families = f.clone();
        }
        if let Some(t) = &s.exclude_tags {
            self.exclude_tags.extend(t.iter().cloned());
        }
        self
    }

    /// Whether one of the exclusion tags is on the resource: `key` matches any value,
    /// `key=value` only that value.
    pub fn excludes(&self, r: &Resource) -> Option<String> {
        self.exclude_tags.iter().find_map(|t| {
            let hit = match t.split_once('=') {
                Some((k, v)) => r.tags.get(k).is_some_and(|x| x == v),
                None => r.tags.contains_key(t.as_str()),
            };
            hit.then(|| t.clone())
        })
    }
}

/// A policy: exclusions for all rules and settings per rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Tags (`key` or `key=value`) that exclude a resource from every rule.
    #[serde(default = "default_exclusions")]
    pub exclude_tags: Vec<String>,
    /// Settings by rule id.
    #[serde(default)]
    pub rules: BTreeMap<String, RuleSettings>,
}

fn default_exclusions() -> Vec<String> {
    vec![IGNORE_TAG.to_string(), IGNORE_LABEL.to_string()]
}

impl Default for Policy {
    fn default() -> Self {
        Policy { exclude_tags: default_exclusions(), rules: BTreeMap::new() }
    }
}

impl Policy {
    /// Parses a policy file's text; `file` names it in errors. Rule names are checked against
    /// `known` and every resolved setting against its range.
    pub fn parse(file: &str, text: &str, known: &[(&str, Params)]) -> Result<Policy, PolicyError> {
        let policy: Policy =
            toml::from_str(text).map_err(|e| PolicyError::Syntax { file: file.into(), message: e.to_string() })?;
        for rule in policy.rules.keys() {
            let Some((_, defaults)) = known.iter().find(|(id, _)| id == rule) else {
                return Err(PolicyError::UnknownRule { file: file.into(), rule: rule.clone() });
            };
            let p = policy.params(rule, defaults.clone());
            let bad =
                |message: &str| PolicyError::Invalid { file: file.into(), rule: rule.clone(), message: message.into() };
            if p.window_days == Some(0) {
                return Err(bad("window_days must be at least 1"));
            }
            if p.period_secs.is_some_and(|s| s < 60 || 86_400 % s != 0) {
                return Err(bad("period_secs must be at least 60 and divide a day"));
            }
            if p.threshold.is_some_and(|t| !t.is_finite() || t < 0.0)
                || p.peak.is_some_and(|t| !t.is_finite() || t < 0.0)
            {
                return Err(bad("threshold and peak must be finite and not negative"));
            }
        }
        Ok(policy)
    }

    /// A rule's parameters: its defaults with this policy's settings applied.
    pub fn params(&self, rule: &str, defaults: Params) -> Params {
        let mut p = match self.rules.get(rule) {
            Some(s) => defaults.with(s),
            None => defaults,
        };
        let mut tags = self.exclude_tags.clone();
        tags.append(&mut p.exclude_tags);
        p.exclude_tags = tags;
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> Vec<(&'static str, Params)> {
        vec![("aws.ec2.idle", Params { window_days: Some(14), threshold: Some(2.0), ..Params::plain() })]
    }

    #[test]
    fn settings_override_defaults_and_exclusions_add_up() {
        let text = "exclude_tags = [\"valdrix:ignore\", \"env=dr\"]\n[rules.\"aws.ec2.idle\"]\nthreshold = 1.5\nexclude_tags = [\"keep\"]\n";
        let p = Policy::parse("p.toml", text, &known()).unwrap();
        let params = p.params("aws.ec2.idle", known()[0].1.clone());
        assert_eq!(params.threshold, Some(1.5));
        assert_eq!(params.window_days, Some(14));
        assert_eq!(params.exclude_tags, vec!["valdrix:ignore", "env=dr", "keep"]);
    }

    #[test]
    fn unknown_rules_keys_and_ranges_are_refused_with_the_file_named() {
        let e = Policy::parse("p.toml", "[rules.\"aws.nope\"]\nenabled = false\n", &known()).unwrap_err();
        assert!(e.to_string().contains("p.toml") && e.to_string().contains("aws.nope"), "{e}");
        let e = Policy::parse("p.toml", "[rules.\"aws.ec2.idle\"]\nthreshhold = 1\n", &known()).unwrap_err();
        assert!(e.to_string().contains("threshhold"), "{e}");
        let e = Policy::parse("p.toml", "[rules.\"aws.ec2.idle\"]\nperiod_secs = 7\n", &known()).unwrap_err();
        assert!(e.to_string().contains("period_secs"), "{e}");
        // No exclusions given: the ignore tag still applies.
        assert_eq!(Policy::parse("p.toml", "", &known()).unwrap().exclude_tags, vec![IGNORE_TAG, IGNORE_LABEL]);
    }
}
