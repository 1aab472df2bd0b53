//! Trigger: an EventBridge schedule (every 15 minutes by default; the template's `PollIntervalMinutes`).
//! For every active shop it queues the next orders window (from an overlap before the watermark until
//! now), the next products window and a webhook subscription check on the Shopify poll queue, and warns once per shop when
//! `read_all_orders` is missing. The `shopify-poller` does the work.
//!
//! Invoked by hand with `{"backfill": {"shop": "…", "from": "…", "until": "…"}}`, it queues a backfill of
//! the orders created in that range instead: same ingest path, resumable (each page's cursor travels
//! with the job).

use std::{collections::HashMap, sync::Arc};

use chrono::{DateTime, TimeDelta, Utc};
use lambda_runtime::LambdaEvent;
use serde::{Deserialize, Serialize};
use shared::{
    clock::{Clock, SystemClock},
    config::{ConfigError, Env, TableConfig},
    domain::{
        Alert, AlertKind, ShopDomain, StageMessage,
        message::{PollJob, PollTask, PollWindow, WindowMode},
    },
    queue::{MessageQueue, Stage, schema, sqs::SqsQueue},
    store::{AlertStore, Recorded, ShopRecord, ShopStatus, ShopStore, SyncStore, dynamo::DynamoStore},
};

#[derive(Debug, Clone)]
pub struct Config {
    pub table: TableConfig,
    pub poll_queue_url: String,
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
            poll_queue_url: env.required(schema::def(Stage::ShopifyPoll).url_env),
            overlap: TimeDelta::seconds(env.parsed("SHOPIFY_POLL_OVERLAP_SECONDS", 120, |v| v.parse().ok())),
        };
        env.finish().map(|()| config)
    }
}

pub struct Deps {
    pub shops: Arc<dyn ShopStore>,
    pub sync: Arc<dyn SyncStore>,
    pub alerts: Arc<dyn AlertStore>,
    pub queue: Arc<dyn MessageQueue>,
    pub clock: Arc<dyn Clock>,
    pub overlap: TimeDelta,
}

impl Deps {
    pub async fn connect(config: Config) -> Self {
        let sdk = shared::aws::sdk_config().await;
        let store = Arc::new(DynamoStore::new(shared::aws::dynamodb(&sdk), config.table.table_name));
        Self {
            shops: store.clone(),
            sync: store.clone(),
            alerts: store,
            queue: Arc::new(SqsQueue::new(
                shared::aws::sqs(&sdk),
                HashMap::from([(Stage::ShopifyPoll, config.poll_queue_url)]),
            )),
            clock: Arc::new(SystemClock),
            overlap: config.overlap,
        }
    }
}

/// A schedule event (only its id is used) or a backfill request.
#[derive(Debug, Deserialize)]
pub struct Invocation {
    pub id: Option<String>,
    pub backfill: Option<Backfill>,
}

#[derive(Debug, Deserialize)]
pub struct Backfill {
    pub shop: ShopDomain,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Report {
    pub shops: usize,
    pub jobs: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("invalid invocation: {0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] shared::error::StoreError),
    #[error(transparent)]
    Queue(#[from] shared::error::QueueError),
}

pub async fn handle(deps: &Deps, event: LambdaEvent<serde_json::Value>) -> Result<Report, lambda_runtime::Error> {
    let invocation: Invocation =
        serde_json::from_value(event.payload).map_err(|e| ScheduleError::Invalid(e.to_string()))?;
    Ok(run(deps, invocation).await?)
}

pub async fn run(deps: &Deps, invocation: Invocation) -> Result<Report, ScheduleError> {
    let now = deps.clock.now();
    let origin = invocation.id.unwrap_or_else(|| format!("tick-{}", now.timestamp_millis()));
    if let Some(backfill) = invocation.backfill {
        return queue_backfill(deps, backfill, origin).await;
    }
    let mut report = Report::default();
    for shop in deps.shops.active_shops().await? {
        let Some(record) = deps.shops.shop(&shop).await?.filter(|r| r.status == ShopStatus::Active) else { continue };
        if record.token.invalid_since.is_some() {
            // Shopify refuses the token: no new work until the shop reconnects (its install queues a poll).
            continue;
        }
        report.shops += 1;
        warn_without_read_all_orders(deps, &record, now).await?;
        let state = deps.sync.sync_state(&shop).await?;
        let orders = PollWindow::incremental(state.orders_watermark, record.installed_at, deps.overlap, now);
        // The first products window reads the whole catalogue.
        let products = PollWindow::incremental(state.products_watermark, DateTime::UNIX_EPOCH, deps.overlap, now);
        let tasks = [
            PollTask::Orders { window: orders, after: None },
            PollTask::Products { window: products, after: None },
            PollTask::Subscriptions,
        ];
        for task in tasks {
            let job = PollJob { shop: shop.clone(), origin: origin.clone(), task };
            deps.queue.send(Stage::ShopifyPoll, &StageMessage::ShopifyPoll(job), 0).await?;
            report.jobs += 1;
        }
    }
    tracing::info!(shops = report.shops, jobs = report.jobs, "Shopify polls queued");
    Ok(report)
}

async fn queue_backfill(deps: &Deps, backfill: Backfill, origin: String) -> Result<Report, ScheduleError> {
    if backfill.from >= backfill.until {
        return Err(ScheduleError::Invalid("backfill `from` must be before `until`".into()));
    }
    if deps.shops.shop_status(&backfill.shop).await? != Some(ShopStatus::Active) {
        return Err(ScheduleError::Invalid(format!("{} is not an active shop", backfill.shop)));
    }
    let window = PollWindow { mode: WindowMode::Backfill, from: backfill.from, until: backfill.until };
    let job = PollJob { shop: backfill.shop.clone(), origin, task: PollTask::Orders { window, after: None } };
    deps.queue.send(Stage::ShopifyPoll, &StageMessage::ShopifyPoll(job), 0).await?;
    tracing::info!(shop = %backfill.shop, from = %backfill.from, until = %backfill.until, "backfill queued");
    Ok(Report { shops: 1, jobs: 1 })
}

/// Without `read_all_orders`, orders older than 60 days are silently absent from every query: say so
/// once per shop (the alert is stored once; only its first raise logs).
async fn warn_without_read_all_orders(
    deps: &Deps,
    record: &ShopRecord,
    now: DateTime<Utc>,
) -> Result<(), ScheduleError> {
    if record.read_all_orders() {
        return Ok(());
    }
    let alert = Alert {
        shop: record.shop.clone(),
        id: "setup:read_all_orders".into(),
        kind: AlertKind::Setup,
        message:
            "The app lacks the read_all_orders scope: orders older than 60 days are invisible to the poll and backfill"
                .into(),
        order: None,
        raised_at: now,
        cleared_at: None,
    };
    if deps.alerts.raise_alert(&alert).await? == Recorded::New {
        tracing::warn!(shop = %record.shop, "read_all_orders is not granted: orders older than 60 days stay invisible");
    }
    Ok(())
}
