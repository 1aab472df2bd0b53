//! Timeline events: what the order detail shows as `{ ts, event, details }`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEvent {
    pub ts: DateTime<Utc>,
    /// A stable kind: `order_created`, `payment`, `fulfillment`, `order_cancelled`, `order_updated`, ...
    pub event: String,
    pub details: String,
    /// The upstream record the event reports (`refund/42`, `return/7`), when it has its own id: part of
    /// the event's identity, so two records of the same kind in the same second are two events and a
    /// redelivery of one is still one. Only the key carries it; the contract shows `{ ts, event, details }`.
    #[serde(skip)]
    pub source: Option<String>,
}

impl TimelineEvent {
    pub fn new(ts: DateTime<Utc>, event: &str, details: String) -> Self {
        Self { ts, event: event.to_owned(), details, source: None }
    }

    /// The event as reported by the upstream record `source` (its kind and id, e.g. `refund/42`).
    pub fn from_source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// The event's identity within its order: the same revision (or source record) and kind always give
    /// the same id, so appending it twice is a no-op. Nothing in it depends on when it was processed.
    pub fn id(&self) -> String {
        let ts = self.ts.format("%Y-%m-%dT%H:%M:%S%.3fZ");
        match &self.source {
            Some(source) => format!("{ts}#{}#{source}", self.event),
            None => format!("{ts}#{}", self.event),
        }
    }
}
