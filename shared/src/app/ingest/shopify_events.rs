//! Topics that add to an order's timeline without carrying the order itself: fulfilment holds (the
//! timeline's inventory hold/release events), returns and their reverse deliveries (which also move the
//! order's return case).
//! Their payloads name the order in several shapes; a hold may name only its fulfillment order, which
//! the Admin API resolves to its order.

use super::{
    Ingest,
    shopify::{Landed, landed, order_key},
};
use crate::{
    app::orders::{self, Decision},
    domain::{ReturnState, ShopDomain, TimelineEvent, ops::ChannelReturn},
    error::WorkerError,
    integrations::shopify::graphql::gid_tail,
    queue::Inbound,
};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

/// The order id a payload names, in any of the shapes Shopify uses (numeric or GID).
pub fn order_ref(payload: &Value) -> Option<String> {
    id(
        payload,
        &["/order_id", "/order/id", "/order/admin_graphql_api_id", "/fulfillment_order/order_id", "/return/order/id"],
    )
}

/// The first id found at `pointers`, numeric or string (a GID keeps only its tail).
fn id(payload: &Value, pointers: &[&str]) -> Option<String> {
    pointers.iter().filter_map(|p| payload.pointer(p)).find_map(|v| match v {
        Value::String(s) if !s.is_empty() => Some(gid_tail(s).to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

fn text(payload: &Value, pointers: &[&str]) -> Option<String> {
    pointers
        .iter()
        .filter_map(|p| payload.pointer(p))
        .find_map(|v| v.as_str().map(str::to_owned))
        .filter(|s| !s.is_empty())
}

/// When the event happened: Shopify's `X-Shopify-Triggered-At` (the webhook function sets the receipt
/// time when the header is missing, so it travels with the event), else now. Timeline events are keyed by
/// it, so a redelivery adds nothing.
pub(crate) fn happened_at(deps: &Ingest, webhook: &Inbound) -> DateTime<Utc> {
    webhook.occurred_at.unwrap_or_else(|| deps.clock.now())
}

const FULFILLMENT_ORDER_ORDER: &str = r#"query FulfillmentOrderOrder($id: ID!) {
  fulfillmentOrder(id: $id) { id orderId }
}"#;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FulfillmentOrderOrder {
    fulfillment_order: Option<FulfillmentOrderRef>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FulfillmentOrderRef {
    order_id: String,
}

/// `fulfillment_orders/placed_on_hold` and `fulfillment_orders/hold_released`.
pub(crate) async fn hold(deps: &Ingest, webhook: &Inbound) -> Result<Landed, WorkerError> {
    let payload = &webhook.payload;
    let placed = webhook.topic.ends_with("placed_on_hold");
    let order_id = match order_ref(payload) {
        Some(id) => id,
        None => {
            let Some(fulfillment_order) = text(payload, &["/fulfillment_order/id"]) else {
                return Err(WorkerError::Permanent(anyhow::anyhow!("hold event without a fulfillment order")));
            };
            match resolve_order(deps, &webhook.shop, &fulfillment_order).await? {
                Some(id) => id,
                None => {
                    tracing::info!(shop = %webhook.shop, "hold for an unknown fulfillment order; dropped");
                    return Ok(Landed::Done);
                }
            }
        }
    };
    let details = if placed {
        let reason = text(
            payload,
            &[
                "/created_fulfillment_hold/reason",
                "/fulfillment_hold/reason",
                "/fulfillment_order/fulfillment_holds/0/reason",
            ],
        );
        let notes = text(
            payload,
            &[
                "/created_fulfillment_hold/reason_notes",
                "/fulfillment_hold/reason_notes",
                "/fulfillment_order/fulfillment_holds/0/reason_notes",
            ],
        );
        match (reason, notes) {
            (Some(r), Some(n)) => format!("Fulfillment placed on hold ({r}: {n})"),
            (Some(r), None) => format!("Fulfillment placed on hold ({r})"),
            _ => "Fulfillment placed on hold".to_owned(),
        }
    } else {
        "Fulfillment hold released".to_owned()
    };
    let kind = if placed { "inventory_hold" } else { "inventory_release" };
    let mut event = TimelineEvent::new(happened_at(deps, webhook), kind, details);
    if let Some(hold) = id(payload, &["/created_fulfillment_hold/id", "/fulfillment_hold/id"]) {
        event = event.from_source(format!("fulfillment_hold/{hold}"));
    }
    // The hold is the order's own state too: a held order is not ready, so it is not routed; its
    // release routes it (the partner effects commit with it).
    let key = order_key(&order_id)?;
    let routing = crate::app::connections::routing(deps.connections.as_ref(), &webhook.shop).await?;
    let orders_store = deps.orders.as_ref();
    let result = orders::change_routed(orders_store, (&webhook.shop, &key), &routing, deps.clock.now(), |order| {
        order.delivery.on_hold = placed;
        Ok::<_, std::convert::Infallible>(Decision::Write(vec![event.clone()]))
    })
    .await;
    if let Ok((_, effects)) = &result {
        crate::app::outbox::relay_after_commit(deps.outbox.as_ref(), deps.queue.as_ref(), effects).await;
    }
    landed(result.map(|(order, _)| order), &key)
}

/// The order of a fulfillment order, asked of the Admin API (the hold payloads name only the latter).
async fn resolve_order(
    deps: &Ingest,
    shop: &ShopDomain,
    fulfillment_order: &str,
) -> Result<Option<String>, WorkerError> {
    let Some(token) = deps.shopify.token(deps.shops.as_ref(), shop).await? else {
        return Ok(None);
    };
    let gid = if fulfillment_order.starts_with("gid://") {
        fulfillment_order.to_owned()
    } else {
        format!("gid://shopify/FulfillmentOrder/{fulfillment_order}")
    };
    let variables = serde_json::json!({ "id": gid });
    let reply =
        deps.shopify.admin.graphql::<FulfillmentOrderOrder>(shop, &token, FULFILLMENT_ORDER_ORDER, variables).await?;
    Ok(reply.data.fulfillment_order.map(|f| gid_tail(&f.order_id).to_owned()))
}

/// `returns/request|approve|decline|close`: a timeline event, and the order's return case moves when the
/// event changes its state.
pub(crate) async fn shopify_return(
    deps: &Ingest,
    webhook: &Inbound,
    event: ChannelReturn,
) -> Result<Landed, WorkerError> {
    let payload = &webhook.payload;
    let order_id =
        order_ref(payload).ok_or_else(|| WorkerError::Permanent(anyhow::anyhow!("return event without an order")))?;
    let key = order_key(&order_id)?;
    let at = happened_at(deps, webhook);
    let name = text(payload, &["/name", "/return/name"]).unwrap_or_else(|| "Return".to_owned());
    let verb = match event {
        ChannelReturn::Requested => "requested",
        ChannelReturn::Approved => "approved",
        ChannelReturn::Declined => "declined",
        ChannelReturn::Closed => "closed",
        ChannelReturn::Cancelled => "cancelled",
        ChannelReturn::LabelAttached => "label generated",
        ChannelReturn::Shipped => "in transit",
    };
    let mut timeline = TimelineEvent::new(at, event.event(), format!("{name} {verb} in Shopify"));
    if let Some(id) = id(payload, &["/id", "/return/id"]) {
        timeline = timeline.from_source(format!("return/{id}"));
    }
    let result = orders::change(deps.orders.as_ref(), &webhook.shop, &key, deps.clock.now(), |order| {
        if let Some(case) = event.apply(order.ops.return_case.as_ref(), at) {
            order.ops.return_case = Some(case);
        }
        Ok::<_, std::convert::Infallible>(Decision::Write(vec![timeline.clone()]))
    })
    .await;
    landed(result, &key)
}

const RETURN_ORDER: &str = r#"query ReturnOrder($id: ID!) {
  return(id: $id) { id order { id } }
}"#;

#[derive(Debug, Deserialize)]
struct ReturnOrder {
    #[serde(rename = "return")]
    found: Option<ReturnRef>,
}

#[derive(Debug, Deserialize)]
struct ReturnRef {
    order: GidRef,
}

#[derive(Debug, Deserialize)]
struct GidRef {
    id: String,
}

/// `reverse_deliveries/attach_deliverable`: a label or tracking attached to a return's reverse delivery.
/// A label moves a return awaiting it to `label_generated`; tracking attached after the label (or
/// without one: the buyer's own label) moves it to `in_transit`. The payload names only the return,
/// whose order the Admin API names.
pub(crate) async fn reverse_delivery(deps: &Ingest, webhook: &Inbound) -> Result<Landed, WorkerError> {
    let payload = &webhook.payload;
    let Some(return_id) = id(payload, &["/return/admin_graphql_api_id", "/return/id"]) else {
        return Err(WorkerError::Permanent(anyhow::anyhow!("reverse delivery without a return")));
    };
    let order_id = match order_ref(payload) {
        Some(id) => id,
        None => match resolve_return_order(deps, &webhook.shop, &return_id).await? {
            Some(id) => id,
            None => {
                tracing::info!(shop = %webhook.shop, "reverse delivery of an unknown return; dropped");
                return Ok(Landed::Done);
            }
        },
    };
    let key = order_key(&order_id)?;
    let at = happened_at(deps, webhook);
    let label = payload.pointer("/shipping_deliverable/label").is_some_and(|l| !l.is_null());
    let tracking =
        text(payload, &["/shipping_deliverable/tracking/tracking_number", "/shipping_deliverable/tracking/number"]);
    let carrier =
        text(payload, &["/shipping_deliverable/tracking/carrier_name", "/shipping_deliverable/tracking/company"]);
    let delivery = id(payload, &["/id", "/admin_graphql_api_id"]).unwrap_or_else(|| return_id.clone());
    let result = orders::change(deps.orders.as_ref(), &webhook.shop, &key, deps.clock.now(), |order| {
        let state = order.ops.return_case.as_ref().map(|c| c.state);
        let event = match (label, &tracking) {
            (true, Some(_)) if state == Some(ReturnState::LabelGenerated) => ChannelReturn::Shipped,
            (true, _) => ChannelReturn::LabelAttached,
            (false, Some(_)) => ChannelReturn::Shipped,
            (false, None) => return Ok::<_, std::convert::Infallible>(Decision::Keep),
        };
        if let Some(case) = event.apply(order.ops.return_case.as_ref(), at) {
            order.ops.return_case = Some(case);
        }
        let details = match (event, &tracking) {
            (ChannelReturn::Shipped, Some(number)) => {
                format!("Return in transit ({} {number})", carrier.as_deref().unwrap_or("carrier"))
            }
            _ => "Return label generated".to_owned(),
        };
        let timeline =
            TimelineEvent::new(at, event.event(), details).from_source(format!("reverse_delivery/{delivery}"));
        Ok(Decision::Write(vec![timeline]))
    })
    .await;
    landed(result, &key)
}

/// The order of a return, asked of the Admin API (the reverse delivery payloads name only the return).
async fn resolve_return_order(
    deps: &Ingest,
    shop: &ShopDomain,
    return_id: &str,
) -> Result<Option<String>, WorkerError> {
    let Some(token) = deps.shopify.token(deps.shops.as_ref(), shop).await? else {
        return Ok(None);
    };
    let gid = if return_id.starts_with("gid://") {
        return_id.to_owned()
    } else {
        format!("gid://shopify/Return/{return_id}")
    };
    let variables = serde_json::json!({ "id": gid });
    let reply = deps.shopify.admin.graphql::<ReturnOrder>(shop, &token, RETURN_ORDER, variables).await?;
    Ok(reply.data.found.map(|r| gid_tail(&r.order.id).to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_order_in_every_shape() {
        assert_eq!(order_ref(&serde_json::json!({ "order_id": 42 })).as_deref(), Some("42"));
        assert_eq!(
            order_ref(&serde_json::json!({ "order": { "admin_graphql_api_id": "gid://shopify/Order/7" } })).as_deref(),
            Some("7")
        );
        assert_eq!(
            order_ref(&serde_json::json!({ "fulfillment_order": { "id": "gid://shopify/FulfillmentOrder/1" } })),
            None
        );
    }
}
