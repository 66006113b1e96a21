//! The allocation benchmark's valdrix side.
//!
//! `alloc-bench gen DIR [SERIES] [SEED]`: writes `DIR/records.parquet`, one month (30 days) of
//! daily cost records of a large tenant (50,000 series by default: 1.5 million records; money as
//! DECIMAL(18,6)), and `DIR/rules.json`, 50 allocation rules over them.
//!
//! `alloc-bench run DIR [REPEAT]`: reads the records into memory (timed apart), allocates them
//! by the rules REPEAT times (best time kept), and prints one JSON document: the timings and
//! each target's totals, which the DuckDB side must match to the last digit.

use anyhow::{bail, Context, Result};
use arrow_array::builder::{Decimal128Builder, StringBuilder};
use arrow_array::RecordBatch;
use arrow_array::{Array, ArrayRef, Decimal128Array, StringArray};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use rust_decimal::Decimal;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use valdrix_analytics::allocation::{allocate, parse, Dim, Options, Record};

const DAYS: u32 = 30;
const TEAMS: [&str; 10] =
    ["payments", "search", "ml", "data", "web", "identity", "mobile", "growth", "security", "infra"];
const SERVICES: [&str; 24] = [
    "AmazonEC2",
    "AmazonS3",
    "AmazonRDS",
    "AWSLambda",
    "AmazonDynamoDB",
    "AmazonCloudWatch",
    "AWSDataTransfer",
    "AmazonVPC",
    "AmazonEKS",
    "AmazonECS",
    "AmazonElastiCache",
    "AmazonRedshift",
    "AmazonKinesis",
    "AmazonSQS",
    "AmazonSNS",
    "AmazonRoute53",
    "AWSSupportBusiness",
    "AmazonCloudFront",
    "AWSGlue",
    "AmazonAthena",
    "AmazonEFS",
    "AWSBackup",
    "AWSConfig",
    "AWSSecurityHub",
];
const REGIONS: [&str; 6] = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-1", "ap-northeast-1"];
const COLUMNS: [&str; 11] = [
    "id",
    "period",
    "currency",
    "billed",
    "effective",
    "service",
    "sub_account",
    "region",
    "resource",
    "usage_type",
    "charge_category",
];

/// The bench generators' SplitMix64, counting in u64.
struct Rng(valdrix_bench::Rng);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0.below(n as usize) as u64
    }
    fn unit(&mut self) -> f64 {
        self.0.unit()
    }
}

/// One series: a resource's daily line, with what its records share.
struct Series {
    service: &'static str,
    sub_account: String,
    region: &'static str,
    resource: String,
    usage_type: String,
    category: &'static str,
    team: Option<&'static str>,
    owner: Option<&'static str>,
    daily_micros: i64,
    discount_per_mille: i64,
}

fn account(i: u64) -> String {
    format!("{}", 400_000_000_000u64 + 7_919 * i)
}

fn series(rng: &mut Rng) -> Series {
    let service = SERVICES[rng.below(SERVICES.len() as u64) as usize];
    let acct = rng.below(40);
    let region = REGIONS[rng.below(REGIONS.len() as u64) as usize];
    let category = match rng.below(100) {
        0..=1 => "Tax",
        2 => "Purchase",
        3..=4 => "Credit",
        _ => "Usage",
    };
    let tagged = rng.below(100);
    let team = (tagged < 62).then(|| TEAMS[rng.below(TEAMS.len() as u64) as usize]);
    let owner = (team.is_none() && tagged < 70).then(|| TEAMS[rng.below(TEAMS.len() as u64) as usize]);
    // Most lines small, a long tail of large ones; credits negative.
    let magnitude = (rng.unit().powi(4) * 400.0 * 1e6) as i64 + rng.below(1_000_000) as i64;
    let daily_micros = if category == "Credit" { -magnitude / 10 } else { magnitude };
    let short = service.trim_start_matches("Amazon").trim_start_matches("AWS").to_lowercase();
    Series {
        service,
        sub_account: account(acct),
        region,
        resource: format!("arn:aws:{short}:{region}:{}:res/{:012x}", account(acct), rng.next() >> 16),
        usage_type: format!(
            "{}-{}",
            ["Box", "Storage", "Requests", "DataTransfer-Out", "Hours"][rng.below(5) as usize],
            short
        ),
        category,
        team,
        owner,
        daily_micros,
        discount_per_mille: if rng.below(3) == 0 { 700 + rng.below(300) as i64 } else { 1000 },
    }
}

fn generate(dir: &Path, n: u64, seed: u64) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut rng = Rng(valdrix_bench::Rng::from_state(seed));
    let all: Vec<Series> = (0..n).map(|_| series(&mut rng)).collect();
    let schema = Arc::new(Schema::new(
        COLUMNS
            .iter()
            .map(|c| match *c {
                "billed" | "effective" => Field::new(*c, DataType::Decimal128(18, 6), false),
                "id" | "period" | "currency" | "service" => Field::new(*c, DataType::Utf8, false),
                _ => Field::new(*c, DataType::Utf8, true),
            })
            .chain([Field::new("tag_team", DataType::Utf8, true), Field::new("tag_owner", DataType::Utf8, true)])
            .collect::<Vec<_>>(),
    ));
    let file = std::fs::File::create(dir.join("records.parquet"))?;
    let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
    let mut w = ArrowWriter::try_new(file, schema.clone(), Some(props))?;
    for day in 1..=DAYS {
        let mut strings: Vec<StringBuilder> = (0..11).map(|_| StringBuilder::new()).collect();
        let mut billed = Decimal128Builder::new().with_precision_and_scale(18, 6)?;
        let mut effective = Decimal128Builder::new().with_precision_and_scale(18, 6)?;
        for (i, s) in all.iter().enumerate() {
            // A little day-to-day noise, exact in micros.
            let b = s.daily_micros + (s.daily_micros / 50) * (rng.below(5) as i64 - 2);
            let e = b * s.discount_per_mille / 1000;
            strings[0].append_value(format!("s{i}-{day:02}"));
            strings[1].append_value("2026-10");
            strings[2].append_value("USD");
            billed.append_value(b as i128);
            effective.append_value(e as i128);
            strings[3].append_value(s.service);
            strings[4].append_value(&s.sub_account);
            strings[5].append_value(s.region);
            strings[6].append_value(&s.resource);
            strings[7].append_value(&s.usage_type);
            strings[8].append_value(s.category);
            strings[9].append_option(s.team);
            strings[10].append_option(s.owner);
        }
        let mut cols: Vec<ArrayRef> = strings[..3].iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef).collect();
        cols.push(Arc::new(billed.finish()));
        cols.push(Arc::new(effective.finish()));
        cols.extend(strings[3..].iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
        w.write(&RecordBatch::try_new(schema.clone(), cols)?)?;
    }
    w.close()?;
    std::fs::write(dir.join("rules.json"), rules(&mut rng))?;
    Ok(())
}

/// 50 rules: 3 manual overrides, 2 owner rules (tags with an account table), 45 shared rules of
/// every method, on services, regions, accounts, usage-type and resource patterns, and tags.
fn rules(rng: &mut Rng) -> String {
    let mut out = vec![];
    for i in 0..3 {
        let ids: Vec<String> = (0..5).map(|_| format!("s{}-{:02}", rng.below(50_000), 1 + rng.below(30))).collect();
        out.push(json!({"id": format!("override-{i}"), "match": {"records": ids}, "override": "platform"}));
    }
    let table: BTreeMap<String, &str> = (0..12).map(|i| (account(i * 3), TEAMS[i as usize % TEAMS.len()])).collect();
    out.push(json!({"id": "dynamo-owner", "priority": 5, "match": {"resource_like": "arn:aws:dynamodb:*"}, "owner": ["tag:owner"]}));
    out.push(json!({"id": "owner", "priority": 10, "owner": ["tag:team", "tag:owner", {"table": "sub_account", "map": table}]}));
    let teams = |rng: &mut Rng, k: usize| -> Vec<&'static str> {
        let start = rng.below(TEAMS.len() as u64) as usize;
        (0..k).map(|j| TEAMS[(start + j * 3) % TEAMS.len()]).collect()
    };
    for i in 0..45 {
        let service = SERVICES[i % SERVICES.len()];
        let m = match i % 5 {
            0 => json!({"service": [service]}),
            1 => {
                json!({"service": [service], "region": [REGIONS[i % REGIONS.len()], REGIONS[(i + 1) % REGIONS.len()]]})
            }
            2 => {
                let usage = format!("{}-*", ["Box", "Storage", "Requests", "DataTransfer-Out", "Hours"][i % 5]);
                json!({"usage_type_like": usage, "tag_missing": ["team"], "sub_account": [account(i as u64 % 40)]})
            }
            3 => {
                let category = ["Tax", "Credit", "Purchase"][i % 3];
                json!({"charge_category": [category], "service": [service, SERVICES[(i + 7) % SERVICES.len()]]})
            }
            _ => {
                json!({"resource_like": format!("arn:aws:*:{}:{}:*", REGIONS[i % REGIONS.len()], account(i as u64 % 40))})
            }
        };
        let k = 2 + i % 4;
        let ts = teams(rng, k);
        let mut rule = json!({"id": format!("shared-{i:02}"), "priority": 20 + i, "match": m});
        let o = rule.as_object_mut().expect("an object");
        match i % 6 {
            0 => {
                let mut left = 100;
                let mut p = serde_json::Map::new();
                for (j, t) in ts.iter().enumerate() {
                    let v = if j + 1 == ts.len() { left } else { 1 + rng.below(left as u64 / 2) as i64 };
                    left -= v;
                    p.insert(t.to_string(), json!(v));
                }
                o.insert("percentages".into(), json!(p));
            }
            1 | 2 => {
                o.insert("proportional_to_direct".into(), json!(ts));
            }
            3 => {
                let u: serde_json::Map<String, serde_json::Value> =
                    ts.iter().map(|t| (t.to_string(), json!(1 + rng.below(100_000)))).collect();
                o.insert("usage".into(), json!(u));
            }
            4 => {
                o.insert("even".into(), json!(ts));
            }
            _ => {
                let f: serde_json::Map<String, serde_json::Value> = ts[1..]
                    .iter()
                    .map(|t| (t.to_string(), json!(format!("{}.{:02}", 100 + rng.below(2000), rng.below(100)))))
                    .collect();
                o.insert("fixed".into(), json!(f));
                o.insert("remainder".into(), json!(ts[0]));
            }
        }
        out.push(rule);
    }
    serde_json::to_string_pretty(&json!({"version": 1, "rules": out})).unwrap_or_default()
}

fn strings<'a>(b: &'a RecordBatch, name: &str) -> Result<&'a StringArray> {
    b.column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<StringArray>())
        .with_context(|| format!("column {name}"))
}

fn decimals<'a>(b: &'a RecordBatch, name: &str) -> Result<&'a Decimal128Array> {
    b.column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<Decimal128Array>())
        .with_context(|| format!("column {name}"))
}

fn load(path: &Path) -> Result<Vec<Record>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)?.with_batch_size(65_536).build()?;
    let mut out = Vec::new();
    let dims = [
        ("service", Dim::Service),
        ("sub_account", Dim::SubAccount),
        ("region", Dim::Region),
        ("resource", Dim::Resource),
        ("usage_type", Dim::UsageType),
        ("charge_category", Dim::ChargeCategory),
    ];
    for batch in reader {
        let b = batch?;
        let (id, period, currency) = (strings(&b, "id")?, strings(&b, "period")?, strings(&b, "currency")?);
        let (billed, effective) = (decimals(&b, "billed")?, decimals(&b, "effective")?);
        let dim_cols: Vec<(Dim, &StringArray)> =
            dims.iter().map(|(n, d)| Ok((*d, strings(&b, n)?))).collect::<Result<_>>()?;
        let tags = [("team", strings(&b, "tag_team")?), ("owner", strings(&b, "tag_owner")?)];
        for i in 0..b.num_rows() {
            let mut r = Record {
                id: id.value(i).into(),
                currency: currency.value(i).to_string(),
                billed: Decimal::from_i128_with_scale(billed.value(i), 6),
                effective: Decimal::from_i128_with_scale(effective.value(i), 6),
                period: period.value(i).to_string(),
                ..Default::default()
            };
            for (d, c) in &dim_cols {
                if c.is_valid(i) {
                    r.dims.insert(*d, c.value(i).to_string());
                }
            }
            for (k, c) in &tags {
                if c.is_valid(i) {
                    r.tags.insert(k.to_string(), c.value(i).to_string());
                }
            }
            out.push(r);
        }
    }
    Ok(out)
}

fn run(dir: &Path, repeat: usize) -> Result<()> {
    let text = std::fs::read_to_string(dir.join("rules.json"))?;
    let rules = parse("rules.json", &text)?;
    let t0 = Instant::now();
    let records = load(&dir.join("records.parquet"))?;
    let load_s = t0.elapsed().as_secs_f64();
    let mut best = f64::MAX;
    let mut result = None;
    for _ in 0..repeat.max(1) {
        let t = Instant::now();
        let a = allocate(&records, &rules, Options::default())?;
        best = best.min(t.elapsed().as_secs_f64());
        result = Some(a);
    }
    let a = result.context("no run")?;
    let totals: Vec<_> = a
        .totals()
        .into_iter()
        .map(|((target, currency), t)| {
            json!({"target": target, "currency": currency,
                   "direct_billed": t.direct_billed.normalize().to_string(), "direct_effective": t.direct_effective.normalize().to_string(),
                   "shared_billed": t.shared_billed.normalize().to_string(), "shared_effective": t.shared_effective.normalize().to_string()})
        })
        .collect();
    let doc = json!({
        "records": records.len(), "rules": rules.len(), "load_seconds": load_s, "allocate_seconds": best,
        "contributions": a.contributions.len(), "unsplit": a.unsplit, "totals": totals,
    });
    println!("{doc}");
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("gen") if args.len() >= 2 => {
            let n = args.get(2).map(|s| s.replace('_', "").parse()).transpose()?.unwrap_or(50_000);
            let seed = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(7);
            generate(Path::new(&args[1]), n, seed)
        }
        Some("run") if args.len() >= 2 => {
            let repeat = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(3);
            run(Path::new(&args[1]), repeat)
        }
        _ => bail!("usage: alloc-bench gen DIR [SERIES] [SEED] | alloc-bench run DIR [REPEAT]"),
    }
}
