//! Key builders for the single table. Every key the code writes or queries is spelled here, and
//! `docs/data-model.md` documents them.

use chrono::{DateTime, Utc};

use crate::domain::{
    Integration, Order, OrderKey, OrderName, ShopDomain, Tab, TimelineEvent,
    ops::{DELAYED_AFTER, TRACKING_PENDING_AFTER},
};

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

/// An order's position in every list: creation time, then key, so lists are newest first.
pub fn order_position(order: &Order) -> String {
    format!("{}#{}", sortable_millis(order.created_at), order.key())
}

/// The list partition of a tab.
pub fn tab_pk(shop: &ShopDomain, tab: Tab) -> String {
    format!("TAB#{shop}#{tab}")
}

/// The list partition of an assignee.
pub fn assignee_pk(shop: &ShopDomain, assignee: &str) -> String {
    format!("ASSIGNEE#{shop}#{assignee}")
}

/// Time-driven conditions the shipment monitor reviews.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watch {
    /// No tracking yet: due when the order turns 2 hours old.
    Tracking,
    /// In transit: due 24 hours after the last carrier update.
    Transit,
}

pub fn watch_pk(shop: &ShopDomain, watch: Watch) -> String {
    match watch {
        Watch::Tracking => format!("WATCH#{shop}#tracking"),
        Watch::Transit => format!("WATCH#{shop}#transit"),
    }
}

/// One index item of an order: a list entry (carrying a copy of the order) or a watch entry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct IndexEntry {
    pub pk: String,
    pub sk: String,
    pub listing: bool,
}

/// Every index item `order` should have: one per tab it is in, one for its assignee, and a watch entry
/// while a shipment flag may still come due.
pub fn order_index(order: &Order) -> Vec<IndexEntry> {
    let position = order_position(order);
    let mut entries: Vec<IndexEntry> = order
        .tabs()
        .into_iter()
        .map(|tab| IndexEntry { pk: tab_pk(&order.shop, tab), sk: position.clone(), listing: true })
        .collect();
    if let Some(assignee) = &order.ops.assigned_to {
        entries.push(IndexEntry { pk: assignee_pk(&order.shop, assignee), sk: position.clone(), listing: true });
    }
    let flags = &order.ops.flags;
    if order.awaits_tracking() && flags.tracking_pending_since.is_none() {
        let due = order.created_at + TRACKING_PENDING_AFTER;
        entries.push(IndexEntry {
            pk: watch_pk(&order.shop, Watch::Tracking),
            sk: format!("{}#{}", sortable_millis(due), order.key()),
            listing: false,
        });
    }
    if let (Some(last_update), None, true) = (order.in_transit_since(), flags.delayed_since, order.ours_to_ship()) {
        entries.push(IndexEntry {
            pk: watch_pk(&order.shop, Watch::Transit),
            sk: format!("{}#{}", sortable_millis(last_update + DELAYED_AFTER), order.key()),
            listing: false,
        });
    }
    entries
}

/// Remembered page boundaries of one list.
pub fn pages_pk(shop: &ShopDomain, fingerprint: &str) -> String {
    format!("PAGES#{shop}#{fingerprint}")
}

pub fn page_sk(offset: u64) -> String {
    format!("{offset:020}")
}

/// GSI2 partition for looking an order up by its name.
pub fn order_name_gsi2pk(shop: &ShopDomain, name: &str) -> String {
    format!("SHOP#{shop}#NAME#{}", OrderName::normalize(name))
}

pub fn receipt_pk(shop: &ShopDomain, source: Integration, delivery_id: &str) -> String {
    format!("WEBHOOK#{shop}#{source}#{delivery_id}")
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

/// Whether `cursor` has the shape of an alert feed cursor (`{15-digit millis}#{id}`).
pub fn is_alert_cursor(cursor: &str) -> bool {
    cursor.len() <= 300
        && cursor
            .split_once('#')
            .is_some_and(|(millis, _)| millis.len() == 15 && millis.bytes().all(|b| b.is_ascii_digit()))
}

pub fn shop_alerts_gsi1sk(raised_at: DateTime<Utc>, id: &str) -> String {
    format!("{}#{id}", sortable_millis(raised_at))
}

/// Where a cleared alert moves in the feed: its clearing time, but always past where it was raised, so a
/// reader who saw the raise sees the clear too.
pub fn clear_position(alert: &crate::domain::Alert, at: DateTime<Utc>) -> DateTime<Utc> {
    at.max(alert.raised_at + chrono::Duration::milliseconds(1))
}

/// Milliseconds since the epoch, zero-padded so that string order is time order.
pub fn sortable_millis(at: DateTime<Utc>) -> String {
    format!("{:015}", at.timestamp_millis().max(0))
}

pub fn request_pk(shop: &ShopDomain, key: &str) -> String {
    format!("REQUEST#{shop}#{key}")
}

pub const REQUEST_SK: &str = "REQUEST";

/// Delivery records sort before `TL#`, so the order detail query (descending from `~ORDER`) reaches
/// them only after every timeline event.
pub fn delivery_sk(id: &str) -> String {
    format!("DELIVERY#{id}")
}

/// The claim on delivery `id` (in the order's partition, before `DELIVERY#`, so neither the delivery
/// records nor the order detail read it).
pub fn delivery_claim_sk(id: &str) -> String {
    format!("CLAIM#{id}")
}

/// Every shop that has orders, one item each, for the scheduled jobs.
pub const SHOPS_PK: &str = "SHOPS";

/// The shop's own partition: its record and its compliance exports.
pub fn shop_pk(shop: &ShopDomain) -> String {
    format!("SHOP#{shop}")
}

pub const SHOP_SK: &str = "SHOP";

/// A live alert stream's slot in the shop's partition (`erase_shop` takes it along).
pub fn stream_sk(slot: usize) -> String {
    format!("STREAM#{slot:03}")
}

pub fn export_sk(request_id: &str) -> String {
    format!("EXPORT#{request_id}")
}

/// GSI1 partition listing the active shops (a sparse index: an uninstalled shop's item leaves it), for
/// the scheduled polls. The shop domain is the sort key.
pub const ACTIVE_SHOPS_GSI1PK: &str = "SHOPS#active";

/// The shop's sync state (every integration's poll watermarks, last webhook, refresh ping), in the
/// shop's partition so `shop/redact` erases it with the shop.
pub const SYNC_SK: &str = "SYNC#shopify";

/// The sync state attributes of an integration's watermark for `resource`, and of its cursor.
pub fn watermark_attributes(integration: Integration, resource: &str) -> (String, String) {
    (format!("{integration}_{resource}_watermark"), format!("{integration}_{resource}_cursor"))
}

/// A sortable UTC timestamp (fixed width, millisecond precision), so conditions can compare strings.
pub fn sortable_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A product's item collection: its main record (the first 250 variants) and its variant pages.
pub fn product_pk(shop: &ShopDomain, id: &str) -> String {
    format!("PRODUCT#{shop}#{id}")
}

pub const PRODUCT_SK: &str = "~PRODUCT";

/// Variant page `page` (1-based; page 0 is the main record).
pub fn variant_page_sk(page: usize) -> String {
    format!("VARIANTS#{page:04}")
}

/// GSI1 partition listing a shop's products (on their main records).
pub fn shop_products_gsi1pk(shop: &ShopDomain) -> String {
    format!("SHOP#{shop}#PRODUCTS")
}

/// The shop's inventory item index: inventory item id (sort key) → product id, for
/// `inventory_levels/update`, which names only the inventory item; and `SKU#{sku}` → inventory item id,
/// for a warehouse's stock change, which names only the SKU.
pub fn inventory_items_pk(shop: &ShopDomain) -> String {
    format!("INVITEMS#{shop}")
}

/// The sort key of `sku` in the inventory item index.
pub fn sku_sk(sku: &str) -> String {
    format!("SKU#{sku}")
}

/// The shop's order cursors: order key (sort key) → the Shopify GraphQL cursor the poll last read it at.
pub fn order_cursors_pk(shop: &ShopDomain) -> String {
    format!("CURSORS#{shop}")
}

/// The shop's connection to an integration, in the shop's partition (erased with it).
pub fn connection_sk(integration: Integration) -> String {
    format!("CONN#{integration}")
}

/// The shop's sealed credential for an integration, in the shop's partition.
pub fn credential_sk(integration: Integration) -> String {
    format!("CRED#{integration}")
}

/// GSI2 partition of an integration's active connections (`GSI2SK` = the shop), for its scheduler.
pub fn active_connections_gsi2pk(integration: Integration) -> String {
    format!("CONNS#{integration}")
}

/// A mirrored upstream record's partition: the record (`RECORD`) and its parts (`PART#{id}`).
pub fn mirror_pk(shop: &ShopDomain, integration: Integration, kind: &str, id: &str) -> String {
    format!("MIRROR#{shop}#{integration}#{kind}#{id}")
}

pub const MIRROR_RECORD_SK: &str = "RECORD";

pub fn mirror_part_sk(id: &str) -> String {
    format!("PART#{id}")
}

/// GSI1 partition of every mirrored record of the shop: lists them per integration and kind (sort key
/// prefix), newest first, and reaches them all for erasure whatever the integration.
pub fn mirrors_gsi1pk(shop: &ShopDomain) -> String {
    format!("SHOP#{shop}#MIRROR")
}

pub fn mirrors_gsi1sk_prefix(integration: Integration, kind: &str) -> String {
    format!("{integration}#{kind}#")
}

pub fn mirrors_gsi1sk(integration: Integration, kind: &str, sort_at: DateTime<Utc>, id: &str) -> String {
    format!("{}{}#{id}", mirrors_gsi1sk_prefix(integration, kind), sortable_millis(sort_at))
}

/// An inbound event waiting until its order `key` is stored, in the shop's partition (erased with it).
pub fn waiting_sk(key: &OrderKey, id: &str) -> String {
    format!("{}{id}", waiting_prefix(key))
}

/// The sort key prefix of the events waiting for the order `key`.
pub fn waiting_prefix(key: &OrderKey) -> String {
    format!("WAITING#{key}#")
}

/// A pending outbound effect, in the shop's partition (erased with it).
pub fn outbox_sk(id: &str) -> String {
    format!("OUTBOX#{id}")
}

/// A dead letter of `destination`, in the shop's partition (erased with it).
pub fn dead_letter_sk(destination: Integration, id: &str) -> String {
    format!("DEADLETTER#{destination}#{id}")
}

/// The sort key prefix of the shop's dead letters, of one destination or all.
pub fn dead_letters_prefix(destination: Option<Integration>) -> String {
    destination.map_or_else(|| "DEADLETTER#".to_owned(), |d| format!("DEADLETTER#{d}#"))
}
