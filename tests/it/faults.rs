//! Issue 13 (second half): faults and limits — permanent store errors, big webhooks, big orders, big
//! shops, the alert stream's limits.

use integration_tests::{TestEnv, demo_event, json_body};
use lambda_http::http::StatusCode;
use serde_json::json;
use shared::{
    domain::{ChannelOrderId, LineItem, Money, OrderKey},
    error::{StoreError, WorkerError},
    store::{OrderStore, dynamo::DynamoStore},
    testing::{order, unique_shop},
};

async fn store(env: &TestEnv) -> DynamoStore {
    let sdk = shared::aws::sdk_config().await;
    DynamoStore::new(shared::aws::dynamodb(&sdk), env.stack.settings.table_name.clone())
}

/// An order DynamoDB can never store (over its 400 KB item limit) is a permanent failure for the worker,
/// not a transient one retried until the dead-letter queue.
#[tokio::test]
async fn an_item_over_dynamodbs_limit_is_a_permanent_store_error() {
    let env = TestEnv::new().await;
    let store = store(&env).await;
    let shop = unique_shop("too-big");
    let mut big = order(&shop, "9100", 1);
    big.line_items = (0..600)
        .map(|i| LineItem {
            id: format!("line-{i}"),
            title: "x".repeat(1_000),
            sku: None,
            variant_id: None,
            quantity: 1,
            price: Money::new("1.00", "USD").unwrap(),
            source: None,
            source_order_item_id: None,
        })
        .collect();
    big.version = 1;
    let error = store.write_order(&big, None, &[]).await.unwrap_err();
    assert!(matches!(error, StoreError::Rejected { .. }), "{error:?}");
    assert!(!error.is_transient());
    assert!(matches!(WorkerError::from(error), WorkerError::Permanent(_)));
    assert!(store.get_order(&shop, &big.key()).await.unwrap().is_none());
}

/// `orders/create` for order `id`, padded with a field the mapping ignores to about `bytes` bytes.
fn padded_order(id: u64, bytes: usize) -> Vec<u8> {
    let mut body: serde_json::Value = serde_json::from_slice(&demo_event("orders-create-1001.json")).unwrap();
    body["id"] = serde_json::json!(id);
    body["admin_graphql_api_id"] = serde_json::json!(format!("gid://shopify/Order/{id}"));
    body["note_attributes"] = serde_json::json!([{ "name": "padding", "value": "p".repeat(bytes) }]);
    serde_json::to_vec(&body).unwrap()
}

/// Bodies larger than the queue accepts (256 KiB) travel as claim checks: a 300 KB and a 1.1 MB signed
/// delivery are both 200 and land; a redelivery of the big one is a duplicate.
#[tokio::test]
async fn webhooks_larger_than_the_queue_accepts_are_claim_checked_and_land() {
    let env = TestEnv::new().await;
    let store = store(&env).await;
    let shop = unique_shop("big-webhook");
    let deliveries = [(5_601_234_570_001u64, 300_000usize, "wh-300k"), (5_601_234_570_002, 1_100_000, "wh-1m")];
    for (id, bytes, webhook_id) in deliveries {
        let body = padded_order(id, bytes);
        assert!(body.len() >= bytes);
        let response = env.deliver(&shop, "orders/create", webhook_id, &body).await;
        assert_eq!(response.status(), StatusCode::OK, "{} bytes", body.len());
        assert_eq!(json_body(&response)["status"], "accepted");
    }
    let again = env.deliver(&shop, "orders/create", "wh-1m", &padded_order(5_601_234_570_002, 1_100_000)).await;
    assert_eq!(json_body(&again)["status"], "duplicate");
    assert_eq!(env.drain_ingest().await, 2);
    for (id, _, _) in deliveries {
        let key = OrderKey::shopify(ChannelOrderId::parse(&id.to_string()).unwrap());
        let stored = store.get_order(&shop, &key).await.unwrap();
        assert!(stored.is_some_and(|o| o.line_items.len() == 2), "order {id} landed with its lines");
    }
    let dead = env.alerts(&shop).await.into_iter().filter(|a| a.kind == shared::domain::AlertKind::DeadLetter).count();
    assert_eq!(dead, 0, "nothing was dead-lettered");
}

/// A poll copy newer than the stored order replaces it, so it must carry every line: a 25-line order
/// from a webhook, then a newer poll page whose first 20 lines say `hasNextPage` → 25 lines stored; its
/// 10 fulfilments (the page's limit) are read in full → 12.
#[tokio::test]
async fn a_newer_poll_copy_of_a_big_order_keeps_every_line() {
    use shared::{
        domain::{
            Integration,
            poll::{PollWindow, WindowMode},
        },
        queue::{Message, PollJob, PollTask, Stage},
    };
    use wiremock::{
        Mock, MockServer, ResponseTemplate,
        matchers::{body_string_contains, method},
    };
    let server = MockServer::start().await;
    let env = TestEnv::with_shopify(&format!("{}/{{shop}}", server.uri())).await;
    let shop = unique_shop("big-order");
    env.install(&shop, "shpat_test_token", &["read_orders", "read_all_orders"]).await;

    let line_id = |i: u64| 13_601_234_590_000 + i;
    let mut rest: serde_json::Value = serde_json::from_slice(&demo_event("orders-create-1002.json")).unwrap();
    let template = rest["line_items"][0].clone();
    rest["line_items"] = (0..25)
        .map(|i| {
            let mut line = template.clone();
            line["id"] = json!(line_id(i));
            line["admin_graphql_api_id"] = json!(format!("gid://shopify/LineItem/{}", line_id(i)));
            line
        })
        .collect();
    let response = env.deliver(&shop, "orders/create", "wh-25", &serde_json::to_vec(&rest).unwrap()).await;
    assert_eq!(response.status(), StatusCode::OK);
    env.drain_ingest().await;
    let key = OrderKey::shopify(ChannelOrderId::parse("5601234560002").unwrap());
    assert_eq!(env.stack.shops.get_order(&shop, &key).await.unwrap().unwrap().line_items.len(), 25);

    let file: serde_json::Value = serde_json::from_slice(
        &std::fs::read(integration_tests::root().join("events/shopify-admin/orders.json")).unwrap(),
    )
    .unwrap();
    let mut node = file["orders"].as_array().unwrap().iter().find(|o| o["name"] == "#1002").unwrap().clone();
    let gql_line = node["lineItems"]["nodes"][0].clone();
    let gql_lines = |range: std::ops::Range<u64>| -> Vec<serde_json::Value> {
        range
            .map(|i| {
                let mut line = gql_line.clone();
                line["id"] = json!(format!("gid://shopify/LineItem/{}", line_id(i)));
                line
            })
            .collect()
    };
    // Ten fulfilments: the page's limit, so there may be more; Shopify has twelve.
    let fulfillment = node["fulfillments"][0].clone();
    let fulfillments = |count: u64| -> Vec<serde_json::Value> {
        (0..count)
            .map(|i| {
                let mut f = fulfillment.clone();
                f["id"] = json!(format!("gid://shopify/Fulfillment/{}", 5_101_234_590_000 + i));
                f
            })
            .collect()
    };
    node["fulfillments"] = json!(fulfillments(10));
    node["updatedAt"] = json!("2026-11-21T09:00:00Z");
    node["lineItems"] =
        json!({ "pageInfo": { "hasNextPage": true, "endCursor": "line-20" }, "nodes": gql_lines(0..20) });
    let cost = json!({ "requestedQueryCost": 100, "actualQueryCost": 40,
        "throttleStatus": { "maximumAvailable": 1000.0, "currentlyAvailable": 900.0, "restoreRate": 100.0 } });
    Mock::given(method("POST"))
        .and(body_string_contains("query OrdersPage"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": { "orders": { "pageInfo": { "hasNextPage": false, "endCursor": "end" },
                                  "edges": [{ "cursor": "at-1002", "node": node }] } },
            "extensions": { "cost": cost }
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(body_string_contains("query OrderLineItems"))
        .and(body_string_contains("\"after\":\"line-20\""))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": { "order": { "lineItems": {
                "pageInfo": { "hasNextPage": false, "endCursor": "line-25" }, "nodes": gql_lines(20..25) } } },
            "extensions": { "cost": cost }
        })))
        .mount(&server)
        .await;

    Mock::given(method("POST"))
        .and(body_string_contains("query OrderFulfillments"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": { "order": { "fulfillments": fulfillments(12) } },
            "extensions": { "cost": cost }
        })))
        .mount(&server)
        .await;

    let at = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap().to_utc();
    let window = PollWindow {
        mode: WindowMode::Incremental,
        from: at("2026-11-20T00:00:00Z"),
        until: at("2026-11-22T00:00:00Z"),
    };
    let stage = Stage::Poll(Integration::Shopify);
    let job = PollJob {
        integration: Integration::Shopify,
        shop: shop.clone(),
        origin: "tick-big".into(),
        task: PollTask::Orders { window, after: None },
    };
    env.enqueue(stage, &Message::Poll(job), 0).await;
    env.drain(stage, 0).await;

    let stored = env.stack.shops.get_order(&shop, &key).await.unwrap().unwrap();
    assert_eq!(stored.updated_at, at("2026-11-21T09:00:00Z"), "the newer poll copy was stored");
    assert_eq!(stored.line_items.len(), 25, "no line was dropped");
    assert_eq!(stored.fulfillments.len(), 12, "no fulfilment was dropped");
}

fn inbound(shop: &shared::domain::ShopDomain, topic: &str, payload: serde_json::Value) -> shared::queue::Message {
    shared::queue::Message::Inbound(shared::queue::Inbound {
        source: shared::domain::Integration::Shopify,
        shop: shop.clone(),
        topic: topic.into(),
        delivery_id: format!("{topic}-{shop}"),
        event_id: None,
        occurred_at: None,
        payload,
        payload_ref: None,
    })
}

/// `count` orders of `shop`, seeded straight into the table.
async fn seed(store: &DynamoStore, shop: &shared::domain::ShopDomain, count: u64) -> Vec<shared::domain::Order> {
    let orders: Vec<_> = (1..=count)
        .map(|i| {
            let mut o = order(shop, &(700_000 + i).to_string(), 1);
            o.version = 1;
            o
        })
        .collect();
    store.seed_orders(&orders).await.unwrap();
    orders
}

/// `shop/redact` for a shop of 3,000 orders and another shop's order in one batch: the batch ends well
/// within the worker's timeout, the other order lands, and the erasure goes on as a continuation on the
/// queue. (moto answers a query in time proportional to the whole table, so the test stops there;
/// `a_shop_erasure_continues_on_the_queue_until_the_shop_is_gone` follows continuations to the end.)
#[tokio::test]
async fn a_large_shops_redact_never_holds_up_its_batch() {
    use shared::{
        queue::{Stage, schema},
        store::{OrderQuery, Seek},
    };
    let env = TestEnv::new().await;
    let store = store(&env).await;
    let big = unique_shop("redact-big");
    let other = unique_shop("redact-other");
    env.install(&big, "shpat_big", &["read_orders"]).await;
    seed(&store, &big, 3_000).await;
    env.enqueue(Stage::Ingest, &inbound(&big, "shop/redact", json!({ "shop_id": 1, "shop_domain": big.as_str() })), 0)
        .await;
    let create: serde_json::Value = serde_json::from_slice(&demo_event("orders-create-1001.json")).unwrap();
    env.enqueue(Stage::Ingest, &inbound(&other, "orders/create", create), 0).await;

    let started = std::time::Instant::now();
    let (received, failed) = env.stack.poll_once(Stage::Ingest, 0).await.unwrap();
    let took = started.elapsed();
    assert_eq!((received, failed), (2, 0), "one batch with both records, neither failed");
    let timeout = schema::def(Stage::Ingest).unwrap().worker_timeout_seconds;
    assert!(took.as_secs() < u64::from(timeout) / 2, "the batch took {took:?}");
    let key = OrderKey::shopify(ChannelOrderId::parse("5601234560001").unwrap());
    assert!(store.get_order(&other, &key).await.unwrap().is_some(), "the other shop's order landed");
    let left = store.list_orders(&big, &OrderQuery::default(), &Seek::First, 3_000).await.unwrap().len();
    assert!(left > 0 && left < 3_000, "{left} orders left: the erasure started and goes on later");
    let continuation = env.stack.sqs.receive_message().queue_url(&env.stack.queues[&Stage::Ingest].queue).send().await;
    let bodies: Vec<String> =
        continuation.unwrap().messages.unwrap_or_default().into_iter().filter_map(|m| m.body).collect();
    assert_eq!(bodies.len(), 1, "the rest of the erasure waits on the queue");
    assert!(bodies[0].contains("shop/redact") && bodies[0].contains(big.as_str()));
}

/// Each `shop/redact` step erases a bounded chunk, hands the rest to a continuation on the ingest queue
/// when its time budget is spent, and the last step takes the rest of the shop.
#[tokio::test]
async fn a_shop_erasure_continues_on_the_queue_until_the_shop_is_gone() {
    use integration_tests::deps;
    use shared::{
        app::ingest,
        store::{OrderQuery, Seek, ShopStore},
    };
    let env = TestEnv::new().await;
    let store = store(&env).await;
    let big = unique_shop("redact-steps");
    let other = unique_shop("redact-steps-other");
    env.install(&big, "shpat_big", &["read_orders"]).await;
    let orders = seed(&store, &big, 120).await;
    seed(&store, &other, 3).await;
    // A budget spent at once: every record erases one step, then hands over.
    let mut worker = deps!(env.stack, ingest_worker);
    worker.erase_budget = std::time::Duration::ZERO;
    let redact = inbound(&big, "shop/redact", json!({ "shop_id": 1, "shop_domain": big.as_str() }));
    let mut records = 0;
    while store.shop(&big).await.unwrap().is_some() {
        ingest::process(&worker, redact.clone()).await.unwrap();
        records += 1;
        assert!(records <= 10, "the erasure never ends");
    }
    assert_eq!(records, 5, "120 orders in steps of 25");
    assert!(store.list_orders(&big, &OrderQuery::default(), &Seek::First, 10).await.unwrap().is_empty());
    assert!(store.get_order(&big, &orders[119].key()).await.unwrap().is_none());
    assert_eq!(env.drain_ingest().await, 4, "four continuations were queued; replaying them is harmless");
    assert_eq!(store.list_orders(&other, &OrderQuery::default(), &Seek::First, 10).await.unwrap().len(), 3);
}

/// The functions read the Shopify app secret from Secrets Manager at cold start: the local stack hands
/// them only the secret's id, and a secret that cannot be read stops the start with its variable named.
#[tokio::test]
async fn the_app_secret_is_read_from_secrets_manager_once_at_start() {
    use shared::{
        aws::{APP_SECRET_ID_ENV, AppSecret, resolve_app_secret},
        config::{Env, ShopifyAppConfig},
    };
    let env = TestEnv::new().await;
    let mut stack_env = env.stack.env();
    assert!(stack_env.optional("SHOPIFY_API_SECRET").is_none(), "no plain secret in the functions' environment");
    assert!(stack_env.optional(APP_SECRET_ID_ENV).is_some());

    let sdk = shared::aws::sdk_config().await;
    let name = format!("{}rotating", env.stack.settings.queue_prefix);
    let secret = AppSecret { api_secret: "new-secret".into(), previous_api_secret: Some("old-secret".into()) };
    shared::aws::ensure_app_secret(&shared::aws::secretsmanager(&sdk), &name, &secret).await.unwrap();
    let vars = [("SHOPIFY_API_KEY".to_owned(), "k".to_owned()), (APP_SECRET_ID_ENV.to_owned(), name)];
    let mut resolved = resolve_app_secret(Env::from_map(vars)).await.unwrap();
    let app = ShopifyAppConfig::read(&mut resolved);
    resolved.finish().unwrap();
    let secrets: Vec<&str> = app.secrets().map(|s| s.expose()).collect();
    assert_eq!(secrets, ["new-secret", "old-secret"]);

    let missing = [(APP_SECRET_ID_ENV.to_owned(), "no-such-secret-13b".to_owned())];
    let error = resolve_app_secret(Env::from_map(missing)).await.err().unwrap();
    assert_eq!(error.invalid[0].0, APP_SECRET_ID_ENV);
    assert!(!error.to_string().contains("new-secret"));
}
