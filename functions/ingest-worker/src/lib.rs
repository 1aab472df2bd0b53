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
    queue::{Stage, schema, sqs::SqsQueue},
    sqs_batch,
    store::dynamo::DynamoStore,
};

#[derive(Debug, Clone)]
pub struct Config {
    pub table: TableConfig,
    pub shopify: ShopifyAccessConfig,
    /// The outbound queues the effects of order changes are relayed to.
    pub queues: std::collections::HashMap<Stage, String>,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::read(Env::from_process())
    }

    pub fn read(mut env: Env) -> Result<Self, ConfigError> {
        let outbound = [Stage::Outbound(Integration::Shopify), Stage::Outbound(Integration::MasonHub)];
        let config = Self {
            table: TableConfig::read(&mut env),
            shopify: ShopifyAccessConfig::read(&mut env),
            queues: schema::read_urls(&mut env, &outbound),
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
        queue: Arc::new(SqsQueue::new(shared::aws::sqs(&sdk), config.queues)),
        shopify: shared::aws::shopify_access(&sdk, config.shopify),
        clock: Arc::new(SystemClock),
    }
}

pub async fn handle(deps: &Deps, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let (alerts, clock) = (deps.alerts.as_ref(), deps.clock.as_ref());
    Ok(sqs_batch::process(event.payload, Stage::Ingest, alerts, clock, |message| ingest::process(deps, message)).await)
}
