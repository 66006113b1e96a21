//! The Azure rules: unattached managed disks, old snapshots, unassociated public IPs, orphaned
//! network interfaces, VMs stopped but still allocated, and idle VMs by CPU.
//!
//! No Azure rule offers a remediation yet: findings are planned and acted on by hand.

use super::{check, metric_params, old_enough, About, Candidate, Context, Rule};
use crate::check::{DayTest, MetricCheck, Missing};
use crate::policy::Params;
use crate::prices::{AzurePrices, Estimate};
use crate::resource::{Details, Kind, Resource, Statistic};
use rust_decimal::Decimal;

/// Every Azure rule.
pub fn rules() -> Vec<Box<dyn Rule>> {
    vec![
        Box::new(UnattachedDisk),
        Box::new(OldSnapshot),
        Box::new(UnassociatedPublicIp),
        Box::new(OrphanedNic),
        Box::new(StoppedAllocatedVm),
        Box::new(IdleVm),
    ]
}

fn prices() -> &'static AzurePrices {
    AzurePrices::shipped()
}

/// Days since an instant, when it is known.
fn days_since(cx: &Context<'_>, t: Option<chrono::DateTime<chrono::Utc>>) -> Option<i64> {
    t.map(|t| (cx.now - t).num_days())
}

/// Managed disks in the `Unattached` state for a week.
struct UnattachedDisk;
impl Rule for UnattachedDisk {
    fn about(&self) -> About {
        About {
            id: "azure.disk.unattached",
            kind: Kind::AzureDisk,
            title: "Managed disks unattached for at least 7 days (since their last detach, else their creation)",
        }
    }
    fn defaults(&self) -> Params {
        Params { min_age_days: Some(7), ..Params::plain() }
    }
    fn select(&self, r: &Resource, cx: &Context<'_>, p: &Params) -> Option<Candidate> {
        let Details::Disk { sku, size_gib, state, users, detached_since } = &r.details else { return None };
        if state != "Unattached" || !users.is_empty() {
            return None;
        }
        // The last change of owner is when it was detached; a disk never attached counts from
        // its creation.
        let days = days_since(cx, detached_since.or(r.created))?;
        if days < i64::from(p.min_age_days.unwrap_or(7)) {
            return None;
        }
        let since = if detached_since.is_some() { "detached" } else { "created" };
        Some(Candidate::of(
            r,
            format!("{size_gib} GiB {sku} disk attached to nothing, {since} {days} days ago"),
            prices().disk(sku, *size_gib, &r.region),
        ))
    }
}

/// Snapshots older than 90 days.
struct OldSnapshot;
impl Rule for OldSnapshot {
    fn about(&self) -> About {
        About {
            id: "azure.snapshot.old",
            kind: Kind::AzureSnapshot,
            title: "Managed-disk snapshots older than 90 days",
        }
    }
    fn needs(&self) -> &'static [Kind] {
        &[Kind::AzureDisk]
    }
    fn defaults(&self) -> Params {
        Params { min_age_days: Some(90), ..Params::plain() }
    }
    fn select(&self, r: &Resource, cx: &Context<'_>, p: &Params) -> Option<Candidate> {
        let Details::StoredCopy { source, size_gib, .. } = &r.details else { return None };
        let age = old_enough(r, cx, p)?;
        let source_gone = source
            .as_ref()
            .is_some_and(|s| !cx.inventory.get(Kind::AzureDisk).iter().any(|d| d.id.eq_ignore_ascii_case(s)));
        let gone = if source_gone { "; the disk it was taken of no longer exists" } else { "" };
        Some(Candidate::of(
            r,
            format!("{size_gib} GiB snapshot taken {age} days ago{gone}"),
            Some(prices().snapshot(*size_gib, &r.region)),
        ))
    }
}

/// Public IPs associated with nothing (no IP configuration, no NAT gateway).
struct UnassociatedPublicIp;
impl Rule for UnassociatedPublicIp {
    fn about(&self) -> About {
        About {
            id: "azure.network.public-ip-unassociated",
            kind: Kind::AzurePublicIp,
            title: "Public IPs holding an address but associated with no NIC, load balancer, gateway or NAT gateway",
        }
    }
    fn defaults(&self) -> Params {
        Params::plain()
    }
    fn select(&self, r: &Resource, _cx: &Context<'_>, _p: &Params) -> Option<Candidate> {
        let Details::PublicAddress { address, sku, users, .. } = &r.details else { return None };
        // A dynamic address not allocated holds nothing and costs nothing.
        if !users.is_empty() || address.is_empty() {
            return None;
        }
        Some(Candidate::of(
            r,
            format!("{sku} public IP {address} is associated with nothing"),
            prices().public_ip(sku, &r.region),
        ))
    }
}

/// Network interfaces attached to no VM and owned by no private endpoint.
struct OrphanedNic;
impl Rule for OrphanedNic {
    fn about(&self) -> About {
        About {
            id: "azure.network.nic-orphaned",
            kind: Kind::AzureNic,
            title: "Network interfaces attached to no VM and owned by no private endpoint",
        }
    }
    fn defaults(&self) -> Params {
        Params::plain()
    }
    fn select(&self, r: &Resource, _cx: &Context<'_>, _p: &Params) -> Option<Candidate> {
        let Details::NetworkInterface { vm, private_endpoint, public_ips } = &r.details else { return None };
        if vm.is_some() || private_endpoint.is_some() {
            return None;
        }
        let holding = match public_ips.len() {
            0 => String::new(),
            n => format!("; it holds {n} public IP(s), billed on their own"),
        };
        // A NIC itself is free: the finding is clutter that holds addresses and blocks subnet
        // changes, and says so with a zero cost rather than none.
        let estimate = Estimate {
            monthly: Decimal::new(0, 2),
            currency: prices().currency.clone(),
            basis: "network interfaces are not billed".into(),
        };
        Some(Candidate::of(r, format!("network interface attached to no VM{holding}"), Some(estimate)))
    }
}

/// VMs stopped from inside (power state `stopped`, not `deallocated`): the compute is still billed.
struct StoppedAllocatedVm;
impl Rule for StoppedAllocatedVm {
    fn about(&self) -> About {
        About {
            id: "azure.vm.stopped-allocated",
            kind: Kind::AzureVm,
            title: "VMs stopped but not deallocated for at least a day: their compute is still billed",
        }
    }
    fn defaults(&self) -> Params {
        Params { min_age_days: Some(1), ..Params::plain() }
    }
    fn select(&self, r: &Resource, cx: &Context<'_>, p: &Params) -> Option<Candidate> {
        let Details::Vm { size, state, state_since, .. } = &r.details else { return None };
        if state != "stopped" {
            return None;
        }
        let days = days_since(cx, *state_since)?;
        if days < i64::from(p.min_age_days.unwrap_or(1)) {
            return None;
        }
        Some(Candidate::of(
            r,
            format!(
                "{size} stopped but still allocated since {days} days ago (deallocate it to stop paying for compute)"
            ),
            prices().vm(size, &r.region),
        ))
    }
}

/// Running VMs whose daily CPU stayed low on every day of the window.
struct IdleVm;
impl Rule for IdleVm {
    fn about(&self) -> About {
        About {
            id: "azure.vm.idle",
            kind: Kind::AzureVm,
            title: "Running VMs with daily-average CPU below 2 % (and no hour at 10 %) on each of 14 days",
        }
    }
    fn defaults(&self) -> Params {
        Params { peak: Some(10.0), ..metric_params(14, 3600, Statistic::Average, 2.0, 20, Missing::NotIdle) }
    }
    fn select(&self, r: &Resource, cx: &Context<'_>, p: &Params) -> Option<Candidate> {
        let Details::Vm { size, state, .. } = &r.details else { return None };
        if state != "running" {
            return None;
        }
        let age = old_enough(r, cx, p)?;
        Some(Candidate::of(r, format!("{size} running, created {age} days ago"), prices().vm(size, &r.region)))
    }
    fn metrics(&self, r: &Resource, p: &Params) -> Vec<MetricCheck> {
        let Details::Vm { metric_id, .. } = &r.details else { return vec![] };
        let test = DayTest::MeanBelow { threshold: p.threshold.unwrap_or(2.0), peak: p.peak };
        vec![check(p, "Microsoft.Compute/virtualMachines", "Percentage CPU", &[("resourceId", metric_id)], test)]
    }
}
