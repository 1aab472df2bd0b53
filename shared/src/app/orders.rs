//! Order writes shared by every stage: read, change, refresh the shipment flags, and write under the
//! version read, with the shipment alerts the change raised or cleared in the same transaction. A lost
//! race re-reads and retries.

use chrono::{DateTime, Utc};

use super::outbox;
use crate::{
    domain::{
        AlertKind, ErpEffect, ErpSettings, FulfilmentSettings, Order, OrderKey, PartnerAction, PartnerEffect,
        ShopDomain, TimelineEvent, UpsertPlan, erp, fulfilment, ops::ShipmentFlags,
    },
    error::StoreError,
    queue::{Outbound, OutboundChange},
    store::{AlertChange, OrderStore, PendingEffect, WriteOutcome, keys::Watch},
};

/// Attempts at a read-decide-write cycle before giving up with [`ChangeError::Contended`].
const MAX_ATTEMPTS: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum ChangeError<E> {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The change itself refused (e.g. an illegal transition).
    #[error("change refused")]
    Refused(E),
    #[error("the order kept changing under concurrent writers")]
    Contended,
    #[error("no such order")]
    NotFound,
}

/// What a change decided.
pub enum Decision {
    /// Write the changed order with these timeline events.
    Write(Vec<TimelineEvent>),
    /// Nothing to change (already so): no write, no events.
    Keep,
}

/// Applies `change` to the stored order `key` and writes it. `change` may run more than once (after a
/// lost race), always on the freshly read order.
pub async fn change<E>(
    store: &dyn OrderStore,
    shop: &ShopDomain,
    key: &OrderKey,
    now: DateTime<Utc>,
    change: impl Fn(&mut Order) -> Result<Decision, E>,
) -> Result<Order, ChangeError<E>> {
    Ok(change_with_effects(store, shop, key, now, change, |_, _| Vec::new()).await?.0)
}

/// As [`change`], and commits the outbound messages `effects` returns (given the order before and the
/// changed order, its version set) in the same transaction, as pending effects of the outbox. Returns
/// the order and the effects committed, for the caller to relay (`app::outbox::relay_after_commit`).
pub async fn change_with_effects<E>(
    store: &dyn OrderStore,
    shop: &ShopDomain,
    key: &OrderKey,
    now: DateTime<Utc>,
    change: impl Fn(&mut Order) -> Result<Decision, E>,
    effects: impl Fn(&Order, &Order) -> Vec<Outbound>,
) -> Result<(Order, Vec<PendingEffect>), ChangeError<E>> {
    for attempt in 0..MAX_ATTEMPTS {
        crate::clock::pause_before_retry(attempt).await;
        let previous = store.get_order(shop, key).await?.ok_or(ChangeError::NotFound)?;
        let mut next = previous.clone();
        let events = match change(&mut next).map_err(ChangeError::Refused)? {
            Decision::Write(events) => events,
            Decision::Keep => Vec::new(),
        };
        let flags_before = next.refresh_flags(now);
        if next == previous && events.is_empty() {
            return Ok((previous, Vec::new()));
        }
        next.version = previous.version + 1;
        // A mirrored order's change tells the ERP what changed (a shipment, a cancel…).
        let (erp_events, erp_effects) = erp::plan(Some(&previous), &mut next, None, now);
        let events = [events, erp_events].concat();
        let messages = effects(&previous, &next).into_iter().chain(erp_effects.iter().map(|e| erp_message(&next, e)));
        let pending = messages.map(|o| outbox::effect(o, now)).collect::<Result<Vec<_>, _>>()?;
        let alerts = shipment_alerts(&next, &flags_before, now);
        if store.write_order_with_alerts(&next, Some(&previous), &events, &pending, &alerts).await?
            == WriteOutcome::Written
        {
            return Ok((next, pending));
        }
    }
    Err(ChangeError::Contended)
}

/// As [`change`] for a change that may make the order ready for fulfilment (a hold released): under the
/// shop's fulfilment settings the changed order is routed as a revision would be
/// (`domain::fulfilment::plan`), and the partner effects commit with it. Returns them for the caller
/// to relay.
pub async fn change_routed<E>(
    store: &dyn OrderStore,
    key: (&ShopDomain, &OrderKey),
    routing: &Routing,
    now: DateTime<Utc>,
    change: impl Fn(&mut Order) -> Result<Decision, E>,
) -> Result<(Order, Vec<PendingEffect>), ChangeError<E>> {
    // The effects the latest run of the change planned (a lost race runs it again).
    let planned = std::sync::Mutex::new(Vec::new());
    let routed = |order: &mut Order| {
        let before = order.clone();
        let mut decision = change(order)?;
        let (events, effects) = fulfilment::plan(Some(&before), order, routing.fulfilment.as_ref(), now);
        if let Decision::Write(written) = &mut decision {
            written.extend(events);
        } else if !events.is_empty() {
            decision = Decision::Write(events);
        }
        *planned.lock().unwrap_or_else(|e| e.into_inner()) = effects;
        Ok(decision)
    };
    let messages = |_: &Order, next: &Order| {
        let effects = planned.lock().unwrap_or_else(|e| e.into_inner());
        effects.iter().map(|e| partner_message(next, e)).collect()
    };
    change_with_effects(store, key.0, key.1, now, routed, messages).await
}

/// The outbound message of a partner effect of `order`.
pub fn partner_message(order: &Order, effect: &PartnerEffect) -> Outbound {
    let partner_order_id = effect.partner_order_id.clone();
    let change = match effect.action {
        PartnerAction::Create => OutboundChange::PartnerCreate { partner_order_id },
        PartnerAction::Update => OutboundChange::PartnerUpdate { partner_order_id },
        PartnerAction::Cancel => OutboundChange::PartnerCancel { partner_order_id },
    };
    Outbound::new(effect.partner, order.shop.clone(), order.key().to_string(), effect.id.clone(), change)
}

/// The outbound message of an ERP effect of `order`.
pub fn erp_message(order: &Order, effect: &ErpEffect) -> Outbound {
    Outbound::new(
        erp::ERP,
        order.shop.clone(),
        order.key().to_string(),
        effect.id.clone(),
        OutboundChange::Erp(effect.action.clone()),
    )
}

/// A shop's routing: its 3PL (fulfilment) settings and its ERP settings, independent of each other.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Routing {
    pub fulfilment: Option<FulfilmentSettings>,
    pub erp: Option<ErpSettings>,
}

/// What [`apply_revision`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Written,
    Stale,
    Unchanged,
    /// Another revision with the same `updated_at` is stored and kept: the caller may settle the tie
    /// with a fresh read ([`apply_fresh_revision`]).
    Tie,
}

/// Upserts a channel revision of an order: an older or equal `updated_at` never replaces what is stored
/// (an equal one with other contents answers [`Applied::Tie`]).
pub async fn apply_revision(
    store: &dyn OrderStore,
    incoming: Order,
    now: DateTime<Utc>,
) -> Result<Applied, ChangeError<std::convert::Infallible>> {
    Ok(apply_routed_revision(store, &Routing::default(), incoming, now).await?.0)
}

/// As [`apply_revision`], and, under the shop's routing, decides the order's fulfilment route once it
/// is ready and plans what a routed order's change asks of its partner (`domain::fulfilment::plan`),
/// and mirrors it into the ERP with what each change asks of it (`domain::erp::plan`). The effects
/// commit with the order, in the outbox; they are returned for the caller to relay.
#[tracing::instrument(skip_all, fields(shop = %incoming.shop, order = %incoming.key()))]
pub async fn apply_routed_revision(
    store: &dyn OrderStore,
    routing: &Routing,
    incoming: Order,
    now: DateTime<Utc>,
) -> Result<(Applied, Vec<PendingEffect>), ChangeError<std::convert::Infallible>> {
    apply(store, routing, incoming, now, UpsertPlan::decide).await
}

/// As [`apply_routed_revision`] for a copy just read from the channel to settle an [`Applied::Tie`]: it
/// replaces a different revision with the same `updated_at` ([`UpsertPlan::decide_fresh`]).
#[tracing::instrument(skip_all, fields(shop = %incoming.shop, order = %incoming.key()))]
pub async fn apply_fresh_revision(
    store: &dyn OrderStore,
    routing: &Routing,
    incoming: Order,
    now: DateTime<Utc>,
) -> Result<(Applied, Vec<PendingEffect>), ChangeError<std::convert::Infallible>> {
    apply(store, routing, incoming, now, UpsertPlan::decide_fresh).await
}

async fn apply(
    store: &dyn OrderStore,
    routing: &Routing,
    incoming: Order,
    now: DateTime<Utc>,
    decide: fn(Option<&Order>, Order) -> UpsertPlan,
) -> Result<(Applied, Vec<PendingEffect>), ChangeError<std::convert::Infallible>> {
    for attempt in 0..MAX_ATTEMPTS {
        crate::clock::pause_before_retry(attempt).await;
        let previous = store.get_order(&incoming.shop, &incoming.key()).await?;
        match decide(previous.as_ref(), incoming.clone()) {
            UpsertPlan::Stale => {
                tracing::info!("older revision ignored");
                return Ok((Applied::Stale, Vec::new()));
            }
            UpsertPlan::Unchanged => return Ok((Applied::Unchanged, Vec::new())),
            UpsertPlan::Tie => {
                tracing::info!("another revision of the same second is stored");
                return Ok((Applied::Tie, Vec::new()));
            }
            UpsertPlan::Write { mut order, mut events } => {
                let flags_before = previous.as_ref().map(|p| p.ops.flags.clone()).unwrap_or_default();
                order.refresh_flags(now);
                let (routed, partner) =
                    fulfilment::plan(previous.as_ref(), &mut order, routing.fulfilment.as_ref(), now);
                events.extend(routed);
                let (mirrored, erp_effects) = erp::plan(previous.as_ref(), &mut order, routing.erp.as_ref(), now);
                events.extend(mirrored);
                let pending = partner
                    .iter()
                    .map(|e| partner_message(&order, e))
                    .chain(erp_effects.iter().map(|e| erp_message(&order, e)))
                    .map(|m| outbox::effect(m, now))
                    .collect::<Result<Vec<_>, _>>()?;
                let alerts = shipment_alerts(&order, &flags_before, now);
                if store.write_order_with_alerts(&order, previous.as_ref(), &events, &pending, &alerts).await?
                    == WriteOutcome::Written
                {
                    tracing::info!(
                        version = order.version,
                        events = events.len(),
                        effects = pending.len(),
                        "order stored"
                    );
                    return Ok((Applied::Written, pending));
                }
            }
        }
    }
    Err(ChangeError::Contended)
}

/// The alert of every shipment flag that came up (raised) and of every flag that went down (cleared),
/// committed with the order that changed its flags, so a crash after the commit loses no alert and a
/// retry, which finds the flags already so, needs none. Alert ids derive from the flag's start.
pub fn shipment_alerts(order: &Order, before: &ShipmentFlags, now: DateTime<Utc>) -> Vec<AlertChange> {
    let after = &order.ops.flags;
    let pairs = [
        (AlertKind::TrackingPending, before.tracking_pending_since, after.tracking_pending_since),
        (AlertKind::Delayed, before.delayed_since, after.delayed_since),
    ];
    let mut changes = Vec::new();
    for (kind, was, is) in pairs {
        if let Some(since) = was.filter(|w| Some(*w) != is) {
            changes.push(AlertChange::Clear { id: super::alerts::shipment_id(kind, &order.key(), since), at: now });
        }
        if let Some(since) = is.filter(|i| Some(*i) != was) {
            changes.push(AlertChange::Raise(super::alerts::shipment(kind, order, since, now)));
        }
    }
    changes
}

/// Due orders read per watch and round.
const REVIEW_BATCH: usize = 100;
/// Rounds per watch in one review; what is left waits for the next one.
const REVIEW_ROUNDS: usize = 20;

/// Rewrites the shop's orders whose shipment flags came due by `now` (an order turning 2 hours old
/// without tracking, a shipment 24 hours without a carrier update), which raises their alerts.
/// Returns how many orders were reviewed.
pub async fn review_due(
    store: &dyn OrderStore,
    shop: &ShopDomain,
    now: DateTime<Utc>,
) -> Result<usize, ChangeError<std::convert::Infallible>> {
    let mut reviewed = 0;
    for watch in [Watch::Tracking, Watch::Transit] {
        for _ in 0..REVIEW_ROUNDS {
            let due = store.due_for_review(shop, watch, now, REVIEW_BATCH).await?;
            for key in &due {
                match change(store, shop, key, now, |_| Ok(Decision::Keep)).await {
                    Ok(_) | Err(ChangeError::NotFound) => reviewed += 1,
                    Err(e) => return Err(e),
                }
            }
            if due.len() < REVIEW_BATCH {
                break;
            }
        }
    }
    Ok(reviewed)
}
