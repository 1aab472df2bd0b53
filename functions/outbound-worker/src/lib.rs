//! Trigger: an outbound queue (one per destination). Each change goes to `shared::app::outbound`, which
//! hands it to its destination and records the outcome on the order.

use std::sync::Arc;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;
use shared::{
    app::{
        install::TokenConfig,
        outbound::{self, Outbound},
        shops::ShopifyAccessConfig,
    },
    clock::SystemClock,
    config::{ConfigError, Env, TableConfig},
    domain::Integration,
    queue::{Stage, sqs::SqsQueue},
    sqs_batch,
    store::dynamo::DynamoStore,
};

#[derive(Debug, Clone)]
pub struct Config {
    pub table: TableConfig,
    pub shopify: ShopifyAccessConfig,
    /// The app's credentials and token endpoint, to refresh expiring offline tokens.
    pub tokens: TokenConfig,
}

impl Config {
    /// The process environment, with the Shopify app secret read from Secrets Manager
    /// (`SHOPIFY_APP_SECRET_ID`) once, at cold start.
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::read(shared::aws::function_env().await?)
    }

    pub fn read(mut env: Env) -> Result<Self, ConfigError> {
        let config = Self {
            table: TableConfig::read(&mut env),
            shopify: ShopifyAccessConfig::read(&mut env),
            tokens: TokenConfig::read(&mut env),
        };
        env.finish().map(|()| config)
    }
}

pub type Deps = Outbound;

pub async fn connect(config: Config) -> Deps {
    let sdk = shared::aws::sdk_config().await;
    let store = Arc::new(DynamoStore::new(shared::aws::dynamodb(&sdk), config.table.table_name));
    // Parked messages are resumed by the install, which sends them itself: no queue needed here.
    let queue = Arc::new(SqsQueue::new(shared::aws::sqs(&sdk), Default::default()));
    Outbound {
        deliveries: store.clone(),
        alerts: store.clone(),
        shops: store.clone(),
        tokens: shared::aws::tokens(&sdk, config.tokens, Vec::new(), store, queue),
        shopify: shared::aws::shopify_access(&sdk, config.shopify),
        clock: Arc::new(SystemClock),
    }
}

/// The batch of the Shopify destination's queue (the template maps each destination's queue here).
pub async fn handle(deps: &Deps, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let stage = Stage::Outbound(Integration::Shopify);
    let (alerts, clock) = (deps.alerts.as_ref(), deps.clock.as_ref());
    Ok(sqs_batch::process(event.payload, stage, alerts, clock, |message| outbound::process(deps, message)).await)
}
