//! Trigger: the ingest queue. Each inbound event is processed by `shared::app::ingest` with its source's
//! rules: canonical orders and timelines with a version-guarded write, products, shop state, fulfilment
//! routing and MasonHub's callbacks; the outbound effects of order changes are relayed after the commit.

use std::sync::Arc;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;
use shared::{
    app::{
        ingest::{self, Ingest},
        shops::ShopifyAccessConfig,
    },
    clock::SystemClock,
    config::{ConfigError, Env, TableConfig},
    domain::Integration,
    queue::{
        Stage,
        claims::{self, S3Claims},
        schema,
        sqs::SqsQueue,
    },
    sqs_batch,
    store::dynamo::DynamoStore,
};

#[derive(Debug, Clone)]
pub struct Config {
    pub table: TableConfig,
    pub shopify: ShopifyAccessConfig,
    /// The claim-check bucket bodies too large for the queue wait in.
    pub payload_bucket: String,
    /// The outbound queues the effects of order changes are relayed to, and the ingest queue itself
    /// for continuations.
    pub queues: std::collections::HashMap<Stage, String>,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::read(Env::from_process())
    }

    pub fn read(mut env: Env) -> Result<Self, ConfigError> {
        let stages = [
            Stage::Outbound(Integration::Shopify),
            Stage::Outbound(Integration::MasonHub),
            Stage::Outbound(Integration::CommerceOs),
            Stage::Ingest,
        ];
        let config = Self {
            table: TableConfig::read(&mut env),
            shopify: ShopifyAccessConfig::read(&mut env),
            payload_bucket: env.required(claims::BUCKET_ENV),
            queues: schema::read_urls(&mut env, &stages),
        };
        env.finish().map(|()| config)
    }
}

pub type Deps = Ingest;

pub async fn connect(config: Config) -> Deps {
    let sdk = shared::aws::sdk_config().await;
    let store = Arc::new(DynamoStore::new(shared::aws::dynamodb(&sdk), config.table.table_name));
    Ingest {
        orders: store.clone(),
        alerts: store.clone(),
        shops: store.clone(),
        sync: store.clone(),
        products: store.clone(),
        connections: store.clone(),
        outbox: store.clone(),
        mirror: store,
        claims: Arc::new(S3Claims::new(shared::aws::s3(&sdk), config.payload_bucket)),
        queue: Arc::new(SqsQueue::new(shared::aws::sqs(&sdk), config.queues)),
        erase_budget: ingest::ERASE_BUDGET,
        shopify: shared::aws::shopify_access(&sdk, config.shopify),
        clock: Arc::new(SystemClock),
    }
}

pub async fn handle(deps: &Deps, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let (alerts, clock) = (deps.alerts.as_ref(), deps.clock.as_ref());
    Ok(sqs_batch::process(event.payload, Stage::Ingest, alerts, clock, |message| ingest::process(deps, message)).await)
}
