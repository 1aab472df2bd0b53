//! Issue 13 (second half): faults and limits — permanent store errors, big webhooks, big orders, big
//! shops, the alert stream's limits.

use integration_tests::TestEnv;
use shared::{
    domain::{LineItem, Money},
    error::{StoreError, WorkerError},
    store::{OrderStore, dynamo::DynamoStore},
    testing::{order, unique_shop},
};

async fn store(env: &TestEnv) -> DynamoStore {
    let sdk = shared::aws::sdk_config().await;
    DynamoStore::new(shared::aws::dynamodb(&sdk), env.stack.settings.table_name.clone())
}

/// An order DynamoDB can never store (over its 400 KB item limit) is a permanent failure for the worker,
/// not a transient one retried until the dead-letter queue.
#[tokio::test]
async fn an_item_over_dynamodbs_limit_is_a_permanent_store_error() {
    let env = TestEnv::new().await;
    let store = store(&env).await;
    let shop = unique_shop("too-big");
    let mut big = order(&shop, "9100", 1);
    big.line_items = (0..600)
        .map(|i| LineItem {
            id: format!("line-{i}"),
            title: "x".repeat(1_000),
            sku: None,
            variant_id: None,
            quantity: 1,
            price: Money::new("1.00", "USD").unwrap(),
            source: None,
            source_order_item_id: None,
        })
        .collect();
    big.version = 1;
    let error = store.write_order(&big, None, &[]).await.unwrap_err();
    assert!(matches!(error, StoreError::Rejected { .. }), "{error:?}");
    assert!(!error.is_transient());
    assert!(matches!(WorkerError::from(error), WorkerError::Permanent(_)));
    assert!(store.get_order(&shop, &big.key()).await.unwrap().is_none());
}
