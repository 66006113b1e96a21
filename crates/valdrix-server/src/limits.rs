//! Per-tenant bounds, so that one tenant cannot take every connection of the pool: a request rate
//! (a GCRA token bucket per tenant, governor), checked once the key is verified, and a number of
//! requests a tenant may have running at once (a semaphore per tenant; the others wait their
//! turn, so a tenant's heavy queries queue behind each other, not in front of other tenants'),
//! and budgets of failed authentications per key id and per client address.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Requests per second and burst allowed to each tenant.
#[derive(Clone)]
pub struct RateLimits {
    limiter: Arc<DefaultKeyedRateLimiter<String>>,
    clock: DefaultClock,
    /// Requests each tenant may have running at once (none: no bound).
    concurrency: Option<usize>,
    slots: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
    /// Failed authentications per key id and per client address, in fixed windows.
    failures: Arc<Mutex<HashMap<String, (Instant, u32)>>>,
}

/// Failed authentications of one key id answered 401 in a window of [`AUTH_WINDOW`]: enough for
/// a person mistyping, far too few to make guessing worth it; later failures are 429.
pub const AUTH_FAILURES_PER_KEY: u32 = 20;

/// Failed authentications from one client address answered 401 in a window (many people may
/// share one address behind a proxy, so it allows more).
pub const AUTH_FAILURES_PER_ADDRESS: u32 = 100;

/// The window of the failure budgets.
pub const AUTH_WINDOW: Duration = Duration::from_secs(60);

fn failure_budget(subject: &str) -> u32 {
    if subject.starts_with("addr:") {
        AUTH_FAILURES_PER_ADDRESS
    } else {
        AUTH_FAILURES_PER_KEY
    }
}

/// Past this many tracked subjects, expired windows are forgotten.
const MAX_TRACKED: usize = 100_000;

/// A running request's place among its tenant's (released when dropped).
pub type Slot = Option<Arc<OwnedSemaphorePermit>>;

impl RateLimits {
    /// `per_second` requests a second on average, up to `burst` at once, for each tenant.
    pub fn per_tenant(per_second: u32, burst: u32) -> Self {
        let rate = NonZeroU32::new(per_second.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
        RateLimits {
            limiter: Arc::new(RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))),
            clock: DefaultClock::default(),
            concurrency: None,
            slots: Arc::default(),
            failures: Arc::default(),
        }
    }

    /// At most `n` requests of each tenant run at once.
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = Some(n.max(1));
        self
    }

    /// Admits a request of `tenant`: refused (429, counted) past its rate, otherwise once it has
    /// a place among the tenant's running requests.
    pub async fn admit(&self, tenant: &str) -> Result<Slot, crate::ApiError> {
        if let Err(wait) = self.check(tenant) {
            ::metrics::counter!("valdrix_rate_limited_requests_total").increment(1);
            return Err(crate::ApiError::too_many_requests(wait));
        }
        Ok(self.enter(tenant).await)
    }

    /// Waits for a place among `tenant`'s running requests.
    pub async fn enter(&self, tenant: &str) -> Slot {
        let n = self.concurrency?;
        let semaphore = {
            let mut slots = self.slots.lock().ok()?;
            slots.entry(tenant.to_string()).or_insert_with(|| Arc::new(Semaphore::new(n))).clone()
        };
        semaphore.acquire_owned().await.ok().map(Arc::new)
    }

    /// How long to wait when any of `subjects` (`key:TENANT.ID`, `addr:IP`) has used its budget
    /// of failed authentications in its current window.
    pub fn auth_blocked(&self, subjects: &[String]) -> Option<Duration> {
        let failures = self.failures.lock().ok()?;
        let now = Instant::now();
        subjects
            .iter()
            .filter_map(|s| failures.get(s).map(|f| (f, failure_budget(s))))
            .filter(|((start, n), budget)| *n >= *budget && now.duration_since(*start) < AUTH_WINDOW)
            .map(|(f, _)| f)
            .map(|(start, _)| AUTH_WINDOW.saturating_sub(now.duration_since(*start)))
            .max()
    }

    /// Counts a failed authentication against each of `subjects`.
    pub fn auth_failed(&self, subjects: &[String]) {
        ::metrics::counter!("valdrix_auth_failures_total").increment(1);
        let Ok(mut failures) = self.failures.lock() else { return };
        let now = Instant::now();
        if failures.len() > MAX_TRACKED {
            failures.retain(|_, (start, _)| now.duration_since(*start) < AUTH_WINDOW);
        }
        for s in subjects {
            let entry = failures.entry(s.clone()).or_insert((now, 0));
            if now.duration_since(entry.0) >= AUTH_WINDOW {
                *entry = (now, 0);
            }
            entry.1 = entry.1.saturating_add(1);
        }
    }

    /// Admits one request of `tenant`, or says how long to wait.
    pub fn check(&self, tenant: &str) -> Result<(), Duration> {
        match self.limiter.check_key(&tenant.to_string()) {
            Ok(()) => Ok(()),
            Err(not_until) => Err(not_until.wait_time_from(self.clock.now())),
        }
    }
}

impl Default for RateLimits {
    /// 50 requests a second, bursts of 100.
    fn default() -> Self {
        RateLimits::per_tenant(50, 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_tenant_waits_for_its_own_slots_only() {
        let limits = RateLimits::per_tenant(1000, 1000).with_concurrency(1);
        let held = limits.enter("big").await;
        assert!(held.is_some());
        // Another tenant is not held up by big's running request.
        let other = tokio::time::timeout(Duration::from_millis(200), limits.enter("small")).await;
        assert!(matches!(other, Ok(Some(_))));
        // big's second request waits until the first ends.
        let waiting = tokio::time::timeout(Duration::from_millis(100), limits.enter("big")).await;
        assert!(waiting.is_err());
        drop(held);
        assert!(tokio::time::timeout(Duration::from_millis(200), limits.enter("big")).await.is_ok());
    }
}
