//! MasonHub's effects. Creates of one shop go out together, at most 30 per `POST /orders`, and each
//! record's own result decides its message's fate: a success (or "already taken": a create sent twice)
//! is delivered and never sent again, a failed record is dead-lettered at once with MasonHub's
//! message, a request that failed as a whole (429, 5xx, timeout) sends each message down the ladder
//! alone. Updates (full replacement) and cancels wait until MasonHub accepted the order; their
//! outcome arrives by callback.

use std::collections::BTreeMap;

use super::{Failure, Outbound, Outcome, already_handed_on, record, retry_or_dead_letter, wait_for_token};
use crate::{
    app::{
        connections::masonhub::{self as connection, Access, AccessError},
        orders::{self, Decision},
    },
    domain::{Integration, Order, OrderKey, ShopDomain, TimelineEvent, fulfilment::PartnerState},
    error::WorkerError,
    integrations::masonhub::model::{CancelRecord, MAX_BATCH, OrderRecord, order_record},
    queue::{self, OutboundChange},
    store::DeliveryOutcome,
};

type Results = Vec<Result<(), WorkerError>>;

/// Works a batch of MasonHub messages; one result per message, in order.
pub(super) async fn dispatch(deps: &Outbound, messages: Vec<queue::Outbound>) -> Results {
    let mut results: Vec<Option<Result<(), WorkerError>>> = (0..messages.len()).map(|_| None).collect();
    let mut creates: BTreeMap<ShopDomain, Vec<usize>> = BTreeMap::new();
    for (i, message) in messages.iter().enumerate() {
        match &message.change {
            OutboundChange::PartnerCreate { .. } => creates.entry(message.shop.clone()).or_default().push(i),
            _ => results[i] = Some(single(deps, message).await),
        }
    }
    for (shop, positions) in creates {
        let batch: Vec<&queue::Outbound> = positions.iter().map(|&i| &messages[i]).collect();
        for (position, result) in positions.iter().zip(create_all(deps, &shop, &batch).await) {
            results[*position] = Some(result);
        }
    }
    results.into_iter().map(|r| r.unwrap_or(Ok(()))).collect()
}

fn key_of(message: &queue::Outbound) -> Result<OrderKey, WorkerError> {
    OrderKey::parse(&message.order).map_err(|e| WorkerError::Permanent(e.into()))
}

/// A create to work: its message, order key and record (or why it has none).
struct Create<'a> {
    message: &'a queue::Outbound,
    key: OrderKey,
    record: OrderRecord,
}

async fn create_all(deps: &Outbound, shop: &ShopDomain, batch: &[&queue::Outbound]) -> Results {
    let mut results: Vec<Result<(), WorkerError>> = Vec::with_capacity(batch.len());
    let mut ready: Vec<(usize, Create<'_>)> = Vec::new();
    let access = open(deps, shop).await;
    for (i, message) in batch.iter().enumerate() {
        results.push(Ok(()));
        let prepared = prepare_create(deps, message, access.as_ref()).await;
        match prepared {
            Ok(Some(create)) => ready.push((i, create)),
            Ok(None) => {}
            Err(e) => results[i] = Err(e),
        }
    }
    let Ok(access) = access else { return results };
    for chunk in ready.chunks(MAX_BATCH) {
        if let Err(delay) = deps.rates.take(Integration::MasonHub, shop, deps.clock.now()) {
            for (i, create) in chunk {
                results[*i] = wait_for_token(deps, create.message, delay).await;
            }
            continue;
        }
        let records: Vec<OrderRecord> = chunk.iter().map(|(_, c)| c.record.clone()).collect();
        match deps.masonhub.client.create_orders(&access.base_url, &access.token, &records).await {
            Ok(answer) => {
                for (i, create) in chunk {
                    let result = answer
                        .results
                        .iter()
                        .find(|r| r.customer_identifier.as_deref() == Some(create.record.customer_identifier.as_str()));
                    results[*i] = match result {
                        Some(r) if r.succeeded() || r.already_exists() => {
                            let detail = if r.succeeded() {
                                format!("accepted by MasonHub as {}", create.record.customer_identifier)
                            } else {
                                format!("MasonHub already had {}", create.record.customer_identifier)
                            };
                            accepted(deps, create, r.system_id.clone(), detail).await
                        }
                        Some(r) => {
                            let request = serde_json::to_value(&create.record).ok();
                            let failure = Failure::rejected(
                                format!("MasonHub refused the order: {}", r.message()),
                                request,
                                serde_json::to_string(r).ok(),
                            );
                            retry_or_dead_letter(deps, create.message, failure).await
                        }
                        None => {
                            let failure = Failure::waiting("MasonHub's answer held no result for this order");
                            retry_or_dead_letter(deps, create.message, failure).await
                        }
                    };
                }
            }
            Err(error) => {
                for (i, create) in chunk {
                    let failure = Failure::of(&error, serde_json::to_value(&create.record).ok());
                    results[*i] = retry_or_dead_letter(deps, create.message, failure).await;
                }
            }
        }
    }
    results
}

/// The create's record, or `None` when the message was settled here (a redelivery, an order without
/// a route, an order MasonHub cannot take, a shop not connected).
async fn prepare_create<'a>(
    deps: &Outbound,
    message: &'a queue::Outbound,
    access: Result<&Access, &AccessError>,
) -> Result<Option<Create<'a>>, WorkerError> {
    let key = key_of(message)?;
    if already_handed_on(deps, message, &key).await? {
        return Ok(None);
    }
    if let Err(e) = access {
        return match e {
            AccessError::NotConnected => {
                let failure = Failure::rejected("the shop has no active MasonHub connection", None, None);
                retry_or_dead_letter(deps, message, failure).await.map(|()| None)
            }
            other => Err(WorkerError::Retryable(anyhow::anyhow!("MasonHub access: {other}"))),
        };
    }
    let Some(order) = deps.orders.get_order(&message.shop, &key).await? else {
        record(deps, message, &key, DeliveryOutcome::Skipped, "the order is gone".into()).await?;
        return Ok(None);
    };
    let Some(route) = order.ops.route.clone().filter(|r| r.partner == Integration::MasonHub) else {
        record(deps, message, &key, DeliveryOutcome::Skipped, "the order is not routed to MasonHub".into()).await?;
        return Ok(None);
    };
    match order_record(&order, &route) {
        Ok(record) => Ok(Some(Create { message, key, record })),
        Err(e) => {
            let failure = Failure::rejected(e.to_string(), None, None);
            retry_or_dead_letter(deps, message, failure).await.map(|()| None)
        }
    }
}

async fn open(deps: &Outbound, shop: &ShopDomain) -> Result<Access, AccessError> {
    let m = &deps.masonhub;
    connection::access(m.connections.as_ref(), m.credentials.as_ref(), m.sealer.as_ref(), &m.config, shop).await
}

/// MasonHub has the order: record the delivery and the partner's acceptance on the order.
async fn accepted(
    deps: &Outbound,
    create: &Create<'_>,
    partner_id: Option<String>,
    detail: String,
) -> Result<(), WorkerError> {
    let now = deps.clock.now();
    let shop = &create.message.shop;
    let result = orders::change(deps.orders.as_ref(), shop, &create.key, now, |order: &mut Order| {
        let partner = order.ops.partner.get_or_insert_with(PartnerState::default);
        if partner.accepted {
            return Ok::<_, std::convert::Infallible>(Decision::Keep);
        }
        partner.accepted = true;
        partner.partner_id = partner.partner_id.clone().or_else(|| partner_id.clone());
        partner.status = partner.status.clone().or_else(|| Some("open".to_owned()));
        partner.updated_at = Some(now);
        Ok(Decision::Write(vec![TimelineEvent::new(now, "partner_accepted", "Sent to MasonHub".to_owned())]))
    })
    .await;
    match result {
        Ok(_) | Err(orders::ChangeError::NotFound) => {}
        Err(orders::ChangeError::Store(e)) => return Err(e.into()),
        Err(e) => return Err(WorkerError::Retryable(anyhow::anyhow!("{e}"))),
    }
    record(deps, create.message, &create.key, DeliveryOutcome::Delivered, detail).await
}

/// An update or a cancel.
async fn single(deps: &Outbound, message: &queue::Outbound) -> Result<(), WorkerError> {
    let key = key_of(message)?;
    if already_handed_on(deps, message, &key).await? {
        return Ok(());
    }
    let Some(order) = deps.orders.get_order(&message.shop, &key).await? else {
        return record(deps, message, &key, DeliveryOutcome::Skipped, "the order is gone".into()).await;
    };
    let Some(route) = order.ops.route.clone() else {
        return record(deps, message, &key, DeliveryOutcome::Skipped, "the order is not routed".into()).await;
    };
    if !order.ops.partner.as_ref().is_some_and(|p| p.accepted) {
        return retry_or_dead_letter(deps, message, Failure::waiting("MasonHub has not accepted the order yet")).await;
    }
    let access = match open(deps, &message.shop).await {
        Ok(access) => access,
        Err(AccessError::NotConnected) => {
            let failure = Failure::rejected("the shop has no active MasonHub connection", None, None);
            return retry_or_dead_letter(deps, message, failure).await;
        }
        Err(e) => return Err(WorkerError::Retryable(anyhow::anyhow!("MasonHub access: {e}"))),
    };
    if let Err(delay) = deps.rates.take(Integration::MasonHub, &message.shop, deps.clock.now()) {
        return wait_for_token(deps, message, delay).await;
    }
    let client = &deps.masonhub.client;
    let (request, answer, request_kind) = match &message.change {
        OutboundChange::PartnerUpdate { .. } => {
            let record = match order_record(&order, &route) {
                Ok(record) => record,
                Err(e) => {
                    return retry_or_dead_letter(deps, message, Failure::rejected(e.to_string(), None, None)).await;
                }
            };
            let request = serde_json::to_value(&record).ok();
            (request, client.update_orders(&access.base_url, &access.token, &[record]).await, "update")
        }
        OutboundChange::PartnerCancel { partner_order_id } => {
            let record = CancelRecord { customer_identifier: partner_order_id.clone() };
            let request = serde_json::to_value(&record).ok();
            (request, client.cancel_orders(&access.base_url, &access.token, &[record]).await, "cancel")
        }
        other => {
            let detail = format!("MasonHub has no handler for {} changes", other.kind());
            return Err(WorkerError::Permanent(anyhow::anyhow!(detail)));
        }
    };
    let outcome: Result<Outcome, Failure> = match answer {
        Ok(batch) => match batch.results.first() {
            Some(r) if r.succeeded() => {
                Ok((DeliveryOutcome::Delivered, format!("{request_kind} requested at MasonHub")))
            }
            Some(r) => Err(Failure::rejected(
                format!("MasonHub refused the {request_kind}: {}", r.message()),
                request,
                serde_json::to_string(r).ok(),
            )),
            None => Err(Failure::waiting("MasonHub's answer held no result")),
        },
        Err(error) => Err(Failure::of(&error, request)),
    };
    match outcome {
        Ok((outcome, detail)) => {
            let now = deps.clock.now();
            let pending = format!("{request_kind}:{}", message.id);
            let event =
                TimelineEvent::new(now, "partner_request", format!("Asked MasonHub to {request_kind} the order"));
            let changed = orders::change(deps.orders.as_ref(), &message.shop, &key, now, |o| {
                let partner = o.ops.partner.get_or_insert_with(PartnerState::default);
                if partner.pending_request.as_deref() == Some(pending.as_str()) {
                    return Ok::<_, std::convert::Infallible>(Decision::Keep);
                }
                partner.pending_request = Some(pending.clone());
                Ok(Decision::Write(vec![event.clone()]))
            })
            .await;
            if let Err(orders::ChangeError::Store(e)) = changed {
                return Err(e.into());
            }
            record(deps, message, &key, outcome, detail).await
        }
        Err(failure) => retry_or_dead_letter(deps, message, failure).await,
    }
}
