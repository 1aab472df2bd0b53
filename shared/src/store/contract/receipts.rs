#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::Utc;

use crate::{
    domain::Integration,
    store::{ReceiptStore, Recorded, WebhookReceipt},
    testing::unique_shop,
};

pub(super) async fn receipts_dedupe_only_after_completion<S: ReceiptStore>(store: &S) {
    let receipt = WebhookReceipt {
        shop: unique_shop("contract-receipts"),
        source: Integration::Shopify,
        delivery_id: "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043".into(),
        event_id: Some("e1".into()),
        topic: "orders/create".into(),
        received_at: Utc::now(),
    };
    assert_eq!(store.begin_receipt(&receipt).await.unwrap(), Recorded::New);
    assert_eq!(store.begin_receipt(&receipt).await.unwrap(), Recorded::New, "not handed on yet: a retry may finish it");
    let other_source = WebhookReceipt { source: Integration::MasonHub, ..receipt.clone() };
    assert_eq!(store.begin_receipt(&other_source).await.unwrap(), Recorded::New, "ids are per source");
    store.complete_receipt(&receipt.shop, receipt.source, &receipt.delivery_id).await.unwrap();
    assert_eq!(store.begin_receipt(&receipt).await.unwrap(), Recorded::Duplicate);
}
