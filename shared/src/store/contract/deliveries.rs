#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{TimeZone, Utc};

use crate::{
    store::DeliveryStore,
    testing::{order, unique_shop},
};

pub(super) async fn deliveries_are_kept_once_per_message<S: DeliveryStore>(store: &S) {
    let shop = unique_shop("contract-deliveries");
    let key = order(&shop, "1", 0).key();
    let delivery = crate::store::Delivery {
        id: "m1".into(),
        kind: "assignment_sync".into(),
        outcome: crate::store::DeliveryOutcome::Skipped,
        detail: "metafields are read-only".into(),
        at: Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap(),
    };
    store.record_delivery(&shop, &key, &delivery).await.unwrap();
    store.record_delivery(&shop, &key, &delivery).await.unwrap();
    assert_eq!(store.deliveries(&shop, &key).await.unwrap(), [delivery]);
}
