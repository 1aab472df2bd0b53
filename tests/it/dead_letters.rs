//! A poison message is retried, reaches the DLQ after maxReceiveCount, and leaves an alert.

use std::time::Duration;

use integration_tests::TestEnv;
use lambda_runtime::{Context, LambdaEvent};
use shared::{
    domain::{AlertKind, Integration},
    queue::{Inbound, Message, MessageQueue, Stage, schema, sqs::SqsQueue},
    store::{AlertStore, dynamo::DynamoStore},
    testing::unique_shop,
};

#[tokio::test]
async fn a_poison_message_reaches_the_dead_letter_queue_with_an_alert() {
    let env = TestEnv::new().await;
    let shop = unique_shop("poison");
    let urls = env.stack.queues[&Stage::Ingest].clone();
    let queue = SqsQueue::new(env.stack.sqs.clone(), [(Stage::Ingest, urls.queue.clone())].into());
    let poison = Message::Inbound(Inbound {
        source: Integration::Shopify,
        shop: shop.clone(),
        topic: "orders/create".into(),
        delivery_id: "poison".into(),
        event_id: None,
        occurred_at: None,
        payload: serde_json::json!({ "id": "not-an-order" }),
        payload_ref: None,
    });
    queue.send(Stage::Ingest, &poison, 0).await.unwrap();

    let max = schema::max_receive_count(Stage::Ingest) as usize;
    let mut failures = 0;
    for _ in 0..max * 4 {
        let (received, failed) = env.stack.poll_once(Stage::Ingest, 0).await.unwrap();
        assert_eq!(received, failed, "the poison record is reported as failed, never deleted");
        failures += failed;
        if failures == max {
            break;
        }
        // The visibility timeout is 1 s in tests: a failed record comes back after it.
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    assert_eq!(failures, max, "tried exactly maxReceiveCount times");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(env.stack.poll_once(Stage::Ingest, 0).await.unwrap(), (0, 0), "moved to the DLQ, not retried again");

    let dlq = env.stack.sqs.receive_message().queue_url(&urls.dlq).visibility_timeout(0).send().await.unwrap();
    let dead = dlq.messages.unwrap_or_default();
    assert_eq!(dead.len(), 1);
    assert_eq!(serde_json::from_str::<Message>(dead[0].body.as_deref().unwrap()).unwrap(), poison);

    let sdk = shared::aws::sdk_config().await;
    let alerts = DynamoStore::new(shared::aws::dynamodb(&sdk), env.stack.settings.table_name.clone());
    let raised = alerts.alerts_since(&shop, None, 10).await.unwrap();
    assert_eq!(raised.len(), 1);
    assert_eq!(raised[0].1.kind, AlertKind::DeadLetter);
    assert!(
        raised[0].1.message.contains("order field `id`") || raised[0].1.message.contains("order payload"),
        "{}",
        raised[0].1.message
    );

    // The monitor sees the dead letter and, since the worker already raised its alert, raises no second one.
    let event = LambdaEvent::new(serde_json::json!({}), Context::default());
    let reports = dlq_monitor::handle(&integration_tests::deps!(env.stack, dlq_monitor), event).await.unwrap();
    let ingest = reports.iter().find(|r| r.queue == "ingest").unwrap();
    assert_eq!((ingest.depth, ingest.alerts_raised), (1, 0));
    assert_eq!(alerts.alerts_since(&shop, None, 10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_monitor_alerts_on_dead_letters_the_worker_never_saw_fail() {
    let env = TestEnv::new().await;
    let shop = unique_shop("crashed");
    let urls = env.stack.queues[&Stage::Ingest].clone();
    // As if the worker timed out on the last attempt: the message is in the DLQ and no alert exists.
    let dlq = SqsQueue::new(env.stack.sqs.clone(), [(Stage::Ingest, urls.dlq.clone())].into());
    let message = Message::Inbound(Inbound {
        source: Integration::Shopify,
        shop: shop.clone(),
        topic: "orders/create".into(),
        delivery_id: "w".into(),
        event_id: None,
        occurred_at: None,
        payload: serde_json::json!({}),
        payload_ref: None,
    });
    dlq.send(Stage::Ingest, &message, 0).await.unwrap();
    env.stack.sqs.send_message().queue_url(&urls.dlq).message_body("not json").send().await.unwrap();

    let event = LambdaEvent::new(serde_json::json!({}), Context::default());
    let reports = dlq_monitor::handle(&integration_tests::deps!(env.stack, dlq_monitor), event).await.unwrap();
    let ingest = reports.iter().find(|r| r.queue == "ingest").unwrap();
    assert_eq!((ingest.depth, ingest.alerts_raised, ingest.undecodable), (2, 1, 1));

    let sdk = shared::aws::sdk_config().await;
    let alerts = DynamoStore::new(shared::aws::dynamodb(&sdk), env.stack.settings.table_name.clone());
    assert_eq!(alerts.alerts_since(&shop, None, 10).await.unwrap().len(), 1);
}
