//! Timeline events: what the order detail shows as `{ ts, event, details }`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEvent {
    pub ts: DateTime<Utc>,
    /// A stable kind: `order_created`, `payment`, `fulfillment`, `order_cancelled`, `order_updated`, ...
    pub event: String,
    pub details: String,
}

impl TimelineEvent {
    pub fn new(ts: DateTime<Utc>, event: &str, details: String) -> Self {
        Self { ts, event: event.to_owned(), details }
    }

    /// The event's identity within its order: the same revision and kind always give the same id, so
    /// appending it twice is a no-op.
    pub fn id(&self) -> String {
        format!("{}#{}", self.ts.format("%Y-%m-%dT%H:%M:%S%.3fZ"), self.event)
    }
}
