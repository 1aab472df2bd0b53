//! Changes for Shopify: tracking back and assignments mirrored into the `order_sync.assigned_to`
//! metafield (`metafieldsSet`; an unassignment deletes it with `metafieldsDelete`), when the shop enabled
//! `metafields_sync`.
//!
//! Tracking goes out exactly once per shipment: a shipment already recorded as delivered is not pushed
//! again; the push is claimed first (a conditional write that expires by itself), so two concurrent
//! deliveries of one message never both call; and before pushing, all of the order's fulfilments in
//! Shopify are checked for the tracking number, since a crash after the push but before the record
//! would otherwise push twice. The push is `fulfillmentCreate` on the order's open fulfillment orders
//! (every page of them), or, when none is left open but Shopify has the order's fulfilment, a second
//! tracking number for it goes out as `fulfillmentTrackingInfoUpdate`.
//!
//! A failed call goes down Shopify's retry ladder (`domain::fulfilment::RetryLadder::SHOPIFY`, past
//! Shopify's own 4-hour window) and then to a dead letter; `userErrors` (and any 4xx) are a
//! `push_rejected` alert, a `rejected` record and a dead letter at once, which a replay can send again.

use super::{Failure, Outbound, Outcome};
use crate::{
    app::{alerts, install::TokenError},
    config::Secret,
    domain::{Channel, OrderKey, ShopDomain},
    error::WorkerError,
    integrations::{
        http::UpstreamError,
        shopify::{
            admin::{UserError, describe},
            graphql::{
                FULFILLMENT_CREATE, FULFILLMENT_ORDER_FULFILLMENTS, FULFILLMENT_TRACKING_INFO_UPDATE,
                FulfillmentCreateData, FulfillmentOrderFulfillmentsData, FulfillmentTrackingInfoUpdateData,
                GqlFulfillment, METAFIELDS_DELETE, METAFIELDS_SET, MetafieldsDeleteData, MetafieldsSetData,
                ORDER_FULFILLMENT_ORDERS, OrderFulfillmentOrdersData,
            },
        },
    },
    store::{DeliveryOutcome, ShopRecord, ShopStatus},
};

/// How long a claim on a push holds: past the worker's timeout (30 s), so a live holder keeps it;
/// a crashed one's claim lapses by itself.
pub(super) const CLAIM_SECONDS: u32 = 60;

/// Pages read at most of one connection (50 each).
const MAX_PAGES: usize = 20;

/// What one attempt at a Shopify change came to.
pub(super) enum Push {
    /// Settled: record this outcome.
    Done(Outcome),
    /// Shopify failed or refused: the ladder, or a dead letter.
    Failed(Failure),
    /// Another delivery of the same message holds the push: look again after this many seconds.
    Held(u32),
}

fn order_gid(key: &OrderKey) -> String {
    format!("gid://shopify/Order/{}", key.id)
}

/// A Shopify call's error as a failed attempt; refused credentials stay errors, so the shop's work is
/// parked until it reconnects.
fn failed(error: UpstreamError, request: Option<serde_json::Value>) -> Result<Push, WorkerError> {
    if matches!(error, UpstreamError::Unauthorized { .. }) {
        return Err(error.into());
    }
    Ok(Push::Failed(Failure::of(&error, request)))
}

pub(super) async fn assignment(
    deps: &Outbound,
    shop: &ShopDomain,
    key: &OrderKey,
    id: &str,
    assignee: Option<&str>,
) -> Result<Push, WorkerError> {
    let record = deps.shops.shop(shop).await?.filter(|r| r.status == ShopStatus::Active);
    let Some(record) = record.filter(|r| r.metafields_sync && key.channel == Channel::Shopify) else {
        return Ok(Push::Done((DeliveryOutcome::Skipped, "Shopify metafields are read-only for this shop".into())));
    };
    let token = match token(deps, &record).await? {
        Ok(token) => token,
        Err(failure) => return Ok(Push::Failed(failure)),
    };
    let Some(assignee) = assignee else {
        let variables = serde_json::json!({ "metafields": [{
            "ownerId": order_gid(key), "namespace": "order_sync", "key": "assigned_to",
        }]});
        let answer = deps
            .shopify
            .admin
            .graphql::<MetafieldsDeleteData>(shop, &token, METAFIELDS_DELETE, variables.clone())
            .await;
        let payload = match answer {
            Ok(reply) => reply.data,
            Err(e) => return failed(e, Some(variables)),
        };
        let done = "unassignment mirrored: metafield order_sync.assigned_to deleted";
        let errors = &payload.metafields_delete.user_errors;
        return rejected_or(deps, shop, key, id, "metafieldsDelete", variables, errors, done).await;
    };
    let variables = serde_json::json!({ "metafields": [{
        "ownerId": order_gid(key), "namespace": "order_sync", "key": "assigned_to",
        "type": "single_line_text_field", "value": assignee,
    }]});
    let answer = deps.shopify.admin.graphql::<MetafieldsSetData>(shop, &token, METAFIELDS_SET, variables.clone()).await;
    let payload = match answer {
        Ok(reply) => reply.data,
        Err(e) => return failed(e, Some(variables)),
    };
    let done = "assignment mirrored to metafield order_sync.assigned_to";
    rejected_or(deps, shop, key, id, "metafieldsSet", variables, &payload.metafields_set.user_errors, done).await
}

pub(super) async fn fulfillment(
    deps: &Outbound,
    shop: &ShopDomain,
    key: &OrderKey,
    id: &str,
    tracking_number: Option<&str>,
    carrier: Option<&str>,
) -> Result<Push, WorkerError> {
    if key.channel != Channel::Shopify {
        return Ok(Push::Done((DeliveryOutcome::Skipped, "not a Shopify order".into())));
    }
    let Some(record) = deps.shops.shop(shop).await?.filter(|r| r.status == ShopStatus::Active) else {
        return Ok(Push::Done((DeliveryOutcome::Skipped, "the shop is not installed".into())));
    };
    let token = match token(deps, &record).await? {
        Ok(token) => token,
        Err(failure) => return Ok(Push::Failed(failure)),
    };
    let holder = holder()?;
    let now = deps.clock.now();
    let until = now + chrono::Duration::seconds(i64::from(CLAIM_SECONDS));
    if !deps.deliveries.claim_delivery(shop, key, id, &holder, now, until).await? {
        tracing::info!(shop = %shop, order = %key, "another delivery holds this push; looking again later");
        return Ok(Push::Held(CLAIM_SECONDS));
    }
    let result = push_tracking(deps, shop, key, id, &token, tracking_number, carrier).await;
    if !matches!(result, Ok(Push::Done(_))) {
        deps.deliveries.release_delivery(shop, key, id, &holder).await?;
    }
    result
}

/// The shop's token; a refresh Shopify cannot answer now (an outage) is a failed attempt on the
/// ladder, a refused token an error (the work is parked).
async fn token(deps: &Outbound, record: &ShopRecord) -> Result<Result<Secret, Failure>, WorkerError> {
    match deps.tokens.token(record).await {
        Ok(token) => Ok(Ok(token)),
        Err(TokenError::Unavailable(e)) => {
            Ok(Err(Failure::waiting(format!("the token could not be refreshed: {e:#}"))))
        }
        Err(e) => Err(e.into()),
    }
}

/// A claim holder's name: random, so two deliveries of one message never share it.
fn holder() -> Result<String, WorkerError> {
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes).map_err(|e| WorkerError::Retryable(anyhow::anyhow!("no randomness: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The order's open fulfilment orders (every page) and all its fulfilments, as Shopify has them.
async fn read_order(
    deps: &Outbound,
    shop: &ShopDomain,
    key: &OrderKey,
    token: &Secret,
) -> Result<Result<(Vec<String>, Vec<GqlFulfillment>), UpstreamError>, WorkerError> {
    let mut all = Vec::new();
    let mut open = Vec::new();
    let mut fulfillments = Vec::new();
    let mut count = 0;
    let mut after: Option<String> = None;
    for page in 0..MAX_PAGES {
        let variables = serde_json::json!({ "id": order_gid(key), "after": after });
        let answer = deps
            .shopify
            .admin
            .graphql::<OrderFulfillmentOrdersData>(shop, token, ORDER_FULFILLMENT_ORDERS, variables)
            .await;
        let order = match answer {
            Ok(reply) => reply.data.order,
            Err(e) => return Ok(Err(e)),
        };
        let order =
            order.ok_or_else(|| WorkerError::Permanent(anyhow::anyhow!("Shopify does not know order {key}")))?;
        all.extend(order.fulfillment_orders.nodes.iter().map(|fo| fo.id.clone()));
        open.extend(order.fulfillment_orders.nodes.iter().filter(|fo| fo.is_open()).map(|fo| fo.id.clone()));
        if page == 0 {
            count = order.fulfillments_count.map_or(0, |c| c.count);
            fulfillments = order.fulfillments;
        }
        match order.fulfillment_orders.next_after() {
            Some(cursor) => after = Some(cursor),
            None => break,
        }
    }
    if count > fulfillments.len() as u64 {
        // The order's list stops at 250: read every fulfilment order's fulfilments, page by page.
        for fo in &all {
            let mut after: Option<String> = None;
            for _ in 0..MAX_PAGES {
                let variables = serde_json::json!({ "id": fo, "after": after });
                let answer = deps
                    .shopify
                    .admin
                    .graphql::<FulfillmentOrderFulfillmentsData>(shop, token, FULFILLMENT_ORDER_FULFILLMENTS, variables)
                    .await;
                let Some(found) = (match answer {
                    Ok(reply) => reply.data.fulfillment_order,
                    Err(e) => return Ok(Err(e)),
                }) else {
                    break;
                };
                let next = found.fulfillments.next_after();
                for f in found.fulfillments.nodes {
                    if !fulfillments.iter().any(|known: &GqlFulfillment| known.id == f.id) {
                        fulfillments.push(f);
                    }
                }
                match next {
                    Some(cursor) => after = Some(cursor),
                    None => break,
                }
            }
        }
    }
    Ok(Ok((open, fulfillments)))
}

async fn push_tracking(
    deps: &Outbound,
    shop: &ShopDomain,
    key: &OrderKey,
    id: &str,
    token: &Secret,
    tracking_number: Option<&str>,
    carrier: Option<&str>,
) -> Result<Push, WorkerError> {
    let (open, fulfillments) = match read_order(deps, shop, key, token).await? {
        Ok(read) => read,
        Err(e) => return failed(e, None),
    };
    let live: Vec<&GqlFulfillment> = fulfillments
        .iter()
        .filter(|f| !f.status.as_deref().is_some_and(|s| s.eq_ignore_ascii_case("CANCELLED")))
        .collect();
    if let Some(number) = tracking_number
        && live.iter().any(|f| f.tracking_info.iter().any(|t| t.number.as_deref() == Some(number)))
    {
        let detail = format!("Shopify already has a fulfilment with tracking {number}");
        return Ok(Push::Done((DeliveryOutcome::Delivered, detail)));
    }
    if open.is_empty() {
        return match (tracking_number, live.last()) {
            (Some(number), Some(fulfilment)) => {
                add_tracking(deps, shop, key, id, token, fulfilment, number, carrier).await
            }
            _ => Ok(Push::Done((DeliveryOutcome::Skipped, "no open fulfillment orders left in Shopify".into()))),
        };
    }
    let open: Vec<serde_json::Value> = open.iter().map(|fo| serde_json::json!({ "fulfillmentOrderId": fo })).collect();
    let mut fulfillment =
        serde_json::json!({ "lineItemsByFulfillmentOrder": open, "notifyCustomer": tracking_number.is_some() });
    if let Some(number) = tracking_number {
        fulfillment["trackingInfo"] = serde_json::json!({ "number": number, "company": carrier });
    }
    let variables = serde_json::json!({ "fulfillment": fulfillment });
    let answer =
        deps.shopify.admin.graphql::<FulfillmentCreateData>(shop, token, FULFILLMENT_CREATE, variables.clone()).await;
    let payload = match answer {
        Ok(reply) => reply.data,
        Err(e) => return failed(e, Some(variables)),
    };
    let done = match tracking_number {
        Some(number) => format!("fulfilment created in Shopify with tracking {number} ({id})"),
        None => format!("fulfilment created in Shopify ({id})"),
    };
    let errors = &payload.fulfillment_create.user_errors;
    rejected_or(deps, shop, key, id, "fulfillmentCreate", variables, errors, &done).await
}

/// A second tracking number for a shipment Shopify has as `fulfilment`: its numbers plus `number`.
#[allow(clippy::too_many_arguments)]
async fn add_tracking(
    deps: &Outbound,
    shop: &ShopDomain,
    key: &OrderKey,
    id: &str,
    token: &Secret,
    fulfilment: &GqlFulfillment,
    number: &str,
    carrier: Option<&str>,
) -> Result<Push, WorkerError> {
    let mut numbers: Vec<&str> = fulfilment.tracking_info.iter().filter_map(|t| t.number.as_deref()).collect();
    numbers.push(number);
    let company = carrier.or_else(|| fulfilment.tracking_info.iter().find_map(|t| t.company.as_deref()));
    let variables = serde_json::json!({
        "fulfillmentId": fulfilment.id,
        "trackingInfoInput": { "numbers": numbers, "company": company },
        "notifyCustomer": true,
    });
    let answer = deps
        .shopify
        .admin
        .graphql::<FulfillmentTrackingInfoUpdateData>(shop, token, FULFILLMENT_TRACKING_INFO_UPDATE, variables.clone())
        .await;
    let payload = match answer {
        Ok(reply) => reply.data,
        Err(e) => return failed(e, Some(variables)),
    };
    let done = format!("tracking {number} added to Shopify fulfilment {} ({id})", fulfilment.id);
    let errors = &payload.fulfillment_tracking_info_update.user_errors;
    rejected_or(deps, shop, key, id, "fulfillmentTrackingInfoUpdate", variables, errors, &done).await
}

/// `delivered` with `done`, or, when Shopify answered with user errors, a `push_rejected` alert and a
/// refusal (recorded as `rejected` and dead-lettered by the caller).
#[allow(clippy::too_many_arguments)]
async fn rejected_or(
    deps: &Outbound,
    shop: &ShopDomain,
    key: &OrderKey,
    id: &str,
    mutation: &str,
    request: serde_json::Value,
    errors: &[UserError],
    done: &str,
) -> Result<Push, WorkerError> {
    if errors.is_empty() {
        return Ok(Push::Done((DeliveryOutcome::Delivered, done.to_owned())));
    }
    let detail = format!("Shopify rejected {mutation}: {}", describe(errors));
    let alert = alerts::push_rejected(shop, key, id, &detail, deps.clock.now());
    deps.alerts.raise_alert(&alert).await?;
    tracing::warn!(shop = %shop, order = %key, mutation, "Shopify returned userErrors");
    let response = Some(detail.clone());
    Ok(Push::Failed(Failure::rejected(detail, Some(request), response)))
}
