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
        Priority, Product, ShopDomain, StageMessage, Tab, UpsertPlan, Variant,
    },
    queue::{MessageQueue, Stage},
    store::{
        AlertStore, DeliveryStore, Listed, OrderQuery, OrderStore, ProductStore, ReceiptStore, Recorded, RequestStore,
        Resource, Seek, ShopRecord, ShopStatus, ShopStore, SyncState, SyncStore, WebhookReceipt, WriteOutcome,
        keys::Watch,
    },
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
        ops: Default::default(),
        version: 0,
    }
}

/// The contract every store adapter must meet. Run it against each adapter.
pub async fn store_contract<S>(store: &S)
where
    S: OrderStore + ReceiptStore + AlertStore + RequestStore + DeliveryStore + ShopStore + SyncStore + ProductStore,
{
    products_keep_pages_levels_and_their_order(store).await;
    sync_state_only_moves_forward(store).await;
    responses_and_deliveries_are_kept(store).await;
    a_shop_is_erased_whole_and_alone(store).await;
    orders_are_versioned_and_guarded(store).await;
    timelines_are_newest_first_and_idempotent(store).await;
    orders_list_newest_first_in_pages_both_ways(store).await;
    tabs_and_filters_follow_the_order(store).await;
    orders_are_found_by_name(store).await;
    page_boundaries_are_remembered(store).await;
    watches_come_due_and_go_once_flagged(store).await;
    receipts_dedupe_only_after_completion(store).await;
    alerts_are_stored_once_and_read_in_order(store).await;
}

/// Writes `next` over whatever is stored, as the services do.
pub async fn save<S: OrderStore + ?Sized>(store: &S, mut next: Order) -> Order {
    let previous = store.get_order(&next.shop, &next.key()).await.unwrap();
    next.version = previous.as_ref().map_or(1, |p| p.version + 1);
    assert_eq!(store.write_order(&next, previous.as_ref(), &[]).await.unwrap(), WriteOutcome::Written);
    next
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
    let mut wrong = order.as_ref().clone();
    wrong.version = 7;
    assert_eq!(
        store.write_order(&newer, Some(&wrong), &[]).await.unwrap(),
        WriteOutcome::VersionConflict,
        "stale version"
    );
    assert_eq!(store.write_order(&newer, Some(&order), &[]).await.unwrap(), WriteOutcome::Written);
    assert_eq!(store.get_order(&shop, &order.key()).await.unwrap().unwrap().version, 2);
    assert_eq!(
        store.get_order(&unique_shop("contract-other"), &order.key()).await.unwrap(),
        None,
        "shops are isolated"
    );
}

async fn timelines_are_newest_first_and_idempotent<S: OrderStore>(store: &S) {
    let shop = unique_shop("contract-timeline");
    let mut current: Option<Order> = None;
    for minute in 0..12 {
        let mut next = order(&shop, "5", minute);
        next.financial_status = if minute % 2 == 0 { FinancialStatus::Pending } else { FinancialStatus::Paid };
        let UpsertPlan::Write { order, events } = UpsertPlan::decide(current.as_ref(), next) else { panic!() };
        assert_eq!(store.write_order(&order, current.as_ref(), &events).await.unwrap(), WriteOutcome::Written);
        current = Some(*order);
    }
    let current = current.unwrap();
    let (stored, events) = store.order_detail(&shop, &current.key(), 10).await.unwrap().unwrap();
    assert_eq!(stored, current);
    assert_eq!(events.len(), 10);
    assert!(events.windows(2).all(|w| w[0].ts > w[1].ts), "newest first");
    assert_eq!(events[0].ts, current.updated_at);
    assert_eq!(store.order_detail(&shop, &current.key(), 100).await.unwrap().unwrap().1.len(), 12, "one per revision");
    assert_eq!(store.order_detail(&shop, &order(&shop, "6", 0).key(), 10).await.unwrap(), None);
}

async fn orders_list_newest_first_in_pages_both_ways<S: OrderStore>(store: &S) {
    let shop = unique_shop("contract-list");
    for id in 1..=7 {
        save(store, order(&shop, &id.to_string(), 0)).await;
    }
    save(store, order(&unique_shop("contract-list-other"), "99", 0)).await;
    let all = OrderQuery::default();

    let mut seen = Vec::new();
    let mut seek = Seek::First;
    loop {
        let page = store.list_orders(&shop, &all, &seek, 4).await.unwrap();
        let more = page.len() == 4;
        seen.extend(page.iter().take(3).map(|l| l.order.channel_order_id.to_string()));
        match (more, page.get(3)) {
            (true, Some(next)) => seek = Seek::From(next.position.clone()),
            _ => break,
        }
    }
    assert_eq!(seen, ["7", "6", "5", "4", "3", "2", "1"], "newest first, no gaps, no duplicates, no other shop");
    assert!(store.shops().await.unwrap().contains(&shop), "a shop with orders is registered");

    let everything = store.list_orders(&shop, &all, &Seek::First, 10).await.unwrap();
    let back = store.list_orders(&shop, &all, &Seek::Before(everything[4].position.clone()), 2).await.unwrap();
    let ids: Vec<String> = back.iter().map(|l| l.order.channel_order_id.to_string()).collect();
    assert_eq!(ids, ["4", "5"], "backward reads the nearest newer orders, nearest first");
}

async fn tabs_and_filters_follow_the_order<S: OrderStore>(store: &S) {
    let shop = unique_shop("contract-tabs");

    let mut assigned = order(&shop, "1", 0);
    assigned.ops.assigned_to = Some("sam".into());
    let assigned = save(store, assigned).await;
    let mut cancelled = order(&shop, "2", 0);
    cancelled.cancelled_at = Some(cancelled.created_at);
    save(store, cancelled).await;
    let mut fulfilled = order(&shop, "3", 0);
    fulfilled.fulfillment_status = FulfillmentStatus::Fulfilled;
    save(store, fulfilled).await;

    assert_eq!(ids_of(store, &shop, OrderQuery { tab: Some(Tab::Unfulfilled), ..Default::default() }).await, ["1"]);
    assert_eq!(ids_of(store, &shop, OrderQuery { tab: Some(Tab::Assigned), ..Default::default() }).await, ["1"]);
    assert_eq!(ids_of(store, &shop, OrderQuery { assignee: Some("sam".into()), ..Default::default() }).await, ["1"]);
    assert_eq!(
        ids_of(store, &shop, OrderQuery { assignee: Some("kim".into()), ..Default::default() }).await,
        Vec::<String>::new()
    );
    assert_eq!(
        ids_of(store, &shop, OrderQuery { status: Some("cancelled".into()), ..Default::default() }).await,
        ["2"]
    );
    assert_eq!(
        ids_of(store, &shop, OrderQuery { status: Some("fulfilled".into()), ..Default::default() }).await,
        ["3"]
    );
    assert_eq!(
        ids_of(store, &shop, OrderQuery { priority: Some(Priority::Low), ..Default::default() }).await,
        ["3", "2", "1"]
    );
    let created = order(&shop, "2", 0).created_at;
    let day = OrderQuery { created_from: Some(created), created_to: Some(created), ..Default::default() };
    assert_eq!(ids_of(store, &shop, day).await, ["2"], "date range is inclusive to the millisecond");

    // Leaving a tab removes the order from it.
    let mut unassigned = assigned.clone();
    unassigned.ops.assigned_to = None;
    save(store, unassigned).await;
    assert_eq!(
        ids_of(store, &shop, OrderQuery { tab: Some(Tab::Assigned), ..Default::default() }).await,
        Vec::<String>::new()
    );
    assert_eq!(
        ids_of(store, &shop, OrderQuery { assignee: Some("sam".into()), ..Default::default() }).await,
        Vec::<String>::new()
    );
    assert_eq!(ids_of(store, &shop, OrderQuery::default()).await, ["3", "2", "1"]);
}

async fn responses_and_deliveries_are_kept<S: RequestStore + DeliveryStore>(store: &S) {
    let shop = unique_shop("contract-requests");
    assert_eq!(store.stored_response(&shop, "k1", Utc::now()).await.unwrap(), None);
    store.store_response(&shop, "k1", r#"{"success":true}"#, Utc::now()).await.unwrap();
    assert_eq!(store.stored_response(&shop, "k1", Utc::now()).await.unwrap().as_deref(), Some(r#"{"success":true}"#));
    assert_eq!(store.stored_response(&unique_shop("contract-requests-other"), "k1", Utc::now()).await.unwrap(), None);

    let key = order(&shop, "1", 0).key();
    let delivery = crate::store::Delivery {
        id: "m1".into(),
        kind: "assignment_sync".into(),
        outcome: "skipped".into(),
        detail: "metafields are read-only".into(),
        at: Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap(),
    };
    store.record_delivery(&shop, &key, &delivery).await.unwrap();
    store.record_delivery(&shop, &key, &delivery).await.unwrap();
    assert_eq!(store.deliveries(&shop, &key).await.unwrap(), [delivery]);
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

async fn products_keep_pages_levels_and_their_order<S: ProductStore>(store: &S) {
    let shop = unique_shop("contract-products");
    let at = |minute| Utc.with_ymd_and_hms(2026, 5, 1, 0, minute, 0).unwrap();
    assert!(store.put_product(&product(&shop, "p1", 600, 10)).await.unwrap());
    let (head, pages) = store.product(&shop, "p1").await.unwrap().unwrap();
    assert_eq!((head.variants.len(), pages), (250, 2), "250 on the main record, the rest on pages");
    assert_eq!(store.variant_page(&shop, "p1", 2).await.unwrap().len(), 100);
    assert_eq!(store.variant_page(&shop, "p1", 2).await.unwrap()[0].id, "v500");

    assert!(store.set_inventory_level(&shop, "inv-520", "loc-1", 4, at(11)).await.unwrap());
    assert!(store.set_inventory_level(&shop, "inv-3", "loc-1", 0, at(11)).await.unwrap());
    assert!(!store.set_inventory_level(&shop, "inv-3", "loc-1", 9, at(10)).await.unwrap(), "an older level");
    assert!(!store.set_inventory_level(&shop, "inv-unknown", "loc-1", 9, at(12)).await.unwrap());
    let page = store.variant_page(&shop, "p1", 2).await.unwrap();
    assert_eq!(page[20].quantity(), 4);

    assert!(!store.put_product(&product(&shop, "p1", 10, 5)).await.unwrap(), "an older revision");
    assert!(store.put_product(&product(&shop, "p1", 10, 20)).await.unwrap(), "shrinks to one record");
    let (head, pages) = store.product(&shop, "p1").await.unwrap().unwrap();
    assert_eq!((head.variants.len(), pages), (10, 0));
    assert_eq!(head.variants[3].quantity(), 0, "known levels carry over a revision");
    assert!(store.variant_page(&shop, "p1", 1).await.unwrap().is_empty(), "stale pages are gone");

    store.delete_product(&shop, "p1", at(30)).await.unwrap();
    assert_eq!(store.product(&shop, "p1").await.unwrap(), None);
    assert!(!store.put_product(&product(&shop, "p1", 10, 25)).await.unwrap(), "no revival by an older update");
}

async fn sync_state_only_moves_forward<S: SyncStore>(store: &S) {
    let shop = unique_shop("contract-sync");
    let at = |minute| Utc.with_ymd_and_hms(2026, 5, 1, 0, minute, 0).unwrap();
    assert_eq!(store.sync_state(&shop).await.unwrap(), SyncState::default());
    assert!(store.advance_watermark(&shop, Resource::Orders, at(10), Some("c10")).await.unwrap());
    assert!(!store.advance_watermark(&shop, Resource::Orders, at(5), Some("c5")).await.unwrap(), "never back");
    assert!(!store.advance_watermark(&shop, Resource::Orders, at(10), Some("c10b")).await.unwrap(), "nor in place");
    assert!(store.advance_watermark(&shop, Resource::Products, at(3), None).await.unwrap());
    store.record_webhook(&shop, at(7)).await.unwrap();
    store.record_webhook(&shop, at(6)).await.unwrap();
    let state = store.sync_state(&shop).await.unwrap();
    assert_eq!(state.orders_watermark, Some(at(10)));
    assert_eq!(state.orders_cursor.as_deref(), Some("c10"));
    assert_eq!(state.products_watermark, Some(at(3)));
    assert_eq!(state.last_webhook_at, Some(at(7)));
    assert_eq!(state.refreshed_at, Some(at(7)), "the last accepted write pinged");
    store.ping_refresh(&shop, at(20)).await.unwrap();
    assert_eq!(store.sync_state(&shop).await.unwrap().refreshed_at, Some(at(20)));

    let key = order(&shop, "7", 0).key();
    assert_eq!(store.order_cursor(&shop, &key).await.unwrap(), None);
    store.record_order_cursors(&shop, &[(key.clone(), "c1".into())]).await.unwrap();
    store.record_order_cursors(&shop, &[(key.clone(), "c2".into())]).await.unwrap();
    assert_eq!(store.order_cursor(&shop, &key).await.unwrap().as_deref(), Some("c2"));
}

async fn a_shop_is_erased_whole_and_alone<S: OrderStore + AlertStore + ShopStore + DeliveryStore + SyncStore>(
    store: &S,
) {
    let shop = unique_shop("contract-erase");
    let bystander = unique_shop("contract-erase-bystander");
    for target in [&shop, &bystander] {
        let mut assigned = order(target, "1", 0);
        assigned.ops.assigned_to = Some("sam".into());
        save(store, assigned).await;
        let UpsertPlan::Write { order: timed, events } = UpsertPlan::decide(None, order(target, "2", 0)) else {
            panic!()
        };
        store.write_order(&timed, None, &events).await.unwrap();
        store.set_shop_status(target, ShopStatus::Active, Utc::now()).await.unwrap();
        store.record_data_export(target, "r1", "{}").await.unwrap();
        let alert = Alert {
            shop: target.clone(),
            id: "a1".into(),
            kind: AlertKind::DeadLetter,
            message: "m".into(),
            order: None,
            raised_at: Utc::now(),
            cleared_at: None,
        };
        store.raise_alert(&alert).await.unwrap();
    }
    assert_eq!(store.shop_status(&shop).await.unwrap(), Some(ShopStatus::Active));
    let record = ShopRecord {
        shop: shop.clone(),
        status: ShopStatus::Active,
        scopes: vec!["read_orders".into(), "read_all_orders".into()],
        sealed_token: "c2VhbGVk".into(),
        installed_at: Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap(),
        metafields_sync: false,
        token: Default::default(),
    };
    store.install_shop(&record).await.unwrap();
    store.advance_watermark(&shop, Resource::Orders, Utc::now(), Some("cursor")).await.unwrap();
    assert_eq!(store.shop(&shop).await.unwrap(), Some(record.clone()));
    assert!(store.active_shops().await.unwrap().contains(&shop));
    assert!(!format!("{record:?}").contains("c2VhbGVk"), "Debug hides even the sealed token");
    store.set_shop_status(&shop, ShopStatus::Uninstalled, Utc::now()).await.unwrap();
    assert_eq!(store.shop(&shop).await.unwrap().map(|r| r.status), Some(ShopStatus::Uninstalled));
    assert_eq!(store.shop_status(&shop).await.unwrap(), Some(ShopStatus::Uninstalled));
    assert!(!store.active_shops().await.unwrap().contains(&shop), "an uninstalled shop is not polled");
    assert_eq!(store.data_export(&shop, "r1").await.unwrap().as_deref(), Some("{}"));

    assert!(store.erase_shop(&shop).await.unwrap() > 0);
    assert_eq!(store.get_order(&shop, &order(&shop, "1", 0).key()).await.unwrap(), None);
    assert_eq!(store.order_detail(&shop, &order(&shop, "2", 0).key(), 10).await.unwrap(), None);
    assert!(ids_of(store, &shop, OrderQuery::default()).await.is_empty());
    assert!(ids_of(store, &shop, OrderQuery { assignee: Some("sam".into()), ..Default::default() }).await.is_empty());
    assert!(store.alerts_since(&shop, None, 10).await.unwrap().is_empty());
    assert_eq!(store.shop_status(&shop).await.unwrap(), None);
    assert_eq!(store.shop(&shop).await.unwrap(), None);
    assert_eq!(store.data_export(&shop, "r1").await.unwrap(), None);
    assert!(!store.shops().await.unwrap().contains(&shop));
    assert_eq!(store.sync_state(&shop).await.unwrap(), SyncState::default());
    store.erase_shop(&shop).await.unwrap();

    assert_eq!(ids_of(store, &bystander, OrderQuery::default()).await, ["2", "1"], "another shop keeps everything");
    assert_eq!(store.alerts_since(&bystander, None, 10).await.unwrap().len(), 1);
    assert_eq!(store.shop_status(&bystander).await.unwrap(), Some(ShopStatus::Active));
}

async fn ids_of<S: OrderStore>(store: &S, shop: &ShopDomain, query: OrderQuery) -> Vec<String> {
    let listed: Vec<Listed> = store.list_orders(shop, &query, &Seek::First, 50).await.unwrap();
    listed.into_iter().map(|l| l.order.channel_order_id.to_string()).collect()
}

async fn page_boundaries_are_remembered<S: OrderStore>(store: &S) {
    let shop = unique_shop("contract-pages");
    let fingerprint = OrderQuery::default().fingerprint();
    assert_eq!(store.page_boundary(&shop, &fingerprint, 50).await.unwrap(), None);
    store.remember_page_boundary(&shop, &fingerprint, 50, "000001#shopify:1").await.unwrap();
    assert_eq!(store.page_boundary(&shop, &fingerprint, 50).await.unwrap().as_deref(), Some("000001#shopify:1"));
    assert_eq!(store.page_boundary(&shop, &fingerprint, 51).await.unwrap(), None);
    let other = OrderQuery { tab: Some(Tab::Delayed), ..Default::default() }.fingerprint();
    assert_eq!(store.page_boundary(&shop, &other, 50).await.unwrap(), None);
}

async fn watches_come_due_and_go_once_flagged<S: OrderStore>(store: &S) {
    let shop = unique_shop("contract-watch");
    let waiting = save(store, order(&shop, "1", 0)).await;
    let due = waiting.created_at + crate::domain::ops::TRACKING_PENDING_AFTER;
    let early = store.due_for_review(&shop, Watch::Tracking, due - Duration::seconds(1), 10).await.unwrap();
    assert!(early.is_empty());
    assert_eq!(store.due_for_review(&shop, Watch::Tracking, due, 10).await.unwrap(), [waiting.key()]);
    assert!(store.due_for_review(&shop, Watch::Transit, due, 10).await.unwrap().is_empty());

    let mut flagged = waiting.clone();
    flagged.refresh_flags(due + Duration::seconds(1));
    assert!(flagged.ops.flags.tracking_pending_since.is_some());
    save(store, flagged).await;
    assert!(
        store.due_for_review(&shop, Watch::Tracking, due, 10).await.unwrap().is_empty(),
        "flagged: no longer watched"
    );
    let pending = OrderQuery { tab: Some(Tab::TrackingPending), ..Default::default() };
    assert_eq!(store.list_orders(&shop, &pending, &Seek::First, 10).await.unwrap().len(), 1);
}

async fn orders_are_found_by_name<S: OrderStore>(store: &S) {
    let shop = unique_shop("contract-name");
    let stored = save(store, order(&shop, "1001", 0)).await;
    for name in ["#1001", "1001", " #1001 "] {
        assert_eq!(store.find_by_name(&shop, name).await.unwrap().map(|o| o.key()), Some(stored.key()), "{name}");
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
            cleared_at: None,
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

    // Clearing moves the alert past every earlier cursor, cleared; clearing again changes nothing.
    let cleared_at = base + Duration::hours(2);
    store.clear_alert(&shop, "a0", cleared_at).await.unwrap();
    store.clear_alert(&shop, "a0", cleared_at + Duration::hours(1)).await.unwrap();
    store.clear_alert(&shop, "unknown", cleared_at).await.unwrap();
    let after = store.alerts_since(&shop, Some(&all[2].0), 10).await.unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!((after[0].1.id.as_str(), after[0].1.cleared_at), ("a0", Some(cleared_at)));
    assert_eq!(store.alerts_since(&shop, None, 10).await.unwrap().len(), 3);
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
        StageMessage::Outbound(o) => o.id.clone(),
        StageMessage::ShopifyPoll(p) => p.origin.clone(),
        StageMessage::AmazonSync(job) => job.shop.to_string(),
    });
    assert_eq!(got, [message("w1"), message("w2")], "messages survive the trip unchanged");
}
