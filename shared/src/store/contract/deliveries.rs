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

/// A `delivered` record is never replaced by a later outcome (a racing `rejected`); a claim excludes
/// other holders until it expires or is released.
pub(super) async fn a_delivered_record_stays_and_claims_exclude_until_they_expire<S: DeliveryStore>(store: &S) {
    use crate::store::{Delivery, DeliveryOutcome};
    let shop = unique_shop("contract-claims");
    let key = order(&shop, "1", 0).key();
    let at = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
    let record =
        |outcome| Delivery { id: "m1".into(), kind: "fulfillment_create".into(), outcome, detail: "x".into(), at };
    store.record_delivery(&shop, &key, &record(DeliveryOutcome::Deferred)).await.unwrap();
    store.record_delivery(&shop, &key, &record(DeliveryOutcome::Delivered)).await.unwrap();
    store.record_delivery(&shop, &key, &record(DeliveryOutcome::Rejected)).await.unwrap();
    assert_eq!(store.deliveries(&shop, &key).await.unwrap(), [record(DeliveryOutcome::Delivered)]);

    let until = at + chrono::Duration::seconds(60);
    assert!(store.claim_delivery(&shop, &key, "m1", "a", at, until).await.unwrap());
    assert!(!store.claim_delivery(&shop, &key, "m1", "b", at, until).await.unwrap(), "held by a");
    assert!(store.claim_delivery(&shop, &key, "m2", "b", at, until).await.unwrap(), "another delivery");
    store.release_delivery(&shop, &key, "m1", "b").await.unwrap();
    assert!(!store.claim_delivery(&shop, &key, "m1", "b", at, until).await.unwrap(), "only a can release");
    let later = until + chrono::Duration::seconds(1);
    assert!(store.claim_delivery(&shop, &key, "m1", "b", later, later + chrono::Duration::seconds(60)).await.unwrap());
    store.release_delivery(&shop, &key, "m1", "b").await.unwrap();
    assert!(store.claim_delivery(&shop, &key, "m1", "c", later, later).await.unwrap(), "released");
    assert_eq!(store.deliveries(&shop, &key).await.unwrap().len(), 1, "claims are not delivery records");
}
