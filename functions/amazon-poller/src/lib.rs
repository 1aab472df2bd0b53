//! Trigger: the Amazon poll queue (jobs from `amazon-scheduler`, carried-over runs from this worker and
//! the admin sync). Each job runs `shared::app::poll::amazon`: a window of orders from the watermark,
//! idempotent upserts, the canonical order write path; a throttled run is re-queued with an SQS delay.

use std::sync::Arc;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;
use shared::{
    app::poll::amazon::{self, AmazonPoll},
    clock::{Clock, SystemClock},
    config::{ConfigError, Env, SecretsConfig, TableConfig},
    domain::Integration,
    integrations::amazon::{SpApiConfig, client::SpApiClient},
    queue::{Stage, schema, sqs::SqsQueue},
    secrets::KmsSealer,
    sqs_batch,
    store::dynamo::DynamoStore,
};

const STAGE: Stage = Stage::Poll(Integration::Amazon);

#[derive(Debug, Clone)]
pub struct Config {
    pub table: TableConfig,
    pub spapi: SpApiConfig,
    pub secrets: SecretsConfig,
    pub queues: std::collections::HashMap<Stage, String>,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::read(Env::from_process())
    }

    pub fn read(mut env: Env) -> Result<Self, ConfigError> {
        let config = Self {
            table: TableConfig::read(&mut env),
            spapi: SpApiConfig::read(&mut env),
            secrets: SecretsConfig::read(&mut env),
            queues: schema::read_urls(&mut env, &[schema::outbound_stages(), vec![STAGE]].concat()),
        };
        env.finish().map(|()| config)
    }
}

pub type Deps = AmazonPoll;

pub async fn connect(config: Config) -> Deps {
    let sdk = shared::aws::sdk_config().await;
    let store = Arc::new(DynamoStore::new(shared::aws::dynamodb(&sdk), config.table.table_name));
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    AmazonPoll {
        client: Arc::new(SpApiClient::new(config.spapi, clock.clone())),
        connections: store.clone(),
        credentials: store.clone(),
        sync: store.clone(),
        mirror: store.clone(),
        orders: store.clone(),
        alerts: store.clone(),
        outbox: store,
        sealer: Arc::new(KmsSealer::new(shared::aws::kms(&sdk), config.secrets.key_id)),
        queue: Arc::new(SqsQueue::new(shared::aws::sqs(&sdk), config.queues)),
        clock,
    }
}

pub async fn handle(deps: &Deps, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let (alerts, clock) = (deps.alerts.as_ref(), deps.clock.as_ref());
    Ok(sqs_batch::process(event.payload, STAGE, alerts, clock, |message| amazon::process(deps, message)).await)
}
