#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{TimeZone, Utc};

use crate::{
    store::ProductStore,
    testing::{product, unique_shop},
};

pub(super) async fn products_keep_pages_levels_and_their_order<S: ProductStore>(store: &S) {
    let shop = unique_shop("contract-products");
    let at = |minute| Utc.with_ymd_and_hms(2026, 5, 1, 0, minute, 0).unwrap();
    assert!(store.put_product(&product(&shop, "p1", 600, 10)).await.unwrap());
    let (head, pages) = store.product(&shop, "p1").await.unwrap().unwrap();
    assert_eq!((head.variants.len(), pages), (250, 2), "250 on the main record, the rest on pages");
    assert_eq!(store.variant_page(&shop, "p1", 2).await.unwrap().len(), 100);
    assert_eq!(store.variant_page(&shop, "p1", 2).await.unwrap()[0].id, "v500");

    assert!(store.set_inventory_level(&shop, "inv-520", "loc-1", 4, at(11)).await.unwrap());
    assert!(store.set_inventory_level(&shop, "inv-3", "loc-1", 0, at(11)).await.unwrap());
    assert!(!store.set_inventory_level(&shop, "inv-3", "loc-1", 9, at(10)).await.unwrap(), "an older level");
    assert!(!store.set_inventory_level(&shop, "inv-unknown", "loc-1", 9, at(12)).await.unwrap());
    let page = store.variant_page(&shop, "p1", 2).await.unwrap();
    assert_eq!(page[20].quantity(), 4);
    // A warehouse names the SKU only.
    assert!(store.set_sku_level(&shop, "SKU-521", "masonhub", 7, at(11)).await.unwrap());
    assert!(!store.set_sku_level(&shop, "SKU-521", "masonhub", 1, at(10)).await.unwrap(), "an older level");
    assert!(!store.set_sku_level(&shop, "SKU-NONE", "masonhub", 1, at(12)).await.unwrap());
    assert_eq!(store.variant_page(&shop, "p1", 2).await.unwrap()[21].levels["masonhub"].available, 7);

    assert!(!store.put_product(&product(&shop, "p1", 10, 5)).await.unwrap(), "an older revision");
    assert!(store.put_product(&product(&shop, "p1", 10, 20)).await.unwrap(), "shrinks to one record");
    let (head, pages) = store.product(&shop, "p1").await.unwrap().unwrap();
    assert_eq!((head.variants.len(), pages), (10, 0));
    assert_eq!(head.variants[3].quantity(), 0, "known levels carry over a revision");
    assert!(store.variant_page(&shop, "p1", 1).await.unwrap().is_empty(), "stale pages are gone");

    store.delete_product(&shop, "p1", at(30)).await.unwrap();
    assert_eq!(store.product(&shop, "p1").await.unwrap(), None);
    assert!(!store.put_product(&product(&shop, "p1", 10, 25)).await.unwrap(), "no revival by an older update");
}
