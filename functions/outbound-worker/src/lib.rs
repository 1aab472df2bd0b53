//! Trigger: an outbound queue (one per destination: Shopify, MasonHub). Each batch goes to
//! `shared::app::outbound`, which hands the changes to their destination (MasonHub's creates up to 30
//! per request, paced by a token bucket per shop, retried on the ladder, dead-lettered) and records the
//! outcomes on the orders.

use std::sync::Arc;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;
use shared::{
    app::{
        install::TokenConfig,
        outbound::{self, CommerceOsAccess, MasonHubAccess, Outbound, RateConfig, RateLimits},
        shops::ShopifyAccessConfig,
    },
    clock::SystemClock,
    config::{ConfigError, Env, SecretsConfig, TableConfig},
    domain::Integration,
    integrations::{
        commerceos::{CommerceOsConfig, client::CommerceOsClient},
        masonhub::{MasonHubConfig, client::MasonHubClient},
    },
    queue::{MessageQueue, Stage, schema, sqs::SqsQueue},
    secrets::KmsSealer,
    sqs_batch,
    store::dynamo::DynamoStore,
};

/// The destinations this worker consumes (one queue each).
pub const DESTINATIONS: [Integration; 3] = [Integration::Shopify, Integration::MasonHub, Integration::CommerceOs];

#[derive(Debug, Clone)]
pub struct Config {
    pub table: TableConfig,
    pub shopify: ShopifyAccessConfig,
    /// The app's credentials and token endpoint, to refresh expiring offline tokens.
    pub tokens: TokenConfig,
    pub masonhub: MasonHubConfig,
    pub masonhub_rate: RateConfig,
    pub commerceos: CommerceOsConfig,
    /// CommerceOS's pace per tenant (`COMMERCEOS_RATE_PER_SECOND`, default 100, the cookbook's
    /// standard tier; `COMMERCEOS_RATE_BURST`, default 100).
    pub commerceos_rate: RateConfig,
    pub secrets: SecretsConfig,
    /// The destinations' queues: the ladder sends a retry back to its own queue.
    pub queues: std::collections::HashMap<Stage, String>,
}

impl Config {
    /// The process environment, with the Shopify app secret read from Secrets Manager
    /// (`SHOPIFY_APP_SECRET_ID`) once, at cold start.
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::read(shared::aws::function_env().await?)
    }

    pub fn read(mut env: Env) -> Result<Self, ConfigError> {
        let stages: Vec<Stage> = DESTINATIONS.iter().map(|d| Stage::Outbound(*d)).collect();
        let config = Self {
            table: TableConfig::read(&mut env),
            shopify: ShopifyAccessConfig::read(&mut env),
            tokens: TokenConfig::read(&mut env),
            masonhub: MasonHubConfig::read(&mut env),
            masonhub_rate: RateConfig::read(&mut env, "MASONHUB"),
            commerceos: CommerceOsConfig::read(&mut env),
            commerceos_rate: RateConfig::read_or(&mut env, "COMMERCEOS", RateConfig { burst: 100, per_second: 100.0 }),
            secrets: SecretsConfig::read(&mut env),
            queues: schema::read_urls(&mut env, &stages),
        };
        env.finish().map(|()| config)
    }
}

pub type Deps = Outbound;

pub async fn connect(config: Config) -> Deps {
    let sdk = shared::aws::sdk_config().await;
    let store = Arc::new(DynamoStore::new(shared::aws::dynamodb(&sdk), config.table.table_name));
    let queue: Arc<dyn MessageQueue> = Arc::new(SqsQueue::new(shared::aws::sqs(&sdk), config.queues));
    let sealer: Arc<dyn shared::secrets::Sealer> =
        Arc::new(KmsSealer::new(shared::aws::kms(&sdk), config.secrets.key_id));
    Outbound {
        deliveries: store.clone(),
        alerts: store.clone(),
        shops: store.clone(),
        tokens: shared::aws::tokens(&sdk, config.tokens, Vec::new(), store.clone(), queue.clone()),
        orders: store.clone(),
        outbox: store.clone(),
        dead_letters: store.clone(),
        queue,
        shopify: shared::aws::shopify_access(&sdk, config.shopify),
        masonhub: MasonHubAccess {
            client: MasonHubClient::new(config.masonhub.request_timeout),
            config: config.masonhub,
            connections: store.clone(),
            credentials: store.clone(),
            sealer: sealer.clone(),
        },
        commerceos: CommerceOsAccess {
            client: CommerceOsClient::new(),
            config: config.commerceos,
            connections: store.clone(),
            credentials: store,
            sealer,
        },
        rates: RateLimits::new([
            (Integration::MasonHub, config.masonhub_rate),
            (Integration::CommerceOs, config.commerceos_rate),
        ]),
        clock: Arc::new(SystemClock),
    }
}

/// The stage of the queue a batch came from, by the queue name in its records' source ARN.
fn stage_of(event: &SqsEvent) -> Stage {
    let arn = event.records.first().and_then(|r| r.event_source_arn.as_deref()).unwrap_or_default();
    DESTINATIONS
        .iter()
        .map(|d| Stage::Outbound(*d))
        .find(|stage| arn.ends_with(&stage.to_string()))
        .unwrap_or(Stage::Outbound(Integration::Shopify))
}

/// A batch of one destination's queue (the template maps each destination's queue here).
pub async fn handle(deps: &Deps, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let stage = stage_of(&event.payload);
    let (alerts, clock) = (deps.alerts.as_ref(), deps.clock.as_ref());
    Ok(sqs_batch::process_batch(event.payload, stage, alerts, clock, |messages| {
        outbound::process_batch(deps, messages)
    })
    .await)
}
