//! What the dashboard adds to an order: assignment, support escalation, the return case, shipments
//! recorded by hand, and the shipment flags the monitor keeps. Channel updates never touch these.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::Order;

/// An order without a tracking number becomes `tracking_pending` when it is older than this.
pub const TRACKING_PENDING_AFTER: Duration = Duration::hours(2);
/// An in-transit shipment becomes `delayed` when its last update is older than this.
pub const DELAYED_AFTER: Duration = Duration::hours(24);

/// The dashboard's state of an order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderOps {
    pub assigned_to: Option<String>,
    pub support: Option<SupportThread>,
    pub return_case: Option<ReturnCase>,
    pub recorded_shipments: Vec<RecordedShipment>,
    pub flags: ShipmentFlags,
    /// The fulfilment route, decided once when the order became ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<super::Route>,
    /// The fulfilment partner's side of the order (status, shipments), once routed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner: Option<super::fulfilment::PartnerState>,
    /// The ERP's side of the order (CommerceOS), once mirrored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erp: Option<super::erp::ErpState>,
}

/// A support escalation from the dashboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupportThread {
    pub id: String,
    pub conversation_id: Option<String>,
    pub note: String,
    pub escalated_at: DateTime<Utc>,
}

/// A shipment marked from the dashboard's fulfill action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedShipment {
    pub id: String,
    pub tracking_number: Option<String>,
    pub carrier: Option<String>,
    pub recorded_at: DateTime<Utc>,
}

/// When each shipment condition began. `None`: the condition does not hold. The instants are derived
/// from the order (creation + 2 h, last update + 24 h), so recomputing them is idempotent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentFlags {
    pub tracking_pending_since: Option<DateTime<Utc>>,
    pub delayed_since: Option<DateTime<Utc>>,
}

/// The return state machine of the contract:
/// `awaiting_label → label_generated → in_transit → inspection → awaiting_refund → completed`, with the
/// terminal paths `denied` and `cancelled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReturnState {
    AwaitingLabel,
    LabelGenerated,
    InTransit,
    Inspection,
    AwaitingRefund,
    Completed,
    Denied,
    Cancelled,
}

impl ReturnState {
    pub fn as_str(self) -> &'static str {
        match self {
            ReturnState::AwaitingLabel => "awaiting_label",
            ReturnState::LabelGenerated => "label_generated",
            ReturnState::InTransit => "in_transit",
            ReturnState::Inspection => "inspection",
            ReturnState::AwaitingRefund => "awaiting_refund",
            ReturnState::Completed => "completed",
            ReturnState::Denied => "denied",
            ReturnState::Cancelled => "cancelled",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, ReturnState::Completed | ReturnState::Denied | ReturnState::Cancelled)
    }
}

/// The dashboard's return actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReturnAction {
    ApproveRefund,
    Deny,
    RequestInspection,
}

impl ReturnAction {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "approve_refund" => Some(ReturnAction::ApproveRefund),
            "deny" => Some(ReturnAction::Deny),
            "request_inspection" => Some(ReturnAction::RequestInspection),
            _ => None,
        }
    }

    /// The state `action` leads to from `from`, or `None` when the transition is illegal.
    /// - `request_inspection`: a return on its way back (`label_generated`, `in_transit`) goes to inspection;
    /// - `approve_refund`: an inspected return awaits its refund;
    /// - `deny`: any open return ends denied.
    pub fn apply(self, from: ReturnState) -> Option<ReturnState> {
        use ReturnState::*;
        match (self, from) {
            (ReturnAction::RequestInspection, LabelGenerated | InTransit) => Some(Inspection),
            (ReturnAction::ApproveRefund, Inspection) => Some(AwaitingRefund),
            (ReturnAction::Deny, state) if !state.is_terminal() => Some(Denied),
            _ => None,
        }
    }

    /// Whether a return in `state` already is where this action leads: a repeat of the action then
    /// changes nothing and succeeds.
    pub fn reached(self, state: ReturnState) -> bool {
        use ReturnState::*;
        matches!(
            (self, state),
            (ReturnAction::RequestInspection, Inspection)
                | (ReturnAction::ApproveRefund, AwaitingRefund)
                | (ReturnAction::Deny, Denied)
        )
    }
}

/// A return event from the channel (Shopify's `returns/*` topics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelReturn {
    Requested,
    Approved,
    Declined,
    Closed,
}

impl ChannelReturn {
    pub fn from_topic(topic: &str) -> Option<Self> {
        match topic {
            "returns/request" => Some(Self::Requested),
            "returns/approve" => Some(Self::Approved),
            "returns/decline" => Some(Self::Declined),
            "returns/close" => Some(Self::Closed),
            _ => None,
        }
    }

    pub fn event(self) -> &'static str {
        match self {
            Self::Requested => "return_requested",
            Self::Approved => "return_approved",
            Self::Declined => "return_declined",
            Self::Closed => "return_closed",
        }
    }

    /// The order's return case after this event at `at`, or `None` when the event changes no state: it
    /// is older than the case, or it confirms a case already open. A request or approval opens a case
    /// (awaiting its label) unless one is open; a decline denies and a close completes an open case.
    pub fn apply(self, case: Option<&ReturnCase>, at: DateTime<Utc>) -> Option<ReturnCase> {
        if case.is_some_and(|c| c.updated_at >= at) {
            return None;
        }
        let open = case.filter(|c| !c.state.is_terminal());
        let state = match (self, open) {
            (Self::Requested | Self::Approved, Some(_)) => return None,
            (Self::Requested | Self::Approved, None) => ReturnState::AwaitingLabel,
            (Self::Declined, _) => ReturnState::Denied,
            (Self::Closed, _) => ReturnState::Completed,
        };
        Some(ReturnCase { state, updated_at: at, note: case.and_then(|c| c.note.clone()) })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnCase {
    pub state: ReturnState,
    pub updated_at: DateTime<Utc>,
    pub note: Option<String>,
}

/// The shipment the dashboard shows: the most recently updated one with its tracking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShipmentSummary {
    pub tracking_number: Option<String>,
    pub carrier: Option<String>,
    pub status: String,
    pub last_update: DateTime<Utc>,
}

/// Carrier states after which a shipment is no longer in transit.
const FINAL_SHIPMENT_STATES: &[&str] = &["delivered", "failure", "cancelled"];

impl Order {
    /// The latest shipment, from the channel's fulfilments or the dashboard's recorded shipments.
    pub fn shipment(&self) -> Option<ShipmentSummary> {
        let channel = self.fulfillments.iter().filter(|f| f.status != "cancelled").map(|f| ShipmentSummary {
            tracking_number: f.tracking_numbers.first().cloned(),
            carrier: f.tracking_company.clone(),
            status: f.shipment_status.clone().unwrap_or_else(|| "in_transit".to_owned()),
            last_update: f.updated_at.or(f.created_at).unwrap_or(self.updated_at),
        });
        let recorded = self.ops.recorded_shipments.iter().map(|s| ShipmentSummary {
            tracking_number: s.tracking_number.clone(),
            carrier: s.carrier.clone(),
            status: "in_transit".to_owned(),
            last_update: s.recorded_at,
        });
        channel.chain(recorded).max_by_key(|s| s.last_update)
    }

    /// Whether any shipment carries a tracking number, or one was recorded by hand.
    pub fn has_tracking(&self) -> bool {
        !self.ops.recorded_shipments.is_empty()
            || self.fulfillments.iter().any(|f| f.status != "cancelled" && !f.tracking_numbers.is_empty())
    }

    /// The shipment in transit and when it was last updated, if there is one.
    pub fn in_transit_since(&self) -> Option<DateTime<Utc>> {
        let shipment = self.shipment()?;
        let moving = (shipment.tracking_number.is_some() || !self.ops.recorded_shipments.is_empty())
            && !FINAL_SHIPMENT_STATES.contains(&shipment.status.as_str());
        (moving && self.cancelled_at.is_none()).then_some(shipment.last_update)
    }

    /// Recomputes the shipment flags at `now`. Returns the flags before, so callers can raise and clear
    /// the matching alerts.
    pub fn refresh_flags(&mut self, now: DateTime<Utc>) -> ShipmentFlags {
        let before = self.ops.flags.clone();
        let pending_at = self.created_at + TRACKING_PENDING_AFTER;
        self.ops.flags.tracking_pending_since =
            (self.cancelled_at.is_none() && !self.has_tracking() && now > pending_at).then_some(pending_at);
        self.ops.flags.delayed_since = self
            .in_transit_since()
            .map(|last_update| last_update + DELAYED_AFTER)
            .filter(|delayed_at| now > *delayed_at);
        before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_contract_transitions_are_legal() {
        use ReturnAction::*;
        use ReturnState::*;
        assert_eq!(RequestInspection.apply(InTransit), Some(Inspection));
        assert_eq!(RequestInspection.apply(LabelGenerated), Some(Inspection));
        assert_eq!(ApproveRefund.apply(Inspection), Some(AwaitingRefund));
        assert_eq!(Deny.apply(AwaitingLabel), Some(Denied));
        assert_eq!(ApproveRefund.apply(AwaitingLabel), None);
        assert_eq!(RequestInspection.apply(AwaitingRefund), None);
        for terminal in [Completed, Denied, Cancelled] {
            for action in [ApproveRefund, Deny, RequestInspection] {
                assert_eq!(action.apply(terminal), None, "{action:?} from {terminal:?}");
            }
        }
    }
}
