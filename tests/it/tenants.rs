//! Installing a shop locally: the offline token is sealed with KMS (moto), never stored or answered in
//! the clear, and opens only for its own shop.

use integration_tests::TestEnv;
use shared::{
    app::shops,
    config::Secret,
    secrets::{KmsSealer, SealError, Sealer},
    store::{ShopStatus, ShopStore, dynamo::DynamoStore},
    testing::unique_shop,
};

const TOKEN: &str = "shpat_0123456789abcdef0123456789abcdef";

#[tokio::test]
async fn kms_sealing_round_trips_only_under_the_same_context() {
    let env = TestEnv::new().await;
    let sealer: &KmsSealer = &env.stack.sealer;
    let sealed = sealer.seal(&Secret::new(TOKEN), &[("shop", "a.myshopify.com")]).await.unwrap();
    assert!(!sealed.contains(TOKEN));
    assert_eq!(sealer.open(&sealed, &[("shop", "a.myshopify.com")]).await.unwrap().expose(), TOKEN);
    assert!(matches!(sealer.open(&sealed, &[("shop", "b.myshopify.com")]).await, Err(SealError::Invalid)));
    assert!(matches!(sealer.open("not base64!", &[("shop", "a.myshopify.com")]).await, Err(SealError::Invalid)));
}

#[tokio::test]
async fn a_shop_installed_over_http_keeps_its_token_sealed_and_loses_it_on_uninstall() {
    let env = TestEnv::new().await;
    let stack = env.stack.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(local_stack::serve(stack.clone(), listener));
    let shop = unique_shop("install");
    let client = reqwest::Client::new();

    let response = client
        .post(format!("{base}/local/shops"))
        .json(&serde_json::json!({ "shop": shop.as_str(), "access_token": TOKEN, "scopes": ["read_orders"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body = response.text().await.unwrap();
    assert!(!body.contains(TOKEN), "the answer never carries the token");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["readAllOrders"], false);
    let refused = client.post(format!("{base}/local/shops")).body("{}").send().await.unwrap();
    assert_eq!(refused.status(), 400);

    // Stored sealed: no attribute of the raw item holds the token.
    let sdk = shared::aws::sdk_config().await;
    let raw = shared::aws::dynamodb(&sdk)
        .get_item()
        .table_name(&stack.settings.table_name)
        .key("PK", aws_sdk_dynamodb::types::AttributeValue::S(format!("SHOP#{shop}")))
        .key("SK", aws_sdk_dynamodb::types::AttributeValue::S("SHOP".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert!(!format!("{raw:?}").contains(TOKEN));
    let store = DynamoStore::new(shared::aws::dynamodb(&sdk), stack.settings.table_name.clone());
    let opened = shops::access_token(&store, &stack.sealer, &shop).await.unwrap().unwrap();
    assert_eq!(opened.expose(), TOKEN);

    // Uninstalling stops the token's use; the record stays until shop/redact.
    let uninstall = serde_json::json!({ "id": 1, "domain": shop.as_str() }).to_string();
    assert_eq!(env.deliver(&shop, "app/uninstalled", "u1", uninstall.as_bytes()).await.status(), 200);
    env.drain_ingest().await;
    assert_eq!(store.shop_status(&shop).await.unwrap(), Some(ShopStatus::Uninstalled));
    assert!(shops::access_token(&store, &stack.sealer, &shop).await.unwrap().is_none());
    server.abort();
}
