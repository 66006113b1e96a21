//! Rules, in the manner of Cloud Custodian's policies: a resource type, filters (attributes and
//! age first, then metrics), and the remediation that would apply.
//!
//! A rule judges in two stages so that metrics are read only for resources that could be
//! zombies: [`Rule::select`] looks at what the inventory says (state, attachments, age, related
//! resources) and [`Rule::metrics`] names the metric checks a candidate must also fail to be a
//! finding. Every rule takes the evaluation time from its [`Context`], never from the clock.

pub mod aws;
pub mod azure;
pub mod gcp;

use crate::check::{DayTest, MetricCheck, Missing};
use crate::policy::Params;
use crate::prices::Estimate;
use crate::resource::{Kind, MetricQuery, Resource, Statistic};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// The resources of one region, by type.
#[derive(Debug, Default, Clone)]
pub struct Inventory {
    by_kind: BTreeMap<Kind, Vec<Resource>>,
}

impl Inventory {
    /// Files resources under their type.
    pub fn insert(&mut self, kind: Kind, resources: Vec<Resource>) {
        self.by_kind.entry(kind).or_default().extend(resources);
    }

    /// The resources of a type (none if it was not listed).
    pub fn get(&self, kind: Kind) -> &[Resource] {
        self.by_kind.get(&kind).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Resources listed, of all types.
    pub fn len(&self) -> usize {
        self.by_kind.values().map(Vec::len).sum()
    }

    /// Whether nothing was listed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What a rule evaluates against.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The evaluation time (tests move it; scans use now).
    pub now: DateTime<Utc>,
    /// The account, subscription or project scanned.
    pub account: &'a str,
    /// The region's inventory.
    pub inventory: &'a Inventory,
}

/// How much of a finding's monthly cost acting on it would save.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Savings {
    /// All of it (the resource would be deleted or released).
    All,
    /// A share of it, with the arithmetic (a gp2 volume moved to gp3).
    Share {
        /// Fraction of the monthly cost saved, between 0 and 1.
        fraction: Decimal,
        /// How it was worked out.
        basis: String,
    },
    /// Not known (no price for the replacement).
    Unknown,
}

/// A resource that passed a rule's first stage.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Why, in words.
    pub reason: String,
    /// The ids whose bill lines are this finding's cost (a stopped instance pays for its
    /// volumes): the resource's own id and aliases unless the rule says otherwise.
    pub bill_ids: Vec<String>,
    /// What the price table says it costs, used when the bill has no line.
    pub estimate: Option<Estimate>,
    /// What acting on it would save.
    pub savings: Savings,
}

impl Candidate {
    /// A candidate billed under the resource's own ids, all of whose cost acting would save.
    pub fn of(r: &Resource, reason: String, estimate: Option<Estimate>) -> Candidate {
        let mut bill_ids = vec![r.id.clone()];
        bill_ids.extend(r.aliases.iter().cloned());
        Candidate { reason, bill_ids, estimate, savings: Savings::All }
    }
}

/// The remediation a finding of a rule allows (always planned, approved and then executed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Snapshot the volume, then delete it.
    SnapshotAndDeleteVolume,
    /// Release the Elastic IP.
    ReleaseAddress,
    /// Stop the instance.
    StopInstance,
    /// Delete the snapshot.
    DeleteSnapshot,
}

impl Action {
    /// The name findings and plans carry (`snapshot-and-delete-volume`).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::SnapshotAndDeleteVolume => "snapshot-and-delete-volume",
            Action::ReleaseAddress => "release-address",
            Action::StopInstance => "stop-instance",
            Action::DeleteSnapshot => "delete-snapshot",
        }
    }

    /// Parses what [`Action::as_str`] writes.
    pub fn parse(s: &str) -> Option<Action> {
        [Action::SnapshotAndDeleteVolume, Action::ReleaseAddress, Action::StopInstance, Action::DeleteSnapshot]
            .into_iter()
            .find(|a| a.as_str() == s)
    }
}

/// What a rule is: its id, the type it judges, and what it finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct About {
    /// A stable id (`aws.ebs.unattached`), the policy file's key.
    pub id: &'static str,
    /// The resource type judged.
    pub kind: Kind,
    /// One line saying what the rule finds.
    pub title: &'static str,
}

/// One zombie rule.
pub trait Rule: Send + Sync {
    /// Its id, the type it judges and its title.
    fn about(&self) -> About;
    /// A stable id (`aws.ebs.unattached`), the policy file's key.
    fn id(&self) -> &'static str {
        self.about().id
    }
    /// The resource type judged.
    fn kind(&self) -> Kind {
        self.about().kind
    }
    /// One line saying what the rule finds.
    fn title(&self) -> &'static str {
        self.about().title
    }
    /// Other types the rule consults (the AMIs that keep a snapshot alive).
    fn needs(&self) -> &'static [Kind] {
        &[]
    }
    /// Its defaults: window, period, statistic, threshold, missing data, age.
    fn defaults(&self) -> Params;
    /// The remediation its findings allow, if any.
    fn action(&self) -> Option<Action> {
        None
    }
    /// First stage: `Some` if the resource is a candidate.
    fn select(&self, r: &Resource, cx: &Context<'_>, p: &Params) -> Option<Candidate>;
    /// Second stage: checks a candidate must find idle, all of them (none: the first stage decides).
    fn metrics(&self, _r: &Resource, _p: &Params) -> Vec<MetricCheck> {
        Vec::new()
    }
}

/// Every rule this build knows.
pub fn all() -> Vec<Box<dyn Rule>> {
    let mut rules = aws::rules();
    rules.extend(azure::rules());
    rules.extend(gcp::rules());
    rules
}

/// Whether the resource is at least `p.min_age_days` old; unknown age does not pass (an age
/// test is evidence the rule needs).
pub(crate) fn old_enough(r: &Resource, cx: &Context<'_>, p: &Params) -> Option<i64> {
    let age = r.age_days(cx.now)?;
    (age >= i64::from(p.min_age_days.unwrap_or(0))).then_some(age)
}

/// How many days a resource has been in its state (stopped since), if at least
/// `p.min_age_days` (else `default_days`); an unknown start does not pass.
pub(crate) fn days_in_state(
    since: Option<DateTime<Utc>>,
    cx: &Context<'_>,
    p: &Params,
    default_days: u32,
) -> Option<i64> {
    let days = (cx.now - since?).num_days();
    (days >= i64::from(p.min_age_days.unwrap_or(default_days))).then_some(days)
}

/// A metric check from the rule's parameters.
pub(crate) fn check(p: &Params, namespace: &str, name: &str, dims: &[(&str, &str)], test: DayTest) -> MetricCheck {
    MetricCheck {
        query: MetricQuery {
            namespace: namespace.into(),
            name: name.into(),
            dimensions: dims.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            statistic: p.statistic.unwrap_or(Statistic::Average),
            period_secs: p.period_secs.unwrap_or(3600),
        },
        window_days: p.window_days.unwrap_or(14),
        test,
        min_points_per_day: p.min_points_per_day.unwrap_or(1),
        missing: p.missing.unwrap_or_default(),
    }
}

pub(crate) fn metric_params(
    window: u32,
    period: u32,
    statistic: Statistic,
    threshold: f64,
    points: usize,
    missing: Missing,
) -> Params {
    Params {
        min_age_days: Some(window),
        window_days: Some(window),
        period_secs: Some(period),
        statistic: Some(statistic),
        threshold: Some(threshold),
        min_points_per_day: Some(points),
        missing: Some(missing),
        ..Params::plain()
    }
}

/// One estimate for the parts of a finding (a stopped instance's volumes), labelled part by part;
/// none when there are no parts or one has no price (a partial sum would understate the cost).
pub(crate) fn estimate_of_parts(parts: Vec<(String, Option<Estimate>)>) -> Option<Estimate> {
    let mut total = Decimal::ZERO;
    let mut currency = None;
    let mut basis = vec![];
    for (label, e) in parts {
        let e = e?;
        total += e.monthly;
        basis.push(format!("{label}: {}", e.basis));
        currency.get_or_insert(e.currency);
    }
    Some(Estimate { monthly: total, currency: currency?, basis: basis.join("; ") })
}
