//! The AWS rules.

use super::{
    check, days_in_state, estimate_of_parts, metric_params, old_enough, About, Action, Candidate, Context, Rule,
    Savings,
};
use crate::check::{DayTest, MetricCheck, Missing};
use crate::policy::Params;
use crate::prices::AwsPrices;
use crate::resource::{Details, Kind, Resource, Statistic};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashSet};

/// Every AWS rule.
pub fn rules() -> Vec<Box<dyn Rule>> {
    vec![
        Box::new(UnattachedVolume),
        Box::new(OrphanedSnapshot),
        Box::new(UnassociatedAddress),
        Box::new(IdleInstance),
        Box::new(StoppedInstance),
        Box::new(IdleNatGateway),
        Box::new(LoadBalancerWithoutHealthyTargets { kind: Kind::ClassicLoadBalancer }),
        Box::new(LoadBalancerWithoutHealthyTargets { kind: Kind::LoadBalancerV2 }),
        Box::new(AlbWithoutTargetGroups),
        Box::new(LoadBalancerWithoutTraffic { kind: Kind::ClassicLoadBalancer }),
        Box::new(LoadBalancerWithoutTraffic { kind: Kind::LoadBalancerV2 }),
        Box::new(IdleDatabase),
        Box::new(ColdWarehouse),
        Box::new(IdleEndpoint),
        Box::new(StaleImage),
        Box::new(IncompleteUploads),
        Box::new(Gp2Volume),
        Box::new(PreviousGeneration),
    ]
}

fn prices() -> &'static AwsPrices {
    AwsPrices::shipped()
}

/// EBS volumes left `available` (attached to nothing) for a week.
struct UnattachedVolume;
impl Rule for UnattachedVolume {
    fn about(&self) -> About {
        About { id: "aws.ebs.unattached", kind: Kind::EbsVolume, title: "EBS volumes attached to nothing for at least 7 days (no I/O data, which EBS publishes only while attached)" }
    }
    fn defaults(&self) -> Params {
        // A volume publishes I/O metrics only while attached: no data points is the evidence.
        // Whether a day has any is the question, so daily periods answer it with a 24th of
        // the data points hourly ones would return.
        Params { min_age_days: Some(7), ..metric_params(7, 86_400, Statistic::Sum, 0.0, 1, Missing::Zero) }
    }
    fn action(&self) -> Option<Action> {
        Some(Action::SnapshotAndDeleteVolume)
    }
    fn select(&self, r: &Resource, cx: &Context<'_>, p: &Params) -> Option<Candidate> {
        let Details::Volume { volume_type, size_gib, iops, state, attached_to, state_since } = &r.details else {
            return None;
        };
        if state != "available" || !attached_to.is_empty() {
            return None;
        }
        let age = old_enough(r, cx, p)?;
        // Where the source says when it became available (an offline inventory, which has no
        // I/O metrics to tell), that is the time that counts.
        let detached = match state_since {
            Some(t) => {
                let days = (cx.now - *t).num_days();
                if days < i64::from(p.min_age_days.unwrap_or(7)) {
                    return None;
                }
                format!(", available for {days} days")
            }
            None => String::new(),
        };
        let estimate = prices().volume(volume_type, *size_gib, *iops, &r.region);
        Some(Candidate::of(
            r,
            format!("{size_gib} GiB {volume_type} volume attached to nothing, created {age} days ago{detached}"),
            estimate,
        ))
    }
    fn metrics(&self, r: &Resource, p: &Params) -> Vec<MetricCheck> {
        ["VolumeReadOps", "VolumeWriteOps"]
            .iter()
            .map(|m| check(p, "AWS/EBS", m, &[("VolumeId", &r.id)], DayTest::NoData))
            .collect()
    }
}

/// Snapshots older than 90 days that back no AMI and no launch template.
struct OrphanedSnapshot;
impl Rule for OrphanedSnapshot {
    fn about(&self) -> About {
        About {
            id: "aws.ebs.snapshot-orphaned",
            kind: Kind::EbsSnapshot,
            title: "EBS snapshots older than 90 days that back no AMI and no launch template version",
        }
    }
    fn needs(&self) -> &'static [Kind] {
        &[Kind::Ami, Kind::LaunchTemplate]
    }
    fn defaults(&self) -> Params {
        Params { min_age_days: Some(90), ..Params::plain() }
    }
    fn action(&self) -> Option<Action> {
        Some(Action::DeleteSnapshot)
    }
    fn select(&self, r: &Resource, cx: &Context<'_>, p: &Params) -> Option<Candidate> {
        let Details::Snapshot { size_gib, owner, .. } = &r.details else { return None };
        // Public and shared snapshots of other accounts are not ours to judge.
        if owner != cx.account {
            return None;
        }
        let age = old_enough(r, cx, p)?;
        let used: HashSet<&str> = [Kind::Ami, Kind::LaunchTemplate]
            .iter()
            .flat_map(|k| cx.inventory.get(*k))
            .flat_map(|i| match &i.details {
                Details::ImageLike { snapshots } => snapshots.iter().map(String::as_str).collect::<Vec<_>>(),
                _ => vec![],
            })
            .collect();
        if used.contains(r.id.as_str()) {
            return None;
        }
        let estimate = Some(prices().snapshot(*size_gib, &r.region));
        Some(Candidate::of(
            r,
            format!("{size_gib} GiB snapshot taken {age} days ago; no AMI or launch template uses it"),
            estimate,
        ))
    }
}

/// Elastic IPs associated with nothing.
struct UnassociatedAddress;
impl Rule for UnassociatedAddress {
    fn about(&self) -> About {
        About {
            id: "aws.ec2.eip-unassociated",
            kind: Kind::ElasticIp,
            title: "Elastic IPs associated with no instance or network interface",
        }
    }
    fn defaults(&self) -> Params {
        Params::plain()
    }
    fn action(&self) -> Option<Action> {
        Some(Action::ReleaseAddress)
    }
    fn select(&self, r: &Resource, _cx: &Context<'_>, _p: &Params) -> Option<Candidate> {
        let Details::Address { public_ip, association } = &r.details else { return None };
        if association.is_some() {
            return None;
        }
        Some(Candidate::of(
            r,
            format!("Elastic IP {public_ip} is associated with nothing"),
            Some(prices().public_ip(&r.region)),
        ))
    }
}

/// Running instances whose daily CPU stayed low on every day of the window.
struct IdleInstance;
impl Rule for IdleInstance {
    fn about(&self) -> About {
        About {
            id: "aws.ec2.idle",
            kind: Kind::Ec2Instance,
            title: "Running EC2 instances with daily-average CPU below 2 % (and no hour at 10 %) on each of 14 days",
        }
    }
    fn defaults(&self) -> Params {
        Params { peak: Some(10.0), ..metric_params(14, 3600, Statistic::Average, 2.0, 20, Missing::NotIdle) }
    }
    fn action(&self) -> Option<Action> {
        Some(Action::StopInstance)
    }
    fn select(&self, r: &Resource, cx: &Context<'_>, p: &Params) -> Option<Candidate> {
        let Details::Instance { instance_type, state, .. } = &r.details else { return None };
        if state != "running" {
            return None;
        }
        let age = old_enough(r, cx, p)?;
        Some(Candidate::of(
            r,
            format!("{instance_type} running since {age} days ago"),
            prices().instance(instance_type, &r.region),
        ))
    }
    fn metrics(&self, r: &Resource, p: &Params) -> Vec<MetricCheck> {
        let test = DayTest::MeanBelow { threshold: p.threshold.unwrap_or(2.0), peak: p.peak };
        vec![check(p, "AWS/EC2", "CPUUtilization", &[("InstanceId", &r.id)], test)]
    }
}

/// Instances stopped for a month: the instance costs nothing, its volumes still do.
struct StoppedInstance;
impl Rule for StoppedInstance {
    fn about(&self) -> About {
        About {
            id: "aws.ec2.stopped",
            kind: Kind::Ec2Instance,
            title: "EC2 instances stopped for at least 30 days, still paying for their volumes",
        }
    }
    fn needs(&self) -> &'static [Kind] {
        &[Kind::EbsVolume]
    }
    fn defaults(&self) -> Params {
        // A running instance publishes CPU every period: any data point in the window means it
        // ran. Daily periods answer that as well as hourly ones, with fewer points.
        Params { min_age_days: Some(30), ..metric_params(30, 86_400, Statistic::Maximum, 0.0, 1, Missing::Zero) }
    }
    fn select(&self, r: &Resource, cx: &Context<'_>, p: &Params) -> Option<Candidate> {
        let Details::Instance { instance_type, state, state_since, volumes } = &r.details else { return None };
        if state != "stopped" {
            return None;
        }
        let days = days_in_state(*state_since, cx, p, 30)?;
        let parts = cx
            .inventory
            .get(Kind::EbsVolume)
            .iter()
            .filter(|v| volumes.contains(&v.id))
            .map(|v| match &v.details {
                Details::Volume { volume_type, size_gib, iops, .. } => {
                    (v.id.clone(), prices().volume(volume_type, *size_gib, *iops, &r.region))
                }
                _ => (v.id.clone(), None),
            })
            .collect();
        let estimate = estimate_of_parts(parts);
        Some(Candidate {
            reason: format!("{instance_type} stopped {days} days ago; {} attached volumes still billed", volumes.len()),
            bill_ids: volumes.clone(),
            estimate,
            savings: Savings::All,
        })
    }
    fn metrics(&self, r: &Resource, p: &Params) -> Vec<MetricCheck> {
        vec![check(p, "AWS/EC2", "CPUUtilization", &[("InstanceId", &r.id)], DayTest::NoData)]
    }
}

/// Bytes a day a NAT gateway may move to destinations and still be idle: it costs about 33 USD a
/// month whatever it carries, and health checks, NTP and package mirrors of a forgotten subnet
/// move a few KB to MB a day; a gateway in use moves far more. `threshold` in a policy changes it.
const NAT_IDLE_BYTES_PER_DAY: f64 = 5_000_000.0;

/// NAT gateways that moved at most a few MB a day for 14 days.
struct IdleNatGateway;
impl Rule for IdleNatGateway {
    fn about(&self) -> About {
        About {
            id: "aws.ec2.nat-idle",
            kind: Kind::NatGateway,
            title: "NAT gateways moving at most 5 MB a day to destinations on each of 14 days",
        }
    }
    fn defaults(&self) -> Params {
        metric_params(14, 3600, Statistic::Sum, NAT_IDLE_BYTES_PER_DAY, 20, Missing::NotIdle)
    }
    fn select(&self, r: &Resource, cx: &Context<'_>, p: &Params) -> Option<Candidate> {
        let Details::NatGateway { state } = &r.details else { return None };
        if state != "available" {
            return None;
        }
        let age = old_enough(r, cx, p)?;
        Some(Candidate::of(
            r,
            format!("NAT gateway available, created {age} days ago"),
            Some(prices().nat_gateway(&r.region)),
        ))
    }
    fn metrics(&self, r: &Resource, p: &Params) -> Vec<MetricCheck> {
        let test = DayTest::SumAtMost(p.threshold.unwrap_or(NAT_IDLE_BYTES_PER_DAY));
        vec![check(p, "AWS/NATGateway", "BytesOutToDestination", &[("NatGatewayId", &r.id)], test)]
    }
}

fn lb(r: &Resource) -> Option<(&str, &str, &crate::resource::Targets)> {
    match &r.details {
        Details::LoadBalancer { scheme, metric_name, targets } => Some((scheme, metric_name, targets)),
        _ => None,
    }
}

/// Load balancers with no registered target, or none healthy.
struct LoadBalancerWithoutHealthyTargets {
    kind: Kind,
}
impl Rule for LoadBalancerWithoutHealthyTargets {
    fn about(&self) -> About {
        About {
            id: match self.kind {
                Kind::ClassicLoadBalancer => "aws.elb.no-healthy-targets",
                _ => "aws.elbv2.no-healthy-targets",
            },
            kind: self.kind,
            title: match self.kind {
                Kind::ClassicLoadBalancer => "Classic Load Balancers with no registered instance, or none healthy",
                _ => "Application and Network Load Balancers whose target groups hold no target, or none healthy",
            },
        }
    }
    fn defaults(&self) -> Params {
        Params::plain()
    }
    fn select(&self, r: &Resource, _cx: &Context<'_>, _p: &Params) -> Option<Candidate> {
        let (scheme, _, t) = lb(r)?;
        // A v2 load balancer without target groups is the next rule's.
        if t.groups == Some(0) || t.healthy > 0 {
            return None;
        }
        let reason = if t.registered == 0 {
            format!("{scheme} load balancer has no registered targets")
        } else {
            format!("{scheme} load balancer has {} registered targets, none healthy", t.registered)
        };
        Some(Candidate::of(r, reason, prices().load_balancer(scheme, &r.region)))
    }
}

/// Application Load Balancers with no target group at all.
struct AlbWithoutTargetGroups;
impl Rule for AlbWithoutTargetGroups {
    fn about(&self) -> About {
        About {
            id: "aws.elbv2.no-target-groups",
            kind: Kind::LoadBalancerV2,
            title: "Application Load Balancers with no target group",
        }
    }
    fn defaults(&self) -> Params {
        Params::plain()
    }
    fn select(&self, r: &Resource, _cx: &Context<'_>, _p: &Params) -> Option<Candidate> {
        let (scheme, _, t) = lb(r)?;
        (scheme == "application" && t.groups == Some(0)).then(|| {
            Candidate::of(
                r,
                "application load balancer has no target groups".into(),
                prices().load_balancer(scheme, &r.region),
            )
        })
    }
}

/// Load balancers that served nothing for 14 days.
struct LoadBalancerWithoutTraffic {
    kind: Kind,
}
impl Rule for LoadBalancerWithoutTraffic {
    fn about(&self) -> About {
        About {
            id: match self.kind {
                Kind::ClassicLoadBalancer => "aws.elb.no-requests",
                _ => "aws.elbv2.no-requests",
            },
            kind: self.kind,
            title: match self.kind {
                Kind::ClassicLoadBalancer => "Classic Load Balancers with no requests on each of 14 days",
                _ => "Application Load Balancers with no requests (Network: no new flows) on each of 14 days",
            },
        }
    }
    fn defaults(&self) -> Params {
        // Request counts are published only when there were requests: a missing day is zero.
        metric_params(14, 3600, Statistic::Sum, 0.0, 1, Missing::Zero)
    }
    fn select(&self, r: &Resource, cx: &Context<'_>, p: &Params) -> Option<Candidate> {
        let (scheme, _, _) = lb(r)?;
        if scheme == "gateway" {
            return None;
        }
        let age = old_enough(r, cx, p)?;
        Some(Candidate::of(
            r,
            format!("{scheme} load balancer created {age} days ago"),
            prices().load_balancer(scheme, &r.region),
        ))
    }
    fn metrics(&self, r: &Resource, p: &Params) -> Vec<MetricCheck> {
        let Some((scheme, name, _)) = lb(r) else { return vec![] };
        let test = DayTest::SumAtMost(p.threshold.unwrap_or(0.0));
        // Classic Load Balancers are named by `LoadBalancerName`, v2 ones by `LoadBalancer`.
        let (ns, metric, dim) = match scheme {
            "classic" => ("AWS/ELB", "RequestCount", "LoadBalancerName"),
            "network" => ("AWS/NetworkELB", "NewFlowCount", "LoadBalancer"),
            _ => ("AWS/ApplicationELB", "RequestCount", "LoadBalancer"),
        };
        vec![check(p, ns, metric, &[(dim, name)], test)]
    }
}

/// RDS instances nobody connected to for 14 days.
struct IdleDatabase;
impl Rule for IdleDatabase {
    fn about(&self) -> About {
        About {
            id: "aws.rds.idle",
            kind: Kind::RdsInstance,
            title: "RDS instances with no database connections on each of 14 days",
        }
    }
    fn defaults(&self) -> Params {
        metric_params(14, 3600, Statistic::Maximum, 0.0, 20, Missing::NotIdle)
    }
    fn select(&self, r: &Resource, cx: &Context<'_>, p: &Params) -> Option<Candidate> {
        let Details::Database { class, engine, state } = &r.details else { return None };
        if state != "available" {
            return None;
        }
        let age = old_enough(r, cx, p)?;
        Some(Candidate::of(
            r,
            format!("{engine} {class} available, created {age} days ago"),
            prices().database(class, &r.region),
        ))
    }
    fn metrics(&self, r: &Resource, p: &Params) -> Vec<MetricCheck> {
        let test = DayTest::MaxAtMost(p.threshold.unwrap_or(0.0));
        vec![check(p, "AWS/RDS", "DatabaseConnections", &[("DBInstanceIdentifier", &r.id)], test)]
    }
}

/// Redshift clusters nobody connected to for 14 days.
struct ColdWarehouse;
impl Rule for ColdWarehouse {
    fn about(&self) -> About {
        About {
            id: "aws.redshift.cold",
            kind: Kind::RedshiftCluster,
            title: "Redshift clusters with no database connections on each of 14 days",
        }
    }
    fn defaults(&self) -> Params {
        metric_params(14, 3600, Statistic::Maximum, 0.0, 20, Missing::NotIdle)
    }
    fn select(&self, r: &Resource, cx: &Context<'_>, p: &Params) -> Option<Candidate> {
        let Details::Warehouse { node_type, nodes, state } = &r.details else { return None };
        if state != "available" {
            return None;
        }
        let age = old_enough(r, cx, p)?;
        Some(Candidate::of(
            r,
            format!("{nodes} × {node_type} cluster available, created {age} days ago"),
            prices().warehouse(node_type, *nodes, &r.region),
        ))
    }
    fn metrics(&self, r: &Resource, p: &Params) -> Vec<MetricCheck> {
        let test = DayTest::MaxAtMost(p.threshold.unwrap_or(0.0));
        vec![check(p, "AWS/Redshift", "DatabaseConnections", &[("ClusterIdentifier", &r.id)], test)]
    }
}

/// SageMaker endpoints with no invocations for 14 days.
struct IdleEndpoint;
impl Rule for IdleEndpoint {
    fn about(&self) -> About {
        About {
            id: "aws.sagemaker.idle-endpoint",
            kind: Kind::SageMakerEndpoint,
            title: "SageMaker endpoints in service with no invocations on any variant on each of 14 days",
        }
    }
    fn defaults(&self) -> Params {
        // Invocations are published only when there were some: a missing day is zero.
        metric_params(14, 3600, Statistic::Sum, 0.0, 1, Missing::Zero)
    }
    fn select(&self, r: &Resource, cx: &Context<'_>, p: &Params) -> Option<Candidate> {
        let Details::Endpoint { state, variants } = &r.details else { return None };
        if state != "InService" || variants.is_empty() {
            return None;
        }
        let age = old_enough(r, cx, p)?;
        Some(Candidate::of(
            r,
            format!("endpoint in service with {} variants, created {age} days ago", variants.len()),
            None,
        ))
    }
    fn metrics(&self, r: &Resource, p: &Params) -> Vec<MetricCheck> {
        let Details::Endpoint { variants, .. } = &r.details else { return vec![] };
        let test = DayTest::SumAtMost(p.threshold.unwrap_or(0.0));
        let name = r.name.as_deref().unwrap_or(&r.id);
        variants
            .iter()
            .map(|v| check(p, "AWS/SageMaker", "Invocations", &[("EndpointName", name), ("VariantName", v)], test))
            .collect()
    }
}

/// ECR images nobody pulled for 90 days.
struct StaleImage;
impl Rule for StaleImage {
    fn about(&self) -> About {
        About {
            id: "aws.ecr.stale-image",
            kind: Kind::EcrImage,
            title: "ECR images not pulled for 90 days (or never pulled and pushed 90 days ago)",
        }
    }
    fn defaults(&self) -> Params {
        Params { min_age_days: Some(90), ..Params::plain() }
    }
    fn select(&self, r: &Resource, cx: &Context<'_>, p: &Params) -> Option<Candidate> {
        let Details::ContainerImage { repository, pushed_at, last_pull, size_bytes, .. } = &r.details else {
            return None;
        };
        let min = i64::from(p.min_age_days.unwrap_or(90));
        let reason = match (last_pull, pushed_at) {
            (Some(pull), _) => {
                let days = (cx.now - *pull).num_days();
                (days >= min).then(|| format!("image in {repository} last pulled {days} days ago"))?
            }
            (None, Some(push)) => {
                let days = (cx.now - *push).num_days();
                (days >= min).then(|| format!("image in {repository} pushed {days} days ago and never pulled"))?
            }
            (None, None) => return None,
        };
        Some(Candidate::of(r, reason, Some(prices().image(*size_bytes, &r.region))))
    }
}

/// Buckets holding multipart uploads started a week ago and never finished, which no lifecycle
/// rule will abort: their parts are billed as storage and appear in no object listing.
struct IncompleteUploads;
impl Rule for IncompleteUploads {
    fn about(&self) -> About {
        About {
            id: "aws.s3.incomplete-uploads",
            kind: Kind::S3Bucket,
            title:
                "S3 buckets holding multipart uploads left incomplete for 7 days, with no lifecycle rule to abort them",
        }
    }
    fn defaults(&self) -> Params {
        Params { min_age_days: Some(7), ..Params::plain() }
    }
    fn select(&self, r: &Resource, cx: &Context<'_>, p: &Params) -> Option<Candidate> {
        let Details::Bucket { uploads, abort_after_days } = &r.details else { return None };
        // A lifecycle rule that aborts them cleans the bucket by itself.
        if abort_after_days.is_some() {
            return None;
        }
        let min = i64::from(p.min_age_days.unwrap_or(7));
        let stale: Vec<_> =
            uploads.iter().filter(|u| u.initiated.is_some_and(|t| (cx.now - t).num_days() >= min)).collect();
        if stale.is_empty() {
            return None;
        }
        let bytes: i64 = stale.iter().map(|u| u.bytes).sum();
        let oldest = stale.iter().filter_map(|u| u.initiated).min().map(|t| (cx.now - t).num_days()).unwrap_or(min);
        let mib = Decimal::from(bytes) / Decimal::from(1u64 << 20);
        Some(Candidate {
            reason: format!(
                "{} multipart uploads incomplete for {min} days or more (the oldest {oldest} days), holding {} MiB, and no lifecycle rule aborts them",
                stale.len(),
                mib.round_dp(1)
            ),
            // The bill prices the whole bucket, not its forgotten parts: the estimate stands.
            bill_ids: vec![],
            estimate: Some(prices().s3_standard(bytes, &r.region)),
            savings: Savings::All,
        })
    }
}

/// gp2 volumes that would cost less as gp3 with the same baseline performance.
struct Gp2Volume;
impl Rule for Gp2Volume {
    fn about(&self) -> About {
        About {
            id: "aws.ebs.gp2-to-gp3",
            kind: Kind::EbsVolume,
            title: "gp2 volumes that would cost less as gp3 with the same baseline IOPS",
        }
    }
    fn defaults(&self) -> Params {
        Params::plain()
    }
    fn select(&self, r: &Resource, _cx: &Context<'_>, _p: &Params) -> Option<Candidate> {
        let Details::Volume { volume_type, size_gib, .. } = &r.details else { return None };
        if volume_type != "gp2" {
            return None;
        }
        let now = prices().volume("gp2", *size_gib, None, &r.region)?;
        let then = prices().as_gp3(*size_gib, &r.region)?;
        if then.monthly >= now.monthly || now.monthly.is_zero() {
            return None;
        }
        let fraction = ((now.monthly - then.monthly) / now.monthly).round_dp(4);
        let mut c = Candidate::of(
            r,
            format!("{size_gib} GiB gp2 volume; as gp3 it would cost {}% less", fraction * Decimal::from(100)),
            Some(now.clone()),
        );
        c.savings = Savings::Share {
            fraction,
            basis: format!("gp2 {} → gp3 {} ({})", now.monthly, then.monthly, then.basis),
        };
        Some(c)
    }
}

/// Instances of a previous generation, with the successor's price where the table has both.
struct PreviousGeneration;
impl Rule for PreviousGeneration {
    fn about(&self) -> About {
        About {
            id: "aws.ec2.previous-generation",
            kind: Kind::Ec2Instance,
            title: "Running EC2 instances of a previous-generation family, with the current family's price",
        }
    }
    fn defaults(&self) -> Params {
        let families: BTreeMap<String, String> = [
            ("t1", "t3"),
            ("m1", "m5"),
            ("m2", "r5"),
            ("m3", "m5"),
            ("m4", "m5"),
            ("c1", "c5"),
            ("c3", "c5"),
            ("c4", "c5"),
            ("cc2", "c5"),
            ("cr1", "r5"),
            ("r3", "r5"),
            ("r4", "r5"),
            ("i2", "i3"),
            ("d2", "d3"),
            ("g2", "g4dn"),
            ("hs1", "d3"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        Params { families, ..Params::plain() }
    }
    fn select(&self, r: &Resource, _cx: &Context<'_>, p: &Params) -> Option<Candidate> {
        let Details::Instance { instance_type, state, .. } = &r.details else { return None };
        if state != "running" {
            return None;
        }
        let (family, size) = instance_type.split_once('.')?;
        let successor = p.families.get(family)?;
        let target = format!("{successor}.{size}");
        let current = prices().instance(instance_type, &r.region);
        let mut c = Candidate::of(
            r,
            format!("{instance_type} is a previous-generation type; {target} is current"),
            current.clone(),
        );
        c.savings = match (current, prices().instance(&target, &r.region)) {
            (Some(a), Some(b)) if b.monthly < a.monthly && !a.monthly.is_zero() => Savings::Share {
                fraction: ((a.monthly - b.monthly) / a.monthly).round_dp(4),
                basis: format!("{instance_type} {} → {target} {} per month at list price", a.monthly, b.monthly),
            },
            _ => Savings::Unknown,
        };
        Some(c)
    }
}

#[cfg(test)]
mod tests;
