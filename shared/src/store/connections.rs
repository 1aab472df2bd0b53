//! A shop's connection to an integration (settings, owner, check and sync status), stored once for
//! every integration. The settings are the integration's own (seller and region for Amazon, a base URL
//! for a partner), kept as a JSON document the integration's app module reads and writes with its own
//! types; the store only guards versions and indexes active connections.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Recorded, WriteOutcome};
use crate::{
    domain::{Integration, ShopDomain},
    error::StoreError,
};

/// A shop's connection to `integration`. The first session user to create it is its owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    pub shop: ShopDomain,
    pub integration: Integration,
    /// The integration's settings document.
    pub settings: serde_json::Value,
    /// The session token `sub` of the user who created the connection.
    pub owner_sub: String,
    /// Active connections are polled and pushed to.
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Check and sync results, written by their own updates (never by a settings write).
    #[serde(default)]
    pub status: ConnectionStatus,
    /// Settings version, for optimistic locking of settings updates.
    pub version: u64,
}

/// The last check and the last orders sync (`last_check_*` and `last_orders_sync_*`).
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

#[async_trait]
pub trait ConnectionStore: Send + Sync {
    async fn connection(&self, shop: &ShopDomain, integration: Integration) -> Result<Option<Connection>, StoreError>;

    /// Creates the connection unless the shop has one for the integration (`Duplicate`): the first
    /// creator owns it.
    async fn create_connection(&self, connection: &Connection) -> Result<Recorded, StoreError>;

    /// Replaces the settings if the stored version is still `connection.version - 1`. Status fields are
    /// not touched.
    async fn update_connection(&self, connection: &Connection) -> Result<WriteOutcome, StoreError>;

    async fn record_check(
        &self,
        shop: &ShopDomain,
        integration: Integration,
        check: &CheckResult,
    ) -> Result<(), StoreError>;
    async fn record_sync(
        &self,
        shop: &ShopDomain,
        integration: Integration,
        sync: &SyncResult,
    ) -> Result<(), StoreError>;

    /// Shops with an active connection to `integration` (one index query, no scan).
    async fn active_connections(&self, integration: Integration) -> Result<Vec<ShopDomain>, StoreError>;
}
