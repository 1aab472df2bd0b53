//! The per-record SQS batch driver. Each record is decoded and handled on its own, so one bad message
//! fails only itself: the function returns `batchItemFailures` (the event source mapping must have
//! `ReportBatchItemFailures`). A record failing on its last allowed delivery raises a dead-letter alert
//! for its shop before SQS moves it to the DLQ.

use std::future::Future;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use tracing::Instrument;

use crate::{
    app::alerts,
    clock::Clock,
    error::WorkerError,
    queue::{Message, Stage, schema},
    store::AlertStore,
};

/// Runs `handle` on every record of `event`, a batch of `stage`'s queue, and reports the ones that
/// failed. The queue's redrive setting tells the driver a record's last attempt.
pub async fn process<F, Fut>(
    event: SqsEvent,
    stage: Stage,
    store: &dyn AlertStore,
    clock: &dyn Clock,
    handle: F,
) -> SqsBatchResponse
where
    F: Fn(Message) -> Fut,
    Fut: Future<Output = Result<(), WorkerError>>,
{
    let mut response = SqsBatchResponse::default();
    let name = stage.to_string();
    for record in event.records {
        let message_id = record.message_id.clone().unwrap_or_default();
        let span = tracing::info_span!("record", stage = %name, message_id = %message_id, shop = tracing::field::Empty);
        let failed = process_record(record, stage, store, clock, &handle).instrument(span).await;
        if failed {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = message_id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}

/// Like [`process`], for a worker that works the whole batch at once (MasonHub's creates go out up to
/// 30 per request): every decodable record's message is handed to `handle` together, which answers one
/// result per message, in order.
pub async fn process_batch<F, Fut>(
    event: SqsEvent,
    stage: Stage,
    store: &dyn AlertStore,
    clock: &dyn Clock,
    handle: F,
) -> SqsBatchResponse
where
    F: FnOnce(Vec<Message>) -> Fut,
    Fut: Future<Output = Vec<Result<(), WorkerError>>>,
{
    let mut response = SqsBatchResponse::default();
    let mut decoded: Vec<(SqsMessage, Message)> = Vec::new();
    for record in event.records {
        match serde_json::from_str::<Message>(record.body.as_deref().unwrap_or_default()) {
            Ok(message) => decoded.push((record, message)),
            Err(e) => {
                tracing::error!(stage = %stage, error = %e, "undecodable message; it will reach the dead-letter queue");
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = record.message_id.clone().unwrap_or_default();
                response.batch_item_failures.push(failure);
            }
        }
    }
    let results = handle(decoded.iter().map(|(_, m)| m.clone()).collect()).await;
    for ((record, message), result) in decoded.into_iter().zip(results) {
        let Err(error) = result else { continue };
        let message_id = record.message_id.clone().unwrap_or_default();
        failed(&record, &message, &error, stage, store, clock).await;
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = message_id;
        response.batch_item_failures.push(failure);
    }
    response
}

/// Logs a failed record and, on its last attempt, raises its dead-letter alert.
async fn failed(
    record: &SqsMessage,
    message: &Message,
    error: &WorkerError,
    stage: Stage,
    store: &dyn AlertStore,
    clock: &dyn Clock,
) {
    let receive_count: u32 = record.attributes.get("ApproximateReceiveCount").and_then(|c| c.parse().ok()).unwrap_or(1);
    let last_attempt = receive_count >= schema::max_receive_count(stage);
    match error {
        WorkerError::Retryable(_) if !last_attempt => {
            tracing::warn!(shop = %message.shop(), %error, receive_count, "will retry")
        }
        _ => tracing::error!(shop = %message.shop(), %error, receive_count, last_attempt, "record failed"),
    }
    if last_attempt {
        let message_id = record.message_id.as_deref().unwrap_or_default();
        let alert = alerts::dead_letter(message.shop(), stage, message_id, Some((receive_count, error)), clock.now());
        if let Err(e) = store.raise_alert(&alert).await {
            tracing::error!(error = %e, "could not raise the dead-letter alert");
        }
    }
}

/// Returns true when the record failed.
async fn process_record<F, Fut>(
    record: SqsMessage,
    stage: Stage,
    store: &dyn AlertStore,
    clock: &dyn Clock,
    handle: &F,
) -> bool
where
    F: Fn(Message) -> Fut,
    Fut: Future<Output = Result<(), WorkerError>>,
{
    let message: Message = match serde_json::from_str(record.body.as_deref().unwrap_or_default()) {
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
    failed(&record, &message, &error, stage, store, clock).await;
    true
}
