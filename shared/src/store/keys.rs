//! Key builders for the single table. Every key the code writes or queries is spelled here, and
//! `docs/data-model.md` documents them.

use chrono::{DateTime, Utc};

use crate::domain::{OrderKey, OrderName, ShopDomain, TimelineEvent};

pub const PK: &str = "PK";
pub const SK: &str = "SK";
pub const GSI1: &str = "GSI1";
pub const GSI1PK: &str = "GSI1PK";
pub const GSI1SK: &str = "GSI1SK";
pub const GSI2: &str = "GSI2";
pub const GSI2PK: &str = "GSI2PK";
pub const GSI2SK: &str = "GSI2SK";
pub const TTL: &str = "ttl";

/// The order's item collection: the order itself plus its timeline.
pub fn order_pk(shop: &ShopDomain, key: &OrderKey) -> String {
    format!("ORDER#{shop}#{key}")
}

/// The order item's sort key. `~` sorts after every `TL#` key, so a descending query on the partition
/// returns the order first and then its newest events.
pub const ORDER_SK: &str = "~ORDER";

pub const TIMELINE_PREFIX: &str = "TL#";

pub fn timeline_sk(event: &TimelineEvent) -> String {
    format!("{TIMELINE_PREFIX}{}", event.id())
}

/// GSI1 partition of a shop's orders, sorted by creation time.
pub fn shop_orders_gsi1pk(shop: &ShopDomain) -> String {
    format!("SHOP#{shop}#ORDERS")
}

pub fn shop_orders_gsi1sk(created_at: DateTime<Utc>, key: &OrderKey) -> String {
    format!("{}#{key}", sortable_millis(created_at))
}

/// GSI2 partition for looking an order up by its name.
pub fn order_name_gsi2pk(shop: &ShopDomain, name: &str) -> String {
    format!("SHOP#{shop}#NAME#{}", OrderName::normalize(name))
}

pub fn receipt_pk(shop: &ShopDomain, webhook_id: &str) -> String {
    format!("WEBHOOK#{shop}#{webhook_id}")
}

pub const RECEIPT_SK: &str = "RECEIPT";

pub fn alert_pk(shop: &ShopDomain, id: &str) -> String {
    format!("ALERT#{shop}#{id}")
}

pub const ALERT_SK: &str = "ALERT";

/// GSI1 partition of a shop's alert feed, sorted by raise time.
pub fn shop_alerts_gsi1pk(shop: &ShopDomain) -> String {
    format!("SHOP#{shop}#ALERTS")
}

pub fn shop_alerts_gsi1sk(raised_at: DateTime<Utc>, id: &str) -> String {
    format!("{}#{id}", sortable_millis(raised_at))
}

/// Milliseconds since the epoch, zero-padded so that string order is time order.
pub fn sortable_millis(at: DateTime<Utc>) -> String {
    format!("{:015}", at.timestamp_millis().max(0))
}
