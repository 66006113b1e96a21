//! Per-tenant bounds, so that one tenant cannot take every connection of the pool: a request rate
//! (a GCRA token bucket per tenant, governor), checked once the key is verified, and a number of
//! requests a tenant may have running at once (a semaphore per tenant; the others wait their
//! turn, so a tenant's heavy queries queue behind each other, not in front of other tenants').

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
}

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
