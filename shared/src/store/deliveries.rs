//! Outbound delivery records: what became of each change handed to a destination.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{
    domain::{OrderKey, ShopDomain},
    error::StoreError,
};

/// The outcome of handing an order's change to a destination (Shopify metafields, fulfilment, ERP),
/// kept in the order's partition.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Delivery {
    /// The queue message's idempotency key: recording the same delivery twice keeps one record.
    pub id: String,
    pub kind: String,
    pub outcome: DeliveryOutcome,
    pub detail: String,
    pub at: DateTime<Utc>,
}

/// What became of an outbound change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryOutcome {
    /// The destination accepted it (or already had it).
    Delivered,
    /// Nothing to do for this shop or order (disabled, not the destination's order, nothing open).
    Skipped,
    /// The destination is not available yet; a redelivery or replay may still deliver it.
    Deferred,
    /// The destination refused it; an alert says why.
    Rejected,
}

impl DeliveryOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryOutcome::Delivered => "delivered",
            DeliveryOutcome::Skipped => "skipped",
            DeliveryOutcome::Deferred => "deferred",
            DeliveryOutcome::Rejected => "rejected",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Delivered, Self::Skipped, Self::Deferred, Self::Rejected].into_iter().find(|o| o.as_str() == raw)
    }
}

impl PartialEq<&str> for DeliveryOutcome {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[async_trait]
pub trait DeliveryStore: Send + Sync {
    /// Records (or replaces) the delivery `delivery.id`, except that a record that says `delivered`
    /// is never replaced: a later `rejected` (a racing attempt, a replay) does not overwrite it.
    async fn record_delivery(&self, shop: &ShopDomain, key: &OrderKey, delivery: &Delivery) -> Result<(), StoreError>;
    async fn deliveries(&self, shop: &ShopDomain, key: &OrderKey) -> Result<Vec<Delivery>, StoreError>;

    /// Claims the delivery `id` for `holder` until `until` before a call that is not idempotent
    /// (Shopify's `fulfillmentCreate`): `false` while another holder's claim has not expired at `now`,
    /// so two concurrent deliveries of one message never both call. A claim that outlives a crashed
    /// holder expires by itself.
    async fn claim_delivery(
        &self,
        shop: &ShopDomain,
        key: &OrderKey,
        id: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Gives the claim back (after a failed attempt), if `holder` still has it.
    async fn release_delivery(
        &self,
        shop: &ShopDomain,
        key: &OrderKey,
        id: &str,
        holder: &str,
    ) -> Result<(), StoreError>;
}
