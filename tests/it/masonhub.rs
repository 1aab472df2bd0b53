//! Fulfilment out and back against wiremock (MasonHub and Shopify) and moto: routing, the outbox, the
//! dispatcher's per-record results, ladder and dead letters, replay, callbacks, and redelivery.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use async_trait::async_trait;
use chrono::Utc;
use integration_tests::{API_KEY, API_SECRET, TestEnv, demo_event, fixture, graphql_requests, json_body, token_for};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};
use shared::{
    app::dead_letters::SlowRetry,
    config::Secret,
    domain::{AlertKind, Integration, OrderKey, ShopDomain, fulfilment::partner_order_id},
    error::QueueError,
    integrations::shopify::session,
    queue::{Message, MessageQueue, Outbound, OutboundChange, Stage, sqs::SqsQueue},
    store::{DeadLetterCause, DeadLetterStore, DeliveryStore, OrderStore, OutboxStore},
    testing::unique_shop,
};
use wiremock::{
    Mock, MockServer, Request, ResponseTemplate,
    matchers::{body_string_contains, method, path, query_param},
};

const MASONHUB: Stage = Stage::Outbound(Integration::MasonHub);
const SHOPIFY: Stage = Stage::Outbound(Integration::Shopify);
const SLUG: &str = "acme";

struct Trip {
    env: TestEnv,
    masonhub: MockServer,
    shopify: MockServer,
    shop: ShopDomain,
}

async fn connected(label: &str) -> Trip {
    let masonhub = MockServer::start().await;
    let shopify = MockServer::start().await;
    let env = TestEnv::with_upstreams(&[
        (Integration::Shopify, &format!("{}/{{shop}}", shopify.uri())),
        (Integration::MasonHub, &format!("{}/{{slug}}/api/v1", masonhub.uri())),
    ])
    .await;
    let shop = unique_shop(label);
    env.install(&shop, "shpat_mh", &["read_orders", "write_fulfillments"]).await;
    Mock::given(method("POST"))
        .and(path(format!("/{SLUG}/api/v1/callbacks")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            { "status": "Success" }, { "status": "Success" }, { "status": "Success" }, { "status": "Success" }
        ])))
        .mount(&masonhub)
        .await;
    let trip = Trip { env, masonhub, shopify, shop };
    let connect = json!({ "environment": "sandbox", "account_slug": SLUG, "api_token": "mh-secret-token" });
    let (status, body) = trip.call("PUT", "/api/masonhub/connection", Some(connect)).await;
    assert_eq!(status, 200, "{body}");
    assert!(!body.to_string().contains("mh-secret-token"), "the token never comes back");
    let settings = json!({ "enabled": true, "partner": "masonhub", "rule": { "by": "all" },
        "shipping": [{ "shipping_method": "Express", "provider": "UPS", "service_level": "nextDay" }],
        "default_provider": "masonhub", "default_service_level": "ground" });
    let (status, body) = trip.call("PUT", "/api/fulfilment/settings", Some(settings)).await;
    assert_eq!(status, 200, "{body}");
    trip
}

impl Trip {
    async fn call(&self, method: &str, target: &str, body: Option<Value>) -> (u16, Value) {
        let auth = format!("Bearer {}", token_for(&self.shop));
        let headers = [("Authorization", auth.as_str()), ("Content-Type", "application/json")];
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let response = self.env.request(method, target, &headers, body.as_bytes()).await;
        let status = response.status().as_u16();
        (status, if body.is_empty() && status == 204 { Value::Null } else { json_body(&response) })
    }

    /// Delivers a paid, unfulfilled Shopify order `id` (the demo order #1001 with `skus`).
    async fn paid_order(&self, id: &str, skus: &[&str]) -> OrderKey {
        let mut order: Value = serde_json::from_slice(&demo_event("orders-create-1001.json")).unwrap();
        order["id"] = json!(id.parse::<u64>().unwrap());
        order["name"] = json!(format!("#{id}"));
        order["admin_graphql_api_id"] = json!(format!("gid://shopify/Order/{id}"));
        order["financial_status"] = json!("paid");
        order["fulfillment_status"] = Value::Null;
        let lines: Vec<Value> = skus
            .iter()
            .enumerate()
            .map(|(i, sku)| {
                let mut line = order["line_items"][0].clone();
                line["id"] = json!(9000 + i);
                line["sku"] = json!(sku);
                line
            })
            .collect();
        order["line_items"] = Value::Array(lines);
        let response =
            self.env.deliver(&self.shop, "orders/create", &format!("wh-{id}"), order.to_string().as_bytes()).await;
        assert_eq!(response.status(), 200);
        OrderKey::parse(&format!("shopify:{id}")).unwrap()
    }

    fn callback_token(&self, registered: &[Request]) -> String {
        let body: Value = serde_json::from_slice(&registered[0].body).unwrap();
        body[0]["token"].as_str().unwrap().to_owned()
    }

    async fn posts(&self, resource: &str) -> Vec<Request> {
        let wanted = format!("/{SLUG}/api/v1/{resource}");
        self.masonhub.received_requests().await.unwrap().into_iter().filter(|r| r.url.path() == wanted).collect()
    }

    async fn callback(&self, token: &str, body: &Value) -> (u16, Value) {
        let target = format!("/webhooks/masonhub?token={token}");
        let response = self
            .env
            .request("POST", &target, &[("Content-Type", "application/json")], body.to_string().as_bytes())
            .await;
        (response.status().as_u16(), json_body(&response))
    }

    async fn sweep(&self, grace_seconds: i64) -> outbound_sweeper::Report {
        let mut deps = integration_tests::deps!(self.env.stack, outbound_sweeper);
        deps.grace = chrono::Duration::seconds(grace_seconds);
        deps.retry = SlowRetry { every: chrono::Duration::zero(), until: chrono::Duration::hours(1) };
        outbound_sweeper::handle(&deps, LambdaEvent::new(json!({}), Context::default())).await.unwrap()
    }
}

fn batch_answer(results: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({ "records_submitted": 1, "results": results }))
}

fn accept_all() -> impl Fn(&Request) -> ResponseTemplate + Send + Sync + 'static {
    |request: &Request| {
        let records: Vec<Value> = serde_json::from_slice(&request.body).unwrap();
        let results: Vec<Value> = records
            .iter()
            .map(|r| json!({ "customer_identifier": r["customer_identifier"], "status": "Success", "system_id": "mh-uuid" }))
            .collect();
        batch_answer(Value::Array(results))
    }
}

fn shopify_data(value: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({ "data": value }))
}

async fn mount_shopify_fulfilment(server: &MockServer, gid: &str) {
    Mock::given(body_string_contains("query OrderFulfillmentOrders"))
        .respond_with(shopify_data(json!({ "order": { "id": gid,
            "fulfillmentOrders": { "nodes": [{ "id": "gid://shopify/FulfillmentOrder/5", "status": "OPEN" }] },
            "fulfillments": [] } })))
        .mount(server)
        .await;
    Mock::given(body_string_contains("mutation FulfillmentCreate"))
        .respond_with(shopify_data(json!({ "fulfillmentCreate": {
            "fulfillment": { "id": "gid://shopify/Fulfillment/9", "status": "SUCCESS" }, "userErrors": [] } })))
        .mount(server)
        .await;
}

#[tokio::test]
async fn a_paid_order_travels_to_masonhub_and_its_shipment_back_to_shopify_exactly_once() {
    let trip = connected("mh-trip").await;
    Mock::given(method("POST"))
        .and(path(format!("/{SLUG}/api/v1/orders")))
        .respond_with(accept_all())
        .mount(&trip.masonhub)
        .await;
    mount_shopify_fulfilment(&trip.shopify, "gid://shopify/Order/7001").await;

    let key = trip.paid_order("7001", &["DEMO-HOOD-M-NVY"]).await;
    trip.env.drain_ingest().await;
    assert_eq!(trip.env.drain(MASONHUB, 0).await, 1);

    let sent = trip.posts("orders").await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].headers.get("authorization").unwrap(), "Bearer mh-secret-token");
    let records: Vec<Value> = serde_json::from_slice(&sent[0].body).unwrap();
    let partner_id = partner_order_id(&trip.shop, &key);
    assert_eq!(records[0]["customer_identifier"], json!(partner_id));
    assert_eq!(records[0]["shipping_provider"], "masonhub");
    assert_eq!(records[0]["line_items"][0]["sku_customer_id"], "DEMO-HOOD-M-NVY");

    let (status, detail) = trip.call("GET", &format!("/sync/orders/7001?shop_domain={}", trip.shop), None).await;
    assert_eq!(status, 200);
    assert_eq!(detail["fulfilment"]["partnerOrderId"], json!(partner_id));
    assert_eq!(detail["fulfilment"]["accepted"], true);
    assert_eq!(detail["fulfilment"]["partnerStatus"], "open");

    // MasonHub ships it and calls back: the published orderEvent example, naming our order.
    let registered = trip.posts("callbacks").await;
    let token = trip.callback_token(&registered);
    let mut event: Value = match fixture("masonhub/POST_orderEvent.request.posted_order_event_callback.json") {
        Some(path) => serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap(),
        None => json!({ "message_type": "orderEvent", "message_id": "m-1", "data": [{ "customer_identifier": "x",
            "status": "fulfilled", "shipments": [{ "shipment_id": "s1", "shipping_provider": "USPS",
            "tracking_number": "3451csda23423" }], "shorts": [{ "sku_customer_id": "pants3422", "quantity": 1 }] }] }),
    };
    event["data"][0]["customer_identifier"] = json!(partner_id);
    let (status, answer) = trip.callback(&token, &event).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(trip.callback(&token, &event).await.1["status"], "accepted", "a redelivery is acknowledged");
    assert_eq!(trip.env.drain_ingest().await, 1, "deduped by message_id");
    trip.env.drain(SHOPIFY, 0).await;

    let order = trip.env.stack.shops.get_order(&trip.shop, &key).await.unwrap().unwrap();
    let partner = order.ops.partner.clone().unwrap();
    assert_eq!(partner.status.as_deref(), Some(event["data"][0]["status"].as_str().unwrap()));
    assert_eq!(partner.shipments.len(), 1);
    assert!(order.has_tracking(), "tracking_pending can no longer hold");
    let created = graphql_requests(&trip.shopify, "mutation FulfillmentCreate").await;
    assert_eq!(created.len(), 1);
    let tracking = &integration_tests::graphql_variables(&created[0])["fulfillment"]["trackingInfo"];
    assert_eq!(tracking["number"], "3451csda23423");
    let alerts = trip.env.alerts(&trip.shop).await;
    let shorts: Vec<_> = alerts.iter().filter(|a| a.kind == AlertKind::PartnerShort).collect();
    assert_eq!(shorts.len(), 1);
    assert!(shorts[0].message.contains("pants3422"), "{}", shorts[0].message);

    // Redelivery of every message type: the create, the callback's inbound event, the Shopify push.
    let create = Message::Outbound(Outbound::new(
        Integration::MasonHub,
        trip.shop.clone(),
        key.to_string(),
        format!("create:{partner_id}"),
        OutboundChange::PartnerCreate { partner_order_id: partner_id.clone() },
    ));
    trip.env.enqueue(MASONHUB, &create, 0).await;
    trip.env.drain(MASONHUB, 0).await;
    let inbound = Message::Inbound(shared::queue::Inbound {
        source: Integration::MasonHub,
        shop: trip.shop.clone(),
        topic: "orderEvent".into(),
        delivery_id: event["message_id"].as_str().unwrap().to_owned(),
        event_id: None,
        occurred_at: None,
        payload: event.clone(),
        payload_ref: None,
    });
    trip.env.enqueue(Stage::Ingest, &inbound, 0).await;
    trip.env.drain_ingest().await;
    let deliveries = trip.env.stack.shops.deliveries(&trip.shop, &key).await.unwrap();
    let push = deliveries.iter().find(|d| d.kind == "fulfillment_create").unwrap().clone();
    let again = Message::Outbound(Outbound::new(
        Integration::Shopify,
        trip.shop.clone(),
        key.to_string(),
        push.id.clone(),
        OutboundChange::FulfillmentCreate { shipment_id: push.id.clone(), tracking_number: None, carrier: None },
    ));
    trip.env.enqueue(SHOPIFY, &again, 0).await;
    trip.env.drain(SHOPIFY, 0).await;

    assert_eq!(trip.posts("orders").await.len(), 1, "MasonHub got the order once");
    assert_eq!(graphql_requests(&trip.shopify, "mutation FulfillmentCreate").await.len(), 1, "Shopify once");
    let order = trip.env.stack.shops.get_order(&trip.shop, &key).await.unwrap().unwrap();
    assert_eq!(order.ops.partner.unwrap().shipments.len(), 1);
    assert_eq!(order.ops.recorded_shipments.len(), 1);
    let deliveries = trip.env.stack.shops.deliveries(&trip.shop, &key).await.unwrap();
    assert_eq!(deliveries.len(), 2, "{deliveries:?}");
    assert!(trip.env.stack.shops.pending_effects(&trip.shop, chrono::Utc::now(), 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn per_record_results_deliver_the_good_order_and_dead_letter_the_refused_one_until_a_replay_succeeds() {
    let trip = connected("mh-partial").await;
    let good = partner_order_id(&trip.shop, &OrderKey::parse("shopify:7101").unwrap());
    Mock::given(method("POST"))
        .and(path(format!("/{SLUG}/api/v1/orders")))
        .respond_with(move |request: &Request| {
            let records: Vec<Value> = serde_json::from_slice(&request.body).unwrap();
            let results: Vec<Value> = records
                .iter()
                .map(|r| {
                    if r["customer_identifier"] == json!(good) {
                        json!({ "customer_identifier": r["customer_identifier"], "status": "Success" })
                    } else {
                        json!({ "customer_identifier": r["customer_identifier"], "status": "Failure",
                            "messages": [{ "field_name": "line_items", "errors": ["'NOPE-1' is not in the item master"] }] })
                    }
                })
                .collect();
            batch_answer(Value::Array(results))
        })
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&trip.masonhub)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/{SLUG}/api/v1/orders")))
        .respond_with(accept_all())
        .with_priority(2)
        .mount(&trip.masonhub)
        .await;

    let ok = trip.paid_order("7101", &["DEMO-TOTE-NAT"]).await;
    let refused = trip.paid_order("7102", &["NOPE-1"]).await;
    trip.env.drain_ingest().await;
    trip.env.drain(MASONHUB, 0).await;

    let sent = trip.posts("orders").await;
    assert_eq!(sent.len(), 1, "one request for the batch");
    assert_eq!(serde_json::from_slice::<Vec<Value>>(&sent[0].body).unwrap().len(), 2);
    let delivered = trip.env.stack.shops.deliveries(&trip.shop, &ok).await.unwrap();
    assert_eq!(delivered.iter().map(|d| d.outcome.as_str()).collect::<Vec<_>>(), ["delivered"]);
    let letters = trip.env.stack.shops.dead_letters(&trip.shop, Some(Integration::MasonHub)).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].order, refused.to_string());
    assert_eq!(letters[0].cause, DeadLetterCause::Rejected);
    assert_eq!(letters[0].attempts, 1, "a refusal is not retried");
    assert!(letters[0].error.contains("NOPE-1"), "{}", letters[0].error);
    assert!(letters[0].request.as_ref().unwrap()["line_items"].is_array());
    let (status, listed) = trip.call("GET", "/api/dead-letters?destination=masonhub", None).await;
    assert_eq!(status, 200);
    assert_eq!(listed["deadLetters"][0]["id"], json!(letters[0].id));
    let open: Vec<_> =
        trip.env.alerts(&trip.shop).await.into_iter().filter(|a| a.kind == AlertKind::DeadLetter).collect();
    assert_eq!(open.len(), 1);
    assert!(open[0].message.starts_with("1 message to MasonHub"), "{}", open[0].message);

    // The SKU now exists at MasonHub: the replay goes through the same path and clears the alert.
    let (status, replayed) = trip.call("POST", "/api/dead-letters/replay", Some(json!({ "id": letters[0].id }))).await;
    assert_eq!((status, replayed["replayed"].clone()), (200, json!([letters[0].id])));
    trip.env.drain(MASONHUB, 0).await;
    assert_eq!(trip.posts("orders").await.len(), 2);
    assert!(trip.env.stack.shops.dead_letters(&trip.shop, None).await.unwrap().is_empty());
    let alerts: Vec<_> =
        trip.env.alerts(&trip.shop).await.into_iter().filter(|a| a.kind == AlertKind::DeadLetter).collect();
    assert_eq!(alerts.len(), 1);
    assert!(alerts[0].cleared_at.is_some(), "a replayed success clears the alert");
    // Replaying it again (it is gone) is a no-op; a delivered create is never sent again.
    let (_, again) = trip.call("POST", "/api/dead-letters/replay", Some(json!({ "destination": "masonhub" }))).await;
    assert_eq!(again["replayed"], json!([]));
    trip.env.drain(MASONHUB, 0).await;
    assert_eq!(trip.posts("orders").await.len(), 2);
}

#[tokio::test]
async fn throttles_and_outages_climb_the_ladder_then_dead_letter_once_and_the_slow_retry_heals_them() {
    let trip = connected("mh-storm").await;
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    Mock::given(method("POST"))
        .and(path(format!("/{SLUG}/api/v1/orders")))
        .respond_with(move |_: &Request| {
            // A storm: 429 and 503 in turn.
            if counter.fetch_add(1, Ordering::SeqCst).is_multiple_of(2) {
                ResponseTemplate::new(429)
                    .insert_header("retry-after", "1")
                    .set_body_json(json!({ "message": "slow down" }))
            } else {
                ResponseTemplate::new(503).set_body_json(json!({ "message": "unavailable" }))
            }
        })
        .up_to_n_times(5)
        .with_priority(1)
        .mount(&trip.masonhub)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/{SLUG}/api/v1/orders")))
        .respond_with(accept_all())
        .with_priority(2)
        .mount(&trip.masonhub)
        .await;

    let key = trip.paid_order("7201", &["DEMO-MUG-WHT"]).await;
    trip.env.drain_ingest().await;
    // 0 s, then 1, 2, 5 and 10 s later (SQS delays): five attempts, then the dead letter.
    let started = std::time::Instant::now();
    for _ in 0..5 {
        trip.env.drain(MASONHUB, 11).await;
        if calls.load(Ordering::SeqCst) >= 5 {
            break;
        }
    }
    assert_eq!(calls.load(Ordering::SeqCst), 5, "tried five times");
    assert!(started.elapsed() >= std::time::Duration::from_secs(15), "the ladder waited 1+2+5+10 s");
    let letters = trip.env.stack.shops.dead_letters(&trip.shop, None).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!((letters[0].cause, letters[0].attempts), (DeadLetterCause::Transient, 5));
    assert!(letters[0].error.contains("throttled") || letters[0].error.contains("503"), "{}", letters[0].error);
    assert!(trip.env.stack.shops.deliveries(&trip.shop, &key).await.unwrap().is_empty());

    // The slow retry replays it (here every 0 s); MasonHub is back.
    let report = trip.sweep(30).await;
    assert_eq!(report.retried, 1);
    trip.env.drain(MASONHUB, 0).await;
    assert_eq!(calls.load(Ordering::SeqCst), 5, "the storm mock is spent");
    assert_eq!(trip.posts("orders").await.len(), 6);
    assert!(trip.env.stack.shops.dead_letters(&trip.shop, None).await.unwrap().is_empty());
    let delivered = trip.env.stack.shops.deliveries(&trip.shop, &key).await.unwrap();
    assert_eq!(delivered[0].outcome, "delivered");
    let alerts: Vec<_> =
        trip.env.alerts(&trip.shop).await.into_iter().filter(|a| a.kind == AlertKind::DeadLetter).collect();
    assert_eq!(alerts.len(), 1, "one alert for the outage");
    assert!(alerts[0].cleared_at.is_some());
}

#[tokio::test]
async fn a_timed_out_create_is_retried_on_the_ladder_and_the_retry_that_finds_it_created_succeeds() {
    let trip = connected("mh-timeout").await;
    // The first answer comes after the client gave up (MasonHub may still have created the order);
    // the retry is told the identifier is taken.
    Mock::given(method("POST"))
        .and(path(format!("/{SLUG}/api/v1/orders")))
        .respond_with(|request: &Request| accept_all()(request).set_delay(std::time::Duration::from_secs(3)))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&trip.masonhub)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/{SLUG}/api/v1/orders")))
        .respond_with(|request: &Request| {
            let records: Vec<Value> = serde_json::from_slice(&request.body).unwrap();
            let id = records[0]["customer_identifier"].as_str().unwrap().to_owned();
            batch_answer(json!([{ "customer_identifier": id, "status": "Failure", "messages": [{
                "field_name": "customer_identifier",
                "errors": [format!("301: '{id}' is already taken and 'customer_identifier' must be unique")] }] }]))
        })
        .with_priority(2)
        .mount(&trip.masonhub)
        .await;
    let key = trip.paid_order("7301", &["DEMO-MUG-WHT"]).await;
    trip.env.drain_ingest().await;

    // The worker as Lambda builds it, with a short request timeout.
    let mut env = trip.env.stack.env();
    env.set("MASONHUB_REQUEST_TIMEOUT_MS", "300");
    let env = shared::aws::resolve_app_secret(env).await.unwrap();
    let worker = outbound_worker::connect(outbound_worker::Config::read(env).unwrap()).await;
    let mut rounds = 0;
    while trip.posts("orders").await.len() < 2 && rounds < 10 {
        rounds += 1;
        let Some((event, _)) = trip.env.stack.receive_event(MASONHUB, 3).await.unwrap() else { continue };
        let answer = outbound_worker::handle(&worker, event).await.unwrap();
        assert!(answer.batch_item_failures.is_empty(), "a timeout is retried on the ladder, not by SQS");
    }
    assert_eq!(trip.posts("orders").await.len(), 2, "tried, timed out, tried again");
    let delivered = trip.env.stack.shops.deliveries(&trip.shop, &key).await.unwrap();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].outcome, "delivered");
    assert!(trip.env.stack.shops.dead_letters(&trip.shop, None).await.unwrap().is_empty());
    assert_eq!(trip.env.drain(MASONHUB, 1).await, 0, "nothing left to send");
}

#[tokio::test]
async fn only_the_owner_reconnects_one_reconnect_at_a_time_and_old_callbacks_still_land_for_a_day() {
    let trip = connected("mh-reconnect").await;
    Mock::given(method("POST"))
        .and(path(format!("/{SLUG}/api/v1/orders")))
        .respond_with(accept_all())
        .mount(&trip.masonhub)
        .await;
    let old_token = trip.callback_token(&trip.posts("callbacks").await);
    let key = trip.paid_order("7501", &["DEMO-MUG-WHT"]).await;
    trip.env.drain_ingest().await;

    // Another staff member of the shop may not take the connection over (nothing reaches MasonHub).
    let reconnect = |token: &str| json!({ "environment": "sandbox", "account_slug": SLUG, "api_token": token });
    let other = session::sign(&session::claims_for(&trip.shop, API_KEY, "8", Utc::now(), 60), &Secret::new(API_SECRET));
    let headers = [("Authorization", format!("Bearer {other}")), ("Content-Type", "application/json".to_owned())];
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let body = reconnect("mh-stolen").to_string();
    let response = trip.env.request("PUT", "/api/masonhub/connection", &headers, body.as_bytes()).await;
    assert_eq!(response.status(), 403);
    assert_eq!(json_body(&response)["code"], "NOT_OWNER");
    assert_eq!(trip.posts("callbacks").await.len(), 1);

    // Two reconnects at once: MasonHub is slow to register, the second is refused while the first
    // holds the connection, so the token MasonHub calls with is the one stored.
    trip.masonhub.reset().await;
    Mock::given(method("POST"))
        .and(path(format!("/{SLUG}/api/v1/callbacks")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([{ "status": "Success" }, { "status": "Success" }, { "status": "Success" }, { "status": "Success" }]))
                .set_delay(std::time::Duration::from_millis(800)),
        )
        .mount(&trip.masonhub)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/{SLUG}/api/v1/orders")))
        .respond_with(accept_all())
        .mount(&trip.masonhub)
        .await;
    let (first, second) =
        tokio::join!(trip.call("PUT", "/api/masonhub/connection", Some(reconnect("mh-new-token"))), async {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            trip.call("PUT", "/api/masonhub/connection", Some(reconnect("mh-other-token"))).await
        });
    assert_eq!((first.0, second.0), (200, 409), "{first:?} {second:?}");
    assert_eq!(second.1["code"], "CONCURRENT_UPDATE");
    let registered = trip.posts("callbacks").await;
    assert_eq!(registered.len(), 1, "the refused reconnect never reached MasonHub");
    let new_token = trip.callback_token(&registered);
    assert_ne!(new_token, old_token);

    // The effect already queued goes out with the new API token.
    trip.env.drain(MASONHUB, 0).await;
    let sent = trip.posts("orders").await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].headers.get("authorization").unwrap().to_str().unwrap(), "Bearer mh-new-token");
    assert_eq!(trip.env.stack.shops.deliveries(&trip.shop, &key).await.unwrap()[0].outcome, "delivered");

    // Callbacks MasonHub queued under the old token still land for a day; then only the new one does.
    let event = json!({ "message_id": "old-token-1", "message_type": "orderEvent", "data": [] });
    assert_eq!(trip.callback(&old_token, &event).await.0, 200);
    assert_eq!(
        trip.callback(&new_token, &json!({ "message_id": "new-token-1", "message_type": "orderEvent", "data": [] }))
            .await
            .0,
        200
    );
    use shared::app::connections::masonhub::authenticate;
    let tomorrow = Utc::now() + chrono::Duration::hours(25);
    assert_eq!(authenticate(&trip.env.stack.shops, &old_token, tomorrow).await.unwrap(), None);
    assert_eq!(authenticate(&trip.env.stack.shops, &new_token, tomorrow).await.unwrap(), Some(trip.shop.clone()));
}

#[tokio::test]
async fn an_orders_state_at_masonhub_is_checked_on_demand_beside_ours() {
    let trip = connected("mh-check").await;
    Mock::given(method("POST"))
        .and(path(format!("/{SLUG}/api/v1/orders")))
        .respond_with(accept_all())
        .mount(&trip.masonhub)
        .await;
    // Not routed yet: an unpaid order.
    let (status, body) = trip.call("GET", "/api/masonhub/orders/7601", None).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("ORDER_NOT_FOUND")));
    let key = trip.paid_order("7601", &["DEMO-MUG-WHT"]).await;
    trip.env.drain_ingest().await;
    let (status, body) = trip.call("GET", "/api/masonhub/orders/7601", None).await;
    assert_eq!((status, body["code"].as_str()), (409, Some("NOT_ACCEPTED")), "{body}");
    trip.env.drain(MASONHUB, 0).await;

    let ours = partner_order_id(&trip.shop, &key);
    Mock::given(method("GET"))
        .and(path(format!("/{SLUG}/api/v1/orders")))
        .and(query_param("id", "mh-uuid"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{
            "id": "mh-uuid", "customer_identifier": ours, "status": "packed",
            "tracking_numbers": [{ "shipping_provider": "UPS", "tracking_number": "1Z999", "skus": [] }],
            "updated_at": "2026-11-27T10:00:00Z" }])))
        .mount(&trip.masonhub)
        .await;
    let (status, body) = trip.call("GET", "/api/masonhub/orders/%237601", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["partner_order_id"], ours);
    assert_eq!(body["partner_id"], "mh-uuid");
    assert_eq!(body["ours"]["status"], "open");
    assert_eq!(body["masonhub"]["status"], "packed");
    assert_eq!(body["masonhub"]["tracking_numbers"], json!(["1Z999"]));
    assert_eq!(body["in_sync"], false, "a callback is missing");
    let asked = trip.masonhub.received_requests().await.unwrap();
    let get = asked.iter().find(|r| r.method.as_str() == "GET").unwrap();
    assert_eq!(get.headers.get("authorization").unwrap().to_str().unwrap(), "Bearer mh-secret-token");

    // MasonHub unreachable: a 502 with a code, never a 500.
    trip.masonhub.reset().await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(503)).mount(&trip.masonhub).await;
    let (status, body) = trip.call("GET", "/api/masonhub/orders/7601", None).await;
    assert_eq!((status, body["code"].as_str()), (502, Some("MASONHUB_UNAVAILABLE")));
}

#[tokio::test]
async fn a_held_order_waits_through_revisions_and_its_release_routes_it() {
    let trip = connected("mh-hold").await;
    // Placed on hold before it is paid; the paid revision does not lift the hold.
    let mut order: Value = serde_json::from_slice(&demo_event("orders-create-1001.json")).unwrap();
    order["id"] = json!(7801);
    order["name"] = json!("#7801");
    order["admin_graphql_api_id"] = json!("gid://shopify/Order/7801");
    order["financial_status"] = json!("pending");
    order["fulfillment_status"] = Value::Null;
    order["line_items"][0]["sku"] = json!("DEMO-MUG-WHT");
    trip.env.deliver(&trip.shop, "orders/create", "wh-7801", order.to_string().as_bytes()).await;
    let hold = |status: &str| {
        json!({ "fulfillment_order": { "id": 9781, "status": status, "order_id": 7801 },
        "fulfillment_hold": { "reason": "awaiting_payment" } })
    };
    trip.env
        .deliver(&trip.shop, "fulfillment_orders/placed_on_hold", "hold-7801", hold("on_hold").to_string().as_bytes())
        .await;
    trip.env.drain_ingest().await;
    order["financial_status"] = json!("paid");
    order["updated_at"] = json!("2031-01-01T00:00:00Z");
    trip.env.deliver(&trip.shop, "orders/updated", "wh-7801-paid", order.to_string().as_bytes()).await;
    trip.env.drain_ingest().await;
    let key = OrderKey::parse("shopify:7801").unwrap();
    let stored = trip.env.stack.shops.get_order(&trip.shop, &key).await.unwrap().unwrap();
    assert!(stored.delivery.on_hold, "a revision keeps the hold");
    assert!(stored.ops.route.is_none(), "a held order is not routed");
    assert_eq!(trip.env.drain(MASONHUB, 0).await, 0);

    // The release routes it, and its create is relayed at once.
    trip.env
        .deliver(&trip.shop, "fulfillment_orders/hold_released", "release-7801", hold("open").to_string().as_bytes())
        .await;
    trip.env.drain_ingest().await;
    let stored = trip.env.stack.shops.get_order(&trip.shop, &key).await.unwrap().unwrap();
    assert!(!stored.delivery.on_hold);
    assert_eq!(stored.ops.route.unwrap().partner_order_id, partner_order_id(&trip.shop, &key));
    assert_eq!(trip.sweep(0).await.relayed, 0, "relayed by the worker, not the sweep");
    let urls = &trip.env.stack.queues[&MASONHUB];
    let waiting = trip.env.stack.sqs.receive_message().queue_url(&urls.queue).send().await.unwrap();
    let messages = waiting.messages.unwrap_or_default();
    assert_eq!(messages.len(), 1);
    assert!(messages[0].body.as_deref().unwrap().contains("partner_create"));
}

#[tokio::test]
async fn reconciliation_finds_missing_extra_and_mismatched_orders_and_keeps_the_report() {
    let trip = connected("mh-recon").await;
    Mock::given(method("POST"))
        .and(path(format!("/{SLUG}/api/v1/orders")))
        .respond_with(accept_all())
        .mount(&trip.masonhub)
        .await;
    let keys: Vec<OrderKey> = {
        let mut keys = Vec::new();
        for id in ["7901", "7902", "7903"] {
            keys.push(trip.paid_order(id, &["DEMO-MUG-WHT"]).await);
        }
        keys
    };
    trip.env.drain_ingest().await;
    trip.env.drain(MASONHUB, 0).await;
    let id = |key: &OrderKey| partner_order_id(&trip.shop, key);
    let stranger = partner_order_id(&trip.shop, &OrderKey::parse("shopify:7999").unwrap());
    let other_shop = partner_order_id(&unique_shop("elsewhere"), &keys[0]);
    // MasonHub has #7901 as we do, #7902 with another status, not #7903, and one order of ours we
    // never routed (and one of another shop on the same account, which is none of our business).
    Mock::given(method("GET"))
        .and(path(format!("/{SLUG}/api/v1/orders")))
        .and(query_param("list_type", "summary"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            { "id": "u1", "customer_identifier": id(&keys[0]), "status": "open" },
            { "id": "u2", "customer_identifier": id(&keys[1]), "status": "fulfilled" },
            { "id": "u9", "customer_identifier": stranger, "status": "open" },
            { "id": "u8", "customer_identifier": other_shop, "status": "open" },
        ])))
        .mount(&trip.masonhub)
        .await;

    // On demand over the last 24 hours: these demo orders were created a week ago, so none is checked.
    let asked = json!({ "window": "24h", "integration": "masonhub" });
    let (status, body) = trip.call("POST", "/sync/reconciliation", Some(asked)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["reports"][0]["integration"].as_str(), body["reports"][0]["checked"].as_u64()),
        (Some("masonhub"), Some(0))
    );
    // Every integration the shop uses: Shopify cannot be asked here (nothing answers), which is named
    // beside MasonHub's report rather than failing it.
    let (status, body) = trip.call("POST", "/sync/reconciliation", Some(json!({ "window": "24h" }))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["reports"].as_array().unwrap().len(), 1);
    assert_eq!(body["reports"][0]["integration"], "masonhub");
    assert_eq!(
        (body["failed"][0]["integration"].as_str(), body["failed"][0]["code"].as_str()),
        (Some("shopify"), Some("UPSTREAM_UNAVAILABLE"))
    );

    // Later: every kind of gap, one alert, and the report kept for GET.
    let stack = &trip.env.stack;
    let reconciler = integration_tests::deps!(trip.env.stack, reconciler);
    let deps = reconciler.reconcile();
    // Over the day the orders were created, once their routes are past the grace.
    let created = stack.shops.get_order(&trip.shop, &keys[0]).await.unwrap().unwrap().created_at;
    let (from, to) = (created - chrono::Duration::hours(12), created + chrono::Duration::hours(12));
    let reconcile = |now| shared::app::reconcile::run(&deps, &trip.shop, Integration::MasonHub, from, to, now);
    assert_eq!(reconcile(Utc::now()).await.unwrap().checked, 0, "routes within the grace are not gaps yet");
    let report = reconcile(Utc::now() + chrono::Duration::minutes(20)).await.unwrap();
    assert_eq!(report.checked, 3);
    assert_eq!(report.missing, [keys[2].to_string()]);
    assert_eq!(report.extra, std::slice::from_ref(&stranger));
    assert_eq!(report.mismatched.len(), 1);
    assert_eq!(report.mismatched[0].order, keys[1].to_string());
    assert_eq!(report.mismatched[0].theirs.as_deref(), Some("fulfilled"));
    let gaps: Vec<_> =
        trip.env.alerts(&trip.shop).await.into_iter().filter(|a| a.id.starts_with("reconciliation:")).collect();
    assert_eq!(gaps.len(), 1);
    assert!(
        gaps[0].message.contains(&keys[2].to_string()) && gaps[0].message.contains(&stranger),
        "{}",
        gaps[0].message
    );
    // The missing order can be re-pushed: its gap letter replays as MasonHub's create, once.
    assert_eq!(report.repush.len(), 1);
    let creates = |requests: Vec<wiremock::Request>| {
        requests
            .iter()
            .filter(|r| r.method.as_str() == "POST" && r.url.path().ends_with("/orders"))
            .filter(|r| String::from_utf8_lossy(&r.body).contains(&id(&keys[2])))
            .count()
    };
    let before = creates(trip.masonhub.received_requests().await.unwrap());
    let (status, body) = trip.call("GET", "/api/dead-letters?destination=masonhub", None).await;
    assert_eq!(status, 200);
    let letter = &body["deadLetters"].as_array().unwrap().iter().find(|d| d["cause"] == "gap").unwrap().clone();
    assert_eq!(
        (letter["id"].as_str(), letter["order"].as_str()),
        (Some(report.repush[0].as_str()), Some(&*keys[2].to_string()))
    );
    let (status, body) = trip.call("POST", "/api/dead-letters/replay", Some(json!({ "ids": report.repush }))).await;
    assert_eq!((status, body["replayed"].as_array().map(Vec::len)), (200, Some(1)), "{body}");
    trip.env.drain(MASONHUB, 0).await;
    assert_eq!(creates(trip.masonhub.received_requests().await.unwrap()), before + 1);
    let (_, body) = trip.call("GET", "/api/dead-letters?destination=masonhub", None).await;
    assert!(
        body["deadLetters"].as_array().unwrap().iter().all(|d| d["cause"] != "gap"),
        "the delivery resolved it: {body}"
    );

    let (status, body) = trip.call("GET", "/sync/reconciliation?window=20h", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["reports"][0]["missing"], json!([keys[2].to_string()]));
    assert_eq!(body["reports"][0]["integration"], "masonhub");
    let (status, body) = trip.call("GET", "/sync/reconciliation?window=8d", None).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("INVALID_WINDOW")));
    // A unit that is not one ASCII letter is a 400 too, never a panic (found by schemathesis).
    for window in ["\u{80}", "1\u{e9}", "", "h"] {
        let (status, body) = trip.call("POST", "/sync/reconciliation", Some(json!({ "window": window }))).await;
        assert_eq!((status, body["code"].as_str()), (400, Some("INVALID_WINDOW")), "{window:?}");
    }
    let (status, body) =
        trip.call("POST", "/sync/reconciliation", Some(json!({ "from": "2999-01-01T00:00:00Z" }))).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("INVALID_WINDOW")), "a window in the future");
    let (status, body) = trip.call("POST", "/sync/reconciliation", Some(json!({ "integration": "ebay" }))).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("INVALID_INTEGRATION")));
    let (status, body) = trip.call("POST", "/sync/reconciliation", Some(json!({ "integration": "amazon" }))).await;
    assert_eq!((status, body["code"].as_str()), (409, Some("NOT_CONNECTED")), "{body}");
    let asked = trip.masonhub.received_requests().await.unwrap();
    assert!(asked.iter().filter(|r| r.method.as_str() == "GET").all(|r| r.url.query_pairs().any(|(k, _)| k == "sdt")));

    // The daily run reconciles every connected shop the same way, over the last 25 hours (Shopify
    // too: here it lists nothing).
    Mock::given(method("POST"))
        .and(wiremock::matchers::body_string_contains("query OrderIds"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "data": { "orders": {
            "pageInfo": { "hasNextPage": false, "endCursor": null }, "nodes": [] } } })))
        .mount(&trip.shopify)
        .await;
    let run = reconciler::handle(&reconciler, LambdaEvent::new(json!({}), Context::default())).await.unwrap();
    assert_eq!((run.shops, run.failed), (2, 0), "Shopify and MasonHub");
    let asked = trip.masonhub.received_requests().await.unwrap();
    let sdt = asked.last().unwrap().url.query_pairs().find(|(k, _)| k == "sdt").unwrap().1.into_owned();
    let since = Utc::now() - chrono::DateTime::parse_from_rfc3339(&sdt).unwrap().with_timezone(&Utc);
    assert!((since - chrono::Duration::hours(25)).num_minutes().abs() < 5, "{sdt}");
}

/// A queue whose first send fails.
struct FailsFirstSend {
    inner: SqsQueue,
    sends: AtomicUsize,
}

#[async_trait]
impl MessageQueue for FailsFirstSend {
    async fn send(&self, stage: Stage, message: &Message, delay_seconds: u32) -> Result<(), QueueError> {
        if self.sends.fetch_add(1, Ordering::SeqCst) == 0 {
            return Err(QueueError::unavailable("injected", std::io::Error::other("first send fails")));
        }
        self.inner.send(stage, message, delay_seconds).await
    }
}

#[tokio::test]
async fn a_queue_that_fails_its_first_send_delays_the_effect_but_never_loses_it() {
    let trip = connected("mh-flaky").await;
    mount_shopify_fulfilment(&trip.shopify, "gid://shopify/Order/5601234560002").await;
    trip.env.deliver(&trip.shop, "orders/create", "wh-1002", &demo_event("orders-create-1002.json")).await;
    trip.env.drain_ingest().await;

    let mut deps = integration_tests::deps!(trip.env.stack, dashboard_api);
    let urls = trip.env.stack.queues.iter().map(|(stage, urls)| (*stage, urls.queue.clone())).collect();
    deps.queue =
        Arc::new(FailsFirstSend { inner: SqsQueue::new(trip.env.stack.sqs.clone(), urls), sends: AtomicUsize::new(0) });
    let body = json!({ "shop_domain": trip.shop.as_str(), "orderIds": ["#1002"], "tracking": { "number": "1ZFLAKY", "carrier": "UPS" } });
    let auth = format!("Bearer {}", token_for(&trip.shop));
    let headers = vec![("authorization".to_owned(), auth)];
    let request =
        local_stack::to_lambda_request("POST", "/sync/orders/fulfill", &headers, body.to_string().as_bytes()).unwrap();
    let response = dashboard_api::handle(&deps, request).await.unwrap();
    assert_eq!(response.status(), 200, "the change is committed even though the send failed");

    assert_eq!(trip.env.drain(SHOPIFY, 0).await, 0, "nothing reached the queue");
    let pending = trip.env.stack.shops.pending_effects(&trip.shop, chrono::Utc::now(), 10).await.unwrap();
    assert_eq!(pending.len(), 1, "the effect waits in the outbox");
    assert_eq!(trip.sweep(0).await.relayed, 1);
    assert_eq!(trip.sweep(0).await.relayed, 0, "relayed once");
    trip.env.drain(SHOPIFY, 0).await;
    assert_eq!(graphql_requests(&trip.shopify, "mutation FulfillmentCreate").await.len(), 1);
}

#[tokio::test]
async fn a_crash_after_the_commit_is_healed_by_the_sweep_exactly_once() {
    let trip = connected("mh-crash").await;
    Mock::given(method("POST"))
        .and(path(format!("/{SLUG}/api/v1/orders")))
        .respond_with(accept_all())
        .mount(&trip.masonhub)
        .await;
    // The ingest worker committed the routed order and its create, then died before relaying.
    let key = trip.paid_order("7301", &["DEMO-TOTE-NAT"]).await;
    let urls = trip.env.stack.queues[&Stage::Ingest].clone();
    let received = trip.env.stack.sqs.receive_message().queue_url(&urls.queue).send().await.unwrap();
    let message: Message = serde_json::from_str(received.messages.unwrap()[0].body.as_deref().unwrap()).unwrap();
    let Message::Inbound(webhook) = message else { panic!("an inbound event") };
    let order = shared::integrations::shopify::model::ShopifyOrder::parse(&webhook.payload, trip.shop.clone()).unwrap();
    let routing = shared::app::connections::routing(&trip.env.stack.shops, &trip.shop).await.unwrap();
    let now = chrono::Utc::now() - chrono::Duration::minutes(5);
    let (_, effects) =
        shared::app::orders::apply_routed_revision(&trip.env.stack.shops, &routing, order, now).await.unwrap();
    assert_eq!(effects.len(), 1, "the create committed with the order");

    let first = trip.sweep(30).await;
    let second = trip.sweep(30).await;
    assert_eq!((first.relayed, second.relayed), (1, 0));
    trip.env.drain(MASONHUB, 0).await;
    assert_eq!(trip.posts("orders").await.len(), 1, "exactly once");
    assert_eq!(trip.env.stack.shops.deliveries(&trip.shop, &key).await.unwrap()[0].outcome, "delivered");
}

#[tokio::test]
async fn callbacks_without_the_shops_token_get_401_and_store_nothing() {
    let trip = connected("mh-auth").await;
    let body = json!({ "message_type": "orderEvent", "message_id": "x-1", "data": [] });
    assert_eq!(trip.callback("nope", &body).await.0, 401);
    let forged = shared::integrations::masonhub::webhook::new_token(&trip.shop, &[9; 32]);
    assert_eq!(trip.callback(&forged, &body).await.0, 401, "a token naming the shop but not registered");
    let response = trip.env.request("POST", "/webhooks/masonhub", &[], body.to_string().as_bytes()).await;
    assert_eq!(response.status(), 401);
    assert_eq!(trip.env.drain_ingest().await, 0, "nothing queued");

    // The registered token works as a bearer header too; unknown message types are dropped.
    let token = trip.callback_token(&trip.posts("callbacks").await);
    let auth = format!("Bearer {token}");
    let unknown = json!({ "message_type": "rmaEvent", "message_id": "x-2", "data": [{}] });
    let response = trip
        .env
        .request("POST", "/webhooks/masonhub", &[("Authorization", &auth)], unknown.to_string().as_bytes())
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(trip.env.drain_ingest().await, 0, "acknowledged and dropped");
}

#[tokio::test]
async fn every_callback_example_in_the_fixtures_is_handled() {
    let Some(dir) = fixture("masonhub") else { return };
    let trip = connected("mh-examples").await;
    Mock::given(method("POST"))
        .and(path(format!("/{SLUG}/api/v1/orders")))
        .respond_with(accept_all())
        .mount(&trip.masonhub)
        .await;
    let key = trip.paid_order("7401", &["DEMO-TOTE-NAT"]).await;
    trip.env.drain_ingest().await;
    trip.env.drain(MASONHUB, 0).await;
    let ours = partner_order_id(&trip.shop, &key);
    let token = trip.callback_token(&trip.posts("callbacks").await);
    // The product whose SKU the published stock snapshot names (10 units in the Shopify payload).
    let mut product = shared::testing::product(&trip.shop, "p-mh", 2, 0);
    product.variants[1].sku = Some("23423tf2".into());
    assert!(shared::store::ProductStore::put_product(&trip.env.stack.shops, &product).await.unwrap());
    let examples = [
        "POST_orderEvent.request.posted_order_event_callback.json",
        "POST_orderUpdateResolution.request.order_resolution_callback.json",
        "POST_orderCancelResolution.request.order_resolution_callback.json",
        "POST_skuInventoryChange.request.posted_sku_snapshot_callback.json",
    ];
    for (i, name) in examples.iter().enumerate() {
        let mut example: Value = serde_json::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap();
        // The published examples share one message_id; each is its own delivery here.
        example["message_id"] = json!(format!("published-{i}"));
        // As published (naming orders that are not ours), then naming our order.
        assert_eq!(trip.callback(&token, &example).await.0, 200, "{name}");
        assert_eq!(trip.env.drain_ingest().await, 1, "{name}");
        example["message_id"] = json!(format!("ours-{i}"));
        for entry in example["data"].as_array_mut().unwrap() {
            for field in ["customer_identifier", "customer_order_id"] {
                if entry.get(field).is_some() && !name.contains("sku") {
                    entry[field] = json!(ours);
                }
            }
        }
        assert_eq!(trip.callback(&token, &example).await.0, 200, "{name}");
        assert_eq!(trip.env.drain_ingest().await, 1, "{name}");
    }
    let (_, detail) = trip.call("GET", &format!("/sync/orders/7401?shop_domain={}", trip.shop), None).await;
    let events: Vec<&str> =
        detail["timeline"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert!(events.iter().any(|e| e.starts_with("partner_update_")), "{events:?}");
    assert!(events.iter().any(|e| e.starts_with("partner_cancel_")), "{events:?}");
    let alerts = trip.env.alerts(&trip.shop).await;
    assert!(
        alerts.iter().any(|a| a.kind == AlertKind::PushRejected && a.message.contains("update")),
        "a failed resolution alerts"
    );
    let inventory = shared::store::MirrorStore::mirror(
        &trip.env.stack.shops,
        &trip.shop,
        Integration::MasonHub,
        "sku_inventory",
        "23423tf2",
    )
    .await
    .unwrap();
    assert_eq!(inventory.unwrap().payload["available_to_sell"], 200);
    // The variant's stock at the warehouse, and so its inventory status, follow the snapshot.
    let (stored, _) =
        shared::store::ProductStore::product(&trip.env.stack.shops, &trip.shop, "p-mh").await.unwrap().unwrap();
    let variant = &stored.variants[1];
    assert_eq!(variant.levels["masonhub"].available, 200);
    assert_eq!(variant.quantity(), 200);
    assert_eq!(variant.inventory_status(), shared::domain::product::InventoryStatus::InStock);
    assert!(stored.variants[0].levels.is_empty(), "other SKUs are untouched");
}

#[tokio::test]
async fn every_request_body_the_client_sends_validates_against_the_official_spec() {
    let Some(spec) = fixture("masonhub/public_dereferenced.yaml") else { return };
    let spec: Value = serde_yaml::from_str(&std::fs::read_to_string(spec).unwrap()).unwrap();
    let trip = connected("mh-spec").await;
    Mock::given(method("POST"))
        .and(path(format!("/{SLUG}/api/v1/orders")))
        .respond_with(accept_all())
        .mount(&trip.masonhub)
        .await;
    for resource in ["order_update_requests", "order_cancel_requests"] {
        Mock::given(method("POST"))
            .and(path(format!("/{SLUG}/api/v1/{resource}")))
            .respond_with(accept_all())
            .mount(&trip.masonhub)
            .await;
    }
    let key = trip.paid_order("7501", &["DEMO-HOOD-M-NVY", "DEMO-TOTE-NAT"]).await;
    trip.env.drain_ingest().await;
    trip.env.drain(MASONHUB, 0).await;
    // An edit before shipping (full replacement), then the cancel.
    let mut order: Value = serde_json::from_slice(&demo_event("orders-create-1001.json")).unwrap();
    order["id"] = json!(7501);
    order["name"] = json!("#7501");
    order["financial_status"] = json!("paid");
    order["fulfillment_status"] = Value::Null;
    order["line_items"][0]["sku"] = json!("DEMO-HOOD-M-NVY");
    order["shipping_address"]["address1"] = json!("200 Other St");
    order["updated_at"] = json!("2026-11-21T10:00:00-05:00");
    trip.env.deliver(&trip.shop, "orders/updated", "wh-7501-u", order.to_string().as_bytes()).await;
    order["cancelled_at"] = json!("2026-11-21T11:00:00-05:00");
    order["updated_at"] = json!("2026-11-21T11:00:00-05:00");
    trip.env.deliver(&trip.shop, "orders/cancelled", "wh-7501-c", order.to_string().as_bytes()).await;
    trip.env.drain_ingest().await;
    trip.env.drain(MASONHUB, 0).await;

    for resource in ["callbacks", "orders", "order_update_requests", "order_cancel_requests"] {
        let sent = trip.posts(resource).await;
        assert_eq!(sent.len(), 1, "{resource} sent once");
        let schema =
            &spec["paths"][format!("/{resource}")]["post"]["requestBody"]["content"]["application/json"]["schema"];
        assert!(schema.is_object(), "{resource} has a schema");
        let validator = jsonschema::validator_for(schema).unwrap();
        let body: Value = serde_json::from_slice(&sent[0].body).unwrap();
        let errors: Vec<String> =
            validator.iter_errors(&body).map(|e| format!("{e} at {}", e.instance_path())).collect();
        assert!(errors.is_empty(), "{resource}: {errors:?}\n{body}");
    }
    let deliveries = trip.env.stack.shops.deliveries(&trip.shop, &key).await.unwrap();
    let mut kinds: Vec<&str> = deliveries.iter().map(|d| d.kind.as_str()).collect();
    kinds.sort();
    assert_eq!(kinds, ["partner_cancel", "partner_create", "partner_update"]);
}

#[tokio::test]
async fn fulfilment_settings_are_validated_and_never_route_orders_that_are_not_ours() {
    let trip = connected("mh-settings").await;
    let bad = [
        (
            json!({ "enabled": true, "partner": "masonhub", "rule": { "by": "tag", "tags": [] }, "default_provider": "masonhub", "default_service_level": "ground" }),
            "INVALID_RULE",
        ),
        (
            json!({ "enabled": true, "partner": "masonhub", "rule": { "by": "all" }, "default_provider": "FedEx", "default_service_level": "ground" }),
            "INVALID_SHIPPING",
        ),
        (
            json!({ "enabled": true, "partner": "masonhub", "rule": { "by": "all" }, "default_provider": "UPS", "default_service_level": "ground", "split_policy": "whenever" }),
            "INVALID_SPLIT_POLICY",
        ),
        (json!({ "enabled": true }), "INVALID_BODY"),
    ];
    for (body, code) in bad {
        let (status, answer) = trip.call("PUT", "/api/fulfilment/settings", Some(body)).await;
        assert_eq!((status, answer["code"].as_str().unwrap()), (400, code), "{answer}");
    }
    let control = json!({ "environment": "sandbox", "account_slug": SLUG, "api_token": "tok\u{7f}en" });
    let (status, answer) = trip.call("PUT", "/api/masonhub/connection", Some(control)).await;
    assert_eq!((status, answer["code"].as_str().unwrap()), (400, "INVALID_API_TOKEN"), "{answer}");
    let (status, answer) = trip.call("GET", "/api/fulfilment/settings", None).await;
    assert_eq!((status, answer["settings"]["rule"]["by"].as_str()), (200, Some("all")));
    let (_, connection) = trip.call("GET", "/api/masonhub/connection", None).await;
    assert_eq!(connection["connection"]["account_slug"], SLUG);
    assert!(!connection.to_string().contains("token"), "{connection}");

    // Digital-only lines and local pickup are never routed.
    let mut order: Value = serde_json::from_slice(&demo_event("orders-create-1001.json")).unwrap();
    order["id"] = json!(7601);
    order["financial_status"] = json!("paid");
    order["fulfillment_status"] = Value::Null;
    for line in order["line_items"].as_array_mut().unwrap() {
        line["requires_shipping"] = json!(false);
    }
    trip.env.deliver(&trip.shop, "orders/create", "wh-7601", order.to_string().as_bytes()).await;
    order["id"] = json!(7602);
    order["line_items"][0]["requires_shipping"] = json!(true);
    order["shipping_lines"] = json!([{ "title": "Store pickup", "code": "pickup" }]);
    trip.env.deliver(&trip.shop, "orders/create", "wh-7602", order.to_string().as_bytes()).await;
    trip.env.drain_ingest().await;
    assert_eq!(trip.env.drain(MASONHUB, 0).await, 0, "nothing routed");
    for id in ["7601", "7602"] {
        let key = OrderKey::parse(&format!("shopify:{id}")).unwrap();
        let stored = trip.env.stack.shops.get_order(&trip.shop, &key).await.unwrap().unwrap();
        assert!(stored.ops.route.is_none(), "{id}");
    }
}

#[tokio::test]
async fn a_polled_order_is_routed_too_and_its_create_is_relayed_at_once() {
    let trip = connected("mh-poll").await;
    let orders: Value = serde_json::from_str(
        &std::fs::read_to_string(integration_tests::root().join("events/shopify-admin/orders.json")).unwrap(),
    )
    .unwrap();
    let edges: Vec<Value> =
        orders["orders"].as_array().unwrap().iter().map(|n| json!({ "cursor": "c", "node": n })).collect();
    Mock::given(body_string_contains("query OrdersPage"))
        .respond_with(shopify_data(
            json!({ "orders": { "pageInfo": { "hasNextPage": false, "endCursor": "5" }, "edges": edges } }),
        ))
        .mount(&trip.shopify)
        .await;
    let schedule: Value = serde_json::from_str(
        &std::fs::read_to_string(integration_tests::root().join("events/shopify-scheduler/schedule.json")).unwrap(),
    )
    .unwrap();
    let scheduler = integration_tests::deps!(trip.env.stack, shopify_scheduler);
    shopify_scheduler::handle(&scheduler, LambdaEvent::new(schedule, Context::default())).await.unwrap();
    trip.env.drain(Stage::Poll(Integration::Shopify), 0).await;

    // #1005 is paid and unfulfilled in the poll; the others are fulfilled, partial or cancelled.
    let key = OrderKey::parse("shopify:5601234560005").unwrap();
    let order = trip.env.stack.shops.get_order(&trip.shop, &key).await.unwrap().unwrap();
    assert_eq!(order.ops.route.unwrap().partner_order_id, partner_order_id(&trip.shop, &key));
    let routed = OrderKey::parse("shopify:5601234560001").unwrap();
    assert!(trip.env.stack.shops.get_order(&trip.shop, &routed).await.unwrap().unwrap().ops.route.is_none());
    // Relayed by the poller right after the commit: nothing is left for the sweep.
    assert_eq!(trip.sweep(0).await.relayed, 0);
    let urls = &trip.env.stack.queues[&MASONHUB];
    let waiting = trip.env.stack.sqs.receive_message().queue_url(&urls.queue).send().await.unwrap();
    let messages = waiting.messages.unwrap_or_default();
    assert_eq!(messages.len(), 1);
    assert!(messages[0].body.as_deref().unwrap().contains("partner_create"));
}
