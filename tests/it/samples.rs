//! The sample events in `events/` and the real Lambda envelopes in `../shared/fixtures/lambda` drive the
//! real handlers, and the local stack serves the demo over real HTTP.

use aws_lambda_events::sqs::SqsEvent;
use integration_tests::{TestEnv, fixture, json_body, root};
use lambda_http::http::StatusCode;
use lambda_runtime::{Context, LambdaEvent};
use shared::{
    domain::ShopDomain,
    store::{OrderStore, dynamo::DynamoStore},
};

fn read(path: impl AsRef<std::path::Path>) -> String {
    std::fs::read_to_string(path.as_ref()).unwrap_or_else(|e| panic!("{}: {e}", path.as_ref().display()))
}

fn demo_shop() -> ShopDomain {
    ShopDomain::parse("demo-shop.myshopify.com").unwrap()
}

#[tokio::test]
async fn the_sample_events_work_with_their_handlers() {
    let env = TestEnv::new().await;
    let stack = &env.stack;

    let webhook =
        lambda_http::request::from_str(&read(root().join("events/shopify-webhook/orders-create.apigw-v2.json")))
            .unwrap();
    let response = shopify_webhook::handle(&integration_tests::deps!(stack, shopify_webhook), webhook).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{:?}", response.body());
    assert_eq!(env.drain_ingest().await, 1);

    let batch: SqsEvent = serde_json::from_str(&read(root().join("events/ingest-worker/sqs-batch.json"))).unwrap();
    let result = ingest_worker::handle(
        &integration_tests::deps!(stack, ingest_worker),
        LambdaEvent::new(batch, Context::default()),
    )
    .await
    .unwrap();
    assert!(result.batch_item_failures.is_empty());

    let list =
        lambda_http::request::from_str(&read(root().join("events/dashboard-api/list-orders.apigw-v2.json"))).unwrap();
    let response = dashboard_api::handle(&integration_tests::deps!(stack, dashboard_api), list).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut names: Vec<String> = json_body(&response)["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["#1001", "#1002", "#1003"]);

    let outbound: SqsEvent = serde_json::from_str(&read(root().join("events/outbound-worker/sqs-batch.json"))).unwrap();
    let result = outbound_worker::handle(
        &integration_tests::deps!(stack, outbound_worker),
        LambdaEvent::new(outbound, Context::default()),
    )
    .await
    .unwrap();
    assert!(result.batch_item_failures.is_empty());
    let store =
        DynamoStore::new(shared::aws::dynamodb(&shared::aws::sdk_config().await), stack.settings.table_name.clone());
    let first = store.find_by_name(&demo_shop(), "#1001").await.unwrap().unwrap();
    let deliveries = shared::store::DeliveryStore::deliveries(&store, &demo_shop(), &first.key()).await.unwrap();
    assert_eq!(deliveries.iter().map(|d| d.outcome.as_str()).collect::<Vec<_>>(), ["skipped"]);

    let schedule: serde_json::Value =
        serde_json::from_str(&read(root().join("events/shipment-monitor/schedule.json"))).unwrap();
    let report = shipment_monitor::handle(
        &integration_tests::deps!(stack, shipment_monitor),
        LambdaEvent::new(schedule, Context::default()),
    )
    .await
    .unwrap();
    assert!(report.shops >= 1);

    let settings =
        lambda_http::request::from_str(&read(root().join("events/fulfilment-api/get-settings.apigw-v2.json"))).unwrap();
    let response = fulfilment_api::handle(&integration_tests::deps!(stack, fulfilment_api), settings).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(json_body(&response)["settings"], serde_json::Value::Null, "MasonHub is not connected");

    // The sample's callback token is not registered: refused, nothing queued.
    let callback =
        lambda_http::request::from_str(&read(root().join("events/masonhub-webhook/order-event.apigw-v2.json")))
            .unwrap();
    let response =
        masonhub_webhook::handle(&integration_tests::deps!(stack, masonhub_webhook), callback).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(env.drain_ingest().await, 0);

    // The sample's sync-webhook secret is not configured: refused, nothing queued.
    let status_push =
        lambda_http::request::from_str(&read(root().join("events/commerceos-webhook/order-status.apigw-v2.json")))
            .unwrap();
    let response =
        commerceos_webhook::handle(&integration_tests::deps!(stack, commerceos_webhook), status_push).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(env.drain_ingest().await, 0);

    let schedule: serde_json::Value =
        serde_json::from_str(&read(root().join("events/outbound-sweeper/schedule.json"))).unwrap();
    let report = outbound_sweeper::handle(
        &integration_tests::deps!(stack, outbound_sweeper),
        LambdaEvent::new(schedule, Context::default()),
    )
    .await
    .unwrap();
    assert_eq!((report.relayed, report.retried), (0, 0), "every effect was relayed at its commit");

    let schedule: serde_json::Value =
        serde_json::from_str(&read(root().join("events/dlq-monitor/schedule.json"))).unwrap();
    let reports = dlq_monitor::handle(
        &integration_tests::deps!(stack, dlq_monitor),
        LambdaEvent::new(schedule, Context::default()),
    )
    .await
    .unwrap();
    assert!(reports.iter().all(|r| r.depth == 0));
}

/// The scheduler's and the poller's samples, with the simulator's demo orders served by wiremock.
#[tokio::test]
async fn the_poll_samples_work_with_their_handlers() {
    use wiremock::{Mock, MockServer, ResponseTemplate, matchers::body_string_contains};
    let server = MockServer::start().await;
    let orders: serde_json::Value =
        serde_json::from_str(&read(root().join("events/shopify-admin/orders.json"))).unwrap();
    Mock::given(body_string_contains("query OrdersPage"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({ "data": { "orders": {
            "pageInfo": { "hasNextPage": false, "endCursor": "5" },
            "edges": orders["orders"].as_array().unwrap().iter().map(|n| serde_json::json!({ "cursor": "c", "node": n })).collect::<Vec<_>>() } } })))
        .mount(&server)
        .await;
    let env = TestEnv::with_shopify(&format!("{}/{{shop}}", server.uri())).await;
    let stack = &env.stack;
    env.install(&demo_shop(), "shpat_demo", &["read_orders", "read_all_orders"]).await;

    for sample in ["schedule.json", "backfill.json"] {
        let event: serde_json::Value =
            serde_json::from_str(&read(root().join("events/shopify-scheduler").join(sample))).unwrap();
        let report = shopify_scheduler::handle(
            &integration_tests::deps!(stack, shopify_scheduler),
            LambdaEvent::new(event, Context::default()),
        )
        .await
        .unwrap();
        assert!(report.jobs >= 1, "{sample}");
    }

    let batch: SqsEvent = serde_json::from_str(&read(root().join("events/shopify-poller/sqs-batch.json"))).unwrap();
    let result = shopify_poller::handle(
        &integration_tests::deps!(stack, shopify_poller),
        LambdaEvent::new(batch, Context::default()),
    )
    .await
    .unwrap();
    assert!(result.batch_item_failures.is_empty());
    let store = &stack.shops;
    for name in ["#1001", "#1002", "#1003", "#1004", "#1005"] {
        assert!(store.find_by_name(&demo_shop(), name).await.unwrap().is_some(), "{name} polled");
    }
}

#[tokio::test]
async fn the_handlers_accept_the_real_lambda_envelopes() {
    let Some(dir) = fixture("lambda/aws-lambda-rust-runtime") else {
        return;
    };
    let env = TestEnv::new().await;
    let stack = &env.stack;

    // A real API Gateway v2 request, unsigned: the webhook answers 401 (or 404 off its route), never 5xx.
    for name in [
        "apigw_v2_proxy_request.json",
        "apigw_v2_proxy_request_minimal.json",
        "example-apigw-v2-request-no-authorizer.json",
    ] {
        let request = lambda_http::request::from_str(&read(dir.join(name))).unwrap();
        let response =
            shopify_webhook::handle(&integration_tests::deps!(stack, shopify_webhook), request).await.unwrap();
        assert!(matches!(response.status().as_u16(), 401 | 404 | 405), "{name}: {}", response.status());
        let request = lambda_http::request::from_str(&read(dir.join(name))).unwrap();
        let response = dashboard_api::handle(&integration_tests::deps!(stack, dashboard_api), request).await.unwrap();
        assert!(response.status().is_client_error(), "{name}: {}", response.status());
    }

    // A real SQS batch whose bodies are not our messages: every record is reported, none crashes the batch.
    let batch: SqsEvent = serde_json::from_str(&read(dir.join("example-sqs-event.json"))).unwrap();
    let ids: Vec<String> = batch.records.iter().map(|r| r.message_id.clone().unwrap()).collect();
    let result = ingest_worker::handle(
        &integration_tests::deps!(stack, ingest_worker),
        LambdaEvent::new(batch, Context::default()),
    )
    .await
    .unwrap();
    let failed: Vec<String> = result.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect();
    assert_eq!(failed, ids);

    for name in ["example-eventbridge-schedule.json", "example-eventbridge-event-obj.json"] {
        let schedule: serde_json::Value = serde_json::from_str(&read(dir.join(name))).unwrap();
        dlq_monitor::handle(
            &integration_tests::deps!(stack, dlq_monitor),
            LambdaEvent::new(schedule, Context::default()),
        )
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn the_local_stack_seeds_the_demo_over_http_and_lists_it_with_the_printed_token() {
    let env = TestEnv::new().await;
    let stack = env.stack.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(local_stack::serve(stack.clone(), listener));
    let workers = tokio::spawn(local_stack::poll_forever(stack.clone()));

    assert_eq!(local_stack::seed_demo(&base_url, &stack.settings).await.unwrap(), 5);
    let curl = local_stack::demo_curl(&stack.settings, &base_url, 1);
    let token = curl.split("Bearer ").nth(1).unwrap().split('\'').next().unwrap().to_owned();
    let url = curl.rsplit(' ').next().unwrap().trim_matches('\'').to_owned();

    let client = reqwest::Client::new();
    let store =
        DynamoStore::new(shared::aws::dynamodb(&shared::aws::sdk_config().await), stack.settings.table_name.clone());
    let mut body = serde_json::Value::Null;
    for _ in 0..100 {
        // Wait for the update to be stored before reading the list, so the list read sees it.
        let updated = store.find_by_name(&demo_shop(), "#1001").await.unwrap().is_some_and(|o| o.version == 2);
        let response = client.get(&url).bearer_auth(&token).send().await.unwrap();
        assert_eq!(response.status(), 200);
        body = response.json().await.unwrap();
        if body["orders"].as_array().unwrap().len() == 4 && updated {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let orders = body["orders"].as_array().unwrap();
    assert_eq!(orders.len(), 4, "{body}");
    let first = orders.iter().find(|o| o["name"] == "#1001").unwrap();
    assert_eq!(first["financialStatus"], "paid", "the update was applied after the create");

    // Seeding again is deduplicated by webhook id.
    local_stack::seed_demo(&base_url, &stack.settings).await.unwrap();
    let response = client.get(format!("{base_url}/nope")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    server.abort();
    workers.abort();
}

/// `make dev`'s fulfilment demo over real HTTP: #1005 goes to the MasonHub simulator, is shipped, and
/// comes back to the Shopify simulator as a fulfilment; #1006 (an unknown SKU) becomes a dead letter.
#[tokio::test]
async fn the_local_stack_demo_order_travels_to_the_masonhub_simulator_and_back() {
    use shared::{domain::Integration, store::DeadLetterStore};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let env = TestEnv::with_upstreams(&[
        (Integration::Shopify, &format!("{base_url}{}/{{shop}}", local_stack::sim::shopify::ROUTE_PREFIX)),
        (Integration::MasonHub, &format!("{base_url}{}/{{slug}}/api/v1", local_stack::sim::masonhub::ROUTE_PREFIX)),
    ])
    .await;
    let stack = env.stack.clone();
    let server = tokio::spawn(local_stack::serve(stack.clone(), listener));
    let workers = tokio::spawn(local_stack::poll_forever(stack.clone()));
    local_stack::install_demo_shop(&stack).await.unwrap();
    assert_eq!(local_stack::seed_masonhub_demo(&stack, &base_url).await.unwrap(), 2);

    let store = &stack.shops;
    let key = shared::domain::OrderKey::parse("shopify:5601234560005").unwrap();
    let mut shipped = None;
    for _ in 0..150 {
        let deliveries = shared::store::DeliveryStore::deliveries(store, &demo_shop(), &key).await.unwrap();
        if deliveries.iter().any(|d| d.kind == "fulfillment_create" && d.outcome == "delivered") {
            shipped = store.get_order(&demo_shop(), &key).await.unwrap();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let order = shipped.expect("#1005 came back to Shopify as a fulfilment");
    let partner = order.ops.partner.unwrap();
    assert_eq!(partner.status.as_deref(), Some("fulfilled"));
    assert!(partner.shipments[0].tracking_number.as_deref().unwrap().starts_with("1ZSIM"));
    assert_eq!(stack.masonhub_sim.orders("demo").len(), 1, "only #1005 was accepted");
    // #1006 is worked beside #1005 (or a batch later): wait for its dead letter.
    let mut letters = Vec::new();
    for _ in 0..100 {
        letters = store.dead_letters(&demo_shop(), Some(Integration::MasonHub)).await.unwrap();
        if !letters.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(letters.len(), 1);
    assert!(letters[0].error.contains(local_stack::sim::masonhub::FAILING_SKU), "{}", letters[0].error);
    server.abort();
    workers.abort();
}

/// `make dev`'s ERP demo over real HTTP: #1005 reaches the CommerceOS simulator, is approved, ships
/// (MasonHub's shipment created and released there) and comes back delivered by the shipment
/// sync-webhook; #1006's out-of-stock SKU leaves it unapproved there with an alert; the simulator's B2B order
/// becomes an order of the commerceos channel.
#[tokio::test]
async fn the_local_stack_demo_order_reaches_the_commerceos_simulator_and_comes_back_delivered() {
    use shared::domain::{AlertKind, Integration, OrderKey};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let env = TestEnv::with_upstreams(&[
        (Integration::Shopify, &format!("{base_url}{}/{{shop}}", local_stack::sim::shopify::ROUTE_PREFIX)),
        (Integration::MasonHub, &format!("{base_url}{}/{{slug}}/api/v1", local_stack::sim::masonhub::ROUTE_PREFIX)),
        (Integration::CommerceOs, &format!("{base_url}{}/{{tenant}}", local_stack::sim::commerceos::ROUTE_PREFIX)),
    ])
    .await;
    let stack = env.stack.clone();
    let server = tokio::spawn(local_stack::serve(stack.clone(), listener));
    let workers = tokio::spawn(local_stack::poll_forever(stack.clone()));
    local_stack::install_demo_shop(&stack).await.unwrap();
    local_stack::seed_commerceos_demo(&stack, &base_url).await.unwrap();
    assert_eq!(local_stack::seed_masonhub_demo(&stack, &base_url).await.unwrap(), 2);

    let store = &stack.shops;
    let key = OrderKey::parse("shopify:5601234560005").unwrap();
    let mut delivered = None;
    for _ in 0..300 {
        let order = store.get_order(&demo_shop(), &key).await.unwrap();
        if let Some(erp) = order.as_ref().and_then(|o| o.ops.erp.as_ref())
            && erp.shipments.iter().any(|s| s.status == "delivered")
        {
            delivered = order;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let order = delivered.expect("#1005 came back from CommerceOS delivered");
    let erp = order.ops.erp.unwrap();
    assert!(erp.upserted && erp.approved, "{erp:?}");
    assert_eq!(erp.status.as_deref(), Some("confirmed"));
    let address = format!("com.demo.order-id={}", erp.identifier);
    assert_eq!(stack.commerceos_sim.order_status("demo", &address).as_deref(), Some("Committed"));
    assert!(order.ops.recorded_shipments.iter().all(|r| !r.id.starts_with("commerceos-")), "MasonHub's parcel only");

    let short = OrderKey::parse("shopify:5601234560006").unwrap();
    let mut cancelled = false;
    let mut born = false;
    for _ in 0..100 {
        let order = store.get_order(&demo_shop(), &short).await.unwrap();
        cancelled = order.and_then(|o| o.ops.erp).is_some_and(|e| e.cancelled);
        born = store.get_order(&demo_shop(), &OrderKey::parse("commerceos:TO-B2B-1").unwrap()).await.unwrap().is_some();
        if cancelled && born {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(cancelled, "#1006 was cancelled in CommerceOS after its 409");
    assert!(born, "the B2B order born in CommerceOS is an order of its own channel");
    let alerts = env.alerts(&demo_shop()).await;
    assert!(alerts.iter().any(|a| a.kind == AlertKind::PartnerShort && a.message.contains("CommerceOS")), "{alerts:?}");
    server.abort();
    workers.abort();
}
