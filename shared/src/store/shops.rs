//! The shop (tenant): its record and status, compliance exports, and erasure of all its data.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{domain::ShopDomain, error::StoreError};

/// Whether the app is installed on a shop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShopStatus {
    Active,
    Uninstalled,
}

impl ShopStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ShopStatus::Active => "active",
            ShopStatus::Uninstalled => "uninstalled",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [ShopStatus::Active, ShopStatus::Uninstalled].into_iter().find(|s| s.as_str() == raw)
    }
}

/// An installed shop (tenant). The offline Admin API token is stored only sealed (see
/// [`crate::secrets`]); `Debug` does not show even the ciphertext.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ShopRecord {
    pub shop: ShopDomain,
    pub status: ShopStatus,
    pub scopes: Vec<String>,
    pub sealed_token: String,
    pub installed_at: DateTime<Utc>,
    /// Whether assignments are mirrored into Shopify metafields (off by default: the contract keeps
    /// metafields read-only for now).
    #[serde(default)]
    pub metafields_sync: bool,
    /// The token's lifecycle (expiring offline tokens, #12); empty for a non-expiring token.
    #[serde(default, flatten)]
    pub token: TokenState,
}

/// Where the shop's offline token stands. The refresh token is stored only sealed (credential context
/// `{shop, integration: shopify, field: refresh_token}`).
#[derive(Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TokenState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token_expires_at: Option<DateTime<Utc>>,
    /// Since when Shopify refuses the token (a 401, or a failed refresh): the shop needs a new token
    /// exchange, and its Shopify work is parked until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid_since: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for TokenState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenState")
            .field("expires_at", &self.expires_at)
            .field("refreshable", &self.sealed_refresh_token.is_some())
            .field("invalid_since", &self.invalid_since)
            .finish()
    }
}

impl ShopRecord {
    /// Without `read_all_orders`, Shopify silently hides orders older than 60 days.
    pub fn read_all_orders(&self) -> bool {
        self.scopes.iter().any(|s| s == "read_all_orders")
    }
}

impl std::fmt::Debug for ShopRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShopRecord")
            .field("shop", &self.shop)
            .field("status", &self.status)
            .field("scopes", &self.scopes)
            .field("sealed_token", &"***")
            .field("installed_at", &self.installed_at)
            .field("metafields_sync", &self.metafields_sync)
            .field("token", &self.token)
            .finish()
    }
}

/// The shop (tenant) itself: its record and status, its compliance exports, and erasure of all its data.
/// What one bounded erasure step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErasedOrders {
    /// Orders erased by this step.
    pub orders: usize,
    /// Whether the shop has orders left to erase.
    pub more: bool,
}

#[async_trait]
pub trait ShopStore: Send + Sync {
    /// Writes the shop's record (a re-install replaces it and makes the shop active again).
    async fn install_shop(&self, record: &ShopRecord) -> Result<(), StoreError>;
    async fn shop(&self, shop: &ShopDomain) -> Result<Option<ShopRecord>, StoreError>;

    async fn set_shop_status(&self, shop: &ShopDomain, status: ShopStatus, at: DateTime<Utc>)
    -> Result<(), StoreError>;
    async fn shop_status(&self, shop: &ShopDomain) -> Result<Option<ShopStatus>, StoreError>;

    /// The shops the app is installed on (status active), for the scheduled polls.
    async fn active_shops(&self) -> Result<Vec<ShopDomain>, StoreError>;

    /// Deletes every item of the shop that a query can reach: orders with their timelines, deliveries
    /// and index items, alerts, the shop record and its exports. Returns how many items went. Webhook
    /// receipts, stored action responses and page boundaries hold no customer data and expire by TTL
    /// within 7 days. Safe to repeat.
    async fn erase_shop(&self, shop: &ShopDomain) -> Result<u64, StoreError>;

    /// Deletes up to `limit` of the shop's orders with their timelines, deliveries and index items: the
    /// bounded step of erasing a large shop, repeated until it says nothing is left, before
    /// [`ShopStore::erase_shop`] takes the rest. Safe to repeat.
    async fn erase_shop_orders(&self, shop: &ShopDomain, limit: usize) -> Result<ErasedOrders, StoreError>;

    /// Keeps a `customers/data_request` export (JSON) under the request id.
    async fn record_data_export(&self, shop: &ShopDomain, request_id: &str, export: &str) -> Result<(), StoreError>;
    async fn data_export(&self, shop: &ShopDomain, request_id: &str) -> Result<Option<String>, StoreError>;
}
