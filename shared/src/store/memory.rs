//! In-memory adapter of the store ports, for handler tests. It follows the same contract as
//! [`super::dynamo::DynamoStore`]; `crate::testing::store_contract` runs both.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Mutex, MutexGuard},
};

mod amazon;

use async_trait::async_trait;

use chrono::{DateTime, Utc};

use super::{
    AlertStore, Delivery, DeliveryStore, Listed, OrderQuery, OrderStore, ReceiptStore, Recorded, RequestStore, Seek,
    ShopRecord, ShopStatus, ShopStore, WebhookReceipt, WriteOutcome, keys,
};
use crate::{
    domain::{Alert, Order, OrderKey, ShopDomain, TimelineEvent},
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
}

#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    amazon: amazon::AmazonMemory,
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
