//! Tracking and assignments back to Shopify through the outbound stage, against wiremock:
//! `fulfillmentCreate` exactly once per shipment, `userErrors` as alerts, `metafieldsSet` when enabled.

use std::sync::Arc;

use integration_tests::{TestEnv, demo_event, graphql_requests, graphql_variables, token_for};
use serde_json::{Value, json};
use shared::{
    domain::{AlertKind, Integration, OrderKey, ShopDomain},
    queue::{Message, Outbound, OutboundChange, Stage, memory::MemoryQueue},
    store::{DeadLetterCause, DeadLetterStore, DeliveryStore, ShopStore},
    testing::unique_shop,
};
use wiremock::{Mock, MockServer, ResponseTemplate, matchers::body_string_contains};

const SHOPIFY_OUTBOUND: Stage = Stage::Outbound(Integration::Shopify);

const TOKEN: &str = "shpat_push_token";
const ORDER_GID: &str = "gid://shopify/Order/5601234560002";

async fn setup(label: &str) -> (TestEnv, MockServer, ShopDomain) {
    let server = MockServer::start().await;
    let env = TestEnv::with_shopify(&format!("{}/{{shop}}", server.uri())).await;
    let shop = unique_shop(label);
    env.install(&shop, TOKEN, &["read_orders", "write_fulfillments"]).await;
    env.deliver(&shop, "orders/create", "wh-1002", &demo_event("orders-create-1002.json")).await;
    env.drain_ingest().await;
    (env, server, shop)
}

fn data(value: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({ "data": value }))
}

fn fulfillment_orders(tracking: &[&str]) -> ResponseTemplate {
    let status = if tracking.is_empty() { "OPEN" } else { "CLOSED" };
    let fulfillments: Vec<Value> = tracking
        .iter()
        .map(|n| json!({ "id": "gid://shopify/Fulfillment/1", "trackingInfo": [{ "number": n }] }))
        .collect();
    data(json!({ "order": { "id": ORDER_GID,
        "fulfillmentOrders": { "nodes": [{ "id": "gid://shopify/FulfillmentOrder/77", "status": status }] },
        "fulfillments": fulfillments } }))
}

fn order_key() -> OrderKey {
    OrderKey::parse("shopify:5601234560002").unwrap()
}

async fn post(env: &TestEnv, shop: &ShopDomain, route: &str, body: Value) -> Value {
    let auth = format!("Bearer {}", token_for(shop));
    let headers = [("Authorization", auth.as_str()), ("Content-Type", "application/json")];
    let response = env.request("POST", route, &headers, body.to_string().as_bytes()).await;
    assert_eq!(response.status(), 200);
    integration_tests::json_body(&response)
}

#[tokio::test]
async fn the_fulfill_action_creates_the_shopify_fulfilment_once_per_shipment_even_under_redelivery() {
    let (env, server, shop) = setup("push-fulfil").await;
    // Before the push Shopify has an open fulfilment order; afterwards it holds the tracking number.
    Mock::given(body_string_contains("query OrderFulfillmentOrders"))
        .respond_with(fulfillment_orders(&[]))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(body_string_contains("query OrderFulfillmentOrders"))
        .respond_with(fulfillment_orders(&["1Z999AA1"]))
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(body_string_contains("mutation FulfillmentCreate"))
        .respond_with(data(json!({ "fulfillmentCreate": { "fulfillment": { "id": "gid://shopify/Fulfillment/1", "status": "SUCCESS" }, "userErrors": [] } })))
        .mount(&server)
        .await;

    let body = json!({ "shop_domain": shop.as_str(), "orderIds": ["#1002"], "tracking": { "number": "1Z999AA1", "carrier": "UPS" } });
    post(&env, &shop, "/sync/orders/fulfill", body).await;
    env.drain(SHOPIFY_OUTBOUND, 0).await;

    let created = graphql_requests(&server, "mutation FulfillmentCreate").await;
    assert_eq!(created.len(), 1);
    let input = &graphql_variables(&created[0])["fulfillment"];
    assert_eq!(
        input["lineItemsByFulfillmentOrder"],
        json!([{ "fulfillmentOrderId": "gid://shopify/FulfillmentOrder/77" }])
    );
    assert_eq!(input["trackingInfo"], json!({ "number": "1Z999AA1", "company": "UPS" }));
    assert_eq!(created[0].headers.get("X-Shopify-Access-Token").unwrap(), TOKEN);
    let deliveries = env.stack.shops.deliveries(&shop, &order_key()).await.unwrap();
    assert_eq!(deliveries.len(), 1);
    assert_eq!((deliveries[0].kind.as_str(), deliveries[0].outcome.as_str()), ("fulfillment_create", "delivered"));

    // SQS delivers the same message again: the record answers, Shopify is not asked.
    let again = Message::Outbound(Outbound {
        destination: Integration::Shopify,
        shop: shop.clone(),
        order: order_key().to_string(),
        id: deliveries[0].id.clone(),
        change: OutboundChange::FulfillmentCreate {
            shipment_id: deliveries[0].id.clone(),
            tracking_number: Some("1Z999AA1".into()),
            carrier: Some("UPS".into()),
        },
        attempt: 0,
        replay: false,
    });
    env.enqueue(SHOPIFY_OUTBOUND, &again, 0).await;
    env.drain(SHOPIFY_OUTBOUND, 0).await;
    // A push whose record was lost (a crash after the mutation): Shopify's own state answers.
    let lost = match again {
        Message::Outbound(o) => Message::Outbound(Outbound { id: "lost-record".into(), ..o }),
        other => other,
    };
    shared::app::outbound::process(&integration_tests::deps!(env.stack, outbound_worker), lost).await.unwrap();

    assert_eq!(graphql_requests(&server, "mutation FulfillmentCreate").await.len(), 1, "exactly once per shipment");
    let deliveries = env.stack.shops.deliveries(&shop, &order_key()).await.unwrap();
    let lost = deliveries.iter().find(|d| d.id == "lost-record").unwrap();
    assert_eq!(lost.outcome, "delivered");
    assert!(lost.detail.contains("already has"), "{}", lost.detail);
}

#[tokio::test]
async fn user_errors_from_fulfillment_create_raise_an_alert_and_are_recorded_as_rejected() {
    let (env, server, shop) = setup("push-rejected").await;
    Mock::given(body_string_contains("query OrderFulfillmentOrders"))
        .respond_with(fulfillment_orders(&[]))
        .mount(&server)
        .await;
    Mock::given(body_string_contains("mutation FulfillmentCreate"))
        .respond_with(data(json!({ "fulfillmentCreate": { "fulfillment": null,
            "userErrors": [{ "field": ["fulfillment", "trackingInfo", "number"], "message": "is invalid" }] } })))
        .mount(&server)
        .await;
    let message = Message::Outbound(Outbound {
        destination: Integration::Shopify,
        shop: shop.clone(),
        order: order_key().to_string(),
        id: "ship-1".into(),
        change: OutboundChange::FulfillmentCreate {
            shipment_id: "ship-1".into(),
            tracking_number: Some("bad".into()),
            carrier: None,
        },
        attempt: 0,
        replay: false,
    });
    env.enqueue(SHOPIFY_OUTBOUND, &message, 0).await;
    env.drain(SHOPIFY_OUTBOUND, 0).await;

    let alerts = env.alerts(&shop).await;
    let rejected: Vec<_> = alerts.iter().filter(|a| a.kind == AlertKind::PushRejected).collect();
    assert_eq!(rejected.len(), 1);
    assert!(rejected[0].message.contains("fulfillment.trackingInfo.number: is invalid"), "{}", rejected[0].message);
    let deliveries = env.stack.shops.deliveries(&shop, &order_key()).await.unwrap();
    assert_eq!(deliveries[0].outcome, "rejected");
    // Stored as a dead letter (not only the queue's DLQ), ready for a replay once the cause is fixed.
    let letters = env.stack.shops.dead_letters(&shop, Some(Integration::Shopify)).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(
        (letters[0].cause, letters[0].attempts, letters[0].id.as_str()),
        (DeadLetterCause::Rejected, 1, "ship-1")
    );
    assert!(letters[0].error.contains("is invalid"), "{}", letters[0].error);
    assert!(alerts.iter().any(|a| a.kind == AlertKind::DeadLetter), "the dead letters' alert");
}

#[tokio::test]
async fn assignments_reach_shopify_metafields_only_when_the_shop_enables_it() {
    let (env, server, shop) = setup("push-metafields").await;
    Mock::given(body_string_contains("mutation MetafieldsSet"))
        .respond_with(data(
            json!({ "metafieldsSet": { "metafields": [{ "id": "gid://shopify/Metafield/1" }], "userErrors": [] } }),
        ))
        .mount(&server)
        .await;
    let assign = |who: &str| json!({ "shop_domain": shop.as_str(), "orderIds": ["1002"], "assignee": who });

    post(&env, &shop, "/sync/orders/assign", assign("sam")).await;
    env.drain(SHOPIFY_OUTBOUND, 0).await;
    assert!(graphql_requests(&server, "mutation MetafieldsSet").await.is_empty(), "read-only by default");

    let mut record = env.stack.shops.shop(&shop).await.unwrap().unwrap();
    record.metafields_sync = true;
    env.stack.shops.install_shop(&record).await.unwrap();
    post(&env, &shop, "/sync/orders/assign", assign("alex")).await;
    env.drain(SHOPIFY_OUTBOUND, 0).await;

    let set = graphql_requests(&server, "mutation MetafieldsSet").await;
    assert_eq!(set.len(), 1);
    assert_eq!(
        graphql_variables(&set[0])["metafields"][0],
        json!({ "ownerId": ORDER_GID, "namespace": "order_sync", "key": "assigned_to", "type": "single_line_text_field", "value": "alex" })
    );
    let outcomes: Vec<String> = env
        .stack
        .shops
        .deliveries(&shop, &order_key())
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.outcome.as_str().to_owned())
        .collect();
    assert!(outcomes.contains(&"skipped".to_owned()) && outcomes.contains(&"delivered".to_owned()), "{outcomes:?}");
}

fn push(shop: &ShopDomain, id: &str, tracking: &str, attempt: u32) -> Message {
    Message::Outbound(Outbound {
        destination: Integration::Shopify,
        shop: shop.clone(),
        order: order_key().to_string(),
        id: id.into(),
        change: OutboundChange::FulfillmentCreate {
            shipment_id: id.into(),
            tracking_number: Some(tracking.into()),
            carrier: Some("UPS".into()),
        },
        attempt,
        replay: false,
    })
}

/// The outbound worker's deps with an in-memory queue, to see what it sends back and with what delay.
async fn worker(env: &TestEnv) -> (shared::app::outbound::Outbound, Arc<MemoryQueue>) {
    let mut deps = integration_tests::deps!(env.stack, outbound_worker);
    let queue = Arc::new(MemoryQueue::new());
    deps.queue = queue.clone();
    (deps, queue)
}

fn outbound_sent(queue: &MemoryQueue) -> Vec<(Outbound, u32)> {
    queue
        .sent()
        .into_iter()
        .filter_map(|(_, m, delay)| match m {
            Message::Outbound(o) => Some((o, delay)),
            _ => None,
        })
        .collect()
}

/// Two deliveries of the same push at once (SQS delivers at least once): the claim lets one call
/// `fulfillmentCreate`; the other is put back to look again after the claim, and finds it delivered.
#[tokio::test]
async fn two_concurrent_deliveries_of_a_push_call_fulfillment_create_once() {
    let (env, server, shop) = setup("push-race").await;
    Mock::given(body_string_contains("query OrderFulfillmentOrders"))
        .respond_with(fulfillment_orders(&[]))
        .mount(&server)
        .await;
    Mock::given(body_string_contains("mutation FulfillmentCreate"))
        .respond_with(
            data(json!({ "fulfillmentCreate": { "fulfillment": { "id": "gid://shopify/Fulfillment/1", "status": "SUCCESS" }, "userErrors": [] } }))
                .set_delay(std::time::Duration::from_millis(700)),
        )
        .mount(&server)
        .await;
    let (deps, queue) = worker(&env).await;
    let message = push(&shop, "ship-race", "1ZRACE", 0);
    let (a, b) = tokio::join!(
        shared::app::outbound::process(&deps, message.clone()),
        shared::app::outbound::process(&deps, message.clone())
    );
    a.unwrap();
    b.unwrap();
    assert_eq!(graphql_requests(&server, "mutation FulfillmentCreate").await.len(), 1, "one push");
    let back = outbound_sent(&queue);
    assert_eq!(back.len(), 1, "the other delivery waits for the claim");
    assert!(back[0].1 > 0 && back[0].0.attempt == 0, "put back without spending a rung");
    shared::app::outbound::process(&deps, Message::Outbound(back[0].0.clone())).await.unwrap();
    assert_eq!(graphql_requests(&server, "mutation FulfillmentCreate").await.len(), 1, "still one push");
    let deliveries = env.stack.shops.deliveries(&shop, &order_key()).await.unwrap();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].outcome, "delivered");
}

/// A second tracking number for an order Shopify has already fulfilled (no open fulfillment order
/// left) is added to its fulfilment with `fulfillmentTrackingInfoUpdate`, not dropped.
#[tokio::test]
async fn a_second_tracking_number_is_pushed_as_a_tracking_update() {
    let (env, server, shop) = setup("push-second").await;
    Mock::given(body_string_contains("query OrderFulfillmentOrders"))
        .respond_with(data(json!({ "order": { "id": ORDER_GID,
            "fulfillmentOrders": { "nodes": [{ "id": "gid://shopify/FulfillmentOrder/77", "status": "CLOSED" }] },
            "fulfillments": [{ "id": "gid://shopify/Fulfillment/1", "status": "SUCCESS",
                "trackingInfo": [{ "number": "1ZFIRST", "company": "UPS" }] }] } })))
        .mount(&server)
        .await;
    Mock::given(body_string_contains("mutation FulfillmentTrackingInfoUpdate"))
        .respond_with(data(json!({ "fulfillmentTrackingInfoUpdate": { "fulfillment": { "id": "gid://shopify/Fulfillment/1" }, "userErrors": [] } })))
        .mount(&server)
        .await;
    let (deps, _) = worker(&env).await;
    shared::app::outbound::process(&deps, push(&shop, "ship-2", "1ZSECOND", 0)).await.unwrap();

    assert!(graphql_requests(&server, "mutation FulfillmentCreate").await.is_empty());
    let updates = graphql_requests(&server, "mutation FulfillmentTrackingInfoUpdate").await;
    assert_eq!(updates.len(), 1);
    let variables = graphql_variables(&updates[0]);
    assert_eq!(variables["fulfillmentId"], "gid://shopify/Fulfillment/1");
    assert_eq!(variables["trackingInfoInput"], json!({ "numbers": ["1ZFIRST", "1ZSECOND"], "company": "UPS" }));
    let deliveries = env.stack.shops.deliveries(&shop, &order_key()).await.unwrap();
    assert_eq!((deliveries[0].id.as_str(), deliveries[0].outcome.as_str()), ("ship-2", "delivered"));
}

/// The open fulfillment order may be on a later page: every page is read before deciding.
#[tokio::test]
async fn open_fulfillment_orders_past_the_first_page_are_fulfilled() {
    let (env, server, shop) = setup("push-pages").await;
    Mock::given(body_string_contains("query OrderFulfillmentOrders"))
        .and(body_string_contains("cursor-1"))
        .respond_with(data(json!({ "order": { "id": ORDER_GID,
            "fulfillmentOrders": { "pageInfo": { "hasNextPage": false, "endCursor": "cursor-2" },
                "nodes": [{ "id": "gid://shopify/FulfillmentOrder/78", "status": "OPEN" }] },
            "fulfillments": [] } })))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(body_string_contains("query OrderFulfillmentOrders"))
        .respond_with(data(json!({ "order": { "id": ORDER_GID,
            "fulfillmentOrders": { "pageInfo": { "hasNextPage": true, "endCursor": "cursor-1" },
                "nodes": [{ "id": "gid://shopify/FulfillmentOrder/77", "status": "CLOSED" }] },
            "fulfillments": [] } })))
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(body_string_contains("mutation FulfillmentCreate"))
        .respond_with(data(json!({ "fulfillmentCreate": { "fulfillment": { "id": "gid://shopify/Fulfillment/2", "status": "SUCCESS" }, "userErrors": [] } })))
        .mount(&server)
        .await;
    let (deps, _) = worker(&env).await;
    shared::app::outbound::process(&deps, push(&shop, "ship-3", "1ZPAGE", 0)).await.unwrap();

    let created = graphql_requests(&server, "mutation FulfillmentCreate").await;
    assert_eq!(created.len(), 1);
    assert_eq!(
        graphql_variables(&created[0])["fulfillment"]["lineItemsByFulfillmentOrder"],
        json!([{ "fulfillmentOrderId": "gid://shopify/FulfillmentOrder/78" }])
    );
}

/// Shopify down: the push backs off on Shopify's ladder (SQS delays growing to 15 minutes, over 4
/// hours in all) instead of burning the queue's five receives; past the last rung it is a stored dead
/// letter with its alert, and a replay once Shopify is back delivers it and clears both.
#[tokio::test]
async fn a_shopify_outage_backs_off_past_four_hours_then_dead_letters_for_replay() {
    use shared::{
        app::dead_letters::{self, Selection},
        domain::fulfilment::RetryLadder,
    };
    let (env, server, shop) = setup("push-outage").await;
    Mock::given(body_string_contains("query OrderFulfillmentOrders"))
        .respond_with(fulfillment_orders(&[]))
        .mount(&server)
        .await;
    Mock::given(body_string_contains("mutation FulfillmentCreate"))
        .respond_with(ResponseTemplate::new(503))
        .with_priority(5)
        .mount(&server)
        .await;
    let (deps, queue) = worker(&env).await;
    let message = |attempt| push(&shop, "ship-outage", "1ZDOWN", attempt);

    shared::app::outbound::process(&deps, message(0)).await.unwrap();
    let last = RetryLadder::SHOPIFY.attempts() - 1;
    shared::app::outbound::process(&deps, message(last - 1)).await.unwrap();
    let sent: Vec<(u32, u32)> = outbound_sent(&queue).into_iter().map(|(o, delay)| (o.attempt, delay)).collect();
    assert_eq!(sent, [(1, 1), (last, 900)], "the next rung, delayed by SQS");
    let waited: u32 = (0..last).filter_map(|a| RetryLadder::SHOPIFY.delay(a)).sum();
    assert!(waited >= 4 * 3600, "the ladder spans Shopify's 4-hour window ({waited} s)");
    assert!(env.stack.shops.dead_letters(&shop, None).await.unwrap().is_empty());

    shared::app::outbound::process(&deps, message(last)).await.unwrap();
    assert_eq!(outbound_sent(&queue).len(), 2, "no rung left");
    let letters = env.stack.shops.dead_letters(&shop, Some(Integration::Shopify)).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!((letters[0].cause, letters[0].attempts), (DeadLetterCause::Transient, last + 1));
    let alert = env.alerts(&shop).await.into_iter().find(|a| a.kind == AlertKind::DeadLetter).unwrap();
    assert!(alert.cleared_at.is_none());
    assert!(env.stack.shops.deliveries(&shop, &order_key()).await.unwrap().is_empty(), "not settled");

    // Shopify is back; the replay goes through the same queue and worker.
    Mock::given(body_string_contains("mutation FulfillmentCreate"))
        .respond_with(data(json!({ "fulfillmentCreate": { "fulfillment": { "id": "gid://shopify/Fulfillment/9", "status": "SUCCESS" }, "userErrors": [] } })))
        .with_priority(1)
        .mount(&server)
        .await;
    let replayed = dead_letters::replay(
        deps.dead_letters.as_ref(),
        queue.as_ref(),
        &shop,
        &Selection::Destination(Integration::Shopify),
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(replayed.replayed, ["ship-outage"]);
    let (again, _) = outbound_sent(&queue).pop().unwrap();
    assert!(again.replay && again.attempt == 0);
    shared::app::outbound::process(&deps, Message::Outbound(again)).await.unwrap();
    let deliveries = env.stack.shops.deliveries(&shop, &order_key()).await.unwrap();
    assert_eq!(deliveries[0].outcome, "delivered");
    assert!(env.stack.shops.dead_letters(&shop, None).await.unwrap().is_empty());
    let alert = env.alerts(&shop).await.into_iter().find(|a| a.kind == AlertKind::DeadLetter).unwrap();
    assert!(alert.cleared_at.is_some(), "the last dead letter resolved clears the alert");
}

/// An order whose fulfilments outnumber what `Order.fulfillments` returns: the "already pushed?"
/// check reads every fulfilment order's fulfilments page by page and finds the tracking number on a
/// later page, so nothing is pushed again.
#[tokio::test]
async fn the_already_pushed_check_reads_every_fulfilment_page_by_page() {
    let (env, server, shop) = setup("push-deep").await;
    Mock::given(body_string_contains("query OrderFulfillmentOrders"))
        .respond_with(data(json!({ "order": { "id": ORDER_GID,
            "fulfillmentOrders": { "nodes": [{ "id": "gid://shopify/FulfillmentOrder/77", "status": "CLOSED" }] },
            "fulfillmentsCount": { "count": 251 },
            "fulfillments": [{ "id": "gid://shopify/Fulfillment/1", "status": "SUCCESS", "trackingInfo": [{ "number": "1ZOTHER" }] }] } })))
        .mount(&server)
        .await;
    Mock::given(body_string_contains("query FulfillmentOrderFulfillments"))
        .and(body_string_contains("page-2"))
        .respond_with(data(json!({ "fulfillmentOrder": { "fulfillments": {
            "pageInfo": { "hasNextPage": false, "endCursor": null },
            "nodes": [{ "id": "gid://shopify/Fulfillment/251", "status": "SUCCESS", "trackingInfo": [{ "number": "1ZDEEP" }] }] } } })))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(body_string_contains("query FulfillmentOrderFulfillments"))
        .respond_with(data(json!({ "fulfillmentOrder": { "fulfillments": {
            "pageInfo": { "hasNextPage": true, "endCursor": "page-2" },
            "nodes": [{ "id": "gid://shopify/Fulfillment/1", "status": "SUCCESS", "trackingInfo": [{ "number": "1ZOTHER" }] }] } } })))
        .with_priority(2)
        .mount(&server)
        .await;
    let (deps, _) = worker(&env).await;
    shared::app::outbound::process(&deps, push(&shop, "ship-deep", "1ZDEEP", 0)).await.unwrap();

    assert_eq!(graphql_requests(&server, "query FulfillmentOrderFulfillments").await.len(), 2, "both pages read");
    assert!(graphql_requests(&server, "mutation FulfillmentCreate").await.is_empty());
    assert!(graphql_requests(&server, "mutation FulfillmentTrackingInfoUpdate").await.is_empty());
    let deliveries = env.stack.shops.deliveries(&shop, &order_key()).await.unwrap();
    assert_eq!(deliveries[0].outcome, "delivered");
    assert!(deliveries[0].detail.contains("already has"), "{}", deliveries[0].detail);
}

#[tokio::test]
async fn an_unassignment_deletes_the_assignment_metafield() {
    let (env, server, shop) = setup("push-unassign").await;
    Mock::given(body_string_contains("mutation MetafieldsSet"))
        .respond_with(data(
            json!({ "metafieldsSet": { "metafields": [{ "id": "gid://shopify/Metafield/1" }], "userErrors": [] } }),
        ))
        .mount(&server)
        .await;
    Mock::given(body_string_contains("mutation MetafieldsDelete"))
        .respond_with(data(json!({ "metafieldsDelete": { "deletedMetafields": [
            { "ownerId": ORDER_GID, "namespace": "order_sync", "key": "assigned_to" } ], "userErrors": [] } })))
        .mount(&server)
        .await;
    let mut record = env.stack.shops.shop(&shop).await.unwrap().unwrap();
    record.metafields_sync = true;
    env.stack.shops.install_shop(&record).await.unwrap();
    let assign = |who: Value| json!({ "shop_domain": shop.as_str(), "orderIds": ["1002"], "assignee": who });
    post(&env, &shop, "/sync/orders/assign", assign("alex".into())).await;
    post(&env, &shop, "/sync/orders/assign", assign(Value::Null)).await;
    env.drain(SHOPIFY_OUTBOUND, 0).await;

    let deleted = graphql_requests(&server, "mutation MetafieldsDelete").await;
    assert_eq!(deleted.len(), 1);
    assert_eq!(
        graphql_variables(&deleted[0])["metafields"][0],
        json!({ "ownerId": ORDER_GID, "namespace": "order_sync", "key": "assigned_to" })
    );
    assert!(env.alerts(&shop).await.iter().all(|a| a.kind != shared::domain::AlertKind::PushRejected));
}
