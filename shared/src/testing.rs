//! Test support (feature `testing`): the port contract suites that every adapter must pass, fixture
//! loading, and builders for signed requests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    path::PathBuf,
    sync::atomic::{AtomicU64, Ordering},
};

use chrono::{Duration, TimeZone, Utc};

use crate::{
    domain::{
        Channel, ChannelOrderId, FinancialStatus, FulfillmentStatus, Integration, Money, Order, OrderName, Product,
        ShopDomain, Variant,
    },
    queue::{Inbound, Message, MessageQueue, Stage},
    store::{OrderStore, WriteOutcome},
};

/// A shop domain no other test uses, so tests can share one table.
pub fn unique_shop(label: &str) -> ShopDomain {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
    ShopDomain::parse(&format!("{label}-{nanos:x}-{n}.myshopify.com")).unwrap()
}

/// `../shared/fixtures` beside the project, when present (it is in CI, not in a user's clone).
pub fn shared_fixtures() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures");
    dir.is_dir().then_some(dir)
}

/// A Shopify order for `shop`, created at minute 0 and updated at minute `updated_minute` of 2026-01-01.
pub fn order(shop: &ShopDomain, id: &str, updated_minute: u32) -> Order {
    Order {
        shop: shop.clone(),
        channel: Channel::Shopify,
        channel_order_id: ChannelOrderId::parse(id).unwrap(),
        admin_graphql_api_id: Some(format!("gid://shopify/Order/{id}")),
        name: OrderName::new(format!("#{id}")),
        created_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
            + Duration::seconds(id.parse::<i64>().unwrap_or(0) % 86_400),
        updated_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::minutes(updated_minute.into()),
        cancelled_at: None,
        financial_status: FinancialStatus::Pending,
        fulfillment_status: FulfillmentStatus::Unfulfilled,
        total: Money::new("10.00", "USD").unwrap(),
        line_items: vec![],
        customer: None,
        shipping_address: None,
        fulfillments: vec![],
        transactions: vec![],
        delivery: Default::default(),
        ops: Default::default(),
        version: 0,
    }
}

/// Writes `next` over whatever is stored, as the services do.
pub async fn save<S: OrderStore + ?Sized>(store: &S, mut next: Order) -> Order {
    let previous = store.get_order(&next.shop, &next.key()).await.unwrap();
    next.version = previous.as_ref().map_or(1, |p| p.version + 1);
    assert_eq!(store.write_order(&next, previous.as_ref(), &[]).await.unwrap(), WriteOutcome::Written);
    next
}

/// A product of `variants` variants revised at `minute`, inventory item `inv-<i>` per variant.
pub fn product(shop: &ShopDomain, id: &str, variants: usize, minute: u32) -> Product {
    Product {
        shop: shop.clone(),
        id: id.into(),
        title: format!("Product {id}"),
        status: Some("active".into()),
        description: Some(format!("About product {id}.")),
        updated_at: Utc.with_ymd_and_hms(2026, 5, 1, 0, minute, 0).unwrap(),
        variants: (0..variants)
            .map(|i| Variant {
                id: format!("v{i}"),
                title: format!("Variant {i}"),
                sku: Some(format!("SKU-{i}")),
                price: Some("10.00".into()),
                size: Some("M".into()),
                color: None,
                option1: Some("M".into()),
                option2: Some(format!("Style {i}")),
                option3: None,
                inventory_item_id: Some(format!("inv-{i}")),
                inventory_quantity: 20,
                levels: Default::default(),
            })
            .collect(),
    }
}

/// The contract of the queue port. `received` reads back what reached the ingest queue.
pub async fn queue_contract<Q, F, Fut>(queue: &Q, received: F)
where
    Q: MessageQueue,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Vec<Message>>,
{
    let shop = unique_shop("contract-queue");
    let message = |webhook_id: &str| {
        Message::Inbound(Inbound {
            source: Integration::Shopify,
            shop: shop.clone(),
            topic: "orders/create".into(),
            delivery_id: webhook_id.into(),
            event_id: None,
            occurred_at: None,
            payload: serde_json::json!({"id": 820982911946154508u64, "note": "\u{fc}n\u{ef}code"}),
            payload_ref: None,
        })
    };
    queue.send(Stage::Ingest, &message("w1"), 0).await.unwrap();
    queue.send(Stage::Ingest, &message("w2"), 0).await.unwrap();
    let mut got = received().await;
    got.sort_by_key(|m| match m {
        Message::Inbound(event) => event.delivery_id.clone(),
        Message::Outbound(change) => change.id.clone(),
        Message::Poll(job) => job.origin.clone(),
    });
    assert_eq!(got, [message("w1"), message("w2")], "messages survive the trip unchanged");
}
