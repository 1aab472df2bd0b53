use chrono::{Duration, TimeZone, Utc};
use serde_json::json;

use crate::{
    domain::{Integration, ShopDomain},
    store::{MirrorRecord, MirrorStore, ShopStore, Upserted},
    testing::unique_shop,
};

fn record(shop: &ShopDomain, id: &str, hour: i64, parts: &[&str]) -> MirrorRecord {
    let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    MirrorRecord {
        shop: shop.clone(),
        integration: Integration::Amazon,
        kind: "order".into(),
        id: id.into(),
        updated_at: at + Duration::hours(hour) + Duration::minutes(hour),
        sort_at: at + Duration::hours(hour),
        payload: json!({ "id": id, "hour": hour }),
        parts: parts.iter().map(|p| (p.to_string(), json!({ "part": p }))).collect(),
    }
}

pub(super) async fn mirrored_records_keep_their_newest_revision<S: MirrorStore + ShopStore>(store: &S) {
    let shop = unique_shop("contract-mirror");
    // Unique per (integration, kind, id); an older revision never replaces a newer one.
    let newer = record(&shop, "M1.302-1-1", 5, &["A"]);
    assert_eq!(store.upsert_mirror(&newer).await.unwrap(), Upserted::Written);
    assert_eq!(store.upsert_mirror(&record(&shop, "M1.302-1-1", 1, &[])).await.unwrap(), Upserted::Stale);
    assert_eq!(store.upsert_mirror(&record(&shop, "M1.302-1-1", 5, &["A", "B"])).await.unwrap(), Upserted::Written);
    assert_eq!(store.upsert_mirror(&record(&shop, "M1.302-2-2", 1, &[])).await.unwrap(), Upserted::Written);
    let other = MirrorRecord { integration: Integration::CommerceOs, ..record(&shop, "M1.302-1-1", 9, &[]) };
    assert_eq!(store.upsert_mirror(&other).await.unwrap(), Upserted::Written, "another integration's record");
    let got = store.mirror(&shop, Integration::Amazon, "order", "M1.302-1-1").await.unwrap().unwrap();
    assert_eq!(got.payload, newer.payload);
    assert_eq!(got.parts.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(), ["A", "B"]);
    assert!(store.mirror(&shop, Integration::Amazon, "order", "OTHER.302-1-1").await.unwrap().is_none());
    let listed: Vec<String> =
        store.mirrors(&shop, Integration::Amazon, "order", 10).await.unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(listed, ["M1.302-1-1", "M1.302-2-2"], "newest first, one integration and kind");
    assert_eq!(store.mirrors(&shop, Integration::Amazon, "order", 1).await.unwrap().len(), 1);

    // Erasing the shop takes its mirrored records, whatever the integration.
    store.erase_shop(&shop).await.unwrap();
    assert!(store.mirrors(&shop, Integration::Amazon, "order", 10).await.unwrap().is_empty());
    assert!(store.mirror(&shop, Integration::CommerceOs, "order", "M1.302-1-1").await.unwrap().is_none());
}
