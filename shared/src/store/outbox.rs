//! The transactional outbox: an outbound effect is written in the same transaction as the order change
//! that caused it ([`super::OrderStore::write_order_with_effects`]), then relayed to its queue and
//! removed. A crash or a failed send between the two leaves the effect pending, and the sweep relays it
//! later: an effect may be delayed, never lost. Effects live in the shop's partition, so erasing the
//! shop erases them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    domain::{Integration, ShopDomain},
    error::StoreError,
};

/// An effect waiting to be relayed to `destination`'s queue. `message` is the queue message, kept
/// opaque here (the store does not know the queue's envelope).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingEffect {
    pub shop: ShopDomain,
    /// The effect's idempotency key (the outbound message id): writing it twice keeps one.
    pub id: String,
    pub destination: Integration,
    pub message: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// The shop's pending effects created at or before `until`, oldest first, at most `limit`.
    async fn pending_effects(
        &self,
        shop: &ShopDomain,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<PendingEffect>, StoreError>;

    /// The effect reached its queue: forget it. Removing an unknown effect does nothing.
    async fn effect_relayed(&self, shop: &ShopDomain, id: &str) -> Result<(), StoreError>;
}
