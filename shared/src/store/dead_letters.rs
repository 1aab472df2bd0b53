//! Dead letters of the outbound dispatcher: a partner effect that was refused (a 4xx, a per-record
//! failure) or kept failing through the retry ladder, with the request, the response, the attempts and
//! the error, waiting for a replay (or, for transient causes, the slow retry). In the shop's partition.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    domain::{Integration, ShopDomain},
    error::StoreError,
};

/// Why a message was dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadLetterCause {
    /// 429, 5xx or a timeout through the whole ladder: retried again on the slow schedule.
    Transient,
    /// The partner refused it (a 4xx, a failed record, refused credentials): waits for a replay.
    Rejected,
    /// A gap a reconciliation found (an order one side lacks): holds its re-push, waits for a replay,
    /// and is replaced by the next reconciliation.
    Gap,
}

impl DeadLetterCause {
    pub fn as_str(self) -> &'static str {
        match self {
            DeadLetterCause::Transient => "transient",
            DeadLetterCause::Rejected => "rejected",
            DeadLetterCause::Gap => "gap",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub shop: ShopDomain,
    /// The outbound message's id.
    pub id: String,
    pub destination: Integration,
    /// The order, as `channel:id`.
    pub order: String,
    /// The effect's kind (`partner_create`…).
    pub kind: String,
    /// The queue message, as sent; a replay sends it again.
    pub message: serde_json::Value,
    /// What was sent to the partner, when a request was made.
    pub request: Option<serde_json::Value>,
    /// The partner's answer (HTTP status, per-record messages or body), when there was one.
    pub response: Option<String>,
    pub attempts: u32,
    pub error: String,
    pub cause: DeadLetterCause,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the run of dead letters of this destination and cause it belongs to began: names their
    /// one alert.
    pub episode: DateTime<Utc>,
    /// Replays so far (by a person or the slow retry).
    #[serde(default)]
    pub replays: u32,
    /// When the slow retry next replays it (transient causes only, until `retry_until`).
    #[serde(default)]
    pub next_retry_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub retry_until: Option<DateTime<Utc>>,
}

#[async_trait]
pub trait DeadLetterStore: Send + Sync {
    /// Stores (replaces) the dead letter `(shop, destination, id)`.
    async fn put_dead_letter(&self, dead_letter: &DeadLetter) -> Result<(), StoreError>;

    /// The shop's dead letters, of one destination or all, oldest first.
    async fn dead_letters(
        &self,
        shop: &ShopDomain,
        destination: Option<Integration>,
    ) -> Result<Vec<DeadLetter>, StoreError>;

    /// The message delivered after all: forget its dead letter. Unknown ids do nothing.
    async fn remove_dead_letter(&self, shop: &ShopDomain, destination: Integration, id: &str)
    -> Result<(), StoreError>;
}
