//! Receipts of inbound deliveries, keyed by source and delivery id.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::Recorded;
use crate::{
    domain::{Integration, ShopDomain},
    error::StoreError,
};

/// An inbound delivery (a webhook or callback) as received, keyed by its source and delivery id
/// (Shopify's `X-Shopify-Webhook-Id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookReceipt {
    pub shop: ShopDomain,
    pub source: Integration,
    pub delivery_id: String,
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
    async fn complete_receipt(
        &self,
        shop: &ShopDomain,
        source: Integration,
        delivery_id: &str,
    ) -> Result<(), StoreError>;
}
