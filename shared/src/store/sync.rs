//! The shop's sync state: the poll watermarks of every integration (one rule: they only move forward),
//! the last webhook, the refresh ping, and the poll's order cursors.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{
    domain::{Integration, OrderKey, ShopDomain},
    error::StoreError,
};

/// Which of the shop's polls a watermark belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    Orders,
    Products,
}

impl Resource {
    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Orders => "orders",
            Resource::Products => "products",
        }
    }
}

impl Resource {
    pub const ALL: [Resource; 2] = [Resource::Orders, Resource::Products];
}

/// Everything of `resource` updated up to `at` has been fully processed by the integration's poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watermark {
    pub integration: Integration,
    pub resource: Resource,
    pub at: DateTime<Utc>,
    /// Where the window that set it ended, in the integration's terms (a GraphQL cursor), if it says.
    pub cursor: Option<String>,
}

/// Where the shop's syncs stand.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncState {
    /// The poll watermarks of every integration and resource that has one.
    pub watermarks: Vec<Watermark>,
    /// When the last webhook of the shop arrived (processed by the ingest stage).
    pub last_webhook_at: Option<DateTime<Utc>>,
    /// The last refresh ping: a moved ping tells the dashboard to refetch.
    pub refreshed_at: Option<DateTime<Utc>>,
}

impl SyncState {
    pub fn watermark(&self, integration: Integration, resource: Resource) -> Option<&Watermark> {
        self.watermarks.iter().find(|w| w.integration == integration && w.resource == resource)
    }

    /// The time of [`SyncState::watermark`].
    pub fn watermark_at(&self, integration: Integration, resource: Resource) -> Option<DateTime<Utc>> {
        self.watermark(integration, resource).map(|w| w.at)
    }
}

/// The shop's sync state. Watermarks and the last-webhook time only move forward, so replays and races
/// are harmless; each such write also pings a refresh.
#[async_trait]
pub trait SyncStore: Send + Sync {
    async fn sync_state(&self, shop: &ShopDomain) -> Result<SyncState, StoreError>;

    /// Moves the integration's watermark of `resource` to `to`, with the cursor its window ended on,
    /// and pings a refresh. Returns false (and changes nothing) when the watermark is already at or
    /// past `to`: the one rule of every integration's watermark.
    async fn advance_watermark(
        &self,
        shop: &ShopDomain,
        integration: Integration,
        resource: Resource,
        to: DateTime<Utc>,
        cursor: Option<&str>,
    ) -> Result<bool, StoreError>;

    /// Notes that a webhook of the shop was processed at `at`, and pings a refresh.
    async fn record_webhook(&self, shop: &ShopDomain, at: DateTime<Utc>) -> Result<(), StoreError>;

    /// Pings a refresh at `at`. Readers watch the ping for any change, not for an increase.
    async fn ping_refresh(&self, shop: &ShopDomain, at: DateTime<Utc>) -> Result<(), StoreError>;

    /// Remembers the Shopify GraphQL cursor at which the poll read each order (the latest read wins).
    async fn record_order_cursors(&self, shop: &ShopDomain, cursors: &[(OrderKey, String)]) -> Result<(), StoreError>;

    /// The cursor at which the poll last read `key`, if it has read it.
    async fn order_cursor(&self, shop: &ShopDomain, key: &OrderKey) -> Result<Option<String>, StoreError>;
}
