//! The orders sync of one connection, shared by the admin endpoint and `spapi-poll`: page through a
//! window (last-updated, from the watermark minus an overlap, ending at least two minutes before now),
//! store each Amazon order with its items, feed the canonical order through the version-guarded write
//! path, then advance the watermark. Every write is an idempotent upsert, so overlaps and restarts
//! cost reads, never duplicates. A throttle longer than may be waited in process ends the run with
//! [`SyncOutcome::Deferred`] and a [`Resume`] point; the caller carries it over with an SQS delay.

use std::collections::HashSet;

use chrono::{DateTime, Duration, SecondsFormat, SubsecRound, Utc};
use serde::{Deserialize, Serialize};

use crate::integrations::amazon::{
    ApiVersion, Region,
    client::{OrdersWindow, Seller, SpApiClient, SpApiError, WindowField},
    lwa::LwaCredentials,
    model::{AmazonOrder, AmazonOrderItem},
};
use crate::{
    app::orders::{self, Applied, ChangeError, Decision},
    config::Secret,
    domain::{Alert, AlertKind, ShopDomain},
    error::StoreError,
    secrets::{SealError, Sealer},
    store::{
        AlertStore, OrderStore,
        amazon::{AmazonConnection, AmazonStore, CheckResult, SealedCredential, SyncResult, Upserted},
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

/// The encryption context of a sealed credential field: the shop and the record, so a ciphertext copied
/// elsewhere does not open.
fn context<'a>(shop: &'a ShopDomain, field: &'a str) -> [(&'a str, &'a str); 3] {
    [("shop", shop.as_str()), ("record", "CRED#amazon"), ("field", field)]
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("no LWA credential is stored for this connection")]
    NoCredential,
    #[error("no LWA client id and secret: store them with the credential or configure the app's")]
    NoClient,
    #[error(transparent)]
    Api(#[from] SpApiError),
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
                | SyncError::Api(SpApiError::Throttled { .. } | SpApiError::Upstream { .. } | SpApiError::Transport(_))
        )
    }
}

/// Seals a credential for `shop`. The plaintexts never leave this function except as ciphertext.
pub async fn seal_credential(
    sealer: &dyn Sealer,
    shop: &ShopDomain,
    refresh_token: &Secret,
    client_id: Option<String>,
    client_secret: Option<&Secret>,
    now: DateTime<Utc>,
) -> Result<SealedCredential, SealError> {
    let sealed_client_secret = match client_secret {
        Some(secret) => Some(sealer.seal(secret, &context(shop, "client_secret")).await?),
        None => None,
    };
    Ok(SealedCredential {
        client_id,
        sealed_refresh_token: sealer.seal(refresh_token, &context(shop, "refresh_token")).await?,
        sealed_client_secret,
        updated_at: now,
    })
}

/// Everything a sync or check needs, borrowed from the function's `Deps`.
#[derive(Clone, Copy)]
pub struct SyncDeps<'a> {
    pub client: &'a SpApiClient,
    pub amazon: &'a dyn AmazonStore,
    pub orders: &'a dyn OrderStore,
    pub alerts: &'a dyn AlertStore,
    pub sealer: &'a dyn Sealer,
}

/// The connection's LWA credentials, opened from KMS: its own client id and secret, else the app's.
pub async fn credentials(deps: SyncDeps<'_>, shop: &ShopDomain) -> Result<LwaCredentials, SyncError> {
    let sealed = deps.amazon.amazon_credential(shop).await?.ok_or(SyncError::NoCredential)?;
    let refresh_token = deps.sealer.open(&sealed.sealed_refresh_token, &context(shop, "refresh_token")).await?;
    let (client_id, client_secret) = match (sealed.client_id, sealed.sealed_client_secret) {
        (Some(id), Some(secret)) => (id, deps.sealer.open(&secret, &context(shop, "client_secret")).await?),
        (own_id, _) => {
            let (app_id, app_secret) = deps.client.app_client().ok_or(SyncError::NoClient)?;
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
    deps.amazon.record_amazon_check(&connection.shop, &result).await?;
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
    let included = match connection.api_version {
        ApiVersion::V2026 => vec!["PROCEEDS".to_owned(), "FULFILLMENT".to_owned()],
        ApiVersion::V0 => Vec::new(),
    };
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
    let watermark = deps.amazon.amazon_watermark(shop).await?;
    let mut state = match &job.resume {
        Some(resume) => resume.clone(),
        None => window_for(connection, watermark.map(|w| w.at), now),
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
            Err(SpApiError::Throttled { retry_after, .. }) => {
                return Ok(SyncOutcome::Deferred { resume: state, retry_after });
            }
            Err(SpApiError::Rejected { status: 400, .. }) if state.next_token.is_some() && restarts < MAX_RESTARTS => {
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
                        Err(SpApiError::Throttled { retry_after, .. }) => {
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
        let latest = deps.amazon.amazon_watermark(shop).await?;
        if latest.is_none_or(|w| w.at < end) {
            deps.amazon.advance_amazon_watermark(shop, end, latest.map(|w| w.version)).await?;
        }
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
    if deps.amazon.upsert_amazon_order(shop, order, items).await? == Upserted::Stale {
        return Ok(());
    }
    let canonical = order.to_canonical(shop, items).map_err(|e| SyncError::Order(e.to_string()))?;
    let (key, lines) = (canonical.key(), canonical.line_items.clone());
    let applied = match orders::apply_revision(deps.orders, deps.alerts, canonical, now).await {
        Ok(applied) => applied,
        Err(ChangeError::Store(e)) => return Err(e.into()),
        Err(e) => return Err(SyncError::Order(e.to_string())),
    };
    if applied == Applied::Unchanged && !lines.is_empty() {
        // The same revision, now with its items (an earlier run did not fetch them): add them.
        let refreshed = orders::change(deps.orders, deps.alerts, shop, &key, now, |stored| {
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

/// The alert of a failing sync. One per watermark, so repeated failures of the same window raise it
/// once, and the next successful run clears it.
fn failure_alert_id(watermark: Option<DateTime<Utc>>) -> String {
    format!("amazon-sync:{}", watermark.map_or(0, |w| w.timestamp_millis()))
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
    let watermark = deps.amazon.amazon_watermark(shop).await?.map(|w| w.at);
    let outcome = run(deps, connection, job, now).await;
    let (result, carry_over) = match outcome {
        Ok(SyncOutcome::Completed { orders, items }) => {
            let status = if job.dry_run { "dry_run" } else { "ok" };
            if !job.dry_run {
                deps.alerts.clear_alert(shop, &failure_alert_id(watermark), now).await?;
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
            let alert = Alert {
                shop: shop.clone(),
                id: failure_alert_id(watermark),
                kind: AlertKind::SyncFailed,
                message: format!("Amazon orders sync failed: {message}"),
                order: None,
                raised_at: now,
                cleared_at: None,
            };
            deps.alerts.raise_alert(&alert).await?;
            (SyncResult { at: now, status: "error".into(), error: Some(message), orders: 0, items: 0 }, None)
        }
    };
    deps.amazon.record_amazon_sync(shop, &result).await?;
    Ok(SyncReport { result, carry_over })
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
        let now = Utc::now();
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
