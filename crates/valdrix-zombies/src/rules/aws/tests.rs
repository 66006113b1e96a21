//! The AWS rules over a hand-built account: a zombie of every rule beside near-miss decoys,
//! scanned through [`crate::scan::scan`] with the clock moved, so that each rule must find
//! exactly its zombies (precision and recall 1.0). The same account against moto, through the
//! SDK provider, is the integration test of the command line.

use crate::policy::{Params, Policy};
use crate::provider::{Listed, Measured, Provider, ProviderError, Window};
use crate::resource::{Cloud, Details, Kind, MetricQuery, Resource, Series, Targets};
use crate::scan::{scan, Configured, CostSource, ScanOptions, Status};
use chrono::{DateTime, Duration, TimeZone, Utc};
use std::collections::{BTreeMap, BTreeSet, HashMap};

const ACCOUNT: &str = "123456789012";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 15, 12, 0, 0).unwrap()
}

fn days_ago(d: i64) -> Option<DateTime<Utc>> {
    Some(now() - Duration::days(d))
}

/// (metric name, dimensions) → data points.
type SeriesByMetric = HashMap<(String, Vec<(String, String)>), Vec<(DateTime<Utc>, f64)>>;

/// An account held in memory: resources, metric series, and types that fail or hang.
#[derive(Default)]
struct Account {
    resources: Vec<Resource>,
    series: SeriesByMetric,
    failing: Option<Kind>,
    hanging: Option<Kind>,
}

impl Provider for Account {
    fn cloud(&self) -> Cloud {
        Cloud::Aws
    }
    fn account(&self) -> &str {
        ACCOUNT
    }
    fn list<'a>(&'a self, region: &'a str, kind: Kind) -> Listed<'a> {
        Box::pin(async move {
            if self.hanging == Some(kind) {
                tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
            }
            if self.failing == Some(kind) {
                return Err(ProviderError::Call {
                    service: "ec2".into(),
                    operation: "DescribeAddresses".into(),
                    message: "AccessDenied".into(),
                });
            }
            Ok(self.resources.iter().filter(|r| r.kind == kind && r.region == region).cloned().collect())
        })
    }
    fn metrics<'a>(&'a self, _region: &'a str, queries: &'a [MetricQuery], window: Window) -> Measured<'a> {
        Box::pin(async move {
            Ok(queries
                .iter()
                .map(|q| Series {
                    points: self
                        .series
                        .get(&(q.name.clone(), q.dimensions.clone()))
                        .into_iter()
                        .flatten()
                        .filter(|(t, _)| *t >= window.from && *t < window.to)
                        .copied()
                        .collect(),
                })
                .collect())
        })
    }
}

impl Account {
    fn add(&mut self, kind: Kind, id: &str, created: Option<DateTime<Utc>>, details: Details) {
        self.resources.push(Resource {
            kind,
            id: id.into(),
            aliases: vec![],
            region: "us-east-1".into(),
            account: ACCOUNT.into(),
            name: Some(id.into()),
            created,
            tags: BTreeMap::new(),
            details,
        });
    }

    /// Hourly values over the last `days` × 24 hours before the evaluation hour.
    fn hourly(&mut self, metric: &str, dim: (&str, &str), days: i64, value: impl Fn(i64, i64) -> Option<f64>) {
        let midnight = now();
        let points = self.series.entry((metric.into(), vec![(dim.0.into(), dim.1.into())])).or_default();
        for d in 1..=days {
            for h in 0..24 {
                if let Some(v) = value(d, h) {
                    points.push((midnight - Duration::days(d) + Duration::hours(h), v));
                }
            }
        }
    }
}

fn volume(state: &str, vt: &str, size: i64, attached: &[&str]) -> Details {
    Details::Volume {
        volume_type: vt.into(),
        size_gib: size,
        iops: None,
        state: state.into(),
        attached_to: attached.iter().map(|s| s.to_string()).collect(),
        state_since: None,
    }
}

fn instance(t: &str, state: &str, since: Option<DateTime<Utc>>, volumes: &[&str]) -> Details {
    Details::Instance {
        instance_type: t.into(),
        state: state.into(),
        state_since: since,
        volumes: volumes.iter().map(|s| s.to_string()).collect(),
    }
}

fn lb(scheme: &str, name: &str, groups: Option<usize>, registered: usize, healthy: usize) -> Details {
    Details::LoadBalancer {
        scheme: scheme.into(),
        metric_name: name.into(),
        targets: Targets { groups, registered, healthy },
    }
}

/// Zombies are named `z-…`, decoys `d-…`; the expected findings per rule are listed beside.
fn account() -> (Account, BTreeMap<&'static str, BTreeSet<&'static str>>) {
    let mut a = Account::default();
    // EBS volumes.
    a.add(Kind::EbsVolume, "z-vol-unattached", days_ago(40), volume("available", "gp3", 100, &[]));
    a.add(Kind::EbsVolume, "d-vol-detached-yesterday", days_ago(40), volume("available", "gp3", 100, &[]));
    a.hourly("VolumeReadOps", ("VolumeId", "d-vol-detached-yesterday"), 20, |d, _| (d >= 2).then_some(5.0));
    a.add(Kind::EbsVolume, "d-vol-new", days_ago(2), volume("available", "gp3", 10, &[]));
    a.add(Kind::EbsVolume, "z-vol-gp2-in-use", days_ago(400), volume("in-use", "gp2", 500, &["d-i-busy"]));
    a.add(Kind::EbsVolume, "d-vol-gp3-in-use", days_ago(400), volume("in-use", "gp3", 500, &["d-i-busy"]));
    a.add(Kind::EbsVolume, "v-stopped-root", days_ago(400), volume("in-use", "gp3", 30, &["z-i-stopped"]));
    // Snapshots, AMIs, launch templates.
    let snap =
        |vol: &str, owner: &str| Details::Snapshot { volume_id: Some(vol.into()), size_gib: 50, owner: owner.into() };
    a.add(Kind::EbsSnapshot, "z-snap-orphan", days_ago(120), snap("vol-gone", ACCOUNT));
    a.add(Kind::EbsSnapshot, "d-snap-backs-ami", days_ago(120), snap("vol-gone", ACCOUNT));
    a.add(Kind::EbsSnapshot, "d-snap-backs-template", days_ago(120), snap("vol-gone", ACCOUNT));
    a.add(Kind::EbsSnapshot, "d-snap-recent", days_ago(30), snap("vol-gone", ACCOUNT));
    a.add(Kind::EbsSnapshot, "d-snap-public", days_ago(900), snap("vol-x", "801119661308"));
    a.add(Kind::Ami, "ami-1", days_ago(120), Details::ImageLike { snapshots: vec!["d-snap-backs-ami".into()] });
    a.add(
        Kind::LaunchTemplate,
        "lt-1",
        days_ago(120),
        Details::ImageLike { snapshots: vec!["d-snap-backs-template".into()] },
    );
    // Elastic IPs.
    a.add(
        Kind::ElasticIp,
        "z-eip-free",
        None,
        Details::Address { public_ip: "198.51.100.1".into(), association: None },
    );
    a.add(
        Kind::ElasticIp,
        "d-eip-used",
        None,
        Details::Address { public_ip: "198.51.100.2".into(), association: Some("eipassoc-1".into()) },
    );
    // Instances.
    a.add(Kind::Ec2Instance, "z-i-idle", days_ago(60), instance("m5.large", "running", None, &[]));
    a.hourly("CPUUtilization", ("InstanceId", "z-i-idle"), 20, |_, h| Some(0.5 + (h % 4) as f64 * 0.3));
    a.add(Kind::Ec2Instance, "d-i-nightly-batch", days_ago(60), instance("m5.large", "running", None, &[]));
    a.hourly("CPUUtilization", ("InstanceId", "d-i-nightly-batch"), 20, |_, h| Some(if h == 2 { 35.0 } else { 0.4 }));
    a.add(Kind::Ec2Instance, "d-i-sparse-data", days_ago(60), instance("m5.large", "running", None, &[]));
    a.hourly("CPUUtilization", ("InstanceId", "d-i-sparse-data"), 20, |d, h| (d % 3 != 0 || h < 6).then_some(0.2));
    a.add(Kind::Ec2Instance, "d-i-busy", days_ago(60), instance("c5.large", "running", None, &["z-vol-gp2-in-use"]));
    a.hourly("CPUUtilization", ("InstanceId", "d-i-busy"), 20, |_, _| Some(55.0));
    a.add(
        Kind::Ec2Instance,
        "z-i-stopped",
        days_ago(300),
        instance("m5.large", "stopped", days_ago(45), &["v-stopped-root"]),
    );
    a.add(Kind::Ec2Instance, "d-i-stopped-two-days", days_ago(300), instance("m5.large", "stopped", days_ago(2), &[]));
    // Stopped long ago by its state, but CPU data four days ago says it ran since.
    a.add(
        Kind::Ec2Instance,
        "d-i-stopped-restarted",
        days_ago(300),
        instance("m5.large", "stopped", days_ago(60), &[]),
    );
    a.hourly("CPUUtilization", ("InstanceId", "d-i-stopped-restarted"), 4, |d, _| (d == 4).then_some(20.0));
    a.add(Kind::Ec2Instance, "z-i-old-gen", days_ago(60), instance("m4.large", "running", None, &[]));
    a.hourly("CPUUtilization", ("InstanceId", "z-i-old-gen"), 20, |_, _| Some(40.0));
    // NAT gateways.
    // An idle NAT gateway still carries a trickle (health checks, NTP): 72 KB a day is idle.
    a.add(Kind::NatGateway, "z-nat-idle", days_ago(60), Details::NatGateway { state: "available".into() });
    a.hourly("BytesOutToDestination", ("NatGatewayId", "z-nat-idle"), 20, |_, _| Some(3_000.0));
    a.add(Kind::NatGateway, "d-nat-busy", days_ago(60), Details::NatGateway { state: "available".into() });
    a.hourly("BytesOutToDestination", ("NatGatewayId", "d-nat-busy"), 20, |d, _| Some(if d == 7 { 1e6 } else { 0.0 }));
    a.add(Kind::NatGateway, "d-nat-no-data", days_ago(60), Details::NatGateway { state: "available".into() });
    // Load balancers.
    a.add(Kind::ClassicLoadBalancer, "z-clb-empty", days_ago(60), lb("classic", "z-clb-empty", None, 0, 0));
    a.add(Kind::ClassicLoadBalancer, "d-clb-serving", days_ago(60), lb("classic", "d-clb-serving", None, 2, 1));
    a.hourly("RequestCount", ("LoadBalancerName", "d-clb-serving"), 20, |_, h| (h % 5 == 0).then_some(9.0));
    a.add(
        Kind::LoadBalancerV2,
        "z-alb-unhealthy",
        days_ago(60),
        lb("application", "app/z-alb-unhealthy/1", Some(1), 2, 0),
    );
    a.hourly("RequestCount", ("LoadBalancer", "app/z-alb-unhealthy/1"), 20, |_, _| Some(3.0));
    a.add(
        Kind::LoadBalancerV2,
        "z-alb-no-groups",
        days_ago(60),
        lb("application", "app/z-alb-no-groups/2", Some(0), 0, 0),
    );
    a.hourly("RequestCount", ("LoadBalancer", "app/z-alb-no-groups/2"), 20, |_, _| Some(1.0));
    a.add(
        Kind::LoadBalancerV2,
        "d-alb-one-healthy",
        days_ago(60),
        lb("application", "app/d-alb-one-healthy/3", Some(1), 1, 1),
    );
    a.hourly("RequestCount", ("LoadBalancer", "app/d-alb-one-healthy/3"), 20, |_, h| (h == 9).then_some(4.0));
    a.add(Kind::LoadBalancerV2, "z-alb-quiet", days_ago(60), lb("application", "app/z-alb-quiet/4", Some(1), 1, 1));
    // Databases and warehouses.
    let db =
        || Details::Database { class: "db.t3.medium".into(), engine: "postgres".into(), state: "available".into() };
    a.add(Kind::RdsInstance, "z-db-idle", days_ago(90), db());
    a.hourly("DatabaseConnections", ("DBInstanceIdentifier", "z-db-idle"), 20, |_, _| Some(0.0));
    a.add(Kind::RdsInstance, "d-db-weekly", days_ago(90), db());
    a.hourly("DatabaseConnections", ("DBInstanceIdentifier", "d-db-weekly"), 20, |d, h| {
        Some(if d % 7 == 3 && h == 1 { 4.0 } else { 0.0 })
    });
    let wh = || Details::Warehouse { node_type: "dc2.large".into(), nodes: 2, state: "available".into() };
    a.add(Kind::RedshiftCluster, "z-rs-cold", days_ago(90), wh());
    a.hourly("DatabaseConnections", ("ClusterIdentifier", "z-rs-cold"), 20, |_, _| Some(0.0));
    a.add(Kind::RedshiftCluster, "d-rs-daily", days_ago(90), wh());
    a.hourly("DatabaseConnections", ("ClusterIdentifier", "d-rs-daily"), 20, |_, h| {
        Some(if h == 8 { 2.0 } else { 0.0 })
    });
    // SageMaker endpoints.
    let ep = || Details::Endpoint { state: "InService".into(), variants: vec!["main".into()] };
    a.add(Kind::SageMakerEndpoint, "z-ep-idle", days_ago(30), ep());
    a.add(Kind::SageMakerEndpoint, "d-ep-used", days_ago(30), ep());
    a.series.insert(
        (
            "Invocations".into(),
            vec![("EndpointName".into(), "d-ep-used".into()), ("VariantName".into(), "main".into())],
        ),
        vec![(now() - Duration::days(5), 12.0)],
    );
    // ECR images.
    let img = |pushed: i64, pulled: Option<i64>| Details::ContainerImage {
        repository: "app".into(),
        image_tags: vec![],
        pushed_at: days_ago(pushed),
        last_pull: pulled.and_then(days_ago),
        size_bytes: 300 << 20,
    };
    a.add(Kind::EcrImage, "z-img-never-pulled", days_ago(200), img(200, None));
    a.add(Kind::EcrImage, "z-img-pulled-long-ago", days_ago(400), img(400, Some(120)));
    a.add(Kind::EcrImage, "d-img-pulled-last-week", days_ago(400), img(400, Some(7)));
    a.add(Kind::EcrImage, "d-img-new", days_ago(10), img(10, None));
    // S3 buckets with incomplete multipart uploads.
    let bucket = |ages: &[i64], abort: Option<i64>| Details::Bucket {
        uploads: ages
            .iter()
            .map(|d| crate::resource::PartialUpload { key: format!("k{d}"), initiated: days_ago(*d), bytes: 64 << 20 })
            .collect(),
        abort_after_days: abort,
    };
    a.add(Kind::S3Bucket, "z-bucket-forgotten-uploads", days_ago(300), bucket(&[30, 2], None));
    a.add(Kind::S3Bucket, "d-bucket-upload-yesterday", days_ago(300), bucket(&[1], None));
    a.add(Kind::S3Bucket, "d-bucket-lifecycle-aborts", days_ago(300), bucket(&[30], Some(7)));
    a.add(Kind::S3Bucket, "d-bucket-clean", days_ago(300), bucket(&[], None));

    let expected: BTreeMap<&str, BTreeSet<&str>> = [
        ("aws.ebs.unattached", vec!["z-vol-unattached"]),
        ("aws.ebs.snapshot-orphaned", vec!["z-snap-orphan"]),
        ("aws.ec2.eip-unassociated", vec!["z-eip-free"]),
        ("aws.ec2.idle", vec!["z-i-idle"]),
        ("aws.ec2.stopped", vec!["z-i-stopped"]),
        ("aws.ec2.nat-idle", vec!["z-nat-idle"]),
        ("aws.elb.no-healthy-targets", vec!["z-clb-empty"]),
        ("aws.elbv2.no-healthy-targets", vec!["z-alb-unhealthy"]),
        ("aws.elbv2.no-target-groups", vec!["z-alb-no-groups"]),
        ("aws.elb.no-requests", vec!["z-clb-empty"]),
        ("aws.elbv2.no-requests", vec!["z-alb-quiet"]),
        ("aws.rds.idle", vec!["z-db-idle"]),
        ("aws.redshift.cold", vec!["z-rs-cold"]),
        ("aws.sagemaker.idle-endpoint", vec!["z-ep-idle"]),
        ("aws.ecr.stale-image", vec!["z-img-never-pulled", "z-img-pulled-long-ago"]),
        ("aws.s3.incomplete-uploads", vec!["z-bucket-forgotten-uploads"]),
        ("aws.ebs.gp2-to-gp3", vec!["z-vol-gp2-in-use"]),
        ("aws.ec2.previous-generation", vec!["z-i-old-gen"]),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.into_iter().collect()))
    .collect();
    (a, expected)
}

fn configured<'a>(rules: &'a [Box<dyn crate::rules::Rule>], policy: &Policy) -> Vec<Configured<'a>> {
    rules.iter().map(|r| Configured { rule: r.as_ref(), params: policy.params(r.id(), r.defaults()) }).collect()
}

fn options() -> ScanOptions {
    ScanOptions::new(vec!["us-east-1".into()], now())
}

#[tokio::test(flavor = "current_thread")]
async fn every_rule_finds_its_zombies_and_no_decoy() {
    let (account, expected) = account();
    let rules = super::rules();
    let report = scan(&account, &configured(&rules, &Policy::default()), &options()).await;
    assert!(report.complete(), "{:?}", report.rules);
    let ids: BTreeSet<&str> = rules.iter().map(|r| r.id()).collect();
    assert_eq!(ids, expected.keys().copied().collect(), "every rule has expectations");
    for (rule, want) in &expected {
        let got: BTreeSet<&str> =
            report.findings.iter().filter(|f| f.rule == *rule).map(|f| f.resource_id.as_str()).collect();
        assert_eq!(&got, want, "{rule}");
    }
    // Every finding is priced (the price table knows each of these types) and says how.
    for f in &report.findings {
        if f.rule == "aws.sagemaker.idle-endpoint" {
            assert_eq!(f.cost_source, CostSource::None);
            continue;
        }
        assert_eq!(f.cost_source, CostSource::Estimate, "{}", f.rule);
        assert!(f.monthly_cost.is_some() && f.cost_basis.starts_with("estimate: "), "{f:?}");
    }
    let stopped = report.findings.iter().find(|f| f.rule == "aws.ec2.stopped").unwrap();
    // Its 30 GiB gp3 root volume, not the instance hours.
    assert_eq!(stopped.monthly_cost, Some(rust_decimal::Decimal::new(240, 2)));
    let gp2 = report.findings.iter().find(|f| f.rule == "aws.ebs.gp2-to-gp3").unwrap();
    // 500 GiB: gp2 50.00, as gp3 with 1,500 IOPS 40.00: saves 10.00 of 50.00.
    assert_eq!(gp2.monthly_savings, Some(rust_decimal::Decimal::new(1000, 2)), "{gp2:?}");
    // The idle reason carries the evidence.
    let idle = report.findings.iter().find(|f| f.rule == "aws.ec2.idle").unwrap();
    assert!(idle.reason.contains("daily mean CPUUtilization below 2 on each of the last 14 days"), "{}", idle.reason);
    // Counted once per resource: z-clb-empty is found by two rules.
    let usd = report.savings_by_currency()["USD"];
    let sum_all: rust_decimal::Decimal = report.findings.iter().filter_map(|f| f.monthly_savings).sum();
    assert_eq!(sum_all - usd, rust_decimal::Decimal::new(1825, 2));
}

#[tokio::test(flavor = "current_thread")]
async fn the_clock_is_an_input_and_exclusions_come_from_the_policy() {
    let (mut account, _) = account();
    let rules = super::rules();
    // Forty days earlier the orphan snapshot (taken 120 days before `now`) was 80 days old.
    let mut opts = options();
    opts.now = now() - Duration::days(40);
    let report = scan(&account, &configured(&rules, &Policy::default()), &opts).await;
    assert!(!report.findings.iter().any(|f| f.resource_id == "z-snap-orphan"));
    // The ignore tag, and a policy's own exclusion and threshold.
    account
        .resources
        .iter_mut()
        .find(|r| r.id == "z-vol-unattached")
        .unwrap()
        .tags
        .insert("valdrix:ignore".into(), "".into());
    account.resources.iter_mut().find(|r| r.id == "z-eip-free").unwrap().tags.insert("env".into(), "dr".into());
    let known: Vec<(&str, Params)> = rules.iter().map(|r| (r.id(), r.defaults())).collect();
    let policy = Policy::parse(
        "policy.toml",
        "exclude_tags = [\"valdrix:ignore\", \"env=dr\"]\n[rules.\"aws.ec2.idle\"]\nthreshold = 0.5\n[rules.\"aws.ecr.stale-image\"]\nenabled = false\n",
        &known,
    )
    .unwrap();
    let report = scan(&account, &configured(&rules, &policy), &options()).await;
    let found: BTreeSet<&str> = report.findings.iter().map(|f| f.resource_id.as_str()).collect();
    assert!(!found.contains("z-vol-unattached") && !found.contains("z-eip-free"), "{found:?}");
    assert!(!found.contains("z-i-idle"), "mean 0.95 % is not below 0.5 %");
    assert!(!report.rules.iter().any(|r| r.rule == "aws.ecr.stale-image"), "disabled rules do not run");
    let excluded: usize = report.rules.iter().map(|r| r.excluded).sum();
    assert_eq!(excluded, 3, "one volume in two volume rules, one address");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_failing_or_hanging_type_marks_its_rules_and_the_rest_still_report() {
    let (mut account, expected) = account();
    account.failing = Some(Kind::ElasticIp);
    account.hanging = Some(Kind::RdsInstance);
    let rules = super::rules();
    let report = scan(&account, &configured(&rules, &Policy::default()), &options()).await;
    assert!(!report.complete());
    let status = |rule: &str| report.rules.iter().find(|r| r.rule == rule).unwrap().status.clone();
    assert!(matches!(status("aws.ec2.eip-unassociated"), Status::Error(m) if m.contains("AccessDenied")));
    assert_eq!(status("aws.rds.idle"), Status::Timeout);
    assert!(matches!(&report.regions[0].status, Status::Error(m) if m.contains("aws.ec2.elastic-ip")));
    // Every other rule ran and found what it should.
    for (rule, want) in expected.iter().filter(|(r, _)| !["aws.ec2.eip-unassociated", "aws.rds.idle"].contains(r)) {
        assert_eq!(status(rule), Status::Ok, "{rule}");
        let got: BTreeSet<&str> =
            report.findings.iter().filter(|f| f.rule == *rule).map(|f| f.resource_id.as_str()).collect();
        assert_eq!(&got, want, "{rule}");
    }
}
