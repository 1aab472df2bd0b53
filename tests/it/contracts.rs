//! Every port adapter passes the same contract suite, so the in-memory fakes cannot drift from AWS.

use aws_sdk_sqs::types::MessageSystemAttributeName;
use integration_tests::TestEnv;
use shared::{
    queue::{Message, Stage, memory::MemoryQueue, sqs::SqsQueue},
    store::{contract::store_contract, dynamo::DynamoStore, memory::MemoryStore},
    testing::queue_contract,
};

#[tokio::test]
async fn the_memory_store_meets_the_store_contract() {
    store_contract(&MemoryStore::new()).await;
}

#[tokio::test]
async fn the_dynamodb_store_meets_the_store_contract() {
    let env = TestEnv::new().await;
    let sdk = shared::aws::sdk_config().await;
    store_contract(&DynamoStore::new(shared::aws::dynamodb(&sdk), env.stack.settings.table_name.clone())).await;
}

#[tokio::test]
async fn the_memory_store_meets_the_install_and_assistant_contract() {
    shared::store::contract::install_contract(&MemoryStore::new()).await;
}

#[tokio::test]
async fn the_dynamodb_store_meets_the_install_and_assistant_contract() {
    let env = TestEnv::new().await;
    let sdk = shared::aws::sdk_config().await;
    let store = DynamoStore::new(shared::aws::dynamodb(&sdk), env.stack.settings.table_name.clone());
    shared::store::contract::install_contract(&store).await;
}

#[tokio::test]
async fn the_memory_queue_meets_the_queue_contract() {
    let queue = MemoryQueue::new();
    queue_contract(&queue, || async { queue.sent().into_iter().map(|(_, m, _)| m).collect() }).await;
}

#[tokio::test]
async fn the_sqs_queue_meets_the_queue_contract() {
    let env = TestEnv::new().await;
    let url = env.stack.queues[&Stage::Ingest].queue.clone();
    let sqs = env.stack.sqs.clone();
    let queue = SqsQueue::new(sqs.clone(), [(Stage::Ingest, url.clone())].into());
    queue_contract(&queue, || async {
        let received = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .unwrap();
        received
            .messages
            .unwrap_or_default()
            .iter()
            .map(|m| serde_json::from_str::<Message>(m.body.as_deref().unwrap()).unwrap())
            .collect()
    })
    .await;
}
