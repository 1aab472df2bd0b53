#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::Utc;

use crate::{store::RequestStore, testing::unique_shop};

pub(super) async fn responses_are_kept_per_shop<S: RequestStore>(store: &S) {
    let shop = unique_shop("contract-requests");
    assert_eq!(store.stored_response(&shop, "k1", Utc::now()).await.unwrap(), None);
    store.store_response(&shop, "k1", r#"{"success":true}"#, Utc::now()).await.unwrap();
    assert_eq!(store.stored_response(&shop, "k1", Utc::now()).await.unwrap().as_deref(), Some(r#"{"success":true}"#));
    assert_eq!(store.stored_response(&unique_shop("contract-requests-other"), "k1", Utc::now()).await.unwrap(), None);
}
