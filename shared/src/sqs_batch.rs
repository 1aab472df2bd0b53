//! The per-record SQS batch driver. Each record is decoded and handled on its own, so one bad message
//! fails only itself: the function returns `batchItemFailures` (the event source mapping must have
//! `ReportBatchItemFailures`). A record failing on its last allowed delivery raises a dead-letter alert
//! for its shop before SQS moves it to the DLQ.

use std::future::Future;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::Utc;
use tracing::Instrument;

use crate::{
    domain::{Alert, AlertKind, StageMessage},
    error::WorkerError,
    store::AlertStore,
};

/// Runs `handle` on every record of `event` and reports the ones that failed.
/// `max_receive_count` is the queue's redrive setting, so the driver knows a record's last attempt.
pub async fn process<F, Fut>(
    event: SqsEvent,
    stage: &'static str,
    max_receive_count: u32,
    alerts: &dyn AlertStore,
    handle: F,
) -> SqsBatchResponse
where
    F: Fn(StageMessage) -> Fut,
    Fut: Future<Output = Result<(), WorkerError>>,
{
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let message_id = record.message_id.clone().unwrap_or_default();
        let span = tracing::info_span!("record", stage, message_id = %message_id, shop = tracing::field::Empty);
        let failed = process_record(record, stage, max_receive_count, alerts, &handle).instrument(span).await;
        if failed {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = message_id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}

/// Returns true when the record failed.
async fn process_record<F, Fut>(
    record: SqsMessage,
    stage: &'static str,
    max_receive_count: u32,
    alerts: &dyn AlertStore,
    handle: &F,
) -> bool
where
    F: Fn(StageMessage) -> Fut,
    Fut: Future<Output = Result<(), WorkerError>>,
{
    let message: StageMessage = match serde_json::from_str(record.body.as_deref().unwrap_or_default()) {
        Ok(message) => message,
        Err(e) => {
            // No shop to alert: the DLQ depth alarm in the template reports it.
            tracing::error!(error = %e, "undecodable message; it will reach the dead-letter queue");
            return true;
        }
    };
    tracing::Span::current().record("shop", message.shop().as_str());
    let Err(error) = handle(message.clone()).await else {
        return false;
    };
    let receive_count: u32 = record.attributes.get("ApproximateReceiveCount").and_then(|c| c.parse().ok()).unwrap_or(1);
    let last_attempt = receive_count >= max_receive_count;
    match &error {
        WorkerError::Retryable(_) if !last_attempt => {
            tracing::warn!(%error, receive_count, "will retry")
        }
        _ => tracing::error!(%error, receive_count, last_attempt, "record failed"),
    }
    if last_attempt {
        let alert = Alert {
            shop: message.shop().clone(),
            id: format!("dead-letter:{stage}:{}", record.message_id.as_deref().unwrap_or_default()),
            kind: AlertKind::DeadLetter,
            message: format!(
                "A {stage} message failed {receive_count} times and was moved to the dead-letter queue: {error}"
            ),
            order: None,
            raised_at: Utc::now(),
            cleared_at: None,
        };
        if let Err(e) = alerts.raise_alert(&alert).await {
            tracing::error!(error = %e, "could not raise the dead-letter alert");
        }
    }
    true
}
