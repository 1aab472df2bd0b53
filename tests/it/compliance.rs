//! Shopify's mandatory compliance topics and app/uninstalled, end to end against moto.

use integration_tests::{TestEnv, demo_event, fixture, json_body};
use lambda_http::http::StatusCode;
use serde_json::json;
use shared::{
    config::Secret,
    domain::{ChannelOrderId, OrderKey},
    integrations::shopify::webhook,
    store::{OrderStore, ShopStatus, ShopStore, dynamo::DynamoStore},
    testing::unique_shop,
};

async fn store(env: &TestEnv) -> DynamoStore {
    DynamoStore::new(shared::aws::dynamodb(&shared::aws::sdk_config().await), env.stack.settings.table_name.clone())
}

fn key() -> OrderKey {
    OrderKey::shopify(ChannelOrderId::parse("5601234560001").unwrap())
}

#[tokio::test]
async fn compliance_topics_refuse_a_bad_hmac_with_401() {
    let env = TestEnv::new().await;
    let shop = unique_shop("gdpr-hmac");
    for topic in ["customers/data_request", "customers/redact", "shop/redact"] {
        let body = json!({ "shop_domain": shop.as_str() }).to_string();
        let signature = webhook::sign(body.as_bytes(), &Secret::new("wrong"));
        let response = env.deliver_signed(&shop, topic, topic, body.as_bytes(), &signature).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{topic}");
    }
    assert_eq!(env.drain_ingest().await, 0);
}

#[tokio::test]
async fn a_customer_gets_an_export_then_is_erased_and_the_order_facts_stay() {
    let env = TestEnv::new().await;
    let store = store(&env).await;
    let shop = unique_shop("gdpr");
    env.deliver(&shop, "orders/create", "c", &demo_event("orders-create-1001.json")).await;
    env.drain_ingest().await;

    let request = json!({ "shop_id": 1, "shop_domain": shop.as_str(), "customer": { "id": 1, "email": "alex.rivera@example.com" },
        "orders_requested": [5601234560001u64, 999], "data_request": { "id": 77 } });
    env.deliver(&shop, "customers/data_request", "dr", request.to_string().as_bytes()).await;
    env.drain_ingest().await;
    let export: serde_json::Value =
        serde_json::from_str(&store.data_export(&shop, "77").await.unwrap().expect("export")).unwrap();
    assert_eq!(export["orders"].as_array().unwrap().len(), 1);
    assert_eq!(export["orders"][0]["customer"]["name"], "Alex Rivera");
    assert!(export["orders"][0]["shipping_address"]["address1"].is_string());

    let redact = json!({ "shop_id": 1, "shop_domain": shop.as_str(), "customer": { "id": 1 }, "orders_to_redact": [5601234560001u64] });
    for id in ["r1", "r2"] {
        env.deliver(&shop, "customers/redact", id, redact.to_string().as_bytes()).await;
    }
    env.drain_ingest().await;
    let order = store.get_order(&shop, &key()).await.unwrap().unwrap();
    assert_eq!((order.customer, order.shipping_address), (None, None));
    assert_eq!(order.total.amount, "113.00", "the order's facts stay");
    assert_eq!(order.line_items.len(), 2);
    // The list copies are rewritten too, and the erasure is on the timeline once.
    let list = json_body(&env.get_as(&shop, &format!("/sync/orders?shop_domain={shop}")).await);
    assert_eq!(list["orders"][0]["customerName"], serde_json::Value::Null);
    let (_, events) = store.order_detail(&shop, &key(), 10).await.unwrap().unwrap();
    assert_eq!(events.iter().filter(|e| e.event == "customer_redacted").count(), 1);
}

#[tokio::test]
async fn uninstall_keeps_the_data_and_shop_redact_erases_it_all() {
    let env = TestEnv::new().await;
    let store = store(&env).await;
    let shop = unique_shop("redact");
    let bystander = unique_shop("bystander");
    for s in [&shop, &bystander] {
        env.deliver(s, "orders/create", "c", &demo_event("orders-create-1001.json")).await;
    }
    env.drain_ingest().await;

    let uninstalled = json!({ "id": 1, "domain": "shop.example.com", "myshopify_domain": shop.as_str() });
    env.deliver(&shop, "app/uninstalled", "u", uninstalled.to_string().as_bytes()).await;
    env.drain_ingest().await;
    assert_eq!(store.shop_status(&shop).await.unwrap(), Some(ShopStatus::Uninstalled));
    assert!(store.get_order(&shop, &key()).await.unwrap().is_some(), "uninstalling keeps the data");

    env.deliver(
        &shop,
        "shop/redact",
        "r",
        json!({ "shop_id": 1, "shop_domain": shop.as_str() }).to_string().as_bytes(),
    )
    .await;
    env.drain_ingest().await;
    assert_eq!(store.get_order(&shop, &key()).await.unwrap(), None);
    assert_eq!(store.order_detail(&shop, &key(), 10).await.unwrap(), None);
    assert_eq!(store.shop_status(&shop).await.unwrap(), None);
    let list = json_body(&env.get_as(&shop, &format!("/sync/orders?shop_domain={shop}")).await);
    assert!(list["orders"].as_array().unwrap().is_empty());
    assert!(store.get_order(&bystander, &key()).await.unwrap().is_some(), "other shops are untouched");
}

#[tokio::test]
async fn the_published_compliance_samples_are_accepted_and_processed() {
    let Some(dir) = fixture("shopify/webhooks") else { return };
    let env = TestEnv::new().await;
    let shop = unique_shop("gdpr-samples");
    // The samples are templates naming `{shop}.myshopify.com`: a real delivery names the shop it is for.
    let deliver = |topic: &'static str, file: &'static str| {
        let body = std::fs::read_to_string(dir.join(file)).unwrap().replace("{shop}.myshopify.com", shop.as_str());
        let (env, shop) = (&env, &shop);
        async move {
            let response = env.deliver(shop, topic, topic, body.as_bytes()).await;
            assert_eq!(response.status(), StatusCode::OK, "{topic}");
        }
    };
    deliver("customers/data_request", "customers_data_request.json").await;
    deliver("customers/redact", "customers_redact.json").await;
    deliver("app/uninstalled", "app_uninstalled.json").await;
    assert_eq!(env.drain_ingest().await, 3);
    let store = store(&env).await;
    let export = store.data_export(&shop, "9999").await.unwrap().expect("the sample's request id");
    assert!(export.contains("john@example.com"));
    assert_eq!(store.shop_status(&shop).await.unwrap(), Some(ShopStatus::Uninstalled));

    deliver("shop/redact", "shop_redact.json").await;
    assert_eq!(env.drain_ingest().await, 1);
    assert_eq!(env.stack.poll_once(shared::queue::Stage::Ingest, 0).await.unwrap(), (0, 0), "nothing left failing");
    assert_eq!(store.data_export(&shop, "9999").await.unwrap(), None, "shop/redact erases the exports too");
}

#[tokio::test]
async fn a_signed_compliance_body_naming_another_shop_is_refused_and_erases_nothing() {
    let env = TestEnv::new().await;
    let store = store(&env).await;
    let victim = unique_shop("victim");
    let attacker = unique_shop("attacker");
    env.deliver(&victim, "orders/create", "c", &demo_event("orders-create-1001.json")).await;
    env.drain_ingest().await;

    // A validly signed body of the attacker's shop, replayed under the victim's header, for every
    // shop-bound topic: 401, nothing recorded, nothing queued.
    let bodies = [
        ("shop/redact", json!({ "shop_id": 1, "shop_domain": attacker.as_str() })),
        ("customers/redact", json!({ "shop_domain": attacker.as_str(), "orders_to_redact": [5601234560001u64] })),
        ("customers/data_request", json!({ "shop_domain": attacker.as_str(), "data_request": { "id": 5 } })),
        ("app/uninstalled", json!({ "id": 1, "myshopify_domain": attacker.as_str() })),
        ("shop/redact", json!({ "shop_id": 1 })),
    ];
    for (n, (topic, body)) in bodies.iter().enumerate() {
        let response = env.deliver(&victim, topic, &format!("forged-{n}"), body.to_string().as_bytes()).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{topic}");
        assert_eq!(json_body(&response)["code"], "SHOP_MISMATCH");
    }
    assert_eq!(env.drain_ingest().await, 0, "nothing was queued");
    let order = store.get_order(&victim, &key()).await.unwrap().expect("the victim's order is still there");
    assert!(order.customer.is_some(), "and its customer data too");
    assert_eq!(store.shop_status(&victim).await.unwrap(), None, "never marked uninstalled");
}
