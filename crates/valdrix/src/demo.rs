//! `valdrix demo`: a realistic, deterministic multi-cloud dataset written in the providers' own
//! export formats, ingested through the same readers as real data.
//!
//! Twelve billing periods (December 2025 to November 2026, the last one open) for a company with
//! twelve AWS linked accounts, six Azure subscriptions and eight GCP projects. Teams own
//! resources through tags, a quarter of the resources are untagged, reservations and savings
//! plans cover part of the compute, and the data holds a few incidents worth finding: a runaway
//! auto-scaling group, a BigQuery query that scanned far too much, a storage account that began
//! replicating, and a November that is restated by a later delivery.

use anyhow::{Context, Result};
use chrono::{Datelike, Duration, NaiveDate};
use flate2::write::GzEncoder;
use rust_decimal::Decimal;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use valdrix_core::TenantId;
use valdrix_store::{CostQuery, Dimension};

use crate::output::money_for_people;
use crate::pipeline::{ingest_paths, IngestOptions, UnitOutcome};

/// First day of the demo data.
pub const START: (i32, u32, u32) = (2025, 12, 1);
/// Last day of the demo data (the November 2026 period is still open).
pub const END: (i32, u32, u32) = (2026, 11, 24);
/// Last day of the first, preliminary November delivery.
const FIRST_NOVEMBER_CUTOFF: (i32, u32, u32) = (2026, 11, 20);

fn ymd(t: (i32, u32, u32)) -> NaiveDate {
    NaiveDate::from_ymd_opt(t.0, t.1, t.2).expect("valid constant date")
}

/// SplitMix64: small, fast and the same on every platform, so a seed always gives the same files.
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform integer in [0, n).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// One element of a slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A hex identifier of `n` characters.
    pub fn hex(&mut self, n: usize) -> String {
        let mut s = String::new();
        while s.len() < n {
            s.push_str(&format!("{:016x}", self.next_u64()));
        }
        s.truncate(n);
        s
    }

    /// A UUID-shaped identifier.
    pub fn uuid(&mut self) -> String {
        let h = self.hex(32);
        format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
    }
}

/// A decimal from a float used only to shape generated quantities: rounded to `dp` places, so the
/// files hold exact decimal text.
fn dec(v: f64, dp: u32) -> Decimal {
    Decimal::from_f64_retain(v).unwrap_or_default().round_dp(dp).normalize()
}

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).expect("valid decimal constant")
}

const TEAMS: &[&str] = &["payments", "search", "data-platform", "ml", "web", "identity"];
const ENVS: &[&str] = &["prod", "prod", "staging", "dev"];

/// Team and environment tags, or none for the untagged quarter.
fn tags_for(rng: &mut Rng) -> Option<(&'static str, &'static str)> {
    if rng.unit() < 0.25 {
        None
    } else {
        Some((*rng.pick(TEAMS), *rng.pick(ENVS)))
    }
}

/// Multiplier for growth (about 2 % a month), the weekly cycle of non-production work and noise.
fn shape(day: NaiveDate, env: Option<&str>, rng: &mut Rng) -> f64 {
    let months = (day - ymd(START)).num_days() as f64 / 30.4;
    let growth = 1.0 + 0.02 * months;
    let weekend = matches!(day.weekday(), chrono::Weekday::Sat | chrono::Weekday::Sun);
    let weekly = if weekend && env != Some("prod") { 0.55 } else { 1.0 };
    let noise = 0.92 + 0.16 * rng.unit();
    growth * weekly * noise
}

fn days(from: NaiveDate, to_inclusive: NaiveDate) -> impl Iterator<Item = NaiveDate> {
    let n = (to_inclusive - from).num_days().max(-1) + 1;
    (0..n).map(move |i| from + Duration::days(i))
}

fn month_starts() -> Vec<NaiveDate> {
    let mut out = Vec::new();
    let mut m = ymd(START);
    while m <= ymd(END) {
        out.push(m);
        m = valdrix_core::time::next_month_start(m);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// AWS: legacy CUR, daily granularity, CSV gzip, S3 delivery layout with manifests.

const AWS_PAYER: &str = "210987654321";

struct AwsResource {
    account: String,
    product_code: &'static str,
    product_name: &'static str,
    usage_type: String,
    operation: &'static str,
    resource_id: String,
    region: &'static str,
    location: &'static str,
    unit: &'static str,
    rate: Decimal,
    daily_qty: f64,
    coverage: Coverage,
    tags: Option<(&'static str, &'static str)>,
}

#[derive(Clone, Copy, PartialEq)]
enum Coverage {
    OnDemand,
    Reserved(usize),
    SavingsPlan,
}

struct AwsFleet {
    resources: Vec<AwsResource>,
    reservations: Vec<(String, Decimal)>,
    savings_plan_arn: String,
    savings_plan_hourly: Decimal,
}

fn aws_fleet(rng: &mut Rng) -> AwsFleet {
    let accounts: Vec<String> = (0..12).map(|i| format!("{}", 310_000_000_000u64 + 7_919 * i as u64 + 17)).collect();
    let regions =
        [("us-east-1", "US East (N. Virginia)"), ("eu-west-1", "EU (Ireland)"), ("us-west-2", "US West (Oregon)")];
    let instance_types =
        [("m5.large", "0.096"), ("c5.xlarge", "0.17"), ("r5.2xlarge", "0.504"), ("m5.2xlarge", "0.384")];
    let mut reservations = Vec::new();
    for i in 0..3 {
        reservations.push((
            format!("arn:aws:ec2:us-east-1:{AWS_PAYER}:reserved-instances/{}", rng.uuid()),
            d(["0.0605", "0.107", "0.3175"][i]),
        ));
    }
    let mut resources = Vec::new();
    for (ai, account) in accounts.iter().enumerate() {
        let (region, location) = regions[ai % regions.len()];
        let n_instances = 3 + rng.below(6);
        for k in 0..n_instances {
            let (itype, rate) = *rng.pick(&instance_types);
            let coverage = match (ai + k) % 7 {
                0 | 1 if region == "us-east-1" => Coverage::Reserved(rng.below(reservations.len())),
                2 | 3 => Coverage::SavingsPlan,
                _ => Coverage::OnDemand,
            };
            let tags = tags_for(rng);
            resources.push(AwsResource {
                account: account.clone(),
                product_code: "AmazonEC2",
                product_name: "Amazon Elastic Compute Cloud",
                usage_type: format!("BoxUsage:{itype}"),
                operation: "RunInstances",
                resource_id: format!("i-{}", rng.hex(17)),
                region,
                location,
                unit: "Hrs",
                rate: d(rate),
                daily_qty: 24.0,
                coverage,
                tags,
            });
            resources.push(AwsResource {
                account: account.clone(),
                product_code: "AmazonEC2",
                product_name: "Amazon Elastic Compute Cloud",
                usage_type: "EBS:VolumeUsage.gp3".into(),
                operation: "CreateVolume-Gp3",
                resource_id: format!("vol-{}", rng.hex(17)),
                region,
                location,
                unit: "GB-Mo",
                rate: d("0.08"),
                daily_qty: (50 + 50 * rng.below(10)) as f64 / 30.0,
                coverage: Coverage::OnDemand,
                tags,
            });
        }
        let tags = tags_for(rng);
        resources.push(AwsResource {
            account: account.clone(),
            product_code: "AmazonS3",
            product_name: "Amazon Simple Storage Service",
            usage_type: "TimedStorage-ByteHrs".into(),
            operation: "StandardStorage",
            resource_id: format!("acme-{}-{}", ["logs", "assets", "backups", "lake"][ai % 4], rng.hex(6)),
            region,
            location,
            unit: "GB-Mo",
            rate: d("0.023"),
            daily_qty: (2_000 + 400 * rng.below(50)) as f64 / 30.0,
            coverage: Coverage::OnDemand,
            tags,
        });
        if ai % 3 == 0 {
            let tags = tags_for(rng);
            resources.push(AwsResource {
                account: account.clone(),
                product_code: "AmazonRDS",
                product_name: "Amazon Relational Database Service",
                usage_type: "InstanceUsage:db.r5.large".into(),
                operation: "CreateDBInstance:0014",
                resource_id: format!("arn:aws:rds:{region}:{account}:db:orders-{}", rng.hex(4)),
                region,
                location,
                unit: "Hrs",
                rate: d("0.29"),
                daily_qty: 24.0,
                coverage: Coverage::OnDemand,
                tags,
            });
        }
        let tags = tags_for(rng);
        resources.push(AwsResource {
            account: account.clone(),
            product_code: "AmazonEC2",
            product_name: "Amazon Elastic Compute Cloud",
            usage_type: "NatGateway-Hours".into(),
            operation: "NatGateway",
            resource_id: format!("arn:aws:ec2:{region}:{account}:natgateway/nat-{}", rng.hex(17)),
            region,
            location,
            unit: "Hrs",
            rate: d("0.045"),
            daily_qty: 24.0,
            coverage: Coverage::OnDemand,
            tags,
        });
        resources.push(AwsResource {
            account: account.clone(),
            product_code: "AWSLambda",
            product_name: "AWS Lambda",
            usage_type: "Lambda-GB-Second".into(),
            operation: "Invoke",
            resource_id: format!("arn:aws:lambda:{region}:{account}:function:handler-{}", rng.hex(5)),
            region,
            location,
            unit: "Lambda-GB-Second",
            rate: d("0.0000166667"),
            daily_qty: 40_000.0 + 20_000.0 * rng.unit(),
            coverage: Coverage::OnDemand,
            tags: tags_for(rng),
        });
        resources.push(AwsResource {
            account: account.clone(),
            product_code: "AmazonCloudWatch",
            product_name: "AmazonCloudWatch",
            usage_type: "CW:MetricMonitorUsage".into(),
            operation: "MetricStorage",
            resource_id: String::new(),
            region,
            location,
            unit: "Metrics",
            rate: d("0.3"),
            daily_qty: (20 + rng.below(80)) as f64 / 30.0,
            coverage: Coverage::OnDemand,
            tags: None,
        });
        resources.push(AwsResource {
            account: account.clone(),
            product_code: "AWSDataTransfer",
            product_name: "AWS Data Transfer",
            usage_type: "DataTransfer-Out-Bytes".into(),
            operation: "",
            resource_id: String::new(),
            region,
            location,
            unit: "GB",
            rate: d("0.09"),
            daily_qty: 20.0 + 80.0 * rng.unit(),
            coverage: Coverage::OnDemand,
            tags: None,
        });
    }
    AwsFleet {
        resources,
        reservations,
        savings_plan_arn: format!("arn:aws:savingsplans::{AWS_PAYER}:savingsplan/{}", rng.uuid()),
        savings_plan_hourly: d("1.85"),
    }
}

const AWS_COLUMNS: &[&str] = &[
    "identity/LineItemId",
    "identity/TimeInterval",
    "bill/InvoiceId",
    "bill/BillingEntity",
    "bill/BillType",
    "bill/PayerAccountId",
    "bill/BillingPeriodStartDate",
    "bill/BillingPeriodEndDate",
    "lineItem/UsageAccountId",
    "lineItem/LineItemType",
    "lineItem/UsageStartDate",
    "lineItem/UsageEndDate",
    "lineItem/ProductCode",
    "lineItem/UsageType",
    "lineItem/Operation",
    "lineItem/ResourceId",
    "lineItem/UsageAmount",
    "lineItem/CurrencyCode",
    "lineItem/UnblendedRate",
    "lineItem/UnblendedCost",
    "lineItem/LineItemDescription",
    "lineItem/LegalEntity",
    "product/ProductName",
    "product/region",
    "product/location",
    "pricing/publicOnDemandCost",
    "pricing/publicOnDemandRate",
    "pricing/term",
    "pricing/unit",
    "reservation/ReservationARN",
    "reservation/EffectiveCost",
    "reservation/UnusedAmortizedUpfrontFeeForBillingPeriod",
    "reservation/UnusedRecurringFee",
    "savingsPlan/SavingsPlanARN",
    "savingsPlan/SavingsPlanEffectiveCost",
    "savingsPlan/TotalCommitmentToDate",
    "savingsPlan/UsedCommitment",
    "resourceTags/user:team",
    "resourceTags/user:env",
];

#[derive(Default)]
struct AwsRow {
    item_type: &'static str,
    account: String,
    start: NaiveDate,
    end: NaiveDate,
    product_code: String,
    product_name: String,
    usage_type: String,
    operation: String,
    resource_id: String,
    amount: Decimal,
    rate: Decimal,
    cost: Decimal,
    description: String,
    region: String,
    location: String,
    public_cost: Decimal,
    term: &'static str,
    unit: String,
    ri_arn: String,
    ri_effective: Option<Decimal>,
    ri_unused: Option<Decimal>,
    sp_arn: String,
    sp_effective: Option<Decimal>,
    sp_total: Option<Decimal>,
    sp_used: Option<Decimal>,
    team: String,
    env: String,
}

fn ts(d: NaiveDate) -> String {
    format!("{}T00:00:00Z", d.format("%Y-%m-%d"))
}

fn opt(v: Option<Decimal>) -> String {
    v.map(|d| d.normalize().to_string()).unwrap_or_default()
}

/// One month of AWS line items up to and including `through`. `restated` raises November's
/// late-arriving compute usage, as a newer delivery of the same month does.
fn aws_month(fleet: &AwsFleet, month: NaiveDate, through: NaiveDate, restated: bool, seed: u64) -> Vec<AwsRow> {
    let mut rng = Rng::new(seed ^ (month.num_days_from_ce() as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
    let next = valdrix_core::time::next_month_start(month);
    let last = through.min(next - Duration::days(1));
    let mut rows = Vec::new();
    let mut sp_used = Decimal::ZERO;
    let mut ri_used_hours = vec![Decimal::ZERO; fleet.reservations.len()];
    for day in days(month, last) {
        for r in &fleet.resources {
            let env = r.tags.map(|t| t.1);
            let mut qty = r.daily_qty * if r.unit == "Hrs" { 1.0 } else { shape(day, env, &mut rng) };
            if r.unit == "Hrs"
                && env == Some("dev")
                && matches!(day.weekday(), chrono::Weekday::Sat | chrono::Weekday::Sun)
            {
                qty = 10.0; // dev instances are stopped over the weekend by a scheduler
            }
            if restated && day >= ymd((2026, 11, 18)) && r.product_code == "AmazonEC2" && r.unit == "Hrs" {
                qty *= 1.0; // hours do not change; late usage arrives as data transfer below
            }
            let amount = dec(qty, 8);
            let public = (amount * r.rate).round_dp(10);
            let (team, env_s) = r.tags.map(|(t, e)| (t.to_string(), e.to_string())).unwrap_or_default();
            let mut row = AwsRow {
                item_type: "Usage",
                account: r.account.clone(),
                start: day,
                end: day + Duration::days(1),
                product_code: r.product_code.into(),
                product_name: r.product_name.into(),
                usage_type: r.usage_type.clone(),
                operation: r.operation.into(),
                resource_id: r.resource_id.clone(),
                amount,
                rate: r.rate,
                cost: public,
                description: format!("${} per {} for {}", r.rate, r.unit, r.usage_type),
                region: r.region.into(),
                location: r.location.into(),
                public_cost: public,
                term: "OnDemand",
                unit: r.unit.into(),
                team,
                env: env_s,
                ..Default::default()
            };
            match r.coverage {
                Coverage::OnDemand => {}
                Coverage::Reserved(i) => {
                    let (arn, eff_rate) = &fleet.reservations[i];
                    row.item_type = "DiscountedUsage";
                    row.cost = Decimal::ZERO;
                    row.rate = Decimal::ZERO;
                    row.term = "Reserved";
                    row.ri_arn = arn.clone();
                    row.ri_effective = Some((amount * eff_rate).round_dp(10));
                    row.description = format!("{} reserved instance applied", r.usage_type);
                    ri_used_hours[i] += amount;
                }
                Coverage::SavingsPlan => {
                    let eff = (public * d("0.72")).round_dp(10);
                    row.item_type = "SavingsPlanCoveredUsage";
                    row.sp_arn = fleet.savings_plan_arn.clone();
                    row.sp_effective = Some(eff);
                    row.description = format!("{} covered by Compute Savings Plan", r.usage_type);
                    sp_used += eff;
                    let negation = AwsRow {
                        item_type: "SavingsPlanNegation",
                        cost: -public,
                        rate: -r.rate,
                        public_cost: Decimal::ZERO,
                        sp_effective: None,
                        description: format!(
                            "SavingsPlanNegation used by AccountId : {} and UsageSku : {}",
                            r.account, r.usage_type
                        ),
                        account: row.account.clone(),
                        start: row.start,
                        end: row.end,
                        product_code: row.product_code.clone(),
                        product_name: row.product_name.clone(),
                        usage_type: row.usage_type.clone(),
                        operation: row.operation.clone(),
                        resource_id: row.resource_id.clone(),
                        amount: row.amount,
                        region: row.region.clone(),
                        location: row.location.clone(),
                        term: "OnDemand",
                        unit: row.unit.clone(),
                        sp_arn: row.sp_arn.clone(),
                        team: row.team.clone(),
                        env: row.env.clone(),
                        ..Default::default()
                    };
                    rows.push(row);
                    rows.push(negation);
                    continue;
                }
            }
            rows.push(row);
        }
        // The runaway auto-scaling group: 14 c5.4xlarge instances for three days in one account.
        if (ymd((2026, 8, 14))..=ymd((2026, 8, 16))).contains(&day) {
            for k in 0..14 {
                let rate = d("0.68");
                let amount = if day == ymd((2026, 8, 14)) { d("17") } else { d("24") };
                rows.push(AwsRow {
                    item_type: "Usage",
                    account: fleet.resources[40].account.clone(),
                    start: day,
                    end: day + Duration::days(1),
                    product_code: "AmazonEC2".into(),
                    product_name: "Amazon Elastic Compute Cloud".into(),
                    usage_type: "BoxUsage:c5.4xlarge".into(),
                    operation: "RunInstances".into(),
                    resource_id: format!("i-0runaway{k:08x}"),
                    amount,
                    rate,
                    cost: amount * rate,
                    description: "$0.68 per On Demand Linux c5.4xlarge Instance Hour".into(),
                    region: "us-east-1".into(),
                    location: "US East (N. Virginia)".into(),
                    public_cost: amount * rate,
                    term: "OnDemand",
                    unit: "Hrs".into(),
                    team: "ml".into(),
                    env: "staging".into(),
                    ..Default::default()
                });
            }
        }
        if restated && (ymd((2026, 11, 18))..=ymd((2026, 11, 20))).contains(&day) {
            // Late-arriving inter-region transfer that the first November delivery did not have yet.
            let amount = d("1840.5");
            rows.push(AwsRow {
                item_type: "Usage",
                account: fleet.resources[0].account.clone(),
                start: day,
                end: day + Duration::days(1),
                product_code: "AWSDataTransfer".into(),
                product_name: "AWS Data Transfer".into(),
                usage_type: "USE1-EUW1-AWS-Out-Bytes".into(),
                operation: "".into(),
                amount,
                rate: d("0.02"),
                cost: amount * d("0.02"),
                description: "$0.02 per GB - US East (N. Virginia) data transfer to EU (Ireland)".into(),
                region: "us-east-1".into(),
                location: "US East (N. Virginia)".into(),
                public_cost: amount * d("0.02"),
                term: "OnDemand",
                unit: "GB".into(),
                ..Default::default()
            });
        }
    }
    // Monthly fees are dated on the first day of the period, as AWS does.
    let hours_in_month = Decimal::from((next - month).num_days() * 24);
    for (i, (arn, eff_rate)) in fleet.reservations.iter().enumerate() {
        let fee = (hours_in_month * eff_rate).round_dp(10);
        let used_share = (ri_used_hours[i] * eff_rate).round_dp(10);
        let unused =
            if last == next - Duration::days(1) { (fee - used_share).max(Decimal::ZERO) } else { Decimal::ZERO };
        rows.push(AwsRow {
            item_type: "RIFee",
            account: AWS_PAYER.into(),
            start: month,
            end: next,
            product_code: "AmazonEC2".into(),
            product_name: "Amazon Elastic Compute Cloud".into(),
            usage_type: "HeavyUsage:reserved".into(),
            operation: "RunInstances".into(),
            amount: hours_in_month,
            rate: *eff_rate,
            cost: fee,
            description: format!("USD {eff_rate} hourly fee per reserved instance"),
            region: "us-east-1".into(),
            location: "US East (N. Virginia)".into(),
            term: "Reserved",
            unit: "Hrs".into(),
            ri_arn: arn.clone(),
            ri_unused: Some(unused),
            ..Default::default()
        });
    }
    let commitment = (hours_in_month * fleet.savings_plan_hourly).round_dp(10);
    rows.push(AwsRow {
        item_type: "SavingsPlanRecurringFee",
        account: AWS_PAYER.into(),
        start: month,
        end: next,
        product_code: "ComputeSavingsPlans".into(),
        product_name: "Savings Plans for AWS Compute usage".into(),
        usage_type: "ComputeSP:1yrNoUpfront".into(),
        operation: "".into(),
        amount: hours_in_month,
        rate: fleet.savings_plan_hourly,
        cost: commitment,
        description: "1 year No Upfront Compute Savings Plan".into(),
        term: "",
        unit: "Hrs".into(),
        sp_arn: fleet.savings_plan_arn.clone(),
        sp_total: Some(commitment),
        sp_used: Some(sp_used.min(commitment)),
        ..Default::default()
    });
    if month == ymd((2026, 3, 1)) {
        rows.push(AwsRow {
            item_type: "Credit",
            account: fleet.resources[0].account.clone(),
            start: month,
            end: next,
            product_code: "AmazonEC2".into(),
            product_name: "Amazon Elastic Compute Cloud".into(),
            usage_type: "Credit".into(),
            amount: Decimal::ONE,
            cost: d("-2500"),
            description: "AWS Activate credit".into(),
            ..Default::default()
        });
    }
    rows
}

fn write_aws_assembly(
    root: &Path,
    month: NaiveDate,
    rows: &[AwsRow],
    assembly: &str,
    final_invoice: Option<&str>,
) -> Result<()> {
    let next = valdrix_core::time::next_month_start(month);
    let period = format!("{}-{}", month.format("%Y%m%d"), next.format("%Y%m%d"));
    let report = "valdrix-demo";
    let dir = root.join(report).join(&period).join(assembly);
    std::fs::create_dir_all(&dir)?;
    let data = dir.join(format!("{report}-1.csv.gz"));
    let f = std::fs::File::create(&data).with_context(|| format!("creating {}", data.display()))?;
    let mut w = csv::Writer::from_writer(GzEncoder::new(f, flate2::Compression::fast()));
    w.write_record(AWS_COLUMNS)?;
    for (i, r) in rows.iter().enumerate() {
        let tax = r.item_type == "Tax";
        w.write_record([
            format!("{assembly}-{i}"),
            format!("{}/{}", ts(r.start), ts(r.end)),
            final_invoice.unwrap_or("").to_string(),
            "AWS".into(),
            "Anniversary".into(),
            AWS_PAYER.into(),
            ts(month),
            ts(next),
            r.account.clone(),
            r.item_type.into(),
            ts(r.start),
            ts(r.end),
            r.product_code.clone(),
            r.usage_type.clone(),
            r.operation.clone(),
            r.resource_id.clone(),
            if tax { String::new() } else { r.amount.normalize().to_string() },
            "USD".into(),
            r.rate.normalize().to_string(),
            r.cost.normalize().to_string(),
            r.description.clone(),
            "Amazon Web Services, Inc.".into(),
            r.product_name.clone(),
            r.region.clone(),
            r.location.clone(),
            r.public_cost.normalize().to_string(),
            r.rate.abs().normalize().to_string(),
            r.term.into(),
            r.unit.clone(),
            r.ri_arn.clone(),
            opt(r.ri_effective),
            opt(r.ri_unused.map(|_| Decimal::ZERO)),
            opt(r.ri_unused),
            r.sp_arn.clone(),
            opt(r.sp_effective),
            opt(r.sp_total),
            opt(r.sp_used),
            r.team.clone(),
            r.env.clone(),
        ])?;
    }
    w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?.finish()?;
    let manifest = serde_json::json!({
        "assemblyId": assembly,
        "account": AWS_PAYER,
        "columns": AWS_COLUMNS.iter().map(|c| { let (cat, name) = c.split_once('/').unwrap_or(("", c)); serde_json::json!({"category": cat, "name": name}) }).collect::<Vec<_>>(),
        "charset": "UTF-8",
        "compression": "GZIP",
        "contentType": "text/csv",
        "reportName": report,
        "billingPeriod": {"start": format!("{}T000000.000Z", month.format("%Y%m%d")), "end": format!("{}T000000.000Z", next.format("%Y%m%d"))},
        "bucket": "acme-billing",
        "reportKeys": [format!("cur/{report}/{period}/{assembly}/{report}-1.csv.gz")],
    });
    let text = serde_json::to_string_pretty(&manifest)?;
    std::fs::write(dir.join(format!("{report}-Manifest.json")), &text)?;
    // The period-level manifest names the current assembly.
    std::fs::write(root.join(report).join(&period).join(format!("{report}-Manifest.json")), &text)?;
    Ok(())
}

fn with_tax(mut rows: Vec<AwsRow>, month: NaiveDate) -> Vec<AwsRow> {
    let next = valdrix_core::time::next_month_start(month);
    let mut by_code: std::collections::BTreeMap<(String, String), Decimal> = Default::default();
    for r in &rows {
        if r.item_type != "Credit" {
            *by_code.entry((r.account.clone(), r.product_code.clone())).or_default() += r.cost;
        }
    }
    for ((account, code), amount) in by_code {
        if code == "AmazonEC2" || code == "AmazonS3" || code == "AmazonRDS" {
            rows.push(AwsRow {
                item_type: "Tax",
                account,
                start: month,
                end: next,
                product_code: code.clone(),
                product_name: code.clone(),
                usage_type: String::new(),
                cost: (amount * d("0.0725")).round_dp(2),
                description: format!("Tax for product code {code}"),
                ..Default::default()
            });
        }
    }
    rows
}

// ---------------------------------------------------------------------------------------------
// Azure: EA cost details, actual cost, one CSV export per month (BOM, US dates, brace-less tags).

const AZURE_COLUMNS: &[&str] = &[
    "BillingAccountId",
    "BillingAccountName",
    "BillingPeriodStartDate",
    "BillingPeriodEndDate",
    "BillingProfileId",
    "BillingProfileName",
    "AccountName",
    "SubscriptionId",
    "SubscriptionName",
    "Date",
    "Product",
    "PartNumber",
    "MeterId",
    "MeterCategory",
    "MeterSubCategory",
    "MeterName",
    "MeterRegion",
    "Quantity",
    "EffectivePrice",
    "Cost",
    "UnitPrice",
    "BillingCurrency",
    "ResourceLocation",
    "ConsumedService",
    "ResourceId",
    "ResourceName",
    "Tags",
    "UnitOfMeasure",
    "ResourceGroup",
    "ReservationId",
    "ReservationName",
    "ChargeType",
    "Frequency",
    "PublisherType",
    "PayGPrice",
    "PricingModel",
    "benefitId",
    "benefitName",
];

struct AzureResource {
    sub: (String, String),
    product: &'static str,
    category: &'static str,
    subcategory: &'static str,
    meter: &'static str,
    meter_id: String,
    consumed: &'static str,
    rtype: &'static str,
    name: String,
    group: String,
    unit: &'static str,
    price: Decimal,
    daily_qty: f64,
    reserved: bool,
    tags: Option<(&'static str, &'static str)>,
}

fn azure_fleet(rng: &mut Rng) -> Vec<AzureResource> {
    let subs: Vec<(String, String)> =
        ["prod-core", "prod-data", "staging", "dev-sandbox", "analytics", "shared-services"]
            .iter()
            .map(|n| (rng.uuid(), n.to_string()))
            .collect();
    let mut out = Vec::new();
    for (si, sub) in subs.iter().enumerate() {
        for k in 0..(3 + rng.below(4)) {
            let tags = tags_for(rng);
            out.push(AzureResource {
                sub: sub.clone(),
                product: "Virtual Machines Dv3/DSv3 Series - D4 v3/D4s v3 - US East",
                category: "Virtual Machines",
                subcategory: "Dv3/DSv3 Series",
                meter: "D4 v3/D4s v3",
                meter_id: "1c6a4e1d-2b7f-4f0e-9d1a-6f7c1a0e3b55".into(),
                consumed: "Microsoft.Compute",
                rtype: "virtualMachines",
                name: format!("vm-{}-{k}", sub.1),
                group: format!("rg-{}", sub.1),
                unit: "1 Hour",
                price: d("0.192"),
                daily_qty: 24.0,
                reserved: si == 0 && k < 2,
                tags,
            });
            out.push(AzureResource {
                sub: sub.clone(),
                product: "Premium SSD Managed Disks - P10 - US East",
                category: "Storage",
                subcategory: "Premium SSD Managed Disks",
                meter: "P10 Disks",
                meter_id: "b5a7a9b1-8c1d-4a51-93d7-2c1e5d1f8a10".into(),
                consumed: "Microsoft.Compute",
                rtype: "disks",
                name: format!("vm-{}-{k}_OsDisk", sub.1),
                group: format!("rg-{}", sub.1),
                unit: "1/Month",
                price: d("19.71"),
                daily_qty: 1.0 / 30.0,
                reserved: false,
                tags,
            });
        }
        out.push(AzureResource {
            sub: sub.clone(),
            product: "Blob Storage - Hot LRS - US East",
            category: "Storage",
            subcategory: "Tiered Block Blob",
            meter: "Hot LRS Data Stored",
            meter_id: "a1b2c3d4-0000-4e00-9000-00000000b10b".into(),
            consumed: "Microsoft.Storage",
            rtype: "storageAccounts",
            name: format!("st{}{}", sub.1.replace('-', ""), rng.hex(4)),
            group: format!("rg-{}", sub.1),
            unit: "1 GB/Month",
            price: d("0.0184"),
            daily_qty: (5_000 + 500 * rng.below(30)) as f64 / 30.0,
            reserved: false,
            tags: tags_for(rng),
        });
        if si % 2 == 0 {
            out.push(AzureResource {
                sub: sub.clone(),
                product: "SQL Database Single vCore - General Purpose - Compute Gen5 - US East",
                category: "SQL Database",
                subcategory: "Single General Purpose - Compute Gen5",
                meter: "vCore",
                meter_id: "c0ffee00-1111-4222-8333-444455556666".into(),
                consumed: "Microsoft.Sql",
                rtype: "servers",
                name: format!("sql-{}", sub.1),
                group: format!("rg-{}", sub.1),
                unit: "1 Hour",
                price: d("0.5044"),
                daily_qty: 48.0,
                reserved: false,
                tags: tags_for(rng),
            });
        }
    }
    out
}

fn azure_month(
    fleet: &[AzureResource],
    month: NaiveDate,
    through: NaiveDate,
    seed: u64,
    reservation: &str,
) -> Vec<Vec<String>> {
    let mut rng = Rng::new(seed ^ 0xA2u64 ^ (month.num_days_from_ce() as u64) << 8);
    let next = valdrix_core::time::next_month_start(month);
    let last = through.min(next - Duration::days(1));
    let us = |d: NaiveDate| d.format("%m/%d/%Y").to_string();
    let mut rows = Vec::new();
    let account = "8611537";
    for day in days(month, last) {
        for r in fleet {
            let env = r.tags.map(|t| t.1);
            let mut qty = r.daily_qty * if r.unit == "1 Hour" { 1.0 } else { shape(day, env, &mut rng) };
            if r.rtype == "storageAccounts" && r.sub.1 == "analytics" && day >= ymd((2026, 10, 9)) {
                qty *= 3.2; // someone switched the analytics lake to geo-redundant replication
            }
            let qty = dec(qty, 6);
            let cost = if r.reserved { Decimal::ZERO } else { (qty * r.price).round_dp(10) };
            let rid = format!(
                "/subscriptions/{}/resourceGroups/{}/providers/{}/{}/{}",
                r.sub.0, r.group, r.consumed, r.rtype, r.name
            );
            let tags = r.tags.map(|(t, e)| format!("\"team\": \"{t}\",\"env\": \"{e}\"")).unwrap_or_default();
            rows.push(vec![
                account.into(),
                "Acme Corp".into(),
                us(month),
                us(next - Duration::days(1)),
                account.into(),
                "Acme Corp".into(),
                "Platform Team".into(),
                r.sub.0.clone(),
                r.sub.1.clone(),
                us(day),
                r.product.into(),
                "AAA-00001".into(),
                r.meter_id.clone(),
                r.category.into(),
                r.subcategory.into(),
                r.meter.into(),
                "US East".into(),
                qty.normalize().to_string(),
                if r.reserved { "0".into() } else { r.price.to_string() },
                cost.normalize().to_string(),
                r.price.to_string(),
                "USD".into(),
                "eastus".into(),
                r.consumed.into(),
                rid,
                r.name.clone(),
                tags,
                r.unit.into(),
                r.group.clone(),
                if r.reserved { reservation.rsplit('/').next().unwrap_or("").into() } else { String::new() },
                if r.reserved { "VM_RI_D4v3".into() } else { String::new() },
                "Usage".into(),
                "UsageBased".into(),
                "Azure".into(),
                r.price.to_string(),
                if r.reserved { "Reservation".into() } else { "OnDemand".into() },
                if r.reserved { reservation.into() } else { String::new() },
                if r.reserved { "VM_RI_D4v3".into() } else { String::new() },
            ]);
        }
    }
    // The reservation's monthly payment, billed on the first day of the period.
    rows.push(vec![
        account.into(),
        "Acme Corp".into(),
        us(month),
        us(next - Duration::days(1)),
        account.into(),
        "Acme Corp".into(),
        "Platform Team".into(),
        fleet[0].sub.0.clone(),
        fleet[0].sub.1.clone(),
        us(month),
        "Reserved VM Instance, Standard_D4s_v3, US East, 1 Year".into(),
        "AAA-RI001".into(),
        String::new(),
        "Virtual Machines".into(),
        "Reservation".into(),
        "D4s v3".into(),
        "US East".into(),
        "1".into(),
        "183.96".into(),
        "183.96".into(),
        "183.96".into(),
        "USD".into(),
        "eastus".into(),
        "Microsoft.Capacity".into(),
        String::new(),
        String::new(),
        String::new(),
        "1 Hour".into(),
        String::new(),
        reservation.rsplit('/').next().unwrap_or("").into(),
        "VM_RI_D4v3".into(),
        "Purchase".into(),
        "Recurring".into(),
        "Azure".into(),
        "0".into(),
        "Reservation".into(),
        reservation.into(),
        "VM_RI_D4v3".into(),
    ]);
    rows
}

fn write_azure(path: &Path, rows: &[Vec<String>]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    f.write_all("\u{feff}".as_bytes())?;
    let mut w = csv::Writer::from_writer(f);
    w.write_record(AZURE_COLUMNS)?;
    for r in rows {
        w.write_record(r)?;
    }
    w.flush()?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// GCP: detailed billing export as newline-delimited JSON, one file per invoice month.

struct GcpResource {
    project: String,
    service: (&'static str, &'static str),
    sku: (&'static str, &'static str),
    unit: &'static str,
    price: Decimal,
    daily_qty: f64,
    name: String,
    sud: bool,
    cud: bool,
    labels: Option<(&'static str, &'static str)>,
}

fn gcp_fleet(rng: &mut Rng) -> Vec<GcpResource> {
    let projects =
        ["web-prod", "search-prod", "ml-training", "data-lake", "payments-prod", "identity", "sandbox", "analytics-bi"];
    let mut out = Vec::new();
    for (pi, p) in projects.iter().enumerate() {
        let project = format!("acme-{p}-{}", 100 + pi * 37);
        for k in 0..(2 + rng.below(4)) {
            out.push(GcpResource {
                project: project.clone(),
                service: ("6F81-5844-456A", "Compute Engine"),
                sku: ("CF4E-A0C7-E3BF", "N2 Instance Core running in Americas"),
                unit: "hour",
                price: d("0.031611"),
                daily_qty: 8.0 * 24.0,
                name: format!("{p}-vm-{k}"),
                sud: true,
                cud: pi < 2 && k == 0,
                labels: tags_for(rng),
            });
        }
        out.push(GcpResource {
            project: project.clone(),
            service: ("95FF-2EF5-5EA1", "Cloud Storage"),
            sku: ("E5F0-6A5D-7BAD", "Standard Storage US Multi-region"),
            unit: "gibibyte month",
            price: d("0.026"),
            daily_qty: (3_000 + 300 * rng.below(40)) as f64 / 30.0,
            name: format!("{p}-bucket"),
            sud: false,
            cud: false,
            labels: tags_for(rng),
        });
        if pi % 2 == 1 {
            out.push(GcpResource {
                project: project.clone(),
                service: ("24E6-581D-38E5", "BigQuery"),
                sku: ("3362-E469-6BEF", "Analysis"),
                unit: "tebibyte",
                price: d("6.25"),
                daily_qty: 2.0 + 6.0 * rng.unit(),
                name: String::new(),
                sud: false,
                cud: false,
                labels: tags_for(rng),
            });
        }
        out.push(GcpResource {
            project,
            service: ("E505-1604-58F8", "Networking"),
            sku: ("9DE9-9092-B3BC", "Network Internet Egress from Americas to Americas"),
            unit: "gibibyte",
            price: d("0.12"),
            daily_qty: 40.0 + 60.0 * rng.unit(),
            name: String::new(),
            sud: false,
            cud: false,
            labels: None,
        });
    }
    out
}

fn gcp_month(fleet: &[GcpResource], month: NaiveDate, through: NaiveDate, seed: u64) -> Vec<String> {
    let mut rng = Rng::new(seed ^ 0x6C ^ (month.num_days_from_ce() as u64) << 16);
    let next = valdrix_core::time::next_month_start(month);
    let last = through.min(next - Duration::days(1));
    let invoice_month = month.format("%Y%m").to_string();
    let mut lines = Vec::new();
    let labels = |l: Option<(&str, &str)>| match l {
        Some((t, e)) => {
            serde_json::json!([{"key": "team", "value": t}, {"key": "env", "value": e}])
        }
        None => serde_json::json!([]),
    };
    for day in days(month, last) {
        for r in fleet {
            let mut qty = r.daily_qty * shape(day, r.labels.map(|l| l.1), &mut rng);
            if r.service.1 == "BigQuery" && day == ymd((2026, 9, 22)) && r.project.contains("ml-training") {
                qty += 760.0; // an unpartitioned query scanned the whole event table, many times
            }
            let qty = dec(qty, 6);
            let cost = (qty * r.price).round_dp(6);
            let mut credits = Vec::new();
            if r.sud && day.day() > 7 {
                credits.push(serde_json::json!({"name": "Sustained Usage Discount", "amount": (-(cost * d("0.2"))).round_dp(6), "full_name": null, "id": "", "type": "SUSTAINED_USAGE_DISCOUNT"}));
            }
            if r.cud {
                credits.push(serde_json::json!({"name": "Committed Usage Discount: CPU", "amount": (-(cost * d("0.37"))).round_dp(6), "full_name": "Committed use discount: N2 CPU 1 year", "id": "projects/acme/regions/us-central1/commitments/cud-n2-1y", "type": "COMMITTED_USAGE_DISCOUNT"}));
            }
            if r.service.1 == "Cloud Storage" && day.day() == 1 {
                credits.push(serde_json::json!({"name": "Free Tier", "amount": d("-0.13"), "full_name": null, "id": "", "type": "FREE_TIER"}));
            }
            let start = format!("{} 00:00:00 UTC", day.format("%Y-%m-%d"));
            let end = format!("{} 00:00:00 UTC", (day + Duration::days(1)).format("%Y-%m-%d"));
            let v = serde_json::json!({
                "billing_account_id": "01A2B3-C4D5E6-F7A8B9",
                "service": {"id": r.service.0, "description": r.service.1},
                "sku": {"id": r.sku.0, "description": r.sku.1},
                "usage_start_time": start,
                "usage_end_time": end,
                "project": {"id": r.project, "number": "1234567890", "name": r.project, "labels": [], "ancestry_numbers": "/98765/1234567890/"},
                "labels": labels(r.labels),
                "system_labels": [],
                "location": {"location": "us-central1", "country": "US", "region": "us-central1", "zone": null},
                "resource": {"name": if r.name.is_empty() { serde_json::Value::Null } else { r.name.clone().into() }, "global_name": if r.name.is_empty() { serde_json::Value::Null } else { format!("//compute.googleapis.com/projects/{}/zones/us-central1-a/instances/{}", r.project, r.name).into() }},
                "export_time": format!("{} 06:12:44 UTC", (day + Duration::days(1)).format("%Y-%m-%d")),
                "cost": cost,
                "currency": "USD",
                "currency_conversion_rate": 1.0,
                "usage": {"amount": qty, "unit": r.unit, "amount_in_pricing_units": qty, "pricing_unit": r.unit},
                "credits": credits,
                "invoice": {"month": invoice_month},
                "cost_type": "regular",
            });
            lines.push(v.to_string());
        }
    }
    // The resource-based commitment fee, billed monthly as its own SKU.
    let fee = serde_json::json!({
        "billing_account_id": "01A2B3-C4D5E6-F7A8B9",
        "service": {"id": "6F81-5844-456A", "description": "Compute Engine"},
        "sku": {"id": "AA11-CUD1-N2CP", "description": "Commitment v1: N2 Cpu in Americas for 1 Year"},
        "usage_start_time": format!("{} 00:00:00 UTC", month.format("%Y-%m-%d")),
        "usage_end_time": format!("{} 00:00:00 UTC", (month + Duration::days(1)).format("%Y-%m-%d")),
        "project": {"id": fleet[0].project, "name": fleet[0].project, "labels": []},
        "labels": [], "location": {"location": "us-central1", "region": "us-central1"},
        "cost": d("1420.80"), "currency": "USD",
        "usage": {"amount": 1, "unit": "month"}, "credits": [], "invoice": {"month": invoice_month}, "cost_type": "regular",
    });
    lines.push(fee.to_string());
    lines
}

fn write_lines(path: &Path, lines: &[String]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f =
        std::io::BufWriter::new(std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?);
    for l in lines {
        writeln!(f, "{l}")?;
    }
    f.flush()?;
    Ok(())
}

/// Files of the demo, in the order they are delivered.
pub struct DemoFiles {
    /// Folder holding the exports.
    pub exports: PathBuf,
    /// Inputs of the first ingest (everything, with the preliminary November deliveries).
    pub first: Vec<PathBuf>,
}

/// Writes the dataset as it stood on 20 November 2026 (`restated = false`) or on 24 November.
fn generate(exports: &Path, seed: u64, restated: bool) -> Result<()> {
    let mut rng = Rng::new(seed);
    let aws = aws_fleet(&mut rng);
    let azure = azure_fleet(&mut rng);
    let gcp = gcp_fleet(&mut rng);
    let reservation =
        format!("/providers/Microsoft.Capacity/reservationOrders/{}/reservations/{}", rng.uuid(), rng.uuid());
    let through = if restated { ymd(END) } else { ymd(FIRST_NOVEMBER_CUTOFF) };
    let november = ymd((2026, 11, 1));
    for month in month_starts() {
        let closed = month < november;
        if restated && closed {
            continue; // closed months are not delivered again
        }
        let seed_m = seed.wrapping_add(month.num_days_from_ce() as u64);
        let rows = with_tax(aws_month(&aws, month, through, restated, seed_m), month);
        let rows = if closed { rows } else { rows.into_iter().filter(|r| r.item_type != "Tax").collect() };
        let mut arng = Rng::new(seed_m ^ if restated { 0xB } else { 0xA });
        let assembly = arng.uuid();
        let invoice =
            closed.then(|| format!("{}{:04}", 900_000_000 + month.num_days_from_ce() % 100_000, month.month()));
        write_aws_assembly(&exports.join("aws/cur"), month, &rows, &assembly, invoice.as_deref())?;
        let label = month.format("%Y-%m").to_string();
        write_azure(
            &exports.join(format!("azure/acme-ea-actual-{label}.csv")),
            &azure_month(&azure, month, through, seed_m, &reservation),
        )?;
        write_lines(
            &exports.join(format!("gcp/gcp_billing_export_resource_v1-{label}.jsonl")),
            &gcp_month(&gcp, month, through, seed_m),
        )?;
    }
    Ok(())
}

/// How to call this binary again: `valdrix` when it is on the PATH, else its path (relative to the
/// working directory when inside it, as after `cargo run`).
fn command_name() -> String {
    let Ok(exe) = std::env::current_exe() else { return "valdrix".to_string() };
    let on_path = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .any(|d| exe.parent().is_some_and(|e| std::fs::canonicalize(&d).ok().as_deref() == Some(e)))
        })
        .unwrap_or(false);
    if on_path {
        return "valdrix".to_string();
    }
    let cwd = std::env::current_dir().unwrap_or_default();
    exe.strip_prefix(&cwd).map(|p| p.display().to_string()).unwrap_or_else(|_| exe.display().to_string())
}

/// The demo's allocation rules and a candidate change to them, as YAML files.
const DEMO_RULES: &str = include_str!("../demo/allocation-rules.yaml");
const DEMO_CANDIDATE: &str = include_str!("../demo/allocation-rules-candidate.yaml");

/// Writes the demo's rule files beside the exports and saves the rules as the tenant's rule set;
/// returns the two files' paths (the rules, the candidate).
/// The next 30 days' forecast of the total, and the anomalies since June with their causes.
fn forecast_and_anomalies(store: &dyn valdrix_store::Store, tenant: &TenantId) -> Result<()> {
    use valdrix_analytics::{anomaly::Thresholds, forecast::Options, spend};
    let now = chrono::Utc::now();
    let policy = valdrix_store::TrustPolicy::default();
    let q = spend::SpendQuery::default();
    for c in spend::forecast_spend(store, tenant, &q, spend::Horizon::Days(30), &Options::new(30), now, &policy)? {
        let f = &c.total;
        let sum = |pick: &dyn Fn(&valdrix_analytics::forecast::Point) -> f64| f.points.iter().map(pick).sum::<f64>();
        let money = |v: f64| money_for_people(Decimal::from_f64_retain(v).unwrap_or_default());
        println!(
            "\nThe next 30 days (from {}): {} {} (80 %: {} to {}), model {}, backtest MAPE {}{}",
            f.points.first().map_or(String::new(), |p| p.date.to_string()),
            c.currency,
            money(sum(&|p| p.yhat)),
            money(sum(&|p| p.intervals[0].lo)),
            money(sum(&|p| p.intervals[0].hi)),
            f.model,
            f.accuracy.as_ref().and_then(|a| a.mape).map_or("-".into(), |m| format!("{:.1} %", m * 100.0)),
            if f.low_confidence { " (low confidence)" } else { "" }
        );
    }
    let check = spend::CheckOptions::new(Some(ymd((2026, 6, 1))), Thresholds::default());
    let found = spend::detect_spend(store, tenant, &q, &check, now, &policy)?.anomalies;
    println!("Anomalies since June: {}", found.len());
    for a in &found {
        let causes: Vec<String> =
            a.root_causes.iter().filter(|c| c.share >= 0.5).map(|c| format!("{} {}", c.dimension, c.value)).collect();
        println!(
            "  {} to {}: {} {} over the expected {} ({}); from {}",
            a.anomaly.start,
            a.anomaly.end,
            a.currency,
            money_for_people(Decimal::from_f64_retain(a.anomaly.impact).unwrap_or_default().round_dp(2)),
            money_for_people(Decimal::from_f64_retain(a.anomaly.expected).unwrap_or_default().round_dp(2)),
            a.anomaly.severity.as_str(),
            causes.join(", ")
        );
    }
    Ok(())
}

/// Keeps the anomaly monitor a team would start with: each service, the default thresholds.
fn demo_monitor(store: &mut dyn valdrix_store::Store, tenant: &TenantId) -> Result<()> {
    let monitor = valdrix_store::forecasts::AnomalyMonitor {
        by: "service".into(),
        ..valdrix_analytics::monitor::with_defaults("services", "valdrix demo")
    };
    valdrix_analytics::monitor::check(&monitor)?;
    store.save_anomaly_monitor(tenant, &monitor)?;
    println!("\nKept the anomaly monitor `services`: each of the top 10 services, 100 and 10 % over expected.");
    Ok(())
}

fn demo_rules(dir: &Path, store: &mut dyn valdrix_store::Store, tenant: &TenantId) -> Result<(PathBuf, PathBuf)> {
    let rules = dir.join("allocation-rules.yaml");
    let candidate = dir.join("allocation-rules-candidate.yaml");
    std::fs::write(&rules, DEMO_RULES).with_context(|| format!("writing {}", rules.display()))?;
    std::fs::write(&candidate, DEMO_CANDIDATE).with_context(|| format!("writing {}", candidate.display()))?;
    crate::allocate::import_rules(store, tenant, &rules, "demo", "the demo's rule set")?;
    Ok((rules, candidate))
}

/// Generates the dataset under `dir/exports`, ingests it into a fresh store at
/// `dir/valdrix-demo.sqlite` (or `database_url`), delivers a restated November, and prints what
/// to try next; returns the database URL it used.
pub fn run(dir: &Path, seed: u64, database_url: Option<&str>, tenant: &TenantId) -> Result<String> {
    let exports = dir.join("exports");
    if exports.exists() {
        std::fs::remove_dir_all(&exports).with_context(|| format!("clearing {}", exports.display()))?;
    }
    std::fs::create_dir_all(&exports)?;
    let db = match database_url {
        Some(u) => u.to_string(),
        None => {
            let p = dir.join("valdrix-demo.sqlite");
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let f = PathBuf::from(format!("{}{suffix}", p.display()));
                if f.exists() {
                    std::fs::remove_file(&f).with_context(|| format!("removing {}", f.display()))?;
                }
            }
            p.to_string_lossy().into_owned()
        }
    };
    let t0 = std::time::Instant::now();
    println!("Generating twelve months of AWS, Azure and GCP billing exports in {} ...", exports.display());
    generate(&exports, seed, false)?;
    let mut store = valdrix_store::open(&db).with_context(|| format!("opening {db}"))?;
    let display = |p: &Path| p.strip_prefix(dir).unwrap_or(p).display().to_string();
    let opts = IngestOptions::default();
    let first = ingest_paths(store.as_mut(), tenant, std::slice::from_ref(&exports), &display, &opts, &mut |_, _| {})?;
    let rows: u64 = first.iter().map(|o| if let UnitOutcome::Written(r) = o { r.rows_read } else { 0 }).sum();
    println!("Ingested {} deliveries ({rows} line items) through the AWS CUR, Azure and GCP readers.", first.len());

    println!(
        "November is still open: a newer delivery arrives with four more days and late data for 18-20 November ..."
    );
    generate(&exports, seed, true)?;
    let second = ingest_paths(store.as_mut(), tenant, std::slice::from_ref(&exports), &display, &opts, &mut |_, _| {})?;
    for o in &second {
        if let UnitOutcome::Written(r) = o {
            let c = &r.changes;
            println!(
                "  run {}: {}: {} records restated, {} added late, {} removed (kept at zero), {} alert(s)",
                r.run_id, r.source_uri, c.restated, c.added_late, c.removed, c.alerts
            );
        }
    }
    let unchanged = second.iter().filter(|o| matches!(o, UnitOutcome::Unchanged { .. })).count();
    println!("  {unchanged} closed-month deliveries were identical and changed nothing.");

    println!();
    let totals = store.costs(tenant, &CostQuery { group_by: vec![Dimension::Provider], ..Default::default() })?;
    for r in &totals {
        println!("  {:<13} {} {:>16}", r.keys[0].as_deref().unwrap_or("-"), r.currency, money_for_people(r.amount));
    }
    let untagged = store.costs(
        tenant,
        &CostQuery {
            filters: vec![valdrix_store::Filter {
                dimension: Dimension::Tag("team".into()),
                values: vec![String::new()],
            }],
            ..Default::default()
        },
    )?;
    if let Some(u) = untagged.first() {
        println!("  {:<13} {} {:>16}  (no team tag)", "untagged", u.currency, money_for_people(u.amount));
    }

    let (rules, candidate) = demo_rules(dir, store.as_mut(), tenant)?;
    let month = "2026-10";
    let october = CostQuery { from: Some(ymd((2026, 10, 1))), to: Some(ymd((2026, 11, 1))), ..Default::default() };
    let records = crate::allocate::read_records(store.as_ref(), tenant, &october)?;
    let loaded = crate::allocate::load_rules(store.as_ref(), tenant, &crate::allocate::RuleSource::Stored(None))?;
    let allocation = crate::allocate::run(&records, &loaded, false)?;
    println!("\nOctober by team ({}, from {}):", loaded.label, display(&rules));
    let totals = allocation.totals();
    let whole: Decimal = totals.values().map(|t| t.effective()).sum();
    let mut rows: Vec<_> = totals.iter().collect();
    rows.sort_by_key(|((t, _), v)| (t == valdrix_analytics::allocation::UNALLOCATED, std::cmp::Reverse(v.effective())));
    for ((target, currency), t) in rows.into_iter().filter(|(_, t)| !t.effective().is_zero()) {
        let share = if whole.is_zero() { Decimal::ZERO } else { t.effective() * Decimal::from(100) / whole };
        println!(
            "  {target:<13} {currency} {:>16}  {:>5}%  (shared costs {})",
            money_for_people(t.effective()),
            share.round_dp(1),
            money_for_people(t.shared_effective),
        );
    }
    demo_monitor(store.as_mut(), tenant)?;
    forecast_and_anomalies(store.as_ref(), tenant)?;

    println!("\nDone in {:.1} s. The demo database is {db}", t0.elapsed().as_secs_f64());
    let flag = format!("{} --database-url {db}", command_name());
    println!("\nTry next:");
    println!("  {flag} costs --group-by provider,service --from 2026-10-01 --to 2026-11-01");
    println!("  {flag} costs --group-by tag:team --metric effective");
    println!("  {flag} costs --group-by day --filter service='Amazon Elastic Compute Cloud' --from 2026-08-10 --to 2026-08-20");
    println!("  {flag} costs --group-by sub-account --filter tag:team= --limit 10");
    println!("  {flag} costs --group-by month --filter provider=Microsoft --format csv");
    println!("  {flag} runs");
    println!("  {flag} audit                      # what each delivery changed; then: audit --run N");
    println!("  {flag} alerts");
    println!("  {flag} period list");
    println!("  {flag} costs records --from 2026-11-19 --to 2026-11-20 --limit 5   # then: costs history RECORD");
    println!("  {flag} export focus --out demo-focus.parquet");
    println!("  {flag} allocate --month {month}                  # teams, shared costs, the Unallocated bucket");
    println!("  {flag} allocate --month {month} --explain ml     # every contribution behind a figure");
    println!("  {flag} allocate --month {month} --unallocated    # what lacks a team, by service and resource");
    println!("  {flag} allocate simulate --candidate {} --month {month}", candidate.display());
    println!("  {flag} allocate export --from 2026-06-01 --to 2026-11-01 --redistribute --out chargeback.csv");
    println!("  {flag} allocate rules history                    # then: allocate rules export");
    println!("  {flag} forecast --by service                     # 30 days per service, with each backtest");
    println!("  {flag} forecast --months 3                       # month by month");
    println!("  {flag} anomalies --from 2026-06-01 --by service  # then: --expected 2026-08-14..2026-08-16");
    println!("  {flag} anomalies --monitors                      # every kept monitor: what a daily job runs");
    Ok(db)
}
