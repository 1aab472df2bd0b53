#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{Duration, Utc};

use crate::{
    domain::Integration,
    store::{DeadLetter, DeadLetterCause, DeadLetterStore},
    testing::unique_shop,
};

pub(super) async fn dead_letters_are_kept_per_destination_until_removed<S: DeadLetterStore>(store: &S) {
    let shop = unique_shop("contract-dead");
    let now = Utc::now();
    let letter = |id: &str, destination: Integration, age: i64| DeadLetter {
        shop: shop.clone(),
        id: id.into(),
        destination,
        order: "shopify:1".into(),
        kind: "partner_create".into(),
        message: serde_json::json!({ "id": id }),
        request: Some(serde_json::json!([{ "customer_identifier": "x" }])),
        response: Some("400".into()),
        attempts: 5,
        error: "refused".into(),
        cause: DeadLetterCause::Rejected,
        created_at: now - Duration::seconds(age),
        updated_at: now,
        episode: now,
        replays: 0,
        next_retry_at: None,
        retry_until: None,
    };
    store.put_dead_letter(&letter("b", Integration::MasonHub, 1)).await.unwrap();
    store.put_dead_letter(&letter("a", Integration::MasonHub, 2)).await.unwrap();
    store.put_dead_letter(&letter("c", Integration::Shopify, 3)).await.unwrap();
    let mut replayed = letter("b", Integration::MasonHub, 1);
    replayed.replays = 1;
    store.put_dead_letter(&replayed).await.unwrap();

    let all = store.dead_letters(&shop, None).await.unwrap();
    assert_eq!(all.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), ["c", "a", "b"], "oldest first");
    let masonhub = store.dead_letters(&shop, Some(Integration::MasonHub)).await.unwrap();
    assert_eq!(masonhub.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(masonhub[1], replayed);
    store.remove_dead_letter(&shop, Integration::MasonHub, "a").await.unwrap();
    store.remove_dead_letter(&shop, Integration::MasonHub, "c").await.unwrap();
    let left = store.dead_letters(&shop, None).await.unwrap();
    assert_eq!(left.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), ["c", "b"]);
}
