//! Messages that travel between stages on SQS. One tagged enum, so a worker decodes exactly what it
//! was sent and rejects anything else as a poison message.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ShopDomain;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StageMessage {
    /// A verified Shopify webhook delivery, queued for the ingest worker.
    ShopifyWebhook(ShopifyWebhook),
    /// A change made on the dashboard, to hand to a partner.
    Outbound(Outbound),
    /// Work for the Shopify poller: a window of orders, or a subscription health check.
    ShopifyPoll(PollJob),
    /// An Amazon orders sync to run or resume.
    AmazonSync(crate::app::poll::amazon::SyncJob),
}

impl StageMessage {
    /// The message's type, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            StageMessage::ShopifyWebhook(_) => "shopify_webhook",
            StageMessage::Outbound(_) => "outbound",
            StageMessage::ShopifyPoll(_) => "shopify_poll",
            StageMessage::AmazonSync(_) => "amazon_sync",
        }
    }

    pub fn shop(&self) -> &ShopDomain {
        match self {
            StageMessage::ShopifyWebhook(w) => &w.shop,
            StageMessage::Outbound(o) => &o.shop,
            StageMessage::ShopifyPoll(p) => &p.shop,
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

/// A unit of Shopify poll work. A job that must wait (rate limits) or runs long goes back on the queue
/// as its own continuation, carrying the cursor it reached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PollJob {
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
}

/// A time window of orders to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollWindow {
    pub mode: WindowMode,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowMode {
    /// The scheduled poll: by update time; completing it advances the watermark; finds data gaps.
    Incremental,
    /// Re-reading a window whose webhooks may have been dropped: by update time; finds data gaps.
    Recovery,
    /// History by creation time: no gaps (those orders predate the webhooks), no watermark.
    Backfill,
}

impl PollWindow {
    /// The scheduled window: from an overlap before the watermark (or before `start`, for a shop never
    /// polled; Shopify's search index lags writes by seconds) until `now`.
    pub fn incremental(
        watermark: Option<DateTime<Utc>>,
        start: DateTime<Utc>,
        overlap: chrono::TimeDelta,
        now: DateTime<Utc>,
    ) -> Self {
        Self { mode: WindowMode::Incremental, from: watermark.unwrap_or(start) - overlap, until: now }
    }

    /// The orders search query and sort key of the window. Times are whole UTC seconds.
    pub fn search(&self) -> (String, &'static str) {
        let at = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        match self.mode {
            WindowMode::Incremental | WindowMode::Recovery => {
                (format!("updated_at:>'{}' AND updated_at:<='{}'", at(self.from), at(self.until)), "UPDATED_AT")
            }
            WindowMode::Backfill => {
                (format!("created_at:>='{}' AND created_at:<'{}'", at(self.from), at(self.until)), "CREATED_AT")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    #[test]
    fn a_window_starts_an_overlap_before_the_watermark() {
        let at = |m| DateTime::parse_from_rfc3339(&format!("2026-11-22T06:{m:02}:00Z")).unwrap().to_utc();
        let window = PollWindow::incremental(Some(at(30)), at(0), TimeDelta::minutes(2), at(45));
        assert_eq!((window.from, window.until), (at(28), at(45)));
        assert_eq!(
            window.search(),
            ("updated_at:>'2026-11-22T06:28:00Z' AND updated_at:<='2026-11-22T06:45:00Z'".to_owned(), "UPDATED_AT")
        );
        assert_eq!(PollWindow::incremental(None, at(10), TimeDelta::minutes(2), at(45)).from, at(8));
        let backfill = PollWindow { mode: WindowMode::Backfill, ..window };
        assert_eq!(backfill.search().1, "CREATED_AT");
    }
}
