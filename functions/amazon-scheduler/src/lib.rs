//! Trigger: an EventBridge schedule (every 15 minutes). Queues one orders sync per active Amazon
//! connection on the Amazon poll queue (`shared::app::poll::amazon::schedule`); `amazon-poller` runs them.

use std::{collections::HashMap, sync::Arc};

use lambda_runtime::LambdaEvent;
use serde::{Deserialize, Serialize};
use shared::{
    app::poll::amazon,
    clock::{Clock, SystemClock},
    config::{ConfigError, Env, TableConfig},
    domain::Integration,
    queue::{MessageQueue, Stage, schema, sqs::SqsQueue},
    store::{ConnectionStore, dynamo::DynamoStore},
};

#[derive(Debug, Clone)]
pub struct Config {
    pub table: TableConfig,
    pub queues: HashMap<Stage, String>,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::read(Env::from_process())
    }

    pub fn read(mut env: Env) -> Result<Self, ConfigError> {
        let config = Self {
            table: TableConfig::read(&mut env),
            queues: schema::read_urls(&mut env, &[Stage::Poll(Integration::Amazon)]),
        };
        env.finish().map(|()| config)
    }
}

pub struct Deps {
    pub connections: Arc<dyn ConnectionStore>,
    pub queue: Arc<dyn MessageQueue>,
    pub clock: Arc<dyn Clock>,
}

pub async fn connect(config: Config) -> Deps {
    let sdk = shared::aws::sdk_config().await;
    Deps {
        connections: Arc::new(DynamoStore::new(shared::aws::dynamodb(&sdk), config.table.table_name)),
        queue: Arc::new(SqsQueue::new(shared::aws::sqs(&sdk), config.queues)),
        clock: Arc::new(SystemClock),
    }
}

/// The schedule event: only its id is used, as the jobs' origin.
#[derive(Debug, Default, Deserialize)]
pub struct Invocation {
    pub id: Option<String>,
}

/// What a scheduled run did.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Report {
    /// Sync jobs enqueued, one per active connection.
    pub enqueued: usize,
}

pub async fn handle(deps: &Deps, event: LambdaEvent<serde_json::Value>) -> Result<Report, lambda_runtime::Error> {
    let invocation: Invocation = serde_json::from_value(event.payload).unwrap_or_default();
    let origin = invocation.id.unwrap_or_else(|| format!("tick-{}", deps.clock.now().timestamp_millis()));
    let enqueued = amazon::schedule(deps.connections.as_ref(), deps.queue.as_ref(), &origin, deps.clock.now()).await?;
    Ok(Report { enqueued })
}
