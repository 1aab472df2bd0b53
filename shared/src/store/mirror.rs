//! The raw mirror: upstream records as the integration sent them (an Amazon order with its items), for
//! audits, re-mapping and support. Generic over integrations: a record is named by its integration, a
//! kind and an id unique within the kind, and carries its parts (child records, unique by their own id).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    domain::{Integration, ShopDomain},
    error::StoreError,
};

/// One upstream record and its parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MirrorRecord {
    pub shop: ShopDomain,
    pub integration: Integration,
    /// What the record is (`order`).
    pub kind: String,
    /// Unique within the integration and kind (`#` is not allowed: it separates key parts).
    pub id: String,
    /// The upstream's last-update time: an older revision never replaces a newer one.
    pub updated_at: DateTime<Utc>,
    /// Where the record sorts in lists (newest first), such as the purchase date.
    pub sort_at: DateTime<Utc>,
    pub payload: serde_json::Value,
    /// Child records by their own id, such as an order's items.
    pub parts: Vec<(String, serde_json::Value)>,
}

/// What a mirror upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    /// Stored (new, or as new as the stored one: parts and payload refreshed).
    Written,
    /// The stored record was updated later than this one: kept.
    Stale,
}

#[async_trait]
pub trait MirrorStore: Send + Sync {
    /// Stores the record and its parts unless a later-updated revision is stored. Idempotent.
    async fn upsert_mirror(&self, record: &MirrorRecord) -> Result<Upserted, StoreError>;

    /// The record and its parts, in one query.
    async fn mirror(
        &self,
        shop: &ShopDomain,
        integration: Integration,
        kind: &str,
        id: &str,
    ) -> Result<Option<MirrorRecord>, StoreError>;

    /// The shop's records of `kind`, newest `sort_at` first, up to `limit`, without their parts.
    async fn mirrors(
        &self,
        shop: &ShopDomain,
        integration: Integration,
        kind: &str,
        limit: usize,
    ) -> Result<Vec<MirrorRecord>, StoreError>;
}
