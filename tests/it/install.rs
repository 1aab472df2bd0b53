//! The install and token lifecycle against wiremock (Shopify) and moto: the token exchange of a shop's
//! first session-token request, one exchange for concurrent first requests, a refused session token,
//! missing scopes, hosts outside myshopify.com, refresh before expiry with the rotated refresh token
//! stored, a refused refresh, and a 401 that parks the shop's work until a reconnect resumes it.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use integration_tests::{TestEnv, graphql_requests, graphql_variables, json_body, token_for};
use serde_json::{Value, json};
use shared::{
    app::{alerts, shops},
    domain::{
        AlertKind, Integration, ShopDomain,
        poll::{PollWindow, WindowMode},
    },
    queue::{Message, PollJob, PollTask, Stage},
    secrets::Sealer,
    store::{Resource, ShopRecord, SyncStore, TokenStore},
    testing::unique_shop,
};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{body_string_contains, header, method, path},
};

const SHOPIFY_POLL: Stage = Stage::Poll(Integration::Shopify);

fn token_path(shop: &ShopDomain) -> String {
    format!("/{shop}/admin/oauth/access_token")
}

fn grant(access: &str, refresh: &str, scope: &str, expires_in: i64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "access_token": access, "scope": scope, "expires_in": expires_in,
        "refresh_token": refresh, "refresh_token_expires_in": 7_776_000,
    }))
}

fn all_scopes() -> String {
    local_stack::LOCAL_REQUIRED_SCOPES.to_owned()
}

async fn setup() -> (TestEnv, MockServer) {
    let server = MockServer::start().await;
    let env = TestEnv::with_shopify(&format!("{}/{{shop}}", server.uri())).await;
    (env, server)
}

async fn record(env: &TestEnv, shop: &ShopDomain) -> Option<ShopRecord> {
    env.stack.shops.shop_versioned(shop).await.unwrap().map(|(r, _)| r)
}

async fn get(env: &TestEnv, shop: &ShopDomain, target: &str) -> (u16, Value) {
    let response = env.get_as(shop, target).await;
    (response.status().as_u16(), json_body(&response))
}

/// Answers every poll query with an empty page and every subscription query with none, so installs'
/// queued jobs complete.
async fn mount_empty_admin_api(server: &MockServer) {
    Mock::given(body_string_contains("query WebhookSubscriptions"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "data": { "webhookSubscriptions": { "nodes": [] } } })),
        )
        .mount(server)
        .await;
    Mock::given(body_string_contains("mutation WebhookSubscriptionCreate"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "data": { "webhookSubscriptionCreate": {
            "webhookSubscription": { "id": "gid://shopify/WebhookSubscription/1", "topic": "X" }, "userErrors": [] } } })))
        .mount(server)
        .await;
    Mock::given(body_string_contains("query OrdersPage"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({ "data": { "orders": { "pageInfo": { "hasNextPage": false, "endCursor": null }, "edges": [] } } }),
        ))
        .mount(server)
        .await;
    Mock::given(body_string_contains("query ProductsPage"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({ "data": { "products": { "pageInfo": { "hasNextPage": false, "endCursor": null }, "nodes": [] } } }),
        ))
        .mount(server)
        .await;
}

/// The raw shop item, as DynamoDB holds it.
async fn raw_shop_item(env: &TestEnv, shop: &ShopDomain) -> String {
    let sdk = shared::aws::sdk_config().await;
    let item = shared::aws::dynamodb(&sdk)
        .get_item()
        .table_name(&env.stack.settings.table_name)
        .key("PK", aws_sdk_dynamodb::types::AttributeValue::S(format!("SHOP#{shop}")))
        .key("SK", aws_sdk_dynamodb::types::AttributeValue::S("SHOP".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    format!("{item:?}")
}

#[tokio::test]
async fn a_first_session_token_request_exchanges_it_for_an_expiring_token_and_installs_the_shop() {
    let (env, server) = setup().await;
    let shop = unique_shop("install");
    Mock::given(method("POST"))
        .and(path(token_path(&shop)))
        .respond_with(grant("shpat_exchanged", "shprt_first", &all_scopes(), 3600))
        .expect(1)
        .mount(&server)
        .await;
    mount_empty_admin_api(&server).await;

    let session_token = token_for(&shop);
    let auth = format!("Bearer {session_token}");
    let before = Utc::now();
    let response = env.request("GET", "/api/products", &[("Authorization", &auth)], b"").await;
    assert_eq!(response.status(), 200, "{}", json_body(&response));
    assert_eq!(json_body(&response), json!({ "products": [], "hasNextPage": false, "cursor": null }));

    // The exchange carried the session token with the documented grant, asking for an expiring token.
    let exchange: Value = serde_json::from_slice(&server.received_requests().await.unwrap()[0].body).unwrap();
    assert_eq!(exchange["grant_type"], "urn:ietf:params:oauth:grant-type:token-exchange");
    assert_eq!(exchange["subject_token"], session_token.as_str());
    assert_eq!(exchange["subject_token_type"], "urn:ietf:params:oauth:token-type:id_token");
    assert_eq!(exchange["requested_token_type"], "urn:shopify:params:oauth:token-type:offline-access-token");
    assert_eq!(exchange["expiring"], "1");
    assert_eq!(exchange["client_id"], integration_tests::API_KEY);
    assert_eq!(exchange["client_secret"], integration_tests::API_SECRET);

    // Stored sealed, with its scopes and expiry; both secrets open only under the shop's contexts.
    let stored = record(&env, &shop).await.unwrap();
    assert_eq!(stored.scopes.join(","), all_scopes());
    let expires = stored.token.expires_at.unwrap();
    assert!(expires >= before + TimeDelta::seconds(3590) && expires <= Utc::now() + TimeDelta::seconds(3600));
    assert!(stored.token.invalid_since.is_none());
    let raw = raw_shop_item(&env, &shop).await;
    assert!(!raw.contains("shpat_exchanged") && !raw.contains("shprt_first"), "no plaintext at rest");
    assert_eq!(shops::open_token(&env.stack.sealer, &stored).await.unwrap().expose(), "shpat_exchanged");
    let refresh = stored.token.sealed_refresh_token.clone().unwrap();
    let opened = env
        .stack
        .sealer
        .open(&refresh, &shared::app::credentials::context(&shop, Integration::Shopify, "refresh_token"))
        .await
        .unwrap();
    assert_eq!(opened.expose(), "shprt_first");

    // The queued install work: webhook registration (quietly), the first windows, a 60-day backfill.
    env.drain(SHOPIFY_POLL, 0).await;
    let created = graphql_requests(&server, "mutation WebhookSubscriptionCreate").await;
    assert_eq!(created.len(), shopify_poller::SUBSCRIBED_TOPICS.len());
    assert!(created.iter().all(|r| r.headers.get("x-shopify-access-token").unwrap() == "shpat_exchanged"));
    assert!(
        env.alerts(&shop).await.is_empty(),
        "an install reports no missing subscriptions: {:?}",
        env.alerts(&shop).await
    );
    let searches: Vec<String> = graphql_requests(&server, "query OrdersPage")
        .await
        .iter()
        .map(|r| graphql_variables(r)["query"].as_str().unwrap().to_owned())
        .collect();
    let backfill_from = (before - TimeDelta::days(60)).format("%Y-%m-%d").to_string();
    assert!(searches.iter().any(|q| q.starts_with(&format!("created_at:>='{backfill_from}"))), "{searches:?}");
    assert!(searches.iter().any(|q| q.starts_with("updated_at:>")), "{searches:?}");
    assert_eq!(graphql_requests(&server, "query ProductsPage").await.len(), 1);
    assert!(
        env.stack.shops.sync_state(&shop).await.unwrap().watermark_at(Integration::Shopify, Resource::Orders).is_some()
    );

    // Later requests use the stored token: no second exchange (`expect(1)`).
    assert_eq!(get(&env, &shop, "/api/orders").await.0, 200);
    assert_eq!(get(&env, &shop, &format!("/sync/orders?shop_domain={shop}")).await.0, 200);
}

#[tokio::test]
async fn concurrent_first_requests_exchange_once() {
    let (env, server) = setup().await;
    let shop = unique_shop("install-race");
    Mock::given(method("POST"))
        .and(path(token_path(&shop)))
        .respond_with(grant("shpat_once", "shprt_once", &all_scopes(), 3600).set_delay(Duration::from_millis(700)))
        .expect(1)
        .mount(&server)
        .await;
    let mut handles = Vec::new();
    for i in 0..5 {
        let stack = env.stack.clone();
        let target = if i % 2 == 0 { "/api/orders".to_owned() } else { format!("/sync/orders?shop_domain={shop}") };
        let auth = format!("Bearer {}", token_for(&shop));
        let request =
            local_stack::to_lambda_request("GET", &target, &[("Authorization".to_owned(), auth)], b"").unwrap();
        handles.push(tokio::spawn(async move { stack.dispatch(request).await.status().as_u16() }));
    }
    let mut statuses = Vec::new();
    for handle in handles {
        statuses.push(handle.await.unwrap());
    }
    assert_eq!(statuses, [200; 5]);
    assert_eq!(server.received_requests().await.unwrap().len(), 1, "one exchange");
    let stored = record(&env, &shop).await.unwrap();
    assert_eq!(shops::open_token(&env.stack.sealer, &stored).await.unwrap().expose(), "shpat_once");
}

#[tokio::test]
async fn an_expired_session_token_refused_by_shopify_is_a_clear_401_and_installs_nothing() {
    let (env, server) = setup().await;
    let shop = unique_shop("install-expired");
    Mock::given(method("POST"))
        .and(path(token_path(&shop)))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({ "error": "invalid_subject_token", "error_description": "Session token has expired" }),
        ))
        .mount(&server)
        .await;
    let (status, body) = get(&env, &shop, "/api/orders").await;
    assert_eq!(status, 401);
    assert_eq!(body["code"], "TOKEN_INVALID");
    assert!(body["error"].as_str().unwrap().contains("Shopify refused this session token (HTTP 400)"), "{body}");
    let (status, body) = get(&env, &shop, &format!("/sync/orders?shop_domain={shop}")).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("TOKEN_INVALID")));
    assert!(record(&env, &shop).await.is_none(), "nothing installed");
    assert!(env.alerts(&shop).await.is_empty());
}

#[tokio::test]
async fn missing_scopes_raise_a_setup_alert_naming_them() {
    let (env, server) = setup().await;
    let shop = unique_shop("install-scopes");
    Mock::given(method("POST"))
        .and(path(token_path(&shop)))
        .respond_with(grant("shpat_few", "shprt_few", "read_orders,read_products", 3600))
        .mount(&server)
        .await;
    assert_eq!(get(&env, &shop, "/api/orders").await.0, 200);
    let alerts = env.alerts(&shop).await;
    let setup: Vec<_> = alerts.iter().filter(|a| a.kind == AlertKind::Setup).collect();
    assert_eq!(setup.len(), 1, "{alerts:?}");
    assert_eq!(setup[0].id, alerts::MISSING_SCOPES_ID);
    for scope in ["read_all_orders", "write_orders", "read_inventory", "write_fulfillments", "read_returns"] {
        assert!(setup[0].message.contains(scope), "{}", setup[0].message);
    }
    assert!(!setup[0].message.contains("read_products,"), "granted scopes are not named");
}

#[tokio::test]
async fn shops_outside_myshopify_are_refused_before_any_token_is_sent() {
    let (env, server) = setup().await;
    for host in ["127.0.0.1", "shop.evil.example", "a.b.myshopify.com"] {
        let shop = ShopDomain::parse(host).unwrap();
        let (status, body) = get(&env, &shop, "/api/orders").await;
        assert_eq!((status, body["code"].as_str()), (403, Some("SHOP_NOT_ALLOWED")), "{host}: {body}");
        let (status, _) = get(&env, &shop, &format!("/sync/orders?shop_domain={host}")).await;
        assert_eq!(status, 403, "{host}");
    }
    assert!(server.received_requests().await.unwrap().is_empty(), "no token left for a foreign host");
}

/// Installs `shop` by exchange with a token that expires in `expires_in` seconds.
async fn install_by_exchange(env: &TestEnv, server: &MockServer, shop: &ShopDomain, access: &str, expires_in: i64) {
    Mock::given(method("POST"))
        .and(path(token_path(shop)))
        .and(body_string_contains("token-exchange"))
        .respond_with(grant(access, "shprt_1", &all_scopes(), expires_in))
        .up_to_n_times(1)
        .mount(server)
        .await;
    assert_eq!(get(env, shop, "/api/orders").await.0, 200);
    // The install's own jobs are not under test here.
    env.stack.sqs.purge_queue().queue_url(&env.stack.queues[&SHOPIFY_POLL].queue).send().await.unwrap();
}

fn subscriptions_job(shop: &ShopDomain, origin: &str) -> Message {
    let task = PollTask::Subscriptions;
    Message::Poll(PollJob { integration: Integration::Shopify, shop: shop.clone(), origin: origin.into(), task })
}

#[tokio::test]
async fn a_token_near_expiry_is_refreshed_once_and_the_rotated_refresh_token_is_stored() {
    let (env, server) = setup().await;
    let shop = unique_shop("refresh");
    // Ten minutes left: inside the refresh margin.
    install_by_exchange(&env, &server, &shop, "shpat_old", 600).await;
    Mock::given(method("POST"))
        .and(path(token_path(&shop)))
        .and(body_string_contains("\"grant_type\":\"refresh_token\""))
        .and(body_string_contains("\"refresh_token\":\"shprt_1\""))
        .respond_with(grant("shpat_new", "shprt_2", &all_scopes(), 3600).set_delay(Duration::from_millis(500)))
        .expect(1)
        .mount(&server)
        .await;

    // Five workers want the token at once: one refreshes, the others use the current token meanwhile.
    let stale = record(&env, &shop).await.unwrap();
    let mut handles = Vec::new();
    let poller = integration_tests::deps!(env.stack, shopify_poller);
    for _ in 0..5 {
        let (tokens, stale) = (poller.tokens.clone(), stale.clone());
        handles.push(tokio::spawn(async move { tokens.token(&stale).await.unwrap().expose().to_owned() }));
    }
    let mut got = Vec::new();
    for handle in handles {
        got.push(handle.await.unwrap());
    }
    assert!(got.contains(&"shpat_new".to_owned()), "{got:?}");
    assert!(got.iter().all(|t| t == "shpat_new" || t == "shpat_old"), "{got:?}");

    let refreshed = record(&env, &shop).await.unwrap();
    assert_eq!(shops::open_token(&env.stack.sealer, &refreshed).await.unwrap().expose(), "shpat_new");
    let rotated = env
        .stack
        .sealer
        .open(
            refreshed.token.sealed_refresh_token.as_deref().unwrap(),
            &shared::app::credentials::context(&shop, Integration::Shopify, "refresh_token"),
        )
        .await
        .unwrap();
    assert_eq!(rotated.expose(), "shprt_2", "Shopify's replacement refresh token is stored with the new token");
    assert!(refreshed.token.expires_at.unwrap() > Utc::now() + TimeDelta::minutes(55));
    assert!(!raw_shop_item(&env, &shop).await.contains("shprt_2"));

    // A poll job now uses the new token without refreshing again (`expect(1)`).
    mount_empty_admin_api(&server).await;
    env.enqueue(SHOPIFY_POLL, &subscriptions_job(&shop, "tick-r"), 0).await;
    env.drain(SHOPIFY_POLL, 0).await;
    let listed = graphql_requests(&server, "query WebhookSubscriptions").await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].headers.get("x-shopify-access-token").unwrap(), "shpat_new");
}

#[tokio::test]
async fn a_refused_refresh_marks_the_shop_for_reconnect_and_parks_the_job() {
    let (env, server) = setup().await;
    let shop = unique_shop("refresh-refused");
    install_by_exchange(&env, &server, &shop, "shpat_old", 60).await;
    Mock::given(method("POST"))
        .and(path(token_path(&shop)))
        .and(body_string_contains("refresh_token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({ "error": "invalid_grant" })))
        .mount(&server)
        .await;
    env.enqueue(SHOPIFY_POLL, &subscriptions_job(&shop, "tick-x"), 0).await;
    env.drain(SHOPIFY_POLL, 0).await;

    let stored = record(&env, &shop).await.unwrap();
    assert!(stored.token.invalid_since.is_some(), "needs re-authorisation");
    let reconnect: Vec<_> = env.alerts(&shop).await.into_iter().filter(|a| a.kind == AlertKind::Reconnect).collect();
    assert_eq!(reconnect.len(), 1);
    assert_eq!(env.stack.shops.parked(&shop, 10).await.unwrap().len(), 1, "parked, not dead-lettered");
    assert!(graphql_requests(&server, "query WebhookSubscriptions").await.is_empty(), "no call with an expired token");
}

#[tokio::test]
async fn a_401_parks_the_shops_work_until_a_reconnect_resumes_it() {
    let (env, server) = setup().await;
    let shop = unique_shop("reconnect");
    install_by_exchange(&env, &server, &shop, "shpat_revoked", 3600).await;
    let key = create_api_key(&env, &shop).await;
    Mock::given(method("POST"))
        .and(header("X-Shopify-Access-Token", "shpat_revoked"))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(json!({ "errors": "[API] Invalid API key or access token" })),
        )
        .mount(&server)
        .await;

    // A poll window meets the 401: the token is marked invalid, the job parked, a reconnect alert raised.
    let window = PollWindow { mode: WindowMode::Backfill, from: Utc::now() - TimeDelta::days(1), until: Utc::now() };
    let job = Message::Poll(PollJob {
        integration: Integration::Shopify,
        shop: shop.clone(),
        origin: "tick-401".into(),
        task: PollTask::Orders { window, after: None },
    });
    env.enqueue(SHOPIFY_POLL, &job, 0).await;
    env.drain(SHOPIFY_POLL, 0).await;
    let stored = record(&env, &shop).await.unwrap();
    let since = stored.token.invalid_since.expect("marked invalid");
    let parked = env.stack.shops.parked(&shop, 10).await.unwrap();
    assert_eq!(parked.iter().map(|p| &p.message).collect::<Vec<_>>(), [&job]);
    let alerts = env.alerts(&shop).await;
    let reconnect = alerts.iter().find(|a| a.kind == AlertKind::Reconnect).expect("reconnect alert");
    assert_eq!(reconnect.id, alerts::reconnect_id(since));
    assert!(reconnect.cleared_at.is_none());
    assert_eq!(dead_letters(&env).await, 0, "parked, not dead-lettered");

    // The assistant API says TOKEN_INVALID (API key: no exchange possible), and the scheduler adds no work.
    let response = env.request("GET", "/api/orders", &[("X-Api-Key", key.as_str())], b"").await;
    assert_eq!(response.status(), 401);
    assert_eq!(json_body(&response)["code"], "TOKEN_INVALID");
    let report = shopify_scheduler::run(
        &integration_tests::deps!(env.stack, shopify_scheduler),
        shopify_scheduler::Invocation { id: Some("tick-after-401".into()), backfill: None },
    )
    .await
    .unwrap();
    assert_eq!(report.jobs, 0, "{report:?}");
    assert_eq!(env.drain(SHOPIFY_POLL, 0).await, 0, "no jobs for a shop that must reconnect");

    // The merchant opens the app: a new exchange, the alert cleared, the parked work resumed with the new token.
    Mock::given(method("POST"))
        .and(path(token_path(&shop)))
        .and(body_string_contains("token-exchange"))
        .respond_with(grant("shpat_fresh", "shprt_fresh", &all_scopes(), 3600))
        .expect(1)
        .mount(&server)
        .await;
    mount_empty_admin_api(&server).await;
    let (status, _) = get(&env, &shop, "/api/orders").await;
    assert_eq!(status, 200);
    let stored = record(&env, &shop).await.unwrap();
    assert!(stored.token.invalid_since.is_none());
    assert!(env.stack.shops.parked(&shop, 10).await.unwrap().is_empty());
    let cleared = env.alerts(&shop).await.into_iter().find(|a| a.kind == AlertKind::Reconnect).unwrap();
    assert!(cleared.cleared_at.is_some(), "the reconnect alert is cleared");
    env.drain(SHOPIFY_POLL, 0).await;
    let resumed = graphql_requests(&server, "query OrdersPage").await;
    let again: Vec<_> = resumed
        .iter()
        .filter(|r| graphql_variables(r)["query"] == shared::integrations::shopify::graphql::search(&window).0.as_str())
        .collect();
    assert_eq!(again.len(), 2, "the parked backfill was tried once before and ran again after the reconnect");
    assert_eq!(again[1].headers.get("x-shopify-access-token").unwrap(), "shpat_fresh");
    // The reconnect also checked the subscriptions (missing ones re-created, with a recovery window).
    assert!(!graphql_requests(&server, "mutation WebhookSubscriptionCreate").await.is_empty());
    let response = env.request("GET", "/api/orders", &[("X-Api-Key", key.as_str())], b"").await;
    assert_eq!(response.status(), 200, "the API key works again");
}

async fn dead_letters(env: &TestEnv) -> usize {
    let urls = &env.stack.queues[&SHOPIFY_POLL];
    let attributes = env
        .stack
        .sqs
        .get_queue_attributes()
        .queue_url(&urls.dlq)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .unwrap();
    attributes
        .attributes
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages).cloned())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// A new assistant API key of `shop` (created with a session token), as shown once.
pub async fn create_api_key(env: &TestEnv, shop: &ShopDomain) -> String {
    let auth = format!("Bearer {}", token_for(shop));
    let response = env.request("POST", "/api/assistant/keys", &[("Authorization", &auth)], br#"{"label":"bot"}"#).await;
    assert_eq!(response.status(), 201, "{}", json_body(&response));
    json_body(&response)["secret"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_local_stack_installs_a_shop_on_its_first_session_token_request_through_the_simulator() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let env = TestEnv::with_shopify(&format!("{base}{}/{{shop}}", local_stack::sim::shopify::ROUTE_PREFIX)).await;
    let server = tokio::spawn(local_stack::serve(env.stack.clone(), listener));

    // The banner's curl, as printed by `make dev`.
    let curl = local_stack::install_curl(&env.stack.settings, &base, 1);
    let token = curl.split("Bearer ").nth(1).unwrap().split('\'').next().unwrap().to_owned();
    let url = curl.rsplit(' ').next().unwrap().trim_matches('\'').to_owned();
    let client = reqwest::Client::new();
    let first = client.get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(first.status(), 200);

    let shop = ShopDomain::parse(local_stack::EXCHANGE_DEMO_SHOP).unwrap();
    let stored = record(&env, &shop).await.expect("installed by the token exchange");
    assert_eq!(stored.scopes.join(","), local_stack::LOCAL_REQUIRED_SCOPES);
    assert!(stored.token.expires_at.is_some() && stored.token.sealed_refresh_token.is_some());
    assert!(env.alerts(&shop).await.iter().all(|a| a.kind != AlertKind::Setup), "every required scope granted");

    // The install's queued poll reads the simulator's catalogue with the exchanged token.
    env.drain(SHOPIFY_POLL, 0).await;
    let body: Value = client.get(&url).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    let mug = body["products"].as_array().unwrap().iter().find(|p| p["title"] == "Demo Ceramic Mug").unwrap();
    assert_eq!(mug["description"], "A 12 oz stoneware mug. Dishwasher safe.");
    assert_eq!(mug["variants"][0]["option1"], "White");
    server.abort();
}

/// Shopify's token endpoint down while the token has expired: a push is not an error burning the
/// queue's receives but a failed attempt on Shopify's retry ladder, sent again later.
#[tokio::test]
async fn a_refresh_shopify_cannot_answer_puts_a_push_on_the_retry_ladder() {
    use shared::queue::{Outbound, OutboundChange, Stage, memory::MemoryQueue};
    let (env, server) = setup().await;
    let shop = unique_shop("refresh-outage");
    install_by_exchange(&env, &server, &shop, "shpat_expiring", 0).await;
    Mock::given(method("POST"))
        .and(path(token_path(&shop)))
        .and(body_string_contains("refresh_token"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let mut deps = integration_tests::deps!(env.stack, outbound_worker);
    let queue = std::sync::Arc::new(MemoryQueue::new());
    deps.queue = queue.clone();
    let push = Message::Outbound(Outbound {
        destination: Integration::Shopify,
        shop: shop.clone(),
        order: "shopify:5601234560002".into(),
        id: "ship-refresh".into(),
        change: OutboundChange::FulfillmentCreate {
            shipment_id: "ship-refresh".into(),
            tracking_number: Some("1ZREF".into()),
            carrier: None,
        },
        attempt: 0,
        replay: false,
    });
    shared::app::outbound::process(&deps, push).await.unwrap();
    let sent: Vec<(Stage, u32, u32)> = queue
        .sent()
        .into_iter()
        .filter_map(|(stage, m, delay)| match m {
            Message::Outbound(o) => Some((stage, o.attempt, delay)),
            _ => None,
        })
        .collect();
    assert_eq!(sent, [(Stage::Outbound(Integration::Shopify), 1, 1)]);
    assert!(record(&env, &shop).await.unwrap().token.invalid_since.is_none(), "not a refused token");
    assert!(graphql_requests(&server, "mutation FulfillmentCreate").await.is_empty());
}
