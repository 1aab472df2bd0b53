//! Time as a dependency, so rules at time boundaries can be tested with an injected clock.

use std::sync::Mutex;

use chrono::{DateTime, Utc};

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that shows whatever the test sets.
#[derive(Debug)]
pub struct FixedClock(Mutex<DateTime<Utc>>);

impl FixedClock {
    pub fn new(at: DateTime<Utc>) -> Self {
        Self(Mutex::new(at))
    }

    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = at;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// How long to wait before retry number `attempt` (0 for the first retry) of a store call that lost a
/// race or was left partly unprocessed: exponential from 20 ms, capped at 1 s, with jitter so racing
/// writers do not collide again in step.
pub fn backoff(attempt: u32) -> std::time::Duration {
    let ceiling = 20u64.saturating_mul(1u64 << attempt.min(6)).min(1_000);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    // Equal jitter: half the ceiling fixed, half spread by the clock's nanoseconds.
    let half = ceiling / 2;
    std::time::Duration::from_millis(half + u64::from(nanos) % (half + 1))
}

/// Waits before try number `attempt` (0 for the first try, which does not wait) of a read-decide-write
/// cycle that lost a race: see [`backoff`].
pub async fn pause_before_retry(attempt: usize) {
    if attempt > 0 {
        tokio::time::sleep(backoff(u32::try_from(attempt - 1).unwrap_or(u32::MAX))).await;
    }
}

#[cfg(test)]
mod tests {
    use super::backoff;

    #[test]
    fn backoff_grows_and_is_capped() {
        for attempt in 0..20 {
            let wait = backoff(attempt).as_millis();
            let ceiling = (20u128 << attempt.min(6)).min(1_000);
            assert!(wait >= ceiling / 2 && wait <= ceiling, "attempt {attempt}: {wait} ms");
        }
    }
}
