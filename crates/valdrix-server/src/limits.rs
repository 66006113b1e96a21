//! Per-tenant request rate limits, so that one tenant's burst cannot take every connection of
//! the pool: a GCRA token bucket per tenant (governor), checked once the key is verified.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Requests per second and burst allowed to each tenant.
#[derive(Clone)]
pub struct RateLimits {
    limiter: Arc<DefaultKeyedRateLimiter<String>>,
    clock: DefaultClock,
}

impl RateLimits {
    /// `per_second` requests a second on average, up to `burst` at once, for each tenant.
    pub fn per_tenant(per_second: u32, burst: u32) -> Self {
        let rate = NonZeroU32::new(per_second.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
        RateLimits {
            limiter: Arc::new(RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))),
            clock: DefaultClock::default(),
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
