use chrono::{TimeZone, Utc};
use serde_json::json;

use crate::{
    domain::{Integration, ShopDomain},
    store::{CheckResult, Connection, ConnectionStore, Recorded, ShopStore, SyncResult, WriteOutcome},
    testing::unique_shop,
};

fn connection(shop: &ShopDomain, integration: Integration) -> Connection {
    let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    Connection {
        shop: shop.clone(),
        integration,
        settings: json!({ "seller_id": "A2SELLER", "region": "EU" }),
        owner_sub: "owner".into(),
        active: true,
        created_at: at,
        updated_at: at,
        status: Default::default(),
        version: 1,
    }
}

pub(super) async fn connections_are_owned_versioned_and_listed<S: ConnectionStore + ShopStore>(store: &S) {
    let shop = unique_shop("contract-connections");
    assert!(store.connection(&shop, Integration::Amazon).await.unwrap().is_none());

    // The first creator wins; settings updates are version-guarded and keep the recorded status.
    let first = connection(&shop, Integration::Amazon);
    assert_eq!(store.create_connection(&first).await.unwrap(), Recorded::New);
    let usurper = Connection { owner_sub: "other".into(), ..connection(&shop, Integration::Amazon) };
    assert_eq!(store.create_connection(&usurper).await.unwrap(), Recorded::Duplicate);
    assert_eq!(store.connection(&shop, Integration::Amazon).await.unwrap().unwrap(), first);
    let other = connection(&shop, Integration::CommerceOs);
    assert_eq!(store.create_connection(&other).await.unwrap(), Recorded::New, "one connection per integration");
    let at = Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap();
    let denied = CheckResult { at, ok: false, error: Some("denied".into()) };
    store.record_check(&shop, Integration::Amazon, &denied).await.unwrap();
    let sync = SyncResult { at, status: "ok".into(), error: None, orders: 3, items: 5 };
    store.record_sync(&shop, Integration::Amazon, &sync).await.unwrap();
    let update = Connection { settings: json!({ "seller_id": "A2SELLER", "region": "NA" }), version: 2, ..first };
    assert_eq!(store.update_connection(&update).await.unwrap(), WriteOutcome::Written);
    assert_eq!(store.update_connection(&update).await.unwrap(), WriteOutcome::VersionConflict);
    let stored = store.connection(&shop, Integration::Amazon).await.unwrap().unwrap();
    assert_eq!(
        (stored.settings["region"].as_str(), stored.version, stored.owner_sub.as_str()),
        (Some("NA"), 2, "owner")
    );
    assert_eq!(stored.status.last_check_ok, Some(false));
    assert_eq!(stored.status.last_check_error.as_deref(), Some("denied"));
    assert_eq!(
        (stored.status.last_orders_sync_orders_count, stored.status.last_orders_sync_items_count),
        (Some(3), Some(5))
    );
    store.record_check(&shop, Integration::Amazon, &CheckResult { at, ok: true, error: None }).await.unwrap();
    let stored = store.connection(&shop, Integration::Amazon).await.unwrap().unwrap();
    assert_eq!(stored.status.last_check_error, None);
    assert_eq!(store.connection(&shop, Integration::CommerceOs).await.unwrap().unwrap().status, Default::default());

    // Active connections are listed per integration; an inactive one is not.
    assert!(store.active_connections(Integration::Amazon).await.unwrap().contains(&shop));
    assert!(!store.active_connections(Integration::MasonHub).await.unwrap().contains(&shop));
    let paused = Connection { active: false, version: 3, ..stored };
    assert_eq!(store.update_connection(&paused).await.unwrap(), WriteOutcome::Written);
    assert!(!store.active_connections(Integration::Amazon).await.unwrap().contains(&shop));
    assert!(store.active_connections(Integration::CommerceOs).await.unwrap().contains(&shop));

    // Erasing the shop takes every connection, whatever the integration.
    store.erase_shop(&shop).await.unwrap();
    assert!(store.connection(&shop, Integration::Amazon).await.unwrap().is_none());
    assert!(store.connection(&shop, Integration::CommerceOs).await.unwrap().is_none());
    assert!(!store.active_connections(Integration::CommerceOs).await.unwrap().contains(&shop));
}
