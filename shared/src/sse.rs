//! Server-Sent Events for the alert channel. Each event's `id` is its feed cursor, so a client that
//! reconnects with `Last-Event-ID` resumes exactly after the last event it saw.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use http_body::{Body, Frame};
use tokio::sync::mpsc;

use crate::{
    domain::{Alert, ShopDomain},
    error::StoreError,
    store::AlertStore,
};

/// Alerts read per store query.
const BATCH: usize = 100;

/// One SSE event for an alert: `raised`, or `cleared` once it has been cleared.
pub fn alert_event(cursor: &str, alert: &Alert) -> String {
    let kind = if alert.cleared_at.is_some() { "cleared" } else { "raised" };
    let data = serde_json::to_string(alert).unwrap_or_else(|_| "{}".to_owned());
    format!("id: {cursor}\nevent: {kind}\ndata: {data}\n\n")
}

/// The events after `since`, as one SSE text (for the buffered fallback), and the last cursor.
pub async fn alerts_after(
    alerts: &dyn AlertStore,
    shop: &ShopDomain,
    since: Option<&str>,
) -> Result<(String, Option<String>), StoreError> {
    let found = alerts.alerts_since(shop, since, BATCH).await?;
    let text = found.iter().map(|(cursor, alert)| alert_event(cursor, alert)).collect::<String>();
    Ok((text, found.last().map(|(c, _)| c.clone())))
}

/// How a live stream behaves.
#[derive(Debug, Clone, Copy)]
pub struct StreamSettings {
    /// How often the feed is read.
    pub poll_every: Duration,
    /// A comment line keeps proxies from closing an idle stream.
    pub heartbeat_every: Duration,
    /// The stream ends after this; the client reconnects with `Last-Event-ID` (Lambda runs 15 min at most).
    pub max_duration: Duration,
}

/// A streaming response body fed by a task.
pub struct SseBody {
    rx: mpsc::Receiver<Bytes>,
}

impl SseBody {
    /// A body of exactly these bytes (an error answer).
    pub fn once(bytes: impl Into<Bytes>) -> Self {
        let (tx, rx) = mpsc::channel(1);
        let _ = tx.try_send(bytes.into());
        Self { rx }
    }
}

impl Body for SseBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.rx.poll_recv(cx).map(|chunk| chunk.map(|bytes| Ok(Frame::data(bytes))))
    }
}

/// A live alert stream for `shop`, starting after `since`. It ends when the client goes away, on a
/// store error (the client reconnects and resumes), or after `settings.max_duration`.
pub fn alert_stream(
    alerts: Arc<dyn AlertStore>,
    shop: ShopDomain,
    since: Option<String>,
    settings: StreamSettings,
) -> SseBody {
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        let started = tokio::time::Instant::now();
        let mut cursor = since;
        let mut quiet_since = tokio::time::Instant::now();
        let retry = format!("retry: {}\n\n", settings.poll_every.as_millis().max(1000));
        if tx.send(Bytes::from(retry)).await.is_err() {
            return;
        }
        while started.elapsed() < settings.max_duration {
            match alerts.alerts_since(&shop, cursor.as_deref(), BATCH).await {
                Ok(found) if !found.is_empty() => {
                    for (next, alert) in found {
                        if tx.send(Bytes::from(alert_event(&next, &alert))).await.is_err() {
                            return;
                        }
                        cursor = Some(next);
                    }
                    quiet_since = tokio::time::Instant::now();
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(shop = %shop, error = %e, "alert stream read failed; closing");
                    return;
                }
            }
            if quiet_since.elapsed() >= settings.heartbeat_every {
                if tx.send(Bytes::from_static(b": keep-alive\n\n")).await.is_err() {
                    return;
                }
                quiet_since = tokio::time::Instant::now();
            }
            tokio::time::sleep(settings.poll_every).await;
        }
    });
    SseBody { rx }
}
