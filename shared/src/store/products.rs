//! Products and their variants, for the assistant API.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{
    domain::{Product, ShopDomain, Variant},
    error::StoreError,
};

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

    /// As [`ProductStore::set_inventory_level`], for the variant whose SKU is `sku` (a warehouse names
    /// only the SKU). Returns false when no variant of the shop has that SKU or the level is stale.
    async fn set_sku_level(
        &self,
        shop: &ShopDomain,
        sku: &str,
        location: &str,
        available: i64,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
}
