//! In-memory adapter of the store ports, for handler tests. It follows the same contract as
//! [`super::dynamo::DynamoStore`]; `crate::testing::store_contract` runs both.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Mutex, MutexGuard},
};

mod alerts;
mod assistant;
mod connections;
mod credentials;
mod dead_letters;
mod deliveries;
mod install;
mod mirror;
mod orders;
mod outbox;
mod products;
mod receipts;
mod requests;
mod shops;
mod streams;
mod sync;

use async_trait::async_trait;

use chrono::{DateTime, Utc};

use super::{
    AlertStore, Connection, Delivery, DeliveryStore, ErasedOrders, Listed, MirrorRecord, OrderQuery, OrderStore,
    ProductStore, ReceiptStore, Recorded, RequestStore, Resource, SealedCredential, Seek, ShopRecord, ShopStatus,
    ShopStore, StreamStore, SyncState, SyncStore, Watermark, WebhookReceipt, WriteOutcome, keys,
};
use crate::{
    domain::{
        Alert, Integration, Order, OrderKey, Product, ShopDomain, TimelineEvent, Variant, product::VARIANTS_PER_RECORD,
    },
    error::StoreError,
};

/// An action's idempotency record: its payload digest, its response once completed, and the expiry of
/// its in-progress claim and of the record (epoch seconds).
#[derive(Debug, Clone)]
struct RequestRecord {
    payload: String,
    response: Option<String>,
    expires_at: i64,
    ttl: i64,
}

/// A mirrored record's shop, integration, kind and id.
type MirrorKey = (ShopDomain, Integration, String, String);

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
    /// Idempotency records of actions, by request key.
    requests: HashMap<String, RequestRecord>,
    /// Delivery records, by order partition then id.
    deliveries: HashMap<String, BTreeMap<String, Delivery>>,
    /// Delivery claims, by order partition and id: holder and expiry.
    delivery_claims: HashMap<(String, String), (String, DateTime<Utc>)>,
    shops: HashMap<ShopDomain, ShopStatus>,
    shop_records: HashMap<ShopDomain, ShopRecord>,
    exports: HashMap<(ShopDomain, String), String>,
    sync: HashMap<ShopDomain, SyncState>,
    /// Products by shop and id: the product, or `None` once deleted, with its revision time.
    products: HashMap<(ShopDomain, String), (Option<Product>, DateTime<Utc>)>,
    /// Inventory item → product id.
    inventory_items: HashMap<(ShopDomain, String), String>,
    order_cursors: HashMap<(ShopDomain, OrderKey), String>,
    connections: HashMap<(ShopDomain, Integration), Connection>,
    credentials: HashMap<(ShopDomain, Integration), SealedCredential>,
    /// By shop, integration, kind and id; parts by their id.
    mirrors: HashMap<MirrorKey, (MirrorRecord, BTreeMap<String, serde_json::Value>)>,
    /// Pending outbound effects, by shop and id.
    outbox: BTreeMap<(ShopDomain, String), crate::store::PendingEffect>,
    /// Dead letters, by shop, destination and id.
    dead_letters: BTreeMap<(ShopDomain, Integration, String), crate::store::DeadLetter>,
    /// Stream slots by shop and slot: the lease holding it and until when.
    streams: HashMap<(ShopDomain, usize), (String, DateTime<Utc>)>,
    /// Events waiting until their order is stored, by shop and waiting sort key.
    waiting: BTreeMap<(ShopDomain, String), String>,
}

#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
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
    pub fn receipt(&self, shop: &ShopDomain, source: Integration, delivery_id: &str) -> Option<(WebhookReceipt, bool)> {
        self.state().receipts.get(&keys::receipt_pk(shop, source, delivery_id)).cloned()
    }
}
