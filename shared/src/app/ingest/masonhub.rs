//! MasonHub's callbacks, behind the ingest queue (accepted by `masonhub-webhook`, deduped by
//! `message_id`). `orderEvent`: the partner's status and shipments on the order; each new shipment
//! with tracking is recorded (which clears `tracking_pending`), added to the timeline, and pushes the
//! Shopify `fulfillmentCreate` stage once, committed with the order through the outbox. `shorts` raise
//! an alert naming the SKUs. `orderUpdateResolution` / `orderCancelResolution` settle the pending
//! request (timeline, alert on failure). `skuInventoryChange` keeps the SKU's inventory in the mirror and
//! sets the variant's stock at the `masonhub` location (its inventory status follows).

use chrono::Utc;

use super::Ingest;
use crate::{
    app::{
        alerts,
        orders::{self, ChangeError, Decision},
        outbox,
    },
    domain::{
        Integration, Order, OrderKey, ShopDomain, TimelineEvent,
        fulfilment::{PartnerShipment, PartnerState, order_key_of},
        ops::RecordedShipment,
    },
    error::WorkerError,
    integrations::masonhub::model::{Callback, OrderEvent, Resolution, SkuInventory},
    queue::{Inbound, Outbound, OutboundChange},
    store::MirrorRecord,
};

/// Handles one MasonHub callback.
pub async fn handle(deps: &Ingest, event: Inbound) -> Result<(), WorkerError> {
    let callback: Callback =
        serde_json::from_value(event.payload).map_err(|e| WorkerError::Permanent(anyhow::anyhow!("callback: {e}")))?;
    let shop = &event.shop;
    for (i, entry) in callback.data.iter().enumerate() {
        let permanent =
            |e: serde_json::Error| WorkerError::Permanent(anyhow::anyhow!("{} entry {i}: {e}", callback.message_type));
        match callback.message_type.as_str() {
            "orderEvent" => {
                order_event(deps, shop, &callback.message_id, OrderEvent::deserialize(entry).map_err(permanent)?)
                    .await?
            }
            "orderUpdateResolution" => {
                resolution(deps, shop, "update", Resolution::deserialize(entry).map_err(permanent)?).await?
            }
            "orderCancelResolution" => {
                resolution(deps, shop, "cancel", Resolution::deserialize(entry).map_err(permanent)?).await?
            }
            "skuInventoryChange" => inventory(deps, shop, SkuInventory::deserialize(entry).map_err(permanent)?).await?,
            other => tracing::info!(shop = %shop, message_type = other, "callback type not handled; dropped"),
        }
    }
    Ok(())
}

use serde::Deserialize;

fn order_key(shop: &ShopDomain, partner_order_id: &str) -> Option<OrderKey> {
    let key = order_key_of(shop, partner_order_id);
    if key.is_none() {
        tracing::warn!(shop = %shop, "a callback names an order that is not ours; ignored");
    }
    key
}

fn change_error<E: std::fmt::Debug>(e: ChangeError<E>) -> Option<WorkerError> {
    match e {
        ChangeError::NotFound => None,
        ChangeError::Store(e) => Some(e.into()),
        other => Some(WorkerError::Retryable(anyhow::anyhow!("{other}"))),
    }
}

async fn order_event(deps: &Ingest, shop: &ShopDomain, message_id: &str, event: OrderEvent) -> Result<(), WorkerError> {
    let Some(key) = order_key(shop, &event.customer_identifier) else { return Ok(()) };
    let now = deps.clock.now();
    let shipments: Vec<PartnerShipment> = event
        .shipments
        .iter()
        .map(|s| PartnerShipment {
            id: s.shipment_id.clone(),
            carrier: s.shipping_provider.clone(),
            service_level: s.shipper_service_level.clone(),
            tracking_number: s.tracking_number.clone().filter(|t| !t.trim().is_empty()),
            tracking_url: s.tracking_url.clone(),
            shipped_at: s.shipment_date_time,
        })
        .collect();
    let apply = |order: &mut Order| {
        let partner = order.ops.partner.get_or_insert_with(PartnerState::default);
        let mut events = Vec::new();
        if let Some(status) = event.status.as_ref().filter(|s| partner.status.as_ref() != Some(*s)) {
            partner.status = Some(status.clone());
            events.push(TimelineEvent::new(now, "partner_status", format!("MasonHub status: {status}")));
        }
        if partner.partner_id.is_none() {
            partner.partner_id = event.id.clone();
        }
        partner.accepted = true;
        for shipment in &shipments {
            if partner.shipments.iter().any(|s| s.id == shipment.id) {
                continue;
            }
            partner.shipments.push(shipment.clone());
            let tracking = shipment.tracking_number.as_deref().unwrap_or("no tracking");
            let carrier = shipment.carrier.as_deref().unwrap_or("carrier unknown");
            events.push(TimelineEvent::new(
                now,
                &format!("partner_shipment:{}", shipment.id),
                format!("Shipped by MasonHub with {carrier} tracking {tracking}"),
            ));
        }
        for shipment in partner.shipments.clone() {
            let id = format!("masonhub-{}", shipment.id);
            if shipment.tracking_number.is_some() && !order.ops.recorded_shipments.iter().any(|r| r.id == id) {
                order.ops.recorded_shipments.push(RecordedShipment {
                    id,
                    tracking_number: shipment.tracking_number.clone(),
                    carrier: shipment.carrier.clone(),
                    recorded_at: shipment.shipped_at.unwrap_or(now),
                });
            }
        }
        if events.is_empty() {
            return Ok::<_, std::convert::Infallible>(Decision::Keep);
        }
        if let Some(partner) = order.ops.partner.as_mut() {
            partner.updated_at = Some(now);
        }
        Ok(Decision::Write(events))
    };
    // Each shipment newly recorded pushes its Shopify fulfilment once: keyed by the shipment.
    let effects = |before: &Order, after: &Order| -> Vec<Outbound> {
        after
            .ops
            .recorded_shipments
            .iter()
            .filter(|s| s.id.starts_with("masonhub-") && !before.ops.recorded_shipments.iter().any(|b| b.id == s.id))
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
    let orders_store = deps.orders.as_ref();
    match orders::change_with_effects(orders_store, shop, &key, now, apply, effects).await {
        Ok((_, pending)) => outbox::relay_after_commit(deps.outbox.as_ref(), deps.queue.as_ref(), &pending).await,
        Err(e) => {
            if let Some(e) = change_error(e) {
                return Err(e);
            }
            tracing::warn!(shop = %shop, order = %key, "orderEvent for an order we do not have; ignored");
        }
    }
    if !event.shorts.is_empty() {
        let mut skus: Vec<String> = event.shorts.iter().map(|s| s.sku_customer_id.clone()).collect();
        skus.sort();
        skus.dedup();
        deps.alerts.raise_alert(&alerts::partner_short(shop, &key, &skus, now)).await?;
    }
    tracing::info!(shop = %shop, order = %key, message_id, "orderEvent applied");
    Ok(())
}

async fn resolution(
    deps: &Ingest,
    shop: &ShopDomain,
    request: &str,
    resolution: Resolution,
) -> Result<(), WorkerError> {
    let Some(key) = order_key(shop, &resolution.customer_order_id) else { return Ok(()) };
    let now = deps.clock.now();
    let succeeded = resolution.succeeded();
    let resolution_id =
        format!("{request}:{}", resolution.id.clone().unwrap_or_else(|| resolution.customer_order_id.clone()));
    let event_kind = format!("partner_{request}_{}", resolution.id.as_deref().unwrap_or("resolution"));
    let details = if succeeded {
        format!("MasonHub applied the {request} request")
    } else {
        format!("MasonHub could not apply the {request} request")
    };
    let apply = |order: &mut Order| {
        let partner = order.ops.partner.get_or_insert_with(PartnerState::default);
        if partner.resolutions.contains(&resolution_id) {
            return Ok::<_, std::convert::Infallible>(Decision::Keep);
        }
        partner.resolutions.push(resolution_id.clone());
        let settled = partner.pending_request.as_deref().is_some_and(|p| p.starts_with(request));
        if settled {
            partner.pending_request = None;
        }
        if succeeded && request == "cancel" {
            partner.status = Some("canceled".to_owned());
        }
        Ok::<_, std::convert::Infallible>(Decision::Write(vec![TimelineEvent::new(now, &event_kind, details.clone())]))
    };
    match orders::change(deps.orders.as_ref(), shop, &key, now, apply).await {
        Ok(_) => {}
        Err(e) => {
            if let Some(e) = change_error(e) {
                return Err(e);
            }
            return Ok(());
        }
    }
    if !succeeded {
        deps.alerts.raise_alert(&alerts::partner_request_failed(shop, &key, request, &resolution_id, now)).await?;
    }
    Ok(())
}

async fn inventory(deps: &Ingest, shop: &ShopDomain, sku: SkuInventory) -> Result<(), WorkerError> {
    let as_of = sku
        .as_of
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| deps.clock.now());
    let id = sku.customer_identifier.replace('#', "_");
    let record = MirrorRecord {
        shop: shop.clone(),
        integration: Integration::MasonHub,
        kind: "sku_inventory".into(),
        id,
        updated_at: as_of,
        sort_at: as_of,
        payload: serde_json::json!({
            "sku": sku.customer_identifier,
            "available_to_sell": sku.total_available_to_sell,
            "total_units": sku.total_units,
            "in_stock": sku.total_available_to_sell.is_some_and(|n| n > 0),
        }),
        parts: Vec::new(),
    };
    deps.mirror.upsert_mirror(&record).await?;
    // The warehouse is one location of the product's stock: the variant's inventory status follows.
    if let Some(available) = sku.total_available_to_sell {
        let moved = deps.products.set_sku_level(shop, &sku.customer_identifier, WAREHOUSE, available, as_of).await?;
        tracing::info!(moved, "warehouse stock recorded");
    }
    Ok(())
}

/// The inventory location MasonHub's stock is recorded under.
pub const WAREHOUSE: &str = "masonhub";
