//! Leases on a shop's live alert streams: at most `cap` open at once per shop, each in a numbered slot
//! taken with a conditional write. A lease expires by itself, so a stream whose function died frees its
//! slot without anyone cleaning up.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{domain::ShopDomain, error::StoreError};

#[async_trait]
pub trait StreamStore: Send + Sync {
    /// Takes a free one of the shop's `cap` stream slots for `lease` (unique per stream) until
    /// `expires_at`. A slot is free when no lease holds it or its lease expired by `now`. `None` when
    /// every slot is held.
    async fn open_stream(
        &self,
        shop: &ShopDomain,
        lease: &str,
        cap: usize,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Option<usize>, StoreError>;

    /// Frees `slot` if `lease` still holds it (a later lease on an expired slot keeps it).
    async fn close_stream(&self, shop: &ShopDomain, slot: usize, lease: &str) -> Result<(), StoreError>;
}
