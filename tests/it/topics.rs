//! The order-side topics that carry no whole order: fulfilment holds (inventory hold/release on the
//! timeline) and returns (timeline plus the order's return case), idempotent under redelivery.

use integration_tests::{TestEnv, demo_event};
use serde_json::json;
use shared::{
    domain::{OrderKey, ReturnState},
    store::OrderStore,
    testing::unique_shop,
};
use wiremock::{Mock, MockServer, ResponseTemplate, matchers::body_string_contains};

fn key() -> OrderKey {
    OrderKey::parse("shopify:5601234560002").unwrap()
}

#[tokio::test]
async fn holds_and_releases_land_on_the_timeline_once_even_when_only_the_fulfillment_order_is_named() {
    let server = MockServer::start().await;
    let env = TestEnv::with_shopify(&format!("{}/{{shop}}", server.uri())).await;
    let shop = unique_shop("holds");
    env.install(&shop, "shpat_holds", &["read_orders"]).await;
    env.deliver(&shop, "orders/create", "create", &demo_event("orders-create-1002.json")).await;
    env.drain_ingest().await;
    Mock::given(body_string_contains("query FulfillmentOrderOrder"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "data": { "fulfillmentOrder": {
            "id": "gid://shopify/FulfillmentOrder/9001", "orderId": "gid://shopify/Order/5601234560002" } } })))
        .mount(&server)
        .await;
    let placed = json!({
        "fulfillment_order": { "id": "gid://shopify/FulfillmentOrder/9001", "status": "on_hold" },
        "created_fulfillment_hold": { "reason": "inventory_out_of_stock", "reason_notes": "waiting on restock" }
    });
    let released = json!({ "fulfillment_order": { "id": "gid://shopify/FulfillmentOrder/9001", "status": "open", "order_id": 5601234560002u64 } });
    for round in 0..2 {
        // New delivery ids each round: the worker itself must not add an event twice.
        env.deliver_at(
            &shop,
            "fulfillment_orders/placed_on_hold",
            &format!("hold-{round}"),
            placed.to_string().as_bytes(),
            "2026-11-21T10:00:00Z",
        )
        .await;
        env.deliver_at(
            &shop,
            "fulfillment_orders/hold_released",
            &format!("release-{round}"),
            released.to_string().as_bytes(),
            "2026-11-21T12:00:00Z",
        )
        .await;
    }
    env.drain_ingest().await;

    let (_, events) = env.stack.shops.order_detail(&shop, &key(), 10).await.unwrap().unwrap();
    let holds: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| e.event.starts_with("inventory_"))
        .map(|e| (e.event.as_str(), e.details.as_str()))
        .collect();
    assert_eq!(
        holds,
        [
            ("inventory_release", "Fulfillment hold released"),
            ("inventory_hold", "Fulfillment placed on hold (inventory_out_of_stock: waiting on restock)"),
        ]
    );
    // Only the hold needed the lookup; the release named its order.
    let lookups = server.received_requests().await.unwrap().len();
    assert_eq!(lookups, 2, "one lookup per hold delivery");
}

#[tokio::test]
async fn returns_move_the_return_case_and_the_timeline_and_an_older_event_changes_nothing() {
    let env = TestEnv::new().await;
    let shop = unique_shop("returns");
    env.deliver(&shop, "orders/create", "create", &demo_event("orders-create-1002.json")).await;
    env.drain_ingest().await;
    let body = |status: &str| {
        json!({ "id": 77, "admin_graphql_api_id": "gid://shopify/Return/77", "name": "#1002-R1", "status": status,
                "order": { "id": 5601234560002u64, "admin_graphql_api_id": "gid://shopify/Order/5601234560002" } })
        .to_string()
    };
    env.deliver_at(&shop, "returns/request", "r1", body("requested").as_bytes(), "2026-11-21T10:00:00Z").await;
    env.drain_ingest().await;
    let case = |order: shared::domain::Order| order.ops.return_case.map(|c| c.state);
    assert_eq!(
        case(env.stack.shops.get_order(&shop, &key()).await.unwrap().unwrap()),
        Some(ReturnState::AwaitingLabel)
    );

    env.deliver_at(&shop, "returns/decline", "r2", body("declined").as_bytes(), "2026-11-21T11:00:00Z").await;
    env.drain_ingest().await;
    // An approval that happened before the decline arrives late: the case stays denied.
    env.deliver_at(&shop, "returns/approve", "r3", body("open").as_bytes(), "2026-11-21T10:30:00Z").await;
    env.drain_ingest().await;
    let (order, events) = env.stack.shops.order_detail(&shop, &key(), 10).await.unwrap().unwrap();
    assert_eq!(case(order), Some(ReturnState::Denied));
    let kinds: Vec<&str> = events.iter().filter(|e| e.event.starts_with("return_")).map(|e| e.event.as_str()).collect();
    assert_eq!(kinds, ["return_declined", "return_approved", "return_requested"]);
    assert_eq!(events.iter().find(|e| e.event == "return_declined").unwrap().details, "#1002-R1 declined in Shopify");
}
