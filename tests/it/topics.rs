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
    // The dashboard answers the seed's spelling of the terminal state.
    let detail = integration_tests::json_body(&env.get_as(&shop, "/sync/orders/1002").await);
    assert_eq!(detail["order"]["returnState"], "deny");
    let kinds: Vec<&str> = events.iter().filter(|e| e.event.starts_with("return_")).map(|e| e.event.as_str()).collect();
    assert_eq!(kinds, ["return_declined", "return_approved", "return_requested"]);
    assert_eq!(events.iter().find(|e| e.event == "return_declined").unwrap().details, "#1002-R1 declined in Shopify");
}

fn refund(id: u64, created_at: &str, amount: &str) -> Vec<u8> {
    json!({ "id": id, "order_id": 5601234560002u64, "created_at": created_at, "transactions": [
        { "kind": "refund", "status": "success", "amount": amount } ] })
    .to_string()
    .into_bytes()
}

#[tokio::test]
async fn events_before_their_order_wait_for_it_and_land_once_it_does() {
    let env = TestEnv::new().await;
    let shop = unique_shop("early");
    env.deliver(&shop, "refunds/create", "early-refund", &refund(31, "2026-11-21T09:00:00Z", "5.00")).await;
    let fulfillment = json!({ "id": 4401, "order_id": 5601234560002u64, "name": "#1002.1", "status": "success",
        "tracking_company": "UPS", "tracking_number": "1Z999", "tracking_numbers": ["1Z999"], "tracking_urls": [],
        "created_at": "2026-11-21T09:30:00Z", "updated_at": "2026-11-21T09:30:00Z" });
    env.deliver(&shop, "fulfillments/create", "early-fulfillment", fulfillment.to_string().as_bytes()).await;
    let request = json!({ "id": 78, "name": "#1002-R1", "order": { "id": 5601234560002u64 } });
    env.deliver_at(&shop, "returns/request", "early-return", request.to_string().as_bytes(), "2026-11-21T10:00:00Z")
        .await;
    env.drain_ingest().await;
    assert_eq!(env.stack.shops.get_order(&shop, &key()).await.unwrap(), None);
    assert_eq!(env.stack.shops.waiting_events(&shop, &key()).await.unwrap().len(), 3, "kept, not dropped");

    env.deliver(&shop, "orders/create", "create", &demo_event("orders-create-1002.json")).await;
    env.drain_ingest().await;

    let (order, events) = env.stack.shops.order_detail(&shop, &key(), 10).await.unwrap().unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(kinds[..3], ["return_requested", "fulfillment", "refund"], "{kinds:?}");
    assert!(kinds.contains(&"order_created"));
    assert!(order.fulfillments.iter().any(|f| f.id == "4401" && f.tracking_numbers == ["1Z999"]));
    assert_eq!(order.ops.return_case.map(|c| c.state), Some(ReturnState::AwaitingLabel));
    assert_eq!(env.stack.shops.waiting_events(&shop, &key()).await.unwrap(), [], "released once applied");
}

#[tokio::test]
async fn a_delivery_processed_twice_is_one_timeline_entry_and_two_refunds_in_one_second_are_two() {
    let env = TestEnv::new().await;
    let shop = unique_shop("refund-ids");
    env.deliver(&shop, "orders/create", "create", &demo_event("orders-create-1002.json")).await;
    env.drain_ingest().await;
    let first = refund(41, "2026-11-21T09:00:00Z", "5.00");
    // The same delivery handed to the worker twice (an SQS redelivery), processed at different times.
    let message = shared::queue::Message::Inbound(shared::queue::Inbound {
        source: shared::domain::Integration::Shopify,
        shop: shop.clone(),
        topic: "refunds/create".into(),
        delivery_id: "refund-41".into(),
        event_id: None,
        occurred_at: None,
        payload: serde_json::from_slice(&first).unwrap(),
        payload_ref: None,
    });
    env.enqueue(shared::queue::Stage::Ingest, &message, 0).await;
    env.drain_ingest().await;
    env.enqueue(shared::queue::Stage::Ingest, &message, 0).await;
    env.drain_ingest().await;
    // Another refund in the same second is another event.
    env.deliver(&shop, "refunds/create", "refund-42", &refund(42, "2026-11-21T09:00:00Z", "7.00")).await;
    env.drain_ingest().await;

    let (_, events) = env.stack.shops.order_detail(&shop, &key(), 10).await.unwrap().unwrap();
    let mut refunds: Vec<&str> = events.iter().filter(|e| e.event == "refund").map(|e| e.details.as_str()).collect();
    refunds.sort();
    assert_eq!(refunds, ["Refund issued (5.00)", "Refund issued (7.00)"]);
}

#[tokio::test]
async fn a_return_walks_label_transit_and_close_from_real_events_and_a_cancel_ends_the_next_one() {
    let server = MockServer::start().await;
    let env = TestEnv::with_shopify(&format!("{}/{{shop}}", server.uri())).await;
    let shop = unique_shop("return-life");
    env.install(&shop, "shpat_returns", &["read_orders", "read_returns"]).await;
    env.deliver(&shop, "orders/create", "create", &demo_event("orders-create-1002.json")).await;
    env.drain_ingest().await;
    Mock::given(body_string_contains("query ReturnOrder"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "data": { "return": {
            "id": "gid://shopify/Return/77", "order": { "id": "gid://shopify/Order/5601234560002" } } } })))
        .mount(&server)
        .await;
    let state =
        || async { env.stack.shops.get_order(&shop, &key()).await.unwrap().unwrap().ops.return_case.map(|c| c.state) };
    let ret =
        |id: u64| json!({ "id": id, "name": format!("#1002-R{id}"), "order": { "id": 5601234560002u64 } }).to_string();
    let deliverable = |tracking: Option<&str>| {
        json!({ "id": 901, "admin_graphql_api_id": "gid://shopify/ReverseDelivery/901",
                "return": { "id": 77, "admin_graphql_api_id": "gid://shopify/Return/77" },
                "shipping_deliverable": {
                    "label": { "public_file_url": "https://cdn.example/label.pdf", "created_at": "2026-11-21T11:00:00Z" },
                    "tracking": tracking.map(|n| json!({ "carrier_name": "UPS", "tracking_number": n })) } })
        .to_string()
    };

    env.deliver_at(&shop, "returns/request", "r-1", ret(77).as_bytes(), "2026-11-21T10:00:00Z").await;
    env.deliver_at(&shop, "returns/close", "r-2", ret(77).as_bytes(), "2026-11-21T10:30:00Z").await;
    env.drain_ingest().await;
    assert_eq!(state().await, Some(ReturnState::AwaitingLabel), "nothing came back yet: a close changes nothing");

    let attach = "reverse_deliveries/attach_deliverable";
    env.deliver_at(&shop, attach, "rd-1", deliverable(None).as_bytes(), "2026-11-21T11:00:00Z").await;
    env.drain_ingest().await;
    assert_eq!(state().await, Some(ReturnState::LabelGenerated));
    env.deliver_at(&shop, attach, "rd-2", deliverable(Some("1ZRET")).as_bytes(), "2026-11-21T12:00:00Z").await;
    env.drain_ingest().await;
    assert_eq!(state().await, Some(ReturnState::InTransit));
    env.deliver_at(&shop, "returns/close", "r-3", ret(77).as_bytes(), "2026-11-21T13:00:00Z").await;
    env.drain_ingest().await;
    assert_eq!(state().await, Some(ReturnState::Completed));

    env.deliver_at(&shop, "returns/request", "r-4", ret(78).as_bytes(), "2026-11-21T14:00:00Z").await;
    env.deliver_at(&shop, "returns/cancel", "r-5", ret(78).as_bytes(), "2026-11-21T15:00:00Z").await;
    env.drain_ingest().await;
    assert_eq!(state().await, Some(ReturnState::Cancelled));

    let (_, events) = env.stack.shops.order_detail(&shop, &key(), 10).await.unwrap().unwrap();
    let kinds: Vec<&str> = events.iter().filter(|e| e.event.starts_with("return_")).map(|e| e.event.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "return_cancelled",
            "return_requested",
            "return_closed",
            "return_in_transit",
            "return_label_generated",
            "return_closed",
            "return_requested"
        ]
    );
    assert_eq!(
        events.iter().find(|e| e.event == "return_in_transit").unwrap().details,
        "Return in transit (UPS 1ZRET)"
    );
    assert_eq!(integration_tests::graphql_requests(&server, "query ReturnOrder").await.len(), 2);
    for topic in ["returns/cancel", attach] {
        assert!(shared::app::poll::shopify::SUBSCRIBED_TOPICS.contains(&topic), "{topic} is subscribed");
    }
}
