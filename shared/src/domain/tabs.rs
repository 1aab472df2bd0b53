//! The dashboard's tabs, priority and status filter, as pure functions of the order.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{FulfillmentStatus, Order};

/// The order list tabs of the dashboard contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tab {
    /// Every order.
    All,
    /// Not cancelled, and not (or only partly) fulfilled.
    Unfulfilled,
    /// Older than 2 hours with no tracking number.
    TrackingPending,
    /// In transit with no carrier update for more than 24 hours.
    Delayed,
    /// A return in progress.
    Returns,
    /// Escalated to support.
    Support,
    /// Assigned to someone.
    Assigned,
}

pub const TABS: [Tab; 7] =
    [Tab::All, Tab::Unfulfilled, Tab::TrackingPending, Tab::Delayed, Tab::Returns, Tab::Support, Tab::Assigned];

impl Tab {
    pub fn as_str(self) -> &'static str {
        match self {
            Tab::All => "all",
            Tab::Unfulfilled => "unfulfilled",
            Tab::TrackingPending => "tracking_pending",
            Tab::Delayed => "delayed",
            Tab::Returns => "returns",
            Tab::Support => "support",
            Tab::Assigned => "assigned",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        TABS.into_iter().find(|t| t.as_str() == raw)
    }
}

impl fmt::Display for Tab {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How urgently an order needs attention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Delayed in transit, or escalated to support.
    High,
    /// Waiting for tracking, or a return in progress.
    Medium,
    Low,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::High => "high",
            Priority::Medium => "medium",
            Priority::Low => "low",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Priority::High, Priority::Medium, Priority::Low].into_iter().find(|p| p.as_str() == raw)
    }
}

/// Values of the `status` filter: the fulfilment status, or `cancelled`.
pub const STATUSES: [&str; 5] = ["unfulfilled", "partially_fulfilled", "fulfilled", "restocked", "cancelled"];

impl Order {
    /// The tabs this order is listed under (always `all`). Shipment tabs follow the stored flags, which
    /// [`Order::refresh_flags`] keeps current.
    pub fn tabs(&self) -> Vec<Tab> {
        let open_fulfilment =
            matches!(self.fulfillment_status, FulfillmentStatus::Unfulfilled | FulfillmentStatus::PartiallyFulfilled);
        let member = |tab: Tab| match tab {
            Tab::All => true,
            Tab::Unfulfilled => {
                self.cancelled_at.is_none() && open_fulfilment && self.ops.recorded_shipments.is_empty()
            }
            Tab::TrackingPending => self.tracking_pending(),
            Tab::Delayed => self.delayed(),
            Tab::Returns => self.ops.return_case.as_ref().is_some_and(|r| !r.state.is_terminal()),
            Tab::Support => self.ops.support.is_some(),
            Tab::Assigned => self.ops.assigned_to.is_some(),
        };
        TABS.into_iter().filter(|t| member(*t)).collect()
    }

    /// Flagged `tracking_pending`, and ours to ship (an order flagged before the rule existed, such as
    /// an Amazon FBA order, is not listed).
    pub fn tracking_pending(&self) -> bool {
        self.ops.flags.tracking_pending_since.is_some() && self.ours_to_ship()
    }

    /// Flagged `delayed`, and ours to ship.
    pub fn delayed(&self) -> bool {
        self.ops.flags.delayed_since.is_some() && self.ours_to_ship()
    }

    pub fn priority(&self) -> Priority {
        if self.delayed() || self.ops.support.is_some() {
            Priority::High
        } else if self.tracking_pending() || self.ops.return_case.as_ref().is_some_and(|r| !r.state.is_terminal()) {
            Priority::Medium
        } else {
            Priority::Low
        }
    }

    /// The value the `status` filter matches.
    pub fn status_label(&self) -> String {
        if self.cancelled_at.is_some() { "cancelled".to_owned() } else { self.fulfillment_status.to_string() }
    }

    /// The alerts open on this order, by kind.
    pub fn open_alerts(&self) -> Vec<&'static str> {
        let mut open = Vec::new();
        if self.tracking_pending() {
            open.push("tracking_pending");
        }
        if self.delayed() {
            open.push("delayed");
        }
        open
    }
}
