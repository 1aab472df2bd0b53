//! Outbound changes: each message hands one change to its destination and records the outcome on the
//! order, keyed by the message id, so a redelivery records nothing new. One queue per destination,
//! all consumed by this code.

mod shopify;

use std::sync::Arc;

use crate::{
    app::{
        install::{self, Tokens},
        shops::ShopifyAccess,
    },
    clock::Clock,
    domain::{Integration, OrderKey},
    error::WorkerError,
    queue::{Message, OutboundChange, Stage},
    store::{AlertStore, Delivery, DeliveryOutcome, DeliveryStore, ShopStore},
};

/// What the outbound stage works with.
pub struct Outbound {
    pub deliveries: Arc<dyn DeliveryStore>,
    pub alerts: Arc<dyn AlertStore>,
    pub shops: Arc<dyn ShopStore>,
    pub shopify: ShopifyAccess,
    /// Refreshes expiring tokens; marks refused ones invalid and parks their messages.
    pub tokens: Tokens,
    pub clock: Arc<dyn Clock>,
}

/// A change's outcome and what to record about it.
type Outcome = (DeliveryOutcome, String);

/// Hands one change on and records its outcome. A change whose shop's token Shopify refuses is parked
/// until the shop reconnects, rather than dead-lettered.
pub async fn process(deps: &Outbound, message: Message) -> Result<(), WorkerError> {
    let stage = match &message {
        Message::Outbound(outbound) => Stage::Outbound(outbound.destination),
        other => {
            return Err(WorkerError::Permanent(anyhow::anyhow!("a {} message on an outbound queue", other.kind())));
        }
    };
    match deliver(deps, message.clone()).await {
        Err(e) if install::is_token_refusal(&e) => Ok(deps.tokens.refused(stage, &message).await?),
        other => other,
    }
}

async fn deliver(deps: &Outbound, message: Message) -> Result<(), WorkerError> {
    let Message::Outbound(outbound) = message else {
        return Err(WorkerError::Permanent(anyhow::anyhow!("not an outbound message")));
    };
    let crate::queue::Outbound { destination, shop, order, id, change } = outbound;
    let key = OrderKey::parse(&order).map_err(|e| WorkerError::Permanent(e.into()))?;
    let recorded = deps.deliveries.deliveries(&shop, &key).await?;
    if recorded.iter().any(|d| d.id == id && d.outcome != DeliveryOutcome::Deferred) {
        tracing::info!(shop = %shop, order = %key, kind = change.kind(), "already handed on; redelivery ignored");
        return Ok(());
    }
    let (outcome, detail) = match (destination, &change) {
        (Integration::Shopify, OutboundChange::AssignmentSync { assignee }) => {
            shopify::assignment(deps, &shop, &key, &id, assignee).await?
        }
        (Integration::Shopify, OutboundChange::FulfillmentCreate { tracking_number, carrier, .. }) => {
            shopify::fulfillment(deps, &shop, &key, &id, tracking_number.as_deref(), carrier.as_deref()).await?
        }
        (_, OutboundChange::SupportEscalation { .. }) => {
            // Delivered only once something receives it: no support destination exists yet, so the
            // escalation waits, visible on the order's deliveries, and a redelivery or replay retries it.
            (DeliveryOutcome::Deferred, "no support destination is configured; the escalation waits for one".to_owned())
        }
        (_, OutboundChange::ReturnUpdate { .. }) => {
            (DeliveryOutcome::Deferred, "no ERP or Shopify returns integration is configured".to_owned())
        }
        (other, change) => {
            let detail = format!("{other} has no handler for {} changes", change.kind());
            return Err(WorkerError::Permanent(anyhow::anyhow!(detail)));
        }
    };
    let delivery = Delivery { id, kind: change.kind().to_owned(), outcome, detail, at: deps.clock.now() };
    deps.deliveries.record_delivery(&shop, &key, &delivery).await?;
    tracing::info!(shop = %shop, order = %key, kind = change.kind(), outcome = outcome.as_str(), "outbound change recorded");
    Ok(())
}
