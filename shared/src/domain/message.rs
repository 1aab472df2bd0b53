//! Messages that travel between stages on SQS. One tagged enum, so a worker decodes exactly what it
//! was sent and rejects anything else as a poison message.

use serde::{Deserialize, Serialize};

use super::ShopDomain;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StageMessage {
    /// A verified Shopify webhook delivery, queued for the ingest worker.
    ShopifyWebhook(ShopifyWebhook),
    /// A change made on the dashboard, to hand to a partner.
    Outbound(Outbound),
    /// An Amazon orders sync to run or resume.
    AmazonSync(crate::amazon::sync::SyncJob),
}

impl StageMessage {
    pub fn shop(&self) -> &ShopDomain {
        match self {
            StageMessage::ShopifyWebhook(w) => &w.shop,
            StageMessage::Outbound(o) => &o.shop,
            StageMessage::AmazonSync(job) => &job.shop,
        }
    }
}

/// A dashboard change to hand on. `id` is derived from the change, so a redelivery is recognised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outbound {
    pub shop: ShopDomain,
    /// The order, as `channel:id`.
    pub order: String,
    pub id: String,
    pub change: OutboundChange,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OutboundChange {
    /// Mirror the assignment into the order's Shopify metafields (when the shop enables it).
    AssignmentSync { assignee: String },
    /// Create the Shopify fulfilment with tracking (`fulfillmentCreate`).
    FulfillmentCreate { shipment_id: String, tracking_number: Option<String>, carrier: Option<String> },
    /// An escalation for the support assistant.
    SupportEscalation { thread_id: String, conversation_id: Option<String>, note: String },
    /// A return decision, to fan out to Shopify and the ERP.
    ReturnUpdate { action: String, state: String, note: Option<String> },
}

impl OutboundChange {
    pub fn kind(&self) -> &'static str {
        match self {
            OutboundChange::AssignmentSync { .. } => "assignment_sync",
            OutboundChange::FulfillmentCreate { .. } => "fulfillment_create",
            OutboundChange::SupportEscalation { .. } => "support_escalation",
            OutboundChange::ReturnUpdate { .. } => "return_update",
        }
    }
}

/// A webhook that passed HMAC verification. `payload` is the delivered JSON body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShopifyWebhook {
    pub shop: ShopDomain,
    pub topic: String,
    pub webhook_id: String,
    pub event_id: Option<String>,
    pub triggered_at: Option<String>,
    pub api_version: String,
    pub payload: serde_json::Value,
}
