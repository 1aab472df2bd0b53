//! Trigger: a schedule. Looks into every dead-letter queue and makes sure each dead-lettered message has
//! an alert for its shop. Workers raise that alert on a record's last attempt; this catches the cases
//! they cannot (a crash or timeout on the last attempt). Alert ids match the workers', so nothing is
//! raised twice. Messages stay in the DLQ for an operator to redrive.

use std::sync::Arc;

use aws_sdk_sqs::{Client, types::QueueAttributeName};
use lambda_runtime::LambdaEvent;
use serde::Serialize;
use shared::{
    app::alerts,
    clock::{Clock, SystemClock},
    config::{ConfigError, Env, TableConfig},
    queue::{
        Message,
        schema::{QUEUES, QueueDef},
    },
    store::{AlertStore, Recorded, dynamo::DynamoStore},
};

/// Receive calls per queue and tick: bounds the work of one run to 100 messages per queue.
const MAX_BATCHES: usize = 10;

#[derive(Debug, Clone)]
pub struct Config {
    pub table: TableConfig,
    /// `(queue definition, DLQ URL)` for every stage.
    pub dead_letter_queues: Vec<(&'static QueueDef, String)>,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::read(Env::from_process())
    }

    pub fn read(mut env: Env) -> Result<Self, ConfigError> {
        let config = Self {
            table: TableConfig::read(&mut env),
            dead_letter_queues: QUEUES.iter().map(|def| (def, env.required(def.dlq_url_env))).collect(),
        };
        env.finish().map(|()| config)
    }
}

pub struct Deps {
    pub sqs: Client,
    pub alerts: Arc<dyn AlertStore>,
    pub dead_letter_queues: Vec<(&'static QueueDef, String)>,
    pub clock: Arc<dyn Clock>,
}

pub async fn connect(config: Config) -> Deps {
    let sdk = shared::aws::sdk_config().await;
    Deps {
        sqs: shared::aws::sqs(&sdk),
        alerts: Arc::new(DynamoStore::new(shared::aws::dynamodb(&sdk), config.table.table_name)),
        dead_letter_queues: config.dead_letter_queues,
        clock: Arc::new(SystemClock),
    }
}

/// What one tick found, per queue.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct QueueReport {
    pub queue: String,
    pub depth: u64,
    pub alerts_raised: u32,
    pub undecodable: u32,
}

/// Accepts any schedule envelope (EventBridge rule or Scheduler); the payload carries no input.
pub async fn handle(
    deps: &Deps,
    _event: LambdaEvent<serde_json::Value>,
) -> Result<Vec<QueueReport>, lambda_runtime::Error> {
    let mut reports = Vec::new();
    for (def, url) in &deps.dead_letter_queues {
        // One unreadable queue never stops the others.
        let report = match inspect(deps, def, url).await {
            Ok(report) => report,
            Err(e) => {
                tracing::error!(stage = def.name, error = %e, "dead-letter queue could not be inspected");
                QueueReport { queue: def.name.to_owned(), ..QueueReport::default() }
            }
        };
        if report.depth > 0 {
            tracing::error!(
                stage = def.name,
                depth = report.depth,
                alerts_raised = report.alerts_raised,
                "dead letters waiting"
            );
        }
        reports.push(report);
    }
    Ok(reports)
}

async fn inspect(deps: &Deps, def: &QueueDef, url: &str) -> Result<QueueReport, lambda_runtime::Error> {
    let attributes = deps
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await?;
    let depth = attributes
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessages))
        .and_then(|d| d.parse().ok())
        .unwrap_or(0);
    let mut report = QueueReport { queue: def.name.to_owned(), depth, ..QueueReport::default() };
    if depth == 0 {
        return Ok(report);
    }
    for _ in 0..MAX_BATCHES {
        let batch =
            deps.sqs.receive_message().queue_url(url).max_number_of_messages(10).visibility_timeout(30).send().await?;
        let messages = batch.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        for message in messages {
            let message_id = message.message_id.unwrap_or_default();
            let Ok(decoded) = serde_json::from_str::<Message>(message.body.as_deref().unwrap_or_default()) else {
                tracing::error!(stage = def.name, message_id, "undecodable dead letter");
                report.undecodable += 1;
                continue;
            };
            let alert = alerts::dead_letter(decoded.shop(), def.stage, &message_id, None, deps.clock.now());
            if deps.alerts.raise_alert(&alert).await? == Recorded::New {
                report.alerts_raised += 1;
            }
        }
    }
    Ok(report)
}
