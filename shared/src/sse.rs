//! Server-Sent Events for the alert channel. Each alert event's `id` is its feed cursor, so a client
//! that reconnects with `Last-Event-ID` resumes exactly after the last alert it saw. Refresh pings
//! (`event: refresh`, sent when a webhook or a poll window changed the shop's data) carry no id, so
//! they never move the resume point.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use http_body::{Body, Frame};
use tokio::sync::mpsc;

use chrono::{DateTime, Utc};

use crate::{
    clock::Clock,
    domain::{Alert, ShopDomain},
    error::StoreError,
    store::{AlertStore, StreamStore, SyncStore},
};

/// Alerts read per store query.
const BATCH: usize = 100;

/// How far behind its newest event a live stream keeps re-reading the feed. A feed position is its
/// writer's clock at the write, and the GSI shows it a moment later, so an alert can appear just
/// behind one already sent; re-reading this window (and skipping what was sent) delivers it anyway.
pub const LATE_WINDOW_MS: i64 = 5_000;

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

/// The refresh ping event: the dashboard refetches its lists.
pub fn refresh_event(at: chrono::DateTime<chrono::Utc>) -> String {
    format!(
        "event: refresh\ndata: {{\"refreshedAt\":\"{}\"}}\n\n",
        at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    )
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

/// The slot a live stream holds among its shop's (`StreamStore`), freed when the stream ends.
pub struct StreamLease {
    pub store: Arc<dyn StreamStore>,
    pub shop: ShopDomain,
    pub slot: usize,
    pub id: String,
}

/// A fresh lease id: 128 random bits, hex.
pub fn lease_id() -> String {
    let mut bytes = [0u8; 16];
    // Without randomness the time still tells concurrent streams of one shop apart well enough.
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
        bytes[..8].copy_from_slice(&nanos.to_le_bytes());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The event that closes a stream whose session token expired: the client fetches a fresh token and
/// reconnects with `Last-Event-ID`.
pub const SESSION_EXPIRED_EVENT: &str = "event: session_expired\ndata: {}\n\n";

/// Who a live stream is for, and until when.
pub struct StreamFor {
    pub shop: ShopDomain,
    /// When the caller's session token stops being accepted; the stream closes then.
    pub expires_at: DateTime<Utc>,
    pub clock: Arc<dyn Clock>,
    /// The slot the stream holds, freed when it ends.
    pub lease: Option<StreamLease>,
}

/// A live alert stream for `who.shop`, starting after `since`. It ends when the client goes away, on a
/// store error (the client reconnects and resumes), after `settings.max_duration`, or when the session
/// token expires (re-checked on every read; the last event is then `session_expired`). Its slot is
/// freed whichever way it ends.
pub fn alert_stream(
    alerts: Arc<dyn AlertStore>,
    sync: Arc<dyn SyncStore>,
    who: StreamFor,
    since: Option<String>,
    settings: StreamSettings,
) -> SseBody {
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        let StreamFor { shop, expires_at, clock, lease } = who;
        run(&tx, alerts, sync, &shop, since, settings, (expires_at, clock.as_ref())).await;
        if let Some(lease) = lease
            && let Err(e) = lease.store.close_stream(&lease.shop, lease.slot, &lease.id).await
        {
            tracing::warn!(shop = %lease.shop, error = %e, "could not free the stream slot; it expires by itself");
        }
    });
    SseBody { rx }
}

async fn run(
    tx: &mpsc::Sender<Bytes>,
    alerts: Arc<dyn AlertStore>,
    sync: Arc<dyn SyncStore>,
    shop: &ShopDomain,
    since: Option<String>,
    settings: StreamSettings,
    (expires_at, clock): (DateTime<Utc>, &dyn Clock),
) {
    let shop = shop.clone();
    {
        let started = tokio::time::Instant::now();
        // The client's resume point is exact: it has seen everything up to `since`, never again.
        let resumed_after = since.clone();
        let mut cursor = since;
        let mut sent_recently: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
        let mut quiet_since = tokio::time::Instant::now();
        // The ping seen when the stream opened is old news; only a moved ping is sent.
        let mut last_ping = None;
        let mut first_read = true;
        let retry = format!("retry: {}\n\n", settings.poll_every.as_millis().max(1000));
        if tx.send(Bytes::from(retry)).await.is_err() {
            return;
        }
        while started.elapsed() < settings.max_duration {
            if clock.now() >= expires_at {
                let _ = tx.send(Bytes::from_static(SESSION_EXPIRED_EVENT.as_bytes())).await;
                return;
            }
            let read_from = cursor.as_deref().map(|c| window_start(c, &sent_recently));
            match alerts.alerts_since(&shop, read_from.as_deref(), BATCH).await {
                Ok(found) => {
                    let mut delivered = false;
                    for (position, alert) in found {
                        let seen_before = resumed_after.as_ref().is_some_and(|r| position <= *r);
                        let behind = cursor.as_ref().is_some_and(|c| position <= *c && !late(c, &position));
                        if seen_before || behind || sent_recently.contains(&position) {
                            continue;
                        }
                        if tx.send(Bytes::from(alert_event(&position, &alert))).await.is_err() {
                            return;
                        }
                        delivered = true;
                        if cursor.as_ref().is_none_or(|c| position > *c) {
                            cursor = Some(position.clone());
                        }
                        sent_recently.insert(position);
                    }
                    if let Some(c) = &cursor {
                        let oldest = window_floor(c);
                        sent_recently.retain(|p| *p >= oldest);
                    }
                    if delivered {
                        quiet_since = tokio::time::Instant::now();
                    }
                }
                Err(e) => {
                    tracing::warn!(shop = %shop, error = %e, "alert stream read failed; closing");
                    return;
                }
            }
            match sync.sync_state(&shop).await {
                Ok(state) => {
                    if !first_read
                        && state.refreshed_at != last_ping
                        && let Some(at) = state.refreshed_at
                    {
                        if tx.send(Bytes::from(refresh_event(at))).await.is_err() {
                            return;
                        }
                        quiet_since = tokio::time::Instant::now();
                    }
                    last_ping = state.refreshed_at;
                    first_read = false;
                }
                Err(e) => {
                    tracing::warn!(shop = %shop, error = %e, "sync state read failed; closing");
                    return;
                }
            }
            if quiet_since.elapsed() >= settings.heartbeat_every {
                if tx.send(Bytes::from_static(b": keep-alive\n\n")).await.is_err() {
                    return;
                }
                quiet_since = tokio::time::Instant::now();
            }
            let to_expiry = (expires_at - clock.now()).to_std().unwrap_or_default();
            tokio::select! {
                () = tokio::time::sleep(settings.poll_every.min(to_expiry)) => {}
                // The client went away: free the slot now, not at the next write.
                () = tx.closed() => return,
            }
        }
    }
}

fn millis(position: &str) -> i64 {
    position.split_once('#').and_then(|(ms, _)| ms.parse().ok()).unwrap_or(0)
}

/// The feed position `LATE_WINDOW_MS` before `cursor`.
fn window_floor(cursor: &str) -> String {
    format!("{:015}", (millis(cursor) - LATE_WINDOW_MS).max(0))
}

/// Where the next read starts: inside the late window once this stream has sent something there,
/// else right after the client's resume point.
fn window_start(cursor: &str, sent_recently: &std::collections::BTreeSet<String>) -> String {
    if sent_recently.is_empty() { cursor.to_owned() } else { window_floor(cursor) }
}

/// Whether `position` lies in the late window behind `cursor`.
fn late(cursor: &str, position: &str) -> bool {
    position >= window_floor(cursor).as_str()
}
