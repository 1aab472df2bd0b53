//! Messages that travel between stages on SQS. One tagged enum, so a worker decodes exactly what it
//! was sent and rejects anything else as a poison message.

use serde::{Deserialize, Serialize};

use super::ShopDomain;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StageMessage {
    /// A verified Shopify webhook delivery, queued for the ingest worker.
    ShopifyWebhook(ShopifyWebhook),
}

impl StageMessage {
    pub fn shop(&self) -> &ShopDomain {
        match self {
            StageMessage::ShopifyWebhook(w) => &w.shop,
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
