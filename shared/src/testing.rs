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
        Alert, AlertKind, Channel, ChannelOrderId, FinancialStatus, FulfillmentStatus, Money, Order, OrderName,
        ShopDomain, StageMessage, UpsertPlan,
    },
    queue::{MessageQueue, Stage},
    store::{AlertStore, OrderStore, ReceiptStore, Recorded, WebhookReceipt, WriteOutcome},
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
        version: 0,
    }
}

/// The contract every store adapter must meet. Run it against each adapter.
pub async fn store_contract<S: OrderStore + ReceiptStore + AlertStore>(store: &S) {
    orders_are_versioned_and_guarded(store).await;
    timelines_are_newest_first_and_idempotent(store).await;
    orders_list_newest_first_in_pages(store).await;
    orders_are_found_by_name(store).await;
    receipts_dedupe_only_after_completion(store).await;
    alerts_are_stored_once_and_read_in_order(store).await;
}

async fn orders_are_versioned_and_guarded<S: OrderStore>(store: &S) {
    let shop = unique_shop("contract-versions");
    let UpsertPlan::Write { order, events } = UpsertPlan::decide(None, order(&shop, "1", 0)) else { panic!() };
    assert_eq!(store.write_order(&order, None, &events).await.unwrap(), WriteOutcome::Written);
    assert_eq!(store.write_order(&order, None, &events).await.unwrap(), WriteOutcome::VersionConflict, "create twice");
    let stored = store.get_order(&shop, &order.key()).await.unwrap().expect("stored");
    assert_eq!(stored, *order);

    let mut newer = order.as_ref().clone();
    newer.updated_at += Duration::minutes(1);
    newer.version = 2;
    assert_eq!(store.write_order(&newer, Some(7), &[]).await.unwrap(), WriteOutcome::VersionConflict, "stale version");
    assert_eq!(store.write_order(&newer, Some(1), &[]).await.unwrap(), WriteOutcome::Written);
    assert_eq!(store.get_order(&shop, &order.key()).await.unwrap().unwrap().version, 2);
    assert_eq!(
        store.get_order(&unique_shop("contract-other"), &order.key()).await.unwrap(),
        None,
        "shops are isolated"
    );
}

async fn timelines_are_newest_first_and_idempotent<S: OrderStore>(store: &S) {
    let shop = unique_shop("contract-timeline");
    let mut current = None;
    for minute in 0..12 {
        let mut next = order(&shop, "5", minute);
        next.financial_status = if minute % 2 == 0 { FinancialStatus::Pending } else { FinancialStatus::Paid };
        let UpsertPlan::Write { order, events } = UpsertPlan::decide(current.as_ref(), next) else { panic!() };
        let expected = current.as_ref().map(|o: &Order| o.version);
        assert_eq!(store.write_order(&order, expected, &events).await.unwrap(), WriteOutcome::Written);
        current = Some(*order);
    }
    let key = current.as_ref().unwrap().key();
    let events = store.timeline(&shop, &key, 10).await.unwrap();
    assert_eq!(events.len(), 10);
    assert!(events.windows(2).all(|w| w[0].ts > w[1].ts), "newest first");
    assert_eq!(events[0].ts, current.as_ref().unwrap().updated_at);
    assert_eq!(store.timeline(&shop, &key, 100).await.unwrap().len(), 12, "one event per revision");
}

async fn orders_list_newest_first_in_pages<S: OrderStore>(store: &S) {
    let shop = unique_shop("contract-list");
    for id in 1..=7 {
        let UpsertPlan::Write { order, events } = UpsertPlan::decide(None, order(&shop, &id.to_string(), 0)) else {
            panic!()
        };
        store.write_order(&order, None, &events).await.unwrap();
    }
    let other = unique_shop("contract-list-other");
    let UpsertPlan::Write { order: foreign, .. } = UpsertPlan::decide(None, order(&other, "99", 0)) else { panic!() };
    store.write_order(&foreign, None, &[]).await.unwrap();

    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store.list_orders(&shop, 3, after.as_deref()).await.unwrap();
        assert!(page.orders.len() <= 3);
        seen.extend(page.orders.iter().map(|o| o.channel_order_id.to_string()));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, ["7", "6", "5", "4", "3", "2", "1"], "newest first, no gaps, no duplicates, no other shop");
}

async fn orders_are_found_by_name<S: OrderStore>(store: &S) {
    let shop = unique_shop("contract-name");
    let UpsertPlan::Write { order, events } = UpsertPlan::decide(None, order(&shop, "1001", 0)) else { panic!() };
    store.write_order(&order, None, &events).await.unwrap();
    for name in ["#1001", "1001", " #1001 "] {
        assert_eq!(store.find_by_name(&shop, name).await.unwrap().map(|o| o.key()), Some(order.key()), "{name}");
    }
    assert_eq!(store.find_by_name(&shop, "#1002").await.unwrap(), None);
    assert_eq!(store.find_by_name(&unique_shop("contract-name-other"), "#1001").await.unwrap(), None);
}

async fn receipts_dedupe_only_after_completion<S: ReceiptStore>(store: &S) {
    let receipt = WebhookReceipt {
        shop: unique_shop("contract-receipts"),
        webhook_id: "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043".into(),
        event_id: Some("e1".into()),
        topic: "orders/create".into(),
        received_at: Utc::now(),
    };
    assert_eq!(store.begin_receipt(&receipt).await.unwrap(), Recorded::New);
    assert_eq!(store.begin_receipt(&receipt).await.unwrap(), Recorded::New, "not handed on yet: a retry may finish it");
    store.complete_receipt(&receipt.shop, &receipt.webhook_id).await.unwrap();
    assert_eq!(store.begin_receipt(&receipt).await.unwrap(), Recorded::Duplicate);
}

async fn alerts_are_stored_once_and_read_in_order<S: AlertStore>(store: &S) {
    let shop = unique_shop("contract-alerts");
    let base = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    for i in 0..3 {
        let alert = Alert {
            shop: shop.clone(),
            id: format!("a{i}"),
            kind: AlertKind::DeadLetter,
            message: format!("alert {i}"),
            order: None,
            raised_at: base + Duration::seconds(i),
        };
        assert_eq!(store.raise_alert(&alert).await.unwrap(), Recorded::New);
        let mut again = alert.clone();
        again.raised_at += Duration::hours(1);
        assert_eq!(store.raise_alert(&again).await.unwrap(), Recorded::Duplicate);
    }
    let all = store.alerts_since(&shop, None, 10).await.unwrap();
    assert_eq!(all.iter().map(|(_, a)| a.id.as_str()).collect::<Vec<_>>(), ["a0", "a1", "a2"]);
    let rest = store.alerts_since(&shop, Some(&all[0].0), 10).await.unwrap();
    assert_eq!(rest.iter().map(|(_, a)| a.id.as_str()).collect::<Vec<_>>(), ["a1", "a2"]);
    assert!(store.alerts_since(&unique_shop("contract-alerts-other"), None, 10).await.unwrap().is_empty());
}

/// The contract of the queue port. `received` reads back what reached the ingest queue.
pub async fn queue_contract<Q, F, Fut>(queue: &Q, received: F)
where
    Q: MessageQueue,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Vec<StageMessage>>,
{
    let shop = unique_shop("contract-queue");
    let message = |webhook_id: &str| {
        StageMessage::ShopifyWebhook(crate::domain::message::ShopifyWebhook {
            shop: shop.clone(),
            topic: "orders/create".into(),
            webhook_id: webhook_id.into(),
            event_id: None,
            triggered_at: None,
            api_version: "2026-07".into(),
            payload: serde_json::json!({"id": 820982911946154508u64, "note": "\u{fc}n\u{ef}code"}),
        })
    };
    queue.send(Stage::Ingest, &message("w1"), 0).await.unwrap();
    queue.send(Stage::Ingest, &message("w2"), 0).await.unwrap();
    let mut got = received().await;
    got.sort_by_key(|m| match m {
        StageMessage::ShopifyWebhook(w) => w.webhook_id.clone(),
    });
    assert_eq!(got, [message("w1"), message("w2")], "messages survive the trip unchanged");
}
