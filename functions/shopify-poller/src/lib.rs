//! Trigger: the Shopify poll queue (jobs from `shopify-scheduler`, and continuations from this worker).
//! Each job runs in `shared::app::poll::shopify`: an orders or products window, or the webhook
//! subscription health check.

use std::sync::Arc;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use chrono::TimeDelta;
use lambda_runtime::LambdaEvent;
use shared::{
    app::{
        install::TokenConfig,
        poll::shopify::{self, ShopifyPoll},
        shops::ShopifyAccessConfig,
    },
    clock::SystemClock,
    config::{ConfigError, Env, TableConfig},
    domain::Integration,
    queue::{MessageQueue, Stage, schema, sqs::SqsQueue},
    sqs_batch,
    store::dynamo::DynamoStore,
};

pub use shared::app::poll::shopify::{SUBSCRIBED_TOPICS, graphql_topic};

const STAGE: Stage = Stage::Poll(Integration::Shopify);

#[derive(Debug, Clone)]
pub struct Config {
    pub table: TableConfig,
    pub shopify: ShopifyAccessConfig,
    /// The app's credentials and token endpoint, to refresh expiring offline tokens.
    pub tokens: TokenConfig,
    pub queues: std::collections::HashMap<Stage, String>,
    /// Where Shopify should deliver webhooks (the `POST /webhooks/shopify` route).
    pub webhook_callback_url: String,
    /// How far before the last webhook a recovery window starts.
    pub overlap: TimeDelta,
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
            // Every outbound queue (routed orders' effects) and the ingest queue (events that waited for
            // an order the poll stores go back there).
            queues: schema::read_urls(&mut env, &[schema::outbound_stages(), vec![STAGE, Stage::Ingest]].concat()),
            webhook_callback_url: env.required("SHOPIFY_WEBHOOK_CALLBACK_URL"),
            overlap: TimeDelta::seconds(env.parsed("SHOPIFY_POLL_OVERLAP_SECONDS", 120, |v| v.parse().ok())),
        };
        env.finish().map(|()| config)
    }
}

pub type Deps = ShopifyPoll;

pub async fn connect(config: Config) -> Deps {
    let sdk = shared::aws::sdk_config().await;
    let store = Arc::new(DynamoStore::new(shared::aws::dynamodb(&sdk), config.table.table_name));
    let queue: Arc<dyn MessageQueue> = Arc::new(SqsQueue::new(shared::aws::sqs(&sdk), config.queues));
    ShopifyPoll {
        orders: store.clone(),
        alerts: store.clone(),
        shops: store.clone(),
        sync: store.clone(),
        products: store.clone(),
        tokens: shared::aws::tokens(&sdk, config.tokens, Vec::new(), store.clone(), queue.clone()),
        connections: store.clone(),
        outbox: store,
        queue,
        shopify: shared::aws::shopify_access(&sdk, config.shopify),
        clock: Arc::new(SystemClock),
        webhook_callback_url: config.webhook_callback_url,
        overlap: config.overlap,
    }
}

pub async fn handle(deps: &Deps, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let (alerts, clock) = (deps.alerts.as_ref(), deps.clock.as_ref());
    Ok(sqs_batch::process(event.payload, STAGE, alerts, clock, |message| shopify::process(deps, message)).await)
}
