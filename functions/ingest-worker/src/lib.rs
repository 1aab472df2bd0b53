//! Trigger: the ingest queue. Normalises channel events into canonical orders and stores them with a
//! version-guarded write, so duplicates and out-of-order deliveries never replace newer state.

use std::sync::Arc;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;
use shared::{
    clock::{Clock, SystemClock},
    config::{ConfigError, Env, TableConfig},
    domain::{StageMessage, message::ShopifyWebhook},
    error::WorkerError,
    orders::{self, ChangeError},
    queue::{Stage, schema},
    shopify::model::ShopifyOrder,
    sqs_batch,
    store::{AlertStore, OrderStore, dynamo::DynamoStore},
};

const STAGE: &str = "ingest";

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
    pub clock: Arc<dyn Clock>,
}

impl Deps {
    pub async fn connect(config: Config) -> Self {
        let store = Arc::new(DynamoStore::connect(config.table.table_name).await);
        Self { orders: store.clone(), alerts: store, clock: Arc::new(SystemClock) }
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
        StageMessage::Outbound(_) => {
            Err(WorkerError::Permanent(anyhow::anyhow!("an outbound message on the ingest queue")))
        }
    }
}

async fn shopify_webhook(deps: &Deps, webhook: ShopifyWebhook) -> Result<(), WorkerError> {
    match webhook.topic.as_str() {
        "orders/create" | "orders/updated" => {
            let order =
                ShopifyOrder::parse(&webhook.payload, webhook.shop).map_err(|e| WorkerError::Permanent(e.into()))?;
            let applied =
                orders::apply_revision(deps.orders.as_ref(), deps.alerts.as_ref(), order, deps.clock.now()).await;
            applied.map(drop).map_err(|e| match e {
                ChangeError::Store(e) => e.into(),
                other => WorkerError::Retryable(other.into()),
            })
        }
        topic => {
            tracing::info!(topic, "topic not handled by this version; dropped");
            Ok(())
        }
    }
}
