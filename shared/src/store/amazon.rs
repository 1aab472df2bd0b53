//! The Amazon channel's port: the shop's SP-API connection (settings, owner, check and sync status),
//! its sealed LWA credential, the orders watermark, and the Amazon order records with their items.
//! Keys: `docs/data-model.md` §6.3. The canonical orders fed from these go through [`super::OrderStore`].

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Recorded, WriteOutcome};
use crate::{
    domain::ShopDomain,
    error::StoreError,
    integrations::amazon::{
        ApiVersion, Region,
        model::{AmazonOrder, AmazonOrderItem},
    },
};

/// A shop's SP-API connection. The first session user to create it is its owner (`owner_sub`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AmazonConnection {
    pub shop: ShopDomain,
    pub seller_id: String,
    pub region: Region,
    pub marketplace_ids: Vec<String>,
    pub api_version: ApiVersion,
    /// The session token `sub` of the user who created the connection.
    pub owner_sub: String,
    /// Active connections are polled by `spapi-poll`.
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Check and sync results, written by their own updates (never by a settings write).
    #[serde(default)]
    pub status: ConnectionStatus,
    /// Settings version, for optimistic locking of settings updates.
    pub version: u64,
}

/// The last check and the last orders sync (the seed's `last_check_*` and `last_orders_sync_*`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionStatus {
    pub last_check_at: Option<DateTime<Utc>>,
    pub last_check_ok: Option<bool>,
    pub last_check_error: Option<String>,
    pub last_orders_sync_at: Option<DateTime<Utc>>,
    /// `ok`, `error`, `deferred` (throttled; carried over) or `dry_run`.
    pub last_orders_sync_status: Option<String>,
    pub last_orders_sync_error: Option<String>,
    pub last_orders_sync_orders_count: Option<u64>,
    pub last_orders_sync_items_count: Option<u64>,
}

/// A check's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    pub at: DateTime<Utc>,
    pub ok: bool,
    pub error: Option<String>,
}

/// A sync's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncResult {
    pub at: DateTime<Utc>,
    pub status: String,
    pub error: Option<String>,
    pub orders: u64,
    pub items: u64,
}

/// The LWA credential of a connection, sealed with KMS (see [`crate::secrets`]). `Debug` shows neither
/// ciphertext.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedCredential {
    /// The connection's own LWA client id, if it does not use the app's.
    pub client_id: Option<String>,
    pub sealed_refresh_token: String,
    pub sealed_client_secret: Option<String>,
    pub updated_at: DateTime<Utc>,
}

impl std::fmt::Debug for SealedCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedCredential")
            .field("client_id", &self.client_id)
            .field("sealed_refresh_token", &"***")
            .field("sealed_client_secret", &self.sealed_client_secret.as_ref().map(|_| "***"))
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

/// The end of the last fully processed last-updated window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watermark {
    pub at: DateTime<Utc>,
    pub version: u64,
}

/// What an Amazon order upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    /// Stored (new, or as new as the stored one: items and raw payload refreshed).
    Written,
    /// The stored order was updated later than this one: kept.
    Stale,
}

#[async_trait]
pub trait AmazonStore: Send + Sync {
    async fn amazon_connection(&self, shop: &ShopDomain) -> Result<Option<AmazonConnection>, StoreError>;

    /// Creates the connection unless the shop has one (`Duplicate`): the first creator owns it.
    async fn create_amazon_connection(&self, connection: &AmazonConnection) -> Result<Recorded, StoreError>;

    /// Replaces the settings if the stored version is still `connection.version - 1`. Status fields are
    /// not touched.
    async fn update_amazon_connection(&self, connection: &AmazonConnection) -> Result<WriteOutcome, StoreError>;

    async fn record_amazon_check(&self, shop: &ShopDomain, check: &CheckResult) -> Result<(), StoreError>;
    async fn record_amazon_sync(&self, shop: &ShopDomain, sync: &SyncResult) -> Result<(), StoreError>;

    /// Shops with an active connection (the `spapi-poll` fan-out; one query, no scan).
    async fn active_amazon_connections(&self) -> Result<Vec<ShopDomain>, StoreError>;

    async fn put_amazon_credential(&self, shop: &ShopDomain, credential: &SealedCredential) -> Result<(), StoreError>;
    async fn amazon_credential(&self, shop: &ShopDomain) -> Result<Option<SealedCredential>, StoreError>;

    async fn amazon_watermark(&self, shop: &ShopDomain) -> Result<Option<Watermark>, StoreError>;
    /// Moves the watermark to `to` if it is still at version `expected` (`None`: not set yet).
    async fn advance_amazon_watermark(
        &self,
        shop: &ShopDomain,
        to: DateTime<Utc>,
        expected: Option<u64>,
    ) -> Result<WriteOutcome, StoreError>;

    /// Stores the order and its items unless a later-updated revision is stored. Idempotent.
    async fn upsert_amazon_order(
        &self,
        shop: &ShopDomain,
        order: &AmazonOrder,
        items: &[AmazonOrderItem],
    ) -> Result<Upserted, StoreError>;

    /// The order and its items, in one query.
    async fn amazon_order(
        &self,
        shop: &ShopDomain,
        marketplace_id: &str,
        amazon_order_id: &str,
    ) -> Result<Option<(AmazonOrder, Vec<AmazonOrderItem>)>, StoreError>;

    /// The shop's Amazon orders, newest purchase first, up to `limit`.
    async fn amazon_orders(&self, shop: &ShopDomain, limit: usize) -> Result<Vec<AmazonOrder>, StoreError>;
}
