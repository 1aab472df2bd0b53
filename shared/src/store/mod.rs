//! The store ports, in domain language. One narrow trait per aggregate; DynamoDB and in-memory adapters
//! implement all of them and run through the same contract suite (`crate::testing::store_contract`).
//! Key design: `docs/data-model.md`.

pub mod amazon;
pub mod assistant;
pub mod dynamo;
pub mod install;
pub mod keys;
#[cfg(feature = "testing")]
pub mod memory;
pub mod schema;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{
    domain::{Alert, Order, OrderKey, Priority, Product, ShopDomain, Tab, TimelineEvent, Variant},
    error::StoreError,
};

pub use amazon::AmazonStore;
pub use assistant::AssistantStore;
pub use install::{ApiKeyStore, TokenStore};

/// How long webhook receipts are kept. Shopify retries for 4 hours; a week covers manual replays.
pub const RECEIPT_TTL_SECONDS: i64 = 7 * 24 * 3600;

/// How long remembered page boundaries are kept.
pub const PAGE_BOUNDARY_TTL_SECONDS: i64 = 24 * 3600;

/// Whether a write guarded by a version still saw that version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    Written,
    /// Someone else wrote first: re-read and decide again.
    VersionConflict,
}

/// Whether an idempotent record was new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    New,
    Duplicate,
}

/// Which orders a list shows: a tab plus optional filters. Served from one index partition (the tab's,
/// or the assignee's when `assignee` is set); the other criteria filter that partition.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OrderQuery {
    pub tab: Option<Tab>,
    pub status: Option<String>,
    pub priority: Option<Priority>,
    pub assignee: Option<String>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_to: Option<DateTime<Utc>>,
}

impl OrderQuery {
    pub fn tab(&self) -> Tab {
        self.tab.unwrap_or(Tab::All)
    }

    /// A stable digest of the query, naming its remembered page boundaries.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let text = format!(
            "{}|{}|{}|{}|{}|{}",
            self.tab(),
            self.status.as_deref().unwrap_or_default(),
            self.priority.map(Priority::as_str).unwrap_or_default(),
            self.assignee.as_deref().unwrap_or_default(),
            self.created_from.map(|t| t.timestamp_millis()).unwrap_or_default(),
            self.created_to.map(|t| t.timestamp_millis()).unwrap_or_default(),
        );
        Sha256::digest(text.as_bytes()).iter().take(12).map(|b| format!("{b:02x}")).collect()
    }

    /// Whether `order` belongs in this list.
    pub fn matches(&self, order: &Order) -> bool {
        let created = order.created_at;
        order.tabs().contains(&self.tab())
            && self.status.as_ref().is_none_or(|s| *s == order.status_label())
            && self.priority.is_none_or(|p| p == order.priority())
            && self.assignee.as_ref().is_none_or(|a| order.ops.assigned_to.as_ref() == Some(a))
            && self.created_from.is_none_or(|from| created >= from)
            && self.created_to.is_none_or(|to| created <= to)
    }
}

/// Where a list read starts. Positions are the index sort keys, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seek {
    /// From the newest order.
    First,
    /// From this position (inclusive), towards older orders.
    From(String),
    /// The orders newer than this position (exclusive), nearest first.
    Before(String),
}

/// An order in a list, with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub position: String,
    pub order: Order,
}

#[async_trait]
pub trait OrderStore: Send + Sync {
    async fn get_order(&self, shop: &ShopDomain, key: &OrderKey) -> Result<Option<Order>, StoreError>;

    /// Writes `order`, its list index entries and `events` in one transaction, only if the stored order
    /// is still `previous` (by version; `None`: the order must not exist yet, and the shop is registered
    /// in [`OrderStore::shops`]). Index entries `previous` had and `order` has not are deleted in the same
    /// transaction.
    async fn write_order(
        &self,
        order: &Order,
        previous: Option<&Order>,
        events: &[TimelineEvent],
    ) -> Result<WriteOutcome, StoreError>;

    /// Up to `limit` orders matching `query`, from `seek`. `First` and `From` read newest first;
    /// `Before` returns the nearest newer orders, nearest first.
    async fn list_orders(
        &self,
        shop: &ShopDomain,
        query: &OrderQuery,
        seek: &Seek,
        limit: usize,
    ) -> Result<Vec<Listed>, StoreError>;

    /// The position at `offset` of the list named by `fingerprint`, if a page boundary was remembered there.
    async fn page_boundary(
        &self,
        shop: &ShopDomain,
        fingerprint: &str,
        offset: u64,
    ) -> Result<Option<String>, StoreError>;

    /// Remembers that `position` is at `offset` of the list named by `fingerprint` (kept a day).
    async fn remember_page_boundary(
        &self,
        shop: &ShopDomain,
        fingerprint: &str,
        offset: u64,
        position: &str,
    ) -> Result<(), StoreError>;

    /// The order named `name` (`#1001` or `1001`) in `shop`.
    async fn find_by_name(&self, shop: &ShopDomain, name: &str) -> Result<Option<Order>, StoreError>;

    /// The order and its newest `events` timeline events, newest first, in one query.
    async fn order_detail(
        &self,
        shop: &ShopDomain,
        key: &OrderKey,
        events: usize,
    ) -> Result<Option<(Order, Vec<TimelineEvent>)>, StoreError>;

    /// Every shop that has at least one order.
    async fn shops(&self) -> Result<Vec<ShopDomain>, StoreError>;

    /// Orders whose `watch` entry (`keys::Watch`) is due at or before `until`: the candidates whose
    /// shipment flags may have changed with time alone.
    async fn due_for_review(
        &self,
        shop: &ShopDomain,
        watch: keys::Watch,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OrderKey>, StoreError>;
}

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

/// The outcome of handing an order's change to a partner (Shopify metafields, fulfilment, ERP), kept
/// in the order's partition.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Delivery {
    /// The queue message's idempotency key: recording the same delivery twice keeps one record.
    pub id: String,
    pub kind: String,
    /// `delivered`, `skipped` (disabled for the shop) or `deferred` (integration not available yet).
    pub outcome: String,
    pub detail: String,
    pub at: DateTime<Utc>,
}

#[async_trait]
pub trait DeliveryStore: Send + Sync {
    async fn record_delivery(&self, shop: &ShopDomain, key: &OrderKey, delivery: &Delivery) -> Result<(), StoreError>;
    async fn deliveries(&self, shop: &ShopDomain, key: &OrderKey) -> Result<Vec<Delivery>, StoreError>;
}

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

/// Where the shop's offline token stands. The refresh token is stored only sealed (context
/// `{shop, purpose: shopify-refresh-token}`).
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

    /// Keeps a `customers/data_request` export (JSON) under the request id.
    async fn record_data_export(&self, shop: &ShopDomain, request_id: &str, export: &str) -> Result<(), StoreError>;
    async fn data_export(&self, shop: &ShopDomain, request_id: &str) -> Result<Option<String>, StoreError>;
}

/// Which of the shop's polls a watermark belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    Orders,
    Products,
}

impl Resource {
    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Orders => "orders",
            Resource::Products => "products",
        }
    }
}

/// Where the shop's Shopify sync stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncState {
    /// Everything updated up to here has been fully processed by the orders poll.
    pub orders_watermark: Option<DateTime<Utc>>,
    /// The GraphQL cursor the last completed orders window ended on.
    pub orders_cursor: Option<String>,
    pub products_watermark: Option<DateTime<Utc>>,
    /// When the last webhook of the shop arrived (processed by the ingest stage).
    pub last_webhook_at: Option<DateTime<Utc>>,
    /// The last refresh ping: a moved ping tells the dashboard to refetch.
    pub refreshed_at: Option<DateTime<Utc>>,
}

impl SyncState {
    pub fn watermark(&self, resource: Resource) -> Option<DateTime<Utc>> {
        match resource {
            Resource::Orders => self.orders_watermark,
            Resource::Products => self.products_watermark,
        }
    }
}

/// The shop's sync state. Watermarks and the last-webhook time only move forward, so replays and races
/// are harmless; each such write also pings a refresh.
#[async_trait]
pub trait SyncStore: Send + Sync {
    async fn sync_state(&self, shop: &ShopDomain) -> Result<SyncState, StoreError>;

    /// Moves `resource`'s watermark to `to`, with the cursor its window ended on, and pings a refresh.
    /// Returns false (and changes nothing) when the watermark is already at or past `to`.
    async fn advance_watermark(
        &self,
        shop: &ShopDomain,
        resource: Resource,
        to: DateTime<Utc>,
        cursor: Option<&str>,
    ) -> Result<bool, StoreError>;

    /// Notes that a webhook of the shop was processed at `at`, and pings a refresh.
    async fn record_webhook(&self, shop: &ShopDomain, at: DateTime<Utc>) -> Result<(), StoreError>;

    /// Pings a refresh at `at`. Readers watch the ping for any change, not for an increase.
    async fn ping_refresh(&self, shop: &ShopDomain, at: DateTime<Utc>) -> Result<(), StoreError>;

    /// Remembers the Shopify GraphQL cursor at which the poll read each order (the latest read wins).
    async fn record_order_cursors(&self, shop: &ShopDomain, cursors: &[(OrderKey, String)]) -> Result<(), StoreError>;

    /// The cursor at which the poll last read `key`, if it has read it.
    async fn order_cursor(&self, shop: &ShopDomain, key: &OrderKey) -> Result<Option<String>, StoreError>;
}

/// Products and their variants, for the assistant API.
#[async_trait]
pub trait ProductStore: Send + Sync {
    /// Writes `product` (the first 250 variants on its main record, the rest on variant pages) unless a
    /// revision at least as new is stored, or it was deleted later. Per-location inventory levels
    /// already known carry over. Returns whether it was written.
    async fn put_product(&self, product: &Product) -> Result<bool, StoreError>;

    /// The product with the variants of its main record, and how many variant pages follow.
    async fn product(&self, shop: &ShopDomain, id: &str) -> Result<Option<(Product, usize)>, StoreError>;

    /// The variants of page `page` (1-based) of the product.
    async fn variant_page(&self, shop: &ShopDomain, id: &str, page: usize) -> Result<Vec<Variant>, StoreError>;

    /// Marks the product deleted at `at` (kept as a tombstone so an older update cannot revive it).
    async fn delete_product(&self, shop: &ShopDomain, id: &str, at: DateTime<Utc>) -> Result<(), StoreError>;

    /// Records `available` units at `location` for the variant of `inventory_item`, unless a newer
    /// level is known. Returns false when the inventory item is unknown or the level is stale.
    async fn set_inventory_level(
        &self,
        shop: &ShopDomain,
        inventory_item: &str,
        location: &str,
        available: i64,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
}

/// How long stored action responses are kept.
pub const REQUEST_TTL_SECONDS: i64 = 24 * 3600;

/// A webhook delivery as received, keyed by `X-Shopify-Webhook-Id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookReceipt {
    pub shop: ShopDomain,
    pub webhook_id: String,
    pub event_id: Option<String>,
    pub topic: String,
    pub received_at: DateTime<Utc>,
}

#[async_trait]
pub trait ReceiptStore: Send + Sync {
    /// Records a delivery. `Duplicate` when it was already recorded and handed on; a delivery recorded
    /// but never handed on (the enqueue failed) counts as `New` again, so Shopify's retry completes it.
    async fn begin_receipt(&self, receipt: &WebhookReceipt) -> Result<Recorded, StoreError>;

    /// Marks the delivery as handed on to the next stage.
    async fn complete_receipt(&self, shop: &ShopDomain, webhook_id: &str) -> Result<(), StoreError>;
}

#[async_trait]
pub trait AlertStore: Send + Sync {
    /// Stores the alert once per `(shop, id)`.
    async fn raise_alert(&self, alert: &Alert) -> Result<Recorded, StoreError>;

    /// Marks the alert cleared at `at` and moves it to the end of the feed, so readers past its raise
    /// see it again, cleared. Clearing an unknown or cleared alert does nothing.
    async fn clear_alert(&self, shop: &ShopDomain, id: &str, at: DateTime<Utc>) -> Result<(), StoreError>;

    /// The shop's alerts raised or cleared after cursor `since`, oldest first, each with its own cursor.
    async fn alerts_since(
        &self,
        shop: &ShopDomain,
        since: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Alert)>, StoreError>;
}
