//! Inbound events: accepting a verified delivery (receipt, then queue), and processing it behind the
//! queue with the integration's own rules.

mod masonhub;
mod shopify;
mod shopify_events;

use std::sync::Arc;

use chrono::{DateTime, Utc};

pub use shopify_events::order_ref;

use crate::{
    app::shops::ShopifyAccess,
    clock::Clock,
    error::{ApiError, QueueError, StoreError, WorkerError},
    queue::{Inbound, Message, MessageQueue, Stage},
    store::{
        AlertStore, ConnectionStore, MirrorStore, OrderStore, OutboxStore, ProductStore, ReceiptStore, Recorded,
        ShopStore, SyncStore, WebhookReceipt,
    },
};

/// What accepting a delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// Recorded and queued for the ingest worker.
    Queued,
    /// Already recorded and queued: acknowledged, nothing queued again.
    Duplicate,
}

#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

impl From<AcceptError> for ApiError {
    fn from(e: AcceptError) -> Self {
        ApiError::Internal(anyhow::Error::new(e))
    }
}

/// Records a verified delivery by its source and delivery id and queues it once. A failed send leaves
/// the receipt pending, so the sender's retry gets through and completes it.
pub async fn accept(
    receipts: &dyn ReceiptStore,
    queue: &dyn MessageQueue,
    event: Inbound,
    now: DateTime<Utc>,
) -> Result<Accepted, AcceptError> {
    let receipt = WebhookReceipt {
        shop: event.shop.clone(),
        source: event.source,
        delivery_id: event.delivery_id.clone(),
        event_id: event.event_id.clone(),
        topic: event.topic.clone(),
        received_at: now,
    };
    if receipts.begin_receipt(&receipt).await? == Recorded::Duplicate {
        return Ok(Accepted::Duplicate);
    }
    queue.send(Stage::Ingest, &Message::Inbound(event), 0).await?;
    if let Err(e) = receipts.complete_receipt(&receipt.shop, receipt.source, &receipt.delivery_id).await {
        // The message is queued; a redelivery would only enqueue a duplicate the worker ignores.
        tracing::warn!(error = %e, "could not mark the receipt as enqueued");
    }
    Ok(Accepted::Queued)
}

/// What the ingest stage works with.
pub struct Ingest {
    pub orders: Arc<dyn OrderStore>,
    pub alerts: Arc<dyn AlertStore>,
    pub shops: Arc<dyn ShopStore>,
    pub sync: Arc<dyn SyncStore>,
    pub products: Arc<dyn ProductStore>,
    /// Fulfilment settings (routing) live on the shops' partner connections.
    pub connections: Arc<dyn ConnectionStore>,
    pub outbox: Arc<dyn OutboxStore>,
    pub mirror: Arc<dyn MirrorStore>,
    /// Where committed effects are relayed (the outbound queues).
    pub queue: Arc<dyn MessageQueue>,
    pub shopify: ShopifyAccess,
    pub clock: Arc<dyn Clock>,
}

/// Processes one message of the ingest queue with its source's rules.
pub async fn process(deps: &Ingest, message: Message) -> Result<(), WorkerError> {
    let Message::Inbound(event) = message else {
        return Err(WorkerError::Permanent(anyhow::anyhow!("a {} message on the ingest queue", message.kind())));
    };
    match event.source {
        crate::domain::Integration::Shopify => shopify::handle(deps, event).await,
        crate::domain::Integration::MasonHub => masonhub::handle(deps, event).await,
        other => Err(WorkerError::Permanent(anyhow::anyhow!("no inbound events are handled for {other}"))),
    }
}
