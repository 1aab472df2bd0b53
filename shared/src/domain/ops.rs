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
    /// Who assigned whom and when (the seed's `OrderAssignment`), oldest first, the newest
    /// [`ASSIGNMENT_HISTORY`] kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assignments: Vec<OrderAssignment>,
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

/// Assignment changes an order keeps (older ones drop off): the order item, and its list copies, stay
/// small.
pub const ASSIGNMENT_HISTORY: usize = 50;

/// One assignment change of an order: the seed's `OrderAssignment`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderAssignment {
    /// The new owner; `None`: unassigned.
    pub assignee: Option<String>,
    /// The owner before.
    pub previous: Option<String>,
    /// Who changed it: the session token's user (`sub`), when it names one.
    pub assigned_by: Option<String>,
    pub assigned_at: DateTime<Utc>,
}

impl OrderOps {
    /// Hands the order to `assignee` (`None`: nobody) and records who did it and when. Returns whether
    /// anything changed: assigning the current owner again records nothing.
    pub fn assign(&mut self, assignee: Option<String>, by: Option<String>, at: DateTime<Utc>) -> bool {
        if self.assigned_to == assignee {
            return false;
        }
        let previous = std::mem::replace(&mut self.assigned_to, assignee.clone());
        self.assignments.push(OrderAssignment { assignee, previous, assigned_by: by, assigned_at: at });
        let excess = self.assignments.len().saturating_sub(ASSIGNMENT_HISTORY);
        self.assignments.drain(..excess);
        true
    }
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

/// The return state machine of the contract (seed 000):
/// `awaiting_label → label_generated → in_transit → inspection → awaiting_refund → completed`, with the
/// terminal paths `deny` and `cancelled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReturnState {
    AwaitingLabel,
    LabelGenerated,
    InTransit,
    Inspection,
    AwaitingRefund,
    Completed,
    /// The seed's spelling is `deny`; orders stored before say `denied`, still read.
    #[serde(rename = "deny", alias = "denied")]
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
            ReturnState::Denied => "deny",
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

/// A return event from the channel: Shopify's `returns/*` topics, and its reverse deliveries (the label
/// and tracking attached to a return, `reverse_deliveries/attach_deliverable`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelReturn {
    Requested,
    Approved,
    Declined,
    Closed,
    Cancelled,
    /// A return label was attached to the return's reverse delivery.
    LabelAttached,
    /// The reverse delivery's tracking moved: tracking attached once the label was there, or tracking
    /// without a label (the buyer ships with a label of their own).
    Shipped,
}

impl ChannelReturn {
    /// The event of a `returns/*` topic (the reverse delivery events are told apart by their payload).
    pub fn from_topic(topic: &str) -> Option<Self> {
        match topic {
            "returns/request" => Some(Self::Requested),
            "returns/approve" => Some(Self::Approved),
            "returns/decline" => Some(Self::Declined),
            "returns/close" => Some(Self::Closed),
            "returns/cancel" => Some(Self::Cancelled),
            _ => None,
        }
    }

    pub fn event(self) -> &'static str {
        match self {
            Self::Requested => "return_requested",
            Self::Approved => "return_approved",
            Self::Declined => "return_declined",
            Self::Closed => "return_closed",
            Self::Cancelled => "return_cancelled",
            Self::LabelAttached => "return_label_generated",
            Self::Shipped => "return_in_transit",
        }
    }

    /// The order's return case after this event at `at`, or `None` when the event changes no state: it
    /// is older than the case, it confirms a case already open, or the case's state does not allow it.
    /// - a request or approval opens a case (awaiting its label) unless one is open;
    /// - a label moves a case awaiting its label to `label_generated`; moving tracking takes a case
    ///   awaiting or holding its label to `in_transit`;
    /// - a decline ends an open case as `deny`, a cancellation as `cancelled`;
    /// - a close completes a case whose goods are on their way or back (`label_generated`, `in_transit`,
    ///   `inspection`, `awaiting_refund`); a case still awaiting its label, or already ended, stays.
    pub fn apply(self, case: Option<&ReturnCase>, at: DateTime<Utc>) -> Option<ReturnCase> {
        use ReturnState::*;
        if case.is_some_and(|c| c.updated_at >= at) {
            return None;
        }
        let open = case.map(|c| c.state).filter(|s| !s.is_terminal());
        let state = match (self, open) {
            (Self::Requested | Self::Approved, Some(_)) => return None,
            (Self::Requested | Self::Approved, None) => AwaitingLabel,
            (Self::LabelAttached, Some(AwaitingLabel)) => LabelGenerated,
            (Self::Shipped, Some(AwaitingLabel | LabelGenerated)) => InTransit,
            (Self::Declined, Some(_)) => Denied,
            (Self::Cancelled, Some(_)) => Cancelled,
            (Self::Closed, Some(LabelGenerated | InTransit | Inspection | AwaitingRefund)) => Completed,
            _ => return None,
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
        self.ops.flags.tracking_pending_since = (self.awaits_tracking() && now > pending_at).then_some(pending_at);
        self.ops.flags.delayed_since = self
            .in_transit_since()
            .filter(|_| self.ours_to_ship())
            .map(|last_update| last_update + DELAYED_AFTER)
            .filter(|delayed_at| now > *delayed_at);
        before
    }

    /// Whether we ship this order (`domain::fulfilment::not_ours_to_ship`): only such orders can be
    /// `tracking_pending` or `delayed`.
    pub fn ours_to_ship(&self) -> bool {
        super::fulfilment::not_ours_to_ship(self).is_none()
    }

    /// An open order of ours without tracking: `tracking_pending` once it is 2 hours old.
    pub fn awaits_tracking(&self) -> bool {
        self.cancelled_at.is_none() && !self.has_tracking() && self.ours_to_ship()
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

    #[test]
    fn assignments_record_who_assigned_whom_and_keep_a_bounded_history() {
        use chrono::TimeZone;
        let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let mut ops = OrderOps::default();
        assert!(ops.assign(Some("ana".into()), Some("7".into()), at));
        assert!(!ops.assign(Some("ana".into()), Some("8".into()), at), "already so");
        assert!(ops.assign(None, Some("8".into()), at));
        assert_eq!(ops.assigned_to, None);
        let last = ops.assignments.last().unwrap();
        assert_eq!(
            (last.assignee.as_deref(), last.previous.as_deref(), last.assigned_by.as_deref()),
            (None, Some("ana"), Some("8"))
        );
        for i in 0..ASSIGNMENT_HISTORY + 5 {
            ops.assign(Some(format!("u{i}")), None, at);
        }
        assert_eq!(ops.assignments.len(), ASSIGNMENT_HISTORY);
        assert_eq!(ops.assignments.last().unwrap().assignee.as_deref(), Some(&*format!("u{}", ASSIGNMENT_HISTORY + 4)));
    }

    #[test]
    fn the_terminal_deny_is_spelled_as_the_seed_spells_it_and_old_values_still_read() {
        assert_eq!(serde_json::to_string(&ReturnState::Denied).unwrap(), "\"deny\"");
        assert_eq!(ReturnState::Denied.as_str(), "deny");
        for stored in ["\"deny\"", "\"denied\""] {
            assert_eq!(serde_json::from_str::<ReturnState>(stored).unwrap(), ReturnState::Denied);
        }
    }

    #[test]
    fn channel_events_walk_the_lifecycle_and_a_close_needs_a_state_that_allows_it() {
        use ReturnState::*;
        use chrono::TimeZone;
        let at = |h: u32| Utc.with_ymd_and_hms(2026, 11, 21, h, 0, 0).unwrap();
        let case = |state, h| Some(ReturnCase { state, updated_at: at(h), note: None });
        let next = |event: ChannelReturn, c: Option<ReturnCase>, h| event.apply(c.as_ref(), at(h)).map(|c| c.state);
        assert_eq!(next(ChannelReturn::Requested, None, 1), Some(AwaitingLabel));
        assert_eq!(next(ChannelReturn::LabelAttached, case(AwaitingLabel, 1), 2), Some(LabelGenerated));
        assert_eq!(next(ChannelReturn::Shipped, case(LabelGenerated, 2), 3), Some(InTransit));
        assert_eq!(next(ChannelReturn::Closed, case(InTransit, 3), 4), Some(Completed));
        assert_eq!(next(ChannelReturn::Closed, case(AwaitingLabel, 1), 4), None, "nothing came back yet");
        assert_eq!(next(ChannelReturn::Cancelled, case(AwaitingLabel, 1), 2), Some(Cancelled));
        assert_eq!(next(ChannelReturn::Closed, case(Cancelled, 2), 3), None);
        assert_eq!(next(ChannelReturn::Declined, case(Cancelled, 2), 3), None, "an ended case stays ended");
        assert_eq!(next(ChannelReturn::LabelAttached, case(InTransit, 3), 4), None, "never backwards");
        assert_eq!(next(ChannelReturn::Shipped, case(LabelGenerated, 5), 4), None, "older than the case");
    }
}
