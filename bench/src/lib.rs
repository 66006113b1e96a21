//! A generator of AWS CUR 2.0 (Data Exports) Parquet files of any size.
//!
//! The shape follows the real AWS workshop CUR (October 2018, 119,307 rows): hourly line items
//! over one month; about 5 distinct resources per 1,000 rows; 16 services led by EC2 and S3;
//! 7 % reservation-covered usage with a handful of monthly RIFee rows; 70 % of rows without a
//! cost-center tag; most costs tiny with a long tail; rows in usage-time order, as in the real file
//! (each day's line items together, resources in random order within an hour). Accounts scale with size (one per 60,000
//! rows, at least two), so large files also have many accounts. The same seed gives the same file.

use anyhow::Result;
use arrow_array::builder::{Float64Builder, MapBuilder, StringBuilder, TimestampMillisecondBuilder};
use arrow_array::ArrayRef;
use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use std::path::Path;
use std::sync::Arc;

/// SplitMix64: the generators' random numbers (the same seed, the same file).
pub use valdrix_core::rng::Rng;

/// (product code, product name, usage type, operation, unit, rate per unit, typical hourly amount, weight)
type Service = (&'static str, &'static str, &'static str, &'static str, &'static str, f64, f64, u32);

const SERVICES: &[Service] = &[
    ("AmazonEC2", "Amazon Elastic Compute Cloud", "EBS:VolumeUsage.gp2", "CreateVolume-Gp2", "GB-Mo", 0.1, 0.011, 20),
    ("AmazonEC2", "Amazon Elastic Compute Cloud", "BoxUsage:t2.micro", "RunInstances", "Hrs", 0.0116, 1.0, 7),
    ("AmazonEC2", "Amazon Elastic Compute Cloud", "BoxUsage:c5.large", "RunInstances", "Hrs", 0.085, 1.0, 6),
    ("AmazonEC2", "Amazon Elastic Compute Cloud", "BoxUsage:m5.xlarge", "RunInstances", "Hrs", 0.192, 1.0, 4),
    ("AmazonEC2", "Amazon Elastic Compute Cloud", "DataTransfer-Out-Bytes", "RunInstances", "GB", 0.09, 0.05, 6),
    ("AmazonS3", "Amazon Simple Storage Service", "Requests-Tier2", "GetObject", "Requests", 0.0000004, 120.0, 10),
    ("AmazonS3", "Amazon Simple Storage Service", "TimedStorage-ByteHrs", "StandardStorage", "GB-Mo", 0.023, 0.3, 10),
    ("AmazonS3", "Amazon Simple Storage Service", "Requests-Tier1", "PutObject", "Requests", 0.000005, 40.0, 10),
    ("AmazonGuardDuty", "Amazon GuardDuty", "USE1-PaidEventsAnalyzed", "none", "Events", 0.000004, 800.0, 7),
    (
        "AmazonRDS",
        "Amazon Relational Database Service",
        "InstanceUsage:db.t2.small",
        "CreateDBInstance:0002",
        "Hrs",
        0.034,
        1.0,
        6,
    ),
    ("AWSCloudTrail", "AWS CloudTrail", "USE1-PaidEventsRecorded", "None", "Events", 0.000002, 300.0, 4),
    ("AmazonCloudWatch", "AmazonCloudWatch", "CW:Requests", "GetMetricData", "Requests", 0.00001, 50.0, 3),
    ("AWSLambda", "AWS Lambda", "Lambda-GB-Second", "Invoke", "Lambda-GB-Second", 0.0000166667, 300.0, 2),
    (
        "AmazonDynamoDB",
        "Amazon DynamoDB",
        "ReadCapacityUnit-Hrs",
        "CommittedThroughput",
        "ReadCapacityUnit-Hrs",
        0.00013,
        5.0,
        2,
    ),
    (
        "AWSQueueService",
        "Amazon Simple Queue Service",
        "Requests-RBP",
        "GetQueueAttributes",
        "Requests",
        0.0000004,
        100.0,
        1,
    ),
    ("AmazonSNS", "Amazon Simple Notification Service", "Requests-Tier1", "Publish", "Requests", 0.0000005, 10.0, 1),
];

const REGIONS: &[(&str, &str)] =
    &[("us-east-1", "US East (N. Virginia)"), ("eu-west-2", "EU (London)"), ("us-west-2", "US West (Oregon)")];

struct Resource {
    account: usize,
    service: usize,
    id: String,
    region: usize,
    cost_center: Option<u8>,
    reserved: Option<usize>,
}

fn schema() -> Arc<Schema> {
    let s = |n: &str| Field::new(n, DataType::Utf8, true);
    let f = |n: &str| Field::new(n, DataType::Float64, true);
    let t = |n: &str| Field::new(n, DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), true);
    let map = |n: &str| {
        let entries = Field::new(
            "entries",
            DataType::Struct(
                vec![Field::new("key", DataType::Utf8, false), Field::new("value", DataType::Utf8, true)].into(),
            ),
            false,
        );
        Field::new(n, DataType::Map(Arc::new(entries), false), true)
    };
    Arc::new(Schema::new(vec![
        s("bill_bill_type"),
        s("bill_billing_entity"),
        t("bill_billing_period_end_date"),
        t("bill_billing_period_start_date"),
        s("bill_invoice_id"),
        s("bill_payer_account_id"),
        s("bill_payer_account_name"),
        map("cost_category"),
        map("discount"),
        s("identity_line_item_id"),
        s("identity_time_interval"),
        s("line_item_availability_zone"),
        f("line_item_blended_cost"),
        s("line_item_currency_code"),
        s("line_item_legal_entity"),
        s("line_item_line_item_description"),
        s("line_item_line_item_type"),
        f("line_item_net_unblended_cost"),
        s("line_item_operation"),
        s("line_item_product_code"),
        s("line_item_resource_id"),
        f("line_item_unblended_cost"),
        s("line_item_unblended_rate"),
        s("line_item_usage_account_id"),
        s("line_item_usage_account_name"),
        f("line_item_usage_amount"),
        t("line_item_usage_end_date"),
        t("line_item_usage_start_date"),
        s("line_item_usage_type"),
        f("pricing_public_on_demand_cost"),
        s("pricing_public_on_demand_rate"),
        s("pricing_term"),
        s("pricing_unit"),
        map("product"),
        s("product_instance_type"),
        s("product_product_family"),
        s("product_region_code"),
        s("product_servicecode"),
        s("product_sku"),
        f("reservation_effective_cost"),
        s("reservation_reservation_a_r_n"),
        f("reservation_unused_amortized_upfront_fee_for_billing_period"),
        f("reservation_unused_recurring_fee"),
        map("resource_tags"),
        f("savings_plan_savings_plan_effective_cost"),
        s("savings_plan_savings_plan_a_r_n"),
        f("savings_plan_total_commitment_to_date"),
        f("savings_plan_used_commitment"),
    ]))
}

fn round10(v: f64) -> f64 {
    (v * 1e10).round() / 1e10
}

/// Writes a CUR 2.0 Parquet file of `rows` line items for October 2018 (plus RIFee rows), in row
/// groups of 1,048,576 rows.
pub fn generate_cur2(path: &Path, rows: u64, seed: u64) -> Result<u64> {
    generate_cur2_with_row_groups(path, rows, seed, 1 << 20)
}

/// [`generate_cur2`] with row groups of `row_group_rows` rows.
pub fn generate_cur2_with_row_groups(path: &Path, rows: u64, seed: u64, row_group_rows: usize) -> Result<u64> {
    generate_cur2_restated(path, rows, seed, row_group_rows, 0)
}

/// Whether a resource's lines of one day are restated, for `per_mille` in 1000 of the
/// (resource, day) pairs: a hash of the pair, so the choice does not disturb the generator's
/// random sequence and the restated file differs from the original only in those costs.
fn restated(resource: usize, day: i64, per_mille: u32) -> bool {
    let mut h =
        Rng::from_state((resource as u64).wrapping_mul(0x1000_0000_01B3) ^ (day as u64).wrapping_mul(0x9E37_79B9));
    h.next_u64() % 1000 < u64::from(per_mille)
}

/// [`generate_cur2_with_row_groups`] as a later delivery would restate it: the lines of
/// `per_mille` in 1000 (resource, day) pairs cost 3 % more, everything else is the same file
/// (same seed, same lines). Since a daily record is a resource's lines of a day, about that share
/// of the records is restated.
pub fn generate_cur2_restated(path: &Path, rows: u64, seed: u64, row_group_rows: usize, per_mille: u32) -> Result<u64> {
    generate_cur2_month(path, rows, seed, row_group_rows, per_mille, &BillMonth::new(2018, 10))
}

/// The billing month a generated file covers.
#[derive(Debug, Clone)]
pub struct BillMonth {
    start_ms: i64,
    end_ms: i64,
    label: String,
}

impl BillMonth {
    /// The month `year`-`month` (a calendar month, UTC).
    pub fn new(year: i32, month: u32) -> BillMonth {
        let start = chrono::NaiveDate::from_ymd_opt(year, month, 1).unwrap_or_default();
        let end = start.checked_add_months(chrono::Months::new(1)).unwrap_or(start);
        let ms = |d: chrono::NaiveDate| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc().timestamp_millis();
        BillMonth { start_ms: ms(start), end_ms: ms(end), label: format!("{}T00:00:00Z/{}T00:00:00Z", start, end) }
    }

    fn hours(&self) -> i64 {
        (self.end_ms - self.start_ms) / 3_600_000
    }
}

/// [`generate_cur2_restated`] for another billing month than October 2018.
pub fn generate_cur2_month(
    path: &Path,
    rows: u64,
    seed: u64,
    row_group_rows: usize,
    per_mille: u32,
    month: &BillMonth,
) -> Result<u64> {
    let mut rng = Rng::from_state(seed ^ 0xC0FF_EE00);
    let accounts: Vec<String> =
        (0..(rows / 60_000).max(2)).map(|i| format!("{:012}", 836_060_457_634u64 + i * 104_729)).collect();
    let total_weight: u32 = SERVICES.iter().map(|s| s.7).sum();
    let n_resources = ((rows as f64 * 0.0053) as usize).max(20);
    let reservations: Vec<String> = (0..9)
        .map(|i| format!("arn:aws:ec2:us-east-1:836060457634:reserved-instances/{:08x}-fbdc-4f9a-86f7-4b83dc6e058a", i))
        .collect();
    let resources: Vec<Resource> = (0..n_resources)
        .map(|i| {
            let mut w = rng.below(total_weight as usize) as u32;
            let mut service = 0;
            for (k, s) in SERVICES.iter().enumerate() {
                if w < s.7 {
                    service = k;
                    break;
                }
                w -= s.7;
            }
            let code = SERVICES[service].0;
            let id = match code {
                "AmazonEC2" if SERVICES[service].4 == "Hrs" => {
                    format!("i-{:017x}", rng.next_u64() >> 4)
                }
                "AmazonEC2" => format!("vol-{:017x}", rng.next_u64() >> 4),
                "AmazonS3" => format!("bucket-{i}-{:x}", rng.next_u64() >> 40),
                "AmazonRDS" => format!("arn:aws:rds:us-east-1:{}:db:db-{i}", accounts[i % accounts.len()]),
                _ if rng.unit() < 0.5 => String::new(),
                _ => {
                    format!("arn:aws:{}:us-east-1:{}:res/{i}", code.to_ascii_lowercase(), accounts[i % accounts.len()])
                }
            };
            let region = if rng.unit() < 0.85 { 0 } else { 1 + rng.below(2) };
            let cost_center = (rng.unit() < 0.3).then(|| 1 + rng.below(6) as u8);
            let reserved = (SERVICES[service].4 == "Hrs" && code == "AmazonEC2" && rng.unit() < 0.4)
                .then(|| rng.below(reservations.len()));
            Resource { account: rng.below(accounts.len()), service, id, region, cost_center, reserved }
        })
        .collect();
    let schema = schema();
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(row_group_rows))
        .build();
    let file = std::fs::File::create(path)?;
    let mut writer = ArrowWriter::try_new(file, schema.clone(), Some(props))?;
    let month_start_ms: i64 = month.start_ms;
    let month_end_ms: i64 = month.end_ms;
    let hours = month.hours();
    let batch_rows = 65_536u64;
    let mut written = 0u64;
    let mut line_no = 0u64;
    let ri_rows = 9u64.min(rows);
    while written < rows {
        let n = batch_rows.min(rows - written);
        let mut b = Builders::new(month);
        for k in 0..n {
            line_no += 1;
            let is_rifee = written + k < ri_rows;
            if is_rifee {
                let arn = &reservations[(written + k) as usize % reservations.len()];
                b.row(&Row {
                    id: line_no,
                    start_ms: month_start_ms,
                    end_ms: month_end_ms - 1000,
                    payer: &accounts[0],
                    account: &accounts[0],
                    item_type: "RIFee",
                    product: SERVICES[2],
                    region: REGIONS[0],
                    resource: "",
                    amount: hours as f64,
                    cost: round10(hours as f64 * 0.03),
                    public: 0.0,
                    term: "Reserved",
                    ri_arn: Some(arn),
                    ri_effective: None,
                    ri_unused: Some(round10(hours as f64 * 0.03 * 0.1)),
                    cost_center: None,
                });
                continue;
            }
            let resource_no = rng.below(resources.len());
            let r = &resources[resource_no];
            let svc = SERVICES[r.service];
            // Like the real export, line items progress through the month: a record's hourly
            // lines lie close together in the file (rows of one day, not of the whole month).
            let hour = ((written + k) * hours as u64 / rows) as i64;
            let start = month_start_ms + hour * 3_600_000;
            let amount = if svc.4 == "Hrs" {
                1.0
            } else {
                round10(svc.6 * (0.2 + 1.6 * rng.unit()) * (1.0 + 9.0 * rng.unit().powi(8)))
            };
            let mut public = round10(amount * svc.5);
            if per_mille > 0 && restated(resource_no, hour / 24, per_mille) {
                public = round10(public * 1.03);
            }
            let discounted = r.reserved.is_some() && rng.unit() < 0.45;
            b.row(&Row {
                id: line_no,
                start_ms: start,
                end_ms: start + 3_600_000,
                payer: &accounts[0],
                account: &accounts[r.account],
                item_type: if discounted { "DiscountedUsage" } else { "Usage" },
                product: svc,
                region: REGIONS[r.region],
                resource: &r.id,
                amount,
                cost: if discounted { 0.0 } else { public },
                public,
                term: if discounted { "Reserved" } else { "OnDemand" },
                ri_arn: if discounted { r.reserved.map(|i| reservations[i].as_str()) } else { None },
                ri_effective: discounted.then(|| round10(public * 0.62)),
                ri_unused: None,
                cost_center: r.cost_center,
            });
        }
        writer.write(&b.finish(schema.clone())?)?;
        written += n;
    }
    writer.close()?;
    Ok(written)
}

struct Row<'a> {
    id: u64,
    start_ms: i64,
    end_ms: i64,
    payer: &'a str,
    account: &'a str,
    item_type: &'a str,
    product: Service,
    region: (&'a str, &'a str),
    resource: &'a str,
    amount: f64,
    cost: f64,
    public: f64,
    term: &'a str,
    ri_arn: Option<&'a str>,
    ri_effective: Option<f64>,
    ri_unused: Option<f64>,
    cost_center: Option<u8>,
}

struct Builders {
    s: Vec<StringBuilder>,
    f: Vec<Float64Builder>,
    t: Vec<TimestampMillisecondBuilder>,
    m: Vec<MapBuilder<StringBuilder, StringBuilder>>,
    month: BillMonth,
}

// Column order in `schema()`, by kind: s = string, f = float, t = timestamp, m = map.
const ORDER: &str = "ssttsssmmsssfssssfsssfsssfttsfsssmsssssfsffmfsff";

impl Builders {
    fn new(month: &BillMonth) -> Self {
        let count = |c: char| ORDER.chars().filter(|&x| x == c).count();
        Builders {
            month: month.clone(),
            s: (0..count('s')).map(|_| StringBuilder::new()).collect(),
            f: (0..count('f')).map(|_| Float64Builder::new()).collect(),
            t: (0..count('t')).map(|_| TimestampMillisecondBuilder::new().with_timezone("UTC")).collect(),
            m: (0..count('m')).map(|_| MapBuilder::new(None, StringBuilder::new(), StringBuilder::new())).collect(),
        }
    }

    fn row(&mut self, r: &Row<'_>) {
        let (code, name, usage_type, operation, unit, rate, _, _) = r.product;
        let cc = r.cost_center.map(|c| format!("Cost00{c}"));
        let strings: [Option<String>; 29] = [
            Some("Anniversary".into()),
            Some("AWS".into()),
            Some("156090591".into()),
            Some(r.payer.into()),
            Some("Workshop Payer".into()),
            Some(format!("{:052x}", r.id.wrapping_mul(0x9E37_79B9_7F4A_7C15))),
            Some(self.month.label.clone()),
            Some(format!("{}a", r.region.0)),
            Some("USD".into()),
            Some("Amazon Web Services, Inc.".into()),
            Some(format!("${rate} per {unit} for {usage_type}")),
            Some(r.item_type.into()),
            Some(operation.into()),
            Some(code.into()),
            Some(r.resource.into()),
            Some(format!("{rate:.10}")),
            Some(r.account.into()),
            Some(format!("account-{}", &r.account[8..])),
            Some(usage_type.into()),
            Some(format!("{rate}")),
            Some(r.term.into()),
            Some(unit.into()),
            usage_type.split(':').nth(1).map(str::to_string),
            Some(if unit == "Hrs" { "Compute Instance".into() } else { "Storage".into() }),
            Some(r.region.0.into()),
            Some(code.into()),
            Some(format!("SKU{:08X}", usage_type.len() * 7919 + code.len())),
            r.ri_arn.map(str::to_string),
            None,
        ];
        let floats: [Option<f64>; 11] = [
            Some(r.cost),
            None,
            Some(r.cost),
            Some(r.amount),
            Some(r.public),
            r.ri_effective,
            r.ri_unused.map(|_| 0.0),
            r.ri_unused,
            None,
            None,
            None,
        ];
        let times = [self.month.end_ms, self.month.start_ms, r.end_ms, r.start_ms];
        debug_assert_eq!(self.s.len(), strings.len());
        debug_assert_eq!(self.f.len(), floats.len());
        for (b, v) in self.s.iter_mut().zip(strings.iter()) {
            b.append_option(v.as_deref());
        }
        for (b, v) in self.f.iter_mut().zip(floats.iter()) {
            b.append_option(*v);
        }
        for (b, v) in self.t.iter_mut().zip(times.iter()) {
            b.append_value(*v);
        }
        // cost_category, discount: empty maps; product: name and region; resource_tags.
        for (i, m) in self.m.iter_mut().enumerate() {
            match i {
                2 => {
                    m.keys().append_value("product_name");
                    m.values().append_value(name);
                    m.keys().append_value("region");
                    m.values().append_value(r.region.0);
                    m.keys().append_value("location");
                    m.values().append_value(r.region.1);
                }
                3 => {
                    if let Some(c) = &cc {
                        m.keys().append_value("user_cost_center");
                        m.values().append_value(c);
                    }
                }
                _ => {}
            }
            m.append(true).expect("map entries are consistent");
        }
    }

    fn finish(mut self, schema: Arc<Schema>) -> Result<RecordBatch> {
        let (mut si, mut fi, mut ti, mut mi) = (0, 0, 0, 0);
        let mut cols: Vec<ArrayRef> = Vec::new();
        for c in ORDER.chars() {
            match c {
                's' => {
                    cols.push(Arc::new(self.s[si].finish()));
                    si += 1;
                }
                'f' => {
                    cols.push(Arc::new(self.f[fi].finish()));
                    fi += 1;
                }
                't' => {
                    cols.push(Arc::new(self.t[ti].finish()));
                    ti += 1;
                }
                _ => {
                    cols.push(Arc::new(self.m[mi].finish()));
                    mi += 1;
                }
            }
        }
        Ok(RecordBatch::try_new(schema, cols)?)
    }
}
