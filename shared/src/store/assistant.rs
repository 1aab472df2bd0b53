//! The assistant API's reads (seed 001): pages of orders, products and a product's variants, each page
//! one DynamoDB request at any depth (the cursor is the position to continue after). Keys:
//! `docs/data-model.md` §6.6.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{
    domain::{Order, Product, ShopDomain, Variant},
    error::StoreError,
};

/// A page and where the next one starts (`None` on the last page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// Filters of the orders list. `status` is the list's status label (`fulfilled`, `cancelled`, …).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderFilter {
    pub created_from: Option<DateTime<Utc>>,
    pub created_to: Option<DateTime<Utc>>,
    pub status: Option<String>,
    pub email: Option<String>,
}

impl OrderFilter {
    pub fn matches(&self, order: &Order) -> bool {
        self.created_from.is_none_or(|from| order.created_at >= from)
            && self.created_to.is_none_or(|to| order.created_at <= to)
            && self.status.as_ref().is_none_or(|s| *s == order.status_label())
            && self.email.as_ref().is_none_or(|e| order.customer.as_ref().and_then(|c| c.email.as_ref()) == Some(e))
    }
}

/// One stored page of a product's variants: page 0 is the product's main record (its first 250).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariantPage {
    pub product_title: String,
    pub variants: Vec<Variant>,
    /// The next stored page, if there is one.
    pub next_page: Option<usize>,
}

#[async_trait]
pub trait AssistantStore: Send + Sync {
    /// Up to `limit` of the shop's orders, newest first, after position `after`. A page may hold fewer
    /// than `limit` orders when filters skip some; `next` is then still set while the list goes on.
    async fn orders_page(
        &self,
        shop: &ShopDomain,
        filter: &OrderFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<Order>, StoreError>;

    /// Up to `limit` live products (with their first 250 variants) by product id, after `after`.
    async fn products_page(
        &self,
        shop: &ShopDomain,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<Product>, StoreError>;

    /// Stored variant page `page` of the product (`None`: no such live product).
    async fn variants_page(
        &self,
        shop: &ShopDomain,
        product_id: &str,
        page: usize,
    ) -> Result<Option<VariantPage>, StoreError>;
}
