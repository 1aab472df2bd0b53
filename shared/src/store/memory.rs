//! In-memory adapter of the store ports, for handler tests. It follows the same contract as
//! [`super::dynamo::DynamoStore`]; `crate::testing::store_contract` runs both.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Mutex, MutexGuard},
};

mod amazon;
mod assistant;
mod install;

use async_trait::async_trait;

use chrono::{DateTime, Utc};

use super::{
    AlertStore, Delivery, DeliveryStore, Listed, OrderQuery, OrderStore, ProductStore, ReceiptStore, Recorded,
    RequestStore, Resource, Seek, ShopRecord, ShopStatus, ShopStore, SyncState, SyncStore, WebhookReceipt,
    WriteOutcome, keys,
};
use crate::{
    domain::{Alert, Order, OrderKey, Product, ShopDomain, TimelineEvent, Variant, product::VARIANTS_PER_RECORD},
    error::StoreError,
};

#[derive(Debug, Default)]
struct State {
    /// By order partition key.
    orders: HashMap<String, Order>,
    /// By order partition key, then timeline sort key.
    timelines: HashMap<String, BTreeMap<String, TimelineEvent>>,
    /// By receipt key: whether it was handed on.
    receipts: HashMap<String, (WebhookReceipt, bool)>,
    /// By feed sort key, per shop.
    alerts: HashMap<ShopDomain, BTreeMap<String, Alert>>,
    /// Remembered page boundaries, by list partition and offset.
    pages: HashMap<(String, u64), String>,
    /// Stored action responses, by request key.
    requests: HashMap<String, String>,
    /// Delivery records, by order partition then id.
    deliveries: HashMap<String, BTreeMap<String, Delivery>>,
    shops: HashMap<ShopDomain, ShopStatus>,
    shop_records: HashMap<ShopDomain, ShopRecord>,
    exports: HashMap<(ShopDomain, String), String>,
    sync: HashMap<ShopDomain, SyncState>,
    /// Products by shop and id: the product, or `None` once deleted, with its revision time.
    products: HashMap<(ShopDomain, String), (Option<Product>, DateTime<Utc>)>,
    /// Inventory item → product id.
    inventory_items: HashMap<(ShopDomain, String), String>,
    order_cursors: HashMap<(ShopDomain, OrderKey), String>,
}

#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    amazon: amazon::AmazonMemory,
    install: install::InstallMemory,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every stored order, for assertions.
    pub fn all_orders(&self) -> Vec<Order> {
        self.state().orders.values().cloned().collect()
    }

    /// Whether the receipt exists and was handed on, for assertions.
    pub fn receipt(&self, shop: &ShopDomain, webhook_id: &str) -> Option<(WebhookReceipt, bool)> {
        self.state().receipts.get(&keys::receipt_pk(shop, webhook_id)).cloned()
    }
}

#[async_trait]
impl OrderStore for MemoryStore {
    async fn get_order(&self, shop: &ShopDomain, key: &OrderKey) -> Result<Option<Order>, StoreError> {
        Ok(self.state().orders.get(&keys::order_pk(shop, key)).cloned())
    }

    async fn write_order(
        &self,
        order: &Order,
        previous: Option<&Order>,
        events: &[TimelineEvent],
    ) -> Result<WriteOutcome, StoreError> {
        let pk = keys::order_pk(&order.shop, &order.key());
        let mut state = self.state();
        let current = state.orders.get(&pk).map(|o| o.version);
        if current != previous.map(|p| p.version) {
            return Ok(WriteOutcome::VersionConflict);
        }
        state.orders.insert(pk.clone(), order.clone());
        let timeline = state.timelines.entry(pk).or_default();
        for event in events {
            timeline.insert(keys::timeline_sk(event), event.clone());
        }
        Ok(WriteOutcome::Written)
    }

    async fn list_orders(
        &self,
        shop: &ShopDomain,
        query: &OrderQuery,
        seek: &Seek,
        limit: usize,
    ) -> Result<Vec<Listed>, StoreError> {
        let state = self.state();
        let mut listed: Vec<Listed> = state
            .orders
            .values()
            .filter(|o| &o.shop == shop && query.matches(o))
            .map(|o| Listed { position: keys::order_position(o), order: o.clone() })
            .filter(|l| match seek {
                Seek::First => true,
                Seek::From(position) => l.position <= *position,
                Seek::Before(position) => l.position > *position,
            })
            .collect();
        match seek {
            Seek::Before(_) => listed.sort_by(|a, b| a.position.cmp(&b.position)),
            _ => listed.sort_by(|a, b| b.position.cmp(&a.position)),
        }
        listed.truncate(limit);
        Ok(listed)
    }

    async fn page_boundary(
        &self,
        shop: &ShopDomain,
        fingerprint: &str,
        offset: u64,
    ) -> Result<Option<String>, StoreError> {
        Ok(self.state().pages.get(&(keys::pages_pk(shop, fingerprint), offset)).cloned())
    }

    async fn remember_page_boundary(
        &self,
        shop: &ShopDomain,
        fingerprint: &str,
        offset: u64,
        position: &str,
    ) -> Result<(), StoreError> {
        self.state().pages.insert((keys::pages_pk(shop, fingerprint), offset), position.to_owned());
        Ok(())
    }

    async fn find_by_name(&self, shop: &ShopDomain, name: &str) -> Result<Option<Order>, StoreError> {
        let wanted = keys::order_name_gsi2pk(shop, name);
        Ok(self.state().orders.values().find(|o| keys::order_name_gsi2pk(&o.shop, o.name.as_str()) == wanted).cloned())
    }

    async fn order_detail(
        &self,
        shop: &ShopDomain,
        key: &OrderKey,
        events: usize,
    ) -> Result<Option<(Order, Vec<TimelineEvent>)>, StoreError> {
        let state = self.state();
        let pk = keys::order_pk(shop, key);
        let Some(order) = state.orders.get(&pk) else { return Ok(None) };
        let timeline = state.timelines.get(&pk).map(|t| t.values().rev().take(events).cloned().collect());
        Ok(Some((order.clone(), timeline.unwrap_or_default())))
    }

    async fn shops(&self) -> Result<Vec<ShopDomain>, StoreError> {
        let mut shops: Vec<ShopDomain> = self.state().orders.values().map(|o| o.shop.clone()).collect();
        shops.sort();
        shops.dedup();
        Ok(shops)
    }

    async fn due_for_review(
        &self,
        shop: &ShopDomain,
        watch: keys::Watch,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OrderKey>, StoreError> {
        let pk = keys::watch_pk(shop, watch);
        let until = format!("{}~", keys::sortable_millis(until));
        let state = self.state();
        let mut due: Vec<(String, OrderKey)> = state
            .orders
            .values()
            .flat_map(|o| keys::order_index(o).into_iter().map(move |e| (e, o.key())))
            .filter(|(e, _)| e.pk == pk && e.sk <= until)
            .map(|(e, key)| (e.sk, key))
            .collect();
        due.sort();
        Ok(due.into_iter().take(limit).map(|(_, key)| key).collect())
    }
}

#[async_trait]
impl ReceiptStore for MemoryStore {
    async fn begin_receipt(&self, receipt: &WebhookReceipt) -> Result<Recorded, StoreError> {
        let mut state = self.state();
        let key = keys::receipt_pk(&receipt.shop, &receipt.webhook_id);
        match state.receipts.get(&key) {
            Some((_, true)) => Ok(Recorded::Duplicate),
            _ => {
                state.receipts.insert(key, (receipt.clone(), false));
                Ok(Recorded::New)
            }
        }
    }

    async fn complete_receipt(&self, shop: &ShopDomain, webhook_id: &str) -> Result<(), StoreError> {
        if let Some(entry) = self.state().receipts.get_mut(&keys::receipt_pk(shop, webhook_id)) {
            entry.1 = true;
        }
        Ok(())
    }
}

#[async_trait]
impl AlertStore for MemoryStore {
    async fn raise_alert(&self, alert: &Alert) -> Result<Recorded, StoreError> {
        let mut state = self.state();
        let feed = state.alerts.entry(alert.shop.clone()).or_default();
        if feed.values().any(|a| a.id == alert.id) {
            return Ok(Recorded::Duplicate);
        }
        feed.insert(keys::shop_alerts_gsi1sk(alert.raised_at, &alert.id), alert.clone());
        Ok(Recorded::New)
    }

    async fn clear_alert(&self, shop: &ShopDomain, id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let mut state = self.state();
        let Some(feed) = state.alerts.get_mut(shop) else { return Ok(()) };
        let Some(position) = feed.iter().find(|(_, a)| a.id == id && a.cleared_at.is_none()).map(|(p, _)| p.clone())
        else {
            return Ok(());
        };
        if let Some(mut alert) = feed.remove(&position) {
            alert.cleared_at = Some(at);
            feed.insert(keys::shop_alerts_gsi1sk(keys::clear_position(&alert, at), id), alert);
        }
        Ok(())
    }

    async fn alerts_since(
        &self,
        shop: &ShopDomain,
        since: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Alert)>, StoreError> {
        let state = self.state();
        let Some(feed) = state.alerts.get(shop) else {
            return Ok(Vec::new());
        };
        Ok(feed
            .iter()
            .filter(|(sk, _)| since.is_none_or(|since| sk.as_str() > since))
            .take(limit)
            .map(|(sk, a)| (sk.clone(), a.clone()))
            .collect())
    }
}

#[async_trait]
impl RequestStore for MemoryStore {
    async fn stored_response(
        &self,
        shop: &ShopDomain,
        key: &str,
        _now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        Ok(self.state().requests.get(&keys::request_pk(shop, key)).cloned())
    }

    async fn store_response(
        &self,
        shop: &ShopDomain,
        key: &str,
        response: &str,
        _now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.state().requests.insert(keys::request_pk(shop, key), response.to_owned());
        Ok(())
    }
}

#[async_trait]
impl DeliveryStore for MemoryStore {
    async fn record_delivery(&self, shop: &ShopDomain, key: &OrderKey, delivery: &Delivery) -> Result<(), StoreError> {
        let mut state = self.state();
        let records = state.deliveries.entry(keys::order_pk(shop, key)).or_default();
        records.insert(delivery.id.clone(), delivery.clone());
        Ok(())
    }

    async fn deliveries(&self, shop: &ShopDomain, key: &OrderKey) -> Result<Vec<Delivery>, StoreError> {
        Ok(self
            .state()
            .deliveries
            .get(&keys::order_pk(shop, key))
            .map(|d| d.values().cloned().collect())
            .unwrap_or_default())
    }
}

#[async_trait]
impl ShopStore for MemoryStore {
    async fn install_shop(&self, record: &ShopRecord) -> Result<(), StoreError> {
        let mut state = self.state();
        state.shops.insert(record.shop.clone(), record.status);
        state.shop_records.insert(record.shop.clone(), record.clone());
        Ok(())
    }

    async fn shop(&self, shop: &ShopDomain) -> Result<Option<ShopRecord>, StoreError> {
        let state = self.state();
        Ok(state.shop_records.get(shop).cloned().map(|mut r| {
            r.status = state.shops.get(shop).copied().unwrap_or(r.status);
            r
        }))
    }

    async fn set_shop_status(
        &self,
        shop: &ShopDomain,
        status: ShopStatus,
        _at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.state().shops.insert(shop.clone(), status);
        Ok(())
    }

    async fn shop_status(&self, shop: &ShopDomain) -> Result<Option<ShopStatus>, StoreError> {
        Ok(self.state().shops.get(shop).copied())
    }

    async fn active_shops(&self) -> Result<Vec<ShopDomain>, StoreError> {
        let mut shops: Vec<ShopDomain> =
            self.state().shops.iter().filter(|(_, s)| **s == ShopStatus::Active).map(|(d, _)| d.clone()).collect();
        shops.sort();
        Ok(shops)
    }

    async fn erase_shop(&self, shop: &ShopDomain) -> Result<u64, StoreError> {
        let mut state = self.state();
        let prefix = format!("ORDER#{shop}#");
        let before = state.orders.len() + state.alerts.get(shop).map_or(0, |a| a.len());
        state.orders.retain(|pk, _| !pk.starts_with(&prefix));
        state.timelines.retain(|pk, _| !pk.starts_with(&prefix));
        state.deliveries.retain(|pk, _| !pk.starts_with(&prefix));
        state.alerts.remove(shop);
        state.shops.remove(shop);
        state.shop_records.remove(shop);
        state.exports.retain(|(s, _), _| s != shop);
        state.sync.remove(shop);
        state.products.retain(|(s, _), _| s != shop);
        state.inventory_items.retain(|(s, _), _| s != shop);
        state.order_cursors.retain(|(s, _), _| s != shop);
        drop(state);
        self.install.erase(shop);
        Ok(before as u64 + self.amazon.erase(shop))
    }

    async fn record_data_export(&self, shop: &ShopDomain, request_id: &str, export: &str) -> Result<(), StoreError> {
        self.state().exports.insert((shop.clone(), request_id.to_owned()), export.to_owned());
        Ok(())
    }

    async fn data_export(&self, shop: &ShopDomain, request_id: &str) -> Result<Option<String>, StoreError> {
        Ok(self.state().exports.get(&(shop.clone(), request_id.to_owned())).cloned())
    }
}

/// Moves `slot` to `at` if it is behind; returns whether it moved.
fn forward(slot: &mut Option<DateTime<Utc>>, at: DateTime<Utc>) -> bool {
    let moved = slot.is_none_or(|current| current < at);
    if moved {
        *slot = Some(at);
    }
    moved
}

#[async_trait]
impl SyncStore for MemoryStore {
    async fn sync_state(&self, shop: &ShopDomain) -> Result<SyncState, StoreError> {
        Ok(self.state().sync.get(shop).cloned().unwrap_or_default())
    }

    async fn advance_watermark(
        &self,
        shop: &ShopDomain,
        resource: Resource,
        to: DateTime<Utc>,
        cursor: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut state = self.state();
        let sync = state.sync.entry(shop.clone()).or_default();
        let moved = match resource {
            Resource::Orders => forward(&mut sync.orders_watermark, to),
            Resource::Products => forward(&mut sync.products_watermark, to),
        };
        if moved {
            if let (Resource::Orders, Some(cursor)) = (resource, cursor) {
                sync.orders_cursor = Some(cursor.to_owned());
            }
            sync.refreshed_at = Some(to);
        }
        Ok(moved)
    }

    async fn record_webhook(&self, shop: &ShopDomain, at: DateTime<Utc>) -> Result<(), StoreError> {
        let mut state = self.state();
        let sync = state.sync.entry(shop.clone()).or_default();
        if forward(&mut sync.last_webhook_at, at) {
            sync.refreshed_at = Some(at);
        }
        Ok(())
    }

    async fn ping_refresh(&self, shop: &ShopDomain, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.state().sync.entry(shop.clone()).or_default().refreshed_at = Some(at);
        Ok(())
    }

    async fn record_order_cursors(&self, shop: &ShopDomain, cursors: &[(OrderKey, String)]) -> Result<(), StoreError> {
        let mut state = self.state();
        for (key, cursor) in cursors {
            state.order_cursors.insert((shop.clone(), key.clone()), cursor.clone());
        }
        Ok(())
    }

    async fn order_cursor(&self, shop: &ShopDomain, key: &OrderKey) -> Result<Option<String>, StoreError> {
        Ok(self.state().order_cursors.get(&(shop.clone(), key.clone())).cloned())
    }
}

#[async_trait]
impl ProductStore for MemoryStore {
    async fn put_product(&self, product: &Product) -> Result<bool, StoreError> {
        let mut state = self.state();
        let key = (product.shop.clone(), product.id.clone());
        let mut next = product.clone();
        if let Some((previous, at)) = state.products.get(&key) {
            if *at >= product.updated_at {
                return Ok(false);
            }
            if let Some(previous) = previous {
                next.carry_levels_from(previous);
            }
        }
        for item in next.variants.iter().filter_map(|v| v.inventory_item_id.clone()) {
            state.inventory_items.insert((product.shop.clone(), item), product.id.clone());
        }
        state.products.insert(key, (Some(next), product.updated_at));
        Ok(true)
    }

    async fn product(&self, shop: &ShopDomain, id: &str) -> Result<Option<(Product, usize)>, StoreError> {
        let state = self.state();
        let Some((Some(product), _)) = state.products.get(&(shop.clone(), id.to_owned())) else { return Ok(None) };
        let pages = product.variants.len().saturating_sub(1) / VARIANTS_PER_RECORD;
        let mut head = product.clone();
        head.variants.truncate(VARIANTS_PER_RECORD);
        Ok(Some((head, pages)))
    }

    async fn variant_page(&self, shop: &ShopDomain, id: &str, page: usize) -> Result<Vec<Variant>, StoreError> {
        let state = self.state();
        let Some((Some(product), _)) = state.products.get(&(shop.clone(), id.to_owned())) else { return Ok(vec![]) };
        Ok(product.variants.iter().skip(page * VARIANTS_PER_RECORD).take(VARIANTS_PER_RECORD).cloned().collect())
    }

    async fn delete_product(&self, shop: &ShopDomain, id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let mut state = self.state();
        let key = (shop.clone(), id.to_owned());
        let at = state.products.get(&key).map_or(at, |(_, stored)| at.max(*stored));
        state.products.insert(key, (None, at));
        Ok(())
    }

    async fn set_inventory_level(
        &self,
        shop: &ShopDomain,
        inventory_item: &str,
        location: &str,
        available: i64,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut state = self.state();
        let Some(id) = state.inventory_items.get(&(shop.clone(), inventory_item.to_owned())).cloned() else {
            return Ok(false);
        };
        let Some((Some(product), _)) = state.products.get_mut(&(shop.clone(), id)) else { return Ok(false) };
        let Some(variant) =
            product.variants.iter_mut().find(|v| v.inventory_item_id.as_deref() == Some(inventory_item))
        else {
            return Ok(false);
        };
        Ok(variant.set_level(location, available, at))
    }
}
