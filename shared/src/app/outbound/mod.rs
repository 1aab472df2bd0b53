//! Outbound changes: each message hands one change to its destination and records the outcome on the
//! order, keyed by the message id, so a redelivery records nothing new. One queue per destination,
//! all consumed by this code.

mod shopify;

use std::sync::Arc;

use crate::{
    app::shops::ShopifyAccess,
    clock::Clock,
    domain::{Integration, OrderKey},
    error::WorkerError,
    queue::{Message, OutboundChange},
    store::{AlertStore, Delivery, DeliveryOutcome, DeliveryStore, ShopStore},
};

/// What the outbound stage works with.
pub struct Outbound {
    pub deliveries: Arc<dyn DeliveryStore>,
    pub alerts: Arc<dyn AlertStore>,
    pub shops: Arc<dyn ShopStore>,
    pub shopify: ShopifyAccess,
    pub clock: Arc<dyn Clock>,
}

/// A change's outcome and what to record about it.
type Outcome = (DeliveryOutcome, String);

/// Hands one change on and records its outcome.
pub async fn process(deps: &Outbound, message: Message) -> Result<(), WorkerError> {
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
            (DeliveryOutcome::Delivered, "escalation queued for the support assistant".to_owned())
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
