//! The Google Cloud rules: unattached persistent disks, unused static addresses, old snapshots
//! and machine images, stopped instances still paying for their disks, and idle instances by CPU.
//!
//! No GCP rule offers a remediation yet: findings are planned and acted on by hand.

use super::{
    check, days_in_state, estimate_of_parts, metric_params, old_enough, About, Candidate, Context, Rule, Savings,
};
use crate::check::{DayTest, MetricCheck, Missing};
use crate::policy::Params;
use crate::prices::GcpPrices;
use crate::resource::{Details, Kind, Resource, Statistic};

/// Every GCP rule.
pub fn rules() -> Vec<Box<dyn Rule>> {
    vec![
        Box::new(UnattachedDisk),
        Box::new(UnusedAddress),
        Box::new(OldCopy { kind: Kind::GcpSnapshot }),
        Box::new(OldCopy { kind: Kind::GcpMachineImage }),
        Box::new(StoppedInstance),
        Box::new(IdleInstance),
    ]
}

fn prices() -> &'static GcpPrices {
    GcpPrices::shipped()
}

/// Persistent disks used by no instance for a week.
struct UnattachedDisk;
impl Rule for UnattachedDisk {
    fn about(&self) -> About {
        About { id: "gcp.disk.unattached", kind: Kind::GcpDisk, title: "Persistent disks used by no instance for at least 7 days (since their last detach, else their creation)" }
    }
    fn defaults(&self) -> Params {
        Params { min_age_days: Some(7), ..Params::plain() }
    }
    fn select(&self, r: &Resource, cx: &Context<'_>, p: &Params) -> Option<Candidate> {
        let Details::Disk { sku, size_gib, state, users, detached_since } = &r.details else { return None };
        if state != "READY" || !users.is_empty() {
            return None;
        }
        let days = (cx.now - detached_since.or(r.created)?).num_days();
        if days < i64::from(p.min_age_days.unwrap_or(7)) {
            return None;
        }
        let since = if detached_since.is_some() { "detached" } else { "created" };
        Some(Candidate::of(
            r,
            format!("{size_gib} GiB {sku} disk used by no instance, {since} {days} days ago"),
            prices().disk(sku, *size_gib, &r.region),
        ))
    }
}

/// Static external addresses reserved and not in use.
struct UnusedAddress;
impl Rule for UnusedAddress {
    fn about(&self) -> About {
        About {
            id: "gcp.address.unused",
            kind: Kind::GcpAddress,
            title: "Static external IP addresses reserved and used by nothing",
        }
    }
    fn defaults(&self) -> Params {
        Params::plain()
    }
    fn select(&self, r: &Resource, _cx: &Context<'_>, _p: &Params) -> Option<Candidate> {
        let Details::PublicAddress { address, status, users, external, .. } = &r.details else { return None };
        // Internal addresses are free; an address being reserved is not yet one.
        if !external || status != "RESERVED" || !users.is_empty() {
            return None;
        }
        Some(Candidate::of(
            r,
            format!("static external address {address} is reserved and used by nothing"),
            Some(prices().unused_address(&r.region)),
        ))
    }
}

/// Stored copies older than 90 days: disk snapshots, or machine images.
struct OldCopy {
    kind: Kind,
}
impl Rule for OldCopy {
    fn about(&self) -> About {
        About {
            id: if self.kind == Kind::GcpSnapshot { "gcp.snapshot.old" } else { "gcp.machine-image.old" },
            kind: self.kind,
            title: if self.kind == Kind::GcpSnapshot {
                "Disk snapshots older than 90 days"
            } else {
                "Machine images older than 90 days"
            },
        }
    }
    fn defaults(&self) -> Params {
        Params { min_age_days: Some(90), ..Params::plain() }
    }
    fn select(&self, r: &Resource, cx: &Context<'_>, p: &Params) -> Option<Candidate> {
        let Details::StoredCopy { size_gib, stored_bytes, .. } = &r.details else { return None };
        let age = old_enough(r, cx, p)?;
        let (reason, estimate) = if self.kind == Kind::GcpSnapshot {
            (
                format!("snapshot of a {size_gib} GiB disk taken {age} days ago"),
                prices().snapshot(*stored_bytes, *size_gib, &r.region),
            )
        } else {
            (
                format!("machine image of {size_gib} GiB of disks made {age} days ago"),
                prices().machine_image(*stored_bytes, *size_gib, &r.region),
            )
        };
        Some(Candidate::of(r, reason, Some(estimate)))
    }
}

/// Instances stopped for a month: the instance costs nothing, its disks still do.
struct StoppedInstance;
impl Rule for StoppedInstance {
    fn about(&self) -> About {
        About {
            id: "gcp.instance.stopped",
            kind: Kind::GcpInstance,
            title: "Instances stopped for at least 30 days, still paying for their disks",
        }
    }
    fn needs(&self) -> &'static [Kind] {
        &[Kind::GcpDisk]
    }
    fn defaults(&self) -> Params {
        Params { min_age_days: Some(30), ..Params::plain() }
    }
    fn select(&self, r: &Resource, cx: &Context<'_>, p: &Params) -> Option<Candidate> {
        let Details::Vm { size, state, state_since, disks, .. } = &r.details else { return None };
        if state != "TERMINATED" && state != "STOPPED" {
            return None;
        }
        if disks.is_empty() {
            return None;
        }
        let days = days_in_state(*state_since, cx, p, 30)?;
        let parts = cx
            .inventory
            .get(Kind::GcpDisk)
            .iter()
            .filter(|d| disks.contains(&d.id))
            .map(|d| {
                let label = d.name.clone().unwrap_or_else(|| d.id.clone());
                match &d.details {
                    Details::Disk { sku, size_gib, .. } => (label, prices().disk(sku, *size_gib, &r.region)),
                    _ => (label, None),
                }
            })
            .collect();
        let estimate = estimate_of_parts(parts);
        Some(Candidate {
            reason: format!("{size} stopped {days} days ago; {} attached disks still billed", disks.len()),
            bill_ids: disks.clone(),
            estimate,
            savings: Savings::All,
        })
    }
}

/// Running instances whose daily CPU stayed low on every day of the window.
struct IdleInstance;
impl Rule for IdleInstance {
    fn about(&self) -> About {
        About {
            id: "gcp.instance.idle",
            kind: Kind::GcpInstance,
            title: "Running instances with daily-average CPU below 2 % (and no hour at 10 %) on each of 14 days",
        }
    }
    fn defaults(&self) -> Params {
        Params { peak: Some(10.0), ..metric_params(14, 3600, Statistic::Average, 2.0, 20, Missing::NotIdle) }
    }
    fn select(&self, r: &Resource, cx: &Context<'_>, p: &Params) -> Option<Candidate> {
        let Details::Vm { size, state, .. } = &r.details else { return None };
        if state != "RUNNING" {
            return None;
        }
        let age = old_enough(r, cx, p)?;
        Some(Candidate::of(r, format!("{size} running, created {age} days ago"), prices().machine(size, &r.region)))
    }
    fn metrics(&self, r: &Resource, p: &Params) -> Vec<MetricCheck> {
        let Details::Vm { metric_id, .. } = &r.details else { return vec![] };
        // Cloud Monitoring reports utilization as a fraction; the provider scales it to percent.
        let test = DayTest::MeanBelow { threshold: p.threshold.unwrap_or(2.0), peak: p.peak };
        vec![check(p, "compute.googleapis.com", "instance/cpu/utilization", &[("instance_id", metric_id)], test)]
    }
}
