//! Trigger: the ingest queue. Normalises channel events into canonical orders and stores them with a
//! version-guarded write, so duplicates and out-of-order deliveries never replace newer state.

use std::sync::Arc;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;
use shared::{
    config::{ConfigError, Env, TableConfig},
    domain::{Order, StageMessage, UpsertPlan, message::ShopifyWebhook},
    error::WorkerError,
    queue::{Stage, schema},
    shopify::model::ShopifyOrder,
    sqs_batch,
    store::{AlertStore, OrderStore, WriteOutcome, dynamo::DynamoStore},
};

const STAGE: &str = "ingest";

/// Attempts at a read-decide-write cycle before a record is handed back to SQS.
const MAX_WRITE_ATTEMPTS: usize = 5;

#[derive(Debug, Clone)]
pub struct Config {
    pub table: TableConfig,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::read(Env::from_process())
    }

    pub fn read(mut env: Env) -> Result<Self, ConfigError> {
        let config = Self { table: TableConfig::read(&mut env) };
        env.finish().map(|()| config)
    }
}

pub struct Deps {
    pub orders: Arc<dyn OrderStore>,
    pub alerts: Arc<dyn AlertStore>,
}

impl Deps {
    pub async fn connect(config: Config) -> Self {
        let sdk = shared::aws::sdk_config().await;
        let store = Arc::new(DynamoStore::new(shared::aws::dynamodb(&sdk), config.table.table_name));
        Self { orders: store.clone(), alerts: store }
    }
}

pub async fn handle(deps: &Deps, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let max_receive_count = schema::def(Stage::Ingest).max_receive_count;
    Ok(sqs_batch::process(event.payload, STAGE, max_receive_count, deps.alerts.as_ref(), |message| step(deps, message))
        .await)
}

/// Handles one message.
pub async fn step(deps: &Deps, message: StageMessage) -> Result<(), WorkerError> {
    match message {
        StageMessage::ShopifyWebhook(webhook) => shopify_webhook(deps, webhook).await,
    }
}

async fn shopify_webhook(deps: &Deps, webhook: ShopifyWebhook) -> Result<(), WorkerError> {
    match webhook.topic.as_str() {
        "orders/create" | "orders/updated" => {
            let order =
                ShopifyOrder::parse(&webhook.payload, webhook.shop).map_err(|e| WorkerError::Permanent(e.into()))?;
            apply_order(deps.orders.as_ref(), order).await.map(drop)
        }
        topic => {
            tracing::info!(topic, "topic not handled by this version; dropped");
            Ok(())
        }
    }
}

/// What [`apply_order`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Written,
    Stale,
    Unchanged,
}

/// Upserts `incoming`: reads the stored revision, decides with [`UpsertPlan::decide`], and writes
/// conditionally on the version it read. A lost race re-reads and decides again.
#[tracing::instrument(skip_all, fields(shop = %incoming.shop, order = %incoming.key()))]
pub async fn apply_order(store: &dyn OrderStore, incoming: Order) -> Result<Applied, WorkerError> {
    for _ in 0..MAX_WRITE_ATTEMPTS {
        let existing = store.get_order(&incoming.shop, &incoming.key()).await?;
        let expected_version = existing.as_ref().map(|o| o.version);
        match UpsertPlan::decide(existing.as_ref(), incoming.clone()) {
            UpsertPlan::Stale => {
                tracing::info!("older revision ignored");
                return Ok(Applied::Stale);
            }
            UpsertPlan::Unchanged => return Ok(Applied::Unchanged),
            UpsertPlan::Write { order, events } => {
                if store.write_order(&order, expected_version, &events).await? == WriteOutcome::Written {
                    tracing::info!(version = order.version, events = events.len(), "order stored");
                    return Ok(Applied::Written);
                }
            }
        }
    }
    Err(WorkerError::Retryable(anyhow::anyhow!("order kept changing under concurrent writers")))
}
