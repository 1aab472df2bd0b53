//! Products for the assistant API: the product webhooks, inventory levels, and the products poll
//! (variants beyond the first page read per product), all through the version-guarded product store.

use integration_tests::TestEnv;
use serde_json::{Value, json};
use shared::{
    domain::{
        Integration, InventoryStatus,
        poll::{PollWindow, WindowMode},
    },
    queue::{Message, PollJob, PollTask, Stage},
    store::{ProductStore, Resource, SyncStore},
    testing::unique_shop,
};
use wiremock::{Mock, MockServer, ResponseTemplate, matchers::body_string_contains};

fn product_body(updated_at: &str, quantity: i64) -> Vec<u8> {
    json!({
        "id": 632910392u64, "title": "Demo Hoodie", "status": "active", "updated_at": updated_at,
        "options": [{ "name": "Colour", "position": 1 }, { "name": "Size", "position": 2 }],
        "variants": [
            { "id": 808950810u64, "title": "Red / M", "sku": "HOOD-RED-M", "price": "49.00", "option1": "Red", "option2": "M",
              "option3": null, "inventory_item_id": 708950810u64, "inventory_quantity": quantity },
            { "id": 808950811u64, "title": "Red / L", "sku": "HOOD-RED-L", "price": "49.00", "option1": "Red", "option2": "L",
              "option3": null, "inventory_item_id": 708950811u64, "inventory_quantity": 0 }
        ]
    })
    .to_string()
    .into_bytes()
}

#[tokio::test]
async fn product_webhooks_keep_variants_sizes_colours_and_inventory_current_in_order() {
    let env = TestEnv::new().await;
    let shop = unique_shop("products");
    env.deliver(&shop, "products/create", "p1", &product_body("2026-11-20T10:00:00-05:00", 25)).await;
    env.deliver(&shop, "products/update", "p0", &product_body("2026-11-20T09:00:00-05:00", 99)).await;
    env.drain_ingest().await;
    let (product, pages) = env.stack.shops.product(&shop, "632910392").await.unwrap().unwrap();
    assert_eq!(pages, 0);
    let m = &product.variants[0];
    assert_eq!(
        (m.size.as_deref(), m.color.as_deref(), m.quantity()),
        (Some("M"), Some("Red"), 25),
        "the older update lost"
    );
    assert_eq!(m.inventory_status(), InventoryStatus::InStock);
    assert_eq!(product.variants[1].inventory_status(), InventoryStatus::OutOfStock);

    let level = |available: i64, at: &str| {
        json!({ "inventory_item_id": 708950810u64, "location_id": 24826418u64, "available": available, "updated_at": at })
            .to_string()
            .into_bytes()
    };
    env.deliver(&shop, "inventory_levels/update", "l1", &level(4, "2026-11-21T10:00:00-05:00")).await;
    env.drain_ingest().await;
    env.deliver(&shop, "inventory_levels/update", "l0", &level(40, "2026-11-21T09:00:00-05:00")).await;
    env.drain_ingest().await;
    let (product, _) = env.stack.shops.product(&shop, "632910392").await.unwrap().unwrap();
    assert_eq!(product.variants[0].quantity(), 4);
    assert_eq!(product.variants[0].inventory_status(), InventoryStatus::Partial);

    env.deliver(&shop, "products/delete", "d1", br#"{"id":632910392}"#).await;
    env.drain_ingest().await;
    assert_eq!(env.stack.shops.product(&shop, "632910392").await.unwrap(), None);
}

fn variant(i: usize) -> Value {
    json!({ "id": format!("gid://shopify/ProductVariant/{i}"), "title": format!("V{i}"), "sku": format!("SKU{i}"), "price": "5.00",
            "inventoryQuantity": 12, "inventoryItem": { "id": format!("gid://shopify/InventoryItem/{i}") },
            "selectedOptions": [{ "name": "Size", "value": format!("S{i}") }, { "name": "Color", "value": "Blue" }] })
}

#[tokio::test]
async fn the_products_poll_pages_variants_beyond_the_first_hundred_and_advances_its_watermark() {
    let server = MockServer::start().await;
    let env = TestEnv::with_shopify(&format!("{}/{{shop}}", server.uri())).await;
    let shop = unique_shop("products-poll");
    env.install(&shop, "shpat_products", &["read_products"]).await;
    let first: Vec<Value> = (0..100).map(variant).collect();
    let rest: Vec<Value> = (100..320).map(variant).collect();
    Mock::given(body_string_contains("query ProductsPage"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "data": { "products": {
            "pageInfo": { "hasNextPage": false, "endCursor": "p-end" },
            "nodes": [{ "id": "gid://shopify/Product/55", "legacyResourceId": "55", "title": "Big", "status": "ACTIVE",
                "updatedAt": "2026-11-21T00:00:00Z",
                "variants": { "pageInfo": { "hasNextPage": true, "endCursor": "v100" }, "nodes": first } }]
        } } })))
        .mount(&server)
        .await;
    Mock::given(body_string_contains("query ProductVariants"))
        .and(body_string_contains("\"after\":\"v100\""))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "data": { "product": { "variants": {
            "pageInfo": { "hasNextPage": false, "endCursor": "v320" }, "nodes": rest } } } })))
        .mount(&server)
        .await;
    let window = PollWindow {
        mode: WindowMode::Incremental,
        from: chrono::DateTime::UNIX_EPOCH,
        until: chrono::DateTime::parse_from_rfc3339("2026-11-22T00:00:00Z").unwrap().to_utc(),
    };
    let task = PollTask::Products { window, after: None };
    let job = PollJob { integration: Integration::Shopify, shop: shop.clone(), origin: "tick".into(), task };
    env.enqueue(Stage::Poll(Integration::Shopify), &Message::Poll(job), 0).await;
    env.drain(Stage::Poll(Integration::Shopify), 0).await;

    let (product, pages) = env.stack.shops.product(&shop, "55").await.unwrap().unwrap();
    assert_eq!((product.variants.len(), pages), (250, 1), "250 on the main record, 70 on page 1");
    let page = env.stack.shops.variant_page(&shop, "55", 1).await.unwrap();
    assert_eq!(page.len(), 70);
    assert_eq!(page[69].id, "319");
    assert_eq!((page[0].size.as_deref(), page[0].color.as_deref()), (Some("S250"), Some("Blue")));
    assert_eq!(
        env.stack.shops.sync_state(&shop).await.unwrap().watermark_at(Integration::Shopify, Resource::Products),
        Some(window.until)
    );
}
