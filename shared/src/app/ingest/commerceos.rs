//! CommerceOS's sync-webhooks, behind the ingest queue (accepted by `commerceos-webhook`, deduped by
//! the body's digest). `order-status`: the trade order's status, mapped with seed 004's table, on the
//! order's ERP state and timeline. `shipment-completed`: the shipment order's status (the shipment
//! table, `Partially*` included) and, once it has tracking, a recorded shipment that pushes Shopify's
//! `fulfillmentCreate` once per shipment through the outbox (as MasonHub's shipments do). `orders/new`:
//! an order we pushed is linked by our identifier (nothing new); any other becomes an order of the
//! `commerceos` channel.

use serde_json::Value;

use super::Ingest;
use crate::{
    app::{
        connections::commerceos as connection,
        orders::{self, ChangeError, Decision},
        outbox,
    },
    domain::{
        Integration, Order, OrderKey, ShopDomain, TimelineEvent, erp::ErpShipment, fulfilment::order_key_of,
        ops::RecordedShipment,
    },
    error::WorkerError,
    integrations::commerceos::model::{self, ShipmentCallback, StatusCallback},
    queue::{Inbound, Outbound, OutboundChange},
};

pub const ORDER_STATUS: &str = "order-status";
pub const SHIPMENT_COMPLETED: &str = "shipment-completed";
pub const NEW_ORDERS: &str = "orders/new";

/// Handles one CommerceOS sync-webhook delivery (a page of entries).
pub async fn handle(deps: &Ingest, event: Inbound) -> Result<(), WorkerError> {
    let shop = &event.shop;
    for entry in model::entries(&event.payload) {
        let permanent = |e: serde_json::Error| WorkerError::Permanent(anyhow::anyhow!("{}: {e}", event.topic));
        match event.topic.as_str() {
            ORDER_STATUS => status(deps, shop, serde_json::from_value(entry).map_err(permanent)?).await?,
            SHIPMENT_COMPLETED => shipment(deps, shop, serde_json::from_value(entry).map_err(permanent)?).await?,
            NEW_ORDERS => new_order(deps, shop, &entry).await?,
            other => tracing::info!(shop = %shop, topic = other, "CommerceOS topic not handled; dropped"),
        }
    }
    Ok(())
}

fn ours(shop: &ShopDomain, identifier: Option<&str>) -> Option<OrderKey> {
    let key = identifier.and_then(|id| order_key_of(shop, id));
    if key.is_none() {
        tracing::warn!(shop = %shop, "a CommerceOS callback names an order that is not ours; ignored");
    }
    key
}

async fn apply(
    deps: &Ingest,
    shop: &ShopDomain,
    key: &OrderKey,
    change: impl Fn(&mut Order) -> Result<Decision, std::convert::Infallible>,
) -> Result<(), WorkerError> {
    let now = deps.clock.now();
    // Each shipment newly recorded from CommerceOS pushes its Shopify fulfilment once.
    let effects = |before: &Order, after: &Order| -> Vec<Outbound> {
        if after.channel != crate::domain::Channel::Shopify {
            return Vec::new();
        }
        after
            .ops
            .recorded_shipments
            .iter()
            .filter(|s| s.id.starts_with("commerceos-") && !before.ops.recorded_shipments.iter().any(|b| b.id == s.id))
            .map(|s| {
                let change = OutboundChange::FulfillmentCreate {
                    shipment_id: s.id.clone(),
                    tracking_number: s.tracking_number.clone(),
                    carrier: s.carrier.clone(),
                };
                Outbound::new(Integration::Shopify, after.shop.clone(), after.key().to_string(), s.id.clone(), change)
            })
            .collect()
    };
    match orders::change_with_effects(deps.orders.as_ref(), shop, key, now, change, effects).await {
        Ok((_, pending)) => {
            outbox::relay_after_commit(deps.outbox.as_ref(), deps.queue.as_ref(), &pending).await;
            Ok(())
        }
        Err(ChangeError::NotFound) => {
            tracing::warn!(shop = %shop, order = %key, "CommerceOS callback for an order we do not have; ignored");
            Ok(())
        }
        Err(ChangeError::Store(e)) => Err(e.into()),
        Err(e) => Err(WorkerError::Retryable(anyhow::anyhow!("{e}"))),
    }
}

async fn status(deps: &Ingest, shop: &ShopDomain, callback: StatusCallback) -> Result<(), WorkerError> {
    let Some(key) = ours(shop, callback.order_id.as_deref()) else { return Ok(()) };
    let now = deps.clock.now();
    let mapped = model::order_status(&callback.status);
    apply(deps, shop, &key, |order| {
        let Some(erp) = order.ops.erp.as_mut() else { return Ok(Decision::Keep) };
        if erp.raw_status == callback.status {
            return Ok(Decision::Keep);
        }
        erp.raw_status.clone_from(&callback.status);
        erp.status = mapped.map(str::to_owned).or_else(|| erp.status.clone());
        erp.approved |= mapped == Some("confirmed");
        erp.cancelled |= mapped == Some("cancelled");
        erp.updated_at = Some(now);
        let text = format!("CommerceOS: {} ({})", callback.status.join(", "), mapped.unwrap_or("unknown"));
        Ok(Decision::Write(vec![TimelineEvent::new(now, &format!("erp_status:{}", callback.status.join("+")), text)]))
    })
    .await
}

async fn shipment(deps: &Ingest, shop: &ShopDomain, callback: ShipmentCallback) -> Result<(), WorkerError> {
    let Some(key) = ours(shop, callback.order_id.as_deref()) else { return Ok(()) };
    let Some(id) = callback.shipment_id.clone().filter(|s| !s.trim().is_empty()) else {
        return Err(WorkerError::Permanent(anyhow::anyhow!("a shipment callback without shipmentId")));
    };
    let now = deps.clock.now();
    let status = model::shipment_status(&callback.status).unwrap_or_else(|| "processing".to_owned());
    let tracking = callback.tracking_number.clone().filter(|t| !t.trim().is_empty());
    apply(deps, shop, &key, |order| {
        let Some(erp) = order.ops.erp.as_mut() else { return Ok(Decision::Keep) };
        let mut events = Vec::new();
        let reported = ErpShipment {
            id: id.clone(),
            status: status.clone(),
            tracking_number: tracking.clone(),
            tracking_url: callback.tracking_url.clone(),
            carrier: callback.carrier.clone(),
        };
        match erp.shipments.iter_mut().find(|s| s.id == id) {
            Some(known) if *known == reported => {}
            Some(known) => {
                if known.status != status {
                    events.push(TimelineEvent::new(
                        now,
                        &format!("erp_shipment:{id}:{status}"),
                        format!("CommerceOS shipment {id}: {status}"),
                    ));
                }
                *known = reported;
            }
            None => {
                events.push(TimelineEvent::new(
                    now,
                    &format!("erp_shipment:{id}:{status}"),
                    format!("CommerceOS shipment {id}: {status}"),
                ));
                erp.shipments.push(reported);
            }
        }
        // A 3PL-routed order's parcel reached Shopify through the 3PL already: no second fulfilment.
        let recorded = format!("commerceos-{id}");
        if tracking.is_some()
            && order.ops.route.is_none()
            && !order.ops.recorded_shipments.iter().any(|r| r.id == recorded)
        {
            order.ops.recorded_shipments.push(RecordedShipment {
                id: recorded,
                tracking_number: tracking.clone(),
                carrier: callback.carrier.clone(),
                recorded_at: now,
            });
            if events.is_empty() {
                events.push(TimelineEvent::new(
                    now,
                    &format!("erp_tracking:{id}"),
                    format!("CommerceOS shipment {id} has tracking"),
                ));
            }
        }
        if events.is_empty() {
            return Ok(Decision::Keep);
        }
        if let Some(erp) = order.ops.erp.as_mut() {
            erp.updated_at = Some(now);
        }
        Ok(Decision::Write(events))
    })
    .await
}

async fn new_order(deps: &Ingest, shop: &ShopDomain, record: &Value) -> Result<(), WorkerError> {
    let Some(connection) = connection::load(deps.connections.as_ref(), shop).await? else {
        tracing::warn!(shop = %shop, "a new-order notification without a CommerceOS connection; ignored");
        return Ok(());
    };
    let defaults = &connection.settings.defaults;
    if let Some(identifier) = model::our_identifier(record, &defaults.identifier_key)
        && let Some(key) = order_key_of(shop, &identifier)
    {
        // One of ours: linked by our identifier, never a second order.
        tracing::info!(shop = %shop, order = %key, "CommerceOS reported an order we pushed; linked");
        let now = deps.clock.now();
        return apply(deps, shop, &key, |order| {
            let Some(erp) = order.ops.erp.as_mut() else { return Ok(Decision::Keep) };
            if erp.upserted {
                return Ok(Decision::Keep);
            }
            erp.upserted = true;
            erp.updated_at = Some(now);
            Ok(Decision::Write(vec![TimelineEvent::new(now, "erp_linked", "CommerceOS has the order".to_owned())]))
        })
        .await;
    }
    let now = deps.clock.now();
    let order = model::born_order(shop, record, defaults, now)
        .map_err(|e| WorkerError::Permanent(anyhow::anyhow!("a CommerceOS order could not be read: {e}")))?;
    let key = order.key();
    match orders::apply_revision(deps.orders.as_ref(), order, now).await {
        Ok(applied) => {
            tracing::info!(shop = %shop, order = %key, ?applied, "CommerceOS order stored");
            Ok(())
        }
        Err(ChangeError::Store(e)) => Err(e.into()),
        Err(e) => Err(WorkerError::Retryable(anyhow::anyhow!("{e}"))),
    }
}
