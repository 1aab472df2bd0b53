//! Tracking and assignments back to Shopify through the outbound stage, against wiremock:
//! `fulfillmentCreate` exactly once per shipment, `userErrors` as alerts, `metafieldsSet` when enabled.

use integration_tests::{TestEnv, demo_event, graphql_requests, graphql_variables, token_for};
use serde_json::{Value, json};
use shared::{
    domain::{AlertKind, Integration, OrderKey, ShopDomain},
    queue::{Message, Outbound, OutboundChange, Stage},
    store::{DeliveryStore, ShopStore},
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
