//! Idempotency records of dashboard actions (Powertools' idempotency semantics): a request with an
//! `Idempotency-Key` first claims its key with a conditional write (an in-progress record with an
//! expiry), runs, then completes the record with its response, kept a day. A repeat with the same key
//! and payload gets the stored response and causes nothing new; the same key with another payload is
//! refused; a concurrent repeat finds the claim in progress. Keys are scoped by the caller (route +
//! shop).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{domain::ShopDomain, error::StoreError};

/// How long completed action responses are kept.
pub const REQUEST_TTL_SECONDS: i64 = 24 * 3600;
/// How long an in-progress claim holds its key: a crashed request frees it after this.
pub const IN_PROGRESS_SECONDS: i64 = 60;

/// What claiming an idempotency key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is ours: run the request, then complete or release it.
    Claimed,
    /// A request with this key completed: its payload digest and response.
    Completed { payload: String, response: String },
    /// A request with this key is running (its claim has not expired).
    InProgress { payload: String },
}

#[async_trait]
pub trait RequestStore: Send + Sync {
    /// Claims `key` for a request whose payload digest is `payload`, unless a completed record lives or
    /// another claim is still in progress at `now`.
    async fn claim_request(
        &self,
        shop: &ShopDomain,
        key: &str,
        payload: &str,
        now: DateTime<Utc>,
    ) -> Result<Claim, StoreError>;

    /// Completes our claim of `key` with the request's response (kept [`REQUEST_TTL_SECONDS`]).
    async fn complete_request(
        &self,
        shop: &ShopDomain,
        key: &str,
        response: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Drops our in-progress claim of `key` (the request failed: a retry may run it).
    async fn release_request(&self, shop: &ShopDomain, key: &str) -> Result<(), StoreError>;
}
