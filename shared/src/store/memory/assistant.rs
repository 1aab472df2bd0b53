//! In-memory [`AssistantStore`], following the DynamoDB adapter's paging (without its filter gaps).

use async_trait::async_trait;

use super::MemoryStore;
use crate::{
    domain::{Order, Product, ShopDomain, product::VARIANTS_PER_RECORD},
    error::StoreError,
    store::{
        assistant::{AssistantStore, OrderFilter, Page, VariantPage},
        keys,
    },
};

fn paged<T>(mut items: Vec<(String, T)>, limit: usize) -> Page<T> {
    let more = items.len() > limit;
    items.truncate(limit);
    let next = if more { items.last().map(|(p, _)| p.clone()) } else { None };
    Page { items: items.into_iter().map(|(_, t)| t).collect(), next }
}

#[async_trait]
impl AssistantStore for MemoryStore {
    async fn orders_page(
        &self,
        shop: &ShopDomain,
        filter: &OrderFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<Order>, StoreError> {
        let state = self.state();
        let mut orders: Vec<(String, Order)> = state
            .orders
            .values()
            .filter(|o| &o.shop == shop && filter.matches(o))
            .map(|o| (keys::order_position(o), o.clone()))
            .filter(|(p, _)| after.is_none_or(|a| p.as_str() < a))
            .collect();
        orders.sort_by(|a, b| b.0.cmp(&a.0));
        Ok(paged(orders, limit))
    }

    async fn products_page(
        &self,
        shop: &ShopDomain,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<Product>, StoreError> {
        let state = self.state();
        let mut products: Vec<(String, Product)> = state
            .products
            .iter()
            .filter(|((s, id), _)| s == shop && after.is_none_or(|a| id.as_str() > a))
            .filter_map(|((_, id), (product, _))| {
                let mut head = product.clone()?;
                head.variants.truncate(VARIANTS_PER_RECORD);
                Some((id.clone(), head))
            })
            .collect();
        products.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(paged(products, limit))
    }

    async fn variants_page(
        &self,
        shop: &ShopDomain,
        product_id: &str,
        page: usize,
    ) -> Result<Option<VariantPage>, StoreError> {
        let state = self.state();
        let Some((Some(product), _)) = state.products.get(&(shop.clone(), product_id.to_owned())) else {
            return Ok(None);
        };
        let pages = product.variants.len().saturating_sub(1) / VARIANTS_PER_RECORD;
        Ok(Some(VariantPage {
            product_title: product.title.clone(),
            variants: product
                .variants
                .iter()
                .skip(page * VARIANTS_PER_RECORD)
                .take(VARIANTS_PER_RECORD)
                .cloned()
                .collect(),
            next_page: (page < pages).then_some(page + 1),
        }))
    }
}
