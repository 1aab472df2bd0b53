//! Orders are named by Shopify GID (`gid://shopify/Order/123`), numeric id (`123`), order name
//! (`#1001` or `1001`) or our own `channel:id`. Every route that takes an order id accepts them all.

use crate::{
    domain::{ChannelOrderId, Order, OrderKey, ShopDomain},
    error::ApiError,
    store::OrderStore,
};

/// The shop's order named `raw` (a path segment is decoded first: see [`crate::http::path_segment`]).
pub async fn resolve(store: &dyn OrderStore, shop: &ShopDomain, raw: &str) -> Result<Order, ApiError> {
    let raw = raw.trim();
    let not_found = || ApiError::not_found("ORDER_NOT_FOUND", format!("no order `{raw}` in this shop"));
    if raw.is_empty() || raw.len() > 200 {
        return Err(ApiError::bad_request("INVALID_ORDER_ID", "order id is empty or too long"));
    }
    let by_key = if let Some(numeric) = raw.strip_prefix("gid://shopify/Order/") {
        Some(OrderKey::shopify(ChannelOrderId::parse(numeric).map_err(|_| not_found())?))
    } else if raw.contains(':') {
        OrderKey::parse(raw).ok()
    } else if raw.bytes().all(|b| b.is_ascii_digit()) {
        ChannelOrderId::parse(raw).ok().map(OrderKey::shopify)
    } else {
        None
    };
    if let Some(key) = by_key
        && let Some(order) = store.get_order(shop, &key).await?
    {
        return Ok(order);
    }
    store.find_by_name(shop, raw).await?.ok_or_else(not_found)
}
