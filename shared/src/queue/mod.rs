//! The queue port: hand a typed [`StageMessage`] to the next stage. SQS adapter and in-memory fake.

#[cfg(feature = "testing")]
pub mod memory;
pub mod schema;
pub mod sqs;

use async_trait::async_trait;

use crate::{domain::StageMessage, error::QueueError};

/// The stages that sit behind a queue. Each has its queue, its dead-letter queue and one worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    /// Verified channel events waiting to be normalised and stored.
    Ingest,
    /// Changes made on the dashboard, waiting to be handed to Shopify, the ERP or support.
    Outbound,
    /// Shopify poll work: order windows and subscription checks, re-queued with a delay to wait out
    /// rate limits.
    ShopifyPoll,
    /// Amazon SP-API orders syncs, one per connection and run, carried over with a delay when throttled.
    AmazonSync,
}

#[async_trait]
pub trait MessageQueue: Send + Sync {
    /// Sends `message` to `stage`'s queue, visible after `delay_seconds` (at most 900).
    async fn send(&self, stage: Stage, message: &StageMessage, delay_seconds: u32) -> Result<(), QueueError>;
}
