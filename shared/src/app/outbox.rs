//! The relay of the transactional outbox. An order change writes its outbound messages as pending
//! effects in its own transaction (`OrderStore::write_order_with_effects`); right after the commit the
//! caller relays them (send, then forget), and the scheduled sweep (`outbound-sweeper`) relays whatever
//! a crash or a failed send left behind. A message may so be sent twice, never lost: every consumer
//! dedupes by the message id.

use chrono::{DateTime, Duration, Utc};

use crate::{
    domain::ShopDomain,
    error::{QueueError, StoreError},
    queue::{Message, MessageQueue, Outbound, Stage},
    store::{OrderStore, OutboxStore, PendingEffect},
};

/// How old a pending effect must be before the sweep relays it: the committing caller relays at once,
/// so the sweep only picks up what it could not.
pub const SWEEP_GRACE: Duration = Duration::seconds(30);

/// The pending effect of sending `outbound`.
pub fn effect(outbound: Outbound, now: DateTime<Utc>) -> Result<PendingEffect, StoreError> {
    let message = serde_json::to_value(Message::Outbound(outbound.clone()))
        .map_err(|e| StoreError::Corrupt(format!("cannot encode an outbound message: {e}")))?;
    Ok(PendingEffect {
        shop: outbound.shop,
        id: outbound.id,
        destination: outbound.destination,
        message,
        created_at: now,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// Sends each effect to its destination's queue, then forgets it. Stops at the first failure: what is
/// left stays pending for the sweep. Returns how many were relayed.
pub async fn relay(
    outbox: &dyn OutboxStore,
    queue: &dyn MessageQueue,
    effects: &[PendingEffect],
) -> Result<usize, RelayError> {
    for (done, effect) in effects.iter().enumerate() {
        let message: Message = match serde_json::from_value(effect.message.clone()) {
            Ok(message) => message,
            Err(e) => {
                // Written by this code base, so never expected; kept for a person rather than looping.
                tracing::error!(shop = %effect.shop, effect = %effect.id, error = %e, "undecodable pending effect");
                continue;
            }
        };
        if let Err(e) = queue.send(Stage::Outbound(effect.destination), &message, 0).await {
            tracing::warn!(shop = %effect.shop, effect = %effect.id, error = %e, "relay failed; the sweep will retry");
            return if done == 0 { Err(e.into()) } else { Ok(done) };
        }
        outbox.effect_relayed(&effect.shop, &effect.id).await?;
        tracing::info!(shop = %effect.shop, effect = %effect.id, destination = %effect.destination, "effect relayed");
    }
    Ok(effects.len())
}

/// Relays after a commit: a failure is logged, not returned, since the change is committed and the
/// sweep will deliver the effect.
pub async fn relay_after_commit(outbox: &dyn OutboxStore, queue: &dyn MessageQueue, effects: &[PendingEffect]) {
    if effects.is_empty() {
        return;
    }
    if let Err(e) = relay(outbox, queue, effects).await {
        tracing::warn!(error = %e, pending = effects.len(), "effects left pending for the sweep");
    }
}

/// Most effects relayed per shop and sweep.
const SWEEP_BATCH: usize = 200;

/// Relays every shop's effects pending since before `now - grace`. Returns how many were relayed.
pub async fn sweep(
    orders: &dyn OrderStore,
    outbox: &dyn OutboxStore,
    queue: &dyn MessageQueue,
    now: DateTime<Utc>,
    grace: Duration,
) -> Result<usize, RelayError> {
    let mut relayed = 0;
    for shop in orders.shops().await? {
        relayed += sweep_shop(outbox, queue, &shop, now - grace).await?;
    }
    Ok(relayed)
}

async fn sweep_shop(
    outbox: &dyn OutboxStore,
    queue: &dyn MessageQueue,
    shop: &ShopDomain,
    until: DateTime<Utc>,
) -> Result<usize, RelayError> {
    let pending = outbox.pending_effects(shop, until, SWEEP_BATCH).await?;
    if pending.is_empty() {
        return Ok(0);
    }
    tracing::info!(shop = %shop, pending = pending.len(), "sweeping pending effects");
    relay(outbox, queue, &pending).await
}
