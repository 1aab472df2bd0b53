//! The contract every [`AmazonStore`] adapter meets (feature `testing`); the integration tests run it
//! against DynamoDB (moto) and the in-memory store.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{Duration, TimeZone, Utc};
use serde_json::json;

use super::{
    ApiVersion, Region,
    model::{AmazonOrder, AmazonOrderItem},
};
use crate::{
    domain::{Money, ShopDomain},
    store::{
        Recorded, ShopStore, WriteOutcome,
        amazon::{AmazonConnection, AmazonStore, CheckResult, SealedCredential, SyncResult, Upserted},
    },
    testing::unique_shop,
};

fn connection(shop: &ShopDomain) -> AmazonConnection {
    let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    AmazonConnection {
        shop: shop.clone(),
        seller_id: "A2SELLER".into(),
        region: Region::Eu,
        marketplace_ids: vec!["A1PA6795UKMFR9".into()],
        api_version: ApiVersion::V2026,
        owner_sub: "owner".into(),
        active: true,
        created_at: at,
        updated_at: at,
        status: Default::default(),
        version: 1,
    }
}

fn order(id: &str, minute: i64) -> AmazonOrder {
    let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    AmazonOrder {
        amazon_order_id: id.into(),
        marketplace_id: "A1PA6795UKMFR9".into(),
        purchase_date: at + Duration::hours(minute),
        last_update_date: at + Duration::hours(minute) + Duration::minutes(minute),
        order_status: "Unshipped".into(),
        order_total: Some(Money::new("10.00", "EUR").unwrap()),
        fulfillment_channel: Some("MFN".into()),
        raw_payload: json!({ "AmazonOrderId": id, "minute": minute }),
    }
}

fn item(order_id: &str, id: &str) -> AmazonOrderItem {
    AmazonOrderItem {
        order_item_id: id.into(),
        amazon_order_id: order_id.into(),
        marketplace_id: "A1PA6795UKMFR9".into(),
        seller_sku: Some("SKU".into()),
        asin: Some("B0".into()),
        title: None,
        quantity_ordered: 2,
        item_price: None,
        raw_payload: json!({ "OrderItemId": id }),
    }
}

pub async fn amazon_store_contract<S: AmazonStore + ShopStore>(store: &S) {
    let shop = unique_shop("contract-amazon");
    assert!(store.amazon_connection(&shop).await.unwrap().is_none());

    // The first creator wins; settings updates are version-guarded and keep the recorded status.
    let first = connection(&shop);
    assert_eq!(store.create_amazon_connection(&first).await.unwrap(), Recorded::New);
    let mut usurper = connection(&shop);
    usurper.owner_sub = "other".into();
    assert_eq!(store.create_amazon_connection(&usurper).await.unwrap(), Recorded::Duplicate);
    assert_eq!(store.amazon_connection(&shop).await.unwrap().unwrap(), first);
    let at = Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap();
    store.record_amazon_check(&shop, &CheckResult { at, ok: false, error: Some("denied".into()) }).await.unwrap();
    let sync = SyncResult { at, status: "ok".into(), error: None, orders: 3, items: 5 };
    store.record_amazon_sync(&shop, &sync).await.unwrap();
    let mut update = first.clone();
    update.api_version = ApiVersion::V0;
    update.version = 2;
    assert_eq!(store.update_amazon_connection(&update).await.unwrap(), WriteOutcome::Written);
    assert_eq!(store.update_amazon_connection(&update).await.unwrap(), WriteOutcome::VersionConflict);
    let stored = store.amazon_connection(&shop).await.unwrap().unwrap();
    assert_eq!((stored.api_version, stored.version, stored.owner_sub.as_str()), (ApiVersion::V0, 2, "owner"));
    assert_eq!(stored.status.last_check_ok, Some(false));
    assert_eq!(stored.status.last_check_error.as_deref(), Some("denied"));
    assert_eq!(
        (stored.status.last_orders_sync_orders_count, stored.status.last_orders_sync_items_count),
        (Some(3), Some(5))
    );
    store.record_amazon_check(&shop, &CheckResult { at, ok: true, error: None }).await.unwrap();
    assert_eq!(store.amazon_connection(&shop).await.unwrap().unwrap().status.last_check_error, None);

    // Active connections are listed; an inactive one is not.
    assert!(store.active_amazon_connections().await.unwrap().contains(&shop));
    let mut paused = stored.clone();
    paused.active = false;
    paused.version = 3;
    assert_eq!(store.update_amazon_connection(&paused).await.unwrap(), WriteOutcome::Written);
    assert!(!store.active_amazon_connections().await.unwrap().contains(&shop));

    let credential = SealedCredential {
        client_id: Some("client".into()),
        sealed_refresh_token: "c2VhbGVk".into(),
        sealed_client_secret: None,
        updated_at: at,
    };
    store.put_amazon_credential(&shop, &credential).await.unwrap();
    assert_eq!(store.amazon_credential(&shop).await.unwrap(), Some(credential));

    // The watermark only moves from the version it was read at.
    assert!(store.amazon_watermark(&shop).await.unwrap().is_none());
    assert_eq!(store.advance_amazon_watermark(&shop, at, None).await.unwrap(), WriteOutcome::Written);
    assert_eq!(store.advance_amazon_watermark(&shop, at, None).await.unwrap(), WriteOutcome::VersionConflict);
    let later = at + Duration::hours(1);
    assert_eq!(store.advance_amazon_watermark(&shop, later, Some(1)).await.unwrap(), WriteOutcome::Written);
    let mark = store.amazon_watermark(&shop).await.unwrap().unwrap();
    assert_eq!((mark.at, mark.version), (later, 2));

    // Orders: unique per (order id, marketplace), an older revision never replaces a newer one.
    let newer = order("302-1-1", 5);
    assert_eq!(store.upsert_amazon_order(&shop, &newer, &[item("302-1-1", "A")]).await.unwrap(), Upserted::Written);
    assert_eq!(store.upsert_amazon_order(&shop, &order("302-1-1", 1), &[]).await.unwrap(), Upserted::Stale);
    assert_eq!(
        store.upsert_amazon_order(&shop, &newer, &[item("302-1-1", "A"), item("302-1-1", "B")]).await.unwrap(),
        Upserted::Written
    );
    assert_eq!(store.upsert_amazon_order(&shop, &order("302-2-2", 1), &[]).await.unwrap(), Upserted::Written);
    let (got, items) = store.amazon_order(&shop, "A1PA6795UKMFR9", "302-1-1").await.unwrap().unwrap();
    assert_eq!(got, newer);
    assert_eq!(items.iter().map(|i| i.order_item_id.as_str()).collect::<Vec<_>>(), ["A", "B"]);
    assert!(store.amazon_order(&shop, "OTHER", "302-1-1").await.unwrap().is_none());
    let listed: Vec<String> =
        store.amazon_orders(&shop, 10).await.unwrap().into_iter().map(|o| o.amazon_order_id).collect();
    assert_eq!(listed, ["302-1-1", "302-2-2"], "newest purchase first");
    assert_eq!(store.amazon_orders(&shop, 1).await.unwrap().len(), 1);

    // Erasing the shop takes its Amazon data too.
    store.erase_shop(&shop).await.unwrap();
    assert!(store.amazon_connection(&shop).await.unwrap().is_none());
    assert!(store.amazon_credential(&shop).await.unwrap().is_none());
    assert!(store.amazon_orders(&shop, 10).await.unwrap().is_empty());
    assert!(store.amazon_order(&shop, "A1PA6795UKMFR9", "302-1-1").await.unwrap().is_none());
}
