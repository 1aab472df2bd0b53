//! `spapi-poll`: the scheduled Amazon orders sync. The schedule fans out one [`SyncJob`] per active
//! connection onto the amazon-sync queue; the same function consumes that queue, runs each job through
//! the shared sync (watermark on last-updated time with an overlap, idempotent upserts, the canonical
//! order write path) and records the outcome on the connection. A throttled job is re-queued with an SQS
//! delay rather than waited out inside the Lambda. A failed job records `error` with its message and
//! raises an alert (`shared::app::poll::amazon::run_and_record`); the next scheduled run tries again.

use std::{collections::HashMap, sync::Arc};

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;
use serde::Serialize;
use shared::{
    app::poll::amazon::{self as sync, SyncDeps, SyncJob},
    clock::{Clock, SystemClock},
    config::{ConfigError, Env, SecretsConfig, TableConfig},
    domain::StageMessage,
    error::{StoreError, WorkerError},
    integrations::amazon::{SpApiConfig, client::SpApiClient},
    queue::{MessageQueue, Stage, schema, sqs::SqsQueue},
    secrets::{KmsSealer, Sealer},
    sqs_batch,
    store::{AlertStore, OrderStore, amazon::AmazonStore, dynamo::DynamoStore},
};

const STAGE: &str = "amazon-sync";

#[derive(Debug, Clone)]
pub struct Config {
    pub table: TableConfig,
    pub spapi: SpApiConfig,
    pub secrets: SecretsConfig,
    pub amazon_sync_queue_url: String,
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
            amazon_sync_queue_url: env.required(schema::def(Stage::AmazonSync).url_env),
        };
        env.finish().map(|()| config)
    }
}

pub struct Deps {
    pub amazon: Arc<dyn AmazonStore>,
    pub orders: Arc<dyn OrderStore>,
    pub alerts: Arc<dyn AlertStore>,
    pub sealer: Arc<dyn Sealer>,
    pub client: Arc<SpApiClient>,
    pub queue: Arc<dyn MessageQueue>,
    pub clock: Arc<dyn Clock>,
}

impl Deps {
    pub async fn connect(config: Config) -> Self {
        let sdk = shared::aws::sdk_config().await;
        let store = Arc::new(DynamoStore::new(shared::aws::dynamodb(&sdk), config.table.table_name));
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        Self {
            amazon: store.clone(),
            orders: store.clone(),
            alerts: store,
            sealer: Arc::new(KmsSealer::new(shared::aws::kms(&sdk), config.secrets.key_id)),
            client: Arc::new(SpApiClient::new(config.spapi, clock.clone())),
            queue: Arc::new(SqsQueue::new(
                shared::aws::sqs(&sdk),
                HashMap::from([(Stage::AmazonSync, config.amazon_sync_queue_url)]),
            )),
            clock,
        }
    }

    fn sync_deps(&self) -> SyncDeps<'_> {
        SyncDeps {
            client: &self.client,
            amazon: self.amazon.as_ref(),
            orders: self.orders.as_ref(),
            alerts: self.alerts.as_ref(),
            sealer: self.sealer.as_ref(),
        }
    }
}

/// What a scheduled run did.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Report {
    /// Sync jobs enqueued, one per active connection.
    pub enqueued: usize,
}

/// Both triggers: an SQS batch (it has `Records`) or a schedule event (anything else).
pub async fn handle(
    deps: &Deps,
    event: LambdaEvent<serde_json::Value>,
) -> Result<serde_json::Value, lambda_runtime::Error> {
    let (payload, context) = (event.payload, event.context);
    if payload.get("Records").is_some_and(serde_json::Value::is_array) {
        let batch: SqsEvent = serde_json::from_value(payload)?;
        let response = handle_sqs(deps, LambdaEvent::new(batch, context)).await?;
        Ok(serde_json::to_value(response)?)
    } else {
        let report = handle_schedule(deps, LambdaEvent::new(payload, context)).await?;
        Ok(serde_json::to_value(report)?)
    }
}

#[tracing::instrument(skip_all, fields(stage = "spapi-poll"))]
pub async fn handle_schedule(
    deps: &Deps,
    _event: LambdaEvent<serde_json::Value>,
) -> Result<Report, lambda_runtime::Error> {
    Ok(fan_out(deps).await?)
}

/// One job per active connection (a GSI query; no scan).
pub async fn fan_out(deps: &Deps) -> Result<Report, anyhow::Error> {
    let mut report = Report::default();
    for shop in deps.amazon.active_amazon_connections().await? {
        let job = SyncJob { shop, dry_run: false, include_items: true, resume: None };
        deps.queue.send(Stage::AmazonSync, &StageMessage::AmazonSync(job), 0).await?;
        report.enqueued += 1;
    }
    tracing::info!(enqueued = report.enqueued, "Amazon syncs enqueued");
    Ok(report)
}

pub async fn handle_sqs(deps: &Deps, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let max_receive_count = schema::def(Stage::AmazonSync).max_receive_count;
    Ok(sqs_batch::process(event.payload, STAGE, max_receive_count, deps.alerts.as_ref(), |message| step(deps, message))
        .await)
}

/// Runs one job. A sync failure is recorded and alerted, not retried here (the schedule retries); a
/// store or queue failure is retried by SQS.
pub async fn step(deps: &Deps, message: StageMessage) -> Result<(), WorkerError> {
    let StageMessage::AmazonSync(job) = message else {
        return Err(WorkerError::Permanent(anyhow::anyhow!("not an Amazon sync job")));
    };
    let Some(connection) = deps.amazon.amazon_connection(&job.shop).await? else {
        tracing::info!(shop = %job.shop, "no Amazon connection any more; job dropped");
        return Ok(());
    };
    if !connection.active {
        tracing::info!(shop = %job.shop, "Amazon connection inactive; job dropped");
        return Ok(());
    }
    let report = sync::run_and_record(deps.sync_deps(), &connection, &job, deps.clock.now())
        .await
        .map_err(|e: StoreError| WorkerError::from(e))?;
    if let Some((next, delay)) = report.carry_over {
        deps.queue.send(Stage::AmazonSync, &StageMessage::AmazonSync(next), delay).await?;
    }
    tracing::info!(
        shop = %job.shop,
        status = %report.result.status,
        orders = report.result.orders,
        items = report.result.items,
        "Amazon sync job done"
    );
    Ok(())
}
