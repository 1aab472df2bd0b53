//! CommerceOS out against wiremock and moto: the connection (credential sealed, scopes checked, the
//! sync-webhooks configured in place), the trade-order upsert and every action with its state rule,
//! transaction-id idempotency, 409 out of stock, 429/5xx storms and a timeout up the ladder to the dead
//! letter and a replay, token caching and refresh, and redelivery of every message giving exactly one
//! upstream effect. Request bodies are checked against the shapes of seed 004's published examples.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use chrono::Utc;
use integration_tests::{TestEnv, demo_event, fixture, json_body, token_for};
use serde_json::{Value, json};
use shared::{
    domain::{AlertKind, Integration, OrderKey, ShopDomain, fulfilment::partner_order_id},
    integrations::commerceos::{Credential, Tenant, client::CommerceOsClient},
    queue::{Message, Stage},
    store::{CredentialStore, DeadLetterCause, DeadLetterStore, DeliveryStore, OrderStore},
    testing::unique_shop,
};
use wiremock::{
    Mock, MockServer, Request, ResponseTemplate,
    matchers::{method, path, path_regex},
};

const COS: Stage = Stage::Outbound(Integration::CommerceOs);
const TENANT: &str = "acme";
const KEY: &str = "com.acme.order-id";
const FULL_SCOPES: [&str; 4] = ["read:orders", "write:orders", "write:payments", "write:shipments"];

struct Cos {
    env: TestEnv,
    server: MockServer,
    shop: ShopDomain,
}

async fn mount_setup(server: &MockServer, scopes: &[&str]) {
    Mock::given(method("POST"))
        .and(path(format!("/{TENANT}/oauth2/v1/token")))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "access_token": "cos-access-1", "expires_in": 3600 })),
        )
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/{TENANT}/api/v1/scopes")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!(scopes)))
        .mount(server)
        .await;
    Mock::given(method("PUT"))
        .and(path_regex(format!("^/{TENANT}/api/v1/(mapped-types|sync-webhooks)/")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(format!("^/{TENANT}/api/v1/mapped-types/.*~just")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "identifiers": { "key": "mt-db-key-7" } })))
        .mount(server)
        .await;
}

/// Upserts answer 201 the first time, 200 after; actions and releases 200; one New shipment order.
async fn mount_orders(server: &MockServer) {
    let upserts = Arc::new(AtomicUsize::new(0));
    Mock::given(method("PUT"))
        .and(path_regex(format!("^/{TENANT}/api/v1/trade-orders/")))
        .respond_with(move |_: &Request| {
            let status = if upserts.fetch_add(1, Ordering::SeqCst) == 0 { 201 } else { 200 };
            ResponseTemplate::new(status).set_body_json(json!({}))
        })
        .with_priority(5)
        .mount(server)
        .await;
    Mock::given(method("PATCH"))
        .and(path_regex(format!("^/{TENANT}/api/v1/(trade|shipment)-orders/.*/actions$")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .with_priority(5)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(format!("^/{TENANT}/api/v1/trade-orders/.*/shipments$")))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!([{ "identifiers": { "key": "so-1" }, "status": ["New"] }])),
        )
        .with_priority(5)
        .mount(server)
        .await;
}

fn connect_body() -> Value {
    json!({ "tenant": TENANT, "identifier_key": KEY, "seller": "WAREHOUSE-MAIN", "supplier": "ACME-RETAIL",
        "currency": "SEK", "client_id": "cos-client", "client_secret": "cos-client-secret-value" })
}

async fn stack(label: &str) -> Cos {
    let server = MockServer::start().await;
    let env = TestEnv::with_upstreams(&[
        (Integration::Shopify, "http://127.0.0.1:9/no-shopify/{shop}"),
        (Integration::CommerceOs, &format!("{}/{{tenant}}", server.uri())),
    ])
    .await;
    let shop = unique_shop(label);
    env.install(&shop, "shpat_cos", &["read_orders"]).await;
    Cos { env, server, shop }
}

async fn connected(label: &str) -> Cos {
    let cos = stack(label).await;
    mount_setup(&cos.server, &FULL_SCOPES).await;
    mount_orders(&cos.server).await;
    let (status, body) = cos.call("PUT", "/api/commerceos/connection", Some(connect_body())).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = cos
        .call(
            "PUT",
            "/api/fulfilment/settings",
            Some(json!({ "enabled": true, "partner": "commerceos", "rule": { "by": "all" } })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    cos
}

impl Cos {
    async fn call(&self, method: &str, target: &str, body: Option<Value>) -> (u16, Value) {
        let auth = format!("Bearer {}", token_for(&self.shop));
        let headers = [("Authorization", auth.as_str()), ("Content-Type", "application/json")];
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let response = self.env.request(method, target, &headers, body.as_bytes()).await;
        (response.status().as_u16(), json_body(&response))
    }

    /// Delivers a Shopify order `id` (the demo order #1001 with `skus`), paid or not.
    async fn order(&self, id: &str, skus: &[&str], paid: bool, webhook: &str) -> OrderKey {
        let mut order: Value = serde_json::from_slice(&demo_event("orders-create-1001.json")).unwrap();
        order["id"] = json!(id.parse::<u64>().unwrap());
        order["name"] = json!(format!("#{id}"));
        order["admin_graphql_api_id"] = json!(format!("gid://shopify/Order/{id}"));
        order["financial_status"] = json!(if paid { "paid" } else { "pending" });
        order["fulfillment_status"] = Value::Null;
        order["fulfillments"] = json!([]);
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
        self.deliver(&order, webhook).await;
        OrderKey::parse(&format!("shopify:{id}")).unwrap()
    }

    /// Delivers Shopify's `order_transactions/create` for order `id`: a successful transaction of
    /// `kind` with the id `transaction`.
    async fn transaction(&self, id: &str, kind: &str, transaction: u64, webhook: &str) {
        let body = json!({ "id": transaction, "order_id": id.parse::<u64>().unwrap(), "kind": kind,
            "gateway": "shopify_payments", "status": "success", "amount": "414.95", "currency": "USD",
            "created_at": "2026-11-21T10:00:00-05:00", "processed_at": "2026-11-21T10:00:00-05:00",
            "admin_graphql_api_id": format!("gid://shopify/OrderTransaction/{transaction}") });
        let topic = "order_transactions/create";
        let response = self.env.deliver(&self.shop, topic, webhook, body.to_string().as_bytes()).await;
        assert_eq!(response.status(), 200);
        self.env.drain_ingest().await;
    }

    async fn deliver(&self, order: &Value, webhook: &str) {
        let topic = if webhook.starts_with("upd") { "orders/updated" } else { "orders/create" };
        let response = self.env.deliver(&self.shop, topic, webhook, order.to_string().as_bytes()).await;
        assert_eq!(response.status(), 200);
        self.env.drain_ingest().await;
    }

    async fn requests(&self) -> Vec<Request> {
        self.server.received_requests().await.unwrap()
    }

    /// The trade-order requests (upserts and actions), in order, as `METHOD body`.
    async fn order_calls(&self) -> Vec<(String, Value)> {
        self.requests()
            .await
            .into_iter()
            .filter(|r| r.url.path().contains("/trade-orders/") || r.url.path().contains("/shipment-orders/"))
            .filter(|r| r.method.as_str() != "GET")
            .map(|r| (r.method.to_string(), serde_json::from_slice(&r.body).unwrap_or(Value::Null)))
            .collect()
    }

    fn action_count(calls: &[(String, Value)], action: &str) -> usize {
        calls.iter().filter(|(m, b)| m == "PATCH" && b.get(action).is_some()).count()
    }

    /// Works the CommerceOS queue until it stays empty past the ladder's first rungs.
    async fn work(&self) {
        self.env.drain(COS, 3).await;
    }

    /// Takes every message waiting on the CommerceOS queue and sends each back twice (three copies):
    /// a redelivery storm.
    async fn triplicate(&self) -> usize {
        let messages = self.env.take_all(COS).await;
        for message in &messages {
            for _ in 0..3 {
                self.env.enqueue(COS, message, 0).await;
            }
        }
        messages.len()
    }
}

/// Every field of the published example is in ours with the same JSON type (identifier maps hold
/// namespaced keys, so they are compared as non-empty maps of strings).
fn assert_shape(example: &Value, ours: &Value, at: &str) {
    match example {
        Value::Object(fields) if at.ends_with("identifiers") => {
            let map = ours.as_object().unwrap_or_else(|| panic!("{at}: not an object: {ours}"));
            assert!(!map.is_empty() && map.values().all(Value::is_string), "{at}: {ours}");
        }
        Value::Object(fields) => {
            for (k, v) in fields {
                let got = ours.get(k).unwrap_or_else(|| panic!("{at}.{k} is missing from {ours}"));
                assert_shape(v, got, &format!("{at}.{k}"));
            }
        }
        Value::Array(items) => {
            let got = ours.as_array().unwrap_or_else(|| panic!("{at}: not an array: {ours}"));
            assert!(!got.is_empty(), "{at}: empty");
            if let Some(first) = items.first() {
                for g in got {
                    assert_shape(first, g, &format!("{at}[]"));
                }
            }
        }
        Value::Number(_) => assert!(ours.is_number(), "{at}: {ours} is not a number"),
        Value::String(_) => assert!(ours.is_string(), "{at}: {ours} is not a string"),
        Value::Bool(_) => assert!(ours.is_boolean(), "{at}: {ours} is not a boolean"),
        Value::Null => {}
    }
}

fn published(name: &str) -> Option<Value> {
    let path = fixture(&format!("commerceos/{name}"))?;
    Some(serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap())
}

#[tokio::test]
async fn connecting_seals_the_credential_checks_scopes_and_configures_the_sync_webhooks_in_place() {
    let cos = stack("cos-connect").await;
    mount_setup(&cos.server, &FULL_SCOPES).await;
    let (status, body) = cos.call("PUT", "/api/commerceos/connection", Some(connect_body())).await;
    assert_eq!(status, 200, "{body}");
    let text = body.to_string();
    assert!(!text.contains("cos-client-secret-value") && !text.contains("cos-access-1"), "no secret answered");
    assert_eq!(body["connection"]["writes_allowed"], true);
    assert_eq!(body["connection"]["identifier_key"], KEY);

    let requests = cos.requests().await;
    let token = requests.iter().find(|r| r.url.path().ends_with("/oauth2/v1/token")).unwrap();
    let form = String::from_utf8_lossy(&token.body).to_string();
    assert!(form.contains("grant_type=client_credentials") && form.contains("client_id=cos-client"), "{form}");
    let scopes = requests.iter().find(|r| r.url.path().ends_with("/scopes")).unwrap();
    assert_eq!(scopes.headers.get("authorization").unwrap(), "Bearer cos-access-1");

    let hooks: Vec<&Request> =
        requests.iter().filter(|r| r.method.as_str() == "PUT" && r.url.path().contains("/sync-webhooks/")).collect();
    assert_eq!(hooks.len(), 3, "order status, shipment completed, new orders");
    let bodies: Vec<Value> = hooks.iter().map(|r| serde_json::from_slice(&r.body).unwrap()).collect();
    let status_hook = &bodies[0];
    assert!(hooks[0].url.path().ends_with("/sync-webhooks/com.acme.sync-id=order-status-push"));
    assert_eq!(status_hook["map"]["identifiers"]["key"], "mt-db-key-7", "the mapped type's database key");
    let out = status_hook["out"]["url"].as_str().unwrap();
    assert!(out.ends_with(&format!("/webhooks/commerceos/{}/order-status", cos.shop)), "{out}");
    let bearer = status_hook["out"]["auth"]["authorizationHeader"].as_str().unwrap().to_owned();
    assert!(bearer.starts_with("Bearer ") && bearer.len() > 40);
    assert!(bodies[1]["out"]["url"].as_str().unwrap().ends_with("/shipment-completed"));
    let new_orders = &bodies[2]["out"];
    assert!(new_orders["url"].as_str().unwrap().ends_with("/orders/new"));
    assert!(new_orders["auth"]["clientCredentials"]["tokenUrl"].as_str().unwrap().ends_with("/oauth/token"));
    let mapped: Vec<Value> = requests
        .iter()
        .filter(|r| r.method.as_str() == "PUT" && r.url.path().contains("/mapped-types/"))
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(mapped.len(), 2);
    assert_eq!(mapped[0]["body"]["orderId"], format!("identifiers/{KEY}"));
    if let (Some(hook), Some(map)) = (
        published("sync-webhooks.PUT.order-status-push.request.json"),
        published("mapped-types.PUT.order-status-map.request.json"),
    ) {
        assert_shape(&hook, status_hook, "sync-webhook");
        assert_shape(
            &published("sync-webhooks.PUT.shipment-completed-webhook.request.json").unwrap(),
            &bodies[1],
            "shipment hook",
        );
        assert_shape(&map, &mapped[0], "mapped-type");
    }

    // The GET answers the connection with its last check, never a secret or a hash.
    let (status, got) = cos.call("GET", "/api/commerceos/connection", None).await;
    assert_eq!(status, 200);
    assert_eq!(got["connection"]["last_check_ok"], true);
    assert!(!got.to_string().contains("hash") && !got.to_string().contains("cos-client-secret-value"));

    // Reconnecting PUTs the same identifiers again (in place) with a fresh secret.
    let (status, _) = cos.call("PUT", "/api/commerceos/connection", Some(connect_body())).await;
    assert_eq!(status, 200);
    let again: Vec<Request> = cos
        .requests()
        .await
        .into_iter()
        .filter(|r| r.method.as_str() == "PUT" && r.url.path().contains("/sync-webhooks/"))
        .collect();
    assert_eq!(again.len(), 6);
    assert_eq!(again[3].url.path(), hooks[0].url.path(), "the same identifier: updated in place");
    let rotated: Value = serde_json::from_slice(&again[3].body).unwrap();
    assert_ne!(rotated["out"]["auth"]["authorizationHeader"].as_str().unwrap(), bearer, "a fresh secret");

    // The credential is sealed at rest.
    let sealed = cos.env.stack.shops.credential(&cos.shop, Integration::CommerceOs).await.unwrap().unwrap();
    assert!(!format!("{:?}", sealed.sealed).contains("cos-client-secret-value"));
}

#[tokio::test]
async fn the_tenant_may_be_given_as_its_base_url_and_a_foreign_host_is_refused_before_any_call() {
    let cos = stack("cos-base-url").await;
    mount_setup(&cos.server, &FULL_SCOPES).await;
    let base_url = format!("{}/{TENANT}/api/v1", cos.server.uri());

    // A foreign host, another tenant's path in a foreign host, a different API path, or a URL naming
    // another tenant than `tenant`: 400 INVALID_BASE_URL, and CommerceOS is never called.
    let foreign = [
        json!({ "base_url": "https://evil.example/api/v1" }),
        json!({ "base_url": format!("https://evil.example/{}/{TENANT}/api/v1", cos.server.uri()) }),
        json!({ "base_url": format!("{}/{TENANT}/api/v2", cos.server.uri()) }),
        json!({ "base_url": format!("{}/evil.example/api/v1", cos.server.uri()) }),
        json!({ "base_url": format!("{}/other/api/v1", cos.server.uri()), "tenant": TENANT }),
    ];
    for patch in foreign {
        let mut body = connect_body();
        body.as_object_mut().unwrap().remove("tenant");
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, answer) = cos.call("PUT", "/api/commerceos/connection", Some(body.clone())).await;
        assert_eq!((status, answer["code"].as_str()), (400, Some("INVALID_BASE_URL")), "{body}: {answer}");
        assert!(answer["error"].is_string());
    }
    let mut neither = connect_body();
    neither.as_object_mut().unwrap().remove("tenant");
    let (status, answer) = cos.call("PUT", "/api/commerceos/connection", Some(neither)).await;
    assert_eq!((status, answer["code"].as_str()), (400, Some("INVALID_TENANT")));
    assert!(cos.requests().await.is_empty(), "no credential went anywhere");

    // The base URL form: stored as the tenant it names, and the tenant's API is called.
    let mut by_url = connect_body();
    by_url.as_object_mut().unwrap().remove("tenant");
    by_url["base_url"] = json!(format!("{base_url}/"));
    let (status, answer) = cos.call("PUT", "/api/commerceos/connection", Some(by_url)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["connection"]["tenant"], TENANT);
    assert_eq!(answer["connection"]["base_url"], base_url);
    assert!(cos.requests().await.iter().any(|r| r.url.path() == format!("/{TENANT}/api/v1/scopes")));
    let stored = shared::app::connections::commerceos::load(&cos.env.stack.shops, &cos.shop).await.unwrap().unwrap();
    assert_eq!(stored.settings.tenant, TENANT);

    // The name form still works, and GET answers both.
    let (status, _) = cos.call("PUT", "/api/commerceos/connection", Some(connect_body())).await;
    assert_eq!(status, 200);
    let (status, got) = cos.call("GET", "/api/commerceos/connection", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        (got["connection"]["tenant"].as_str(), got["connection"]["base_url"].as_str()),
        (Some(TENANT), Some(base_url.as_str()))
    );
}

#[tokio::test]
async fn bad_connection_input_is_a_400_and_a_malformed_identifier_key_never_reaches_commerceos() {
    let cos = stack("cos-bad").await;
    mount_setup(&cos.server, &FULL_SCOPES).await;
    for (patch, code) in [
        (json!({ "identifier_key": "acme.order-id" }), "INVALID_IDENTIFIER_KEY"),
        (json!({ "identifier_key": "com.acme.order.id" }), "INVALID_IDENTIFIER_KEY"),
        (json!({ "tenant": "evil.example.com/x" }), "INVALID_TENANT"),
        (json!({ "currency": "KRONA" }), "INVALID_CURRENCY"),
        (json!({ "api_key": "k" }), "INVALID_CREDENTIAL"),
    ] {
        let mut body = connect_body();
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, answer) = cos.call("PUT", "/api/commerceos/connection", Some(body)).await;
        assert_eq!((status, answer["code"].as_str().unwrap()), (400, code), "{answer}");
    }
    assert!(cos.requests().await.is_empty(), "nothing was sent");
    let (status, answer) = cos.call("POST", "/api/commerceos/ping", None).await;
    assert_eq!((status, answer["code"].as_str().unwrap()), (409, "COMMERCEOS_NOT_CONNECTED"));
}

#[tokio::test]
async fn a_read_only_scope_refuses_writes_with_a_setup_alert_naming_the_missing_scope() {
    let cos = stack("cos-ro").await;
    mount_setup(&cos.server, &["read:orders", "write:orders", "write:shipments"]).await;
    mount_orders(&cos.server).await;
    let (status, body) = cos.call("PUT", "/api/commerceos/connection", Some(connect_body())).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["connection"]["writes_allowed"], false);
    assert_eq!(body["connection"]["missing_scopes"], json!(["write:payments"]));
    assert!(
        cos.requests().await.iter().all(|r| r.method.as_str() == "GET" || r.url.path().ends_with("/token")),
        "no write (it would be a silent 200)"
    );
    let setup: Vec<_> = cos.env.alerts(&cos.shop).await.into_iter().filter(|a| a.kind == AlertKind::Setup).collect();
    assert_eq!(setup.len(), 1);
    assert!(setup[0].message.contains("write:payments"), "{}", setup[0].message);
    let (status, _) = cos
        .call(
            "PUT",
            "/api/fulfilment/settings",
            Some(json!({ "enabled": true, "partner": "commerceos", "rule": { "by": "all" } })),
        )
        .await;
    assert_eq!(status, 200);

    let key = cos.order("8101", &["WIDGET-001"], true, "wh-8101").await;
    cos.work().await;
    assert!(cos.order_calls().await.is_empty(), "no write under a read-only scope");
    let letters = cos.env.stack.shops.dead_letters(&cos.shop, Some(Integration::CommerceOs)).await.unwrap();
    let upsert = letters.iter().find(|l| l.kind == "erp_upsert").unwrap();
    assert_eq!((upsert.cause, upsert.order.as_str()), (DeadLetterCause::Rejected, key.to_string().as_str()));
    assert!(upsert.error.contains("write:payments"), "{}", upsert.error);
}

#[tokio::test]
async fn a_paid_order_is_upserted_addressed_paid_and_approved_once_under_redelivery() {
    let cos = connected("cos-trip").await;
    let key = cos.order("8201", &["WIDGET-001", "GADGET-002"], true, "wh-8201").await;
    // Shopify's transaction arrives after the paid order (and once more, redelivered).
    cos.transaction("8201", "sale", 7201, "tx-8201").await;
    cos.transaction("8201", "sale", 7201, "tx-8201-again").await;
    let copies = cos.triplicate().await;
    assert_eq!(copies, 4, "upsert, addresses, approve, payment");
    cos.work().await;

    let calls = cos.order_calls().await;
    let identifier = partner_order_id(&cos.shop, &key);
    let upserts: Vec<&(String, Value)> = calls.iter().filter(|(m, _)| m == "PUT").collect();
    assert_eq!(upserts.len(), 1, "one upsert: {calls:?}");
    let upsert = &upserts[0].1;
    assert_eq!(upsert["identifiers"][KEY], json!(identifier));
    assert_eq!(upsert["sellers"][0]["identifiers"]["com.acme.store-id"], "WAREHOUSE-MAIN");
    assert_eq!(upsert["items"][1]["product"]["identifiers"]["com.acme.sku"], "GADGET-002");
    assert!(upsert.get("deliveryAddresses").is_none(), "addresses are read-only on create");
    for action in ["changeDeliveryAddress", "changeInvoiceAddress", "createPayment", "tryApprove"] {
        assert_eq!(Cos::action_count(&calls, action), 1, "{action} exactly once: {calls:?}");
    }
    let position = |action: &str| calls.iter().position(|(_, b)| b.get(action).is_some()).unwrap();
    assert!(position("changeDeliveryAddress") < position("tryApprove"), "addresses before the approval");
    let payment = &calls[position("createPayment")].1;
    assert_eq!(payment["createPayment"]["transactionId"], "shopify-7201", "Shopify's own transaction id");
    assert!(payment["createPayment"]["amount"].is_number());
    let put = cos
        .requests()
        .await
        .into_iter()
        .find(|r| r.method.as_str() == "PUT" && r.url.path().contains("/trade-orders/"))
        .unwrap();
    assert_eq!(put.url.path(), format!("/{TENANT}/api/v1/trade-orders/{KEY}={identifier}"));
    assert_eq!(put.headers.get("authorization").unwrap(), "Bearer cos-access-1");

    if let Some(example) = published("trade-orders.PUT.full-details.request.json") {
        assert_shape(&example, upsert, "trade order");
        for (name, action) in [
            ("trade-orders.actions.changeInvoiceAddress.request.json", "changeInvoiceAddress"),
            ("trade-orders.actions.createPayment.request.json", "createPayment"),
            ("trade-orders.actions.tryApprove.request.json", "tryApprove"),
        ] {
            assert_shape(&published(name).unwrap(), &calls[position(action)].1, action);
        }
        let delivery = &calls[position("changeDeliveryAddress")].1["changeDeliveryAddress"];
        for field in ["line1", "postalCode", "cityName", "countryCode"] {
            assert!(delivery[field].is_string(), "{field} in {delivery}");
        }
    }

    let order = cos.env.stack.shops.get_order(&cos.shop, &key).await.unwrap().unwrap();
    let erp = order.ops.erp.unwrap();
    assert!(erp.upserted && erp.approved && erp.address_digest.is_some());
    let deliveries = cos.env.stack.shops.deliveries(&cos.shop, &key).await.unwrap();
    let upserted = deliveries.iter().find(|d| d.kind == "erp_upsert").unwrap();
    assert_eq!(upserted.detail, "trade order created in CommerceOS (201)");
    // One token for every call of the worker instance.
    let tokens = cos.requests().await.iter().filter(|r| r.url.path().ends_with("/oauth2/v1/token")).count();
    assert!(tokens <= 2, "{tokens} token requests (connect, then the worker's cache)");

    // A later revision with new lines upserts again: 200 this time.
    let mut revised: Value = serde_json::from_slice(&demo_event("orders-create-1001.json")).unwrap();
    revised["id"] = json!(8201);
    revised["name"] = json!("#8201");
    revised["admin_graphql_api_id"] = json!("gid://shopify/Order/8201");
    revised["financial_status"] = json!("paid");
    revised["fulfillment_status"] = Value::Null;
    revised["fulfillments"] = json!([]);
    revised["updated_at"] = json!("2030-01-01T00:00:00Z");
    revised["line_items"][0]["sku"] = json!("WIDGET-001");
    revised["line_items"][0]["quantity"] = json!(5);
    revised["line_items"] = json!([revised["line_items"][0].clone()]);
    cos.deliver(&revised, "upd-8201").await;
    cos.work().await;
    let calls = cos.order_calls().await;
    assert_eq!(calls.iter().filter(|(m, _)| m == "PUT").count(), 2);
    let deliveries = cos.env.stack.shops.deliveries(&cos.shop, &key).await.unwrap();
    assert!(deliveries.iter().any(|d| d.detail == "trade order updated in CommerceOS (200)"), "{deliveries:?}");
    assert_eq!(Cos::action_count(&calls, "tryApprove"), 1, "approved once");
    assert_eq!(Cos::action_count(&calls, "createPayment"), 1, "the capture is paid once");
}

#[tokio::test]
async fn state_rules_refuse_an_address_change_after_approval_and_a_cancel_before_it() {
    let cos = connected("cos-rules").await;
    // Unpaid: upserted and addressed, not approved; its cancel is refused (tryCancel: Committed only).
    let unpaid = cos.order("8301", &["WIDGET-001"], false, "wh-8301").await;
    cos.work().await;
    let mut cancelled: Value = serde_json::from_slice(&demo_event("orders-create-1001.json")).unwrap();
    cancelled["id"] = json!(8301);
    cancelled["name"] = json!("#8301");
    cancelled["admin_graphql_api_id"] = json!("gid://shopify/Order/8301");
    cancelled["line_items"][0]["sku"] = json!("WIDGET-001");
    cancelled["line_items"] = json!([cancelled["line_items"][0].clone()]);
    cancelled["financial_status"] = json!("pending");
    cancelled["fulfillments"] = json!([]);
    cancelled["cancelled_at"] = json!("2030-01-01T00:00:00Z");
    cancelled["updated_at"] = json!("2030-01-01T00:00:00Z");
    cos.deliver(&cancelled, "upd-8301").await;
    cos.work().await;
    let calls = cos.order_calls().await;
    assert_eq!(Cos::action_count(&calls, "tryCancel"), 0, "never sent to a New order");
    let refused =
        cos.env.alerts(&cos.shop).await.into_iter().filter(|a| a.kind == AlertKind::PushRejected).collect::<Vec<_>>();
    assert_eq!(refused.len(), 1);
    assert!(refused[0].message.contains("Committed"), "{}", refused[0].message);
    assert_eq!(refused[0].order.as_deref(), Some(unpaid.to_string().as_str()));

    // Paid and approved: a new address is refused with an alert, not retried; a cancel goes through.
    let paid = cos.order("8302", &["WIDGET-001"], true, "wh-8302").await;
    cos.work().await;
    let mut moved: Value = serde_json::from_slice(&demo_event("orders-create-1001.json")).unwrap();
    moved["id"] = json!(8302);
    moved["name"] = json!("#8302");
    moved["admin_graphql_api_id"] = json!("gid://shopify/Order/8302");
    moved["line_items"][0]["sku"] = json!("WIDGET-001");
    moved["line_items"] = json!([moved["line_items"][0].clone()]);
    moved["financial_status"] = json!("paid");
    moved["fulfillment_status"] = Value::Null;
    moved["fulfillments"] = json!([]);
    moved["shipping_address"]["city"] = json!("Göteborg");
    moved["updated_at"] = json!("2030-01-01T00:00:00Z");
    cos.deliver(&moved, "upd-8302").await;
    cos.work().await;
    let before = cos.order_calls().await;
    let addresses = Cos::action_count(&before, "changeDeliveryAddress");
    assert_eq!(addresses, 2, "8301's and 8302's first address only: {before:?}");
    let deliveries = cos.env.stack.shops.deliveries(&cos.shop, &paid).await.unwrap();
    let rejected: Vec<_> = deliveries.iter().filter(|d| d.outcome.as_str() == "rejected").collect();
    assert_eq!(rejected.len(), 1, "{deliveries:?}");
    assert!(cos.env.stack.shops.dead_letters(&cos.shop, None).await.unwrap().is_empty(), "not retried");

    moved["cancelled_at"] = json!("2030-01-02T00:00:00Z");
    moved["updated_at"] = json!("2030-01-02T00:00:00Z");
    cos.deliver(&moved, "upd-8302-cancel").await;
    cos.work().await;
    assert_eq!(Cos::action_count(&cos.order_calls().await, "tryCancel"), 1);
    let order = cos.env.stack.shops.get_order(&cos.shop, &paid).await.unwrap().unwrap();
    assert!(order.ops.erp.unwrap().cancelled);
}

#[tokio::test]
async fn out_of_stock_cancels_the_order_in_commerceos_and_names_the_items_without_retrying() {
    let cos = stack("cos-409").await;
    mount_setup(&cos.server, &FULL_SCOPES).await;
    Mock::given(method("PATCH"))
        .and(path_regex(format!("^/{TENANT}/api/v1/trade-orders/.*/actions$")))
        .and(wiremock::matchers::body_string_contains("tryApprove"))
        .respond_with(
            ResponseTemplate::new(409).set_body_json(json!({ "message": "Insufficient stock for GADGET-002" })),
        )
        .with_priority(1)
        .mount(&cos.server)
        .await;
    mount_orders(&cos.server).await;
    cos.call("PUT", "/api/commerceos/connection", Some(connect_body())).await;
    cos.call(
        "PUT",
        "/api/fulfilment/settings",
        Some(json!({ "enabled": true, "partner": "commerceos", "rule": { "by": "all" } })),
    )
    .await;

    let key = cos.order("8401", &["WIDGET-001", "GADGET-002"], true, "wh-8401").await;
    cos.work().await;
    let calls = cos.order_calls().await;
    assert_eq!(Cos::action_count(&calls, "tryApprove"), 1, "not retried");
    assert_eq!(Cos::action_count(&calls, "tryCancel"), 1, "cancelled in CommerceOS");
    let short: Vec<_> =
        cos.env.alerts(&cos.shop).await.into_iter().filter(|a| a.kind == AlertKind::PartnerShort).collect();
    assert_eq!(short.len(), 1);
    assert!(
        short[0].message.contains("GADGET-002") && !short[0].message.contains("WIDGET-001"),
        "{}",
        short[0].message
    );
    assert!(cos.env.stack.shops.dead_letters(&cos.shop, None).await.unwrap().is_empty());
    let order = cos.env.stack.shops.get_order(&cos.shop, &key).await.unwrap().unwrap();
    assert!(order.ops.erp.unwrap().cancelled);
}

#[tokio::test]
async fn storms_and_a_timeout_climb_the_ladder_to_one_dead_letter_and_a_replay_delivers_once() {
    let cos = stack("cos-storm").await;
    mount_setup(&cos.server, &FULL_SCOPES).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    Mock::given(method("PUT"))
        .and(path_regex(format!("^/{TENANT}/api/v1/trade-orders/")))
        .respond_with(move |_: &Request| match counter.fetch_add(1, Ordering::SeqCst) {
            0 => {
                ResponseTemplate::new(429).insert_header("retry-after", "1").set_body_json(json!({ "message": "slow" }))
            }
            1 => ResponseTemplate::new(503).set_body_json(json!({ "message": "unavailable" })),
            // A timeout: the client gives up after its request timeout... here a slow 500 keeps it short.
            2 => ResponseTemplate::new(500).set_delay(Duration::from_millis(300)),
            3 => ResponseTemplate::new(502),
            _ => ResponseTemplate::new(429),
        })
        .up_to_n_times(5)
        .with_priority(1)
        .mount(&cos.server)
        .await;
    mount_orders(&cos.server).await;
    cos.call("PUT", "/api/commerceos/connection", Some(connect_body())).await;
    cos.call(
        "PUT",
        "/api/fulfilment/settings",
        Some(json!({ "enabled": true, "partner": "commerceos", "rule": { "by": "all" } })),
    )
    .await;

    let key = cos.order("8501", &["WIDGET-001"], false, "wh-8501").await;
    for _ in 0..6 {
        cos.env.drain(COS, 11).await;
        if calls.load(Ordering::SeqCst) >= 5 {
            break;
        }
    }
    cos.env.drain(COS, 2).await;
    assert_eq!(calls.load(Ordering::SeqCst), 5, "five attempts");
    let letters = cos.env.stack.shops.dead_letters(&cos.shop, Some(Integration::CommerceOs)).await.unwrap();
    let upsert = letters.iter().find(|l| l.kind == "erp_upsert").expect("the upsert is dead-lettered");
    assert_eq!((upsert.cause, upsert.attempts), (DeadLetterCause::Transient, 5));
    assert!(upsert.request.as_ref().unwrap()["items"].is_array(), "the request is kept");
    assert!(upsert.response.is_some());

    // Replay: CommerceOS is back; the upsert goes through once, then the addresses.
    let (status, replayed) =
        cos.call("POST", "/api/dead-letters/replay", Some(json!({ "destination": "commerceos" }))).await;
    assert_eq!(status, 200, "{replayed}");
    cos.work().await;
    cos.call("POST", "/api/dead-letters/replay", Some(json!({ "destination": "commerceos" }))).await;
    cos.work().await;
    let puts = cos.order_calls().await.into_iter().filter(|(m, _)| m == "PUT").count();
    assert_eq!(puts, 6, "five failures and one success");
    let order = cos.env.stack.shops.get_order(&cos.shop, &key).await.unwrap().unwrap();
    assert!(order.ops.erp.unwrap().upserted);
    assert!(cos.env.stack.shops.dead_letters(&cos.shop, Some(Integration::CommerceOs)).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_shipment_from_the_channel_creates_and_releases_a_commerceos_shipment_once() {
    let cos = connected("cos-ship").await;
    let key = cos.order("8601", &["WIDGET-001"], true, "wh-8601").await;
    cos.work().await;
    let mut shipped: Value = serde_json::from_slice(&demo_event("orders-create-1001.json")).unwrap();
    shipped["id"] = json!(8601);
    shipped["name"] = json!("#8601");
    shipped["admin_graphql_api_id"] = json!("gid://shopify/Order/8601");
    shipped["line_items"][0]["sku"] = json!("WIDGET-001");
    shipped["line_items"] = json!([shipped["line_items"][0].clone()]);
    shipped["financial_status"] = json!("paid");
    shipped["updated_at"] = json!("2030-01-01T00:00:00Z");
    let updated: Value = serde_json::from_slice(&demo_event("orders-updated-1001.json")).unwrap();
    shipped["fulfillments"] = updated["fulfillments"].clone();
    shipped["fulfillment_status"] = json!("fulfilled");
    assert!(shipped["fulfillments"].as_array().is_some_and(|f| !f.is_empty()), "a fulfilment with tracking");
    cos.deliver(&shipped, "upd-8601").await;
    cos.triplicate().await;
    cos.work().await;
    let calls = cos.order_calls().await;
    assert_eq!(Cos::action_count(&calls, "createShipment"), 1, "{calls:?}");
    assert_eq!(Cos::action_count(&calls, "release"), 1);
    if let Some(example) = published("trade-orders.actions.createShipment.request.json") {
        assert_shape(
            &example,
            &calls[calls.iter().position(|(_, b)| b.get("createShipment").is_some()).unwrap()].1,
            "createShipment",
        );
    }
    let release = cos.requests().await.into_iter().find(|r| r.url.path().contains("/shipment-orders/")).unwrap();
    assert_eq!(release.url.path(), format!("/{TENANT}/api/v1/shipment-orders/so-1/actions"));
    let order = cos.env.stack.shops.get_order(&cos.shop, &key).await.unwrap().unwrap();
    assert!(order.ops.erp.unwrap().released.iter().any(|r| !r.starts_with("created:")));
}

#[tokio::test]
async fn reconciliation_lists_our_channels_trade_orders_and_a_replay_upserts_the_missing_one_once() {
    let cos = connected("cos-recon").await;
    let keys = [
        cos.order("8801", &["WIDGET-001"], true, "wh-8801").await,
        cos.order("8802", &["WIDGET-001"], true, "wh-8802").await,
        cos.order("8803", &["WIDGET-001"], true, "wh-8803").await,
    ];
    cos.work().await;
    let id = |key: &OrderKey| partner_order_id(&cos.shop, key);
    // CommerceOS told us #8802 is Committed.
    let auth = format!("Bearer {}", cos.webhook_secret().await);
    let status_url = format!("/webhooks/commerceos/{}/order-status", cos.shop);
    let told = json!([{ "orderId": id(&keys[1]), "status": ["Committed"], "timestamp": "2030-01-01T00:00:00Z" }]);
    assert_eq!(cos.post(&status_url, Some(&auth), &told).await.0, 200);
    cos.env.drain_ingest().await;
    // CommerceOS holds #8801, #8802 (Cancelled since) and an order of this shop we never mirrored, one
    // of another shop on the tenant, and one placed after the window; not #8803.
    let now = Utc::now();
    let stamp = |t: chrono::DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let record = |identifier: String, status: &str, at: chrono::DateTime<Utc>| json!({ "identifiers": { KEY: identifier, "com.acme.channel": "shopify" }, "status": [status], "timestamp": stamp(at) });
    let stranger = partner_order_id(&cos.shop, &OrderKey::parse("shopify:8899").unwrap());
    let listed = json!([
        record(id(&keys[0]), "Committed", now),
        record(id(&keys[1]), "Cancelled", now),
        record(stranger.clone(), "New", now),
        record(partner_order_id(&unique_shop("other"), &keys[2]), "New", now),
        record(
            partner_order_id(&cos.shop, &OrderKey::parse("shopify:8000").unwrap()),
            "New",
            now + chrono::Duration::hours(2)
        ),
    ]);
    Mock::given(method("GET"))
        .and(path_regex(format!(
            r"^/{TENANT}/api/v1/trade-orders/after\(create\)/[^~]+~where\(identifiers/com\.acme\.channel=shopify\)"
        )))
        .respond_with(ResponseTemplate::new(200).set_body_json(listed))
        .mount(&cos.server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(format!(
            r"^/{TENANT}/api/v1/trade-orders/after\(create\)/[^~]+~where\(identifiers/com\.acme\.channel=amazon\)"
        )))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&cos.server)
        .await;

    let reconciler = integration_tests::deps!(cos.env.stack, reconciler);
    let deps = reconciler.reconcile();
    let (from, to) = (now - chrono::Duration::days(10), now + chrono::Duration::hours(1));
    // Mirrors decided within the grace are not gaps yet.
    let early = shared::app::reconcile::run(&deps, &cos.shop, Integration::CommerceOs, from, to, now).await.unwrap();
    assert_eq!((early.checked, early.extra.len()), (0, 1), "{early:?}");
    let later = now + chrono::Duration::minutes(20);
    let report = shared::app::reconcile::run(&deps, &cos.shop, Integration::CommerceOs, from, to, later).await.unwrap();
    assert_eq!(report.checked, 3);
    assert_eq!(report.missing, [keys[2].to_string()]);
    assert_eq!(report.extra, [stranger]);
    assert_eq!(report.mismatched.len(), 1);
    assert_eq!(
        (report.mismatched[0].ours.as_deref(), report.mismatched[0].theirs.as_deref()),
        (Some("Committed"), Some("Cancelled"))
    );
    let asked = cos.requests().await.into_iter().find(|r| r.url.path().contains("channel=shopify)")).unwrap();
    assert!(
        asked.url.path().ends_with("~with(status,identifiers)~orderBy(timestamp)~skip(0)~take(100)")
            && asked.url.path().contains(&format!("/trade-orders/after(create)/{}~where(", stamp(from))),
        "{}",
        asked.url
    );

    // The missing order's letter replays as one upsert of it, however often it is delivered.
    assert_eq!(report.repush.len(), 1);
    let upserts = |requests: Vec<Request>| {
        requests
            .iter()
            .filter(|r| r.method.as_str() == "PUT" && r.url.path().ends_with(&format!("={}", id(&keys[2]))))
            .count()
    };
    let before = upserts(cos.requests().await);
    // The first replay is refused: the re-push becomes a dead letter of its own, which the next
    // reconciliation leaves as it is (its request and cause) and still names.
    Mock::given(method("PUT"))
        .and(path_regex(format!("^/{TENANT}/api/v1/trade-orders/.*={}$", id(&keys[2]))))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({ "message": "bad seller" })))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&cos.server)
        .await;
    let (status, body) = cos.call("POST", "/api/dead-letters/replay", Some(json!({ "ids": report.repush }))).await;
    assert_eq!(status, 200, "{body}");
    cos.work().await;
    let refused = |letters: Vec<shared::store::DeadLetter>| {
        letters.into_iter().filter(|l| l.id == report.repush[0] && l.cause == DeadLetterCause::Rejected).count()
    };
    assert_eq!(refused(cos.env.stack.shops.dead_letters(&cos.shop, Some(Integration::CommerceOs)).await.unwrap()), 1);
    let again = shared::app::reconcile::run(&deps, &cos.shop, Integration::CommerceOs, from, to, later).await.unwrap();
    assert_eq!(again.repush, report.repush);
    assert_eq!(refused(cos.env.stack.shops.dead_letters(&cos.shop, Some(Integration::CommerceOs)).await.unwrap()), 1);
    let (status, body) = cos.call("POST", "/api/dead-letters/replay", Some(json!({ "ids": report.repush }))).await;
    assert_eq!(status, 200, "{body}");
    cos.triplicate().await;
    cos.work().await;
    assert_eq!(upserts(cos.requests().await), before + 2, "one refused, then one upsert");
    let letters = cos.env.stack.shops.dead_letters(&cos.shop, Some(Integration::CommerceOs)).await.unwrap();
    assert!(letters.is_empty(), "the delivery resolved the gap letter: {letters:?}");
}

#[tokio::test]
async fn a_refused_credential_asks_the_shop_to_reconnect_and_a_good_check_clears_it() {
    let cos = stack("cos-401").await;
    mount_setup(&cos.server, &FULL_SCOPES).await;
    Mock::given(method("PUT"))
        .and(path_regex(format!("^/{TENANT}/api/v1/trade-orders/")))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({ "message": "invalid api key" })))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&cos.server)
        .await;
    mount_orders(&cos.server).await;
    let mut body = connect_body();
    body["api_key"] = json!("cos-api-key-value");
    body.as_object_mut().unwrap().retain(|k, _| k != "client_id" && k != "client_secret");
    assert_eq!(cos.call("PUT", "/api/commerceos/connection", Some(body)).await.0, 200);
    let settings = json!({ "enabled": true, "partner": "commerceos", "rule": { "by": "all" } });
    assert_eq!(cos.call("PUT", "/api/fulfilment/settings", Some(settings)).await.0, 200);

    cos.order("8901", &["WIDGET-001"], false, "wh-8901").await;
    cos.work().await;
    let letters = cos.env.stack.shops.dead_letters(&cos.shop, Some(Integration::CommerceOs)).await.unwrap();
    assert_eq!(
        letters.iter().map(|l| (l.kind.as_str(), l.cause)).collect::<Vec<_>>(),
        [("erp_upsert", DeadLetterCause::Rejected)]
    );
    let open = |alerts: Vec<shared::domain::Alert>| {
        alerts.into_iter().filter(|a| a.id == "setup:commerceos-credential" && a.cleared_at.is_none()).count()
    };
    let alerts = cos.env.alerts(&cos.shop).await;
    let refused = alerts.iter().find(|a| a.id == "setup:commerceos-credential").unwrap();
    assert_eq!(refused.kind, AlertKind::Setup);
    assert!(refused.message.contains("reconnect CommerceOS") && !refused.message.contains("cos-api-key-value"));

    // A check with the credential that works again settles it; the replay then goes through.
    let (status, body) = cos.call("POST", "/api/commerceos/ping", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(open(cos.env.alerts(&cos.shop).await), 0);
    cos.call("POST", "/api/dead-letters/replay", Some(json!({ "destination": "commerceos" }))).await;
    cos.work().await;
    assert!(cos.env.stack.shops.dead_letters(&cos.shop, Some(Integration::CommerceOs)).await.unwrap().is_empty());
}

#[tokio::test]
async fn oauth_tokens_are_cached_until_shortly_before_expiry_and_replaced_once_on_a_401() {
    let server = MockServer::start().await;
    let issued = Arc::new(AtomicUsize::new(0));
    let counter = issued.clone();
    Mock::given(method("POST"))
        .and(path("/t/oauth2/v1/token"))
        .respond_with(move |_: &Request| {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            ResponseTemplate::new(200).set_body_json(json!({ "access_token": format!("tok-{n}"), "expires_in": 300 }))
        })
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/t/api/v1/scopes"))
        .and(wiremock::matchers::header("authorization", "Bearer tok-1"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({ "message": "expired" })))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/t/api/v1/scopes"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!(["write:api"])))
        .mount(&server)
        .await;
    let client = CommerceOsClient::new();
    let tenant = Tenant {
        root: format!("{}/t", server.uri()),
        credential: Credential::Client { client_id: "c".into(), client_secret: shared::config::Secret::new("s") },
    };
    let t0 = chrono::Utc::now();
    for _ in 0..3 {
        assert_eq!(client.scopes(&tenant, t0).await.unwrap(), ["write:api"]);
    }
    assert_eq!(issued.load(Ordering::SeqCst), 1, "one token for three calls");
    // 239 s later the token (300 s) is still good; at 241 s it is within the 60 s margin: refreshed.
    client.scopes(&tenant, t0 + chrono::Duration::seconds(239)).await.unwrap();
    assert_eq!(issued.load(Ordering::SeqCst), 1);
    // tok-1 (refreshed before expiry) is refused once: dropped, and the call made again with tok-2.
    let retried = client.scopes(&tenant, t0 + chrono::Duration::seconds(241)).await;
    assert_eq!(retried.unwrap(), ["write:api"], "a refused token is retried once with a fresh one");
    assert_eq!(issued.load(Ordering::SeqCst), 3, "refreshed before expiry, then after the 401");
    client.scopes(&tenant, t0 + chrono::Duration::seconds(242)).await.unwrap();
    assert_eq!(issued.load(Ordering::SeqCst), 3, "tok-2 is cached");
    // An API key goes as X-Api-Key, with no token request.
    let keyed =
        Tenant { root: tenant.root.clone(), credential: Credential::ApiKey(shared::config::Secret::new("k-1")) };
    client.scopes(&keyed, t0).await.unwrap();
    let last = server.received_requests().await.unwrap().pop().unwrap();
    assert_eq!(last.headers.get("x-api-key").unwrap(), "k-1");
    assert_eq!(issued.load(Ordering::SeqCst), 3);
}

impl Cos {
    /// The sync-webhooks we configured at connect, by name: (out URL, body).
    async fn hooks(&self) -> Vec<Value> {
        self.requests()
            .await
            .into_iter()
            .filter(|r| r.method.as_str() == "PUT" && r.url.path().contains("/sync-webhooks/"))
            .map(|r| serde_json::from_slice(&r.body).unwrap())
            .collect()
    }

    async fn webhook_secret(&self) -> String {
        let hooks = self.hooks().await;
        let header =
            hooks.last().map(|_| hooks[hooks.len() - 3]["out"]["auth"]["authorizationHeader"].clone()).unwrap();
        header.as_str().unwrap().strip_prefix("Bearer ").unwrap().to_owned()
    }

    async fn post(&self, target: &str, authorization: Option<&str>, body: &Value) -> (u16, Value) {
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(a) = authorization {
            headers.push(("Authorization", a));
        }
        let response = self.env.request("POST", target, &headers, body.to_string().as_bytes()).await;
        (response.status().as_u16(), json_body(&response))
    }

    /// The Shopify pushes waiting on the outbound-shopify queue (taken off it).
    async fn shopify_pushes(&self) -> Vec<Message> {
        self.env.take_all(Stage::Outbound(Integration::Shopify)).await
    }
}

#[tokio::test]
async fn receivers_refuse_calls_without_the_shops_credential_and_store_nothing() {
    let cos = connected("cos-auth").await;
    let other = connected("cos-auth-other").await;
    let secret = cos.webhook_secret().await;
    let foreign = other.webhook_secret().await;
    let body = json!({ "orderId": "x", "status": ["New"] });
    let shop = cos.shop.to_string();
    for (target, auth) in [
        (format!("/webhooks/commerceos/{shop}/order-status"), None),
        (format!("/webhooks/commerceos/{shop}/order-status"), Some("Bearer wrong".to_owned())),
        (format!("/webhooks/commerceos/{shop}/shipment-completed"), Some(format!("Bearer {foreign}"))),
        (format!("/webhooks/commerceos/{}/order-status", other.shop), Some(format!("Bearer {secret}"))),
        // The new-order hook takes only our access tokens, never the bearer secret.
        (format!("/webhooks/commerceos/{shop}/orders/new"), Some(format!("Bearer {secret}"))),
        ("/webhooks/commerceos/not-a-shop/order-status".to_owned(), Some(format!("Bearer {secret}"))),
    ] {
        let (status, answer) = cos.post(&target, auth.as_deref(), &body).await;
        assert_eq!((status, answer["code"].as_str()), (401, Some("TOKEN_INVALID")), "{target}");
    }
    assert_eq!(cos.env.drain_ingest().await, 0, "nothing was queued");
    let (status, _) =
        cos.post(&format!("/webhooks/commerceos/{shop}/order-status"), Some(&format!("Bearer {secret}")), &body).await;
    assert_eq!(status, 200);
    assert_eq!(cos.env.drain_ingest().await, 1);
}

#[tokio::test]
async fn status_and_shipment_callbacks_map_onto_the_order_and_push_shopify_once_per_shipment() {
    let cos = connected("cos-back").await;
    let key = cos.order("8701", &["WIDGET-001"], true, "wh-8701").await;
    cos.work().await;
    cos.shopify_pushes().await;
    let identifier = partner_order_id(&cos.shop, &key);
    let auth = format!("Bearer {}", cos.webhook_secret().await);
    let shop = cos.shop.to_string();
    let status_url = format!("/webhooks/commerceos/{shop}/order-status");
    let page = json!([{ "orderId": identifier, "status": ["Committed"], "timestamp": "2030-01-01T00:00:00Z" },
        { "orderId": "os-00000000-shopify-1", "status": ["New"] }]);
    for _ in 0..2 {
        let (status, answer) = cos.post(&status_url, Some(&auth), &page).await;
        assert_eq!((status, answer["status"].as_str()), (200, Some("accepted")));
    }
    assert_eq!(cos.env.drain_ingest().await, 1, "the redelivery was recognised");
    let order = cos.env.stack.shops.get_order(&cos.shop, &key).await.unwrap().unwrap();
    let erp = order.ops.erp.clone().unwrap();
    assert_eq!((erp.status.as_deref(), erp.raw_status.clone()), (Some("confirmed"), vec!["Committed".to_owned()]));

    let shipment_url = format!("/webhooks/commerceos/{shop}/shipment-completed");
    let shipped = json!({ "shipmentId": "so-1", "orderId": identifier, "status": "Transiting",
        "trackingNumber": "1Z999AA10000009999", "carrier": "UPS", "trackingUrl": "https://ups.example/1Z" });
    cos.post(&shipment_url, Some(&auth), &shipped).await;
    cos.post(&shipment_url, Some(&auth), &shipped).await;
    cos.env.drain_ingest().await;
    let mut delivered = shipped.clone();
    delivered["status"] = json!("Acquired");
    cos.post(&shipment_url, Some(&auth), &delivered).await;
    let partial = json!({ "shipmentId": "so-2", "orderId": identifier, "status": ["PartiallyReleased"] });
    cos.post(&shipment_url, Some(&auth), &partial).await;
    cos.env.drain_ingest().await;

    let order = cos.env.stack.shops.get_order(&cos.shop, &key).await.unwrap().unwrap();
    let erp = order.ops.erp.clone().unwrap();
    let statuses: Vec<(&str, &str)> = erp.shipments.iter().map(|s| (s.id.as_str(), s.status.as_str())).collect();
    assert_eq!(statuses, [("so-1", "delivered"), ("so-2", "partially_released")]);
    assert!(order.ops.recorded_shipments.iter().any(|r| r.id == "commerceos-so-1"), "tracking recorded");
    let pushes = cos.shopify_pushes().await;
    let fulfilments: Vec<&Message> = pushes
        .iter()
        .filter(|m| matches!(m, Message::Outbound(o) if matches!(o.change, shared::queue::OutboundChange::FulfillmentCreate { .. })))
        .collect();
    assert_eq!(fulfilments.len(), 1, "one fulfillmentCreate for the shipment with tracking: {pushes:?}");
    let Message::Outbound(push) = fulfilments[0] else { unreachable!() };
    assert_eq!(push.id, "commerceos-so-1");
    // CommerceOS ships this order itself: no createShipment goes back to it.
    cos.work().await;
    assert_eq!(Cos::action_count(&cos.order_calls().await, "createShipment"), 0);
    let (status, detail) = cos.call("GET", &format!("/sync/orders/8701?shop_domain={shop}"), None).await;
    assert_eq!(status, 200);
    let events: Vec<&str> =
        detail["timeline"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert!(events.iter().any(|e| e.starts_with("erp_status")), "{events:?}");
    assert!(events.iter().any(|e| e.starts_with("erp_shipment:so-1:delivered")), "{events:?}");
    assert_eq!(detail["erp"]["status"], "confirmed");
    assert_eq!(detail["erp"]["shipments"][0]["status"], "delivered");
    assert_eq!(detail["erp"]["shipments"][0]["trackingNumber"], "1Z999AA10000009999");
}

#[tokio::test]
async fn new_orders_sign_in_at_our_token_endpoint_and_are_linked_or_become_commerceos_orders() {
    let cos = connected("cos-new").await;
    let key = cos.order("8801", &["WIDGET-001"], false, "wh-8801").await;
    let hooks = cos.hooks().await;
    let client = &hooks[2]["out"]["auth"]["clientCredentials"];
    let (client_id, client_secret) = (client["client_id"].as_str().unwrap(), client["client_secret"].as_str().unwrap());
    let form = |secret: &str, grant: &str| {
        format!("grant_type={grant}&client_id={client_id}&client_secret={secret}&scope=orders.write")
    };
    let token_call = |body: String| {
        let env = &cos.env;
        async move {
            let response = env
                .request(
                    "POST",
                    "/oauth/token",
                    &[("Content-Type", "application/x-www-form-urlencoded")],
                    body.as_bytes(),
                )
                .await;
            (response.status().as_u16(), json_body(&response))
        }
    };
    let (status, refused) = token_call(form("wrong", "client_credentials")).await;
    assert_eq!((status, refused["code"].as_str()), (401, Some("invalid_client")));
    let (status, refused) = token_call(form(client_secret, "password")).await;
    assert_eq!((status, refused["code"].as_str()), (400, Some("unsupported_grant_type")));
    let (status, granted) = token_call(form(&urlencode(client_secret), "client_credentials")).await;
    assert_eq!(status, 200, "{granted}");
    assert_eq!((granted["token_type"].as_str(), granted["expires_in"].as_i64()), (Some("Bearer"), Some(900)));
    let access = format!("Bearer {}", granted["access_token"].as_str().unwrap());

    let identifier = partner_order_id(&cos.shop, &key);
    let page = json!([
        { "identifiers": { "key": "TO-5001", KEY: identifier }, "status": ["New"], "items": [] },
        { "identifiers": { "key": "TO-77", "com.acme.order-id": "B2B-PO-1" }, "status": ["New"],
          "customer": { "identifiers": { "key": "C-9" }, "name": "Acme AB" },
          "currency": { "identifiers": { "currencyCode": "SEK" } },
          "items": [{ "product": { "identifiers": { "com.acme.sku": "WIDGET-001" } }, "quantity": 3 }],
          "deliveryAddresses": [{ "line1": "Delivery Street 123", "cityName": "Stockholm", "countryCode": "SE" }] }
    ]);
    let target = format!("/webhooks/commerceos/{}/orders/new", cos.shop);
    for _ in 0..2 {
        let (status, _) = cos.post(&target, Some(&access), &page).await;
        assert_eq!(status, 200);
    }
    cos.env.drain_ingest().await;
    let born = OrderKey::parse("commerceos:TO-77").unwrap();
    let order = cos.env.stack.shops.get_order(&cos.shop, &born).await.unwrap().expect("a commerceos order");
    assert_eq!(order.name.as_str(), "B2B-PO-1");
    assert_eq!((order.line_items[0].sku.as_deref(), order.line_items[0].quantity), (Some("WIDGET-001"), 3));
    assert!(order.ops.erp.is_none(), "never mirrored back to CommerceOS");
    assert!(
        cos.env
            .stack
            .shops
            .get_order(&cos.shop, &OrderKey::parse("commerceos:TO-5001").unwrap())
            .await
            .unwrap()
            .is_none(),
        "our own order is linked, not duplicated"
    );
    let ours = cos.env.stack.shops.get_order(&cos.shop, &key).await.unwrap().unwrap();
    assert!(ours.ops.erp.unwrap().upserted);
    let (status, list) = cos.call("GET", &format!("/sync/orders?shop_domain={}", cos.shop), None).await;
    assert_eq!(status, 200);
    assert_eq!(list["orders"].as_array().unwrap().len(), 2, "{list}");
    // A token from before a reconnect (a new client secret) no longer opens the hook.
    cos.call("PUT", "/api/commerceos/connection", Some(connect_body())).await;
    let (status, _) = cos.post(&target, Some(&access), &json!([])).await;
    assert_eq!(status, 401);
}

fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[tokio::test]
async fn an_approved_return_refund_reaches_commerceos_as_one_negative_payment() {
    let cos = connected("cos-refund").await;
    let key = cos.order("8901", &["WIDGET-001"], true, "wh-8901").await;
    cos.transaction("8901", "sale", 7901, "tx-8901").await;
    cos.work().await;
    let now = chrono::Utc::now();
    shared::app::orders::change(&cos.env.stack.shops, &cos.shop, &key, now, |o| {
        o.ops.return_case = Some(shared::domain::ReturnCase {
            state: shared::domain::ReturnState::Inspection,
            updated_at: now,
            note: None,
        });
        Ok::<_, std::convert::Infallible>(shared::app::orders::Decision::Write(vec![]))
    })
    .await
    .unwrap();
    let body = json!({ "shop_domain": cos.shop.as_str(), "orderId": "8901", "action": "approve_refund" });
    let (status, answer) = cos.call("POST", "/sync/orders/returns", Some(body)).await;
    assert_eq!(status, 200, "{answer}");
    cos.triplicate().await;
    cos.work().await;
    let calls = cos.order_calls().await;
    let payments: Vec<&Value> = calls.iter().filter_map(|(_, b)| b.get("createPayment")).collect();
    assert_eq!(payments.len(), 2, "the capture and the refund, once each: {calls:?}");
    let refund = payments.iter().find(|p| p["transactionId"] == "shopify-8901-return-refund").unwrap();
    assert!(refund["amount"].as_f64().unwrap() < 0.0, "{refund}");
}

#[tokio::test]
async fn a_shopify_refund_reaches_commerceos_as_negative_payments_keyed_by_transaction_id() {
    let cos = connected("cos-shopify-refund").await;
    cos.order("8951", &["WIDGET-001"], true, "wh-8951").await;
    cos.work().await;
    // The published refunds/create example when present, else the same shape inline.
    let mut refund: Value = match fixture("shopify/webhooks/refunds_create.json") {
        Some(path) => serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap(),
        None => json!({ "id": 509562969, "order_id": 1, "created_at": "2030-01-01T00:00:00Z", "transactions": [
            { "id": 245135271310201194u64, "kind": "refund", "status": "success", "amount": "75.00", "currency": null }] }),
    };
    refund["order_id"] = json!(8951);
    let transaction = refund["transactions"][0]["id"].to_string();
    for round in 0..2 {
        let response = cos
            .env
            .deliver(&cos.shop, "refunds/create", &format!("refund-8951-{round}"), refund.to_string().as_bytes())
            .await;
        assert_eq!(response.status(), 200);
        cos.env.drain_ingest().await;
    }
    cos.work().await;
    let calls = cos.order_calls().await;
    let refunds: Vec<&Value> = calls
        .iter()
        .filter_map(|(_, b)| b.get("createPayment"))
        .filter(|p| p["transactionId"].as_str().unwrap().starts_with("shopify-refund-"))
        .collect();
    let first = refunds.iter().find(|p| p["transactionId"] == format!("shopify-refund-{transaction}")).unwrap();
    assert!(first["amount"].as_f64().unwrap() < 0.0, "{first}");
    let mut ids: Vec<&str> = refunds.iter().map(|p| p["transactionId"].as_str().unwrap()).collect();
    let sent = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), sent, "each refund transaction once, under redelivery: {ids:?}");
}

#[tokio::test]
async fn each_captured_shopify_transaction_is_one_payment_keyed_by_its_id_even_when_it_arrives_first() {
    let cos = connected("cos-captures").await;
    // The capture arrives before its order: it waits for the order, then lands on it.
    cos.transaction("8961", "capture", 7961, "tx-8961").await;
    let key = cos.order("8961", &["WIDGET-001"], true, "wh-8961").await;
    cos.env.drain_ingest().await;
    // Redelivered (a new delivery id: the same transaction), an authorization and a void: no payment.
    cos.transaction("8961", "capture", 7961, "tx-8961-again").await;
    cos.transaction("8961", "authorization", 7960, "tx-8961-auth").await;
    cos.transaction("8961", "void", 7962, "tx-8961-void").await;
    cos.triplicate().await;
    cos.work().await;
    let calls = cos.order_calls().await;
    let payments: Vec<&Value> = calls.iter().filter_map(|(_, b)| b.get("createPayment")).collect();
    assert_eq!(payments.len(), 1, "one createPayment upstream: {calls:?}");
    assert_eq!(payments[0]["transactionId"], "shopify-7961");
    assert_eq!(payments[0]["amount"].as_f64(), Some(414.95));
    assert!(!payments.iter().any(|p| p["transactionId"].as_str().unwrap().ends_with("-capture")), "no fallback");
    let order = cos.env.stack.shops.get_order(&cos.shop, &key).await.unwrap().unwrap();
    let ids: Vec<&str> = order.transactions.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["7961"], "only the capture is carried");
    let deliveries = cos.env.stack.shops.deliveries(&cos.shop, &key).await.unwrap();
    assert_eq!(deliveries.iter().filter(|d| d.kind == "erp_payment").count(), 1, "{deliveries:?}");

    // A second capture (a partial one taken later) is a payment of its own.
    cos.transaction("8961", "capture", 7963, "tx-8961-second").await;
    cos.work().await;
    let calls = cos.order_calls().await;
    let ids: Vec<&str> = calls
        .iter()
        .filter_map(|(_, b)| b.get("createPayment"))
        .map(|p| p["transactionId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["shopify-7961", "shopify-7963"]);
}

/// A shop with both partners connected on one wiremock (MasonHub under `/mh/{slug}/api/v1`) and
/// MasonHub routing on: what the "CommerceOS fulfils" setting must get past.
async fn with_masonhub(label: &str) -> Cos {
    let server = MockServer::start().await;
    let env = TestEnv::with_upstreams(&[
        (Integration::Shopify, "http://127.0.0.1:9/no-shopify/{shop}"),
        (Integration::CommerceOs, &format!("{}/{{tenant}}", server.uri())),
        (Integration::MasonHub, &format!("{}/mh/{{slug}}/api/v1", server.uri())),
    ])
    .await;
    let shop = unique_shop(label);
    env.install(&shop, "shpat_cos", &["read_orders"]).await;
    Mock::given(method("POST"))
        .and(path("/mh/acme-mh/api/v1/callbacks"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            { "status": "Success" }, { "status": "Success" }, { "status": "Success" }, { "status": "Success" }
        ])))
        .mount(&server)
        .await;
    let cos = Cos { env, server, shop };
    let connect = json!({ "environment": "sandbox", "account_slug": "acme-mh", "api_token": "mh-secret-token" });
    let (status, body) = cos.call("PUT", "/api/masonhub/connection", Some(connect)).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = cos.call("PUT", "/api/fulfilment/settings", Some(masonhub_routing(true))).await;
    assert_eq!(status, 200, "{body}");
    cos
}

fn masonhub_routing(enabled: bool) -> Value {
    json!({ "enabled": enabled, "partner": "masonhub", "rule": { "by": "all" },
        "default_provider": "masonhub", "default_service_level": "ground" })
}

fn commerceos_fulfils(enabled: bool, fulfils: bool) -> Value {
    json!({ "enabled": enabled, "partner": "commerceos", "rule": { "by": "all" }, "fulfils": fulfils })
}

#[tokio::test]
async fn commerceos_fulfils_only_when_connected_enabled_and_without_masonhub_routing() {
    let cos = with_masonhub("cos-fulfils-settings").await;
    let refused = |status: u16, answer: &Value, code: &str| {
        assert_eq!((status, answer["code"].as_str()), (status, Some(code)), "{answer}");
        assert!(answer["error"].is_string(), "{answer}");
    };
    // No CommerceOS connection yet.
    let (status, answer) = cos.call("PUT", "/api/fulfilment/settings", Some(commerceos_fulfils(true, true))).await;
    assert_eq!(status, 409);
    refused(status, &answer, "COMMERCEOS_NOT_CONNECTED");

    mount_setup(&cos.server, &FULL_SCOPES).await;
    let (status, body) = cos.call("PUT", "/api/commerceos/connection", Some(connect_body())).await;
    assert_eq!(status, 200, "{body}");
    // MasonHub routing is on: one fulfilment partner at a time.
    let (status, answer) = cos.call("PUT", "/api/fulfilment/settings", Some(commerceos_fulfils(true, true))).await;
    assert_eq!(status, 409);
    refused(status, &answer, "FULFILMENT_PARTNER_CONFLICT");
    // Fulfilling needs the orders mirrored.
    let (status, answer) = cos.call("PUT", "/api/fulfilment/settings", Some(commerceos_fulfils(false, true))).await;
    assert_eq!(status, 400);
    refused(status, &answer, "INVALID_FULFILS");
    // Mirroring alone is independent of the 3PL, as before.
    let (status, _) = cos.call("PUT", "/api/fulfilment/settings", Some(commerceos_fulfils(true, false))).await;
    assert_eq!(status, 200);

    // MasonHub routing off: CommerceOS may fulfil, and MasonHub routing cannot come back meanwhile.
    let (status, _) = cos.call("PUT", "/api/fulfilment/settings", Some(masonhub_routing(false))).await;
    assert_eq!(status, 200);
    let (status, answer) = cos.call("PUT", "/api/fulfilment/settings", Some(commerceos_fulfils(true, true))).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["erp"]["fulfils"], true);
    let (status, answer) = cos.call("PUT", "/api/fulfilment/settings", Some(masonhub_routing(true))).await;
    assert_eq!(status, 409);
    refused(status, &answer, "FULFILMENT_PARTNER_CONFLICT");
    let (status, got) = cos.call("GET", "/api/fulfilment/settings", None).await;
    assert_eq!(status, 200);
    assert_eq!((got["erp"]["fulfils"].as_bool(), got["settings"]["enabled"].as_bool()), (Some(true), Some(false)));
}

#[tokio::test]
async fn when_commerceos_fulfils_an_approved_order_gets_one_create_shipment_and_its_tracking_reaches_shopify_once() {
    let cos = with_masonhub("cos-fulfils").await;
    mount_setup(&cos.server, &FULL_SCOPES).await;
    mount_orders(&cos.server).await;
    let (status, body) = cos.call("PUT", "/api/commerceos/connection", Some(connect_body())).await;
    assert_eq!(status, 200, "{body}");
    cos.call("PUT", "/api/fulfilment/settings", Some(masonhub_routing(false))).await;
    let (status, body) = cos.call("PUT", "/api/fulfilment/settings", Some(commerceos_fulfils(true, true))).await;
    assert_eq!(status, 200, "{body}");

    let key = cos.order("8971", &["WIDGET-001"], true, "wh-8971").await;
    cos.triplicate().await;
    cos.work().await;
    // The same effect redelivered after it went through, the order redelivered, Committed reported.
    let identifier = partner_order_id(&cos.shop, &key);
    let fulfil = shared::queue::Outbound::new(
        Integration::CommerceOs,
        cos.shop.clone(),
        key.to_string(),
        format!("erp:fulfil:{identifier}"),
        shared::queue::OutboundChange::Erp(shared::domain::ErpAction::Fulfil),
    );
    for _ in 0..3 {
        cos.env.enqueue(COS, &Message::Outbound(fulfil.clone()), 0).await;
    }
    cos.order("8971", &["WIDGET-001"], true, "wh-8971-again").await;
    let auth = format!("Bearer {}", cos.webhook_secret().await);
    let shop = cos.shop.to_string();
    let committed = json!([{ "orderId": identifier, "status": ["Committed"], "timestamp": "2030-01-01T00:00:00Z" }]);
    cos.post(&format!("/webhooks/commerceos/{shop}/order-status"), Some(&auth), &committed).await;
    cos.env.drain_ingest().await;
    cos.work().await;

    let calls = cos.order_calls().await;
    assert_eq!(Cos::action_count(&calls, "tryApprove"), 1, "{calls:?}");
    assert_eq!(Cos::action_count(&calls, "createShipment"), 1, "one createShipment under redelivery: {calls:?}");
    assert_eq!(Cos::action_count(&calls, "release"), 0, "CommerceOS releases it itself");
    let position = |action: &str| calls.iter().position(|(_, b)| b.get(action).is_some()).unwrap();
    assert!(position("tryApprove") < position("createShipment"), "shipped once approved");
    let masonhub: Vec<String> = cos
        .requests()
        .await
        .iter()
        .filter(|r| r.url.path().starts_with("/mh/") && !r.url.path().ends_with("/callbacks"))
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect();
    assert!(masonhub.is_empty(), "no MasonHub call: {masonhub:?}");
    let order = cos.env.stack.shops.get_order(&cos.shop, &key).await.unwrap().unwrap();
    assert!(order.ops.route.is_none(), "not routed to MasonHub");
    let erp = order.ops.erp.clone().unwrap();
    assert!(erp.fulfils && erp.released.contains(&"created:fulfil".to_owned()));

    // CommerceOS ships it: the tracking goes to Shopify once, however often the sync-webhook reports it.
    cos.shopify_pushes().await;
    let shipped = json!({ "shipmentId": "so-1", "orderId": identifier, "status": "Transiting",
        "trackingNumber": "1Z999AA10000008971", "carrier": "UPS" });
    for _ in 0..2 {
        cos.post(&format!("/webhooks/commerceos/{shop}/shipment-completed"), Some(&auth), &shipped).await;
        cos.env.drain_ingest().await;
    }
    let pushes = cos.shopify_pushes().await;
    let fulfilments: Vec<&Message> = pushes
        .iter()
        .filter(|m| matches!(m, Message::Outbound(o) if matches!(o.change, shared::queue::OutboundChange::FulfillmentCreate { .. })))
        .collect();
    assert_eq!(fulfilments.len(), 1, "{pushes:?}");
    cos.work().await;
    assert_eq!(Cos::action_count(&cos.order_calls().await, "createShipment"), 1, "still one");
}
