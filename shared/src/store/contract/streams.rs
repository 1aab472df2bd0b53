use chrono::{Duration, Utc};

use crate::{store::StreamStore, testing::unique_shop};

pub(super) async fn stream_slots_are_capped_per_shop_and_expire<S: StreamStore>(store: &S) {
    let shop = unique_shop("contract-streams");
    let other = unique_shop("contract-streams-other");
    let now = Utc::now();
    let until = now + Duration::minutes(10);
    assert_eq!(store.open_stream(&shop, "a", 2, now, until).await.unwrap(), Some(0));
    assert_eq!(store.open_stream(&shop, "b", 2, now, now + Duration::seconds(30)).await.unwrap(), Some(1));
    assert_eq!(store.open_stream(&shop, "c", 2, now, until).await.unwrap(), None, "both slots are held");
    assert_eq!(store.open_stream(&other, "x", 2, now, until).await.unwrap(), Some(0), "per shop");

    // Closing with another lease frees nothing; closing with its own frees the slot.
    store.close_stream(&shop, 0, "c").await.unwrap();
    assert_eq!(store.open_stream(&shop, "c", 2, now, until).await.unwrap(), None);
    store.close_stream(&shop, 0, "a").await.unwrap();
    assert_eq!(store.open_stream(&shop, "c", 2, now, until).await.unwrap(), Some(0));

    // An expired lease (its function died) frees its slot by itself.
    let later = now + Duration::seconds(31);
    assert_eq!(store.open_stream(&shop, "d", 2, later, later + Duration::minutes(10)).await.unwrap(), Some(1));
    store.close_stream(&shop, 1, "b").await.unwrap();
    assert_eq!(store.open_stream(&shop, "e", 2, later, until).await.unwrap(), None, "d keeps its slot");
}
