//! The store ports, in domain language. One narrow trait per aggregate; DynamoDB and in-memory adapters
//! implement all of them and run through the same contract suite (`crate::testing::store_contract`).
//! Key design: `docs/data-model.md`.

pub mod dynamo;
pub mod keys;
#[cfg(feature = "testing")]
pub mod memory;
pub mod schema;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{
    domain::{Alert, Order, OrderKey, ShopDomain, TimelineEvent},
    error::StoreError,
};

/// How long webhook receipts are kept. Shopify retries for 4 hours; a week covers manual replays.
pub const RECEIPT_TTL_SECONDS: i64 = 7 * 24 * 3600;

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

/// One page of a shop's orders, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderPage {
    pub orders: Vec<Order>,
    /// Pass back as `after` for the next page; `None` on the last page.
    pub next: Option<String>,
}

#[async_trait]
pub trait OrderStore: Send + Sync {
    async fn get_order(&self, shop: &ShopDomain, key: &OrderKey) -> Result<Option<Order>, StoreError>;

    /// Writes `order` and appends `events` in one transaction, only if the stored version is still
    /// `expected_version` (`None`: the order must not exist yet).
    async fn write_order(
        &self,
        order: &Order,
        expected_version: Option<u64>,
        events: &[TimelineEvent],
    ) -> Result<WriteOutcome, StoreError>;

    /// The shop's orders by creation time, newest first, `limit` at a time.
    async fn list_orders(&self, shop: &ShopDomain, limit: usize, after: Option<&str>) -> Result<OrderPage, StoreError>;

    /// The order named `name` (`#1001` or `1001`) in `shop`.
    async fn find_by_name(&self, shop: &ShopDomain, name: &str) -> Result<Option<Order>, StoreError>;

    /// The order's newest `limit` timeline events, newest first.
    async fn timeline(&self, shop: &ShopDomain, key: &OrderKey, limit: usize)
    -> Result<Vec<TimelineEvent>, StoreError>;
}

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

    /// The shop's alerts raised after cursor `since`, oldest first, each with its own cursor.
    async fn alerts_since(
        &self,
        shop: &ShopDomain,
        since: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Alert)>, StoreError>;
}
