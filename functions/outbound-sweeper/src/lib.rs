//! Trigger: a schedule (every minute). Two duties of the outbound side that must not depend on a
//! request arriving:
//! - relays the outbox: every effect committed with an order change but not yet on its queue (the
//!   committing caller crashed, or its send failed) older than the grace period;
//! - retries transient dead letters (429, 5xx, timeouts through the whole ladder) on a slow schedule,
//!   `DEAD_LETTER_RETRY_EVERY_SECONDS` apart for `DEAD_LETTER_RETRY_FOR_SECONDS` after they died, so a
//!   partner outage heals without a person. Refused messages wait for a replay.

use std::{collections::HashMap, sync::Arc};

use chrono::Duration;
use lambda_runtime::LambdaEvent;
use serde::Serialize;
use shared::{
    app::{
        dead_letters::{self, SlowRetry},
        outbox,
    },
    clock::{Clock, SystemClock},
    config::{ConfigError, Env, TableConfig},
    domain::Integration,
    queue::{MessageQueue, Stage, schema, sqs::SqsQueue},
    store::{DeadLetterStore, OrderStore, OutboxStore, dynamo::DynamoStore},
};

#[derive(Debug, Clone)]
pub struct Config {
    pub table: TableConfig,
    pub queues: HashMap<Stage, String>,
    pub retry: SlowRetry,
    pub grace: Duration,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::read(Env::from_process())
    }

    pub fn read(mut env: Env) -> Result<Self, ConfigError> {
        let seconds = |env: &mut Env, name: &str, default: i64| {
            Duration::seconds(env.parsed(name, default, |v| v.parse().ok().filter(|s: &i64| *s >= 0)))
        };
        let outbound = [
            Stage::Outbound(Integration::Shopify),
            Stage::Outbound(Integration::MasonHub),
            Stage::Outbound(Integration::CommerceOs),
        ];
        let config = Self {
            table: TableConfig::read(&mut env),
            queues: schema::read_urls(&mut env, &outbound),
            retry: SlowRetry {
                every: seconds(&mut env, "DEAD_LETTER_RETRY_EVERY_SECONDS", 900),
                until: seconds(&mut env, "DEAD_LETTER_RETRY_FOR_SECONDS", 86_400),
            },
            grace: seconds(&mut env, "OUTBOX_GRACE_SECONDS", outbox::SWEEP_GRACE.num_seconds()),
        };
        env.finish().map(|()| config)
    }
}

pub struct Deps {
    pub orders: Arc<dyn OrderStore>,
    pub outbox: Arc<dyn OutboxStore>,
    pub dead_letters: Arc<dyn DeadLetterStore>,
    pub queue: Arc<dyn MessageQueue>,
    pub retry: SlowRetry,
    pub grace: Duration,
    pub clock: Arc<dyn Clock>,
}

pub async fn connect(config: Config) -> Deps {
    let sdk = shared::aws::sdk_config().await;
    let store = Arc::new(DynamoStore::new(shared::aws::dynamodb(&sdk), config.table.table_name));
    Deps {
        orders: store.clone(),
        outbox: store.clone(),
        dead_letters: store,
        queue: Arc::new(SqsQueue::new(shared::aws::sqs(&sdk), config.queues)),
        retry: config.retry,
        grace: config.grace,
        clock: Arc::new(SystemClock),
    }
}

/// What one run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Report {
    pub relayed: usize,
    pub retried: usize,
}

#[tracing::instrument(skip_all, fields(stage = "outbound-sweeper"))]
pub async fn handle(deps: &Deps, _event: LambdaEvent<serde_json::Value>) -> Result<Report, lambda_runtime::Error> {
    let now = deps.clock.now();
    let relayed =
        outbox::sweep(deps.orders.as_ref(), deps.outbox.as_ref(), deps.queue.as_ref(), now, deps.grace).await?;
    let retried =
        dead_letters::retry_due(deps.orders.as_ref(), deps.dead_letters.as_ref(), deps.queue.as_ref(), deps.retry, now)
            .await?;
    tracing::info!(relayed, retried, "outbound sweep done");
    Ok(Report { relayed, retried })
}
