//! The Shopify poll's schedule (every 15 minutes by default; the template's `PollIntervalMinutes`).
//! For every active shop it queues the next orders window (from an overlap before the watermark until
//! now), the next products window and a webhook subscription check on the Shopify poll queue, and warns once per shop when
//! `read_all_orders` is missing. [`super::shopify`] does the work.
//!
//! Invoked by hand with `{"backfill": {"shop": "…", "from": "…", "until": "…"}}`, it queues a backfill of
//! the orders created in that range instead: same ingest path, resumable (each page's cursor travels
//! with the job).

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    app::{alerts, fan_out},
    clock::Clock,
    domain::{
        Integration, ShopDomain,
        poll::{PollWindow, WindowMode},
    },
    error::{QueueError, StoreError},
    queue::{Message, MessageQueue, PollJob, PollTask, Stage},
    store::{AlertStore, Recorded, Resource, ShopRecord, ShopStatus, ShopStore, SyncStore},
};

/// What the Shopify poll's schedule works with.
pub struct ShopifySchedule {
    pub shops: Arc<dyn ShopStore>,
    pub sync: Arc<dyn SyncStore>,
    pub alerts: Arc<dyn AlertStore>,
    pub queue: Arc<dyn MessageQueue>,
    pub clock: Arc<dyn Clock>,
    /// How far before the watermark each window starts (Shopify's search index lags writes).
    pub overlap: TimeDelta,
}

/// A schedule event (only its id is used) or a backfill request.
#[derive(Debug, Deserialize)]
pub struct Invocation {
    pub id: Option<String>,
    pub backfill: Option<Backfill>,
}

#[derive(Debug, Deserialize)]
pub struct Backfill {
    pub shop: ShopDomain,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Report {
    pub shops: usize,
    pub jobs: usize,
    /// Shops whose jobs could not be queued (logged; the others were).
    pub failed: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("invalid invocation: {0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

pub async fn run(deps: &ShopifySchedule, invocation: Invocation) -> Result<Report, ScheduleError> {
    let now = deps.clock.now();
    let origin = invocation.id.unwrap_or_else(|| format!("tick-{}", now.timestamp_millis()));
    if let Some(backfill) = invocation.backfill {
        return queue_backfill(deps, backfill, origin).await;
    }
    let (shops, jobs) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let (_, failed) = fan_out::each_shop(deps.shops.active_shops().await?, now, async |shop| {
        let queued = queue_shop(deps, &shop, &origin, now).await?;
        if queued > 0 {
            shops.fetch_add(1, Ordering::Relaxed);
            jobs.fetch_add(queued, Ordering::Relaxed);
        }
        Ok::<_, ScheduleError>(())
    })
    .await;
    let report = Report { shops: shops.into_inner(), jobs: jobs.into_inner(), failed: failed.len() };
    tracing::info!(shops = report.shops, jobs = report.jobs, failed = report.failed, "Shopify polls queued");
    Ok(report)
}

/// Queues the shop's poll jobs (none for a shop that is not active or must reconnect). Returns how many.
async fn queue_shop(
    deps: &ShopifySchedule,
    shop: &ShopDomain,
    origin: &str,
    now: DateTime<Utc>,
) -> Result<usize, ScheduleError> {
    let Some(record) = deps.shops.shop(shop).await?.filter(|r| r.status == ShopStatus::Active) else { return Ok(0) };
    if record.token.invalid_since.is_some() {
        // Shopify refuses the token: no new work until the shop reconnects (its install queues a poll).
        return Ok(0);
    }
    warn_without_read_all_orders(deps, &record, now).await?;
    let state = deps.sync.sync_state(shop).await?;
    let orders = PollWindow::incremental(
        state.watermark_at(Integration::Shopify, Resource::Orders),
        record.installed_at,
        deps.overlap,
        now,
    );
    // The first products window reads the whole catalogue.
    let products = PollWindow::incremental(
        state.watermark_at(Integration::Shopify, Resource::Products),
        DateTime::UNIX_EPOCH,
        deps.overlap,
        now,
    );
    let tasks = [
        PollTask::Orders { window: orders, after: None },
        PollTask::Products { window: products, after: None },
        PollTask::Subscriptions,
    ];
    let queued = tasks.len();
    for task in tasks {
        let job = PollJob { integration: Integration::Shopify, shop: shop.clone(), origin: origin.to_owned(), task };
        deps.queue.send(Stage::Poll(Integration::Shopify), &Message::Poll(job), 0).await?;
    }
    Ok(queued)
}

async fn queue_backfill(deps: &ShopifySchedule, backfill: Backfill, origin: String) -> Result<Report, ScheduleError> {
    if backfill.from >= backfill.until {
        return Err(ScheduleError::Invalid("backfill `from` must be before `until`".into()));
    }
    if deps.shops.shop_status(&backfill.shop).await? != Some(ShopStatus::Active) {
        return Err(ScheduleError::Invalid(format!("{} is not an active shop", backfill.shop)));
    }
    let window = PollWindow { mode: WindowMode::Backfill, from: backfill.from, until: backfill.until };
    let task = PollTask::Orders { window, after: None };
    let job = PollJob { integration: Integration::Shopify, shop: backfill.shop.clone(), origin, task };
    deps.queue.send(Stage::Poll(Integration::Shopify), &Message::Poll(job), 0).await?;
    tracing::info!(shop = %backfill.shop, from = %backfill.from, until = %backfill.until, "backfill queued");
    Ok(Report { shops: 1, jobs: 1, failed: 0 })
}

/// Without `read_all_orders`, orders older than 60 days are silently absent from every query: say so
/// once per shop (the alert is stored once; only its first raise logs).
async fn warn_without_read_all_orders(
    deps: &ShopifySchedule,
    record: &ShopRecord,
    now: DateTime<Utc>,
) -> Result<(), ScheduleError> {
    if record.read_all_orders() {
        return Ok(());
    }
    let alert = alerts::read_all_orders_missing(&record.shop, now);
    if deps.alerts.raise_alert(&alert).await? == Recorded::New {
        tracing::warn!(shop = %record.shop, "read_all_orders is not granted: orders older than 60 days stay invisible");
    }
    Ok(())
}
