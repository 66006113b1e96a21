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

use crate::cli::output::money_for_people;
use valdrix_app::ingest::{ingest_paths, IngestOptions, UnitOutcome};

mod aws;
mod azure;
mod gcp;

use aws::{aws_fleet, aws_month, with_tax, write_aws_assembly};
use azure::{azure_fleet, azure_month, write_azure};
use gcp::{gcp_fleet, gcp_month, write_lines};

/// First day of the demo data.
pub const START: (i32, u32, u32) = (2025, 12, 1);
/// Last day of the demo data (the November 2026 period is still open).
pub const END: (i32, u32, u32) = (2026, 11, 24);
/// Last day of the first, preliminary November delivery.
const FIRST_NOVEMBER_CUTOFF: (i32, u32, u32) = (2026, 11, 20);

fn ymd(t: (i32, u32, u32)) -> NaiveDate {
    NaiveDate::from_ymd_opt(t.0, t.1, t.2).expect("valid constant date")
}

pub use valdrix_core::rng::Rng;

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
const DEMO_RULES: &str = include_str!("../../demo/allocation-rules.yaml");
const DEMO_CANDIDATE: &str = include_str!("../../demo/allocation-rules-candidate.yaml");

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
    valdrix_app::allocate::import_rules(store, tenant, &rules, "demo", "the demo's rule set")?;
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
    let valdrix_app::allocate::Allocated { rules: loaded, allocation, .. } = valdrix_app::allocate::allocate(
        store.as_ref(),
        tenant,
        &october,
        &valdrix_app::allocate::RuleSource::Stored(None),
        false,
    )?;
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
