//! Forecasting and anomaly-detection benchmarks on valdrix-analytics.
//!
//! `forecast-bench speed [CATEGORIES] [DAYS]`: a tenant with 200 services and two years of
//! daily spend (weekly cycles, growth, level shifts, month-start charges, noise; generated,
//! seeded). Times the forecast of every service and of the total (30 days, 80 % and 95 %, each
//! with its backtest) and anomaly detection over the last 30 days of every service: the calls
//! `valdrix forecast --by service` and `valdrix anomalies --by service` make after reading.
//!
//! `forecast-bench anomalies DB [TRIALS]`: the demo's daily spend per service (a store made by
//! `valdrix demo --no-serve`), with anomalies injected at random (one to three days, 50 % to
//! 300 % of the service's usual spend), checked day by day over the last 150 days. Reports
//! precision, recall and F1 of the anomalies found against those injected (and the demo's own
//! runaway instances of August), per-service monitors and the total monitor, and how often the
//! total's root cause names the injected service first.

use std::time::Instant;

use anyhow::{bail, Context, Result};
use chrono::{Datelike, Duration, NaiveDate, Utc};

use valdrix_analytics::anomaly::{contributions, Thresholds};
use valdrix_analytics::forecast::{DailySeries, Options};
use valdrix_analytics::spend::{self, CheckOptions, CurrencySpend, SpendQuery, SpendSeries};
use valdrix_core::TenantId;
use valdrix_store::{Dimension, TrustPolicy};

/// xorshift64*: reproducible without a dependency.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("speed") => {
            let categories = args.get(1).map_or(Ok(200), |s| s.parse()).context("CATEGORIES")?;
            let days = args.get(2).map_or(Ok(730), |s| s.parse()).context("DAYS")?;
            speed(categories, days)
        }
        Some("anomalies") => {
            let db = args.get(1).context("anomalies DB [TRIALS]")?;
            let trials = args.get(2).map_or(Ok(40), |s| s.parse()).context("TRIALS")?;
            anomalies(db, trials)
        }
        _ => bail!("usage: forecast-bench speed [CATEGORIES] [DAYS] | anomalies DB [TRIALS]"),
    }
}

/// A generated service's daily spend.
fn service(rng: &mut Rng, start: NaiveDate, days: usize) -> Vec<f64> {
    let level = 10f64.powf(1.0 + 3.0 * rng.unit()); // 10 to 10,000 a day
    let weekend = if rng.unit() < 0.5 { 1.0 } else { 0.4 + 0.5 * rng.unit() };
    let growth = (rng.unit() - 0.3) * 0.002;
    let noise = 0.02 + 0.1 * rng.unit();
    let shift_at = rng.below(days);
    let shift = if rng.unit() < 0.3 { 0.6 + 0.8 * rng.unit() } else { 1.0 };
    let monthly = if rng.unit() < 0.2 { level * (2.0 + 5.0 * rng.unit()) } else { 0.0 };
    (0..days)
        .map(|i| {
            let day = start + Duration::days(i as i64);
            let wk = if day.weekday().number_from_monday() >= 6 { weekend } else { 1.0 };
            let lvl = level * (1.0 + growth * i as f64) * if i >= shift_at { shift } else { 1.0 };
            let fee = if day.day() == 1 { monthly } else { 0.0 };
            (lvl * wk * (1.0 + noise * (rng.unit() - 0.5) * 2.0) + fee).max(0.0)
        })
        .collect()
}

fn spend_of(start: NaiveDate, categories: Vec<(String, Vec<f64>)>) -> CurrencySpend {
    let days = categories.first().map_or(0, |c| c.1.len());
    let total: Vec<f64> = (0..days).map(|i| categories.iter().map(|c| c.1[i]).sum()).collect();
    let series = |key: Option<String>, v: Vec<f64>| SpendSeries {
        name: spend::series_name(Some(&Dimension::Service), key.as_deref()),
        key,
        currency: "USD".into(),
        series: DailySeries { start, values: v.into_iter().map(Some).collect() },
    };
    CurrencySpend {
        currency: "USD".into(),
        total: series(None, total),
        categories: categories.into_iter().map(|(k, v)| series(Some(k), v)).collect(),
    }
}

fn speed(categories: usize, days: usize) -> Result<()> {
    let start = NaiveDate::from_ymd_opt(2024, 11, 1).context("date")?;
    let mut rng = Rng(0x5EED_F0CA_57ED_u64);
    let spend =
        spend_of(start, (0..categories).map(|i| (format!("service-{i:03}"), service(&mut rng, start, days))).collect());
    let opts = Options::new(30);
    let check = CheckOptions::new(Some(start + Duration::days(days as i64 - 30)), Thresholds::default());
    let mut best = (f64::INFINITY, f64::INFINITY);
    let mut found = 0;
    for _ in 0..3 {
        let t = Instant::now();
        let f = spend::forecast_currency(&spend, &opts)?;
        let forecast_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let a = spend::detect_currencies(std::slice::from_ref(&spend), &check)?;
        let detect_s = t.elapsed().as_secs_f64();
        anyhow::ensure!(f.categories.iter().all(|c| c.forecast.is_some()), "a category without a forecast");
        found = a.len();
        if forecast_s + detect_s < best.0 + best.1 {
            best = (forecast_s, detect_s);
        }
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "{{\"categories\": {categories}, \"days\": {days}, \"threads\": {threads}, \"forecast_s\": {:.3}, \"detect_s\": {:.3}, \"total_s\": {:.3}, \"anomalies\": {found}}}",
        best.0,
        best.1,
        best.0 + best.1
    );
    Ok(())
}

/// An injected (or known) anomaly.
#[derive(Debug, Clone)]
struct Truth {
    service: String,
    start: NaiveDate,
    end: NaiveDate,
}

fn overlaps(a: (NaiveDate, NaiveDate), b: (NaiveDate, NaiveDate)) -> bool {
    a.0 <= b.1 && b.0 <= a.1
}

fn anomalies(db: &str, trials: usize) -> Result<()> {
    let store = valdrix_store::open(db).with_context(|| format!("opening {db}"))?;
    let tenant = TenantId::parse("default")?;
    let q = SpendQuery { by: Some(Dimension::Service), top: 12, ..Default::default() };
    let mut base = spend::daily_spend(store.as_ref(), &tenant, &q, Utc::now(), &TrustPolicy::default())?;
    let base = base.pop().context("no spend")?;
    let services: Vec<(String, Vec<f64>)> = base
        .categories
        .iter()
        .filter(|c| c.key.as_deref() != Some(spend::OTHER))
        .map(|c| (c.key.clone().unwrap_or_default(), c.series.values.iter().map(|v| v.unwrap_or(0.0)).collect()))
        .collect();
    let start = base.total.series.start;
    let days = base.total.series.values.len();
    let from = start + Duration::days(days as i64 - 150);
    let thresholds = Thresholds::default();
    // The demo's own incident: 14 runaway instances on 14-16 August 2026.
    let known = Truth {
        service: "Amazon Elastic Compute Cloud".into(),
        start: NaiveDate::from_ymd_opt(2026, 8, 14).context("date")?,
        end: NaiveDate::from_ymd_opt(2026, 8, 16).context("date")?,
    };

    let mut rng = Rng(0xA70_3A1E5);
    let (mut tp, mut fp, mut fn_) = (0usize, 0usize, 0usize);
    let (mut total_tp, mut total_fp, mut total_fn) = (0usize, 0usize, 0usize);
    let (mut cause_right, mut cause_checked) = (0usize, 0usize);
    let mut injected_count = 0;
    for _ in 0..trials {
        let mut series = services.clone();
        let mut truth = vec![known.clone()];
        // Three anomalies per trial, in different weeks of the checked window.
        let mut taken: Vec<usize> = Vec::new();
        while truth.len() < 4 {
            let s = rng.below(series.len());
            let first = days - 150 + 28 + rng.below(150 - 35);
            if taken.iter().any(|&t| t.abs_diff(first) < 14) {
                continue;
            }
            let len = 1 + rng.below(3);
            let daily = &mut series[s].1;
            let mut usual: Vec<f64> = daily[first - 28..first].to_vec();
            usual.sort_by(f64::total_cmp);
            let usual = usual[usual.len() / 2];
            // Large enough to be worth an alarm: at least twice the money floor.
            let extra = (usual * (0.5 + 2.5 * rng.unit())).max(2.0 * thresholds.min_impact);
            for v in &mut daily[first..first + len] {
                *v += extra;
            }
            taken.push(first);
            truth.push(Truth {
                service: series[s].0.clone(),
                start: start + Duration::days(first as i64),
                end: start + Duration::days((first + len - 1) as i64),
            });
        }
        injected_count += truth.len() - 1;
        let spend = spend_of(start, series.clone());
        let check = CheckOptions::new(Some(from), thresholds);

        // Per-service monitors.
        let found = spend::detect_currencies(std::slice::from_ref(&spend), &check)?;
        let mut matched = vec![false; truth.len()];
        for (s, a) in &found {
            let hit = truth
                .iter()
                .position(|t| Some(&t.service) == s.key.as_ref() && overlaps((t.start, t.end), (a.start, a.end)));
            match hit {
                Some(i) => {
                    tp += usize::from(!matched[i]);
                    matched[i] = true;
                }
                None => fp += 1,
            }
        }
        fn_ += matched.iter().filter(|m| !**m).count();

        // The total monitor, and its root cause by service.
        let total_only = CurrencySpend { categories: Vec::new(), ..spend.clone() };
        let found = spend::detect_currencies(std::slice::from_ref(&total_only), &check)?;
        let mut matched = vec![false; truth.len()];
        for (_, a) in &found {
            let hit = truth.iter().position(|t| overlaps((t.start, t.end), (a.start, a.end)));
            match hit {
                Some(i) => {
                    total_tp += usize::from(!matched[i]);
                    matched[i] = true;
                    let first = (a.start - start).num_days() as usize;
                    let last = (a.end - start).num_days() as usize;
                    let causes = contributions("service", &series, first, last);
                    cause_checked += 1;
                    cause_right += usize::from(causes.first().is_some_and(|c| c.value == truth[i].service));
                }
                None => total_fp += 1,
            }
        }
        total_fn += matched.iter().filter(|m| !**m).count();
    }
    let f1 = |tp: usize, fp: usize, fn_: usize| {
        let p = tp as f64 / (tp + fp).max(1) as f64;
        let r = tp as f64 / (tp + fn_).max(1) as f64;
        (p, r, if p + r > 0.0 { 2.0 * p * r / (p + r) } else { 0.0 })
    };
    let (p, r, f) = f1(tp, fp, fn_);
    let (tp_, tr, tf) = f1(total_tp, total_fp, total_fn);
    println!(
        "{{\"trials\": {trials}, \"injected\": {injected_count}, \"services\": {}, \"checked_days\": 150, \
         \"per_service\": {{\"tp\": {tp}, \"fp\": {fp}, \"fn\": {fn_}, \"precision\": {p:.3}, \"recall\": {r:.3}, \"f1\": {f:.3}}}, \
         \"total\": {{\"tp\": {total_tp}, \"fp\": {total_fp}, \"fn\": {total_fn}, \"precision\": {tp_:.3}, \"recall\": {tr:.3}, \"f1\": {tf:.3}}}, \
         \"root_cause_first\": {cause_right}, \"root_cause_checked\": {cause_checked}}}",
        services.len()
    );
    Ok(())
}
