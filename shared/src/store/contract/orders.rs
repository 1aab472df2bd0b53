#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::Duration;

use crate::{
    domain::{FinancialStatus, FulfillmentStatus, Order, Priority, ShopDomain, Tab, UpsertPlan},
    store::{Listed, OrderQuery, OrderStore, Seek, ShopStore, WriteOutcome, keys::Watch},
    testing::{order, save, unique_shop},
};

pub(super) async fn orders_are_versioned_and_guarded<S: OrderStore>(store: &S) {
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

pub(super) async fn timelines_are_newest_first_and_idempotent<S: OrderStore>(store: &S) {
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

pub(super) async fn orders_list_newest_first_in_pages_both_ways<S: OrderStore>(store: &S) {
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

pub(super) async fn tabs_and_filters_follow_the_order<S: OrderStore>(store: &S) {
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

pub(super) async fn ids_of<S: OrderStore>(store: &S, shop: &ShopDomain, query: OrderQuery) -> Vec<String> {
    let listed: Vec<Listed> = store.list_orders(shop, &query, &Seek::First, 50).await.unwrap();
    listed.into_iter().map(|l| l.order.channel_order_id.to_string()).collect()
}

pub(super) async fn page_boundaries_are_remembered<S: OrderStore>(store: &S) {
    let shop = unique_shop("contract-pages");
    let fingerprint = OrderQuery::default().fingerprint();
    assert_eq!(store.page_boundary(&shop, &fingerprint, 50).await.unwrap(), None);
    store.remember_page_boundary(&shop, &fingerprint, 50, "000001#shopify:1", chrono::Utc::now()).await.unwrap();
    assert_eq!(store.page_boundary(&shop, &fingerprint, 50).await.unwrap().as_deref(), Some("000001#shopify:1"));
    assert_eq!(store.page_boundary(&shop, &fingerprint, 51).await.unwrap(), None);
    let other = OrderQuery { tab: Some(Tab::Delayed), ..Default::default() }.fingerprint();
    assert_eq!(store.page_boundary(&shop, &other, 50).await.unwrap(), None);
}

pub(super) async fn watches_come_due_and_go_once_flagged<S: OrderStore>(store: &S) {
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

pub(super) async fn orders_are_found_by_name<S: OrderStore>(store: &S) {
    let shop = unique_shop("contract-name");
    let stored = save(store, order(&shop, "1001", 0)).await;
    for name in ["#1001", "1001", " #1001 "] {
        assert_eq!(store.find_by_name(&shop, name).await.unwrap().map(|o| o.key()), Some(stored.key()), "{name}");
    }
    assert_eq!(store.find_by_name(&shop, "#1002").await.unwrap(), None);
    assert_eq!(store.find_by_name(&unique_shop("contract-name-other"), "#1001").await.unwrap(), None);
}

pub(super) async fn events_wait_for_their_order_and_only_while_it_is_missing<S: OrderStore + ShopStore>(store: &S) {
    use crate::store::Waiting;
    let shop = unique_shop("contract-waiting");
    let first = order(&shop, "1", 0);
    let now = first.updated_at;
    let key = first.key();
    assert_eq!(store.keep_waiting_event(&shop, &key, "b", "{\"n\":2}", now).await.unwrap(), Waiting::Kept);
    assert_eq!(store.keep_waiting_event(&shop, &key, "a", "{\"n\":1}", now).await.unwrap(), Waiting::Kept);
    assert_eq!(
        store.keep_waiting_event(&shop, &key, "a", "{\"n\":1}", now).await.unwrap(),
        Waiting::Kept,
        "a redelivery"
    );
    let other = order(&shop, "2", 0).key();
    assert_eq!(store.waiting_events(&shop, &other).await.unwrap(), [], "kept per order");
    assert_eq!(
        store.waiting_events(&shop, &key).await.unwrap(),
        [("a".to_owned(), "{\"n\":1}".to_owned()), ("b".to_owned(), "{\"n\":2}".to_owned())]
    );
    save(store, first).await;
    assert_eq!(store.keep_waiting_event(&shop, &key, "c", "{}", now).await.unwrap(), Waiting::OrderExists);
    store.forget_waiting_event(&shop, &key, "a").await.unwrap();
    assert_eq!(store.waiting_events(&shop, &key).await.unwrap(), [("b".to_owned(), "{\"n\":2}".to_owned())]);
    assert_eq!(store.keep_waiting_event(&shop, &other, "z", "{}", now).await.unwrap(), Waiting::Kept);
    store.erase_shop(&shop).await.unwrap();
    assert_eq!(store.waiting_events(&shop, &other).await.unwrap(), [], "erased with the shop");
}
