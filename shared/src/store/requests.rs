//! Stored responses of dashboard actions, for idempotent replays.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{domain::ShopDomain, error::StoreError};

/// Responses to dashboard actions, kept a day under the request's idempotency key, so a repeated
/// request gets the same answer and causes nothing new.
#[async_trait]
pub trait RequestStore: Send + Sync {
    /// The response stored under `key`, unless it expired before `now`.
    async fn stored_response(
        &self,
        shop: &ShopDomain,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError>;
    async fn store_response(
        &self,
        shop: &ShopDomain,
        key: &str,
        response: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}

/// How long stored action responses are kept.
pub const REQUEST_TTL_SECONDS: i64 = 24 * 3600;
