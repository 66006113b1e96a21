//! AWS: legacy CUR, daily granularity, CSV gzip, S3 delivery layout with manifests.

use super::*;

pub(super) const AWS_PAYER: &str = "210987654321";

pub(super) struct AwsResource {
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
pub(super) enum Coverage {
    OnDemand,
    Reserved(usize),
    SavingsPlan,
}

pub(super) struct AwsFleet {
    resources: Vec<AwsResource>,
    reservations: Vec<(String, Decimal)>,
    savings_plan_arn: String,
    savings_plan_hourly: Decimal,
}

pub(super) fn aws_fleet(rng: &mut Rng) -> AwsFleet {
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

pub(super) const AWS_COLUMNS: &[&str] = &[
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
pub(super) struct AwsRow {
    pub(super) item_type: &'static str,
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

pub(super) fn ts(d: NaiveDate) -> String {
    format!("{}T00:00:00Z", d.format("%Y-%m-%d"))
}

pub(super) fn opt(v: Option<Decimal>) -> String {
    v.map(|d| d.normalize().to_string()).unwrap_or_default()
}

/// One month of AWS line items up to and including `through`. `restated` raises November's
/// late-arriving compute usage, as a newer delivery of the same month does.
pub(super) fn aws_month(
    fleet: &AwsFleet,
    month: NaiveDate,
    through: NaiveDate,
    restated: bool,
    seed: u64,
) -> Vec<AwsRow> {
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

pub(super) fn write_aws_assembly(
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

pub(super) fn with_tax(mut rows: Vec<AwsRow>, month: NaiveDate) -> Vec<AwsRow> {
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
