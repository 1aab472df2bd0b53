//! Webhook → SQS → ingest worker → DynamoDB → `GET /sync/orders`, against moto.

use integration_tests::{TestEnv, demo_event, fixture, json_body};
use lambda_http::http::StatusCode;
use shared::{
    domain::{ChannelOrderId, Order, OrderKey, ShopDomain, TimelineEvent},
    integrations::shopify::webhook,
    store::{OrderQuery, OrderStore, Seek, dynamo::DynamoStore},
    testing::unique_shop,
};

async fn store(env: &TestEnv) -> DynamoStore {
    let sdk = shared::aws::sdk_config().await;
    DynamoStore::new(shared::aws::dynamodb(&sdk), env.stack.settings.table_name.clone())
}

async fn all_orders(store: &DynamoStore, shop: &ShopDomain) -> Vec<Order> {
    let listed = store.list_orders(shop, &OrderQuery::default(), &Seek::First, 100).await.unwrap();
    listed.into_iter().map(|l| l.order).collect()
}

async fn timeline(store: &DynamoStore, shop: &ShopDomain, key: &OrderKey) -> Vec<TimelineEvent> {
    store.order_detail(shop, key, 10).await.unwrap().map(|(_, t)| t).unwrap_or_default()
}

fn key(id: &str) -> OrderKey {
    OrderKey::shopify(ChannelOrderId::parse(id).unwrap())
}

#[tokio::test]
async fn a_webhook_becomes_a_listed_order_and_an_update_changes_it() {
    let env = TestEnv::new().await;
    let shop = unique_shop("flow");

    let response = env.deliver(&shop, "orders/create", "wh-1", &demo_event("orders-create-1001.json")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(json_body(&response)["status"], "accepted");
    assert_eq!(env.drain_ingest().await, 1);

    let list = env.get_as(&shop, &format!("/sync/orders?shop_domain={shop}")).await;
    assert_eq!(list.status(), StatusCode::OK);
    let body = json_body(&list);
    let orders = body["orders"].as_array().unwrap();
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0]["id"], "gid://shopify/Order/5601234560001");
    assert_eq!(orders[0]["name"], "#1001");
    assert_eq!(orders[0]["channel"], "shopify");
    assert_eq!(orders[0]["financialStatus"], "pending");
    assert_eq!(orders[0]["fulfillmentStatus"], "unfulfilled");
    assert_eq!(orders[0]["total"]["amount"], "113.00");
    assert_eq!(body["next"], serde_json::Value::Null);
    // `shop_domain` is optional on GET routes: the session token names the shop.
    let without = env.get_as(&shop, "/sync/orders").await;
    assert_eq!(without.status(), StatusCode::OK);
    assert_eq!(json_body(&without)["orders"], body["orders"]);
    let detail = env.get_as(&shop, "/sync/orders/1001").await;
    assert_eq!((detail.status(), json_body(&detail)["order"]["name"].clone()), (StatusCode::OK, "#1001".into()));
    assert_eq!(env.get_as(&shop, "/sync/orders/alerts").await.status(), StatusCode::OK);

    env.deliver(&shop, "orders/updated", "wh-2", &demo_event("orders-updated-1001.json")).await;
    assert_eq!(env.drain_ingest().await, 1);
    let body = json_body(&env.get_as(&shop, &format!("/sync/orders?shop_domain={shop}")).await);
    assert_eq!(body["orders"][0]["financialStatus"], "paid");
    assert_eq!(body["orders"][0]["fulfillmentStatus"], "fulfilled");

    let store = store(&env).await;
    let order = store.get_order(&shop, &key("5601234560001")).await.unwrap().unwrap();
    assert_eq!(order.version, 2);
    let events: Vec<String> =
        timeline(&store, &shop, &key("5601234560001")).await.into_iter().map(|e| e.event).collect();
    assert_eq!(events, ["payment", "fulfillment", "order_created"]);
}

#[tokio::test]
async fn the_same_webhook_three_times_gives_one_message_one_order_and_one_event() {
    let env = TestEnv::new().await;
    let shop = unique_shop("dupes");
    let body = demo_event("orders-create-1001.json");

    let mut statuses = Vec::new();
    for _ in 0..3 {
        let response = env.deliver(&shop, "orders/create", "same-delivery", &body).await;
        assert_eq!(response.status(), StatusCode::OK);
        statuses.push(json_body(&response)["status"].as_str().unwrap().to_owned());
    }
    assert_eq!(statuses, ["accepted", "duplicate", "duplicate"]);
    assert_eq!(env.drain_ingest().await, 1, "a duplicate delivery is not enqueued twice");

    // Shopify may also resend the same event under new delivery ids: the worker dedupes those.
    for id in ["retry-a", "retry-b"] {
        env.deliver(&shop, "orders/create", id, &body).await;
    }
    assert_eq!(env.drain_ingest().await, 2);

    let store = store(&env).await;
    assert_eq!(all_orders(&store, &shop).await.len(), 1);
    let timeline = timeline(&store, &shop, &key("5601234560001")).await;
    assert_eq!(timeline.len(), 1, "{timeline:?}");
    assert_eq!(timeline[0].event, "order_created");
}

#[tokio::test]
async fn an_older_update_after_a_newer_one_keeps_the_newer_state() {
    let env = TestEnv::new().await;
    let shop = unique_shop("order");
    env.deliver(&shop, "orders/updated", "newer", &demo_event("orders-updated-1001.json")).await;
    env.drain_ingest().await;
    env.deliver(&shop, "orders/create", "older", &demo_event("orders-create-1001.json")).await;
    env.drain_ingest().await;

    let order = store(&env).await.get_order(&shop, &key("5601234560001")).await.unwrap().unwrap();
    assert_eq!(order.financial_status.as_str(), "paid");
    assert_eq!(order.fulfillment_status.as_str(), "fulfilled");
    assert_eq!(order.version, 1, "the older revision wrote nothing");
}

#[tokio::test]
async fn a_bad_or_missing_hmac_is_401_and_nothing_is_enqueued() {
    let env = TestEnv::new().await;
    let shop = unique_shop("hmac");
    let body = demo_event("orders-create-1001.json");
    let signature = webhook::sign(&body, &shared::config::Secret::new("someone-else"));

    let forged = env.deliver_signed(&shop, "orders/create", "forged", &body, &signature).await;
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(json_body(&forged)["code"], "HMAC_INVALID");

    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    let good_signature = webhook::sign(&body, &shared::config::Secret::new(integration_tests::API_SECRET));
    let response = env.deliver_signed(&shop, "orders/create", "tampered", &tampered, &good_signature).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    let response = env.request("POST", "/webhooks/shopify", &[("X-Shopify-Topic", "orders/create")], &body).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(json_body(&response)["code"], "HMAC_MISSING");

    assert_eq!(env.drain_ingest().await, 0);
    assert!(all_orders(&store(&env).await, &shop).await.is_empty());
}

#[tokio::test]
async fn the_previous_secret_still_verifies_during_a_rotation() {
    let env = TestEnv::new().await;
    let shop = unique_shop("rotation");
    let body = demo_event("orders-create-1002.json");
    let signature = webhook::sign(&body, &shared::config::Secret::new("dev-previous-secret"));
    let response = env.deliver_signed(&shop, "orders/create", "rotated", &body, &signature).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(env.drain_ingest().await, 1);
}

#[tokio::test]
async fn missing_headers_are_400_and_name_what_is_missing() {
    let env = TestEnv::new().await;
    let body = b"{}";
    let signature = webhook::sign(body, &shared::config::Secret::new(integration_tests::API_SECRET));
    let response = env.request("POST", "/webhooks/shopify", &[("X-Shopify-Hmac-Sha256", &signature)], body).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let error = json_body(&response);
    assert_eq!(error["code"], "MISSING_HEADERS");
    assert!(error["error"].as_str().unwrap().contains("x-shopify-webhook-id"), "{error}");
    assert_eq!(env.drain_ingest().await, 0);
}

#[tokio::test]
async fn the_dashboard_serves_only_the_token_shop_and_rejects_bad_parameters() {
    let env = TestEnv::new().await;
    let shop = unique_shop("auth");
    let other = unique_shop("intruder");
    env.deliver(&shop, "orders/create", "a", &demo_event("orders-create-1002.json")).await;
    env.drain_ingest().await;
    let list = format!("/sync/orders?shop_domain={shop}");

    let cases: Vec<(lambda_http::Response<lambda_http::Body>, StatusCode, &str)> = vec![
        (env.request("GET", &list, &[], b"").await, StatusCode::UNAUTHORIZED, "TOKEN_MISSING"),
        (
            env.request("GET", &list, &[("Authorization", "Bearer x.y.z")], b"").await,
            StatusCode::UNAUTHORIZED,
            "TOKEN_INVALID",
        ),
        (env.get_as(&other, &list).await, StatusCode::FORBIDDEN, "SHOP_MISMATCH"),
        (
            env.get_as(&shop, "/sync/orders?shop_domain=not%20a%20shop").await,
            StatusCode::BAD_REQUEST,
            "INVALID_SHOP_DOMAIN",
        ),
        (env.get_as(&shop, &format!("{list}&pageSize=0")).await, StatusCode::BAD_REQUEST, "INVALID_PAGE_SIZE"),
        (env.get_as(&shop, &format!("{list}&pageSize=251")).await, StatusCode::BAD_REQUEST, "INVALID_PAGE_SIZE"),
        (env.get_as(&shop, &format!("{list}&cursor=abc")).await, StatusCode::BAD_REQUEST, "INVALID_CURSOR"),
        (env.get_as(&shop, &format!("{list}&tab=archived")).await, StatusCode::BAD_REQUEST, "INVALID_TAB"),
        (env.get_as(&shop, &format!("{list}&date_start=yesterday")).await, StatusCode::BAD_REQUEST, "INVALID_DATE"),
        (
            env.get_as(&shop, &format!("{list}&date_start=2026-02-01&date_end=2026-01-01")).await,
            StatusCode::BAD_REQUEST,
            "INVALID_DATE",
        ),
        (env.get_as(&shop, &format!("{list}&direction=sideways")).await, StatusCode::BAD_REQUEST, "INVALID_DIRECTION"),
        (env.get_as(&shop, &format!("{list}&status=lost")).await, StatusCode::BAD_REQUEST, "INVALID_STATUS"),
        (env.get_as(&shop, &format!("{list}&priority=urgent")).await, StatusCode::BAD_REQUEST, "INVALID_PRIORITY"),
        (env.get_as(&shop, "/sync/nowhere").await, StatusCode::NOT_FOUND, "NOT_FOUND"),
    ];
    for (response, status, code) in cases {
        assert_eq!(response.status(), status);
        assert_eq!(json_body(&response)["code"], code);
    }

    // The other shop sees its own (empty) list, never this shop's orders.
    let theirs = json_body(&env.get_as(&other, &format!("/sync/orders?shop_domain={other}")).await);
    assert_eq!(theirs["orders"].as_array().unwrap().len(), 0);
    let expired = shared::integrations::shopify::session::sign(
        &shared::integrations::shopify::session::claims_for(
            &shop,
            integration_tests::API_KEY,
            "7",
            chrono::Utc::now() - chrono::Duration::hours(1),
            60,
        ),
        &shared::config::Secret::new(integration_tests::API_SECRET),
    );
    let response = env.request("GET", &list, &[("Authorization", &format!("Bearer {expired}"))], b"").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn pages_follow_the_next_cursor_without_gaps_or_duplicates() {
    let env = TestEnv::new().await;
    let shop = unique_shop("pages");
    for (i, file) in
        ["orders-create-1001.json", "orders-create-1002.json", "orders-create-1003.json", "orders-create-1004.json"]
            .iter()
            .enumerate()
    {
        env.deliver(&shop, "orders/create", &format!("p{i}"), &demo_event(file)).await;
    }
    env.drain_ingest().await;
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let target = match &cursor {
            None => format!("/sync/orders?shop_domain={shop}&pageSize=3"),
            Some(c) => format!("/sync/orders?shop_domain={shop}&pageSize=3&cursor={c}"),
        };
        let body = json_body(&env.get_as(&shop, &target).await);
        names.extend(body["orders"].as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap().to_owned()));
        match body["next"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    names.sort();
    assert_eq!(names, ["#1001", "#1002", "#1003", "#1004"]);
}

#[tokio::test]
async fn every_order_sample_in_the_shared_fixtures_goes_through_the_real_path() {
    let Some(dir) = fixture("shopify/webhooks") else {
        return;
    };
    let env = TestEnv::new().await;
    let shop = unique_shop("fixtures");
    let mut delivered = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let body = std::fs::read(&path).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let is_order = value["admin_graphql_api_id"].as_str().is_some_and(|id| id.starts_with("gid://shopify/Order/"));
        if !is_order {
            continue;
        }
        shared::integrations::shopify::model::ShopifyOrder::parse(&value, shop.clone())
            .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        let response = env.deliver(&shop, "orders/updated", &name, &body).await;
        assert_eq!(response.status(), StatusCode::OK, "{name}");
        delivered += 1;
    }
    assert!(delivered >= 4, "expected the orders/* samples, found {delivered}");
    assert_eq!(env.drain_ingest().await, delivered);
    // The published samples are one order, so they collapse into one stored order.
    let orders = all_orders(&store(&env).await, &shop).await;
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0].name.as_str(), "#9999");
    assert_eq!(orders[0].total.amount, "404.95");
}

#[tokio::test]
async fn the_published_hmac_vectors_verify() {
    let Some(path) = fixture("shopify/hmac_test_vectors.json") else {
        return;
    };
    let vectors: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let vectors = vectors["vectors"].as_array().unwrap();
    assert!(!vectors.is_empty());
    for vector in vectors {
        let secret = shared::config::Secret::new(vector["secret"].as_str().unwrap());
        let body = vector["body"].as_str().unwrap().as_bytes();
        let expected = vector["expected_base64"].as_str().unwrap();
        assert_eq!(webhook::sign(body, &secret), expected, "{}", vector["name"]);
        assert!(webhook::verify_hmac(body, expected, [&shared::config::Secret::new("other"), &secret]));
        assert!(!webhook::verify_hmac(body, expected, [&shared::config::Secret::new("other")]));
    }
}

#[tokio::test]
async fn fulfilment_refund_and_edit_webhooks_land_on_the_order_once_each() {
    let Some(dir) = fixture("shopify/webhooks") else { return };
    let env = TestEnv::new().await;
    let shop = unique_shop("topics");
    let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
    env.deliver(&shop, "orders/create", "create", &read("orders_create.json")).await;
    assert_eq!(env.drain_ingest().await, 1);
    for round in 0..2 {
        for (topic, file) in [
            ("fulfillments/create", "fulfillments_create.json"),
            ("refunds/create", "refunds_create.json"),
            ("orders/edited", "orders_edited.json"),
        ] {
            // Each round is a new delivery id: the worker, not the receipt, must make it idempotent.
            let response = env.deliver(&shop, topic, &format!("{topic}-{round}"), &read(file)).await;
            assert_eq!(response.status(), StatusCode::OK);
        }
    }
    let unknown = env.deliver(&shop, "collections/create", "unknown", b"{\"id\":1}").await;
    assert_eq!(unknown.status(), StatusCode::OK, "an unknown topic is acknowledged, never retried");
    assert_eq!(env.drain_ingest().await, 7);

    let store = store(&env).await;
    let (order, events) = store.order_detail(&shop, &key("820982911946154508"), 10).await.unwrap().unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    for kind in ["fulfillment", "refund", "order_edited"] {
        assert_eq!(kinds.iter().filter(|k| **k == kind).count(), 1, "{kind} once: {kinds:?}");
    }
    let shipment = order.shipment().unwrap();
    assert_eq!(shipment.tracking_number.as_deref(), Some("1z827wk74630"));
    assert_eq!(shipment.carrier.as_deref(), Some("UPS"));
    let refund = events.iter().find(|e| e.event == "refund").unwrap();
    assert_eq!(refund.details, "Refund issued (75.00, 10.00)");
}

#[tokio::test]
async fn every_whole_order_topic_goes_through_the_ordering_guard() {
    let env = TestEnv::new().await;
    let shop = unique_shop("order-topics");
    for (i, topic) in
        ["orders/paid", "orders/cancelled", "orders/fulfilled", "orders/partially_fulfilled"].iter().enumerate()
    {
        env.deliver(&shop, topic, &format!("t{i}"), &demo_event("orders-create-1002.json")).await;
    }
    env.deliver(&shop, "orders/updated", "newer", &demo_event("orders-updated-1001.json")).await;
    env.deliver(&shop, "orders/paid", "older", &demo_event("orders-create-1001.json")).await;
    env.drain_ingest().await;
    let store = store(&env).await;
    let orders = all_orders(&store, &shop).await;
    assert_eq!(orders.len(), 2);
    let first = store.find_by_name(&shop, "#1001").await.unwrap().unwrap();
    assert_eq!(
        (first.financial_status.as_str(), first.version),
        ("paid", 1),
        "the older paid revision changed nothing"
    );
    assert_eq!(
        timeline(&store, &shop, &key("5601234560002")).await.len(),
        3,
        "one revision: created, payment, fulfillment"
    );
}

#[tokio::test]
async fn every_fixture_webhook_passes_the_real_handler_and_worker_with_a_valid_hmac() {
    let Some(dir) = fixture("shopify/webhooks") else {
        return;
    };
    let env = TestEnv::new().await;
    let shop = unique_shop("every-fixture");
    let mut files: Vec<std::path::PathBuf> = Vec::new();
    for sub in [dir.clone(), dir.join("legacy")] {
        for entry in std::fs::read_dir(&sub).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                files.push(path);
            }
        }
    }
    files.sort();
    // Orders first, so the order-side topics find their order.
    files.sort_by_key(|p| !p.file_name().unwrap().to_str().unwrap().starts_with("orders_create"));
    for (i, path) in files.iter().enumerate() {
        // `orders_create.json` → `orders/create`; `legacy/fulfillments_create.2014….json` → `fulfillments/create`.
        let stem = path.file_name().unwrap().to_str().unwrap().split('.').next().unwrap().to_owned();
        let topic = stem.replacen('_', "/", 1);
        // The samples are templates naming `{shop}.myshopify.com`: a real delivery names its own shop.
        let body = std::fs::read_to_string(path).unwrap().replace("{shop}.myshopify.com", shop.as_str());
        let response = env.deliver(&shop, &topic, &format!("fixture-{i}"), body.as_bytes()).await;
        assert_eq!(response.status(), StatusCode::OK, "{topic} ({})", path.display());
        let (received, failed) = env.stack.poll_once(shared::queue::Stage::Ingest, 0).await.unwrap();
        assert_eq!((received, failed), (1, 0), "{topic} is processed without failure");
    }
    assert!(files.len() >= 12, "found {} fixture webhooks", files.len());
}

#[tokio::test]
async fn two_revisions_in_the_same_second_are_settled_by_a_fresh_read_and_an_identical_one_is_a_no_op() {
    use wiremock::{Mock, MockServer, ResponseTemplate, matchers::body_string_contains};
    let server = MockServer::start().await;
    let env = TestEnv::with_shopify(&format!("{}/{{shop}}", server.uri())).await;
    let shop = unique_shop("tie");
    env.install(&shop, "shpat_tie", &["read_orders"]).await;
    let second: serde_json::Value = serde_json::from_slice(&demo_event("orders-updated-1001.json")).unwrap();
    let mut first = second.clone();
    first["financial_status"] = "authorized".into();
    first["fulfillment_status"] = serde_json::Value::Null;
    Mock::given(body_string_contains("query OrderRevision"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({ "data": { "order": {
            "id": "gid://shopify/Order/5601234560001", "legacyResourceId": "5601234560001", "name": "#1001",
            "createdAt": "2026-11-20T14:15:00Z", "updatedAt": "2026-11-21T16:40:00Z", "cancelledAt": null,
            "currencyCode": "USD", "email": "alex.rivera@example.com",
            "displayFinancialStatus": "PAID", "displayFulfillmentStatus": "FULFILLED",
            "totalPriceSet": { "shopMoney": { "amount": "113.00", "currencyCode": "USD" } },
            "customer": null, "shippingAddress": null,
            "lineItems": { "pageInfo": { "hasNextPage": false, "endCursor": null }, "nodes": [
                { "id": "gid://shopify/LineItem/13601234560011", "title": "Demo Hoodie - Medium / Navy",
                  "sku": "DEMO-HOOD-M-NVY", "quantity": 1, "variant": { "id": "gid://shopify/ProductVariant/4801234560101" },
                  "originalUnitPriceSet": { "shopMoney": { "amount": "65.00" } } } ] },
            "fulfillments": [] } } })))
        .mount(&server)
        .await;
    let revisions = || async { integration_tests::graphql_requests(&server, "query OrderRevision").await };

    env.deliver(&shop, "orders/updated", "first", first.to_string().as_bytes()).await;
    env.drain_ingest().await;
    env.deliver(&shop, "orders/updated", "first-again", first.to_string().as_bytes()).await;
    env.drain_ingest().await;
    assert!(revisions().await.is_empty(), "the same content with the same stamp is a no-op");
    let order = store(&env).await.get_order(&shop, &key("5601234560001")).await.unwrap().unwrap();
    assert_eq!((order.financial_status.as_str(), order.version), ("authorized", 1));

    // Another revision of the same second: not dropped, settled by reading the order again.
    env.deliver(&shop, "orders/updated", "second", second.to_string().as_bytes()).await;
    env.drain_ingest().await;
    let reads = revisions().await;
    assert_eq!(reads.len(), 1);
    assert_eq!(integration_tests::graphql_variables(&reads[0])["id"], "gid://shopify/Order/5601234560001");
    let order = store(&env).await.get_order(&shop, &key("5601234560001")).await.unwrap().unwrap();
    assert_eq!(order.financial_status.as_str(), "paid");
    assert_eq!(order.fulfillment_status.as_str(), "fulfilled");
    assert_eq!(order.version, 2);
    let events: Vec<String> =
        timeline(&store(&env).await, &shop, &key("5601234560001")).await.into_iter().map(|e| e.event).collect();
    assert!(events.contains(&"payment".to_owned()), "{events:?}");
}
