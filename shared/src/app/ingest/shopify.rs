//! Shopify's inbound events: the webhook topics, each mapped to the canonical order (version-guarded, so
//! duplicates and out-of-order deliveries never replace newer state), its timeline, products, the
//! shop's install state, and the compliance topics.

use chrono::Utc;
use serde::Deserialize;

use super::{Ingest, shopify_events as events};
use crate::{
    app::{
        orders::{self, Applied, ChangeError, Decision},
        poll::shopify::{Completion, complete_order},
    },
    domain::{ChannelOrderId, Fulfillment, OrderKey, ShopDomain, TimelineEvent, ops::ChannelReturn},
    error::WorkerError,
    integrations::shopify::graphql::{ORDER_REVISION, OrderRevisionData},
    integrations::shopify::model::{
        ShopifyDeleted, ShopifyFulfillmentEvent, ShopifyInventoryLevel, ShopifyOrder, ShopifyOrderEdited,
        ShopifyOrderTransaction, ShopifyProduct, ShopifyRefund,
    },
    queue::{Inbound, Message, Stage},
    store::{ShopStatus, Waiting},
};

/// Orders one erasure step deletes.
const ERASE_STEP: usize = 25;

/// `shop/redact`: erases the shop's orders in bounded steps; when the time budget runs out with orders
/// left, the same event goes back on the ingest queue as its own continuation (every step is safe to
/// repeat). Once no order is left, everything else of the shop goes.
async fn erase_shop(deps: &Ingest, webhook: Inbound) -> Result<(), WorkerError> {
    let started = std::time::Instant::now();
    let mut erased = 0;
    loop {
        let step = deps.shops.erase_shop_orders(&webhook.shop, ERASE_STEP).await?;
        erased += step.orders;
        if !step.more {
            break;
        }
        if started.elapsed() >= deps.erase_budget {
            deps.queue.send(Stage::Ingest, &Message::Inbound(webhook), 0).await?;
            tracing::info!(orders = erased, "shop erasure continues on the queue");
            return Ok(());
        }
    }
    let items = deps.shops.erase_shop(&webhook.shop).await?;
    tracing::info!(orders = erased, items, "shop data erased");
    Ok(())
}

/// Handles one Shopify webhook.
pub async fn handle(deps: &Ingest, webhook: Inbound) -> Result<(), WorkerError> {
    let shop = webhook.shop.clone();
    let erasing = webhook.topic == "shop/redact";
    topic(deps, webhook).await?;
    if !erasing {
        // The subscription health check polls from here when events go missing; the dashboard
        // refetches on the ping.
        deps.sync.record_webhook(&shop, deps.clock.now()).await?;
    }
    Ok(())
}

/// The `orders/*` topics whose body is the whole order.
const ORDER_TOPICS: &[&str] = &[
    "orders/create",
    "orders/updated",
    "orders/cancelled",
    "orders/fulfilled",
    "orders/partially_fulfilled",
    "orders/paid",
];

async fn topic(deps: &Ingest, webhook: Inbound) -> Result<(), WorkerError> {
    let permanent = |e: serde_json::Error| WorkerError::Permanent(e.into());
    let topic = webhook.topic.as_str();
    if ORDER_TOPICS.contains(&topic) {
        let order =
            ShopifyOrder::parse(&webhook.payload, webhook.shop).map_err(|e| WorkerError::Permanent(e.into()))?;
        let routing = crate::app::connections::routing(deps.connections.as_ref(), &order.shop).await?;
        let orders_store = deps.orders.as_ref();
        let now = deps.clock.now();
        let (shop, key, gid) = (order.shop.clone(), order.key(), order.admin_graphql_api_id.clone());
        let (applied, effects) =
            orders::apply_routed_revision(orders_store, &routing, order, now).await.map_err(change_error)?;
        crate::app::outbox::relay_after_commit(deps.outbox.as_ref(), deps.queue.as_ref(), &effects).await;
        if applied == Applied::Tie
            && let Some(gid) = gid
        {
            settle_tie(deps, &shop, &gid, &routing).await?;
        }
        // Whatever the revision did, the order exists now: events that arrived before it go back on the
        // queue (again, after a crash between the write and this release).
        super::release_waiting(orders_store, deps.queue.as_ref(), &shop, &key).await?;
        return Ok(());
    }
    if let Some(handled) = order_event_or_wait(deps, &webhook).await? {
        return Ok(handled);
    }
    match topic {
        "products/create" | "products/update" => {
            let product = ShopifyProduct::deserialize(&webhook.payload).map_err(permanent)?.into_product(webhook.shop);
            let written = deps.products.put_product(&product).await?;
            tracing::info!(product = %product.id, variants = product.variants.len(), written, "product stored");
            Ok(())
        }
        "products/delete" => {
            let deleted = ShopifyDeleted::deserialize(&webhook.payload).map_err(permanent)?;
            // The payload carries no time: Shopify's trigger time orders it against updates.
            let at = events::happened_at(deps, &webhook);
            deps.products.delete_product(&webhook.shop, &deleted.id, at).await?;
            tracing::info!(product = %deleted.id, "product deleted");
            Ok(())
        }
        "inventory_levels/update" => {
            let level = ShopifyInventoryLevel::deserialize(&webhook.payload).map_err(permanent)?;
            let at = level.updated_at.with_timezone(&Utc);
            let available = level.available.unwrap_or(0);
            let moved = deps
                .products
                .set_inventory_level(&webhook.shop, &level.inventory_item_id, &level.location_id, available, at)
                .await?;
            tracing::info!(inventory_item = %level.inventory_item_id, moved, "inventory level");
            Ok(())
        }
        "app/uninstalled" => {
            // Polls stop for an uninstalled shop; its data stays until `shop/redact` (48 h later).
            deps.shops.set_shop_status(&webhook.shop, ShopStatus::Uninstalled, deps.clock.now()).await?;
            tracing::info!("app uninstalled; shop marked inactive");
            Ok(())
        }
        "shop/redact" => erase_shop(deps, webhook).await,
        "customers/redact" => {
            let request = CustomerRequest::deserialize(&webhook.payload).map_err(permanent)?;
            for id in &request.orders {
                redact_customer(deps, &webhook.shop, id).await?;
            }
            tracing::info!(orders = request.orders.len(), "customer data redacted");
            Ok(())
        }
        "customers/data_request" => {
            let request = CustomerRequest::deserialize(&webhook.payload).map_err(permanent)?;
            export_customer_data(deps, &webhook.shop, &request).await
        }
        topic => {
            tracing::info!(topic, "topic not handled by this version; dropped");
            Ok(())
        }
    }
}

/// Two revisions of an order with the same `updated_at` (one-second precision) and different contents:
/// which came last cannot be told from them, so the order is read again from the Admin API, completed
/// as the poll completes it, and that copy is stored. Without a usable token the first stays until the
/// next revision or poll.
async fn settle_tie(deps: &Ingest, shop: &ShopDomain, gid: &str, routing: &orders::Routing) -> Result<(), WorkerError> {
    let Some(token) = deps.shopify.token(deps.shops.as_ref(), shop).await? else {
        tracing::warn!(order = gid, "a tie of two revisions stays unsettled: the shop has no usable token");
        return Ok(());
    };
    let variables = serde_json::json!({ "id": gid });
    let reply = deps.shopify.admin.graphql::<OrderRevisionData>(shop, &token, ORDER_REVISION, variables).await?;
    let Some(mut node) = reply.data.order else {
        tracing::info!(order = gid, "the order is gone upstream; the stored revision stays");
        return Ok(());
    };
    let mut cost = reply.cost;
    match complete_order(&deps.shopify, shop, &token, &mut node, &mut cost).await? {
        Completion::Complete => {}
        Completion::Gone => return Ok(()),
        Completion::Later(wait) => {
            return Err(WorkerError::Retryable(anyhow::anyhow!("Shopify asks to wait {wait:?} before the re-read")));
        }
    }
    let order = node.into_order(shop.clone()).map_err(|e| WorkerError::Permanent(e.into()))?;
    let (orders_store, now) = (deps.orders.as_ref(), deps.clock.now());
    let (applied, effects) =
        orders::apply_fresh_revision(orders_store, routing, order, now).await.map_err(change_error)?;
    crate::app::outbox::relay_after_commit(deps.outbox.as_ref(), deps.queue.as_ref(), &effects).await;
    tracing::info!(order = gid, ?applied, "tie of two revisions settled by a fresh read");
    Ok(())
}

/// What an event for an order it does not carry came to.
pub(crate) enum Landed {
    /// Applied (or nothing to apply).
    Done,
    /// The order is not stored yet.
    NoOrder(OrderKey),
}

/// The topics that land on an order they do not carry (`None` for the others). An event whose order is
/// not stored yet waits until the order lands ([`keep_until_order`]); when the order landed meanwhile, it is
/// applied at once.
async fn order_event_or_wait(deps: &Ingest, webhook: &Inbound) -> Result<Option<()>, WorkerError> {
    for _ in 0..2 {
        match order_event(deps, webhook).await? {
            None => return Ok(None),
            Some(Landed::Done) => return Ok(Some(())),
            Some(Landed::NoOrder(key)) => {
                if keep_until_order(deps, webhook, &key).await? == Waiting::Kept {
                    return Ok(Some(()));
                }
            }
        }
    }
    Err(WorkerError::Retryable(anyhow::anyhow!("the order came and went while its event waited")))
}

async fn order_event(deps: &Ingest, webhook: &Inbound) -> Result<Option<Landed>, WorkerError> {
    let permanent = |e: serde_json::Error| WorkerError::Permanent(e.into());
    let topic = webhook.topic.as_str();
    if let Some(event) = ChannelReturn::from_topic(topic) {
        return events::shopify_return(deps, webhook, event).await.map(Some);
    }
    let landed = match topic {
        "fulfillments/create" | "fulfillments/update" => {
            let event = ShopifyFulfillmentEvent::deserialize(&webhook.payload).map_err(permanent)?;
            fulfillment(deps, &webhook.shop, event).await?
        }
        "refunds/create" => {
            let refund = ShopifyRefund::deserialize(&webhook.payload).map_err(permanent)?;
            let refunded: Vec<&str> = refund
                .transactions
                .iter()
                .filter(|t| t.kind.as_deref() == Some("refund") && t.status.as_deref() != Some("failure"))
                .map(|t| t.amount.as_str())
                .collect();
            let details = format!("Refund issued ({})", refunded.join(", "));
            let event = TimelineEvent::new(refund.created_at.with_timezone(&Utc), "refund", details)
                .from_source(format!("refund/{}", refund.id));
            refund_with_payments(deps, &webhook.shop, &refund, event).await?
        }
        "order_transactions/create" => {
            let transaction = ShopifyOrderTransaction::deserialize(&webhook.payload).map_err(permanent)?;
            order_transaction(deps, webhook, &transaction).await?
        }
        "orders/edited" => {
            let edited = ShopifyOrderEdited::deserialize(&webhook.payload).map_err(permanent)?.order_edit;
            let (added, removed) = edited.line_items.map(|l| (l.additions.len(), l.removals.len())).unwrap_or_default();
            let at = edited.committed_at.unwrap_or(edited.created_at).with_timezone(&Utc);
            let details = format!("Order edited: {added} line item change(s) added, {removed} removed");
            let mut event = TimelineEvent::new(at, "order_edited", details);
            if let Some(id) = &edited.id {
                event = event.from_source(format!("order_edit/{id}"));
            }
            timeline_only(deps, &webhook.shop, &edited.order_id, event).await?
        }
        "fulfillment_orders/placed_on_hold" | "fulfillment_orders/hold_released" => events::hold(deps, webhook).await?,
        "reverse_deliveries/attach_deliverable" => events::reverse_delivery(deps, webhook).await?,
        _ => return Ok(None),
    };
    Ok(Some(landed))
}

/// Keeps `webhook` until its order `key` is stored (`app::ingest::release_waiting` hands it back to the
/// queue then). Keyed by the delivery, so a redelivery overwrites its own copy; a body too large for the
/// queue waits as its claim check.
async fn keep_until_order(deps: &Ingest, webhook: &Inbound, key: &OrderKey) -> Result<Waiting, WorkerError> {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{}\u{1f}{}", webhook.topic, webhook.delivery_id).as_bytes());
    let id: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    let travelling = super::check_in(deps.claims.as_ref(), webhook.clone()).await?;
    let event = serde_json::to_string(&Message::Inbound(travelling)).map_err(|e| WorkerError::Permanent(e.into()))?;
    let waiting = deps.orders.keep_waiting_event(&webhook.shop, key, &id, &event, deps.clock.now()).await?;
    if waiting == Waiting::Kept {
        tracing::info!(order = %key, topic = %webhook.topic, "event for an order not stored yet; kept until it lands");
    }
    Ok(waiting)
}

/// The body of `customers/redact` and `customers/data_request`.
#[derive(Debug, Deserialize)]
struct CustomerRequest {
    customer: Option<serde_json::Value>,
    #[serde(default, alias = "orders_to_redact", alias = "orders_requested", deserialize_with = "ids")]
    orders: Vec<String>,
    data_request: Option<DataRequest>,
}

#[derive(Debug, Deserialize)]
struct DataRequest {
    id: serde_json::Value,
}

fn ids<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let values = Vec::<serde_json::Value>::deserialize(d)?;
    Ok(values.into_iter().map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())).collect())
}

/// Erases the customer's personal data from one order and keeps the order's facts.
async fn redact_customer(deps: &Ingest, shop: &ShopDomain, order_id: &str) -> Result<(), WorkerError> {
    let key = order_key(order_id)?;
    let now = deps.clock.now();
    let result = orders::change(deps.orders.as_ref(), shop, &key, now, |order| {
        if order.customer.is_none() && order.shipping_address.is_none() {
            return Ok::<_, std::convert::Infallible>(Decision::Keep);
        }
        order.customer = None;
        order.shipping_address = None;
        Ok(Decision::Write(vec![TimelineEvent::new(
            now,
            "customer_redacted",
            "Customer data erased on request".to_owned(),
        )]))
    })
    .await;
    // The customer's data may also wait in events waiting for the order: they go too.
    for (id, _) in deps.orders.waiting_events(shop, &key).await? {
        deps.orders.forget_waiting_event(shop, &key, &id).await?;
    }
    match landed(result, &key)? {
        Landed::Done | Landed::NoOrder(_) => Ok(()),
    }
}

/// Stores, under the request id, everything we hold about the customer in the requested orders.
async fn export_customer_data(deps: &Ingest, shop: &ShopDomain, request: &CustomerRequest) -> Result<(), WorkerError> {
    let request_id = match request.data_request.as_ref().map(|r| &r.id) {
        Some(serde_json::Value::String(id)) => id.clone(),
        Some(other) => other.to_string(),
        None => return Err(WorkerError::Permanent(anyhow::anyhow!("data request without an id"))),
    };
    let mut orders = Vec::new();
    for id in &request.orders {
        if let Some(order) = deps.orders.get_order(shop, &order_key(id)?).await? {
            orders.push(serde_json::json!({
                "id": order.public_id(),
                "name": order.name.as_str(),
                "created_at": order.created_at,
                "customer": order.customer,
                "shipping_address": order.shipping_address,
                "line_items": order.line_items,
                "total": order.total,
            }));
        }
    }
    let export = serde_json::json!({
        "data_request_id": request_id,
        "shop": shop,
        "customer": request.customer,
        "orders": orders,
        "exported_at": deps.clock.now(),
    });
    deps.shops.record_data_export(shop, &request_id, &export.to_string()).await?;
    tracing::info!(orders = orders.len(), "customer data export stored");
    Ok(())
}

fn change_error(e: ChangeError<std::convert::Infallible>) -> WorkerError {
    match e {
        ChangeError::Store(e) => e.into(),
        other => WorkerError::Retryable(other.into()),
    }
}

pub(crate) fn order_key(id: &str) -> Result<OrderKey, WorkerError> {
    ChannelOrderId::parse(id).map(OrderKey::shopify).map_err(|e| WorkerError::Permanent(e.into()))
}

/// Upserts a fulfilment into its order: a fulfilment revision older than the stored one is ignored.
async fn fulfillment(deps: &Ingest, shop: &ShopDomain, event: ShopifyFulfillmentEvent) -> Result<Landed, WorkerError> {
    let key = order_key(&event.order_id)?;
    let incoming = Fulfillment::from(event.fulfillment);
    let label = event.name.unwrap_or_else(|| incoming.id.clone());
    let result = orders::change(deps.orders.as_ref(), shop, &key, deps.clock.now(), |order| {
        let current = order.fulfillments.iter().position(|f| f.id == incoming.id);
        if let Some(i) = current
            && order.fulfillments[i].updated_at >= incoming.updated_at
        {
            return Ok::<_, std::convert::Infallible>(Decision::Keep);
        }
        let status = incoming.shipment_status.clone().unwrap_or_else(|| incoming.status.clone());
        let tracking = incoming
            .tracking_numbers
            .first()
            .map(|n| format!(" ({} {n})", incoming.tracking_company.clone().unwrap_or_default()));
        let ts = incoming.updated_at.or(incoming.created_at).unwrap_or(order.updated_at);
        match current {
            Some(i) => order.fulfillments[i] = incoming.clone(),
            None => order.fulfillments.push(incoming.clone()),
        }
        let details = format!("Fulfillment {label} {status}{}", tracking.unwrap_or_default());
        let event = TimelineEvent::new(ts, "fulfillment", details).from_source(format!("fulfillment/{}", incoming.id));
        Ok(Decision::Write(vec![event]))
    })
    .await;
    landed(result, &key)
}

/// Appends `event` to the order's timeline (keyed by time, kind and source, so a redelivery adds nothing).
pub(crate) async fn timeline_only(
    deps: &Ingest,
    shop: &ShopDomain,
    order_id: &str,
    event: TimelineEvent,
) -> Result<Landed, WorkerError> {
    let key = order_key(order_id)?;
    let result = orders::change(deps.orders.as_ref(), shop, &key, deps.clock.now(), |_| {
        Ok::<_, std::convert::Infallible>(Decision::Write(vec![event.clone()]))
    })
    .await;
    landed(result, &key)
}

/// `order_transactions/create`: a successful sale or capture is added to its order through the normal
/// write path, so `domain::erp::plan` sees a transaction it had not seen and a mirrored order sends its
/// `createPayment` (keyed by the transaction id: a redelivery finds it stored and writes nothing).
/// Authorizations, voids, refunds (their own topic) and failures are acknowledged and dropped, without
/// waiting for the order.
async fn order_transaction(
    deps: &Ingest,
    webhook: &Inbound,
    transaction: &ShopifyOrderTransaction,
) -> Result<Landed, WorkerError> {
    let shop = &webhook.shop;
    let key = order_key(&transaction.order_id)?;
    // The order's currency stands in for a body without one; the amount is checked here, once.
    let Some(captured) = transaction.captured("").map_err(|e| WorkerError::Permanent(e.into()))? else {
        tracing::info!(kind = %transaction.kind, "transaction that moved no money in; dropped");
        return Ok(Landed::Done);
    };
    let now = deps.clock.now();
    let change = |order: &mut crate::domain::Order| {
        if order.transactions.iter().any(|t| t.id == captured.id) {
            return Ok::<_, std::convert::Infallible>(Decision::Keep);
        }
        let mut captured = captured.clone();
        if captured.amount.currency.is_empty() {
            captured.amount.currency = order.total.currency.clone();
        }
        let event = captured.timeline_event(events::happened_at(deps, webhook));
        order.transactions.push(captured);
        Ok(Decision::Write(vec![event]))
    };
    let orders_store = deps.orders.as_ref();
    let result = orders::change_with_effects(orders_store, shop, &key, now, change, |_, _| Vec::new()).await;
    if let Ok((_, pending)) = &result {
        crate::app::outbox::relay_after_commit(deps.outbox.as_ref(), deps.queue.as_ref(), pending).await;
    }
    landed(result.map(|(order, _)| order), &key)
}

/// A refund on the timeline; a mirrored order's refund transactions also reach CommerceOS as negative
/// payments, keyed by Shopify's transaction id (a redelivery names the same payments).
async fn refund_with_payments(
    deps: &Ingest,
    shop: &ShopDomain,
    refund: &ShopifyRefund,
    event: TimelineEvent,
) -> Result<Landed, WorkerError> {
    let payments: Vec<(String, String, Option<String>)> = refund
        .transactions
        .iter()
        .filter(|t| t.kind.as_deref() == Some("refund") && t.status.as_deref() != Some("failure"))
        .enumerate()
        .map(|(i, t)| {
            let id = t.id.clone().unwrap_or_else(|| format!("{}-{i}", refund.id));
            let amount = t.amount.trim();
            let negative = amount.strip_prefix('-').map_or_else(|| format!("-{amount}"), str::to_owned);
            (format!("shopify-refund-{id}"), negative, t.currency.clone())
        })
        .collect();
    let key = order_key(&refund.order_id)?;
    let effects = |_: &crate::domain::Order, after: &crate::domain::Order| -> Vec<crate::queue::Outbound> {
        let Some(erp) = after.ops.erp.as_ref() else { return Vec::new() };
        payments
            .iter()
            .map(|(transaction_id, amount, currency)| {
                let action = crate::domain::ErpAction::Payment {
                    transaction_id: transaction_id.clone(),
                    amount: amount.clone(),
                    currency: currency.clone().unwrap_or_else(|| after.total.currency.clone()),
                };
                let id = format!("erp:payment:{}:{transaction_id}", erp.identifier);
                orders::erp_message(after, &crate::domain::ErpEffect { id, action })
            })
            .collect()
    };
    let change = |_: &mut crate::domain::Order| Ok::<_, std::convert::Infallible>(Decision::Write(vec![event.clone()]));
    let orders_store = deps.orders.as_ref();
    let result = orders::change_with_effects(orders_store, shop, &key, deps.clock.now(), change, effects).await;
    if let Ok((_, pending)) = &result {
        crate::app::outbox::relay_after_commit(deps.outbox.as_ref(), deps.queue.as_ref(), pending).await;
    }
    landed(result.map(|(order, _)| order), &key)
}

/// What a change of the order `key` came to: an order not stored yet is [`Landed::NoOrder`].
pub(crate) fn landed(
    result: Result<crate::domain::Order, ChangeError<std::convert::Infallible>>,
    key: &OrderKey,
) -> Result<Landed, WorkerError> {
    match result {
        Ok(_) => Ok(Landed::Done),
        Err(ChangeError::NotFound) => Ok(Landed::NoOrder(key.clone())),
        Err(e) => Err(change_error(e)),
    }
}
