//! The dashboard's alert channel: alerts raised once per id, cleared, and read in order.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::Recorded;
use crate::{
    domain::{Alert, ShopDomain},
    error::StoreError,
};

/// An alert change that commits with an order's write
/// ([`super::OrderStore::write_order_with_alerts`]): the order's shipment flags and their alerts are
/// stored together or not at all, so a crash after the commit loses no alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertChange {
    /// Stores the alert open (a flag came up; its id derives from the flag's start).
    Raise(Alert),
    /// Marks the alert `id` cleared at `at`, when it is stored and open.
    Clear { id: String, at: DateTime<Utc> },
}

impl AlertChange {
    /// The alert's id.
    pub fn id(&self) -> &str {
        match self {
            AlertChange::Raise(alert) => &alert.id,
            AlertChange::Clear { id, .. } => id,
        }
    }
}

#[async_trait]
pub trait AlertStore: Send + Sync {
    /// Stores the alert once per `(shop, id)`.
    async fn raise_alert(&self, alert: &Alert) -> Result<Recorded, StoreError>;

    /// Raises `alert`, or, when it is open already, replaces its message (a count that grew) and moves it
    /// to the end of the feed so readers past its raise see the new message. A cleared alert stays
    /// cleared (a new occurrence needs a new id).
    async fn refresh_alert(&self, alert: &Alert, at: DateTime<Utc>) -> Result<(), StoreError>;

    /// Marks the alert cleared at `at` and moves it to the end of the feed, so readers past its raise
    /// see it again, cleared. Clearing an unknown or cleared alert does nothing.
    async fn clear_alert(&self, shop: &ShopDomain, id: &str, at: DateTime<Utc>) -> Result<(), StoreError>;

    /// The shop's alerts raised or cleared after cursor `since`, oldest first, each with its own cursor.
    async fn alerts_since(
        &self,
        shop: &ShopDomain,
        since: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Alert)>, StoreError>;
}
