#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{TimeZone, Utc};

use crate::{
    domain::{Alert, AlertKind, Integration, UpsertPlan},
    store::{
        AlertStore, DeliveryStore, ErasedOrders, OrderQuery, OrderStore, Resource, ShopRecord, ShopStatus, ShopStore,
        SyncState, SyncStore,
    },
    testing::{order, save, unique_shop},
};

use super::orders::ids_of;

pub(super) async fn a_shop_is_erased_whole_and_alone<
    S: OrderStore + AlertStore + ShopStore + DeliveryStore + SyncStore,
>(
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
    store.advance_watermark(&shop, Integration::Shopify, Resource::Orders, Utc::now(), Some("cursor")).await.unwrap();
    assert_eq!(store.shop(&shop).await.unwrap(), Some(record.clone()));
    assert!(store.active_shops().await.unwrap().contains(&shop));
    assert!(!format!("{record:?}").contains("c2VhbGVk"), "Debug hides even the sealed token");
    store.set_shop_status(&shop, ShopStatus::Uninstalled, Utc::now()).await.unwrap();
    assert_eq!(store.shop(&shop).await.unwrap().map(|r| r.status), Some(ShopStatus::Uninstalled));
    assert_eq!(store.shop_status(&shop).await.unwrap(), Some(ShopStatus::Uninstalled));
    assert!(!store.active_shops().await.unwrap().contains(&shop), "an uninstalled shop is not polled");
    assert_eq!(store.data_export(&shop, "r1").await.unwrap().as_deref(), Some("{}"));

    // A large shop is erased in bounded steps, each saying whether orders are left.
    assert_eq!(store.erase_shop_orders(&shop, 1).await.unwrap(), ErasedOrders { orders: 1, more: true });
    assert_eq!(ids_of(store, &shop, OrderQuery::default()).await.len(), 1);
    assert_eq!(store.erase_shop_orders(&shop, 1).await.unwrap(), ErasedOrders { orders: 1, more: false });
    assert_eq!(store.erase_shop_orders(&shop, 1).await.unwrap(), ErasedOrders { orders: 0, more: false });
    assert!(ids_of(store, &shop, OrderQuery::default()).await.is_empty());
    assert_eq!(store.order_detail(&shop, &order(&shop, "2", 0).key(), 10).await.unwrap(), None);
    assert_eq!(ids_of(store, &bystander, OrderQuery::default()).await, ["2", "1"], "another shop keeps its orders");

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
