//! The dashboard contract (seed 000): lists, cursors, detail, actions, shipment alerts, alert polling.

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use integration_tests::{API_KEY, API_SECRET, TestEnv, json_body};
use lambda_http::http::StatusCode;
use local_stack::to_lambda_request;
use shared::{
    clock::FixedClock,
    config::{Secret, ShopifyAppConfig},
    domain::{AlertKind, Fulfillment, ReturnCase, ReturnState, ShopDomain, Tab},
    queue::{Message, Stage, memory::MemoryQueue},
    store::{AlertStore, OrderQuery, OrderStore, Seek, dynamo::DynamoStore, memory::MemoryStore},
    testing::{order, save, unique_shop},
};

fn app() -> ShopifyAppConfig {
    ShopifyAppConfig { api_key: API_KEY.into(), api_secret: Secret::new(API_SECRET), previous_api_secret: None }
}

/// A dashboard over `store`, with a memory queue to inspect and a clock to set.
fn dashboard<S>(store: Arc<S>, clock: Arc<FixedClock>) -> (dashboard_api::Deps, Arc<MemoryQueue>)
where
    S: OrderStore
        + AlertStore
        + shared::store::RequestStore
        + shared::store::DeliveryStore
        + shared::store::SyncStore
        + shared::store::OutboxStore
        + 'static,
{
    let queue = Arc::new(MemoryQueue::new());
    let deps = dashboard_api::Deps {
        shopify: app(),
        orders: store.clone(),
        alerts: store.clone(),
        requests: store.clone(),
        deliveries: store.clone(),
        outbox: store.clone(),
        sync: store,
        queue: queue.clone(),
        clock,
        tokens: None,
    };
    (deps, queue)
}

async fn call(
    deps: &dashboard_api::Deps,
    token_shop: &ShopDomain,
    method: &str,
    target: &str,
    body: Option<serde_json::Value>,
) -> (StatusCode, serde_json::Value) {
    let claims = shared::integrations::shopify::session::claims_for(token_shop, API_KEY, "7", deps.clock.now(), 60);
    let token = shared::integrations::shopify::session::sign(&claims, &Secret::new(API_SECRET));
    let headers = vec![("authorization".to_owned(), format!("Bearer {token}"))];
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let request = to_lambda_request(method, target, &headers, body.as_bytes()).unwrap();
    let response = dashboard_api::handle(deps, request).await.unwrap();
    (response.status(), json_body(&response))
}

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap()
}

/// A DynamoDB store holding `count` orders #1..#count of a new shop (newest number first in lists).
async fn seeded(env: &TestEnv, label: &str, count: u32) -> (Arc<DynamoStore>, ShopDomain) {
    let sdk = shared::aws::sdk_config().await;
    let store = Arc::new(DynamoStore::new(shared::aws::dynamodb(&sdk), env.stack.settings.table_name.clone()));
    let shop = unique_shop(label);
    let orders: Vec<_> = (1..=count)
        .map(|id| {
            let mut o = order(&shop, &id.to_string(), 0);
            o.version = 1;
            o
        })
        .collect();
    store.seed_orders(&orders).await.unwrap();
    (store, shop)
}

#[tokio::test]
async fn paging_a_thousand_orders_forward_and_back_reads_about_one_page_per_page() {
    let env = TestEnv::new().await;
    let (store, shop) = seeded(&env, "thousand", 1000).await;
    let (deps, _) = dashboard(store.clone(), Arc::new(FixedClock::new(now())));
    let size = 50;

    let mut forward = Vec::new();
    let mut target = format!("/sync/orders?shop_domain={shop}&pageSize={size}");
    let last_page: (Vec<String>, Option<String>);
    loop {
        let before = store.items_read();
        let (status, body) = call(&deps, &shop, "GET", &target, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let read = store.items_read() - before;
        assert!(read <= size as u64 + 2, "a page cost {read} item reads at offset {}", body["offset"]);
        let names: Vec<String> =
            body["orders"].as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap().to_owned()).collect();
        forward.extend(names.clone());
        match body["next"].as_str() {
            Some(next) => target = format!("/sync/orders?shop_domain={shop}&pageSize={size}&cursor={next}"),
            None => {
                last_page = (names, body["previous"].as_str().map(str::to_owned));
                break;
            }
        }
    }
    let expected: Vec<String> = (1..=1000).rev().map(|id| format!("#{id}")).collect();
    assert_eq!(forward, expected, "forward: newest first, no gaps, no duplicates");

    // Back from the last page, page by page, with the cursors the service issued.
    let (mut backward, cursor) = last_page;
    let mut cursor = cursor.expect("the last page has a previous cursor");
    assert_eq!(cursor, "ofs:qe", "the last page starts at offset 950");
    loop {
        let before = store.items_read();
        let target = format!("/sync/orders?shop_domain={shop}&pageSize={size}&cursor={cursor}&direction=backward");
        let (status, body) = call(&deps, &shop, "GET", &target, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let read = store.items_read() - before;
        assert!(read <= size as u64 + 2, "a backward page cost {read} item reads");
        let mut page: Vec<String> =
            body["orders"].as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap().to_owned()).collect();
        page.extend(backward);
        backward = page;
        match body["previous"].as_str() {
            Some(previous) => cursor = previous.to_owned(),
            None => break,
        }
    }
    assert_eq!(backward, expected, "backward: the same list");

    // A hand-made offset within two pages is counted once, then served from its remembered boundary.
    let target = format!("/sync/orders?shop_domain={shop}&pageSize=10&cursor=ofs:f"); // 15
    let before = store.items_read();
    let (_, body) = call(&deps, &shop, "GET", &target, None).await;
    assert!(store.items_read() - before <= 16 + 11, "counted once: the offset, then the page");
    let names: Vec<&str> = body["orders"].as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap()).collect();
    assert_eq!(names.first(), Some(&"#985"));
    assert_eq!(names.len(), 10);
    let before = store.items_read();
    call(&deps, &shop, "GET", &target, None).await;
    assert!(store.items_read() - before <= 12);

    // A deeper offset nobody issued (forged, or its boundary expired) is refused without reading the tab.
    for forged in ["ofs:jh", "ofs:zzzzzzzzzzzz"] {
        for direction in ["forward", "backward"] {
            let target = format!("/sync/orders?shop_domain={shop}&pageSize=10&cursor={forged}&direction={direction}");
            let before = store.items_read();
            let (status, body) = call(&deps, &shop, "GET", &target, None).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(body["code"], "CURSOR_UNKNOWN");
            assert!(store.items_read() - before <= 2, "{forged} cost {} reads", store.items_read() - before);
        }
    }
}

#[tokio::test]
async fn a_backward_cursor_past_the_end_serves_the_tail_and_remembers_true_boundaries() {
    let env = TestEnv::new().await;
    let (store, shop) = seeded(&env, "pastend", 30).await;
    let (deps, _) = dashboard(store.clone(), Arc::new(FixedClock::new(now())));
    let names = |body: &serde_json::Value| -> Vec<String> {
        body["orders"].as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap().to_owned()).collect()
    };

    // 30 orders, pages of 20: the page before offset 35 is the last 20 orders, offsets 10..30.
    let target = format!("/sync/orders?shop_domain={shop}&pageSize=20&cursor=ofs:z&direction=backward");
    let (status, body) = call(&deps, &shop, "GET", &target, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let expected: Vec<String> = (1..=20).rev().map(|id| format!("#{id}")).collect();
    assert_eq!(names(&body), expected);
    assert_eq!(body["offset"], 10);
    assert_eq!(body["previous"], "ofs:a");
    assert_eq!(body["next"], "ofs:u");

    // The boundary it remembered at offset 10 is the true one: paging forward from it agrees with the top.
    let (_, from_remembered) =
        call(&deps, &shop, "GET", &format!("/sync/orders?shop_domain={shop}&pageSize=5&cursor=ofs:a"), None).await;
    let (_, top) = call(&deps, &shop, "GET", &format!("/sync/orders?shop_domain={shop}&pageSize=15"), None).await;
    assert_eq!(names(&from_remembered), names(&top)[10..15].to_vec());
}

async fn dynamo_dashboard(
    env: &TestEnv,
    clock: Arc<FixedClock>,
) -> (dashboard_api::Deps, Arc<MemoryQueue>, Arc<DynamoStore>) {
    let sdk = shared::aws::sdk_config().await;
    let store = Arc::new(DynamoStore::new(shared::aws::dynamodb(&sdk), env.stack.settings.table_name.clone()));
    let (deps, queue) = dashboard(store.clone(), clock);
    (deps, queue, store)
}

fn outbound_kinds(queue: &MemoryQueue) -> Vec<&'static str> {
    queue
        .sent()
        .into_iter()
        .map(|(stage, message, _)| {
            assert_eq!(stage, Stage::Outbound(shared::domain::Integration::Shopify));
            match message {
                Message::Outbound(o) => o.change.kind(),
                other => panic!("unexpected {other:?}"),
            }
        })
        .collect()
}

#[tokio::test]
async fn assign_accepts_every_id_form_answers_the_envelope_and_is_idempotent() {
    let env = TestEnv::new().await;
    let clock = Arc::new(FixedClock::new(now()));
    let (deps, queue, store) = dynamo_dashboard(&env, clock).await;
    let shop = unique_shop("assign");
    for id in ["1001", "1002", "1003"] {
        save(store.as_ref(), order(&shop, id, 0)).await;
    }
    let body = serde_json::json!({
        "shop_domain": shop.as_str(),
        "orderIds": ["gid://shopify/Order/1001", "1002", "#1003"],
        "assignee": "sam"
    });
    let (status, first) = call(&deps, &shop, "POST", "/sync/orders/assign", Some(body.clone())).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["success"], true);
    assert_eq!(first["message"], "Assigned 3 orders to sam");
    let updated = first["updatedOrders"].as_array().unwrap();
    assert_eq!(updated.len(), 3);
    assert!(
        updated
            .iter()
            .all(|o| o["assignedTo"] == "sam" && o["id"].as_str().unwrap().starts_with("gid://shopify/Order/"))
    );
    assert_eq!(outbound_kinds(&queue), ["assignment_sync"; 3]);

    let (_, again) = call(&deps, &shop, "POST", "/sync/orders/assign", Some(body.clone())).await;
    assert_eq!(again, first, "the same request gives the same answer");
    assert_eq!(queue.sent().len(), 3, "and no second side effect");

    // A different request that changes nothing queues nothing either.
    let narrower = serde_json::json!({ "shop_domain": shop.as_str(), "orderIds": ["1001"], "assignee": "sam" });
    let (_, single) = call(&deps, &shop, "POST", "/sync/orders/assign", Some(narrower)).await;
    assert_eq!(single["message"], "Assigned 1 order to sam");
    assert_eq!(queue.sent().len(), 3);

    let assigned = store
        .list_orders(&shop, &OrderQuery { assignee: Some("sam".into()), ..Default::default() }, &Seek::First, 10)
        .await
        .unwrap();
    assert_eq!(assigned.len(), 3);

    let other = unique_shop("intruder");
    let (status, error) = call(&deps, &other, "POST", "/sync/orders/assign", Some(body.clone())).await;
    assert_eq!((status, error["code"].as_str()), (StatusCode::FORBIDDEN, Some("SHOP_MISMATCH")));
    let (status, error) = call(
        &deps,
        &shop,
        "POST",
        "/sync/orders/assign",
        Some(serde_json::json!({ "shop_domain": shop.as_str(), "orderIds": ["1001", "#404"], "assignee": "kim" })),
    )
    .await;
    assert_eq!((status, error["code"].as_str()), (StatusCode::NOT_FOUND, Some("ORDER_NOT_FOUND")));
    let untouched = store.find_by_name(&shop, "1001").await.unwrap().unwrap();
    assert_eq!(untouched.ops.assigned_to.as_deref(), Some("sam"), "an unknown id changes nothing");
    let (status, error) =
        call(&deps, &shop, "POST", "/sync/orders/assign", Some(serde_json::json!({ "shop_domain": shop.as_str() })))
            .await;
    assert_eq!((status, error["code"].as_str()), (StatusCode::BAD_REQUEST, Some("INVALID_BODY")));
}

#[tokio::test]
async fn assignments_keep_who_assigned_whom_and_when_and_null_unassigns_once() {
    let env = TestEnv::new().await;
    let clock = Arc::new(FixedClock::new(now()));
    let (deps, queue, store) = dynamo_dashboard(&env, clock.clone()).await;
    let shop = unique_shop("assign-history");
    save(store.as_ref(), order(&shop, "1001", 0)).await;
    let assign = |who: serde_json::Value| serde_json::json!({ "shop_domain": shop.as_str(), "orderIds": ["1001"], "assignee": who });
    let (status, _) = call(&deps, &shop, "POST", "/sync/orders/assign", Some(assign("ana".into()))).await;
    assert_eq!(status, StatusCode::OK);
    clock.set(now() + chrono::Duration::minutes(5));
    call(&deps, &shop, "POST", "/sync/orders/assign", Some(assign("ben".into()))).await;
    clock.set(now() + chrono::Duration::minutes(9));
    let (status, unassigned) =
        call(&deps, &shop, "POST", "/sync/orders/assign", Some(assign(serde_json::Value::Null))).await;
    assert_eq!(status, StatusCode::OK, "{unassigned}");
    assert_eq!(unassigned["message"], "Unassigned 1 order");
    assert_eq!(unassigned["updatedOrders"][0]["assignedTo"], serde_json::Value::Null);
    // Unassigning again changes nothing and queues nothing.
    clock.set(now() + chrono::Duration::minutes(12));
    call(&deps, &shop, "POST", "/sync/orders/assign", Some(assign(serde_json::Value::Null))).await;
    assert_eq!(outbound_kinds(&queue), ["assignment_sync"; 3]);
    let last = match queue.sent().pop().unwrap().1 {
        Message::Outbound(o) => o.change,
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(last, shared::queue::OutboundChange::AssignmentSync { assignee: None });

    let (status, detail) = call(&deps, &shop, "GET", "/sync/orders/1001", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(detail["order"]["assignedTo"], serde_json::Value::Null);
    let at =
        |minutes: i64| (now() + chrono::Duration::minutes(minutes)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert_eq!(
        detail["assignments"],
        serde_json::json!([
            { "assignee": null, "previous": "ben", "assignedBy": "7", "assignedAt": at(9) },
            { "assignee": "ben", "previous": "ana", "assignedBy": "7", "assignedAt": at(5) },
            { "assignee": "ana", "previous": null, "assignedBy": "7", "assignedAt": at(0) },
        ])
    );
    assert_eq!(detail["timeline"][0]["event"], "unassigned");
    assert_eq!(detail["timeline"][0]["details"], "Unassigned from ben");
    let listed = store
        .list_orders(&shop, &OrderQuery { assignee: Some("ben".into()), ..Default::default() }, &Seek::First, 10)
        .await
        .unwrap();
    assert!(listed.is_empty(), "an unassigned order leaves its assignee's list");
    let (status, error) = call(
        &deps,
        &shop,
        "POST",
        "/sync/orders/assign",
        Some(serde_json::json!({ "shop_domain": shop.as_str(), "orderIds": ["1001"] })),
    )
    .await;
    assert_eq!(
        (status, error["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("INVALID_BODY")),
        "assignee is required"
    );
}

#[tokio::test]
async fn fulfill_records_the_shipment_clears_shipment_alerts_and_queues_fulfillment_create() {
    let env = TestEnv::new().await;
    let clock = Arc::new(FixedClock::new(now()));
    let (deps, queue, store) = dynamo_dashboard(&env, clock.clone()).await;
    let shop = unique_shop("fulfill");
    save(store.as_ref(), order(&shop, "2001", 0)).await;

    // Three hours later the monitor flags it: no tracking.
    let monitor = shipment_monitor::Deps { orders: store.clone(), alerts: store.clone(), clock: clock.clone() };
    shipment_monitor::run(&monitor).await.unwrap();
    let flagged = store.find_by_name(&shop, "2001").await.unwrap().unwrap();
    assert!(flagged.tabs().contains(&Tab::TrackingPending));
    let raised = store.alerts_since(&shop, None, 10).await.unwrap();
    assert_eq!(raised.len(), 1);
    assert_eq!(raised[0].1.kind, AlertKind::TrackingPending);

    let body = serde_json::json!({
        "shop_domain": shop.as_str(), "orderIds": ["2001"], "tracking": { "number": "1Z999", "carrier": "UPS" }
    });
    let (status, response) = call(&deps, &shop, "POST", "/sync/orders/fulfill", Some(body.clone())).await;
    assert_eq!(status, StatusCode::OK, "{response}");
    assert_eq!(response["message"], "Marked 1 order as fulfilled");
    assert_eq!(
        response["updatedOrders"],
        serde_json::json!([{ "id": "gid://shopify/Order/2001", "fulfillmentStatus": "fulfilled", "tracking": { "number": "1Z999", "carrier": "UPS" } }])
    );
    assert_eq!(outbound_kinds(&queue), ["fulfillment_create"]);
    let fulfilled = store.find_by_name(&shop, "2001").await.unwrap().unwrap();
    assert!(!fulfilled.tabs().contains(&Tab::TrackingPending));
    assert_eq!(fulfilled.shipment().unwrap().tracking_number.as_deref(), Some("1Z999"));
    let after = store.alerts_since(&shop, Some(&raised[0].0), 10).await.unwrap();
    assert_eq!(after.len(), 1);
    assert!(after[0].1.cleared_at.is_some(), "the tracking alert is cleared");

    call(&deps, &shop, "POST", "/sync/orders/fulfill", Some(body)).await;
    assert_eq!(queue.sent().len(), 1, "fulfilling twice queues one fulfillmentCreate");
}

#[tokio::test]
async fn support_escalates_reassigns_to_the_assistant_and_shows_in_the_timeline() {
    let env = TestEnv::new().await;
    let (deps, queue, store) = dynamo_dashboard(&env, Arc::new(FixedClock::new(now()))).await;
    let shop = unique_shop("support");
    save(store.as_ref(), order(&shop, "3001", 0)).await;
    let body = serde_json::json!({ "shop_domain": shop.as_str(), "orderId": "#3001", "conversationId": "c-9", "note": "Where is it?" });
    let (status, response) = call(&deps, &shop, "POST", "/sync/orders/support", Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{response}");
    assert_eq!(response["message"], "Support requested for order #3001");
    let thread = response["updatedOrders"][0]["supportThread"].as_str().unwrap();
    assert!(thread.starts_with("sup_"));
    assert_eq!(outbound_kinds(&queue), ["support_escalation"]);

    let (status, detail) = call(&deps, &shop, "GET", &format!("/sync/orders/3001?shop_domain={shop}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(detail["order"]["assignedTo"], "assistant");
    assert_eq!(detail["order"]["supportThread"], thread);
    assert_eq!(detail["order"]["priority"], "high");
    assert_eq!(detail["timeline"][0]["event"], "support_escalated");
    assert!(detail["order"]["tabs"].as_array().unwrap().contains(&serde_json::json!("support")));
    let (status, _) =
        call(&deps, &shop, "GET", &format!("/sync/orders/gid%3A%2F%2Fshopify%2FOrder%2F3001?shop_domain={shop}"), None)
            .await;
    assert_eq!(status, StatusCode::OK, "a percent-encoded GID resolves");
}

#[tokio::test]
async fn returns_follow_the_state_machine_and_an_illegal_step_is_409_naming_the_state() {
    let env = TestEnv::new().await;
    let (deps, queue, store) = dynamo_dashboard(&env, Arc::new(FixedClock::new(now()))).await;
    let shop = unique_shop("returns");
    for (id, state) in [("4001", ReturnState::InTransit), ("4002", ReturnState::AwaitingLabel)] {
        let mut o = order(&shop, id, 0);
        o.ops.return_case = Some(ReturnCase { state, updated_at: now(), note: None });
        save(store.as_ref(), o).await;
    }
    let request =
        |id: &str, action: &str| serde_json::json!({ "shop_domain": shop.as_str(), "orderId": id, "action": action });

    let (status, response) =
        call(&deps, &shop, "POST", "/sync/orders/returns", Some(request("4001", "request_inspection"))).await;
    assert_eq!(status, StatusCode::OK, "{response}");
    assert_eq!(
        response,
        serde_json::json!({ "success": true, "message": "Return updated: inspection", "updatedOrders": [] })
    );
    let (_, again) =
        call(&deps, &shop, "POST", "/sync/orders/returns", Some(request("4001", "request_inspection"))).await;
    assert_eq!(again, response, "a repeat is answered the same, not with a 409");
    let (status, _) = call(&deps, &shop, "POST", "/sync/orders/returns", Some(request("4001", "approve_refund"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(outbound_kinds(&queue), ["return_update", "return_update"]);

    let (status, error) =
        call(&deps, &shop, "POST", "/sync/orders/returns", Some(request("4002", "approve_refund"))).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(error["code"], "ILLEGAL_TRANSITION");
    assert!(error["error"].as_str().unwrap().contains("awaiting_label"), "{error}");
    let (status, error) =
        call(&deps, &shop, "POST", "/sync/orders/returns", Some(request("4002", "refund_twice"))).await;
    assert_eq!((status, error["code"].as_str()), (StatusCode::BAD_REQUEST, Some("INVALID_ACTION")));
    assert_eq!(queue.sent().len(), 2);
    let state = store.find_by_name(&shop, "4001").await.unwrap().unwrap().ops.return_case.unwrap().state;
    assert_eq!(state, ReturnState::AwaitingRefund);
}

#[tokio::test]
async fn shipment_alerts_switch_exactly_at_two_and_twenty_four_hours() {
    let store = Arc::new(MemoryStore::new());
    let clock = Arc::new(FixedClock::new(now()));
    let monitor = shipment_monitor::Deps { orders: store.clone(), alerts: store.clone(), clock: clock.clone() };
    let shop = unique_shop("boundaries");
    let waiting = save(store.as_ref(), order(&shop, "1", 0)).await;
    let mut shipped = order(&shop, "2", 0);
    let shipped_at = waiting.created_at + Duration::minutes(30);
    shipped.fulfillments.push(Fulfillment {
        id: "f1".into(),
        status: "success".into(),
        shipment_status: Some("in_transit".into()),
        tracking_company: Some("UPS".into()),
        tracking_numbers: vec!["1Z1".into()],
        tracking_urls: vec![],
        created_at: Some(shipped_at),
        updated_at: Some(shipped_at),
    });
    save(store.as_ref(), shipped).await;
    let tabs = |id: &str| {
        let store = store.clone();
        let key = order(&shop, id, 0).key();
        let shop = shop.clone();
        async move { store.get_order(&shop, &key).await.unwrap().unwrap().tabs() }
    };

    let two_hours = waiting.created_at + Duration::hours(2);
    clock.set(two_hours);
    shipment_monitor::run(&monitor).await.unwrap();
    assert!(!tabs("1").await.contains(&Tab::TrackingPending), "exactly 2 h old is not yet pending");
    clock.set(two_hours + Duration::milliseconds(1));
    shipment_monitor::run(&monitor).await.unwrap();
    assert!(tabs("1").await.contains(&Tab::TrackingPending));
    assert!(!tabs("2").await.contains(&Tab::TrackingPending), "an order with tracking is never pending");

    let day = shipped_at + Duration::hours(24);
    clock.set(day);
    shipment_monitor::run(&monitor).await.unwrap();
    assert!(!tabs("2").await.contains(&Tab::Delayed), "exactly 24 h without an update is not yet delayed");
    clock.set(day + Duration::milliseconds(1));
    shipment_monitor::run(&monitor).await.unwrap();
    assert!(tabs("2").await.contains(&Tab::Delayed));
    let kinds: Vec<AlertKind> =
        store.alerts_since(&shop, None, 10).await.unwrap().into_iter().map(|(_, a)| a.kind).collect();
    assert_eq!(kinds, [AlertKind::TrackingPending, AlertKind::Delayed]);

    // Running again raises nothing new.
    shipment_monitor::run(&monitor).await.unwrap();
    assert_eq!(store.alerts_since(&shop, None, 10).await.unwrap().len(), 2);
}

#[tokio::test]
async fn alerts_are_polled_with_a_cursor_that_misses_nothing() {
    let env = TestEnv::new().await;
    let clock = Arc::new(FixedClock::new(now()));
    let (deps, _, store) = dynamo_dashboard(&env, clock.clone()).await;
    let shop = unique_shop("alerts");
    save(store.as_ref(), order(&shop, "1", 0)).await;
    let monitor = shipment_monitor::Deps { orders: store.clone(), alerts: store.clone(), clock: clock.clone() };
    shipment_monitor::run(&monitor).await.unwrap();

    let (status, first) = call(&deps, &shop, "GET", &format!("/sync/orders/alerts?shop_domain={shop}"), None).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["alerts"].as_array().unwrap().len(), 1);
    assert_eq!(first["alerts"][0]["alert"]["kind"], "tracking_pending");
    let cursor = first["cursor"].as_str().unwrap().to_owned();

    let (_, empty) =
        call(&deps, &shop, "GET", &format!("/sync/orders/alerts?shop_domain={shop}&since={cursor}"), None).await;
    assert!(empty["alerts"].as_array().unwrap().is_empty());
    assert_eq!(empty["cursor"], cursor.as_str());

    save(store.as_ref(), order(&shop, "2", 0)).await;
    clock.set(now() + Duration::minutes(5));
    shipment_monitor::run(&monitor).await.unwrap();
    let (_, next) =
        call(&deps, &shop, "GET", &format!("/sync/orders/alerts?shop_domain={shop}&since={cursor}"), None).await;
    let ids: Vec<&str> =
        next["alerts"].as_array().unwrap().iter().map(|a| a["alert"]["order"].as_str().unwrap()).collect();
    assert_eq!(ids, ["shopify:2"]);
    let (status, _) =
        call(&deps, &unique_shop("x"), "GET", &format!("/sync/orders/alerts?shop_domain={shop}"), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let garbage = format!("/sync/orders/alerts?shop_domain={shop}&since=yesterday");
    let (status, error) = call(&deps, &shop, "GET", &garbage, None).await;
    assert_eq!((status, error["code"].as_str()), (StatusCode::BAD_REQUEST, Some("INVALID_CURSOR")));
}

#[tokio::test]
async fn no_action_accepts_another_shops_token_or_touches_its_orders() {
    let env = TestEnv::new().await;
    let (deps, queue, store) = dynamo_dashboard(&env, Arc::new(FixedClock::new(now()))).await;
    let shop = unique_shop("victim");
    let intruder = unique_shop("intruder");
    let stored = save(store.as_ref(), order(&shop, "5001", 0)).await;
    let s = shop.as_str();
    let actions = [
        ("/sync/orders/assign", serde_json::json!({ "shop_domain": s, "orderIds": ["5001"], "assignee": "x" })),
        ("/sync/orders/fulfill", serde_json::json!({ "shop_domain": s, "orderIds": ["5001"] })),
        ("/sync/orders/support", serde_json::json!({ "shop_domain": s, "orderId": "5001", "note": "x" })),
        ("/sync/orders/returns", serde_json::json!({ "shop_domain": s, "orderId": "5001", "action": "deny" })),
    ];
    for (path, body) in &actions {
        let (status, error) = call(&deps, &intruder, "POST", path, Some(body.clone())).await;
        assert_eq!((status, error["code"].as_str()), (StatusCode::FORBIDDEN, Some("SHOP_MISMATCH")), "{path}");
        // Naming its own shop does not reach the other shop's order either.
        let mut own = body.clone();
        own["shop_domain"] = serde_json::json!(intruder.as_str());
        let (status, error) = call(&deps, &intruder, "POST", path, Some(own)).await;
        assert_eq!((status, error["code"].as_str()), (StatusCode::NOT_FOUND, Some("ORDER_NOT_FOUND")), "{path}");
    }
    assert!(queue.sent().is_empty());
    assert_eq!(store.get_order(&shop, &stored.key()).await.unwrap().unwrap().version, stored.version);
}

async fn call_keyed(
    deps: &dashboard_api::Deps,
    shop: &ShopDomain,
    target: &str,
    key: &str,
    body: serde_json::Value,
) -> (StatusCode, serde_json::Value) {
    let claims = shared::integrations::shopify::session::claims_for(shop, API_KEY, "7", deps.clock.now(), 60);
    let token = shared::integrations::shopify::session::sign(&claims, &Secret::new(API_SECRET));
    let headers =
        vec![("authorization".to_owned(), format!("Bearer {token}")), ("idempotency-key".to_owned(), key.to_owned())];
    let request = to_lambda_request("POST", target, &headers, body.to_string().as_bytes()).unwrap();
    let response = dashboard_api::handle(deps, request).await.unwrap();
    (response.status(), json_body(&response))
}

#[tokio::test]
async fn keyless_actions_always_run_and_idempotency_keys_are_scoped_claimed_and_bound_to_their_body() {
    let env = TestEnv::new().await;
    let clock = Arc::new(FixedClock::new(now()));
    let (deps, queue, store) = dynamo_dashboard(&env, clock).await;
    let shop = unique_shop("idempotency");
    save(store.as_ref(), order(&shop, "1001", 0)).await;
    let assign = |who: &str| serde_json::json!({ "shop_domain": shop.as_str(), "orderIds": ["1001"], "assignee": who });
    let assignee = || async { store.find_by_name(&shop, "1001").await.unwrap().unwrap().ops.assigned_to };

    // Keyless: A → B → A ends with A (no digest dedupe swallows the third request).
    for who in ["alex", "blair", "alex"] {
        let (status, answer) = call(&deps, &shop, "POST", "/sync/orders/assign", Some(assign(who))).await;
        assert_eq!((status, answer["success"].as_bool()), (StatusCode::OK, Some(true)));
    }
    assert_eq!(assignee().await.as_deref(), Some("alex"));
    assert_eq!(queue.sent().len(), 3, "each real change is handed on");

    // Keyed: a repeat with the same key and body replays the answer and causes nothing new.
    let (status, first) = call_keyed(&deps, &shop, "/sync/orders/assign", "k-1", assign("casey")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, again) = call_keyed(&deps, &shop, "/sync/orders/assign", "k-1", assign("casey")).await;
    assert_eq!((status, &again), (StatusCode::OK, &first));
    assert_eq!(queue.sent().len(), 4);
    // The same key with another body is refused; nothing changes.
    let (status, refused) = call_keyed(&deps, &shop, "/sync/orders/assign", "k-1", assign("drew")).await;
    assert_eq!((status, refused["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("IDEMPOTENCY_KEY_REUSED")));
    assert_eq!(assignee().await.as_deref(), Some("casey"));
    // Keys are scoped to the route: the same key on another route runs its own request.
    let support = serde_json::json!({ "shop_domain": shop.as_str(), "orderId": "1001", "note": "Where is it?" });
    let (status, escalated) = call_keyed(&deps, &shop, "/sync/orders/support", "k-1", support).await;
    assert_eq!((status, escalated["success"].as_bool()), (StatusCode::OK, Some(true)), "{escalated}");
    assert_eq!(assignee().await.as_deref(), Some("assistant"));

    // Two concurrent identical keyed requests execute once.
    let before = queue.sent().len();
    let (a, b) = tokio::join!(
        call_keyed(&deps, &shop, "/sync/orders/assign", "k-2", assign("eli")),
        call_keyed(&deps, &shop, "/sync/orders/assign", "k-2", assign("eli")),
    );
    for (status, answer) in [&a, &b] {
        assert!(
            *status == StatusCode::OK || answer["code"] == "REQUEST_IN_PROGRESS",
            "either the answer or in progress: {status} {answer}"
        );
    }
    assert_eq!(queue.sent().len(), before + 1, "one execution, one hand-off");
    assert_eq!(assignee().await.as_deref(), Some("eli"));
}

#[tokio::test]
async fn action_failures_answer_the_v1_2_envelope_with_their_status() {
    let store = Arc::new(MemoryStore::new());
    let (deps, queue) = dashboard(store.clone(), Arc::new(FixedClock::new(now())));
    let shop = unique_shop("envelope");
    save(store.as_ref(), order(&shop, "1001", 0)).await;
    let cases = [
        (
            "/sync/orders/assign",
            serde_json::json!({ "shop_domain": shop.as_str(), "orderIds": ["#404"], "assignee": "sam" }),
            StatusCode::NOT_FOUND,
            "ORDER_NOT_FOUND",
        ),
        (
            "/sync/orders/assign",
            serde_json::json!({ "shop_domain": shop.as_str(), "orderIds": ["1001"], "assignee": "" }),
            StatusCode::BAD_REQUEST,
            "INVALID_ASSIGNEE",
        ),
        (
            "/sync/orders/returns",
            serde_json::json!({ "shop_domain": shop.as_str(), "orderId": "1001", "action": "approve_refund" }),
            StatusCode::CONFLICT,
            "NO_RETURN",
        ),
        // Free text is bounded, so no request can grow an order item or an outbound message without limit.
        (
            "/sync/orders/assign",
            serde_json::json!({ "shop_domain": shop.as_str(), "orderIds": ["1001"], "assignee": "x".repeat(101) }),
            StatusCode::BAD_REQUEST,
            "INVALID_ASSIGNEE",
        ),
        (
            "/sync/orders/fulfill",
            serde_json::json!({ "shop_domain": shop.as_str(), "orderIds": ["1001"], "tracking": { "number": "1Z", "carrier": "c".repeat(101) } }),
            StatusCode::BAD_REQUEST,
            "TEXT_TOO_LONG",
        ),
        (
            "/sync/orders/support",
            serde_json::json!({ "shop_domain": shop.as_str(), "orderId": "1001", "note": "n", "conversationId": "c".repeat(201) }),
            StatusCode::BAD_REQUEST,
            "TEXT_TOO_LONG",
        ),
        (
            "/sync/orders/support",
            serde_json::json!({ "shop_domain": shop.as_str(), "orderId": "1001", "note": "n".repeat(4001) }),
            StatusCode::BAD_REQUEST,
            "INVALID_NOTE",
        ),
        (
            "/sync/orders/returns",
            serde_json::json!({ "shop_domain": shop.as_str(), "orderId": "1001", "action": "deny", "note": "n".repeat(4001) }),
            StatusCode::BAD_REQUEST,
            "TEXT_TOO_LONG",
        ),
    ];
    for (target, body, status, code) in cases {
        let (got, answer) = call(&deps, &shop, "POST", target, Some(body)).await;
        assert_eq!(got, status, "{answer}");
        assert_eq!(answer["success"], false);
        assert_eq!(answer["code"], code);
        assert_eq!(answer["updatedOrders"], serde_json::json!([]));
        assert!(answer["message"].is_string() && answer["error"] == answer["message"], "{answer}");
    }
    assert!(queue.sent().is_empty());
}

#[tokio::test]
async fn a_support_escalation_stays_deferred_and_visible_until_a_support_destination_exists() {
    let env = TestEnv::new().await;
    let shop = unique_shop("support-deferred");
    env.deliver(&shop, "orders/create", "c", &integration_tests::demo_event("orders-create-1001.json")).await;
    env.drain_ingest().await;
    let token = format!("Bearer {}", integration_tests::token_for(&shop));
    let body =
        serde_json::json!({ "shop_domain": shop.as_str(), "orderId": "1001", "note": "Customer asks where it is" });
    let response = env
        .request("POST", "/sync/orders/support", &[("Authorization", token.as_str())], body.to_string().as_bytes())
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    env.drain(Stage::Outbound(shared::domain::Integration::Shopify), 0).await;

    let detail = json_body(&env.get_as(&shop, "/sync/orders/1001").await);
    let deliveries = detail["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 1, "{detail}");
    assert_eq!(
        (deliveries[0]["kind"].as_str(), deliveries[0]["outcome"].as_str()),
        (Some("support_escalation"), Some("deferred"))
    );
    assert!(deliveries[0]["detail"].as_str().unwrap().contains("no support destination"));
}
