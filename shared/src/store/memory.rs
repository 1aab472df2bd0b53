//! In-memory adapter of the store ports, for handler tests. It follows the same contract as
//! [`super::dynamo::DynamoStore`]; `crate::testing::store_contract` runs both.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Mutex, MutexGuard},
};

use async_trait::async_trait;

use super::{AlertStore, OrderPage, OrderStore, ReceiptStore, Recorded, WebhookReceipt, WriteOutcome, keys};
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
}

#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
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
        expected_version: Option<u64>,
        events: &[TimelineEvent],
    ) -> Result<WriteOutcome, StoreError> {
        let pk = keys::order_pk(&order.shop, &order.key());
        let mut state = self.state();
        let current = state.orders.get(&pk).map(|o| o.version);
        if current != expected_version {
            return Ok(WriteOutcome::VersionConflict);
        }
        state.orders.insert(pk.clone(), order.clone());
        let timeline = state.timelines.entry(pk).or_default();
        for event in events {
            timeline.insert(keys::timeline_sk(event), event.clone());
        }
        Ok(WriteOutcome::Written)
    }

    async fn list_orders(&self, shop: &ShopDomain, limit: usize, after: Option<&str>) -> Result<OrderPage, StoreError> {
        let state = self.state();
        let mut sorted: Vec<(String, &Order)> = state
            .orders
            .values()
            .filter(|o| &o.shop == shop)
            .map(|o| (keys::shop_orders_gsi1sk(o.created_at, &o.key()), o))
            .filter(|(sk, _)| after.is_none_or(|after| sk.as_str() < after))
            .collect();
        sorted.sort_by(|a, b| b.0.cmp(&a.0));
        let has_more = sorted.len() > limit;
        sorted.truncate(limit);
        let next = if has_more { sorted.last().map(|(sk, _)| sk.clone()) } else { None };
        Ok(OrderPage { orders: sorted.into_iter().map(|(_, o)| o.clone()).collect(), next })
    }

    async fn find_by_name(&self, shop: &ShopDomain, name: &str) -> Result<Option<Order>, StoreError> {
        let wanted = keys::order_name_gsi2pk(shop, name);
        Ok(self.state().orders.values().find(|o| keys::order_name_gsi2pk(&o.shop, o.name.as_str()) == wanted).cloned())
    }

    async fn timeline(
        &self,
        shop: &ShopDomain,
        key: &OrderKey,
        limit: usize,
    ) -> Result<Vec<TimelineEvent>, StoreError> {
        let state = self.state();
        let events = state.timelines.get(&keys::order_pk(shop, key));
        Ok(events.map(|t| t.values().rev().take(limit).cloned().collect()).unwrap_or_default())
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
