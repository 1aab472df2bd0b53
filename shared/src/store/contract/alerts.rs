#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{Duration, TimeZone, Utc};

use crate::{
    domain::{Alert, AlertKind},
    store::{AlertStore, Recorded},
    testing::unique_shop,
};

pub(super) async fn alerts_are_stored_once_and_read_in_order<S: AlertStore>(store: &S) {
    let shop = unique_shop("contract-alerts");
    let base = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    for i in 0..3 {
        let alert = Alert {
            shop: shop.clone(),
            id: format!("a{i}"),
            kind: AlertKind::DeadLetter,
            message: format!("alert {i}"),
            order: None,
            raised_at: base + Duration::seconds(i),
            cleared_at: None,
        };
        assert_eq!(store.raise_alert(&alert).await.unwrap(), Recorded::New);
        let mut again = alert.clone();
        again.raised_at += Duration::hours(1);
        assert_eq!(store.raise_alert(&again).await.unwrap(), Recorded::Duplicate);
    }
    let all = store.alerts_since(&shop, None, 10).await.unwrap();
    assert_eq!(all.iter().map(|(_, a)| a.id.as_str()).collect::<Vec<_>>(), ["a0", "a1", "a2"]);
    let rest = store.alerts_since(&shop, Some(&all[0].0), 10).await.unwrap();
    assert_eq!(rest.iter().map(|(_, a)| a.id.as_str()).collect::<Vec<_>>(), ["a1", "a2"]);
    assert!(store.alerts_since(&unique_shop("contract-alerts-other"), None, 10).await.unwrap().is_empty());

    // Clearing moves the alert past every earlier cursor, cleared; clearing again changes nothing.
    let cleared_at = base + Duration::hours(2);
    store.clear_alert(&shop, "a0", cleared_at).await.unwrap();
    store.clear_alert(&shop, "a0", cleared_at + Duration::hours(1)).await.unwrap();
    store.clear_alert(&shop, "unknown", cleared_at).await.unwrap();
    let after = store.alerts_since(&shop, Some(&all[2].0), 10).await.unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!((after[0].1.id.as_str(), after[0].1.cleared_at), ("a0", Some(cleared_at)));
    assert_eq!(store.alerts_since(&shop, None, 10).await.unwrap().len(), 3);
}

pub(super) async fn refreshing_an_open_alert_replaces_its_message_and_moves_it<S: AlertStore>(store: &S) {
    let shop = unique_shop("contract-refresh");
    let base = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let alert = |message: &str| Alert {
        shop: shop.clone(),
        id: "tally".into(),
        kind: AlertKind::DeadLetter,
        message: message.into(),
        order: None,
        raised_at: base,
        cleared_at: None,
    };
    store.refresh_alert(&alert("1 failed"), base).await.unwrap();
    let (cursor, _) = store.alerts_since(&shop, None, 10).await.unwrap().pop().unwrap();
    store.refresh_alert(&alert("2 failed"), base + Duration::seconds(5)).await.unwrap();
    let newer = store.alerts_since(&shop, Some(&cursor), 10).await.unwrap();
    assert_eq!(newer.iter().map(|(_, a)| a.message.as_str()).collect::<Vec<_>>(), ["2 failed"]);
    assert_eq!(store.alerts_since(&shop, None, 10).await.unwrap().len(), 1, "one alert, not two");
    store.clear_alert(&shop, "tally", base + Duration::seconds(6)).await.unwrap();
    store.refresh_alert(&alert("3 failed"), base + Duration::seconds(7)).await.unwrap();
    let all = store.alerts_since(&shop, None, 10).await.unwrap();
    assert_eq!((all.len(), all[0].1.message.as_str()), (1, "2 failed"), "a cleared alert stays cleared");
    assert!(all[0].1.cleared_at.is_some());
}
