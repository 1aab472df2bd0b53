//! Client-side token buckets, one per (seller, operation), with the usage plans documented in the
//! Orders and Sellers API models. A bucket refills at `rate` tokens per second up to `burst`; an empty
//! bucket means the next call would be throttled
//! (<https://developer-docs.amazon.com/sp-api/docs/usage-plans-and-rate-limits>). A response's
//! `x-amzn-RateLimit-Limit` header, when present, replaces the rate with the seller's actual plan.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

/// The SP-API operations the client calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Orders v0 `getOrders`: 0.0167 rps, burst 20.
    GetOrders,
    /// Orders v0 `getOrderItems`: 0.5 rps, burst 30.
    GetOrderItems,
    /// Orders v2026-01-01 `searchOrders`: 0.0056 rps, burst 20.
    SearchOrders,
    /// Orders v2026-01-01 `getOrder`: 0.5 rps, burst 30.
    GetOrder,
    /// Sellers v1 `getMarketplaceParticipations`: 0.016 rps, burst 15 (the connection check).
    MarketplaceParticipations,
}

impl Operation {
    /// The documented (rate per second, burst).
    pub fn usage_plan(self) -> (f64, f64) {
        match self {
            Operation::GetOrders => (0.0167, 20.0),
            Operation::GetOrderItems => (0.5, 30.0),
            Operation::SearchOrders => (0.0056, 20.0),
            Operation::GetOrder => (0.5, 30.0),
            Operation::MarketplaceParticipations => (0.016, 15.0),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Operation::GetOrders => "getOrders",
            Operation::GetOrderItems => "getOrderItems",
            Operation::SearchOrders => "searchOrders",
            Operation::GetOrder => "getOrder",
            Operation::MarketplaceParticipations => "getMarketplaceParticipations",
        }
    }
}

#[derive(Debug, Clone)]
struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(op: Operation, now: Instant) -> Self {
        let (rate, burst) = op.usage_plan();
        Self { rate, burst, tokens: burst, at: now }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.at = now;
    }
}

/// Token buckets of every seller this process talks to. Lives as long as the Lambda container, so
/// warm invocations keep their buckets.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<(String, Operation), Bucket>>,
}

impl RateLimiter {
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, seller: &str, op: Operation, now: Instant, f: impl FnOnce(&mut Bucket) -> T) -> T {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = buckets.entry((seller.to_owned(), op)).or_insert_with(|| Bucket::new(op, now));
        bucket.refill(now);
        f(bucket)
    }

    /// How long to wait before a call is allowed. Zero takes a token now. Otherwise nothing is taken:
    /// the caller waits (in process, or carried over) and asks again.
    pub fn wait_for(&self, seller: &str, op: Operation) -> Duration {
        self.with(seller, op, Instant::now(), |b| {
            if b.tokens >= 1.0 {
                b.tokens -= 1.0;
                Duration::ZERO
            } else {
                Duration::from_secs_f64(((1.0 - b.tokens) / b.rate).max(0.0))
            }
        })
    }

    /// Applies the `x-amzn-RateLimit-Limit` value (requests per second) of a response.
    pub fn observe_limit(&self, seller: &str, op: Operation, rate: f64) {
        if rate.is_finite() && rate > 0.0 {
            self.with(seller, op, Instant::now(), |b| b.rate = rate);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_asks_to_wait_about_one_refill() {
        let limiter = RateLimiter::new();
        for _ in 0..20 {
            assert_eq!(limiter.wait_for("S", Operation::GetOrders), Duration::ZERO);
        }
        let wait = limiter.wait_for("S", Operation::GetOrders);
        assert!(wait > Duration::from_secs(50) && wait <= Duration::from_secs(60), "{wait:?}");
        // Another seller and another operation have their own buckets.
        assert_eq!(limiter.wait_for("T", Operation::GetOrders), Duration::ZERO);
        assert_eq!(limiter.wait_for("S", Operation::GetOrderItems), Duration::ZERO);
    }

    #[test]
    fn the_rate_limit_header_replaces_the_documented_rate() {
        let limiter = RateLimiter::new();
        for _ in 0..20 {
            limiter.wait_for("S", Operation::SearchOrders);
        }
        assert!(limiter.wait_for("S", Operation::SearchOrders) > Duration::from_secs(100));
        limiter.observe_limit("S", Operation::SearchOrders, 10.0);
        assert!(limiter.wait_for("S", Operation::SearchOrders) <= Duration::from_millis(100));
        limiter.observe_limit("S", Operation::SearchOrders, f64::NAN);
    }
}
