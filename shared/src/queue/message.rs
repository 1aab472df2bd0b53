//! What travels between stages on SQS: one envelope with three kinds of message. Inbound events come
//! from an integration (a verified webhook or callback), outbound changes go to a destination, and poll
//! jobs are an integration's scheduled reads. One tagged enum, so a worker decodes exactly what it was
//! sent and rejects anything else as a poison message.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{Integration, ShopDomain, poll::PollWindow};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message {
    /// A verified event from an integration, queued for the ingest worker.
    Inbound(Inbound),
    /// A change to hand to a destination.
    Outbound(Outbound),
    /// Work for an integration's poller.
    Poll(PollJob),
}

impl Message {
    /// The message's kind, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Inbound(_) => "inbound",
            Message::Outbound(_) => "outbound",
            Message::Poll(_) => "poll",
        }
    }

    pub fn shop(&self) -> &ShopDomain {
        match self {
            Message::Inbound(event) => &event.shop,
            Message::Outbound(change) => &change.shop,
            Message::Poll(job) => &job.shop,
        }
    }
}

/// An event an integration delivered and we verified (for Shopify, a webhook that passed its HMAC).
/// `payload` is the delivered JSON body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inbound {
    pub source: Integration,
    pub shop: ShopDomain,
    pub topic: String,
    /// The delivery's id (Shopify's `X-Shopify-Webhook-Id`): the receipt and dedupe key.
    pub delivery_id: String,
    /// The upstream event's own id, shared by every delivery of the same event.
    pub event_id: Option<String>,
    /// When the upstream says the event happened (Shopify's `X-Shopify-Triggered-At`).
    pub occurred_at: Option<DateTime<Utc>>,
    /// The delivered body; `null` while it waits in the claim-check store under `payload_ref`.
    pub payload: serde_json::Value,
    /// The claim-check key of a body too large to travel on the queue (see `queue::claims`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_ref: Option<String>,
}

/// A change to hand on to `destination`. `id` is derived from the change, so a redelivery is
/// recognised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outbound {
    pub destination: Integration,
    pub shop: ShopDomain,
    /// The order, as `channel:id`.
    pub order: String,
    pub id: String,
    pub change: OutboundChange,
    /// Attempts already made (0 on the first delivery): the dispatcher's place on the retry ladder.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempt: u32,
    /// Sent again from a dead letter (a person's replay or the slow retry): a success resolves it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replay: bool,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Outbound {
    /// A first delivery of `change` to `destination`.
    pub fn new(destination: Integration, shop: ShopDomain, order: String, id: String, change: OutboundChange) -> Self {
        Self { destination, shop, order, id, change, attempt: 0, replay: false }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OutboundChange {
    /// Mirror the assignment into the order's Shopify metafields (when the shop enables it); `None`
    /// (unassigned) deletes the metafield. Messages written before carry a string, read as `Some`.
    AssignmentSync { assignee: Option<String> },
    /// Create the Shopify fulfilment with tracking (`fulfillmentCreate`).
    FulfillmentCreate { shipment_id: String, tracking_number: Option<String>, carrier: Option<String> },
    /// An escalation for the support assistant.
    SupportEscalation { thread_id: String, conversation_id: Option<String>, note: String },
    /// A return decision, to fan out to Shopify and the ERP.
    ReturnUpdate { action: String, state: String, note: Option<String> },
    /// Hand the routed order to its fulfilment partner (MasonHub `POST /orders`), built from the order
    /// as stored when the message is worked.
    PartnerCreate { partner_order_id: String },
    /// Replace the partner's copy of the order (MasonHub `POST /order_update_requests`).
    PartnerUpdate { partner_order_id: String },
    /// Cancel the order at the partner (MasonHub `POST /order_cancel_requests`).
    PartnerCancel { partner_order_id: String },
    /// An ERP effect (CommerceOS): an upsert or an action on the trade order, built from the order as
    /// stored when the message is worked.
    Erp(crate::domain::ErpAction),
}

impl OutboundChange {
    pub fn kind(&self) -> &'static str {
        match self {
            OutboundChange::AssignmentSync { .. } => "assignment_sync",
            OutboundChange::FulfillmentCreate { .. } => "fulfillment_create",
            OutboundChange::SupportEscalation { .. } => "support_escalation",
            OutboundChange::ReturnUpdate { .. } => "return_update",
            OutboundChange::PartnerCreate { .. } => "partner_create",
            OutboundChange::PartnerUpdate { .. } => "partner_update",
            OutboundChange::PartnerCancel { .. } => "partner_cancel",
            OutboundChange::Erp(action) => match action {
                crate::domain::ErpAction::Upsert => "erp_upsert",
                crate::domain::ErpAction::Addresses => "erp_addresses",
                crate::domain::ErpAction::Payment { .. } => "erp_payment",
                crate::domain::ErpAction::Approve => "erp_approve",
                crate::domain::ErpAction::Shipment { .. } => "erp_shipment",
                crate::domain::ErpAction::Fulfil => "erp_fulfil",
                crate::domain::ErpAction::Cancel => "erp_cancel",
            },
        }
    }
}

/// A unit of an integration's poll work. A job that must wait (rate limits) or runs long goes back on
/// the queue as its own continuation, carrying where it stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PollJob {
    pub integration: Integration,
    pub shop: ShopDomain,
    /// What started the job (a schedule tick, a backfill request). Alerts the job raises are keyed by it,
    /// so a redelivered job raises nothing new.
    pub origin: String,
    pub task: PollTask,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "task", rename_all = "snake_case")]
pub enum PollTask {
    /// Orders of `window`, from the page after `after`.
    Orders { window: PollWindow, after: Option<String> },
    /// Products updated in `window`, from the page after `after`.
    Products { window: PollWindow, after: Option<String> },
    /// Check the shop's webhook subscriptions and re-create missing ones.
    Subscriptions,
    /// An orders sync whose window the integration derives itself (from its watermark); `resume` is
    /// the integration's own record of where a carried-over run stopped, opaque to the queue.
    OrdersSync {
        #[serde(default)]
        dry_run: bool,
        #[serde(default = "yes")]
        include_items: bool,
        #[serde(default)]
        resume: Option<serde_json::Value>,
    },
}

fn yes() -> bool {
    true
}
