#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{Duration, TimeZone, Utc};

use crate::{
    store::{Claim, RequestStore},
    testing::unique_shop,
};

pub(super) async fn idempotency_keys_are_claimed_completed_and_released<S: RequestStore>(store: &S) {
    let shop = unique_shop("contract-requests");
    let now = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
    assert_eq!(store.claim_request(&shop, "k1", "p1", now).await.unwrap(), Claim::Claimed);
    // A concurrent repeat finds the claim in progress, whatever its payload.
    assert_eq!(store.claim_request(&shop, "k1", "p1", now).await.unwrap(), Claim::InProgress { payload: "p1".into() });
    store.complete_request(&shop, "k1", r#"{"success":true}"#, now).await.unwrap();
    let completed = Claim::Completed { payload: "p1".into(), response: r#"{"success":true}"#.into() };
    assert_eq!(store.claim_request(&shop, "k1", "p2", now + Duration::hours(1)).await.unwrap(), completed);
    assert_eq!(
        store.claim_request(&shop, "k1", "p1", now + Duration::hours(25)).await.unwrap(),
        Claim::Claimed,
        "a completed record lives a day"
    );
    assert_eq!(
        store.claim_request(&unique_shop("contract-requests-other"), "k1", "p1", now).await.unwrap(),
        Claim::Claimed
    );

    // A failed request releases its claim; a crashed one frees the key after the in-progress expiry.
    assert_eq!(store.claim_request(&shop, "k2", "p", now).await.unwrap(), Claim::Claimed);
    store.release_request(&shop, "k2").await.unwrap();
    assert_eq!(store.claim_request(&shop, "k2", "p", now).await.unwrap(), Claim::Claimed);
    assert_eq!(
        store.claim_request(&shop, "k2", "p", now + Duration::seconds(30)).await.unwrap(),
        Claim::InProgress { payload: "p".into() }
    );
    assert_eq!(store.claim_request(&shop, "k2", "p", now + Duration::seconds(61)).await.unwrap(), Claim::Claimed);
    store.complete_request(&shop, "k2", "r", now).await.unwrap();
    store.release_request(&shop, "k2").await.unwrap();
    assert!(
        matches!(store.claim_request(&shop, "k2", "p", now).await.unwrap(), Claim::Completed { .. }),
        "releasing never drops a completed record"
    );
}
