//! Windows of an upstream read: the scheduled (incremental) read, a recovery re-read, and a backfill.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A time window of records to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollWindow {
    pub mode: WindowMode,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowMode {
    /// The scheduled poll: by update time; completing it advances the watermark; finds data gaps.
    Incremental,
    /// Re-reading a window whose webhooks may have been dropped: by update time; finds data gaps.
    Recovery,
    /// History by creation time: no gaps (those records predate the webhooks), no watermark.
    Backfill,
}

impl PollWindow {
    /// The scheduled window: from an overlap before the watermark (or before `start`, for a shop never
    /// polled; search indexes lag writes by seconds) until `now`.
    pub fn incremental(
        watermark: Option<DateTime<Utc>>,
        start: DateTime<Utc>,
        overlap: chrono::TimeDelta,
        now: DateTime<Utc>,
    ) -> Self {
        Self { mode: WindowMode::Incremental, from: watermark.unwrap_or(start) - overlap, until: now }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    #[test]
    fn a_window_starts_an_overlap_before_the_watermark() {
        let at = |m| DateTime::parse_from_rfc3339(&format!("2026-11-22T06:{m:02}:00Z")).unwrap().to_utc();
        let window = PollWindow::incremental(Some(at(30)), at(0), TimeDelta::minutes(2), at(45));
        assert_eq!((window.from, window.until), (at(28), at(45)));
        assert_eq!(PollWindow::incremental(None, at(10), TimeDelta::minutes(2), at(45)).from, at(8));
    }
}
