//! The assistant API (seed 001) against moto: responses compared field by field with the seed's
//! examples, filters and cursors, paging through 600 variants, API keys, the sample event, and
//! conformance with the OpenAPI document.

use integration_tests::{TestEnv, demo_event, json_body, root, token_for};
use lambda_http::{Body, Response};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use shared::{
    domain::ShopDomain,
    store::{ApiKeyStore, ProductStore},
    testing::unique_shop,
};

use crate::openapi::conforms;

/// Seed 001's examples, as published (placeholders `...` stand for ids).
fn seed_order() -> Value {
    json!({
      "id": "gid://shopify/Order/...", "name": "#1001", "status": "FULFILLED", "fulfillmentStatus": "FULFILLED",
      "createdAt": "2024-01-15T12:00:00Z", "customerName": "Jane Doe",
      "lineItems": [{ "id": "gid://shopify/LineItem/...", "title": "Product A", "quantity": 2, "sku": "SKU-001",
                      "variantId": "gid://shopify/ProductVariant/..." }],
      "fulfillments": [{ "id": "gid://shopify/Fulfillment/...", "status": "SUCCESS",
                         "trackingNumbers": ["1Z999AA10123456784"], "trackingUrls": ["https://..."], "carrierName": "UPS" }]
    })
}

fn seed_fulfillment() -> Value {
    json!({
      "id": "gid://shopify/Fulfillment/...", "orderId": "gid://shopify/Order/...", "status": "SUCCESS",
      "trackingNumbers": ["1Z999AA10123456784"], "trackingUrls": ["https://..."], "carrierName": "UPS",
      "createdAt": "2024-01-16T10:00:00Z"
    })
}

fn seed_product() -> Value {
    json!({
      "id": "gid://shopify/Product/...", "title": "Product A", "description": "Plain text description.",
      "variants": [{ "id": "gid://shopify/ProductVariant/...", "title": "Small / Red", "sku": "SKU-S-R",
                     "size": "Small", "color": "Red", "option1": "Small", "option2": "Red", "option3": null,
                     "inventoryQuantity": 10, "inventoryStatus": "in_stock" }]
    })
}

/// Asserts that `actual` has exactly the seed's fields, recursively, with the same JSON types, and
/// the seed's values wherever the seed gives a concrete one (not a `...` placeholder).
fn like_seed(seed: &Value, actual: &Value, at: &str) {
    match (seed, actual) {
        (Value::Object(s), Value::Object(a)) => {
            let (mut sk, mut ak): (Vec<_>, Vec<_>) = (s.keys().collect(), a.keys().collect());
            sk.sort();
            ak.sort();
            assert_eq!(sk, ak, "fields at {at}");
            for (k, v) in s {
                like_seed(v, &a[k], &format!("{at}.{k}"));
            }
        }
        (Value::Array(s), Value::Array(a)) => {
            assert_eq!(s.len(), a.len(), "length at {at}");
            for (i, (s, a)) in s.iter().zip(a).enumerate() {
                like_seed(s, a, &format!("{at}[{i}]"));
            }
        }
        (Value::String(s), Value::String(a)) if s.contains("...") => {
            let prefix = s.trim_end_matches("...");
            assert!(a.starts_with(prefix) && a.len() > prefix.len(), "{at}: {a} is not {s}");
        }
        (s, a) => assert_eq!(s, a, "value at {at}"),
    }
}

/// A cursor-like value: base64url (no padding) of `value`'s JSON.
fn base64_json(value: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

async fn installed_env(label: &str) -> (TestEnv, ShopDomain) {
    let env = TestEnv::new().await;
    let shop = unique_shop(label);
    env.install(&shop, "shpat_assistant", &["read_orders", "read_products"]).await;
    (env, shop)
}

async fn get(env: &TestEnv, shop: &ShopDomain, target: &str) -> (Response<Body>, Value) {
    let response = env.get_as(shop, target).await;
    let body = json_body(&response);
    (response, body)
}

fn seed_like_order() -> Vec<u8> {
    json!({
        "id": 820982911946154508u64, "admin_graphql_api_id": "gid://shopify/Order/820982911946154508",
        "name": "#1001", "email": "jane@example.com",
        "created_at": "2024-01-15T12:00:00Z", "updated_at": "2024-01-16T10:00:05Z", "cancelled_at": null,
        "currency": "USD", "total_price": "20.00", "financial_status": "paid", "fulfillment_status": "fulfilled",
        "line_items": [{ "id": 466157049, "title": "Product A", "sku": "SKU-001", "variant_id": 39072856,
                         "product_id": 632910392, "quantity": 2, "price": "10.00" }],
        "customer": { "id": 207119551, "first_name": "Jane", "last_name": "Doe", "email": "jane@example.com" },
        "fulfillments": [{ "id": 255858046, "status": "success", "shipment_status": "in_transit",
                           "tracking_company": "UPS", "tracking_number": "1Z999AA10123456784",
                           "tracking_numbers": ["1Z999AA10123456784"],
                           "tracking_url": "https://www.ups.com/track?tracknum=1Z999AA10123456784",
                           "tracking_urls": ["https://www.ups.com/track?tracknum=1Z999AA10123456784"],
                           "created_at": "2024-01-16T10:00:00Z", "updated_at": "2024-01-16T10:00:00Z" }]
    })
    .to_string()
    .into_bytes()
}

fn seed_like_product() -> Vec<u8> {
    json!({
        "id": 632910392, "title": "Product A", "body_html": "<p>Plain text description.</p>", "status": "active",
        "updated_at": "2024-01-15T12:00:00Z",
        "options": [{ "name": "Size", "position": 1 }, { "name": "Color", "position": 2 }],
        "variants": [{ "id": 808950810, "title": "Small / Red", "sku": "SKU-S-R", "price": "10.00",
                       "option1": "Small", "option2": "Red", "option3": null,
                       "inventory_item_id": 49148385, "inventory_quantity": 10 }]
    })
    .to_string()
    .into_bytes()
}

#[tokio::test]
async fn orders_fulfillments_and_products_answer_exactly_as_seed_001() {
    let (env, shop) = installed_env("assistant-seed").await;
    assert_eq!(env.deliver(&shop, "orders/create", "seed-order", &seed_like_order()).await.status(), 200);
    assert_eq!(env.deliver(&shop, "products/create", "seed-product", &seed_like_product()).await.status(), 200);
    env.drain_ingest().await;

    let (response, body) = get(&env, &shop, "/api/orders").await;
    assert_eq!(response.status(), 200, "{body}");
    like_seed(&seed_order(), &body["orders"][0], "orders[0]");
    assert_eq!(
        body["orders"][0],
        json!({
          "id": "gid://shopify/Order/820982911946154508", "name": "#1001", "status": "FULFILLED",
          "fulfillmentStatus": "FULFILLED", "createdAt": "2024-01-15T12:00:00Z", "customerName": "Jane Doe",
          "lineItems": [{ "id": "gid://shopify/LineItem/466157049", "title": "Product A", "quantity": 2,
                          "sku": "SKU-001", "variantId": "gid://shopify/ProductVariant/39072856" }],
          "fulfillments": [{ "id": "gid://shopify/Fulfillment/255858046", "status": "SUCCESS",
                             "trackingNumbers": ["1Z999AA10123456784"],
                             "trackingUrls": ["https://www.ups.com/track?tracknum=1Z999AA10123456784"],
                             "carrierName": "UPS" }]
        })
    );
    assert_eq!((&body["hasNextPage"], &body["cursor"]), (&json!(false), &Value::Null));

    let (_, body) = get(&env, &shop, "/api/fulfillments").await;
    like_seed(&seed_fulfillment(), &body["fulfillments"][0], "fulfillments[0]");
    assert_eq!(body["fulfillments"][0]["orderId"], "gid://shopify/Order/820982911946154508");
    assert_eq!((&body["hasNextPage"], &body["cursor"]), (&json!(false), &Value::Null));

    let (_, body) = get(&env, &shop, "/api/products").await;
    like_seed(&seed_product(), &body["products"][0], "products[0]");
    assert_eq!(body["products"][0]["id"], "gid://shopify/Product/632910392");
    assert_eq!(body["products"][0]["variants"][0]["id"], "gid://shopify/ProductVariant/808950810");
    assert_eq!((&body["hasNextPage"], &body["cursor"]), (&json!(false), &Value::Null));
}

#[tokio::test]
async fn orders_page_with_cursors_and_filter_by_name_email_status_and_dates() {
    let (env, shop) = installed_env("assistant-orders").await;
    for n in 1001..=1004 {
        env.deliver(&shop, "orders/create", &format!("o{n}"), &demo_event(&format!("orders-create-{n}.json"))).await;
    }
    env.drain_ingest().await;
    let names = |body: &Value, list: &str| -> Vec<String> {
        body[list].as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap().to_owned()).collect()
    };

    // Newest first, two at a time; the last page says so with a null cursor.
    let (_, first) = get(&env, &shop, "/api/orders?limit=2").await;
    assert_eq!(names(&first, "orders"), ["#1004", "#1003"]);
    assert_eq!(first["hasNextPage"], true);
    let cursor = first["cursor"].as_str().unwrap();
    let (_, second) = get(&env, &shop, &format!("/api/orders?limit=2&cursor={cursor}")).await;
    assert_eq!(names(&second, "orders"), ["#1002", "#1001"]);
    assert_eq!((&second["hasNextPage"], &second["cursor"]), (&json!(false), &Value::Null));

    for target in ["/api/orders?name=1002", "/api/orders?name=%231002", "/api/orders?email=jordan.lee@example.com"] {
        let (_, body) = get(&env, &shop, target).await;
        assert_eq!(names(&body, "orders"), ["#1002"], "{target}");
    }
    let (_, body) = get(&env, &shop, "/api/orders?status=cancelled").await;
    assert_eq!(names(&body, "orders"), ["#1004"]);
    assert_eq!(body["orders"][0]["status"], "CANCELLED");
    let (_, body) = get(&env, &shop, "/api/orders?status=PARTIALLY_FULFILLED").await;
    assert_eq!(names(&body, "orders"), ["#1003"]);
    let (_, body) =
        get(&env, &shop, "/api/orders?created_from=2026-11-20T15:00:00Z&created_to=2026-11-20T17:00:00Z").await;
    assert_eq!(names(&body, "orders"), ["#1003", "#1002"], "created 16:30Z and 15:05Z");
    let (_, body) = get(&env, &shop, "/api/orders?created_from=2026-11-21").await;
    assert!(body["orders"].as_array().unwrap().is_empty());

    // Fulfilments of the page's orders; one without tracking has empty arrays.
    let (_, body) = get(&env, &shop, "/api/fulfillments").await;
    let fulfillments = body["fulfillments"].as_array().unwrap();
    assert!(!fulfillments.is_empty());
    assert!(fulfillments.iter().all(|f| f["trackingNumbers"].is_array() && f["trackingUrls"].is_array()));

    let long_cursor = base64_json(&json!({ "after": "x".repeat(300) }));
    for (target, code) in [
        ("/api/orders?cursor=not-ours", "INVALID_CURSOR"),
        (&format!("/api/orders?cursor={long_cursor}"), "INVALID_CURSOR"),
        ("/api/orders?status=SHIPPED", "INVALID_STATUS"),
        ("/api/orders?limit=0", "INVALID_LIMIT"),
        ("/api/orders?created_from=yesterday", "INVALID_DATE"),
        (&format!("/api/orders?name={}", "9".repeat(101)), "INVALID_NAME"),
    ] {
        let (response, body) = get(&env, &shop, target).await;
        assert_eq!(response.status(), 400, "{target}");
        assert_eq!(body["code"], code);
        assert!(body["error"].is_string());
    }
}

#[tokio::test]
async fn a_product_of_600_variants_pages_through_all_of_them() {
    let (env, shop) = installed_env("assistant-variants").await;
    let product = shared::testing::product(&shop, "9001", 600, 1);
    assert!(env.stack.shops.put_product(&product).await.unwrap());
    for id in ["9002", "9003"] {
        env.stack.shops.put_product(&shared::testing::product(&shop, id, 2, 1)).await.unwrap();
    }

    let (_, body) = get(&env, &shop, "/api/products?limit=2").await;
    let products = body["products"].as_array().unwrap();
    assert_eq!(products.len(), 2);
    assert_eq!(products[0]["variants"].as_array().unwrap().len(), 250, "up to 250 variants per product");
    let (_, rest) =
        get(&env, &shop, &format!("/api/products?limit=2&cursor={}", body["cursor"].as_str().unwrap())).await;
    assert_eq!(rest["products"].as_array().unwrap().len(), 1);
    assert_eq!((&rest["hasNextPage"], &rest["cursor"]), (&json!(false), &Value::Null));

    let base = "/api/product/gid%3A%2F%2Fshopify%2FProduct%2F9001/variants";
    let mut seen: Vec<String> = Vec::new();
    let mut sizes = Vec::new();
    let mut target = base.to_owned();
    loop {
        let (response, page) = get(&env, &shop, &target).await;
        assert_eq!(response.status(), 200, "{page}");
        assert_eq!(page["productId"], "gid://shopify/Product/9001");
        assert_eq!(page["productTitle"], "Product 9001");
        let variants = page["variants"].as_array().unwrap();
        sizes.push(variants.len());
        seen.extend(variants.iter().map(|v| v["id"].as_str().unwrap().to_owned()));
        if page["hasNextPage"] == false {
            assert_eq!(page["cursor"], Value::Null);
            break;
        }
        target = format!("{base}?cursor={}", page["cursor"].as_str().unwrap());
    }
    assert_eq!(sizes, [250, 250, 100], "one stored page per request");
    let expected: Vec<String> = (0..600).map(|i| format!("gid://shopify/ProductVariant/v{i}")).collect();
    assert_eq!(seen, expected);

    let (response, body) = get(&env, &shop, "/api/product/gid%3A%2F%2Fshopify%2FProduct%2F404/variants").await;
    assert_eq!((response.status().as_u16(), body["code"].as_str()), (404, Some("PRODUCT_NOT_FOUND")));
    let (response, _) = get(&env, &shop, "/api/product/gid%3A%2F%2Fshopify%2FOrder%2F1/variants").await;
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn api_keys_are_shown_once_stored_hashed_usable_and_revocable() {
    let (env, shop) = installed_env("assistant-keys").await;
    let auth = format!("Bearer {}", token_for(&shop));
    let created = env.request("POST", "/api/assistant/keys", &[("Authorization", &auth)], br#"{"label":"bot"}"#).await;
    assert_eq!(created.status(), 201);
    let created = json_body(&created);
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("osk_") && secret.len() > 60);
    assert_eq!(created["label"], "bot");

    let stored = env.stack.shops.api_keys(&shop).await.unwrap();
    assert_eq!(stored.len(), 1);
    let digest: String = Sha256::digest(secret.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(stored[0].digest, digest, "stored as its SHA-256 only");
    assert!(!format!("{stored:?}").contains(&secret));

    let listed = env.request("GET", "/api/assistant/keys", &[("Authorization", &auth)], b"").await;
    let listed = json_body(&listed);
    assert_eq!(listed["keys"][0]["id"], created["id"]);
    assert!(!listed.to_string().contains(&secret), "never answered again");

    for headers in [[("X-Api-Key", secret.clone())], [("Authorization", format!("Bearer {secret}"))]] {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let response = env.request("GET", "/api/orders", &headers, b"").await;
        assert_eq!(response.status(), 200, "{}", json_body(&response));
    }
    let by_key = env.request("POST", "/api/assistant/keys", &[("X-Api-Key", &secret)], b"{}").await;
    assert_eq!((by_key.status().as_u16(), json_body(&by_key)["code"].clone()), (403, json!("SESSION_REQUIRED")));

    let id = created["id"].as_str().unwrap();
    let revoked = env.request("DELETE", &format!("/api/assistant/keys/{id}"), &[("Authorization", &auth)], b"").await;
    assert_eq!(revoked.status(), 200);
    let after = env.request("GET", "/api/orders", &[("X-Api-Key", &secret)], b"").await;
    assert_eq!((after.status().as_u16(), json_body(&after)["code"].clone()), (401, json!("API_KEY_INVALID")));
    let again = env.request("DELETE", &format!("/api/assistant/keys/{id}"), &[("Authorization", &auth)], b"").await;
    assert_eq!(again.status(), 404);

    // Another shop's session cannot read this shop through a key it does not hold, nor unauthenticated.
    let anonymous = env.request("GET", "/api/orders", &[], b"").await;
    assert_eq!((anonymous.status().as_u16(), json_body(&anonymous)["code"].clone()), (401, json!("TOKEN_MISSING")));
}

#[tokio::test]
async fn the_assistant_routes_answer_as_the_openapi_document_says() {
    let (env, shop) = installed_env("assistant-openapi").await;
    env.deliver(&shop, "orders/create", "o1", &demo_event("orders-create-1002.json")).await;
    env.drain_ingest().await;
    env.stack.shops.put_product(&shared::testing::product(&shop, "77", 3, 1)).await.unwrap();
    let doc: Value = serde_json::from_str(dashboard_api::OPENAPI).unwrap();
    let auth = format!("Bearer {}", token_for(&shop));
    let headers = [("Authorization", auth.as_str())];
    let checks = [
        ("GET", "/api/orders", "/api/orders?limit=1", None),
        ("GET", "/api/orders", "/api/orders?status=nope", None),
        ("GET", "/api/fulfillments", "/api/fulfillments", None),
        ("GET", "/api/products", "/api/products", None),
        ("GET", "/api/product/{productId}/variants", "/api/product/77/variants", None),
        ("GET", "/api/product/{productId}/variants", "/api/product/78/variants", None),
        ("POST", "/api/assistant/keys", "/api/assistant/keys", Some("{}")),
        ("POST", "/api/assistant/keys", "/api/assistant/keys", Some("{\"nope\":1}")),
        ("GET", "/api/assistant/keys", "/api/assistant/keys", None),
        ("DELETE", "/api/assistant/keys/{id}", "/api/assistant/keys/key_missing", None),
    ];
    for (method, path, target, body) in checks {
        let response = env.request(method, target, &headers, body.unwrap_or_default().as_bytes()).await;
        conforms(&doc, path, &method.to_lowercase(), &response);
    }
    let anonymous = env.request("GET", "/api/orders", &[], b"").await;
    conforms(&doc, "/api/orders", "get", &anonymous);
}

#[tokio::test]
async fn the_sample_event_lists_products() {
    let env = TestEnv::new().await;
    let shop = ShopDomain::parse("demo-shop.myshopify.com").unwrap();
    env.install(&shop, "shpat_demo", &["read_products"]).await;
    env.stack.shops.put_product(&shared::testing::product(&shop, "555", 2, 1)).await.unwrap();
    let text = std::fs::read_to_string(root().join("events/assistant-api/list-products.apigw-v2.json")).unwrap();
    let request = lambda_http::request::from_str(&text).unwrap();
    let response = assistant_api::handle(&integration_tests::deps!(env.stack, assistant_api), request).await.unwrap();
    assert_eq!(response.status(), 200, "{}", json_body(&response));
    assert_eq!(json_body(&response)["products"][0]["id"], "gid://shopify/Product/555");
}
