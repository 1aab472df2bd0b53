//! Ports of the install and token lifecycle (`crate::app::install`) and of the assistant API's keys.
//! Keys: `docs/data-model.md` §6.6.
//!
//! - The shop record ([`ShopRecord`]) is rewritten as a whole under a **token version**: an install,
//!   a refresh or an invalidation reads the record with its version and writes it back only if the
//!   version (and the install status) did not move meanwhile.
//! - A **token lease** per shop lets one function at a time run a token exchange or a refresh; the
//!   others use the token they have or re-read.
//! - **Parked jobs**: Shopify work of a shop whose token Shopify refused, kept until a new exchange.
//! - **API keys** of the assistant API, stored by their SHA-256 digest only.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{ShopRecord, WriteOutcome};
use crate::{domain::ShopDomain, error::StoreError, queue::Message};

/// A job set aside until the shop has a working token again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParkedJob {
    /// Derived from the message, so parking the same message twice keeps one record.
    pub id: String,
    /// The queue the job goes back to, by its name (`shopify-poll`, `outbound-shopify`).
    pub stage: String,
    pub message: Message,
    pub parked_at: DateTime<Utc>,
}

#[async_trait]
pub trait TokenStore: Send + Sync {
    /// The shop's record with its token version (0 before the first versioned write).
    async fn shop_versioned(&self, shop: &ShopDomain) -> Result<Option<(ShopRecord, u64)>, StoreError>;

    /// Writes `record` (as `ShopStore::install_shop` does, the active-shops index included) as token
    /// version `expected + 1`, only if the stored record is still at `expected` with the status it had
    /// (`None`: no record may exist). A lost race is `VersionConflict`.
    async fn replace_shop(
        &self,
        record: &ShopRecord,
        expected: Option<(u64, super::ShopStatus)>,
    ) -> Result<WriteOutcome, StoreError>;

    /// Takes the shop's token lease for `holder` until `until`, unless another holder's lease is still
    /// running at `now`. Returns whether `holder` has it.
    async fn claim_token_lease(
        &self,
        shop: &ShopDomain,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Gives the lease back, if `holder` still has it.
    async fn release_token_lease(&self, shop: &ShopDomain, holder: &str) -> Result<(), StoreError>;

    /// Keeps `job` until [`TokenStore::unpark`].
    async fn park(&self, shop: &ShopDomain, job: &ParkedJob) -> Result<(), StoreError>;

    /// Up to `limit` parked jobs of the shop, oldest first.
    async fn parked(&self, shop: &ShopDomain, limit: usize) -> Result<Vec<ParkedJob>, StoreError>;

    async fn unpark(&self, shop: &ShopDomain, id: &str) -> Result<(), StoreError>;
}

/// An assistant API key as stored: its digest, never the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    pub shop: ShopDomain,
    /// Public id (`key_…`), for listing and revoking.
    pub id: String,
    /// Hex SHA-256 of the key.
    pub digest: String,
    /// The key's first characters, so a merchant can tell keys apart.
    pub prefix: String,
    pub label: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[async_trait]
pub trait ApiKeyStore: Send + Sync {
    /// Stores a new key (its id and digest are fresh).
    async fn create_api_key(&self, key: &ApiKey) -> Result<(), StoreError>;
    /// The key with this digest, if it exists and was not revoked.
    async fn api_key_by_digest(&self, digest: &str) -> Result<Option<ApiKey>, StoreError>;
    /// The shop's keys, oldest first.
    async fn api_keys(&self, shop: &ShopDomain) -> Result<Vec<ApiKey>, StoreError>;
    /// Deletes the key; false when the shop has no such key.
    async fn revoke_api_key(&self, shop: &ShopDomain, id: &str) -> Result<bool, StoreError>;
}
