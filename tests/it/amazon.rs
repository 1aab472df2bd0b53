//! The Amazon SP-API channel end to end: the `amazon-api` endpoints against wiremock serving the
//! published SP-API payloads (`../shared/fixtures/spapi`, read in place), the DynamoDB store in moto, KMS
//! sealing, the carried-over sync on the amazon-sync queue, and the local stack's SP-API simulator.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use chrono::{DateTime, Duration, Utc};
use integration_tests::{API_KEY, API_SECRET, TestEnv, fixture, json_body, token_for};
use lambda_http::{Body, Response, http::StatusCode};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};
use shared::{
    app::connections::amazon::AmazonConnection,
    error::StoreError,
    integrations::amazon::model::{AmazonOrder, AmazonOrderItem},
    store::{CredentialStore, Resource, SealedCredential, SyncStore, Watermark},
};
use shared::{
    clock::{Clock, FixedClock},
    config::{Env, Secret},
    domain::{AlertKind, Channel, ChannelOrderId, Integration, OrderKey, ShopDomain},
    integrations::amazon::lwa::{LwaClient, LwaCredentials},
    integrations::shopify::session,
    queue::{Message, PollTask, Stage},
    store::{AlertStore, OrderStore, dynamo::DynamoStore},
    testing::unique_shop,
};
use wiremock::{
    Mock, MockServer, Request, ResponseTemplate,
    matchers::{method, path, path_regex, query_param, query_param_is_missing},
};

const OWNER: &str = "owner-1";
const AMAZON_POLL: Stage = Stage::Poll(Integration::Amazon);

/// What the tests read back of the Amazon data, through the app's typed readers over the generic
/// connection, credential, watermark and mirror stores.
trait AmazonReads {
    async fn amazon_orders(&self, shop: &ShopDomain, limit: usize) -> Result<Vec<AmazonOrder>, StoreError>;
    async fn amazon_order(
        &self,
        shop: &ShopDomain,
        marketplace: &str,
        id: &str,
    ) -> Result<Option<(AmazonOrder, Vec<AmazonOrderItem>)>, StoreError>;
    async fn amazon_connection(&self, shop: &ShopDomain) -> Result<Option<AmazonConnection>, StoreError>;
    async fn amazon_watermark(&self, shop: &ShopDomain) -> Result<Option<Watermark>, StoreError>;
    async fn amazon_credential(&self, shop: &ShopDomain) -> Result<Option<SealedCredential>, StoreError>;
}

impl AmazonReads for DynamoStore {
    async fn amazon_orders(&self, shop: &ShopDomain, limit: usize) -> Result<Vec<AmazonOrder>, StoreError> {
        shared::app::poll::amazon::stored_orders(self, shop, limit).await
    }

    async fn amazon_order(
        &self,
        shop: &ShopDomain,
        marketplace: &str,
        id: &str,
    ) -> Result<Option<(AmazonOrder, Vec<AmazonOrderItem>)>, StoreError> {
        shared::app::poll::amazon::stored_order(self, shop, marketplace, id).await
    }

    async fn amazon_connection(&self, shop: &ShopDomain) -> Result<Option<AmazonConnection>, StoreError> {
        shared::app::connections::amazon::load(self, shop).await
    }

    async fn amazon_watermark(&self, shop: &ShopDomain) -> Result<Option<Watermark>, StoreError> {
        Ok(self.sync_state(shop).await?.watermark(Integration::Amazon, Resource::Orders).cloned())
    }

    async fn amazon_credential(&self, shop: &ShopDomain) -> Result<Option<SealedCredential>, StoreError> {
        self.credential(shop, Integration::Amazon).await
    }
}

/// `amazon-poller` wired to `vars`.
async fn poller(vars: Vec<(String, String)>) -> amazon_poller::Deps {
    amazon_poller::connect(amazon_poller::Config::read(Env::from_map(vars)).unwrap()).await
}
const OTHER: &str = "staff-2";
const REFRESH_TOKEN: &str = "Atzr|IwEBIJ-refresh-token-under-test-0123456789";
const CLIENT_SECRET: &str = "amzn1.oa2-cs.v1.client-secret-under-test";
const TEST_CASE_200_ORDER: &str = "902-1845936-5435065";

/// `../shared/fixtures/spapi/<name>`, or `None` (the test prints SKIPPED and ends).
fn spapi_dir() -> Option<PathBuf> {
    fixture("spapi")
}

fn read(dir: &std::path::Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn json_response(status: u16, body: impl Into<String>) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body.into().into_bytes(), "application/json")
}

/// The `x-amzn-api-sandbox` static responses of an operation in `orders_2026-01-01.json`.
fn sandbox_responses(dir: &std::path::Path, api_path: &str, status: &str) -> Vec<Value> {
    let model: Value = serde_json::from_str(&read(dir, "orders_2026-01-01.json")).unwrap();
    model["paths"][api_path]["get"]["responses"][status]["x-amzn-api-sandbox"]["static"]
        .as_array()
        .unwrap()
        .iter()
        .map(|case| case["response"].clone())
        .collect()
}

struct Harness {
    env: TestEnv,
    server: MockServer,
    deps: amazon_api::Deps,
    shop: ShopDomain,
    store: DynamoStore,
}

/// The `NextToken` of the sandbox's first `getOrders` page.
const V0_NEXT_TOKEN: &str = "2YgYW55IGNhcm5hbCBwbGVhc3VyZS4";

impl Harness {
    /// A stack in moto, wiremock as every SP-API endpoint and the LWA token URL, and `amazon-api` wired
    /// to both. `overrides` replace environment values (back-off tuning).
    async fn new(overrides: &[(&str, &str)]) -> Self {
        let env = TestEnv::new().await;
        let server = MockServer::start().await;
        let sdk = shared::aws::sdk_config().await;
        let key_id = shared::secrets::ensure_key(&shared::aws::kms(&sdk), local_stack::LOCAL_KEY_ALIAS).await.unwrap();
        let stack = &env.stack;
        let mut vars: Vec<(String, String)> = local_stack::spapi_vars(&server.uri(), &key_id);
        vars.extend(integration_tests::queue_vars(stack));
        vars.extend([
            ("TABLE_NAME".to_owned(), stack.settings.table_name.clone()),
            ("SHOPIFY_API_KEY".to_owned(), API_KEY.to_owned()),
            ("SHOPIFY_API_SECRET".to_owned(), API_SECRET.to_owned()),
            ("SPAPI_BACKOFF_BASE_MS".to_owned(), "1".to_owned()),
            ("SPAPI_BACKOFF_MAX_MS".to_owned(), "20".to_owned()),
            ("AMAZON_POLL_QUEUE_URL".to_owned(), stack.queues[&AMAZON_POLL].queue.clone()),
        ]);
        vars.extend(overrides.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let deps = amazon_api::connect(amazon_api::Config::read(Env::from_map(vars)).unwrap()).await;
        let store = DynamoStore::new(shared::aws::dynamodb(&sdk), stack.settings.table_name.clone());
        Self { env, server, deps, shop: unique_shop("amazon"), store }
    }

    async fn call(&self, method: &str, target: &str, sub: Option<&str>, body: &str) -> Response<Body> {
        let mut claims = session::claims_for(&self.shop, API_KEY, sub.unwrap_or(""), Utc::now(), 300);
        if sub.is_none() {
            claims.sub = None;
        }
        let auth = format!("Bearer {}", session::sign(&claims, &Secret::new(API_SECRET)));
        let headers =
            vec![("Authorization".to_owned(), auth), ("Content-Type".to_owned(), "application/json".to_owned())];
        let request = local_stack::to_lambda_request(method, target, &headers, body.as_bytes()).unwrap();
        amazon_api::handle(&self.deps, request).await.unwrap()
    }

    /// The owner connects the shop (`api_version`, one marketplace) and stores a credential with its own
    /// LWA client.
    async fn connect(&self, api_version: &str, marketplace: &str) {
        let body = json!({ "seller_id": "A2SELLER01", "region": "NA", "marketplace_ids": [marketplace],
                           "api_version": api_version })
        .to_string();
        let created = self.call("PUT", "/api/amazon/connection", Some(OWNER), &body).await;
        assert_eq!(created.status(), StatusCode::CREATED, "{:?}", created.body());
        let credential = json!({ "refresh_token": REFRESH_TOKEN, "client_id": "amzn1.application-oa2-client.test",
                                 "client_secret": CLIENT_SECRET })
        .to_string();
        let stored = self.call("PUT", "/api/amazon/credential", Some(OWNER), &credential).await;
        assert_eq!(stored.status(), StatusCode::OK, "{:?}", stored.body());
    }

    async fn mount_token(&self, body: String) {
        Mock::given(method("POST"))
            .and(path("/auth/o2/token"))
            .respond_with(json_response(200, body))
            .mount(&self.server)
            .await;
    }

    /// The sandbox's two `getOrders` pages: the first page, then (for its `NextToken`, at `priority`)
    /// the second.
    async fn mount_v0_pages(&self, dir: &Path, priority: u8) {
        Mock::given(method("GET"))
            .and(path("/orders/v0/orders"))
            .and(query_param("NextToken", V0_NEXT_TOKEN))
            .respond_with(json_response(200, read(dir, "getOrders.200.TEST_CASE_200_NEXT_TOKEN.with_next_token.json")))
            .with_priority(priority)
            .mount(&self.server)
            .await;
        Mock::given(method("GET"))
            .and(path("/orders/v0/orders"))
            .respond_with(json_response(200, read(dir, "getOrders.200.TEST_CASE_200_NEXT_TOKEN.json")))
            .mount(&self.server)
            .await;
    }

    async fn sync(&self, query: &str) -> Value {
        let response = self.call("POST", &format!("/api/admin/amazon/orders/sync{query}"), Some(OWNER), "").await;
        assert_eq!(response.status(), StatusCode::OK, "{:?}", response.body());
        json_body(&response)
    }

    async fn requests(&self, to: &str) -> Vec<Request> {
        self.server.received_requests().await.unwrap().into_iter().filter(|r| r.url.path().starts_with(to)).collect()
    }

    async fn canonical(&self, id: &str) -> Option<shared::domain::Order> {
        let key = OrderKey::new(Channel::Amazon, ChannelOrderId::parse(id).unwrap());
        self.store.get_order(&self.shop, &key).await.unwrap()
    }

    /// The shop's orders as the dashboard lists them.
    async fn dashboard_orders(&self) -> Vec<Value> {
        let target = format!("/sync/orders?shop_domain={}&pageSize=50", self.shop);
        let response = self.env.get_as(&self.shop, &target).await;
        assert_eq!(response.status(), StatusCode::OK);
        json_body(&response)["orders"].as_array().unwrap().clone()
    }
}

fn token_fixture(dir: &std::path::Path) -> String {
    read(dir, "lwa_token_response.refresh_token_grant.json")
}

fn fixture_access_token(dir: &std::path::Path) -> String {
    serde_json::from_str::<Value>(&token_fixture(dir)).unwrap()["access_token"].as_str().unwrap().to_owned()
}

/// Every SP-API request carried the LWA access token, and no SigV4 or other authorisation.
fn assert_lwa_only(requests: &[Request], access_token: &str) {
    assert!(!requests.is_empty());
    for request in requests {
        assert_eq!(request.headers.get("x-amz-access-token").unwrap().to_str().unwrap(), access_token);
        assert!(request.headers.get("authorization").is_none(), "no SigV4 signature");
    }
}

#[tokio::test]
async fn v0_sync_stores_orders_items_and_canonical_orders_from_the_sandbox_payloads() {
    let Some(dir) = spapi_dir() else { return };
    let h = Harness::new(&[]).await;
    h.connect("v0", "ATVPDKIKX0DER").await;
    h.mount_token(token_fixture(&dir)).await;
    Mock::given(method("GET"))
        .and(path("/orders/v0/orders"))
        .and(query_param("MarketplaceIds", "ATVPDKIKX0DER"))
        .respond_with(json_response(200, read(&dir, "getOrders.200.TEST_CASE_200.json")))
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/orders/v0/orders/{TEST_CASE_200_ORDER}/orderItems")))
        .respond_with(json_response(200, read(&dir, "getOrderItems.200.TEST_CASE_200.json")))
        .with_priority(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/orders/v0/orders/[^/]+/orderItems$"))
        .respond_with(json_response(200, r#"{"payload":{"OrderItems":[]}}"#))
        .mount(&h.server)
        .await;

    let started = Utc::now();
    let result = h.sync("?include_items=true").await;
    assert_eq!(result["status"], "ok", "{result}");
    assert_eq!(
        (result["last_orders_sync_orders_count"].as_u64(), result["last_orders_sync_items_count"].as_u64()),
        (Some(2), Some(1))
    );

    // Amazon records: order with its odd 1970 dates and total, item with SKU, ASIN, quantity and price.
    let (order, items) = h.store.amazon_order(&h.shop, "ATVPDKIKX0DER", TEST_CASE_200_ORDER).await.unwrap().unwrap();
    assert_eq!(order.order_status, "Unshipped");
    assert_eq!(order.purchase_date.to_rfc3339(), "1970-01-19T03:58:30+00:00");
    assert_eq!(order.order_total.as_ref().map(|m| (m.amount.as_str(), m.currency.as_str())), Some(("11.01", "USD")));
    assert_eq!(order.raw_payload["ShipServiceLevel"], "Std US D2D Dom", "the raw payload is kept");
    assert_eq!(items.len(), 1);
    let item = &items[0];
    assert_eq!(
        (item.order_item_id.as_str(), item.seller_sku.as_deref(), item.asin.as_deref(), item.quantity_ordered),
        ("05015851154158", Some("NABetaASINB00551Q3CS"), Some("B00551Q3CS"), 1)
    );
    assert_eq!(item.item_price.as_ref().map(|m| m.amount.as_str()), Some("10.00"));
    assert_eq!(item.raw_payload["BuyerRequestedCancel"]["BuyerCancelReason"], "Found cheaper somewhere else.");
    assert_eq!(h.store.amazon_orders(&h.shop, 10).await.unwrap().len(), 2);

    // Canonical orders, listed by the dashboard like Shopify orders, line items keeping their source.
    let canonical = h.canonical(TEST_CASE_200_ORDER).await.unwrap();
    assert_eq!(canonical.line_items[0].source.as_deref(), Some("amazon"));
    assert_eq!(canonical.line_items[0].source_order_item_id.as_deref(), Some("05015851154158"));
    let listed = h.dashboard_orders().await;
    let mut names: Vec<&str> = listed.iter().map(|o| o["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["902-1845936-5435065", "902-8745147-1934268"]);
    assert!(listed.iter().all(|o| o["channel"] == "amazon"));
    let detail =
        h.env.get_as(&h.shop, &format!("/sync/orders/amazon:{TEST_CASE_200_ORDER}?shop_domain={}", h.shop)).await;
    assert_eq!(detail.status(), StatusCode::OK);
    let timeline = json_body(&detail)["timeline"].clone();
    assert!(timeline.as_array().unwrap().iter().any(|e| e["event"] == "order_created"), "{timeline}");

    // What Amazon saw: LWA token in x-amz-access-token, a window ending ≥ 2 minutes before now.
    let access_token = fixture_access_token(&dir);
    let orders_calls = h.requests("/orders/v0/orders").await;
    assert_lwa_only(&orders_calls, &access_token);
    let list_call = orders_calls.iter().find(|r| r.url.path() == "/orders/v0/orders").unwrap();
    let before: DateTime<Utc> = list_call
        .url
        .query_pairs()
        .find(|(k, _)| k == "LastUpdatedBefore")
        .map(|(_, v)| v.parse().unwrap())
        .expect("a LastUpdatedBefore");
    assert!(before <= started - Duration::minutes(2), "{before} is within 2 minutes of {started}");
    assert!(list_call.url.query_pairs().any(|(k, _)| k == "LastUpdatedAfter"));
    let token_calls = h.requests("/auth/o2/token").await;
    assert_eq!(token_calls.len(), 1, "one exchange, reused for every call");
    let form = String::from_utf8(token_calls[0].body.clone()).unwrap();
    assert!(form.contains("grant_type=refresh_token") && form.contains("client_id=amzn1.application-oa2-client.test"));

    // The connection records the sync; a second run changes nothing (idempotent).
    let again = h.sync("?include_items=true").await;
    assert_eq!(again["last_orders_sync_orders_count"], 2);
    assert_eq!(h.store.amazon_orders(&h.shop, 10).await.unwrap().len(), 2);
    assert_eq!(h.dashboard_orders().await.len(), 2);
    assert_eq!(h.canonical(TEST_CASE_200_ORDER).await.unwrap().version, 1);
    let connection = h.store.amazon_connection(&h.shop).await.unwrap().unwrap();
    assert_eq!(connection.status.last_orders_sync_status.as_deref(), Some("ok"));
    assert_eq!(
        (connection.status.last_orders_sync_orders_count, connection.status.last_orders_sync_items_count),
        (Some(2), Some(1))
    );
    assert!(h.store.amazon_watermark(&h.shop).await.unwrap().is_some(), "the watermark moved");
}

#[tokio::test]
async fn v0_paging_follows_next_token_and_counts_each_order_once() {
    let Some(dir) = spapi_dir() else { return };
    let h = Harness::new(&[]).await;
    h.connect("v0", "ATVPDKIKX0DER").await;
    h.mount_token(token_fixture(&dir)).await;
    h.mount_v0_pages(&dir, 1).await;

    let result = h.sync("").await;
    assert_eq!(result["status"], "ok", "{result}");
    // Both pages carry the same pending order: stored and counted once, with no items asked for.
    assert_eq!(result["last_orders_sync_orders_count"], 1);
    assert_eq!(result["last_orders_sync_items_count"], 0);
    let calls = h.requests("/orders/v0/orders").await;
    assert_eq!(calls.len(), 2);
    assert!(calls[1].url.query_pairs().any(|(k, v)| k == "NextToken" && v == V0_NEXT_TOKEN));
    assert!(calls.iter().all(|c| !c.url.path().ends_with("/orderItems")));
    let orders = h.store.amazon_orders(&h.shop, 10).await.unwrap();
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0].order_total, None, "a pending order has no total yet");
    let canonical = h.canonical("902-3159896-1390916").await.unwrap();
    assert_eq!(canonical.financial_status.as_str(), "pending");
}

#[tokio::test]
async fn v2026_sync_reads_search_orders_with_items_and_pagination_tokens() {
    let Some(dir) = spapi_dir() else { return };
    let h = Harness::new(&[]).await;
    h.connect("2026-01-01", "A1VC38T7YXB528").await;
    h.mount_token(token_fixture(&dir)).await;
    let pages = sandbox_responses(&dir, "/orders/2026-01-01/orders", "200");
    let token = pages[0]["pagination"]["nextToken"].as_str().unwrap().to_owned();
    Mock::given(method("GET"))
        .and(path("/orders/2026-01-01/orders"))
        .and(query_param("paginationToken", token.as_str()))
        .respond_with(json_response(200, pages[1].to_string()))
        .with_priority(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/orders/2026-01-01/orders"))
        .and(query_param("marketplaceIds", "A1VC38T7YXB528"))
        .respond_with(json_response(200, pages[0].to_string()))
        .mount(&h.server)
        .await;

    // include_items is not needed: v2026 always brings the items.
    let result = h.sync("").await;
    assert_eq!(result["status"], "ok", "{result}");
    assert_eq!(result["include_items"], true);
    assert_eq!(
        (result["last_orders_sync_orders_count"].as_u64(), result["last_orders_sync_items_count"].as_u64()),
        (Some(2), Some(3))
    );
    let calls = h.requests("/orders/2026-01-01/orders").await;
    assert_eq!(calls.len(), 2);
    assert!(calls[0].url.query_pairs().any(|(k, v)| k == "includedData" && v.contains("PROCEEDS")));
    assert!(calls[0].url.query_pairs().any(|(k, _)| k == "lastUpdatedBefore"));

    let (order, items) = h.store.amazon_order(&h.shop, "A1VC38T7YXB528", "250-1234567-8901234").await.unwrap().unwrap();
    assert_eq!(order.order_status, "SHIPPED");
    assert_eq!(order.order_total.as_ref().map(|m| (m.amount.as_str(), m.currency.as_str())), Some(("19940", "JPY")));
    let mut skus: Vec<_> = items.iter().map(|i| (i.seller_sku.clone().unwrap(), i.quantity_ordered)).collect();
    skus.sort();
    assert_eq!(skus, [("ECHO-DOT-4-JP-CHARCOAL".to_owned(), 1), ("FIRE-TV-4K-MAX-JP".to_owned(), 2)]);
    let second = pages[1]["orders"][0]["orderId"].as_str().unwrap();
    let marketplace = pages[1]["orders"][0]["salesChannel"]["marketplaceId"].as_str().unwrap();
    assert!(h.store.amazon_order(&h.shop, marketplace, second).await.unwrap().is_some(), "the second page is stored");
    let shipped = h.canonical(second).await.unwrap();
    let tracking = pages[1]["orders"][0]["packages"][0]["trackingNumber"].as_str().unwrap();
    assert_eq!(shipped.fulfillments[0].tracking_numbers, [tracking], "packages carry the tracking");
    let canonical = h.canonical("250-1234567-8901234").await.unwrap();
    assert_eq!(canonical.fulfillment_status.as_str(), "fulfilled");
    assert_eq!(canonical.line_items.len(), 2);
    assert!(canonical.line_items.iter().all(|l| l.source.as_deref() == Some("amazon")));
    // RECIPIENT and BUYER (role-based, no RDT) give the order where it ships and who bought it, so a
    // 3PL can be sent it.
    let raw = pages[0]["orders"].as_array().unwrap().iter().find(|o| o["orderId"] == "250-1234567-8901234").unwrap();
    let delivery = &raw["recipient"]["deliveryAddress"];
    let address = canonical.shipping_address.as_ref().expect("the recipient's address");
    assert_eq!(address.address1.as_deref(), delivery["addressLine1"].as_str());
    assert_eq!(address.city.as_deref(), delivery["city"].as_str());
    assert_eq!(address.zip.as_deref(), delivery["postalCode"].as_str());
    assert_eq!(address.country_code.as_deref(), delivery["countryCode"].as_str());
    assert_eq!(address.name.as_deref(), delivery["name"].as_str());
    let buyer = canonical.customer.as_ref().expect("the buyer");
    assert_eq!(buyer.name.as_deref(), raw["buyer"]["buyerName"].as_str());
    assert_eq!(h.dashboard_orders().await.len(), 2);

    // getOrder: every sandbox single-order response parses with its items; its 400 is a rejection.
    let creds = LwaCredentials {
        client_id: "amzn1.application-oa2-client.test".into(),
        client_secret: Secret::new(CLIENT_SECRET),
        refresh_token: Secret::new(REFRESH_TOKEN),
    };
    let seller = shared::integrations::amazon::client::Seller {
        id: "A2SELLER01",
        region: shared::integrations::amazon::Region::Na,
        credentials: &creds,
    };
    let single = sandbox_responses(&dir, "/orders/2026-01-01/orders/{orderId}", "200");
    assert_eq!(single.len(), 3);
    for response in &single {
        let id = response["order"]["orderId"].as_str().unwrap().to_owned();
        Mock::given(method("GET"))
            .and(path(format!("/orders/2026-01-01/orders/{id}")))
            .respond_with(json_response(200, response.to_string()))
            .mount(&h.server)
            .await;
        let (order, items) = h.deps.client.get_order(seller, &id, &[]).await.unwrap();
        assert_eq!(order.amazon_order_id, id);
        assert!(order.order_total.is_some(), "{id} has proceeds");
        assert_eq!(items.len(), response["order"]["orderItems"].as_array().unwrap().len());
        assert!(items.iter().all(|i| i.seller_sku.is_some() && i.quantity_ordered > 0));
    }
    let refused = sandbox_responses(&dir, "/orders/2026-01-01/orders/{orderId}", "400");
    Mock::given(method("GET"))
        .and(path("/orders/2026-01-01/orders/TEST_CASE_400"))
        .respond_with(json_response(400, refused[0].to_string()))
        .mount(&h.server)
        .await;
    let error = h.deps.client.get_order(seller, "TEST_CASE_400", &[]).await.unwrap_err().to_string();
    assert!(error.contains("400 InvalidInput"), "{error}");

    // searchOrders' 400 fails the sync, recorded and alerted; what was stored stays.
    h.server.reset().await;
    h.mount_token(token_fixture(&dir)).await;
    let search_refused = sandbox_responses(&dir, "/orders/2026-01-01/orders", "400");
    Mock::given(method("GET"))
        .and(path("/orders/2026-01-01/orders"))
        .respond_with(json_response(400, search_refused[0].to_string()))
        .mount(&h.server)
        .await;
    let failed = h.sync("").await;
    assert_eq!(failed["status"], "error");
    assert!(failed["last_orders_sync_error"].as_str().unwrap().contains("Invalid Input"));
    assert_eq!(h.dashboard_orders().await.len(), 2);
    let alerts = h.store.alerts_since(&h.shop, None, 10).await.unwrap();
    assert!(alerts.iter().any(|(_, a)| a.kind == AlertKind::SyncFailed));
}

#[tokio::test]
async fn rejected_requests_and_error_bodies_are_recorded_and_alerted_never_stored() {
    let Some(dir) = spapi_dir() else { return };
    let h = Harness::new(&[]).await;
    h.connect("v0", "ATVPDKIKX0DER").await;
    h.mount_token(token_fixture(&dir)).await;
    Mock::given(method("GET"))
        .and(path("/orders/v0/orders"))
        .respond_with(json_response(400, read(&dir, "getOrders.400.TEST_CASE_400.json")))
        .mount(&h.server)
        .await;
    let result = h.sync("?include_items=true").await;
    assert_eq!(result["status"], "error");
    let error = result["last_orders_sync_error"].as_str().unwrap();
    assert!(error.contains("InvalidInput") && error.contains("400"), "{error}");
    assert!(!error.contains(REFRESH_TOKEN) && !error.contains(CLIENT_SECRET));
    assert!(h.store.amazon_orders(&h.shop, 10).await.unwrap().is_empty());
    let alerts = h.store.alerts_since(&h.shop, None, 10).await.unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].1.kind, AlertKind::SyncFailed);
    let connection = h.store.amazon_connection(&h.shop).await.unwrap().unwrap();
    assert_eq!(connection.status.last_orders_sync_status.as_deref(), Some("error"));

    // A later run that fails the same way raises nothing new.
    h.sync("").await;
    assert_eq!(h.store.alerts_since(&h.shop, None, 10).await.unwrap().len(), 1);

    // getOrderItems' 400 fails the run the same way.
    h.server.reset().await;
    h.mount_token(token_fixture(&dir)).await;
    Mock::given(method("GET"))
        .and(path("/orders/v0/orders"))
        .respond_with(json_response(200, read(&dir, "getOrders.200.TEST_CASE_200.json")))
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/orders/v0/orders/[^/]+/orderItems$"))
        .respond_with(json_response(400, read(&dir, "getOrderItems.400.TEST_CASE_400.json")))
        .mount(&h.server)
        .await;
    let result = h.sync("?include_items=true").await;
    assert_eq!(result["status"], "error");
    assert!(h.store.amazon_orders(&h.shop, 10).await.unwrap().is_empty(), "no order stored without its items");

    // The error bodies of every documented status, on the connection check.
    let cases = [
        ("errors/fbaInbound.getItemEligibilityPreview.400.json", 400, "InvalidInput"),
        ("errors/fbaInbound.getItemEligibilityPreview.401.json", 401, "Unauthorized"),
        ("errors/fbaInbound.getItemEligibilityPreview.403.json", 403, "Unauthorized"),
        ("errors/fbaInbound.getItemEligibilityPreview.404.json", 404, "NotFound"),
        ("errors/fbaInbound.getItemEligibilityPreview.429.json", 429, "throttled"),
        ("errors/fbaInbound.getItemEligibilityPreview.500.json", 500, "InternalFailure"),
        ("errors/fbaInbound.getItemEligibilityPreview.503.json", 503, "ServiceUnavailable"),
        ("errors/devguide.error_response.unauthorized.json", 401, "Access token is missing"),
    ];
    for (n, (file, status, expected)) in cases.into_iter().enumerate() {
        // Each case as another seller, so the retries of one do not empty the next one's token bucket.
        let seller = json!({ "seller_id": format!("A2SELLER{n}"), "region": "NA", "marketplace_ids": ["ATVPDKIKX0DER"], "api_version": "v0" });
        assert_eq!(
            h.call("PUT", "/api/amazon/connection", Some(OWNER), &seller.to_string()).await.status(),
            StatusCode::OK
        );
        h.server.reset().await;
        h.mount_token(token_fixture(&dir)).await;
        Mock::given(method("GET"))
            .and(path("/sellers/v1/marketplaceParticipations"))
            .respond_with(json_response(status, read(&dir, file)))
            .mount(&h.server)
            .await;
        let response = h.call("POST", "/api/admin/amazon/sp-api/ping", Some(OWNER), "").await;
        assert_eq!(response.status(), StatusCode::OK);
        let check = json_body(&response);
        assert_eq!(check["last_check_ok"], false, "{file}");
        let error = check["last_check_error"].as_str().unwrap();
        assert!(error.contains(expected), "{file}: {error}");
        let stored = h.store.amazon_connection(&h.shop).await.unwrap().unwrap().status;
        assert_eq!((stored.last_check_ok, stored.last_check_error.as_deref()), (Some(false), Some(error)));
    }

    // And a good check.
    h.server.reset().await;
    h.mount_token(token_fixture(&dir)).await;
    Mock::given(method("GET"))
        .and(path("/sellers/v1/marketplaceParticipations"))
        .respond_with(json_response(200, r#"{"payload":[{"marketplace":{"id":"ATVPDKIKX0DER"}}]}"#))
        .mount(&h.server)
        .await;
    let check = json_body(&h.call("POST", "/api/admin/amazon/sp-api/ping", Some(OWNER), "").await);
    assert_eq!((check["last_check_ok"].as_bool(), check["last_check_error"].is_null()), (Some(true), true));
}

#[tokio::test]
async fn a_429_storm_completes_with_no_error_and_nothing_duplicated() {
    let Some(dir) = spapi_dir() else { return };
    let h = Harness::new(&[]).await;
    h.connect("v0", "ATVPDKIKX0DER").await;
    h.mount_token(token_fixture(&dir)).await;
    let quota = read(&dir, "errors/fbaInbound.getItemEligibilityPreview.429.json");
    Mock::given(method("GET"))
        .and(path("/orders/v0/orders"))
        .respond_with(json_response(429, quota.clone()))
        .with_priority(1)
        .up_to_n_times(4)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/orders/v0/orders"))
        .respond_with(
            json_response(200, read(&dir, "getOrders.200.TEST_CASE_200.json"))
                .insert_header("x-amzn-RateLimit-Limit", "0.0167"),
        )
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/orders/v0/orders/[^/]+/orderItems$"))
        .respond_with(json_response(429, quota))
        .with_priority(1)
        .up_to_n_times(5)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/orders/v0/orders/[^/]+/orderItems$"))
        .respond_with(json_response(200, read(&dir, "getOrderItems.200.TEST_CASE_200.json")))
        .mount(&h.server)
        .await;

    for _ in 0..2 {
        let result = h.sync("?include_items=true").await;
        assert_eq!(result["status"], "ok", "{result}");
        assert!(result["last_orders_sync_error"].is_null());
    }
    assert_eq!(h.requests("/orders/v0/orders").await.iter().filter(|r| r.url.path() == "/orders/v0/orders").count(), 6);
    assert_eq!(h.store.amazon_orders(&h.shop, 10).await.unwrap().len(), 2);
    let (_, items) = h.store.amazon_order(&h.shop, "ATVPDKIKX0DER", TEST_CASE_200_ORDER).await.unwrap().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(h.dashboard_orders().await.len(), 2);
    let canonical = h.canonical(TEST_CASE_200_ORDER).await.unwrap();
    assert_eq!((canonical.version, canonical.line_items.len()), (1, 1));
    assert!(
        h.store.alerts_since(&h.shop, None, 10).await.unwrap().iter().all(|(_, a)| a.kind != AlertKind::SyncFailed)
    );
}

#[tokio::test]
async fn a_long_throttle_is_carried_over_on_the_queue_with_a_delay_and_then_completes() {
    let Some(dir) = spapi_dir() else { return };
    // Back-off of 1.5 s is more than the 1 s an invocation may wait: the run is carried over.
    let h = Harness::new(&[
        ("SPAPI_BACKOFF_BASE_MS", "1500"),
        ("SPAPI_BACKOFF_MAX_MS", "1500"),
        ("SPAPI_MAX_INLINE_WAIT_MS", "1000"),
    ])
    .await;
    h.connect("v0", "ATVPDKIKX0DER").await;
    h.mount_token(token_fixture(&dir)).await;
    Mock::given(method("GET"))
        .and(path("/orders/v0/orders"))
        .respond_with(json_response(429, read(&dir, "errors/fbaInbound.getItemEligibilityPreview.429.json")))
        .with_priority(1)
        .up_to_n_times(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/orders/v0/orders"))
        .respond_with(json_response(200, read(&dir, "getOrders.200.TEST_CASE_200.json")))
        .mount(&h.server)
        .await;

    let result = h.sync("").await;
    assert_eq!(result["status"], "deferred", "{result}");
    assert_eq!(result["retry_after_seconds"], 1);
    assert!(h.store.amazon_orders(&h.shop, 10).await.unwrap().is_empty());

    // The carried-over job waits out its delay on the queue; the worker then completes it.
    let stack = &h.env.stack;
    let queue = &stack.queues[&AMAZON_POLL].queue;
    let mut message = None;
    for _ in 0..10 {
        let received = stack.sqs.receive_message().queue_url(queue).wait_time_seconds(1).send().await.unwrap();
        if let Some(m) = received.messages.unwrap_or_default().into_iter().next() {
            message = Some(m);
            break;
        }
    }
    let message = message.expect("the carried-over job");
    let job: Message = serde_json::from_str(message.body.as_deref().unwrap()).unwrap();
    let Message::Poll(ref carried) = job else { panic!("not a sync job") };
    assert!(matches!(carried.task, PollTask::OrdersSync { resume: Some(_), .. }));
    let sdk = shared::aws::sdk_config().await;
    let key_id = shared::secrets::ensure_key(&shared::aws::kms(&sdk), local_stack::LOCAL_KEY_ALIAS).await.unwrap();
    let mut vars = local_stack::spapi_vars(&h.server.uri(), &key_id);
    vars.extend(integration_tests::queue_vars(stack));
    vars.extend([
        ("TABLE_NAME".to_owned(), stack.settings.table_name.clone()),
        ("AMAZON_POLL_QUEUE_URL".to_owned(), queue.clone()),
        ("SPAPI_BACKOFF_BASE_MS".to_owned(), "1".to_owned()),
    ]);
    let worker = poller(vars).await;
    shared::app::poll::amazon::process(&worker, job).await.unwrap();
    let connection = h.store.amazon_connection(&h.shop).await.unwrap().unwrap();
    assert_eq!(connection.status.last_orders_sync_status.as_deref(), Some("ok"));
    assert_eq!(connection.status.last_orders_sync_orders_count, Some(2));
    assert_eq!(h.store.amazon_orders(&h.shop, 10).await.unwrap().len(), 2);
}

#[tokio::test]
async fn lwa_tokens_are_reused_until_shortly_before_expiry_then_refreshed() {
    let server = MockServer::start().await;
    let body = match spapi_dir() {
        Some(dir) => token_fixture(&dir),
        None => r#"{"access_token":"Atza|inline","token_type":"bearer","expires_in":3600}"#.to_owned(),
    };
    Mock::given(method("POST")).and(path("/auth/o2/token")).respond_with(json_response(200, body)).mount(&server).await;
    let clock = Arc::new(FixedClock::new(Utc::now()));
    let lwa = LwaClient::new(format!("{}/auth/o2/token", server.uri()), clock.clone());
    let creds = LwaCredentials {
        client_id: "client".into(),
        client_secret: Secret::new(CLIENT_SECRET),
        refresh_token: Secret::new(REFRESH_TOKEN),
    };
    let first = lwa.access_token(&creds).await.unwrap();
    clock.set(clock.now() + Duration::minutes(50));
    assert_eq!(lwa.access_token(&creds).await.unwrap(), first, "reused within its hour");
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    clock.set(clock.now() + Duration::minutes(9));
    lwa.access_token(&creds).await.unwrap();
    assert_eq!(server.received_requests().await.unwrap().len(), 2, "renewed two minutes before expiry");
    // Another refresh token is another token.
    let other = LwaCredentials { refresh_token: Secret::new("Atzr|another"), ..creds.clone() };
    lwa.access_token(&other).await.unwrap();
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
    let form = String::from_utf8(server.received_requests().await.unwrap()[0].body.clone()).unwrap();
    let fields: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(form.as_bytes()).into_owned().collect();
    assert_eq!(fields["grant_type"], "refresh_token");
    assert_eq!(fields["refresh_token"], REFRESH_TOKEN);
    assert_eq!(fields["client_secret"], CLIENT_SECRET);

    // A refused exchange is an authentication error naming LWA's code.
    server.reset().await;
    Mock::given(method("POST"))
        .and(path("/auth/o2/token"))
        .respond_with(json_response(
            400,
            r#"{"error":"invalid_grant","error_description":"The request has an invalid grant parameter"}"#,
        ))
        .mount(&server)
        .await;
    clock.set(clock.now() + Duration::hours(2));
    let refused = lwa.access_token(&creds).await.unwrap_err().to_string();
    assert!(refused.contains("invalid_grant") && !refused.contains(REFRESH_TOKEN), "{refused}");
}

#[tokio::test]
async fn only_the_owner_changes_the_credential_or_runs_admin_calls() {
    let h = Harness::new(&[]).await;
    let none = h.call("GET", "/api/amazon/connection", Some(OWNER), "").await;
    assert_eq!((none.status(), json_body(&none)), (StatusCode::OK, Value::Null));

    // A token without a user cannot own a connection.
    let body = json!({ "seller_id": "A2SELLER01", "region": "eu", "marketplace_ids": ["A1PA6795UKMFR9"] }).to_string();
    let anonymous = h.call("PUT", "/api/amazon/connection", None, &body).await;
    assert_eq!(anonymous.status(), StatusCode::FORBIDDEN);
    let created = h.call("PUT", "/api/amazon/connection", Some(OWNER), &body).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created = json_body(&created);
    assert_eq!((created["region"].as_str(), created["api_version"].as_str()), (Some("EU"), Some("2026-01-01")));
    assert_eq!((created["is_owner"].as_bool(), created["has_credential"].as_bool()), (Some(true), Some(false)));

    let credential = json!({ "refresh_token": REFRESH_TOKEN, "client_id": "amzn1.application-oa2-client.x", "client_secret": CLIENT_SECRET }).to_string();
    for (verb, target, body) in [
        ("PUT", "/api/amazon/connection", body.as_str()),
        ("PUT", "/api/amazon/credential", credential.as_str()),
        ("POST", "/api/admin/amazon/sp-api/ping", ""),
        ("POST", "/api/admin/amazon/orders/sync?dry_run=true", ""),
    ] {
        let response = h.call(verb, target, Some(OTHER), body).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{verb} {target}");
        assert_eq!(json_body(&response)["code"], "NOT_OWNER");
        assert_eq!(h.call(verb, target, None, body).await.status(), StatusCode::FORBIDDEN);
    }
    let seen = json_body(&h.call("GET", "/api/amazon/connection", Some(OTHER), "").await);
    assert_eq!((seen["is_owner"].as_bool(), seen["seller_id"].as_str()), (Some(false), Some("A2SELLER01")));

    // Admin calls need a credential first.
    let early = h.call("POST", "/api/admin/amazon/sp-api/ping", Some(OWNER), "").await;
    assert_eq!(
        (early.status(), json_body(&early)["code"].clone()),
        (StatusCode::CONFLICT, json!("CREDENTIAL_MISSING"))
    );

    let stored = h.call("PUT", "/api/amazon/credential", Some(OWNER), &credential).await;
    assert_eq!(stored.status(), StatusCode::OK);
    let text = format!("{:?}", stored.body());
    assert!(!text.contains(REFRESH_TOKEN) && !text.contains(CLIENT_SECRET));
    let read_back = json_body(&h.call("GET", "/api/amazon/connection", Some(OWNER), "").await);
    assert_eq!(read_back["has_credential"], true);
    assert!(!read_back.to_string().contains(REFRESH_TOKEN) && !read_back.to_string().contains(CLIENT_SECRET));

    // Sealed at rest: no attribute holds either secret, and the seal opens only for this shop.
    let raw = shared::aws::dynamodb(&shared::aws::sdk_config().await)
        .get_item()
        .table_name(&h.env.stack.settings.table_name)
        .key("PK", aws_sdk_dynamodb::types::AttributeValue::S(format!("SHOP#{}", h.shop)))
        .key("SK", aws_sdk_dynamodb::types::AttributeValue::S("CRED#amazon".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let raw = format!("{raw:?}");
    assert!(!raw.contains(REFRESH_TOKEN) && !raw.contains(CLIENT_SECRET));
    let sealed = h.store.amazon_credential(&h.shop).await.unwrap().unwrap();
    assert!(format!("{sealed:?}").contains("***"));
    let deps = h.deps.sync_deps();
    let opened = shared::app::poll::amazon::credentials(deps, &h.shop).await.unwrap();
    assert_eq!((opened.refresh_token.expose(), opened.client_secret.expose()), (REFRESH_TOKEN, CLIENT_SECRET));

    // The owner updates; the owner stays the owner.
    let update = json!({ "seller_id": "A2SELLER01", "region": "SANDBOX", "marketplace_ids": ["ATVPDKIKX0DER"], "api_version": "v0" }).to_string();
    let updated = h.call("PUT", "/api/amazon/connection", Some(OWNER), &update).await;
    assert_eq!(updated.status(), StatusCode::OK);
    let connection = h.store.amazon_connection(&h.shop).await.unwrap().unwrap();
    assert_eq!((connection.owner_sub.as_str(), connection.version), (OWNER, 2));

    // Bad input is a 4xx with {error, code}.
    for (verb, target, body, code) in [
        (
            "PUT",
            "/api/amazon/connection",
            r#"{"seller_id":"A2","region":"MARS","marketplace_ids":["X"]}"#,
            "INVALID_REGION",
        ),
        (
            "PUT",
            "/api/amazon/connection",
            r#"{"seller_id":"A2","region":"NA","marketplace_ids":[]}"#,
            "INVALID_MARKETPLACE_IDS",
        ),
        (
            "PUT",
            "/api/amazon/connection",
            r#"{"seller_id":"a#b","region":"NA","marketplace_ids":["X"]}"#,
            "INVALID_SELLER_ID",
        ),
        (
            "PUT",
            "/api/amazon/connection",
            r#"{"seller_id":"A2","region":"NA","marketplace_ids":["X"],"api_version":"v9"}"#,
            "INVALID_API_VERSION",
        ),
        ("PUT", "/api/amazon/connection", "not json", "INVALID_BODY"),
        ("PUT", "/api/amazon/credential", r#"{"refresh_token":""}"#, "INVALID_REFRESH_TOKEN"),
        ("PUT", "/api/amazon/credential", r#"{"refresh_token":"Atzr|x","client_secret":"s"}"#, "INVALID_CLIENT"),
        ("POST", "/api/admin/amazon/orders/sync?dry_run=maybe", "", "INVALID_FLAG"),
    ] {
        let response = h.call(verb, target, Some(OWNER), body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{target} {body}");
        let answer = json_body(&response);
        assert_eq!(answer["code"], code, "{answer}");
        assert!(answer["error"].is_string());
    }
    assert_eq!(
        h.call("DELETE", "/api/amazon/connection", Some(OWNER), "").await.status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
    let unsigned = local_stack::to_lambda_request("GET", "/api/amazon/connection", &[], b"").unwrap();
    assert_eq!(amazon_api::handle(&h.deps, unsigned).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let elsewhere = h.call("GET", "/api/amazon/connection?shop_domain=other.myshopify.com", Some(OWNER), "").await;
    assert_eq!(elsewhere.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_dry_run_fetches_and_counts_but_writes_no_orders() {
    let Some(dir) = spapi_dir() else { return };
    let h = Harness::new(&[]).await;
    h.connect("v0", "ATVPDKIKX0DER").await;
    h.mount_token(token_fixture(&dir)).await;
    Mock::given(method("GET"))
        .and(path("/orders/v0/orders"))
        .respond_with(json_response(200, read(&dir, "getOrders.200.TEST_CASE_200.json")))
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/orders/v0/orders/[^/]+/orderItems$"))
        .respond_with(json_response(200, read(&dir, "getOrderItems.200.TEST_CASE_200.json")))
        .mount(&h.server)
        .await;
    let result = h.sync("?dry_run=true&include_items=true").await;
    assert_eq!((result["status"].as_str(), result["dry_run"].as_bool()), (Some("dry_run"), Some(true)));
    assert_eq!(
        (result["last_orders_sync_orders_count"].as_u64(), result["last_orders_sync_items_count"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(h.requests("/orders/v0/orders/").await.len(), 2, "items were fetched");
    assert!(h.store.amazon_orders(&h.shop, 10).await.unwrap().is_empty());
    assert!(h.store.amazon_order(&h.shop, "ATVPDKIKX0DER", TEST_CASE_200_ORDER).await.unwrap().is_none());
    assert!(h.canonical(TEST_CASE_200_ORDER).await.is_none());
    assert!(h.dashboard_orders().await.is_empty());
    assert!(h.store.amazon_watermark(&h.shop).await.unwrap().is_none());
    let connection = h.store.amazon_connection(&h.shop).await.unwrap().unwrap();
    assert_eq!(connection.status.last_orders_sync_status.as_deref(), Some("dry_run"));
    assert_eq!(connection.status.last_orders_sync_orders_count, Some(2));
}

/// Asserts that `body` (answered with `status` to `method path`) matches the OpenAPI document.
fn conforms(path: &str, method: &str, status: StatusCode, body: &Value) {
    let doc: Value = serde_json::from_str(dashboard_api::OPENAPI).unwrap();
    let schema = &doc["paths"][path][method]["responses"][status.as_str()]["content"]["application/json"]["schema"];
    assert!(!schema.is_null(), "{method} {path} answered {status}, which the document does not describe");
    let root = json!({ "$schema": "https://json-schema.org/draft/2020-12/schema", "components": doc["components"], "allOf": [schema] });
    let validator = jsonschema::validator_for(&root).unwrap();
    let errors: Vec<String> = validator.iter_errors(body).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{method} {path} {status}: {errors:?}\n{body}");
}

/// The local stack's SP-API simulator: a sandbox connection is checked and synced through the
/// endpoints, its orders show in `GET /sync/orders`, and the schedule syncs it through the queue.
/// Every answer conforms to the OpenAPI document.
#[tokio::test]
async fn the_local_stack_syncs_a_sandbox_connection_from_its_simulator() {
    let env = TestEnv::new().await;
    let shop = unique_shop("amazon-local");
    let call = |verb: &'static str, target: String, body: String| {
        let env = &env;
        let shop = shop.clone();
        async move {
            let claims = session::claims_for(&shop, API_KEY, OWNER, Utc::now(), 300);
            let auth = format!("Bearer {}", session::sign(&claims, &Secret::new(API_SECRET)));
            let response = env.request(verb, &target, &[("Authorization", &auth)], body.as_bytes()).await;
            let (status, body) = (response.status(), json_body(&response));
            conforms(target.split('?').next().unwrap(), &verb.to_lowercase(), status, &body);
            (status, body)
        }
    };
    assert_eq!(call("GET", "/api/amazon/connection".into(), String::new()).await.1, Value::Null);
    assert_eq!(call("POST", "/api/admin/amazon/sp-api/ping".into(), String::new()).await.0, StatusCode::NOT_FOUND);
    assert_eq!(call("PUT", "/api/amazon/connection".into(), "{}".into()).await.0, StatusCode::BAD_REQUEST);
    let connection = json!({ "seller_id": "SANDBOXSELLER", "region": "SANDBOX", "marketplace_ids": ["ATVPDKIKX0DER"], "api_version": "v0" });
    assert_eq!(call("PUT", "/api/amazon/connection".into(), connection.to_string()).await.0, StatusCode::CREATED);
    let (status, _) =
        call("PUT", "/api/amazon/credential".into(), json!({ "refresh_token": "Atzr|local" }).to_string()).await;
    assert_eq!(status, StatusCode::OK, "the local app LWA client is used");
    let (status, check) = call("POST", "/api/admin/amazon/sp-api/ping".into(), String::new()).await;
    assert_eq!((status, check["last_check_ok"].as_bool()), (StatusCode::OK, Some(true)), "{check}");

    let (_, result) = call("POST", "/api/admin/amazon/orders/sync?include_items=true".into(), String::new()).await;
    assert_eq!(result["status"], "ok", "{result}");
    assert_eq!(
        (result["last_orders_sync_orders_count"].as_u64(), result["last_orders_sync_items_count"].as_u64()),
        (Some(3), Some(4))
    );
    let list = env.get_as(&shop, &format!("/sync/orders?shop_domain={shop}")).await;
    let orders = json_body(&list)["orders"].as_array().unwrap().clone();
    assert_eq!(orders.len(), 3);
    assert!(orders.iter().all(|o| o["channel"] == "amazon"));
    let (_, seen) = call("GET", "/api/amazon/connection".into(), String::new()).await;
    assert_eq!((seen["last_orders_sync_status"].as_str(), seen["last_check_ok"].as_bool()), (Some("ok"), Some(true)));

    // Switch to Orders v2026-01-01; the schedule fans out and the queue worker syncs it.
    let v2026 = json!({ "seller_id": "SANDBOXSELLER", "region": "SANDBOX", "marketplace_ids": ["ATVPDKIKX0DER"], "api_version": "2026-01-01" });
    assert_eq!(call("PUT", "/api/amazon/connection".into(), v2026.to_string()).await.0, StatusCode::OK);
    let stack = &env.stack;
    let schedule = json!({ "source": "aws.events", "detail-type": "Scheduled Event", "detail": {} });
    let report = amazon_scheduler::handle(
        &integration_tests::deps!(stack, amazon_scheduler),
        LambdaEvent::new(schedule, Context::default()),
    )
    .await
    .unwrap();
    assert_eq!(report.enqueued, 1);
    let mut processed = 0;
    while processed == 0 {
        processed = stack.poll_once(AMAZON_POLL, 1).await.unwrap().0;
    }
    let store =
        DynamoStore::new(shared::aws::dynamodb(&shared::aws::sdk_config().await), stack.settings.table_name.clone());
    let connection = store.amazon_connection(&shop).await.unwrap().unwrap();
    assert_eq!(connection.status.last_orders_sync_status.as_deref(), Some("ok"));
    assert_eq!(connection.status.last_orders_sync_orders_count, Some(2));
    let list = env.get_as(&shop, &format!("/sync/orders?shop_domain={shop}")).await;
    assert_eq!(json_body(&list)["orders"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn the_amazon_sample_events_work_with_their_handlers() {
    let env = TestEnv::new().await;
    let root = integration_tests::root();
    let read = |rel: &str| std::fs::read_to_string(root.join(rel)).unwrap();
    let request = lambda_http::request::from_str(&read("events/amazon-api/get-connection.apigw-v2.json")).unwrap();
    let response = amazon_api::handle(&integration_tests::deps!(env.stack, amazon_api), request).await.unwrap();
    assert_eq!((response.status(), json_body(&response)), (StatusCode::OK, Value::Null));
    let schedule: Value = serde_json::from_str(&read("events/amazon-scheduler/schedule.json")).unwrap();
    let scheduler = integration_tests::deps!(env.stack, amazon_scheduler);
    let answer = amazon_scheduler::handle(&scheduler, LambdaEvent::new(schedule, Context::default())).await.unwrap();
    assert_eq!(serde_json::to_value(answer).unwrap(), json!({ "enqueued": 0 }));
    let batch = serde_json::from_value(json!({ "Records": [] })).unwrap();
    let poller = integration_tests::deps!(env.stack, amazon_poller);
    let answer = amazon_poller::handle(&poller, LambdaEvent::new(batch, Context::default())).await.unwrap();
    assert_eq!(serde_json::to_value(answer).unwrap()["batchItemFailures"], json!([]));
}

#[tokio::test]
async fn a_run_out_of_time_resumes_mid_page_and_items_fetched_later_reach_the_canonical_order() {
    let Some(dir) = spapi_dir() else { return };
    // A zero budget: every invocation does one order, then carries the rest over.
    let h = Harness::new(&[("SPAPI_RUN_BUDGET_MS", "0")]).await;
    h.connect("v0", "ATVPDKIKX0DER").await;
    h.mount_token(token_fixture(&dir)).await;
    Mock::given(method("GET"))
        .and(path("/orders/v0/orders"))
        .respond_with(json_response(200, read(&dir, "getOrders.200.TEST_CASE_200.json")))
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/orders/v0/orders/{TEST_CASE_200_ORDER}/orderItems")))
        .respond_with(json_response(200, read(&dir, "getOrderItems.200.TEST_CASE_200.json")))
        .mount(&h.server)
        .await;
    let first = h.sync("").await;
    assert_eq!(
        (first["status"].as_str(), first["last_orders_sync_orders_count"].as_u64()),
        (Some("deferred"), Some(1))
    );
    assert_eq!(h.store.amazon_orders(&h.shop, 10).await.unwrap().len(), 1);
    let canonical = h.canonical(TEST_CASE_200_ORDER).await.unwrap();
    assert!(canonical.line_items.is_empty(), "no items asked for");

    // The carried-over job resumes at the second order of the same page.
    let stack = &h.env.stack;
    let queue = &stack.queues[&AMAZON_POLL].queue;
    let mut body = None;
    while body.is_none() {
        let received = stack.sqs.receive_message().queue_url(queue).wait_time_seconds(1).send().await.unwrap();
        body = received.messages.unwrap_or_default().into_iter().next().and_then(|m| m.body);
    }
    let job: Message = serde_json::from_str(&body.unwrap()).unwrap();
    let Message::Poll(carried) = &job else { panic!("not a sync job") };
    let (carried, _) = shared::app::poll::amazon::SyncJob::from_poll_job(carried.clone()).unwrap();
    assert_eq!(carried.resume.as_ref().map(|r| (r.page_offset, r.orders)), Some((1, 1)));
    let sdk = shared::aws::sdk_config().await;
    let key_id = shared::secrets::ensure_key(&shared::aws::kms(&sdk), local_stack::LOCAL_KEY_ALIAS).await.unwrap();
    let mut vars = local_stack::spapi_vars(&h.server.uri(), &key_id);
    vars.extend(integration_tests::queue_vars(stack));
    vars.extend([
        ("TABLE_NAME".to_owned(), stack.settings.table_name.clone()),
        ("AMAZON_POLL_QUEUE_URL".to_owned(), queue.clone()),
    ]);
    let worker = poller(vars).await;
    shared::app::poll::amazon::process(&worker, job).await.unwrap();
    let status = h.store.amazon_connection(&h.shop).await.unwrap().unwrap().status;
    assert_eq!(
        (status.last_orders_sync_status.as_deref(), status.last_orders_sync_orders_count),
        (Some("ok"), Some(2))
    );
    assert_eq!(h.store.amazon_orders(&h.shop, 10).await.unwrap().len(), 2);
    assert_eq!(h.requests("/orders/v0/orders").await.len(), 2, "the page was read again, not the window");

    // Items fetched by a later run land on the unchanged canonical order too.
    let with_items = h.sync("?include_items=true").await;
    assert_eq!(with_items["status"], "deferred");
    let canonical = h.canonical(TEST_CASE_200_ORDER).await.unwrap();
    assert_eq!(
        canonical.line_items.iter().map(|l| l.sku.as_deref()).collect::<Vec<_>>(),
        [Some("NABetaASINB00551Q3CS")]
    );
    assert_eq!(canonical.version, 2);
}

#[tokio::test]
async fn a_refused_page_token_restarts_the_window_without_counting_twice() {
    let Some(dir) = spapi_dir() else { return };
    let h = Harness::new(&[]).await;
    h.connect("v0", "ATVPDKIKX0DER").await;
    h.mount_token(token_fixture(&dir)).await;
    let token = V0_NEXT_TOKEN;
    // The first use of the page token is refused (as an expired token is), then it works.
    Mock::given(method("GET"))
        .and(path("/orders/v0/orders"))
        .and(query_param("NextToken", token))
        .respond_with(json_response(400, read(&dir, "getOrders.400.TEST_CASE_400.json")))
        .with_priority(1)
        .up_to_n_times(1)
        .mount(&h.server)
        .await;
    h.mount_v0_pages(&dir, 2).await;
    let result = h.sync("").await;
    assert_eq!(result["status"], "ok", "{result}");
    assert_eq!(result["last_orders_sync_orders_count"], 1);
    let tokens: Vec<bool> = h
        .requests("/orders/v0/orders")
        .await
        .iter()
        .map(|r| r.url.query_pairs().any(|(k, _)| k == "NextToken"))
        .collect();
    assert_eq!(tokens, [false, true, false, true], "first page, refused token, first page again, second page");
    assert_eq!(h.store.amazon_orders(&h.shop, 10).await.unwrap().len(), 1);
}

/// `amazon-poller` wired to the harness's wiremock and table.
async fn poll_worker(h: &Harness) -> amazon_poller::Deps {
    let stack = &h.env.stack;
    let sdk = shared::aws::sdk_config().await;
    let key_id = shared::secrets::ensure_key(&shared::aws::kms(&sdk), local_stack::LOCAL_KEY_ALIAS).await.unwrap();
    let mut vars = local_stack::spapi_vars(&h.server.uri(), &key_id);
    vars.extend(integration_tests::queue_vars(stack));
    vars.extend([
        ("TABLE_NAME".to_owned(), stack.settings.table_name.clone()),
        ("AMAZON_POLL_QUEUE_URL".to_owned(), stack.queues[&AMAZON_POLL].queue.clone()),
        ("SPAPI_BACKOFF_BASE_MS".to_owned(), "1".to_owned()),
    ]);
    poller(vars).await
}

#[tokio::test]
async fn the_scheduled_poll_moves_a_watermark_with_overlap_and_alerts_on_failure() {
    let Some(dir) = spapi_dir() else { return };
    let h = Harness::new(&[]).await;
    h.connect("v0", "ATVPDKIKX0DER").await;
    h.mount_token(token_fixture(&dir)).await;
    Mock::given(method("GET"))
        .and(path("/orders/v0/orders"))
        .respond_with(json_response(200, read(&dir, "getOrders.200.TEST_CASE_200.json")))
        .with_priority(2)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/orders/v0/orders/[^/]+/orderItems$"))
        .respond_with(json_response(200, r#"{"payload":{"OrderItems":[]}}"#))
        .mount(&h.server)
        .await;
    let worker = poll_worker(&h).await;
    let enqueued =
        shared::app::poll::amazon::schedule(worker.connections.as_ref(), worker.queue.as_ref(), "tick-1", Utc::now());
    assert_eq!(enqueued.await.unwrap(), 1, "one job per active connection");
    let job = || {
        let sync = shared::app::poll::amazon::SyncJob {
            shop: h.shop.clone(),
            dry_run: false,
            include_items: true,
            resume: None,
        };
        Message::Poll(sync.into_poll_job("tick-1".into()).unwrap())
    };
    shared::app::poll::amazon::process(&worker, job()).await.unwrap();
    let first = h.store.amazon_watermark(&h.shop).await.unwrap().unwrap();
    shared::app::poll::amazon::process(&worker, job()).await.unwrap();
    let windows: Vec<(String, String)> = h
        .requests("/orders/v0/orders")
        .await
        .iter()
        .filter(|r| r.url.path() == "/orders/v0/orders")
        .map(|r| {
            let get = |name: &str| r.url.query_pairs().find(|(k, _)| k == name).unwrap().1.into_owned();
            (get("LastUpdatedAfter"), get("LastUpdatedBefore"))
        })
        .collect();
    assert_eq!(windows.len(), 2);
    let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
    assert_eq!(at(&windows[0].1), first.at, "the watermark is the end of the first window");
    assert_eq!(at(&windows[1].0), first.at - Duration::minutes(10), "the next window overlaps it by 10 minutes");
    assert!(h.store.amazon_watermark(&h.shop).await.unwrap().unwrap().at >= first.at);
    assert_eq!(h.store.amazon_orders(&h.shop, 10).await.unwrap().len(), 2, "the overlap stored nothing twice");

    // A failing run: status error with Amazon's message, and an alert.
    Mock::given(method("GET"))
        .and(path("/orders/v0/orders"))
        .respond_with(json_response(400, read(&dir, "getOrders.400.TEST_CASE_400.json")))
        .with_priority(1)
        .mount(&h.server)
        .await;
    shared::app::poll::amazon::process(&worker, job()).await.unwrap();
    let status = h.store.amazon_connection(&h.shop).await.unwrap().unwrap().status;
    assert_eq!(status.last_orders_sync_status.as_deref(), Some("error"));
    assert!(status.last_orders_sync_error.unwrap().contains("InvalidInput"));
    let alerts = h.store.alerts_since(&h.shop, None, 10).await.unwrap();
    assert!(alerts.iter().any(|(_, a)| a.kind == AlertKind::SyncFailed && a.cleared_at.is_none()));
}

/// A v0 `getOrders` answer of orders `(id, purchased, last updated)`.
fn v0_orders(orders: &[(&str, &str, &str)]) -> ResponseTemplate {
    let orders: Vec<Value> = orders
        .iter()
        .map(|(id, purchased, updated)| {
            json!({ "AmazonOrderId": id, "PurchaseDate": purchased, "LastUpdateDate": updated,
                    "OrderStatus": "Unshipped", "MarketplaceId": "ATVPDKIKX0DER", "FulfillmentChannel": "MFN",
                    "OrderTotal": { "CurrencyCode": "USD", "Amount": "10.00" } })
        })
        .collect();
    json_response(200, json!({ "payload": { "Orders": orders } }).to_string())
}

#[tokio::test]
async fn reconciliation_finds_what_amazon_has_and_we_lack_and_a_replay_reads_it_again() {
    let h = Harness::new(&[]).await;
    h.connect("v0", "ATVPDKIKX0DER").await;
    h.mount_token(json!({ "access_token": "Atza|recon", "token_type": "bearer", "expires_in": 3600 }).to_string())
        .await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/orders/v0/orders/[^/]+/orderItems$"))
        .respond_with(json_response(200, r#"{"payload":{"OrderItems":[]}}"#))
        .mount(&h.server)
        .await;
    // The scheduled sync stored A and B (and D, since deleted at Amazon's side of the window).
    Mock::given(method("GET"))
        .and(path("/orders/v0/orders"))
        .and(query_param_is_missing("CreatedAfter"))
        .respond_with(v0_orders(&[
            ("111-0000001-0000001", "2026-11-20T10:00:00Z", "2026-11-20T11:00:00Z"),
            ("111-0000002-0000002", "2026-11-20T12:00:00Z", "2026-11-20T12:30:00Z"),
            ("111-0000004-0000004", "2026-11-20T13:00:00Z", "2026-11-20T13:00:00Z"),
        ]))
        .mount(&h.server)
        .await;
    h.sync("").await;
    assert!(h.canonical("111-0000002-0000002").await.is_some());
    // Amazon lists A as stored, B updated since, and C we never received.
    Mock::given(method("GET"))
        .and(path("/orders/v0/orders"))
        .and(wiremock::matchers::query_param_contains("CreatedAfter", "2026"))
        .respond_with(v0_orders(&[
            ("111-0000001-0000001", "2026-11-20T10:00:00Z", "2026-11-20T11:00:00Z"),
            ("111-0000002-0000002", "2026-11-20T12:00:00Z", "2026-11-21T08:00:00Z"),
            ("111-0000003-0000003", "2026-11-20T14:00:00Z", "2026-11-20T14:05:00Z"),
        ]))
        .mount(&h.server)
        .await;

    let sdk = shared::aws::sdk_config().await;
    let key_id = shared::secrets::ensure_key(&shared::aws::kms(&sdk), local_stack::LOCAL_KEY_ALIAS).await.unwrap();
    let mut env = shared::aws::resolve_app_secret(h.env.stack.env()).await.unwrap();
    for (name, value) in local_stack::spapi_vars(&h.server.uri(), &key_id) {
        env.set(&name, value);
    }
    let reconciler = reconciler::connect(reconciler::Config::read(env).unwrap()).await;
    let deps = reconciler.reconcile();
    let (from, to) = ("2026-11-20T00:00:00Z".parse().unwrap(), "2026-11-21T00:00:00Z".parse().unwrap());
    let report = shared::app::reconcile::run(&deps, &h.shop, Integration::Amazon, from, to, Utc::now()).await.unwrap();
    let listed = h.requests("/orders/v0/orders").await;
    let asked = listed.iter().find(|r| r.url.query_pairs().any(|(k, _)| k == "CreatedAfter")).unwrap();
    let param = |name: &str| asked.url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    assert_eq!(
        (param("CreatedAfter").as_deref(), param("CreatedBefore").as_deref()),
        (Some("2026-11-20T00:00:00Z"), Some("2026-11-21T00:00:00Z"))
    );
    assert_eq!((report.checked, report.missing.clone()), (3, vec!["amazon:111-0000003-0000003".to_owned()]));
    assert_eq!(report.extra, ["amazon:111-0000004-0000004"]);
    assert_eq!(report.mismatched.len(), 1);
    assert_eq!(report.mismatched[0].order, "amazon:111-0000002-0000002");
    assert_eq!(report.repush.len(), 2);

    // A replay of C's letter queues a re-read of its creation second, which stores it.
    let letter = report.repush.iter().find(|id| id.contains("111-0000003-0000003")).unwrap();
    let auth = format!("Bearer {}", token_for(&h.shop));
    let headers = [("Authorization", auth.as_str()), ("Content-Type", "application/json")];
    let body = json!({ "ids": [letter] }).to_string();
    let response = h.env.request("POST", "/api/dead-letters/replay", &headers, body.as_bytes()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let worker = poll_worker(&h).await;
    let watermark = h.store.amazon_watermark(&h.shop).await.unwrap();
    let urls = &h.env.stack.queues[&AMAZON_POLL];
    let received = h.env.stack.sqs.receive_message().queue_url(&urls.queue).send().await.unwrap();
    let message: Message = serde_json::from_str(received.messages.unwrap()[0].body.as_deref().unwrap()).unwrap();
    shared::app::poll::amazon::process(&worker, message).await.unwrap();
    assert!(h.canonical("111-0000003-0000003").await.is_some());
    let reread = h.requests("/orders/v0/orders").await;
    let last = reread.iter().rev().find(|r| r.url.path() == "/orders/v0/orders").unwrap();
    assert!(last.url.query_pairs().any(|(k, v)| k == "CreatedAfter" && v == "2026-11-20T14:00:00Z"), "{}", last.url);
    assert_eq!(h.store.amazon_watermark(&h.shop).await.unwrap(), watermark, "a re-read never moves the watermark");
}
