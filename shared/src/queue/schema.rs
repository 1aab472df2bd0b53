//! The queues, declared once: the local stack and tests create them from here, and a test checks
//! `infra/template.yaml` against it.

use std::collections::HashMap;

use aws_sdk_sqs::{Client, types::QueueAttributeName};

use super::Stage;
use crate::{config::Env, domain::Integration, error::QueueError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueDef {
    pub stage: Stage,
    /// Queue name stem; the DLQ is `<name>-dlq`.
    pub name: &'static str,
    /// The variable that carries the queue URL to senders.
    pub url_env: &'static str,
    /// The variable that carries the dead-letter queue URL to the DLQ monitor.
    pub dlq_url_env: &'static str,
    /// Deliveries before SQS moves a message to the dead-letter queue.
    pub max_receive_count: u32,
    /// At least six times the consuming function's timeout.
    pub visibility_timeout_seconds: u32,
    /// The consuming function's timeout.
    pub worker_timeout_seconds: u32,
}

/// The largest message body every queue (and its dead-letter queue) accepts, set explicitly: 256 KiB.
/// A batch of ten stays well under Lambda's 6 MB invocation payload; anything larger travels as a claim
/// check (`queue::claims`), which [`fits`] decides.
pub const MAX_MESSAGE_BYTES: u32 = 262_144;

/// Whether an encoded message body of `bytes` fits on a queue, with room to spare for SQS's own
/// accounting.
pub fn fits(bytes: usize) -> bool {
    bytes + 1024 <= MAX_MESSAGE_BYTES as usize
}

/// Every queue of the bundle. Adding an integration's poll or an outbound destination adds a row.
pub const QUEUES: &[QueueDef] =
    &[INGEST, OUTBOUND_SHOPIFY, OUTBOUND_MASONHUB, OUTBOUND_COMMERCEOS, SHOPIFY_POLL, AMAZON_POLL];

const INGEST: QueueDef = QueueDef {
    stage: Stage::Ingest,
    name: "ingest",
    url_env: "INGEST_QUEUE_URL",
    dlq_url_env: "INGEST_DLQ_URL",
    max_receive_count: 5,
    visibility_timeout_seconds: 180,
    worker_timeout_seconds: 30,
};

/// Shopify's pushes. The worker retries on Shopify's own ladder (`RetryLadder::SHOPIFY`, over 4 hours,
/// each rung a new delayed message) and stores dead letters itself; the redrive only catches what the
/// worker could not even record.
const OUTBOUND_SHOPIFY: QueueDef = QueueDef {
    stage: Stage::Outbound(Integration::Shopify),
    name: "outbound-shopify",
    url_env: "OUTBOUND_SHOPIFY_QUEUE_URL",
    dlq_url_env: "OUTBOUND_SHOPIFY_DLQ_URL",
    max_receive_count: 5,
    visibility_timeout_seconds: 180,
    worker_timeout_seconds: 30,
};

/// MasonHub's effects (create, update, cancel). The dispatcher retries on its own ladder with SQS
/// delays and stores dead letters itself; the redrive only catches what the worker could not even
/// record (the store unavailable five times).
const OUTBOUND_MASONHUB: QueueDef = QueueDef {
    stage: Stage::Outbound(Integration::MasonHub),
    name: "outbound-masonhub",
    url_env: "OUTBOUND_MASONHUB_QUEUE_URL",
    dlq_url_env: "OUTBOUND_MASONHUB_DLQ_URL",
    max_receive_count: 5,
    visibility_timeout_seconds: 180,
    worker_timeout_seconds: 30,
};

/// CommerceOS's effects (upsert and actions), with MasonHub's ladder and dead letters.
const OUTBOUND_COMMERCEOS: QueueDef = QueueDef {
    stage: Stage::Outbound(Integration::CommerceOs),
    name: "outbound-commerceos",
    url_env: "OUTBOUND_COMMERCEOS_QUEUE_URL",
    dlq_url_env: "OUTBOUND_COMMERCEOS_DLQ_URL",
    max_receive_count: 5,
    visibility_timeout_seconds: 180,
    worker_timeout_seconds: 30,
};

const SHOPIFY_POLL: QueueDef = QueueDef {
    stage: Stage::Poll(Integration::Shopify),
    name: "shopify-poll",
    url_env: "SHOPIFY_POLL_QUEUE_URL",
    dlq_url_env: "SHOPIFY_POLL_DLQ_URL",
    max_receive_count: 5,
    visibility_timeout_seconds: 720,
    worker_timeout_seconds: 120,
};

/// Amazon syncs: a run may wait in process for a throttle (up to 10 s per wait) and pages through a
/// window, so the worker gets 120 s.
const AMAZON_POLL: QueueDef = QueueDef {
    stage: Stage::Poll(Integration::Amazon),
    name: "amazon-poll",
    url_env: "AMAZON_POLL_QUEUE_URL",
    dlq_url_env: "AMAZON_POLL_DLQ_URL",
    max_receive_count: 5,
    visibility_timeout_seconds: 720,
    worker_timeout_seconds: 120,
};

/// The queue of `stage`, if the bundle has one.
pub fn def(stage: Stage) -> Option<&'static QueueDef> {
    QUEUES.iter().find(|def| def.stage == stage)
}

/// Every outbound destination's stage: where a committed order change's effects are relayed, so every
/// function that commits order changes sends to all of them.
pub fn outbound_stages() -> Vec<Stage> {
    QUEUES.iter().map(|def| def.stage).filter(|stage| matches!(stage, Stage::Outbound(_))).collect()
}

/// Deliveries before a record of `stage` is dead-lettered.
pub fn max_receive_count(stage: Stage) -> u32 {
    def(stage).map_or(5, |def| def.max_receive_count)
}

/// Reads the queue URL of every stage in `stages` from its variable; a stage without a queue is a
/// configuration error.
pub fn read_urls(env: &mut Env, stages: &[Stage]) -> HashMap<Stage, String> {
    let mut urls = HashMap::new();
    for &stage in stages {
        match def(stage) {
            Some(def) => {
                urls.insert(stage, env.required(def.url_env));
            }
            None => env.invalid(&stage.to_string(), "the bundle has no queue for this stage"),
        }
    }
    urls
}

/// URLs of a created queue and its dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueUrls {
    pub queue: String,
    pub dlq: String,
}

/// Creates every queue with its DLQ and redrive policy (idempotent: SQS returns the existing queue for
/// the same name and attributes). `visibility_override` shortens timeouts for tests.
pub async fn create_queues(
    client: &Client,
    prefix: &str,
    visibility_override: Option<u32>,
) -> Result<HashMap<Stage, QueueUrls>, QueueError> {
    let mut urls = HashMap::new();
    for def in QUEUES {
        let dlq = client
            .create_queue()
            .queue_name(format!("{prefix}{}-dlq", def.name))
            .attributes(QueueAttributeName::MessageRetentionPeriod, "1209600")
            .attributes(QueueAttributeName::MaximumMessageSize, MAX_MESSAGE_BYTES.to_string())
            .send()
            .await
            .map_err(|e| QueueError::unavailable("create dlq", e))?
            .queue_url
            .unwrap_or_default();
        let dlq_arn = client
            .get_queue_attributes()
            .queue_url(&dlq)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| QueueError::unavailable("dlq arn", e))?
            .attributes
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .unwrap_or_default();
        let redrive = serde_json::json!({ "deadLetterTargetArn": dlq_arn, "maxReceiveCount": def.max_receive_count });
        let queue = client
            .create_queue()
            .queue_name(format!("{prefix}{}", def.name))
            .attributes(
                QueueAttributeName::VisibilityTimeout,
                visibility_override.unwrap_or(def.visibility_timeout_seconds).to_string(),
            )
            .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
            .attributes(QueueAttributeName::MaximumMessageSize, MAX_MESSAGE_BYTES.to_string())
            .send()
            .await
            .map_err(|e| QueueError::unavailable("create queue", e))?
            .queue_url
            .unwrap_or_default();
        urls.insert(def.stage, QueueUrls { queue, dlq });
    }
    Ok(urls)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_queue_is_named_after_its_stage() {
        for def in QUEUES {
            assert_eq!(def.name, def.stage.to_string());
            let stem = def.name.to_ascii_uppercase().replace('-', "_");
            assert_eq!((def.url_env, def.dlq_url_env), (&*format!("{stem}_QUEUE_URL"), &*format!("{stem}_DLQ_URL")));
            assert!(def.visibility_timeout_seconds >= 6 * def.worker_timeout_seconds);
        }
    }
}
