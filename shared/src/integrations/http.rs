//! What every upstream client shares: one HTTP client builder (timeouts, user agent), built on first use
//! so a function that rarely calls out does not pay for TLS at cold start; one back-off policy; and one
//! error type whose kind decides between retrying and giving up, mapped once to the worker's outcome.

use std::{sync::OnceLock, time::Duration};

use crate::error::WorkerError;

/// Connecting may take this long; a whole request this long.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// A failed upstream call, by what the caller can do about it. Messages come from the upstream's error
/// bodies; they never hold tokens.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// Rate-limited: try again after `retry_after` (the upstream's `Retry-After`, its bucket, or our
    /// back-off).
    #[error("{upstream} is throttled; retry in {}s", retry_after.as_secs_f64().ceil())]
    Throttled { upstream: &'static str, retry_after: Duration },
    /// Unreachable, timed out, or failed on its side (5xx): a later attempt may succeed.
    #[error("{upstream} failed: {detail}")]
    Transient { upstream: &'static str, detail: String },
    /// The request itself was refused (4xx, a GraphQL error): sending it again will not help.
    #[error("{upstream} refused the request ({status} {code}): {message}")]
    Rejected { upstream: &'static str, status: u16, code: String, message: String },
    /// The credentials were refused (HTTP 401/403, an OAuth grant error): someone must reconnect.
    #[error("{upstream} refused the credentials ({code}): {message}")]
    Unauthorized { upstream: &'static str, status: u16, code: String, message: String },
    /// The answer was not what the API documents.
    #[error("{upstream} answer could not be read: {detail}")]
    Decode { upstream: &'static str, detail: String },
}

impl UpstreamError {
    /// Whether a later attempt may succeed without anyone changing anything: throttles and transient
    /// failures (429, 5xx, timeouts) are; rejections, refused credentials and unreadable answers are not.
    pub fn is_retryable(&self) -> bool {
        matches!(self, UpstreamError::Throttled { .. } | UpstreamError::Transient { .. })
    }

    /// A transport failure (no answer at all), without the URL, which may carry a shop's host.
    pub fn transport(upstream: &'static str, error: reqwest::Error) -> Self {
        UpstreamError::Transient { upstream, detail: format!("could not be reached ({})", error.without_url()) }
    }
}

impl From<UpstreamError> for WorkerError {
    fn from(e: UpstreamError) -> Self {
        if e.is_retryable() { WorkerError::Retryable(e.into()) } else { WorkerError::Permanent(e.into()) }
    }
}

/// The HTTP client of an upstream, built on first use with the shared timeouts.
#[derive(Debug, Default)]
pub struct Client {
    http: OnceLock<reqwest::Client>,
    /// The whole-request timeout, when the upstream's configuration sets one ([`REQUEST_TIMEOUT`] else).
    timeout: Option<Duration>,
}

impl Client {
    pub fn new() -> Self {
        Self::default()
    }

    /// A client whose requests time out after `timeout` (and connecting after at most that long).
    pub fn with_timeout(timeout: Duration) -> Self {
        Self { http: OnceLock::new(), timeout: Some(timeout) }
    }

    /// The client; `upstream` names the caller in the error if it cannot be built.
    pub fn get(&self, upstream: &'static str) -> Result<&reqwest::Client, UpstreamError> {
        if let Some(http) = self.http.get() {
            return Ok(http);
        }
        let timeout = self.timeout.unwrap_or(REQUEST_TIMEOUT);
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            .timeout(timeout)
            .user_agent(concat!("order-sync/", env!("CARGO_PKG_VERSION"), " (Language=Rust)"))
            .build()
            .map_err(|e| UpstreamError::Transient { upstream, detail: format!("no HTTP client: {e}") })?;
        Ok(self.http.get_or_init(|| http))
    }
}

impl Clone for Client {
    fn clone(&self) -> Self {
        let http = OnceLock::new();
        if let Some(client) = self.http.get() {
            let _ = http.set(client.clone());
        }
        Self { http, timeout: self.timeout }
    }
}

/// How a client waits. Waits up to `max_inline_wait` happen in the invocation; a longer wait ends it
/// with [`UpstreamError::Throttled`], and the caller carries the work over with an SQS delay instead of
/// sleeping inside a Lambda.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first back-off after a 429 or 5xx; doubled on each further one.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// The longest single wait done in-process.
    pub max_inline_wait: Duration,
    /// Attempts per request (429s and 5xx) before giving up on it in this invocation.
    pub max_attempts: u32,
}

impl RetryPolicy {
    /// The wait before retry number `attempt` (0-based): exponential, capped.
    pub fn backoff(&self, attempt: u32) -> Duration {
        self.backoff_base.saturating_mul(1u32 << attempt.min(16)).min(self.backoff_max)
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            backoff_base: Duration::from_secs(2),
            backoff_max: Duration::from_secs(120),
            max_inline_wait: Duration::from_secs(10),
            max_attempts: 8,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_throttles_and_transient_failures_are_retried() {
        let upstream = "X";
        let throttled = UpstreamError::Throttled { upstream, retry_after: Duration::from_millis(1500) };
        assert!(throttled.is_retryable());
        assert_eq!(throttled.to_string(), "X is throttled; retry in 2s");
        assert!(UpstreamError::Transient { upstream, detail: "503".into() }.is_retryable());
        let rejected = UpstreamError::Rejected { upstream, status: 400, code: "Bad".into(), message: "no".into() };
        assert!(!rejected.is_retryable());
        assert!(matches!(WorkerError::from(rejected), WorkerError::Permanent(_)));
        let refused = UpstreamError::Unauthorized { upstream, status: 401, code: "c".into(), message: "m".into() };
        assert!(!refused.is_retryable());
        assert!(!UpstreamError::Decode { upstream, detail: "d".into() }.is_retryable());
        assert!(matches!(WorkerError::from(throttled), WorkerError::Retryable(_)));
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let policy = RetryPolicy {
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(5),
            ..Default::default()
        };
        assert_eq!((0..4).map(|a| policy.backoff(a).as_secs()).collect::<Vec<_>>(), [1, 2, 4, 5]);
    }
}
