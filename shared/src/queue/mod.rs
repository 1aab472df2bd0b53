//! The queue port: hand a typed [`Message`] to the next stage. SQS adapter and in-memory fake. The
//! port speaks domain terms only: stages are named by what they do and for which integration.

pub mod claims;
#[cfg(feature = "testing")]
pub mod memory;
pub mod message;
pub mod schema;
pub mod sqs;

use std::fmt;

use async_trait::async_trait;

pub use claims::ClaimStore;
pub use message::{Inbound, Message, Outbound, OutboundChange, PollJob, PollTask};

use crate::{domain::Integration, error::QueueError};

/// The stages that sit behind a queue. Each has its queue, its dead-letter queue and one worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    /// Verified inbound events of every integration, waiting to be normalised and stored.
    Ingest,
    /// Changes waiting to be handed to one destination. One queue per destination, so a slow partner
    /// never delays another; every one is consumed by the same outbound code.
    Outbound(Integration),
    /// One integration's poll work (windows, continuations re-queued with a delay to wait out rate
    /// limits), fed by its scheduler.
    Poll(Integration),
}

impl fmt::Display for Stage {
    /// The stage's queue name stem (`ingest`, `outbound-shopify`, `shopify-poll`): also its name in logs
    /// and in dead-letter alert ids.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stage::Ingest => f.write_str("ingest"),
            Stage::Outbound(destination) => write!(f, "outbound-{destination}"),
            Stage::Poll(integration) => write!(f, "{integration}-poll"),
        }
    }
}

#[async_trait]
pub trait MessageQueue: Send + Sync {
    /// Sends `message` to `stage`'s queue, visible after `delay_seconds` (at most 900).
    async fn send(&self, stage: Stage, message: &Message, delay_seconds: u32) -> Result<(), QueueError>;
}
