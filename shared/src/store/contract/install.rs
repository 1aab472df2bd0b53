//! The contract of the install and assistant ports (`TokenStore`, `ApiKeyStore`, `AssistantStore`):
//! every adapter runs it, so the in-memory fakes cannot drift from DynamoDB.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{Duration, TimeZone, Utc};

use crate::{
    domain::{FulfillmentStatus, Integration},
    queue::{Message, PollJob, PollTask},
    store::{
        ApiKeyStore, AssistantStore, OrderStore, ProductStore, ShopRecord, ShopStatus, ShopStore, TokenStore,
        WriteOutcome,
        assistant::OrderFilter,
        install::{ApiKey, ParkedJob},
    },
    testing::{order, product, save, unique_shop},
};

pub async fn install_contract<S>(store: &S)
where
    S: TokenStore + ApiKeyStore + AssistantStore + ShopStore + OrderStore + ProductStore,
{
    shop_records_are_replaced_under_their_token_version(store).await;
    one_holder_at_a_time_has_the_token_lease(store).await;
    jobs_park_once_until_unparked(store).await;
    api_keys_are_found_by_digest_until_revoked(store).await;
    assistant_pages_continue_after_their_cursor(store).await;
}

fn record(shop: &crate::domain::ShopDomain, token: &str) -> ShopRecord {
    ShopRecord {
        shop: shop.clone(),
        status: ShopStatus::Active,
        scopes: vec!["read_orders".into()],
        sealed_token: token.into(),
        installed_at: Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap(),
        metafields_sync: false,
        token: Default::default(),
    }
}

async fn shop_records_are_replaced_under_their_token_version<S: TokenStore + ShopStore>(store: &S) {
    let shop = unique_shop("contract-token");
    assert!(store.shop_versioned(&shop).await.unwrap().is_none());
    assert_eq!(store.replace_shop(&record(&shop, "a"), None).await.unwrap(), WriteOutcome::Written);
    assert_eq!(store.replace_shop(&record(&shop, "b"), None).await.unwrap(), WriteOutcome::VersionConflict);
    let (stored, version) = store.shop_versioned(&shop).await.unwrap().unwrap();
    assert_eq!((stored.sealed_token.as_str(), version), ("a", 1));
    assert!(store.active_shops().await.unwrap().contains(&shop));

    assert_eq!(
        store.replace_shop(&record(&shop, "c"), Some((1, ShopStatus::Active))).await.unwrap(),
        WriteOutcome::Written
    );
    assert_eq!(
        store.replace_shop(&record(&shop, "d"), Some((1, ShopStatus::Active))).await.unwrap(),
        WriteOutcome::VersionConflict,
        "a stale version loses"
    );
    store.set_shop_status(&shop, ShopStatus::Uninstalled, Utc::now()).await.unwrap();
    assert_eq!(
        store.replace_shop(&record(&shop, "e"), Some((2, ShopStatus::Active))).await.unwrap(),
        WriteOutcome::VersionConflict,
        "an uninstall in between wins"
    );
    assert_eq!(
        store.replace_shop(&record(&shop, "f"), Some((2, ShopStatus::Uninstalled))).await.unwrap(),
        WriteOutcome::Written,
        "a re-install"
    );
    let (stored, version) = store.shop_versioned(&shop).await.unwrap().unwrap();
    assert_eq!((stored.sealed_token.as_str(), stored.status, version), ("f", ShopStatus::Active, 3));
    assert_eq!(store.shop(&shop).await.unwrap().unwrap().sealed_token, "f");
}

async fn one_holder_at_a_time_has_the_token_lease<S: TokenStore>(store: &S) {
    let shop = unique_shop("contract-lease");
    let now = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
    let later = now + Duration::seconds(31);
    assert!(store.claim_token_lease(&shop, "a", now, now + Duration::seconds(30)).await.unwrap());
    assert!(!store.claim_token_lease(&shop, "b", now, now + Duration::seconds(30)).await.unwrap());
    assert!(store.claim_token_lease(&shop, "a", now, now + Duration::seconds(30)).await.unwrap(), "same holder");
    assert!(store.claim_token_lease(&shop, "b", later, later + Duration::seconds(30)).await.unwrap(), "expired");
    store.release_token_lease(&shop, "a").await.unwrap();
    assert!(!store.claim_token_lease(&shop, "a", later, later).await.unwrap(), "only the holder releases");
    store.release_token_lease(&shop, "b").await.unwrap();
    assert!(store.claim_token_lease(&shop, "a", later, later).await.unwrap());
    assert!(store.claim_token_lease(&unique_shop("contract-lease-other"), "b", now, later).await.unwrap());
}

async fn jobs_park_once_until_unparked<S: TokenStore>(store: &S) {
    let shop = unique_shop("contract-park");
    let job = |origin: &str| ParkedJob {
        id: format!("id-{origin}"),
        stage: "shopify-poll".into(),
        message: Message::Poll(PollJob {
            integration: Integration::Shopify,
            shop: shop.clone(),
            origin: origin.into(),
            task: PollTask::Subscriptions,
        }),
        parked_at: Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap(),
    };
    store.park(&shop, &job("1")).await.unwrap();
    store.park(&shop, &job("1")).await.unwrap();
    store.park(&shop, &job("2")).await.unwrap();
    assert_eq!(store.parked(&shop, 10).await.unwrap(), [job("1"), job("2")]);
    store.unpark(&shop, "id-1").await.unwrap();
    assert_eq!(store.parked(&shop, 10).await.unwrap(), [job("2")]);
    assert!(store.parked(&unique_shop("contract-park-other"), 10).await.unwrap().is_empty());
}

async fn api_keys_are_found_by_digest_until_revoked<S: ApiKeyStore>(store: &S) {
    let shop = unique_shop("contract-keys");
    let digest = format!("{:064x}", Utc::now().timestamp_nanos_opt().unwrap_or_default());
    let key = ApiKey {
        shop: shop.clone(),
        id: format!("key_{}", &digest[48..]),
        digest: digest.clone(),
        prefix: "osk_1234".into(),
        label: Some("bot".into()),
        created_at: Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap(),
    };
    store.create_api_key(&key).await.unwrap();
    assert!(store.create_api_key(&key).await.is_err(), "ids and digests are unique");
    assert_eq!(store.api_key_by_digest(&digest).await.unwrap(), Some(key.clone()));
    assert_eq!(store.api_keys(&shop).await.unwrap(), std::slice::from_ref(&key));
    assert!(!store.revoke_api_key(&unique_shop("contract-keys-other"), &key.id).await.unwrap(), "another shop's");
    assert!(store.revoke_api_key(&shop, &key.id).await.unwrap());
    assert_eq!(store.api_key_by_digest(&digest).await.unwrap(), None);
    assert!(store.api_keys(&shop).await.unwrap().is_empty());
    assert!(!store.revoke_api_key(&shop, &key.id).await.unwrap());
}

async fn assistant_pages_continue_after_their_cursor<S: AssistantStore + OrderStore + ProductStore>(store: &S) {
    let shop = unique_shop("contract-assistant");
    for id in 1..=5 {
        let mut next = order(&shop, &id.to_string(), 0);
        if id == 2 {
            next.fulfillment_status = FulfillmentStatus::Fulfilled;
        }
        save(store, next).await;
    }
    let all = OrderFilter::default();
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.orders_page(&shop, &all, after.as_deref(), 2).await.unwrap();
        seen.extend(page.items.iter().map(|o| o.channel_order_id.to_string()));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, ["5", "4", "3", "2", "1"], "newest first, each once");
    let fulfilled = OrderFilter { status: Some("fulfilled".into()), ..OrderFilter::default() };
    let mut found = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.orders_page(&shop, &fulfilled, after.as_deref(), 10).await.unwrap();
        found.extend(page.items.iter().map(|o| o.channel_order_id.to_string()));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(found, ["2"]);

    for id in ["101", "102", "103"] {
        store.put_product(&product(&shop, id, 1, 1)).await.unwrap();
    }
    store.put_product(&product(&shop, "104", 1, 1)).await.unwrap();
    store.delete_product(&shop, "104", Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap()).await.unwrap();
    let first = store.products_page(&shop, None, 2).await.unwrap();
    assert_eq!(first.items.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), ["101", "102"]);
    let rest = store.products_page(&shop, first.next.as_deref(), 2).await.unwrap();
    assert_eq!(rest.items.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), ["103"], "no tombstone");

    store.put_product(&product(&shop, "200", 600, 1)).await.unwrap();
    let mut sizes = Vec::new();
    let mut page = Some(0);
    while let Some(n) = page {
        let found = store.variants_page(&shop, "200", n).await.unwrap().unwrap();
        assert_eq!(found.product_title, "Product 200");
        sizes.push(found.variants.len());
        page = found.next_page;
    }
    assert_eq!(sizes, [250, 250, 100]);
    assert!(store.variants_page(&shop, "404", 0).await.unwrap().is_none());
    assert!(store.variants_page(&shop, "104", 0).await.unwrap().is_none(), "deleted");
}
