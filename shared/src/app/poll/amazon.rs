//! The Amazon poll: its schedule (one job per active connection) and the orders sync of one
//! connection, shared by the admin endpoint and `amazon-poller`: page through a
//! window (last-updated, from the watermark minus an overlap, ending at least two minutes before now),
//! store each Amazon order with its items, feed the canonical order through the version-guarded write
//! path, then advance the watermark. Every write is an idempotent upsert, so overlaps and restarts
//! cost reads, never duplicates. A throttle longer than may be waited in process ends the run with
//! [`SyncOutcome::Deferred`] and a [`Resume`] point; the caller carries it over with an SQS delay.

use std::{collections::HashSet, sync::Arc};

use chrono::{DateTime, Duration, SecondsFormat, SubsecRound, Utc};
use serde::{Deserialize, Serialize};

use crate::integrations::{
    amazon::{
        ApiVersion, Region,
        client::{OrdersWindow, Seller, SpApiClient, WindowField},
        lwa::LwaCredentials,
        model::{AmazonOrder, AmazonOrderItem},
    },
    http::UpstreamError,
};
use crate::{
    app::{
        alerts,
        connections::amazon::{AmazonConnection, CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, load as load_connection},
        credentials as sealed, fan_out,
        orders::{self, Applied, ChangeError, Decision},
        outbox,
    },
    clock::Clock,
    domain::{Integration, ShopDomain},
    error::{StoreError, WorkerError},
    queue::{Message, MessageQueue, PollJob, PollTask, Stage},
    secrets::{SealError, Sealer},
    store::{
        AlertStore, CheckResult, ConnectionStore, CredentialStore, MirrorRecord, MirrorStore, OrderStore, OutboxStore,
        Resource, SyncResult, SyncStore, Upserted,
    },
};

/// Amazon rejects a `…Before` closer than two minutes to now; we keep a little more distance.
pub const BEFORE_MARGIN: Duration = Duration::seconds(2 * 60 + 10);
/// Each window re-reads this much before the watermark: orders can surface late in the index.
pub const OVERLAP: Duration = Duration::minutes(10);
/// The first window of a new connection.
pub const INITIAL_LOOKBACK: Duration = Duration::days(30);
/// v2026 pagination tokens expire after 24 hours; older ones restart the window.
pub const TOKEN_LIFETIME: Duration = Duration::hours(23);
/// How many times one run restarts its window after a refused pagination token.
const MAX_RESTARTS: u32 = 2;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("no LWA credential is stored for this connection")]
    NoCredential,
    #[error("no LWA client id and secret: store them with the credential or configure the app's")]
    NoClient,
    #[error(transparent)]
    Api(#[from] UpstreamError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the stored credential could not be opened")]
    Seal(#[from] SealError),
    #[error("an order could not be stored: {0}")]
    Order(String),
}

impl SyncError {
    /// Whether a later attempt may succeed without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            SyncError::Store(StoreError::Unavailable { .. })
                | SyncError::Seal(SealError::Unavailable { .. })
                | SyncError::Api(UpstreamError::Throttled { .. } | UpstreamError::Transient { .. })
        )
    }
}

/// Everything a sync or check needs, borrowed from the function's `Deps`.
#[derive(Clone, Copy)]
pub struct SyncDeps<'a> {
    pub client: &'a SpApiClient,
    pub connections: &'a dyn ConnectionStore,
    pub credentials: &'a dyn CredentialStore,
    pub sync: &'a dyn SyncStore,
    pub mirror: &'a dyn MirrorStore,
    pub orders: &'a dyn OrderStore,
    pub alerts: &'a dyn AlertStore,
    pub sealer: &'a dyn Sealer,
    /// A routed order's partner effects are committed with it and relayed to their queues at once.
    pub outbox: &'a dyn OutboxStore,
    pub queue: &'a dyn MessageQueue,
}

/// The connection's LWA credentials, opened from KMS: its own client id and secret, else the app's.
pub async fn credentials(deps: SyncDeps<'_>, shop: &ShopDomain) -> Result<LwaCredentials, SyncError> {
    open_credentials(deps.client, deps.credentials, deps.sealer, shop).await
}

/// [`credentials`] from the three things it reads.
pub async fn open_credentials(
    client: &SpApiClient,
    store: &dyn CredentialStore,
    sealer: &dyn Sealer,
    shop: &ShopDomain,
) -> Result<LwaCredentials, SyncError> {
    let stored = store.credential(shop, Integration::Amazon).await?.ok_or(SyncError::NoCredential)?;
    let open = |field: &'static str| {
        let sealed = stored.sealed.get(field).cloned();
        async move {
            match sealed {
                Some(sealed) => sealed::open(sealer, shop, Integration::Amazon, field, &sealed).await.map(Some),
                None => Ok(None),
            }
        }
    };
    let refresh_token = open(REFRESH_TOKEN).await?.ok_or(SyncError::NoCredential)?;
    let (client_id, client_secret) = match (stored.public.get(CLIENT_ID).cloned(), open(CLIENT_SECRET).await?) {
        (Some(id), Some(secret)) => (id, secret),
        (own_id, _) => {
            let (app_id, app_secret) = client.app_client().ok_or(SyncError::NoClient)?;
            (own_id.unwrap_or_else(|| app_id.to_owned()), app_secret.clone())
        }
    };
    Ok(LwaCredentials { client_id, client_secret, refresh_token })
}

/// One cheap authenticated call; the result is recorded on the connection and returned.
#[tracing::instrument(skip_all, fields(shop = %connection.shop))]
pub async fn check(
    deps: SyncDeps<'_>,
    connection: &AmazonConnection,
    now: DateTime<Utc>,
) -> Result<CheckResult, StoreError> {
    let outcome = match credentials(deps, &connection.shop).await {
        Ok(creds) => {
            let seller = Seller { id: &connection.seller_id, region: connection.region, credentials: &creds };
            deps.client.marketplace_participations(seller).await.map(|_| ()).map_err(SyncError::from)
        }
        Err(e) => Err(e),
    };
    if let Err(SyncError::Store(e)) = outcome {
        return Err(e);
    }
    let result = CheckResult { at: now, ok: outcome.is_ok(), error: outcome.err().map(|e| e.to_string()) };
    tracing::info!(ok = result.ok, "SP-API connection checked");
    deps.connections.record_check(&connection.shop, Integration::Amazon, &result).await?;
    Ok(result)
}

/// Where a carried-over run picks up: its window, the page token (with when it was issued) and the
/// counts so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resume {
    pub window: OrdersWindow,
    /// Where the watermark moves once the window is done (`None`: the sandbox's static window).
    pub window_end: Option<DateTime<Utc>>,
    pub next_token: Option<String>,
    pub token_issued_at: Option<DateTime<Utc>>,
    /// Orders of the current page already done (a run that ran out of time mid-page).
    #[serde(default)]
    pub page_offset: usize,
    pub orders: u64,
    pub items: u64,
}

impl Resume {
    /// Back to the window's first page. The counts start again too: the window is read again whole.
    fn restart(&mut self) {
        self.next_token = None;
        self.token_issued_at = None;
        self.page_offset = 0;
        self.orders = 0;
        self.items = 0;
    }
}

/// A sync to run: now (admin endpoint, schedule) or carried over (`resume`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncJob {
    pub shop: ShopDomain,
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default = "yes")]
    pub include_items: bool,
    #[serde(default)]
    pub resume: Option<Resume>,
}

fn yes() -> bool {
    true
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncOutcome {
    Completed {
        orders: u64,
        items: u64,
    },
    /// Throttled for longer than an invocation may wait: carry `resume` over, after `retry_after`.
    Deferred {
        resume: Resume,
        retry_after: std::time::Duration,
    },
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Never within two minutes of now: the latest `…Before` Amazon accepts, in whole seconds (as sent).
pub fn latest_before(now: DateTime<Utc>) -> DateTime<Utc> {
    (now - BEFORE_MARGIN).trunc_subsecs(0)
}

/// What a live (not sandbox) window asks v2026 to include: the total and the fulfilment status.
fn live_included_data(version: ApiVersion) -> Vec<String> {
    match version {
        ApiVersion::V2026 => vec!["PROCEEDS".to_owned(), "FULFILLMENT".to_owned()],
        ApiVersion::V0 => Vec::new(),
    }
}

/// A re-read of the orders created in `from..to` (reconciliation's re-push): the watermark stays where
/// it is (`window_end: None`).
pub fn created_window(connection: &AmazonConnection, from: DateTime<Utc>, to: DateTime<Utc>) -> Resume {
    let included = live_included_data(connection.api_version);
    Resume {
        window: OrdersWindow {
            marketplace_ids: connection.marketplace_ids.clone(),
            field: WindowField::Created,
            after: rfc3339(from),
            before: Some(rfc3339(to)),
            included_data: included,
        },
        window_end: None,
        next_token: None,
        token_issued_at: None,
        page_offset: 0,
        orders: 0,
        items: 0,
    }
}

/// The window of a new run. The sandbox answers only its static test cases, so a sandbox connection
/// asks for exactly those (Orders v0 `CreatedAfter=TEST_CASE_200`; v2026 the documented example).
pub fn window_for(connection: &AmazonConnection, watermark: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Resume {
    let window = |field, after: String, before: Option<String>, included_data: Vec<String>| OrdersWindow {
        marketplace_ids: connection.marketplace_ids.clone(),
        field,
        after,
        before,
        included_data,
    };
    let fresh = |window, window_end| Resume {
        window,
        window_end,
        next_token: None,
        token_issued_at: None,
        page_offset: 0,
        orders: 0,
        items: 0,
    };
    if connection.region == Region::Sandbox {
        let w = match connection.api_version {
            ApiVersion::V0 => window(WindowField::Created, "TEST_CASE_200".into(), None, Vec::new()),
            ApiVersion::V2026 => window(
                WindowField::Created,
                "2024-12-25T00:00:00Z".into(),
                None,
                ["BUYER", "RECIPIENT", "PROCEEDS", "EXPENSE", "PROMOTION", "CANCELLATION", "FULFILLMENT", "PACKAGES"]
                    .map(String::from)
                    .to_vec(),
            ),
        };
        return fresh(w, None);
    }
    let end = latest_before(now);
    let start = watermark.map_or(now - INITIAL_LOOKBACK, |w| w - OVERLAP).min(end - Duration::seconds(1));
    let included = live_included_data(connection.api_version);
    fresh(window(WindowField::LastUpdated, rfc3339(start), Some(rfc3339(end)), included), Some(end))
}

/// Runs (or resumes) the sync of `job`. Writes nothing on a dry run. Does not record the result: see
/// [`run_and_record`].
#[tracing::instrument(skip_all, fields(shop = %connection.shop, dry_run = job.dry_run))]
pub async fn run(
    deps: SyncDeps<'_>,
    connection: &AmazonConnection,
    job: &SyncJob,
    now: DateTime<Utc>,
) -> Result<SyncOutcome, SyncError> {
    let shop = &connection.shop;
    let creds = credentials(deps, shop).await?;
    let seller = Seller { id: &connection.seller_id, region: connection.region, credentials: &creds };
    let watermark = deps.sync.sync_state(shop).await?.watermark_at(Integration::Amazon, Resource::Orders);
    let mut state = match &job.resume {
        Some(resume) => resume.clone(),
        None => window_for(connection, watermark, now),
    };
    if state.token_issued_at.is_some_and(|at| now - at > TOKEN_LIFETIME) {
        tracing::info!("pagination token expired; restarting the window");
        state.restart();
    }
    let started = std::time::Instant::now();
    let budget = deps.client.run_budget();
    let mut done_here = 0usize;
    let version = connection.api_version;
    let mut seen: HashSet<(String, String)> = HashSet::new();
    let mut restarts = 0;
    loop {
        let page = match deps.client.orders_page(seller, version, &state.window, state.next_token.as_deref()).await {
            Ok(page) => page,
            Err(UpstreamError::Throttled { retry_after, .. }) => {
                return Ok(SyncOutcome::Deferred { resume: state, retry_after });
            }
            Err(UpstreamError::Rejected { status: 400, .. })
                if state.next_token.is_some() && restarts < MAX_RESTARTS =>
            {
                // An expired or unknown page token: the window restarts; upserts make that safe.
                tracing::warn!("page token refused; restarting the window");
                restarts += 1;
                state.restart();
                seen.clear();
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        for (index, (order, embedded)) in page.orders.into_iter().enumerate().skip(state.page_offset) {
            if done_here > 0 && started.elapsed() > budget {
                // Out of time (after at least one order, so every invocation makes progress): carry the
                // rest over, resuming at this order of this page.
                state.page_offset = index;
                return Ok(SyncOutcome::Deferred { resume: state, retry_after: std::time::Duration::from_secs(1) });
            }
            if !seen.insert((order.marketplace_id.clone(), order.amazon_order_id.clone())) {
                continue;
            }
            let lines = match version {
                ApiVersion::V2026 => embedded,
                ApiVersion::V0 if job.include_items => {
                    match deps.client.get_order_items_v0(seller, &order.amazon_order_id, &order.marketplace_id).await {
                        Ok(lines) => lines,
                        Err(UpstreamError::Throttled { retry_after, .. }) => {
                            state.page_offset = index;
                            return Ok(SyncOutcome::Deferred { resume: state, retry_after });
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                ApiVersion::V0 => Vec::new(),
            };
            if !job.dry_run {
                store(deps, shop, &order, &lines, now).await?;
            }
            // Counted once done, so a carried-over order is not counted twice.
            done_here += 1;
            state.orders += 1;
            state.items += lines.len() as u64;
        }
        state.page_offset = 0;
        match page.next_token {
            Some(token) => {
                state.next_token = Some(token);
                state.token_issued_at = Some(now);
            }
            None => break,
        }
    }
    if !job.dry_run
        && let Some(end) = state.window_end
    {
        deps.sync.advance_watermark(shop, Integration::Amazon, Resource::Orders, end, None).await?;
    }
    Ok(SyncOutcome::Completed { orders: state.orders, items: state.items })
}

/// Stores one Amazon order with its items, and its canonical order.
async fn store(
    deps: SyncDeps<'_>,
    shop: &ShopDomain,
    order: &AmazonOrder,
    items: &[AmazonOrderItem],
    now: DateTime<Utc>,
) -> Result<(), SyncError> {
    if deps.mirror.upsert_mirror(&mirror_record(shop, order, items)?).await? == Upserted::Stale {
        return Ok(());
    }
    let canonical = order.to_canonical(shop, items).map_err(|e| SyncError::Order(e.to_string()))?;
    let (key, lines) = (canonical.key(), canonical.line_items.clone());
    // Routing: the partner and ERP effects commit with the order and are relayed at once
    // (`outbound-sweeper` relays whatever a failed send or a crash left behind).
    let routing = crate::app::connections::routing(deps.connections, shop).await?;
    let applied = match orders::apply_routed_revision(deps.orders, &routing, canonical, now).await {
        Ok((applied, effects)) => {
            outbox::relay_after_commit(deps.outbox, deps.queue, &effects).await;
            applied
        }
        Err(ChangeError::Store(e)) => return Err(e.into()),
        Err(e) => return Err(SyncError::Order(e.to_string())),
    };
    if matches!(applied, Applied::Unchanged | Applied::Tie) && !lines.is_empty() {
        // The same revision, now with its items (an earlier run did not fetch them): add them.
        let refreshed = orders::change(deps.orders, shop, &key, now, |stored| {
            if stored.line_items == lines {
                Ok::<_, std::convert::Infallible>(Decision::Keep)
            } else {
                stored.line_items = lines.clone();
                Ok(Decision::Write(Vec::new()))
            }
        })
        .await;
        match refreshed {
            Ok(_) => {}
            Err(ChangeError::Store(e)) => return Err(e.into()),
            Err(e) => return Err(SyncError::Order(e.to_string())),
        }
    }
    Ok(())
}

/// What [`run_and_record`] reports to its caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncReport {
    pub result: SyncResult,
    /// Set when the run was carried over: the job to enqueue and its delay in seconds.
    pub carry_over: Option<(SyncJob, u32)>,
}

/// Runs `job` and records the outcome on the connection (`last_orders_sync_*`): `ok` or `dry_run` with
/// the counts, `deferred` when carried over, or `error` with the message, which also raises an alert.
pub async fn run_and_record(
    deps: SyncDeps<'_>,
    connection: &AmazonConnection,
    job: &SyncJob,
    now: DateTime<Utc>,
) -> Result<SyncReport, StoreError> {
    let shop = &connection.shop;
    let watermark = deps.sync.sync_state(shop).await?.watermark_at(Integration::Amazon, Resource::Orders);
    let outcome = run(deps, connection, job, now).await;
    let (result, carry_over) = match outcome {
        Ok(SyncOutcome::Completed { orders, items }) => {
            let status = if job.dry_run { "dry_run" } else { "ok" };
            if !job.dry_run {
                deps.alerts.clear_alert(shop, &alerts::sync_failed_id(Integration::Amazon, watermark), now).await?;
            }
            (SyncResult { at: now, status: status.into(), error: None, orders, items }, None)
        }
        Ok(SyncOutcome::Deferred { resume, retry_after }) => {
            let delay = u32::try_from(retry_after.as_secs().clamp(1, 900)).unwrap_or(900);
            let (orders, items) = (resume.orders, resume.items);
            let next = SyncJob { resume: Some(resume), ..job.clone() };
            tracing::info!(delay, "sync throttled; carried over");
            (SyncResult { at: now, status: "deferred".into(), error: None, orders, items }, Some((next, delay)))
        }
        Err(SyncError::Store(e)) => return Err(e),
        Err(e) => {
            let message = e.to_string();
            tracing::warn!(error = %message, transient = e.is_transient(), "orders sync failed");
            let alert = alerts::sync_failed(shop, Integration::Amazon, watermark, &message, now);
            deps.alerts.raise_alert(&alert).await?;
            (SyncResult { at: now, status: "error".into(), error: Some(message), orders: 0, items: 0 }, None)
        }
    };
    deps.connections.record_sync(shop, Integration::Amazon, &result).await?;
    Ok(SyncReport { result, carry_over })
}

/// What the Amazon poll (its scheduler and its poller) works with.
pub struct AmazonPoll {
    pub client: Arc<SpApiClient>,
    pub connections: Arc<dyn ConnectionStore>,
    pub credentials: Arc<dyn CredentialStore>,
    pub sync: Arc<dyn SyncStore>,
    pub mirror: Arc<dyn MirrorStore>,
    pub orders: Arc<dyn OrderStore>,
    pub alerts: Arc<dyn AlertStore>,
    pub sealer: Arc<dyn Sealer>,
    pub outbox: Arc<dyn OutboxStore>,
    pub queue: Arc<dyn MessageQueue>,
    pub clock: Arc<dyn Clock>,
}

impl AmazonPoll {
    pub fn sync_deps(&self) -> SyncDeps<'_> {
        SyncDeps {
            client: &self.client,
            connections: self.connections.as_ref(),
            credentials: self.credentials.as_ref(),
            sync: self.sync.as_ref(),
            mirror: self.mirror.as_ref(),
            orders: self.orders.as_ref(),
            alerts: self.alerts.as_ref(),
            sealer: self.sealer.as_ref(),
            outbox: self.outbox.as_ref(),
            queue: self.queue.as_ref(),
        }
    }
}

/// The schedule: one sync job per active connection (an index query; no scan), started by `origin`.
/// Returns how many were queued.
pub async fn schedule(
    connections: &dyn ConnectionStore,
    queue: &dyn MessageQueue,
    origin: &str,
    now: DateTime<Utc>,
) -> Result<usize, WorkerError> {
    let shops = connections.active_connections(Integration::Amazon).await?;
    let (enqueued, failed) = fan_out::each_shop(shops, now, async |shop| {
        let job = SyncJob { shop, dry_run: false, include_items: true, resume: None };
        let job = job.into_poll_job(origin.to_owned()).map_err(|e| WorkerError::Permanent(e.into()))?;
        queue.send(Stage::Poll(Integration::Amazon), &Message::Poll(job), 0).await?;
        Ok::<_, WorkerError>(())
    })
    .await;
    if !failed.is_empty() {
        tracing::warn!(failed = failed.len(), "some Amazon syncs could not be queued");
    }
    tracing::info!(enqueued, "Amazon syncs enqueued");
    Ok(enqueued)
}

/// Runs one job of the Amazon poll queue. A sync failure is recorded and alerted, not retried here (the
/// schedule retries); a store or queue failure is retried by SQS. A throttled run goes back on the
/// queue with a delay.
pub async fn process(deps: &AmazonPoll, message: Message) -> Result<(), WorkerError> {
    let Message::Poll(job) = message else {
        return Err(WorkerError::Permanent(anyhow::anyhow!("a {} message on the Amazon poll queue", message.kind())));
    };
    let (job, origin) = SyncJob::from_poll_job(job).map_err(|e| WorkerError::Permanent(e.into()))?;
    let Some(connection) = load_connection(deps.connections.as_ref(), &job.shop).await? else {
        tracing::info!(shop = %job.shop, "no Amazon connection any more; job dropped");
        return Ok(());
    };
    if !connection.active {
        tracing::info!(shop = %job.shop, "Amazon connection inactive; job dropped");
        return Ok(());
    }
    let report = run_and_record(deps.sync_deps(), &connection, &job, deps.clock.now()).await?;
    if let Some((next, delay)) = report.carry_over {
        let next = next.into_poll_job(origin).map_err(|e| WorkerError::Permanent(e.into()))?;
        deps.queue.send(Stage::Poll(Integration::Amazon), &Message::Poll(next), delay).await?;
    }
    tracing::info!(
        shop = %job.shop,
        status = %report.result.status,
        orders = report.result.orders,
        items = report.result.items,
        "Amazon sync job done"
    );
    Ok(())
}

/// The mirror kind of Amazon orders.
const ORDER_KIND: &str = "order";

fn mirror_id(marketplace_id: &str, amazon_order_id: &str) -> String {
    format!("{marketplace_id}.{amazon_order_id}")
}

fn corrupt(e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(format!("mirrored Amazon order: {e}"))
}

/// An Amazon order and its items as a mirror record: unique per (order id, marketplace), items unique
/// per `order_item_id`.
fn mirror_record(
    shop: &ShopDomain,
    order: &AmazonOrder,
    items: &[AmazonOrderItem],
) -> Result<MirrorRecord, StoreError> {
    let parts = items
        .iter()
        .map(|item| Ok((item.order_item_id.clone(), serde_json::to_value(item).map_err(corrupt)?)))
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(MirrorRecord {
        shop: shop.clone(),
        integration: Integration::Amazon,
        kind: ORDER_KIND.to_owned(),
        id: mirror_id(&order.marketplace_id, &order.amazon_order_id),
        updated_at: order.last_update_date,
        sort_at: order.purchase_date,
        payload: serde_json::to_value(order).map_err(corrupt)?,
        parts,
    })
}

/// A stored Amazon order and its items.
pub async fn stored_order(
    mirror: &dyn MirrorStore,
    shop: &ShopDomain,
    marketplace_id: &str,
    amazon_order_id: &str,
) -> Result<Option<(AmazonOrder, Vec<AmazonOrderItem>)>, StoreError> {
    let id = mirror_id(marketplace_id, amazon_order_id);
    let Some(record) = mirror.mirror(shop, Integration::Amazon, ORDER_KIND, &id).await? else { return Ok(None) };
    let order = serde_json::from_value(record.payload).map_err(corrupt)?;
    let items = record.parts.into_iter().map(|(_, item)| serde_json::from_value(item).map_err(corrupt));
    Ok(Some((order, items.collect::<Result<_, _>>()?)))
}

/// The shop's stored Amazon orders, newest purchase first, up to `limit`.
pub async fn stored_orders(
    mirror: &dyn MirrorStore,
    shop: &ShopDomain,
    limit: usize,
) -> Result<Vec<AmazonOrder>, StoreError> {
    let records = mirror.mirrors(shop, Integration::Amazon, ORDER_KIND, limit).await?;
    records.into_iter().map(|r| serde_json::from_value(r.payload).map_err(corrupt)).collect()
}

impl SyncJob {
    /// The job on the Amazon poll queue.
    pub fn into_poll_job(self, origin: String) -> Result<PollJob, serde_json::Error> {
        let resume = self.resume.map(serde_json::to_value).transpose()?;
        let task = PollTask::OrdersSync { dry_run: self.dry_run, include_items: self.include_items, resume };
        Ok(PollJob { integration: Integration::Amazon, shop: self.shop, origin, task })
    }

    /// The sync a poll job asks for (and its origin), if it is an Amazon orders sync.
    pub fn from_poll_job(job: PollJob) -> Result<(Self, String), SyncJobError> {
        match job {
            PollJob {
                integration: Integration::Amazon,
                shop,
                origin,
                task: PollTask::OrdersSync { dry_run, include_items, resume },
            } => {
                let resume = resume.map(serde_json::from_value).transpose().map_err(SyncJobError::Resume)?;
                Ok((SyncJob { shop, dry_run, include_items, resume }, origin))
            }
            other => Err(SyncJobError::NotASync(other.integration)),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SyncJobError {
    #[error("not an Amazon orders sync ({0} poll job)")]
    NotASync(Integration),
    #[error("the job's resume point is unreadable: {0}")]
    Resume(serde_json::Error),
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn connection(region: Region, api_version: ApiVersion) -> AmazonConnection {
        let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        AmazonConnection {
            shop: ShopDomain::parse("a.myshopify.com").unwrap(),
            seller_id: "S".into(),
            region,
            marketplace_ids: vec!["ATVPDKIKX0DER".into()],
            api_version,
            owner_sub: "1".into(),
            active: true,
            created_at: at,
            updated_at: at,
            status: Default::default(),
            version: 1,
        }
    }

    #[test]
    fn a_window_never_ends_within_two_minutes_of_now_and_overlaps_the_watermark() {
        let now = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        let first = window_for(&connection(Region::Na, ApiVersion::V2026), None, now);
        assert_eq!(first.window.field, WindowField::LastUpdated);
        assert_eq!(first.window.after, "2026-01-30T12:00:00Z");
        assert_eq!(first.window.before.as_deref(), Some("2026-03-01T11:57:50Z"));
        assert!(first.window_end.unwrap() <= now - Duration::minutes(2));
        let next = window_for(&connection(Region::Na, ApiVersion::V0), first.window_end, now + Duration::minutes(15));
        assert_eq!(next.window.after, "2026-03-01T11:47:50Z");
        assert!(next.window.included_data.is_empty());
        // A watermark in the future (clock skew) still gives a window that ends before it starts? Never.
        let skewed = window_for(&connection(Region::Na, ApiVersion::V0), Some(now + Duration::hours(1)), now);
        assert!(skewed.window.after < skewed.window.before.unwrap());
    }

    #[test]
    fn the_sandbox_asks_for_its_static_test_cases() {
        let now = Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap();
        let v0 = window_for(&connection(Region::Sandbox, ApiVersion::V0), None, now);
        assert_eq!(
            (v0.window.field, v0.window.after.as_str(), v0.window_end),
            (WindowField::Created, "TEST_CASE_200", None)
        );
        let v2026 = window_for(&connection(Region::Sandbox, ApiVersion::V2026), None, now);
        assert_eq!(v2026.window.after, "2024-12-25T00:00:00Z");
        assert_eq!(v2026.window.included_data.len(), 8);
    }
}
