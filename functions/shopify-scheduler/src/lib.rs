//! Trigger: an EventBridge schedule, or a manual invocation with `{"backfill": {"shop", "from",
//! "until"}}`. Queues the Shopify poll's jobs per active shop (`shared::app::poll::shopify_schedule`);
//! `shopify-poller` does the work.

use std::sync::Arc;

use chrono::TimeDelta;
use lambda_runtime::LambdaEvent;
use shared::{
    app::poll::shopify_schedule::{ScheduleError, ShopifySchedule},
    clock::SystemClock,
    config::{ConfigError, Env, TableConfig},
    domain::Integration,
    queue::{Stage, schema, sqs::SqsQueue},
    store::dynamo::DynamoStore,
};

pub use shared::app::poll::shopify_schedule::{Backfill, Invocation, Report, run};

#[derive(Debug, Clone)]
pub struct Config {
    pub table: TableConfig,
    pub queues: std::collections::HashMap<Stage, String>,
    /// How far before the watermark each window starts (Shopify's search index lags writes).
    pub overlap: TimeDelta,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::read(Env::from_process())
    }

    pub fn read(mut env: Env) -> Result<Self, ConfigError> {
        let config = Self {
            table: TableConfig::read(&mut env),
            queues: schema::read_urls(&mut env, &[Stage::Poll(Integration::Shopify)]),
            overlap: TimeDelta::seconds(env.parsed("SHOPIFY_POLL_OVERLAP_SECONDS", 120, |v| v.parse().ok())),
        };
        env.finish().map(|()| config)
    }
}

pub type Deps = ShopifySchedule;

pub async fn connect(config: Config) -> Deps {
    let sdk = shared::aws::sdk_config().await;
    let store = Arc::new(DynamoStore::new(shared::aws::dynamodb(&sdk), config.table.table_name));
    ShopifySchedule {
        shops: store.clone(),
        sync: store.clone(),
        alerts: store,
        queue: Arc::new(SqsQueue::new(shared::aws::sqs(&sdk), config.queues)),
        clock: Arc::new(SystemClock),
        overlap: config.overlap,
    }
}

pub async fn handle(deps: &Deps, event: LambdaEvent<serde_json::Value>) -> Result<Report, lambda_runtime::Error> {
    let invocation: Invocation =
        serde_json::from_value(event.payload).map_err(|e| ScheduleError::Invalid(e.to_string()))?;
    Ok(run(deps, invocation).await?)
}
