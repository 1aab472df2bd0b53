//! `GET /openapi.json` describes every route, and real responses of each route conform to it.

use integration_tests::{TestEnv, demo_event, json_body, token_for};
use lambda_http::{Body, Response};
use serde_json::{Value, json};
use shared::testing::unique_shop;

/// Asserts that `response` is documented for `method path` and that its JSON body matches the schema.
pub(crate) fn conforms(doc: &Value, path: &str, method: &str, response: &Response<Body>) {
    let status = response.status().as_u16().to_string();
    let schema = &doc["paths"][path][method]["responses"][&status]["content"]["application/json"]["schema"];
    assert!(!schema.is_null(), "{method} {path} answered {status}, which the document does not describe");
    let root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": doc["components"],
        "allOf": [schema],
    });
    let validator = jsonschema::validator_for(&root).unwrap();
    let body = json_body(response);
    let errors: Vec<String> = validator.iter_errors(&body).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{method} {path} {status} violates the document: {errors:?}\n{body}");
}

#[tokio::test]
async fn every_route_answers_as_the_openapi_document_says() {
    let env = TestEnv::new().await;
    let served = env.request("GET", "/openapi.json", &[], b"").await;
    assert_eq!(served.status(), 200);
    let doc = json_body(&served);
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc, serde_json::from_str::<Value>(dashboard_api::OPENAPI).unwrap());
    for (method, path, _) in local_stack::registry::http_routes() {
        assert!(doc["paths"][path][method.to_lowercase()].is_object(), "{method} {path} is not documented");
    }

    let shop = unique_shop("openapi");
    let accepted = env.deliver(&shop, "orders/create", "o1", &demo_event("orders-create-1001.json")).await;
    conforms(&doc, "/webhooks/shopify", "post", &accepted);
    let refused = env.request("POST", "/webhooks/shopify", &[], b"{}").await;
    conforms(&doc, "/webhooks/shopify", "post", &refused);
    env.drain_ingest().await;

    let auth = format!("Bearer {}", token_for(&shop));
    let get = |target: String| {
        let auth = auth.clone();
        let env = &env;
        async move { env.request("GET", &target, &[("Authorization", auth.as_str())], b"").await }
    };
    conforms(&doc, "/sync/orders", "get", &get(format!("/sync/orders?shop_domain={shop}&pageSize=1")).await);
    conforms(&doc, "/sync/orders", "get", &get(format!("/sync/orders?shop_domain={shop}&tab=nope")).await);
    conforms(
        &doc,
        "/sync/orders",
        "get",
        &env.request("GET", &format!("/sync/orders?shop_domain={shop}"), &[], b"").await,
    );
    let other = unique_shop("openapi-other");
    conforms(&doc, "/sync/orders", "get", &get(format!("/sync/orders?shop_domain={other}")).await);
    conforms(&doc, "/sync/orders/{id}", "get", &get(format!("/sync/orders/%231001?shop_domain={shop}")).await);
    conforms(&doc, "/sync/orders/{id}", "get", &get(format!("/sync/orders/404?shop_domain={shop}")).await);
    conforms(&doc, "/sync/orders/alerts", "get", &get(format!("/sync/orders/alerts?shop_domain={shop}")).await);

    let post = |path: &'static str, body: Value| {
        let auth = auth.clone();
        let env = &env;
        async move { env.request("POST", path, &[("Authorization", auth.as_str())], body.to_string().as_bytes()).await }
    };
    let shop_domain = shop.as_str();
    let assign = json!({ "shop_domain": shop_domain, "orderIds": ["#1001"], "assignee": "sam" });
    conforms(&doc, "/sync/orders/assign", "post", &post("/sync/orders/assign", assign).await);
    let fulfill =
        json!({ "shop_domain": shop_domain, "orderIds": ["1001"], "tracking": { "number": "1Z1", "carrier": "UPS" } });
    conforms(&doc, "/sync/orders/fulfill", "post", &post("/sync/orders/fulfill", fulfill).await);
    let support = json!({ "shop_domain": shop_domain, "orderId": "1001", "note": "help" });
    conforms(&doc, "/sync/orders/support", "post", &post("/sync/orders/support", support).await);
    let returns = json!({ "shop_domain": shop_domain, "orderId": "1001", "action": "deny" });
    let conflict = post("/sync/orders/returns", returns).await;
    assert_eq!(conflict.status(), 409);
    conforms(&doc, "/sync/orders/returns", "post", &conflict);
    let unknown = json!({ "shop_domain": shop_domain, "orderIds": ["#9"], "assignee": "sam" });
    conforms(&doc, "/sync/orders/assign", "post", &post("/sync/orders/assign", unknown).await);
    conforms(
        &doc,
        "/sync/orders/assign",
        "post",
        &post("/sync/orders/assign", json!({ "shop_domain": shop_domain })).await,
    );
}
