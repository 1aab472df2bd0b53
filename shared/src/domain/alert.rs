//! Alerts shown on the dashboard's alert channel: dead letters, shipment alerts, data gaps and sync
//! problems.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ShopDomain;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A queue message could not be processed and went to the dead-letter queue.
    DeadLetter,
    /// An order older than 2 hours still has no tracking number.
    TrackingPending,
    /// An in-transit shipment has had no carrier update for more than 24 hours.
    Delayed,
    /// Events were dropped: the poll found an order state no webhook delivered, or a webhook
    /// subscription was missing.
    DataGap,
    /// The shop's set-up hides data, such as a missing `read_all_orders` scope.
    Setup,
    /// A partner refused a change we pushed (Shopify `userErrors`).
    PushRejected,
    /// A channel sync (Amazon SP-API orders) failed; cleared by the next successful run.
    SyncFailed,
    /// Shopify refuses the shop's token: the merchant must open the app again (a new token exchange),
    /// which clears the alert and resumes the parked work.
    Reconnect,
    /// The fulfilment partner could not ship some units (MasonHub `shorts`).
    PartnerShort,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::DeadLetter => "dead_letter",
            AlertKind::TrackingPending => "tracking_pending",
            AlertKind::Delayed => "delayed",
            AlertKind::DataGap => "data_gap",
            AlertKind::Setup => "setup",
            AlertKind::PushRejected => "push_rejected",
            AlertKind::SyncFailed => "sync_failed",
            AlertKind::Reconnect => "reconnect",
            AlertKind::PartnerShort => "partner_short",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub shop: ShopDomain,
    /// Idempotency key: raising the same alert twice stores it once.
    pub id: String,
    pub kind: AlertKind,
    pub message: String,
    /// The order it concerns, as `channel:id`, when there is one.
    pub order: Option<String>,
    pub raised_at: DateTime<Utc>,
    /// When the condition ended; `None` while the alert is open.
    #[serde(default)]
    pub cleared_at: Option<DateTime<Utc>>,
}
