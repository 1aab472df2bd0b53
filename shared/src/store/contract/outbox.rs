#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{Duration, Utc};

use crate::{
    domain::Integration,
    store::{OrderStore, OutboxStore, PendingEffect, WriteOutcome},
    testing::{order, unique_shop},
};

pub(super) async fn effects_commit_with_their_order_and_leave_once_relayed<S: OrderStore + OutboxStore>(store: &S) {
    let shop = unique_shop("contract-outbox");
    let now = Utc::now();
    let mut first = order(&shop, "1", 0);
    first.version = 1;
    let effect = |id: &str| PendingEffect {
        shop: shop.clone(),
        id: id.into(),
        destination: Integration::MasonHub,
        message: serde_json::json!({ "id": id }),
        created_at: now,
    };
    let written = store.write_order_with_effects(&first, None, &[], &[effect("e1"), effect("e2")]).await.unwrap();
    assert_eq!(written, WriteOutcome::Written);
    // A lost race commits neither the order nor its effect.
    let mut stale = first.clone();
    stale.version = 5;
    let lost = store.write_order_with_effects(&stale, Some(&stale), &[], &[effect("e3")]).await.unwrap();
    assert_eq!(lost, WriteOutcome::VersionConflict);

    let pending = store.pending_effects(&shop, now, 10).await.unwrap();
    assert_eq!(pending.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), ["e1", "e2"]);
    assert_eq!(pending[0], effect("e1"));
    assert!(store.pending_effects(&shop, now - Duration::seconds(1), 10).await.unwrap().is_empty(), "not yet due");
    store.effect_relayed(&shop, "e1").await.unwrap();
    store.effect_relayed(&shop, "unknown").await.unwrap();
    let left = store.pending_effects(&shop, now, 10).await.unwrap();
    assert_eq!(left.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), ["e2"]);
}
