//! The orders port: canonical orders with their list index entries and timelines, version-guarded.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{WriteOutcome, keys};
use crate::{
    domain::{Order, OrderKey, Priority, ShopDomain, Tab, TimelineEvent},
    error::StoreError,
};

/// Which orders a list shows: a tab plus optional filters. Served from one index partition (the tab's,
/// or the assignee's when `assignee` is set); the other criteria filter that partition.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OrderQuery {
    pub tab: Option<Tab>,
    pub status: Option<String>,
    pub priority: Option<Priority>,
    pub assignee: Option<String>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_to: Option<DateTime<Utc>>,
}

impl OrderQuery {
    pub fn tab(&self) -> Tab {
        self.tab.unwrap_or(Tab::All)
    }

    /// A stable digest of the query, naming its remembered page boundaries.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let text = format!(
            "{}|{}|{}|{}|{}|{}",
            self.tab(),
            self.status.as_deref().unwrap_or_default(),
            self.priority.map(Priority::as_str).unwrap_or_default(),
            self.assignee.as_deref().unwrap_or_default(),
            self.created_from.map(|t| t.timestamp_millis()).unwrap_or_default(),
            self.created_to.map(|t| t.timestamp_millis()).unwrap_or_default(),
        );
        Sha256::digest(text.as_bytes()).iter().take(12).map(|b| format!("{b:02x}")).collect()
    }

    /// Whether `order` belongs in this list.
    pub fn matches(&self, order: &Order) -> bool {
        let created = order.created_at;
        order.tabs().contains(&self.tab())
            && self.status.as_ref().is_none_or(|s| *s == order.status_label())
            && self.priority.is_none_or(|p| p == order.priority())
            && self.assignee.as_ref().is_none_or(|a| order.ops.assigned_to.as_ref() == Some(a))
            && self.created_from.is_none_or(|from| created >= from)
            && self.created_to.is_none_or(|to| created <= to)
    }
}

/// What [`OrderStore::keep_waiting_event`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waiting {
    /// The event waits for its order.
    Kept,
    /// The order exists (it landed meanwhile): the event can be applied now.
    OrderExists,
}

/// How long a waiting event waits for its order: less than the claim-check bodies live (15 days), so a
/// waiting event's body is always there when it is released.
pub const WAITING_TTL_SECONDS: i64 = 14 * 24 * 3600;

/// Where a list read starts. Positions are the index sort keys, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seek {
    /// From the newest order.
    First,
    /// From this position (inclusive), towards older orders.
    From(String),
    /// The orders newer than this position (exclusive), nearest first.
    Before(String),
}

/// An order in a list, with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub position: String,
    pub order: Order,
}

#[async_trait]
pub trait OrderStore: Send + Sync {
    async fn get_order(&self, shop: &ShopDomain, key: &OrderKey) -> Result<Option<Order>, StoreError>;

    /// Writes `order`, its list index entries and `events` in one transaction, only if the stored order
    /// is still `previous` (by version; `None`: the order must not exist yet, and the shop is registered
    /// in [`OrderStore::shops`]). Index entries `previous` had and `order` has not are deleted in the same
    /// transaction.
    async fn write_order(
        &self,
        order: &Order,
        previous: Option<&Order>,
        events: &[TimelineEvent],
    ) -> Result<WriteOutcome, StoreError> {
        self.write_order_with_effects(order, previous, events, &[]).await
    }

    /// As [`OrderStore::write_order`], and records `effects` in the outbox in the same transaction: the
    /// change and its outbound work commit together or not at all.
    async fn write_order_with_effects(
        &self,
        order: &Order,
        previous: Option<&Order>,
        events: &[TimelineEvent],
        effects: &[super::PendingEffect],
    ) -> Result<WriteOutcome, StoreError> {
        self.write_order_with_alerts(order, previous, events, effects, &[]).await
    }

    /// As [`OrderStore::write_order_with_effects`], and applies `alerts` (raised or cleared) in the same
    /// transaction. A clear whose alert changed since it was read loses the race like a stale version.
    async fn write_order_with_alerts(
        &self,
        order: &Order,
        previous: Option<&Order>,
        events: &[TimelineEvent],
        effects: &[super::PendingEffect],
        alerts: &[super::AlertChange],
    ) -> Result<WriteOutcome, StoreError>;

    /// Up to `limit` orders matching `query`, from `seek`. `First` and `From` read newest first;
    /// `Before` returns the nearest newer orders, nearest first.
    async fn list_orders(
        &self,
        shop: &ShopDomain,
        query: &OrderQuery,
        seek: &Seek,
        limit: usize,
    ) -> Result<Vec<Listed>, StoreError>;

    /// The position at `offset` of the list named by `fingerprint`, if a page boundary was remembered there.
    async fn page_boundary(
        &self,
        shop: &ShopDomain,
        fingerprint: &str,
        offset: u64,
    ) -> Result<Option<String>, StoreError>;

    /// Remembers that `position` is at `offset` of the list named by `fingerprint` (kept a day from `now`).
    async fn remember_page_boundary(
        &self,
        shop: &ShopDomain,
        fingerprint: &str,
        offset: u64,
        position: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// The order named `name` (`#1001` or `1001`) in `shop`.
    async fn find_by_name(&self, shop: &ShopDomain, name: &str) -> Result<Option<Order>, StoreError>;

    /// The order and its newest `events` timeline events, newest first, in one query.
    async fn order_detail(
        &self,
        shop: &ShopDomain,
        key: &OrderKey,
        events: usize,
    ) -> Result<Option<(Order, Vec<TimelineEvent>)>, StoreError>;

    /// Keeps `event` (an inbound event, serialized) for the order `key`, which is not stored yet, under
    /// `id` (derived from the event, so a redelivery overwrites its own copy), until the order is stored
    /// or [`WAITING_TTL_SECONDS`] pass. Only while the order does not exist, checked in the same write: an
    /// order stored meanwhile answers [`Waiting::OrderExists`] and nothing is kept.
    async fn keep_waiting_event(
        &self,
        shop: &ShopDomain,
        key: &OrderKey,
        id: &str,
        event: &str,
        now: DateTime<Utc>,
    ) -> Result<Waiting, StoreError>;

    /// The events waiting for the order `key`, as `(id, event)`, oldest id first.
    async fn waiting_events(&self, shop: &ShopDomain, key: &OrderKey) -> Result<Vec<(String, String)>, StoreError>;

    /// Forgets the waiting event `id` of the order `key` (released, or erased with the customer's data).
    async fn forget_waiting_event(&self, shop: &ShopDomain, key: &OrderKey, id: &str) -> Result<(), StoreError>;

    /// Every shop that has at least one order.
    async fn shops(&self) -> Result<Vec<ShopDomain>, StoreError>;

    /// Orders whose `watch` entry (`keys::Watch`) is due at or before `until`: the candidates whose
    /// shipment flags may have changed with time alone.
    async fn due_for_review(
        &self,
        shop: &ShopDomain,
        watch: keys::Watch,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OrderKey>, StoreError>;
}
