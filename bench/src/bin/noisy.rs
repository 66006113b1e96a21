//! `noisy BASE_URL SMALL_KEY LARGE_KEY [SECONDS] [HEAVY_CLIENTS]`: the noisy-neighbour benchmark's
//! load generator (loopback only).
//!
//! 1. The small tenant's dashboard (overview page, then the cost explorer page, signed in as a
//!    browser is) is requested back to back for SECONDS with nothing else running.
//! 2. The same again while HEAVY_CLIENTS clients of the large tenant run its heaviest queries in
//!    a loop: costs by resource over the whole year, records (a scan and sort of every record),
//!    costs by usage type and day.
//! 3. The small tenant's dashboard alone again.
//! 4. The large tenant's overview page, back to back, alone.
//!
//! Prints one JSON object with the latency percentiles (ms) of each phase and the p99 ratio
//! (under load against the better quiet phase).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// Signs in with `key` as a browser does; returns the session cookie.
fn sign_in(agent: &ureq::Agent, base: &str, key: &str) -> Result<String> {
    let form = agent.get(format!("{base}/login")).call()?;
    let nonce = form
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.split(';').next()?.strip_prefix("vdx_login=").map(str::to_string))
        .context("no sign-in cookie")?;
    let html = form.into_body().read_to_string()?;
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .context("no CSRF token on the sign-in page")?
        .to_string();
    let done = agent
        .post(format!("{base}/login"))
        .header("Cookie", format!("vdx_login={nonce}"))
        .send_form([("key", key), ("csrf", csrf.as_str())])?;
    if done.status().as_u16() != 303 {
        bail!("signing in answered {}", done.status());
    }
    done.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.split(';').next().filter(|p| p.starts_with("vdx_session=")).map(str::to_string))
        .context("no session cookie")
}

/// Requests `paths` in turn for `seconds`; the latency of each, in ms.
fn measure(agent: &ureq::Agent, base: &str, cookie: &str, paths: &[&str], seconds: f64) -> Result<Vec<f64>> {
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    let mut out = Vec::new();
    let mut i = 0;
    while Instant::now() < end {
        let path = paths[i % paths.len()];
        i += 1;
        let t = Instant::now();
        let r = agent.get(format!("{base}{path}")).header("Cookie", cookie).call()?;
        let status = r.status().as_u16();
        r.into_body().read_to_vec()?;
        if status != 200 {
            bail!("{path}: HTTP {status}");
        }
        out.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(out)
}

fn percentiles(mut v: Vec<f64>) -> serde_json::Value {
    v.sort_by(|a, b| a.total_cmp(b));
    let p = |q: f64| v.get(((v.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(f64::NAN);
    serde_json::json!({ "n": v.len(), "p50": p(0.5), "p95": p(0.95), "p99": p(0.99), "max": p(1.0) })
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: noisy BASE_URL SMALL_KEY LARGE_KEY [SECONDS] [HEAVY_CLIENTS]";
    let base = args.next().context(usage)?;
    let small_key = args.next().context(usage)?;
    let large_key = args.next().context(usage)?;
    let seconds: f64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(30.0);
    let heavy_clients: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(4);
    let agent = agent();
    let small = sign_in(&agent, &base, &small_key)?;
    let large = sign_in(&agent, &base, &large_key)?;
    let dashboard = ["/", "/explorer?group_by=service"];
    // Warm the caches the same way before each phase.
    measure(&agent, &base, &small, &dashboard, 2.0)?;
    let quiet = measure(&agent, &base, &small, &dashboard, seconds)?;

    let stop = Arc::new(AtomicBool::new(false));
    let heavy_done = Arc::new(AtomicU64::new(0));
    let heavy_refused = Arc::new(AtomicU64::new(0));
    let heavy: Vec<_> = (0..heavy_clients)
        .map(|i| {
            let (base, key, stop, done, refused) =
                (base.clone(), large_key.clone(), stop.clone(), heavy_done.clone(), heavy_refused.clone());
            std::thread::spawn(move || {
                let agent = self::agent();
                let queries = [
                    "/api/v1/costs?group_by=resource",
                    "/api/v1/records?limit=500",
                    "/api/v1/costs?group_by=usage-type,day",
                ];
                let mut k = i;
                while !stop.load(Ordering::Relaxed) {
                    let q = queries[k % queries.len()];
                    k += 1;
                    match agent.get(format!("{base}{q}")).header("Authorization", format!("Bearer {key}")).call() {
                        Ok(r) => {
                            let status = r.status().as_u16();
                            let _ = r.into_body().read_to_vec();
                            if status == 200 {
                                done.fetch_add(1, Ordering::Relaxed);
                            } else {
                                refused.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Err(_) => {
                            refused.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    // Let the heavy queries get going.
    std::thread::sleep(Duration::from_secs(3));
    let noisy = measure(&agent, &base, &small, &dashboard, seconds)?;
    stop.store(true, Ordering::Relaxed);
    for h in heavy {
        let _ = h.join();
    }
    // Quiet again: the ratio is taken against the better of the two quiet phases, so that
    // anything that slowed the first (a checkpoint, cold caches) does not flatter the result.
    let quiet_after = measure(&agent, &base, &small, &dashboard, seconds)?;
    measure(&agent, &base, &large, &["/"], 2.0)?;
    let large_overview = measure(&agent, &base, &large, &["/"], seconds)?;

    let (q, n, q2) = (percentiles(quiet), percentiles(noisy), percentiles(quiet_after));
    let p99 = |v: &serde_json::Value| v["p99"].as_f64().unwrap_or(f64::NAN);
    let ratio = p99(&n) / p99(&q).min(p99(&q2));
    println!(
        "{}",
        serde_json::json!({
            "small_tenant_quiet_ms": q,
            "small_tenant_under_load_ms": n,
            "small_tenant_quiet_after_ms": q2,
            "p99_ratio": ratio,
            "heavy_queries": { "clients": heavy_clients, "completed": heavy_done.load(Ordering::Relaxed),
                               "timed_out_or_refused": heavy_refused.load(Ordering::Relaxed) },
            "large_tenant_overview_ms": percentiles(large_overview),
        })
    );
    Ok(())
}
