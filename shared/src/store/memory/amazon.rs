//! In-memory adapter of [`AmazonStore`], following the DynamoDB adapter's rules.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Mutex, MutexGuard},
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::MemoryStore;
use crate::{
    domain::ShopDomain,
    error::StoreError,
    integrations::amazon::model::{AmazonOrder, AmazonOrderItem},
    store::{
        Recorded, WriteOutcome,
        amazon::{AmazonConnection, AmazonStore, CheckResult, SealedCredential, SyncResult, Upserted, Watermark},
        keys,
    },
};

#[derive(Debug, Default)]
struct State {
    connections: HashMap<ShopDomain, AmazonConnection>,
    credentials: HashMap<ShopDomain, SealedCredential>,
    watermarks: HashMap<ShopDomain, Watermark>,
    /// By order partition key.
    orders: HashMap<String, (ShopDomain, AmazonOrder, BTreeMap<String, AmazonOrderItem>)>,
}

/// The Amazon part of [`MemoryStore`].
#[derive(Debug, Default)]
pub struct AmazonMemory(Mutex<State>);

impl AmazonMemory {
    /// Forgets everything of `shop`; returns how many records went.
    pub(super) fn erase(&self, shop: &ShopDomain) -> u64 {
        let mut state = self.state();
        let before = state.connections.len() + state.credentials.len() + state.watermarks.len() + state.orders.len();
        state.connections.remove(shop);
        state.credentials.remove(shop);
        state.watermarks.remove(shop);
        state.orders.retain(|_, (s, _, _)| s != shop);
        let after = state.connections.len() + state.credentials.len() + state.watermarks.len() + state.orders.len();
        (before - after) as u64
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl AmazonStore for MemoryStore {
    async fn amazon_connection(&self, shop: &ShopDomain) -> Result<Option<AmazonConnection>, StoreError> {
        Ok(self.amazon.state().connections.get(shop).cloned())
    }

    async fn create_amazon_connection(&self, connection: &AmazonConnection) -> Result<Recorded, StoreError> {
        let mut state = self.amazon.state();
        if state.connections.contains_key(&connection.shop) {
            return Ok(Recorded::Duplicate);
        }
        state.connections.insert(connection.shop.clone(), connection.clone());
        Ok(Recorded::New)
    }

    async fn update_amazon_connection(&self, connection: &AmazonConnection) -> Result<WriteOutcome, StoreError> {
        let mut state = self.amazon.state();
        match state.connections.get_mut(&connection.shop) {
            Some(stored) if stored.version + 1 == connection.version => {
                let status = stored.status.clone();
                *stored = AmazonConnection { status, ..connection.clone() };
                Ok(WriteOutcome::Written)
            }
            _ => Ok(WriteOutcome::VersionConflict),
        }
    }

    async fn record_amazon_check(&self, shop: &ShopDomain, check: &CheckResult) -> Result<(), StoreError> {
        if let Some(c) = self.amazon.state().connections.get_mut(shop) {
            c.status.last_check_at = Some(check.at);
            c.status.last_check_ok = Some(check.ok);
            c.status.last_check_error = check.error.clone();
        }
        Ok(())
    }

    async fn record_amazon_sync(&self, shop: &ShopDomain, sync: &SyncResult) -> Result<(), StoreError> {
        if let Some(c) = self.amazon.state().connections.get_mut(shop) {
            c.status.last_orders_sync_at = Some(sync.at);
            c.status.last_orders_sync_status = Some(sync.status.clone());
            c.status.last_orders_sync_error = sync.error.clone();
            c.status.last_orders_sync_orders_count = Some(sync.orders);
            c.status.last_orders_sync_items_count = Some(sync.items);
        }
        Ok(())
    }

    async fn active_amazon_connections(&self) -> Result<Vec<ShopDomain>, StoreError> {
        let mut shops: Vec<ShopDomain> =
            self.amazon.state().connections.values().filter(|c| c.active).map(|c| c.shop.clone()).collect();
        shops.sort();
        Ok(shops)
    }

    async fn put_amazon_credential(&self, shop: &ShopDomain, credential: &SealedCredential) -> Result<(), StoreError> {
        self.amazon.state().credentials.insert(shop.clone(), credential.clone());
        Ok(())
    }

    async fn amazon_credential(&self, shop: &ShopDomain) -> Result<Option<SealedCredential>, StoreError> {
        Ok(self.amazon.state().credentials.get(shop).cloned())
    }

    async fn amazon_watermark(&self, shop: &ShopDomain) -> Result<Option<Watermark>, StoreError> {
        Ok(self.amazon.state().watermarks.get(shop).copied())
    }

    async fn advance_amazon_watermark(
        &self,
        shop: &ShopDomain,
        to: DateTime<Utc>,
        expected: Option<u64>,
    ) -> Result<WriteOutcome, StoreError> {
        let mut state = self.amazon.state();
        if state.watermarks.get(shop).map(|w| w.version) != expected {
            return Ok(WriteOutcome::VersionConflict);
        }
        state.watermarks.insert(shop.clone(), Watermark { at: to, version: expected.map_or(1, |v| v + 1) });
        Ok(WriteOutcome::Written)
    }

    async fn upsert_amazon_order(
        &self,
        shop: &ShopDomain,
        order: &AmazonOrder,
        items: &[AmazonOrderItem],
    ) -> Result<Upserted, StoreError> {
        let pk = keys::amazon_order_pk(shop, &order.marketplace_id, &order.amazon_order_id);
        let mut state = self.amazon.state();
        let entry = state.orders.entry(pk).or_insert_with(|| (shop.clone(), order.clone(), BTreeMap::new()));
        if entry.1.last_update_date > order.last_update_date {
            return Ok(Upserted::Stale);
        }
        entry.1 = order.clone();
        for item in items {
            entry.2.insert(item.order_item_id.clone(), item.clone());
        }
        Ok(Upserted::Written)
    }

    async fn amazon_order(
        &self,
        shop: &ShopDomain,
        marketplace_id: &str,
        amazon_order_id: &str,
    ) -> Result<Option<(AmazonOrder, Vec<AmazonOrderItem>)>, StoreError> {
        let pk = keys::amazon_order_pk(shop, marketplace_id, amazon_order_id);
        Ok(self
            .amazon
            .state()
            .orders
            .get(&pk)
            .map(|(_, order, items)| (order.clone(), items.values().cloned().collect())))
    }

    async fn amazon_orders(&self, shop: &ShopDomain, limit: usize) -> Result<Vec<AmazonOrder>, StoreError> {
        let mut orders: Vec<AmazonOrder> =
            self.amazon.state().orders.values().filter(|(s, _, _)| s == shop).map(|(_, o, _)| o.clone()).collect();
        orders.sort_by(|a, b| {
            keys::amazon_orders_gsi1sk(b.purchase_date, &b.marketplace_id, &b.amazon_order_id)
                .cmp(&keys::amazon_orders_gsi1sk(a.purchase_date, &a.marketplace_id, &a.amazon_order_id))
        });
        orders.truncate(limit);
        Ok(orders)
    }
}
