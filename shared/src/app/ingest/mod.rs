//! Inbound events: accepting a verified delivery (receipt, then queue), and processing it behind the
//! queue with the integration's own rules.

pub mod commerceos;
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
    queue::{ClaimStore, Inbound, Message, MessageQueue, Stage, schema},
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
/// the receipt pending, so the sender's retry gets through and completes it. A body too large for the
/// queue is stored in `claims` first and the message carries its key ([`Inbound::payload_ref`]).
pub async fn accept(
    receipts: &dyn ReceiptStore,
    queue: &dyn MessageQueue,
    claims: &dyn ClaimStore,
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
    let event = check_in(claims, event).await?;
    queue.send(Stage::Ingest, &Message::Inbound(event), 0).await?;
    if let Err(e) = receipts.complete_receipt(&receipt.shop, receipt.source, &receipt.delivery_id).await {
        // The message is queued; a redelivery would only enqueue a duplicate the worker ignores.
        tracing::warn!(error = %e, "could not mark the receipt as enqueued");
    }
    Ok(Accepted::Queued)
}

/// The claim-check key of an inbound event's body: one per source, shop and delivery, so a retried
/// delivery overwrites its own object.
fn claim_key(event: &Inbound) -> String {
    use sha2::{Digest, Sha256};
    let delivery = Sha256::digest(event.delivery_id.as_bytes());
    let hex: String = delivery.iter().map(|b| format!("{b:02x}")).collect();
    format!("inbound/{}/{}/{hex}.json", event.source, event.shop)
}

/// `event` as it can travel on the ingest queue: unchanged when it fits, else with its body moved to
/// the claim-check store.
async fn check_in(claims: &dyn ClaimStore, mut event: Inbound) -> Result<Inbound, QueueError> {
    let encoded = serde_json::to_vec(&Message::Inbound(event.clone()))?;
    if schema::fits(encoded.len()) {
        return Ok(event);
    }
    let key = claim_key(&event);
    let body = serde_json::to_vec(&event.payload)?;
    tracing::info!(bytes = body.len(), "body too large for the queue; stored as a claim check");
    claims.put(&key, body).await?;
    event.payload = serde_json::Value::Null;
    event.payload_ref = Some(key);
    Ok(event)
}

/// `event` with its body back from the claim-check store, if it travelled as a claim check. A claim
/// whose body is gone (expired, never stored) can never be processed.
async fn check_out(claims: &dyn ClaimStore, mut event: Inbound) -> Result<Inbound, WorkerError> {
    let Some(key) = event.payload_ref.take() else { return Ok(event) };
    let body = claims
        .get(&key)
        .await?
        .ok_or_else(|| WorkerError::Permanent(anyhow::anyhow!("the claim-checked body {key} is gone")))?;
    event.payload = serde_json::from_slice(&body)
        .map_err(|e| WorkerError::Permanent(anyhow::anyhow!("the claim-checked body {key} is not JSON: {e}")))?;
    Ok(event)
}

/// Hands the events waiting for the order `key` (they arrived before it) back to the ingest queue, now
/// that the order is stored, and forgets them. A crash in between only sends one again later, and every
/// order event is idempotent. Returns how many were released.
pub async fn release_waiting(
    orders: &dyn OrderStore,
    queue: &dyn MessageQueue,
    shop: &crate::domain::ShopDomain,
    key: &crate::domain::OrderKey,
) -> Result<usize, WorkerError> {
    let waiting = orders.waiting_events(shop, key).await?;
    for (id, event) in &waiting {
        match serde_json::from_str::<Message>(event) {
            Ok(message) => queue.send(Stage::Ingest, &message, 0).await?,
            Err(e) => tracing::error!(order = %key, error = %e, "a waiting event is unreadable; dropped"),
        }
        orders.forget_waiting_event(shop, key, id).await?;
    }
    if !waiting.is_empty() {
        tracing::info!(order = %key, events = waiting.len(), "waiting events released");
    }
    Ok(waiting.len())
}

/// The time one `shop/redact` record may spend erasing, well inside the worker's 30 s.
pub const ERASE_BUDGET: std::time::Duration = std::time::Duration::from_secs(5);

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
    /// Where bodies too large for the queue wait ([`accept`] puts them there).
    pub claims: Arc<dyn ClaimStore>,
    /// Where committed effects are relayed (the outbound queues), and the ingest queue itself for work
    /// that continues later (a large shop's erasure).
    pub queue: Arc<dyn MessageQueue>,
    /// How long one `shop/redact` record may erase before the rest continues on the queue as its own
    /// message ([`ERASE_BUDGET`]), so a large shop never holds up the records beside it in the batch.
    pub erase_budget: std::time::Duration,
    pub shopify: ShopifyAccess,
    pub clock: Arc<dyn Clock>,
}

/// Processes one message of the ingest queue with its source's rules.
pub async fn process(deps: &Ingest, message: Message) -> Result<(), WorkerError> {
    let Message::Inbound(event) = message else {
        return Err(WorkerError::Permanent(anyhow::anyhow!("a {} message on the ingest queue", message.kind())));
    };
    let event = check_out(deps.claims.as_ref(), event).await?;
    match event.source {
        crate::domain::Integration::Shopify => shopify::handle(deps, event).await,
        crate::domain::Integration::MasonHub => masonhub::handle(deps, event).await,
        crate::domain::Integration::CommerceOs => commerceos::handle(deps, event).await,
        other => Err(WorkerError::Permanent(anyhow::anyhow!("no inbound events are handled for {other}"))),
    }
}
