//! The Shopify poll against wiremock: pagination, pacing, THROTTLED as 200 and as 429, watermark and
//! overlap, gap detection, subscription health, and the scheduler that feeds it.

use chrono::{DateTime, TimeDelta, Utc};
use integration_tests::{TestEnv, demo_event, graphql_requests, graphql_variables};
use serde_json::{Value, json};
use shared::{
    domain::{
        AlertKind, Integration, OrderKey, ShopDomain,
        poll::{PollWindow, WindowMode},
    },
    queue::{Message, PollJob, PollTask, Stage},
    store::{OrderStore, Resource, SyncStore},
    testing::unique_shop,
};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{body_string_contains, header, method, path},
};

const SHOPIFY_POLL: Stage = Stage::Poll(Integration::Shopify);

const TOKEN: &str = "shpat_test_token";

/// A stack whose Admin API is `server`, and an installed shop.
async fn setup(label: &str, scopes: &[&str]) -> (TestEnv, MockServer, ShopDomain) {
    let server = MockServer::start().await;
    let env = TestEnv::with_shopify(&format!("{}/{{shop}}", server.uri())).await;
    let shop = unique_shop(label);
    env.install(&shop, TOKEN, scopes).await;
    (env, server, shop)
}

fn graphql_path(shop: &ShopDomain) -> String {
    format!("/{shop}/admin/api/{}/graphql.json", local_stack::sim::shopify::API_VERSION)
}

/// The simulator's demo orders in GraphQL shape, by name.
fn demo_node(name: &str) -> Value {
    let file: Value = serde_json::from_slice(
        &std::fs::read(integration_tests::root().join("events/shopify-admin/orders.json")).unwrap(),
    )
    .unwrap();
    file["orders"].as_array().unwrap().iter().find(|o| o["name"] == name).unwrap().clone()
}

fn cost(available: f64) -> Value {
    json!({ "requestedQueryCost": 100, "actualQueryCost": 40,
            "throttleStatus": { "maximumAvailable": 1000.0, "currentlyAvailable": available, "restoreRate": 100.0 } })
}

/// An orders page; each node's cursor is `at-<name>`.
fn page(nodes: Vec<Value>, next: Option<&str>, available: f64) -> ResponseTemplate {
    let edges: Vec<Value> = nodes
        .into_iter()
        .map(|n| json!({ "cursor": format!("at-{}", n["name"].as_str().unwrap()), "node": n }))
        .collect();
    ResponseTemplate::new(200).set_body_json(json!({
        "data": { "orders": { "pageInfo": { "hasNextPage": next.is_some(), "endCursor": next.unwrap_or("end") }, "edges": edges } },
        "extensions": { "cost": cost(available) }
    }))
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

fn job(shop: &ShopDomain, origin: &str, task: PollTask) -> Message {
    Message::Poll(PollJob { integration: Integration::Shopify, shop: shop.clone(), origin: origin.into(), task })
}

fn window(mode: WindowMode) -> PollWindow {
    PollWindow { mode, from: at("2026-11-20T00:00:00Z"), until: at("2026-11-22T00:00:00Z") }
}

fn key(id: &str) -> OrderKey {
    OrderKey::parse(&format!("shopify:{id}")).unwrap()
}

#[tokio::test]
async fn a_window_pages_through_orders_dedupes_with_webhooks_flags_gaps_and_then_advances_the_watermark() {
    let (env, server, shop) = setup("poll-window", &["read_orders", "read_all_orders"]).await;
    // #1002 arrived by webhook; #1003 and #1005 never did.
    env.deliver(&shop, "orders/create", "wh-1002", &demo_event("orders-create-1002.json")).await;
    env.drain_ingest().await;
    let window = window(WindowMode::Incremental);
    Mock::given(method("POST"))
        .and(path(graphql_path(&shop)))
        .and(header("X-Shopify-Access-Token", TOKEN))
        .and(body_string_contains("query OrdersPage"))
        .and(body_string_contains("\"after\":null"))
        // Only 50 points left for a 100-point query: the next page waits for the bucket to refill.
        .respond_with(page(vec![demo_node("#1002"), demo_node("#1003")], Some("cursor-1"), 50.0))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(body_string_contains("query OrdersPage"))
        .and(body_string_contains("\"after\":\"cursor-1\""))
        .respond_with(page(vec![demo_node("#1005")], None, 900.0))
        .mount(&server)
        .await;

    env.enqueue(SHOPIFY_POLL, &job(&shop, "tick-1", PollTask::Orders { window, after: None }), 0).await;
    env.drain(SHOPIFY_POLL, 0).await;

    let pages = graphql_requests(&server, "query OrdersPage").await;
    assert_eq!(pages.len(), 2);
    let (search, sort_key) = shared::integrations::shopify::graphql::search(&window);
    for request in &pages {
        assert_eq!(graphql_variables(request)["query"], search.as_str());
        assert_eq!(graphql_variables(request)["sortKey"], sort_key);
    }
    let store = &env.stack.shops;
    for id in ["5601234560003", "5601234560005"] {
        assert!(store.get_order(&shop, &key(id)).await.unwrap().is_some(), "order {id} stored by the poll");
    }
    assert_eq!(store.get_order(&shop, &key("5601234560002")).await.unwrap().unwrap().version, 1, "no rewrite");
    let gaps: Vec<String> =
        env.alerts(&shop).await.into_iter().filter(|a| a.kind == AlertKind::DataGap).filter_map(|a| a.order).collect();
    assert_eq!(gaps, ["shopify:5601234560003", "shopify:5601234560005"]);
    let state = store.sync_state(&shop).await.unwrap();
    let watermark = state.watermark(Integration::Shopify, Resource::Orders).unwrap();
    assert_eq!(watermark.at, window.until);
    assert_eq!(watermark.cursor.as_deref(), Some("end"));
    // The list's first order is the newest created: #1005 (a copy of #1001), read at `at-#1005`.
    let list = integration_tests::json_body(&env.get_as(&shop, &format!("/sync/orders?shop_domain={shop}")).await);
    let first = list["orders"][0]["name"].as_str().unwrap();
    assert_eq!(list["shopifyCursor"], format!("at-{first}"), "the page boundary's Shopify cursor");
    let alerts =
        integration_tests::json_body(&env.get_as(&shop, &format!("/sync/orders/alerts?shop_domain={shop}")).await);
    assert_eq!(alerts["refreshedAt"], "2026-11-22T00:00:00Z", "the completed window pinged a refresh");

    // The next tick's window starts an overlap before the watermark the window left.
    let invocation = shopify_scheduler::Invocation { id: Some("tick-2".into()), backfill: None };
    shopify_scheduler::run(&integration_tests::deps!(env.stack, shopify_scheduler), invocation).await.unwrap();
    let next = queued_polls(&env)
        .await
        .into_iter()
        .find_map(|j| match j.task {
            PollTask::Orders { window, .. } if j.shop == shop => Some(window),
            _ => None,
        })
        .unwrap();
    assert_eq!(next.from, window.until - TimeDelta::seconds(120));

    // The same job again (a redelivery): nothing new is written or raised.
    env.enqueue(SHOPIFY_POLL, &job(&shop, "tick-1", PollTask::Orders { window, after: None }), 0).await;
    env.drain(SHOPIFY_POLL, 0).await;
    let gaps_now = env.alerts(&shop).await.into_iter().filter(|a| a.kind == AlertKind::DataGap).count();
    assert_eq!(gaps_now, 2);
    assert_eq!(store.get_order(&shop, &key("5601234560005")).await.unwrap().unwrap().version, 1);
}

#[tokio::test]
async fn throttled_as_200_and_as_429_backs_off_and_resumes_without_failing_the_run() {
    let (env, server, shop) = setup("poll-throttle", &["read_orders", "read_all_orders"]).await;
    let throttled = json!({
        "errors": [{ "message": "Throttled", "extensions": { "code": "THROTTLED" } }],
        "extensions": { "cost": { "requestedQueryCost": 100, "actualQueryCost": null,
            "throttleStatus": { "maximumAvailable": 1000.0, "currentlyAvailable": 90.0, "restoreRate": 100.0 } } }
    });
    // 1st: THROTTLED with HTTP 200 (a 0.1 s wait, taken inline); 2nd: HTTP 429 asking for 2 s (carried
    // over as a continuation with an SQS delay); 3rd: the page.
    Mock::given(body_string_contains("query OrdersPage"))
        .respond_with(ResponseTemplate::new(200).set_body_json(throttled))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(body_string_contains("query OrdersPage"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "2"))
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(body_string_contains("query OrdersPage"))
        .respond_with(page(vec![demo_node("#1004")], None, 900.0))
        .with_priority(3)
        .mount(&server)
        .await;
    let window = window(WindowMode::Incremental);
    env.enqueue(SHOPIFY_POLL, &job(&shop, "tick-t", PollTask::Orders { window, after: None }), 0).await;
    env.drain(SHOPIFY_POLL, 4).await;

    assert_eq!(graphql_requests(&server, "query OrdersPage").await.len(), 3);
    let store = &env.stack.shops;
    assert!(store.get_order(&shop, &key("5601234560004")).await.unwrap().is_some());
    assert_eq!(
        store.sync_state(&shop).await.unwrap().watermark_at(Integration::Shopify, Resource::Orders),
        Some(window.until)
    );
    let alerts = env.alerts(&shop).await;
    assert!(alerts.iter().all(|a| a.kind != AlertKind::DeadLetter), "no failure surfaced: {alerts:?}");
}

#[tokio::test]
async fn a_backfill_reads_by_creation_time_and_neither_flags_gaps_nor_moves_the_watermark() {
    let (env, server, shop) = setup("poll-backfill", &["read_orders", "read_all_orders"]).await;
    Mock::given(body_string_contains("query OrdersPage"))
        .respond_with(page(vec![demo_node("#1003")], None, 900.0))
        .mount(&server)
        .await;
    let window = window(WindowMode::Backfill);
    env.enqueue(SHOPIFY_POLL, &job(&shop, "backfill-1", PollTask::Orders { window, after: None }), 0).await;
    env.drain(SHOPIFY_POLL, 0).await;

    let request = &graphql_requests(&server, "query OrdersPage").await[0];
    assert_eq!(graphql_variables(request)["sortKey"], "CREATED_AT");
    assert!(graphql_variables(request)["query"].as_str().unwrap().starts_with("created_at:>='2026-11-20T00:00:00Z'"));
    assert!(env.stack.shops.get_order(&shop, &key("5601234560003")).await.unwrap().is_some());
    assert!(env.alerts(&shop).await.iter().all(|a| a.kind != AlertKind::DataGap), "history is no gap");
    assert_eq!(
        env.stack.shops.sync_state(&shop).await.unwrap().watermark_at(Integration::Shopify, Resource::Orders),
        None
    );
}

#[tokio::test]
async fn missing_subscriptions_are_recreated_alerted_and_the_window_since_the_last_webhook_is_polled() {
    let (env, server, shop) = setup("poll-subscriptions", &["read_orders", "read_all_orders"]).await;
    env.deliver(&shop, "orders/create", "wh-1002", &demo_event("orders-create-1002.json")).await;
    env.drain_ingest().await;
    let last_webhook = env.stack.shops.sync_state(&shop).await.unwrap().last_webhook_at.expect("webhook noted");

    let callback = "http://127.0.0.1:0/webhooks/shopify";
    let present: Vec<Value> = shopify_poller::SUBSCRIBED_TOPICS
        .iter()
        .filter(|t| !["orders/paid", "refunds/create"].contains(t))
        .map(|t| json!({ "id": "gid://shopify/WebhookSubscription/1", "topic": shopify_poller::graphql_topic(t),
                         "endpoint": { "__typename": "WebhookHttpEndpoint", "callbackUrl": callback } }))
        // ORDERS_PAID exists, but for another app's endpoint: ours is still missing.
        .chain([json!({ "id": "gid://shopify/WebhookSubscription/2", "topic": "ORDERS_PAID",
                        "endpoint": { "__typename": "WebhookHttpEndpoint", "callbackUrl": "https://elsewhere.example/hook" } })])
        .collect();
    Mock::given(body_string_contains("query WebhookSubscriptions"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "data": { "webhookSubscriptions": { "nodes": present } } })),
        )
        .mount(&server)
        .await;
    Mock::given(body_string_contains("mutation WebhookSubscriptionCreate"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "data": { "webhookSubscriptionCreate": {
            "webhookSubscription": { "id": "gid://shopify/WebhookSubscription/9", "topic": "X" }, "userErrors": [] } } })))
        .mount(&server)
        .await;
    Mock::given(body_string_contains("query OrdersPage")).respond_with(page(vec![], None, 900.0)).mount(&server).await;

    env.enqueue(SHOPIFY_POLL, &job(&shop, "tick-s", PollTask::Subscriptions), 0).await;
    env.drain(SHOPIFY_POLL, 0).await;

    let created: Vec<Value> =
        graphql_requests(&server, "mutation WebhookSubscriptionCreate").await.iter().map(graphql_variables).collect();
    let topics: Vec<&str> = created.iter().map(|v| v["topic"].as_str().unwrap()).collect();
    assert_eq!(topics, ["ORDERS_PAID", "REFUNDS_CREATE"]);
    assert!(created.iter().all(|v| v["webhookSubscription"]["callbackUrl"] == callback));
    let gaps: Vec<String> =
        env.alerts(&shop).await.into_iter().filter(|a| a.kind == AlertKind::DataGap).map(|a| a.id).collect();
    assert_eq!(gaps, ["subscription_missing:orders/paid:tick-s", "subscription_missing:refunds/create:tick-s"]);
    let recovery = &graphql_requests(&server, "query OrdersPage").await[0];
    let from = (last_webhook - TimeDelta::seconds(120)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert!(
        graphql_variables(recovery)["query"].as_str().unwrap().starts_with(&format!("updated_at:>'{from}'")),
        "{}",
        graphql_variables(recovery)["query"]
    );
}

#[tokio::test]
async fn the_scheduler_queues_a_window_and_a_health_check_per_active_shop_and_warns_once_about_read_all_orders() {
    let (env, _server, shop) = setup("scheduler", &["read_orders"]).await;
    let gone = unique_shop("scheduler-gone");
    env.install(&gone, TOKEN, &["read_orders", "read_all_orders"]).await;
    use shared::store::ShopStore;
    env.stack.shops.set_shop_status(&gone, shared::store::ShopStatus::Uninstalled, Utc::now()).await.unwrap();
    let deps = &integration_tests::deps!(env.stack, shopify_scheduler);
    let before = Utc::now();
    for tick in ["tick-a", "tick-b"] {
        let invocation = shopify_scheduler::Invocation { id: Some(tick.into()), backfill: None };
        let report = shopify_scheduler::run(deps, invocation).await.unwrap();
        assert!(report.jobs >= 3);
    }
    let setup: Vec<_> = env.alerts(&shop).await.into_iter().filter(|a| a.kind == AlertKind::Setup).collect();
    assert_eq!(setup.len(), 1, "warned once");

    let jobs = queued_polls(&env).await;
    let ours: Vec<&PollJob> = jobs.iter().filter(|j| j.shop == shop).collect();
    assert_eq!(ours.len(), 6, "an orders window, a products window and a health check per tick");
    assert!(jobs.iter().all(|j| j.shop != gone), "an uninstalled shop is not polled");
    let record = env.stack.shops.shop(&shop).await.unwrap().unwrap();
    for job in ours {
        match &job.task {
            PollTask::Orders { window, after } => {
                assert_eq!(window.mode, WindowMode::Incremental);
                assert_eq!(
                    window.from,
                    record.installed_at - TimeDelta::seconds(120),
                    "never polled: from the install"
                );
                assert!(window.until >= before);
                assert_eq!(after, &None);
            }
            PollTask::Products { window, .. } => {
                assert!(window.from < DateTime::UNIX_EPOCH, "never polled: the whole catalogue");
            }
            PollTask::Subscriptions => {}
            PollTask::OrdersSync { .. } => panic!("the Shopify scheduler queued an orders sync"),
        }
    }

    let bad = shopify_scheduler::Invocation {
        id: None,
        backfill: Some(shopify_scheduler::Backfill {
            shop: shop.clone(),
            from: at("2026-02-01T00:00:00Z"),
            until: at("2026-01-01T00:00:00Z"),
        }),
    };
    assert!(shopify_scheduler::run(deps, bad).await.is_err(), "a backwards range is refused");
}

/// Receives (without processing) every poll job waiting on the queue.
async fn queued_polls(env: &TestEnv) -> Vec<PollJob> {
    let url = &env.stack.queues[&SHOPIFY_POLL].queue;
    let mut jobs = Vec::new();
    loop {
        let received = env
            .stack
            .sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(300)
            .send()
            .await
            .unwrap();
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            return jobs;
        }
        for m in messages {
            match serde_json::from_str(m.body.as_deref().unwrap()).unwrap() {
                Message::Poll(job) => jobs.push(job),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
}

#[tokio::test]
async fn one_failing_shop_never_stops_the_scheduled_loops_for_the_others() {
    let (env, _server, healthy) = setup("isolated", &["read_orders", "read_all_orders"]).await;
    // A shop whose record is corrupt (a manual edit, a bug): reading it fails every time.
    let broken = unique_shop("isolated-broken");
    env.install(&broken, TOKEN, &["read_orders", "read_all_orders"]).await;
    let sdk = shared::aws::sdk_config().await;
    shared::aws::dynamodb(&sdk)
        .update_item()
        .table_name(&env.stack.settings.table_name)
        .key("PK", aws_sdk_dynamodb::types::AttributeValue::S(format!("SHOP#{broken}")))
        .key("SK", aws_sdk_dynamodb::types::AttributeValue::S("SHOP".into()))
        .update_expression("SET #data = :garbage")
        .expression_attribute_names("#data", "data")
        .expression_attribute_values(":garbage", aws_sdk_dynamodb::types::AttributeValue::S("{not json".into()))
        .send()
        .await
        .unwrap();

    // Whatever the rotation puts first, the healthy shop gets its jobs and the run reports the failure.
    for tick in ["tick-i1", "tick-i2"] {
        let invocation = shopify_scheduler::Invocation { id: Some(tick.into()), backfill: None };
        let report = shopify_scheduler::run(&integration_tests::deps!(env.stack, shopify_scheduler), invocation)
            .await
            .expect("the run succeeds although one shop fails");
        assert_eq!((report.failed, report.jobs % 3), (1, 0), "{report:?}");
    }
    let jobs = queued_polls(&env).await;
    assert_eq!(jobs.iter().filter(|j| j.shop == healthy).count(), 6, "three jobs per tick for the healthy shop");
    assert!(jobs.iter().all(|j| j.shop != broken));
}

#[tokio::test]
async fn an_event_waiting_for_its_order_is_released_when_the_poll_stores_the_order() {
    let (env, server, shop) = setup("poll-waiting", &["read_orders", "read_all_orders"]).await;
    let refund = json!({ "id": 61, "order_id": 5601234560003u64, "created_at": "2026-11-20T17:00:00Z",
        "transactions": [{ "kind": "refund", "status": "success", "amount": "4.00" }] });
    env.deliver(&shop, "refunds/create", "refund-61", refund.to_string().as_bytes()).await;
    env.drain_ingest().await;
    assert_eq!(env.stack.shops.waiting_events(&shop, &key("5601234560003")).await.unwrap().len(), 1);
    Mock::given(body_string_contains("query OrdersPage"))
        .respond_with(page(vec![demo_node("#1003")], None, 900.0))
        .mount(&server)
        .await;
    let window = window(WindowMode::Backfill);
    env.enqueue(SHOPIFY_POLL, &job(&shop, "tick-w", PollTask::Orders { window, after: None }), 0).await;
    env.drain(SHOPIFY_POLL, 0).await;
    assert_eq!(env.drain_ingest().await, 1, "the waiting refund went back on the ingest queue");

    let (_, events) = env.stack.shops.order_detail(&shop, &key("5601234560003"), 10).await.unwrap().unwrap();
    let refunds: Vec<&str> = events.iter().filter(|e| e.event == "refund").map(|e| e.details.as_str()).collect();
    assert_eq!(refunds, ["Refund issued (4.00)"]);
    assert_eq!(env.stack.shops.waiting_events(&shop, &key("5601234560003")).await.unwrap(), []);
}

#[tokio::test]
async fn a_customer_redaction_also_erases_the_events_waiting_for_the_customers_orders() {
    let (env, _server, shop) = setup("redact-waiting", &["read_orders"]).await;
    let refund =
        json!({ "id": 62, "order_id": 5601234560004u64, "created_at": "2026-11-20T17:00:00Z", "transactions": [] });
    env.deliver(&shop, "refunds/create", "refund-62", refund.to_string().as_bytes()).await;
    env.drain_ingest().await;
    assert_eq!(env.stack.shops.waiting_events(&shop, &key("5601234560004")).await.unwrap().len(), 1);
    let redact = json!({ "shop_id": 1, "shop_domain": shop.as_str(), "customer": { "id": 9, "email": "x@example.com" },
        "orders_to_redact": [5601234560004u64] });
    env.deliver(&shop, "customers/redact", "redact-1", redact.to_string().as_bytes()).await;
    env.drain_ingest().await;
    assert_eq!(env.stack.shops.waiting_events(&shop, &key("5601234560004")).await.unwrap(), []);
}

#[tokio::test]
async fn reconciliation_finds_what_shopify_has_and_we_lack_and_a_replay_reads_it_again() {
    let (env, server, shop) = setup("poll-recon", &["read_orders", "read_all_orders"]).await;
    // We stored #1002, #1003 and #1004 (a backfill of 20–22 November).
    Mock::given(body_string_contains("query OrdersPage"))
        .and(body_string_contains("created_at:>='2026-11-20T00:00:00Z'"))
        .respond_with(page(vec![demo_node("#1002"), demo_node("#1003"), demo_node("#1004")], None, 900.0))
        .mount(&server)
        .await;
    let window = window(WindowMode::Backfill);
    env.enqueue(SHOPIFY_POLL, &job(&shop, "backfill-r", PollTask::Orders { window, after: None }), 0).await;
    env.drain(SHOPIFY_POLL, 0).await;
    // Shopify has #1001 too, #1003 changed since, and no #1004 (deleted there).
    let stamp = |name: &str, updated: &str| {
        let node = demo_node(name);
        json!({ "id": node["id"], "createdAt": node["createdAt"], "updatedAt": updated })
    };
    let listed = vec![
        stamp("#1001", "2026-11-21T16:40:00Z"),
        stamp("#1002", "2026-11-20T15:05:41Z"),
        stamp("#1003", "2026-11-22T09:00:00Z"),
    ];
    let ids = |nodes: Vec<Value>| {
        ResponseTemplate::new(200).set_body_json(json!({ "data": { "orders": {
            "pageInfo": { "hasNextPage": false, "endCursor": null }, "nodes": nodes } } }))
    };
    Mock::given(body_string_contains("query OrderIds")).respond_with(ids(listed)).mount(&server).await;

    let reconciler = integration_tests::deps!(env.stack, reconciler);
    let deps = reconciler.reconcile();
    let run = |now| shared::app::reconcile::run(&deps, &shop, Integration::Shopify, window.from, window.until, now);
    let report = run(Utc::now()).await.unwrap();
    let request = &graphql_requests(&server, "query OrderIds").await[0];
    assert_eq!(
        graphql_variables(request)["query"],
        "created_at:>='2026-11-20T00:00:00Z' AND created_at:<'2026-11-22T00:00:00Z'"
    );
    assert_eq!((report.checked, report.missing.clone()), (3, vec![key("5601234560001").to_string()]));
    assert_eq!(report.extra, [key("5601234560004").to_string()]);
    assert_eq!(report.mismatched.len(), 1);
    assert_eq!(
        (report.mismatched[0].order.as_str(), report.mismatched[0].theirs.as_deref()),
        (&*key("5601234560003").to_string(), Some("2026-11-22T09:00:00Z"))
    );
    assert_eq!(report.repush.len(), 2, "the missing and the stale order can be read again");
    let gap = env.alerts(&shop).await.into_iter().find(|a| a.id.starts_with("reconciliation:shopify:")).unwrap();
    assert!(gap.message.contains("5601234560001") && gap.message.contains("can be re-pushed"), "{}", gap.message);

    // A replay of #1001's letter queues a re-read of its creation second, which stores it.
    Mock::given(body_string_contains("query OrdersPage"))
        .and(body_string_contains("created_at:>='2026-11-20T14:15:00Z' AND created_at:<'2026-11-20T14:15:01Z'"))
        .respond_with(page(vec![demo_node("#1001")], None, 900.0))
        .mount(&server)
        .await;
    let letter = report.repush.iter().find(|id| id.contains("5601234560001")).unwrap();
    let auth = format!("Bearer {}", integration_tests::token_for(&shop));
    let headers = [("Authorization", auth.as_str()), ("Content-Type", "application/json")];
    let body = json!({ "ids": [letter] }).to_string();
    let response = env.request("POST", "/api/dead-letters/replay", &headers, body.as_bytes()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(env.drain(SHOPIFY_POLL, 0).await, 1);
    assert!(env.stack.shops.get_order(&shop, &key("5601234560001")).await.unwrap().is_some());

    // The next run finds it settled: its letter is gone, the others stay.
    let report = run(Utc::now()).await.unwrap();
    assert!(report.missing.is_empty());
    let letters = shared::store::DeadLetterStore::dead_letters(&env.stack.shops, &shop, Some(Integration::Shopify))
        .await
        .unwrap();
    assert_eq!(letters.len(), 1);
    assert!(letters[0].order.ends_with("5601234560003"));
}
