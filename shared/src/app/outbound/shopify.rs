//! Changes for Shopify: tracking back (`fulfillmentCreate`, exactly once per shipment: a shipment
//! already recorded as delivered is not pushed again, and before pushing, the order's fulfilments in
//! Shopify are checked for the tracking number, since a crash after the push but before the record
//! would otherwise push twice), and assignments mirrored into the `order_sync.assigned_to` metafield
//! with `metafieldsSet` (an unassignment deletes it with `metafieldsDelete`) when the shop enabled it
//! (`metafields_sync`). `userErrors` become a
//! `push_rejected` alert and a `rejected` record, never a silent drop.

use super::{Outbound, Outcome};
use crate::{
    app::alerts,
    domain::{Channel, OrderKey, ShopDomain},
    error::WorkerError,
    integrations::shopify::{
        admin::{UserError, describe},
        graphql::{
            FULFILLMENT_CREATE, FulfillmentCreateData, METAFIELDS_DELETE, METAFIELDS_SET, MetafieldsDeleteData,
            MetafieldsSetData, ORDER_FULFILLMENT_ORDERS, OrderFulfillmentOrdersData,
        },
    },
    store::{DeliveryOutcome, ShopStatus},
};

fn order_gid(key: &OrderKey) -> String {
    format!("gid://shopify/Order/{}", key.id)
}

pub(super) async fn assignment(
    deps: &Outbound,
    shop: &ShopDomain,
    key: &OrderKey,
    id: &str,
    assignee: Option<&str>,
) -> Result<Outcome, WorkerError> {
    let record = deps.shops.shop(shop).await?.filter(|r| r.status == ShopStatus::Active);
    let Some(record) = record.filter(|r| r.metafields_sync && key.channel == Channel::Shopify) else {
        return Ok((DeliveryOutcome::Skipped, "Shopify metafields are read-only for this shop".into()));
    };
    let token = deps.tokens.token(&record).await?;
    let Some(assignee) = assignee else {
        let variables = serde_json::json!({ "metafields": [{
            "ownerId": order_gid(key), "namespace": "order_sync", "key": "assigned_to",
        }]});
        let payload =
            deps.shopify.admin.graphql::<MetafieldsDeleteData>(shop, &token, METAFIELDS_DELETE, variables).await?.data;
        let done = "unassignment mirrored: metafield order_sync.assigned_to deleted";
        return rejected_or(deps, shop, key, id, "metafieldsDelete", &payload.metafields_delete.user_errors, done)
            .await;
    };
    let variables = serde_json::json!({ "metafields": [{
        "ownerId": order_gid(key), "namespace": "order_sync", "key": "assigned_to",
        "type": "single_line_text_field", "value": assignee,
    }]});
    let payload = deps.shopify.admin.graphql::<MetafieldsSetData>(shop, &token, METAFIELDS_SET, variables).await?.data;
    let done = "assignment mirrored to metafield order_sync.assigned_to";
    rejected_or(deps, shop, key, id, "metafieldsSet", &payload.metafields_set.user_errors, done).await
}

pub(super) async fn fulfillment(
    deps: &Outbound,
    shop: &ShopDomain,
    key: &OrderKey,
    id: &str,
    tracking_number: Option<&str>,
    carrier: Option<&str>,
) -> Result<Outcome, WorkerError> {
    if key.channel != Channel::Shopify {
        return Ok((DeliveryOutcome::Skipped, "not a Shopify order".into()));
    }
    let Some(record) = deps.shops.shop(shop).await?.filter(|r| r.status == ShopStatus::Active) else {
        return Ok((DeliveryOutcome::Skipped, "the shop is not installed".into()));
    };
    let token = deps.tokens.token(&record).await?;
    let variables = serde_json::json!({ "id": order_gid(key) });
    let order = deps
        .shopify
        .admin
        .graphql::<OrderFulfillmentOrdersData>(shop, &token, ORDER_FULFILLMENT_ORDERS, variables)
        .await?
        .data
        .order
        .ok_or_else(|| WorkerError::Permanent(anyhow::anyhow!("Shopify does not know order {key}")))?;
    if let Some(number) = tracking_number
        && order.fulfillments.iter().any(|f| f.tracking_info.iter().any(|t| t.number.as_deref() == Some(number)))
    {
        return Ok((DeliveryOutcome::Delivered, format!("Shopify already has a fulfilment with tracking {number}")));
    }
    let open: Vec<serde_json::Value> = order
        .fulfillment_orders
        .nodes
        .iter()
        .filter(|fo| fo.is_open())
        .map(|fo| serde_json::json!({ "fulfillmentOrderId": fo.id }))
        .collect();
    if open.is_empty() {
        return Ok((DeliveryOutcome::Skipped, "no open fulfillment orders left in Shopify".into()));
    }
    let mut fulfillment =
        serde_json::json!({ "lineItemsByFulfillmentOrder": open, "notifyCustomer": tracking_number.is_some() });
    if let Some(number) = tracking_number {
        fulfillment["trackingInfo"] = serde_json::json!({ "number": number, "company": carrier });
    }
    let variables = serde_json::json!({ "fulfillment": fulfillment });
    let payload =
        deps.shopify.admin.graphql::<FulfillmentCreateData>(shop, &token, FULFILLMENT_CREATE, variables).await?.data;
    let done = match tracking_number {
        Some(number) => format!("fulfilment created in Shopify with tracking {number} ({id})"),
        None => format!("fulfilment created in Shopify ({id})"),
    };
    rejected_or(deps, shop, key, id, "fulfillmentCreate", &payload.fulfillment_create.user_errors, &done).await
}

/// `delivered` with `done`, or, when Shopify answered with user errors, `rejected` plus an alert.
async fn rejected_or(
    deps: &Outbound,
    shop: &ShopDomain,
    key: &OrderKey,
    id: &str,
    mutation: &str,
    errors: &[UserError],
    done: &str,
) -> Result<Outcome, WorkerError> {
    if errors.is_empty() {
        return Ok((DeliveryOutcome::Delivered, done.to_owned()));
    }
    let detail = format!("Shopify rejected {mutation}: {}", describe(errors));
    let alert = alerts::push_rejected(shop, key, id, &detail, deps.clock.now());
    deps.alerts.raise_alert(&alert).await?;
    tracing::warn!(shop = %shop, order = %key, mutation, "Shopify returned userErrors");
    Ok((DeliveryOutcome::Rejected, detail))
}
