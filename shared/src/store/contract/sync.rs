#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{TimeZone, Utc};

use crate::{
    domain::Integration,
    store::{Resource, SyncState, SyncStore},
    testing::{order, unique_shop},
};

pub(super) async fn sync_state_only_moves_forward<S: SyncStore>(store: &S) {
    let shop = unique_shop("contract-sync");
    let at = |minute| Utc.with_ymd_and_hms(2026, 5, 1, 0, minute, 0).unwrap();
    assert_eq!(store.sync_state(&shop).await.unwrap(), SyncState::default());
    assert!(store.advance_watermark(&shop, Integration::Shopify, Resource::Orders, at(10), Some("c10")).await.unwrap());
    assert!(
        !store.advance_watermark(&shop, Integration::Shopify, Resource::Orders, at(5), Some("c5")).await.unwrap(),
        "never back"
    );
    assert!(
        !store.advance_watermark(&shop, Integration::Shopify, Resource::Orders, at(10), Some("c10b")).await.unwrap(),
        "nor in place"
    );
    assert!(store.advance_watermark(&shop, Integration::Shopify, Resource::Products, at(3), None).await.unwrap());
    assert!(store.advance_watermark(&shop, Integration::Amazon, Resource::Orders, at(4), None).await.unwrap());
    assert!(!store.advance_watermark(&shop, Integration::Amazon, Resource::Orders, at(4), None).await.unwrap());
    store.record_webhook(&shop, at(7)).await.unwrap();
    store.record_webhook(&shop, at(6)).await.unwrap();
    let state = store.sync_state(&shop).await.unwrap();
    let orders = state.watermark(Integration::Shopify, Resource::Orders).unwrap();
    assert_eq!(orders.at, at(10));
    assert_eq!(orders.cursor.as_deref(), Some("c10"));
    assert_eq!(state.watermark_at(Integration::Shopify, Resource::Products), Some(at(3)));
    assert_eq!(state.watermark_at(Integration::Amazon, Resource::Orders), Some(at(4)), "each integration its own");
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
