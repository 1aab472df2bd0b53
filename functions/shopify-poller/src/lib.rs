//! Trigger: the Shopify poll queue (jobs come from `shopify-scheduler`, and from this worker itself as
//! continuations). Two kinds of job:
//!
//! - **An orders window.** `orders(query: "updated_at:>'…' AND updated_at:<='…'", sortKey: UPDATED_AT)`
//!   page by page, each order through the same version-guarded upsert as the webhooks, so the two paths
//!   dedupe against each other. Requests are paced by `extensions.cost.throttleStatus` so the bucket
//!   never runs dry; `THROTTLED` (HTTP 200 or 429) waits briefly inline, and a longer wait (or a long
//!   window) goes back on the queue as a continuation with an SQS delay and the cursor reached. Only a
//!   fully read window advances the watermark. An order state older than [`GAP_GRACE`] that no webhook
//!   had delivered raises a data-gap alert. Completing a window pings a refresh and reviews the shop's
//!   shipment alerts.
//! - **A products window**: products updated in the window with their variants (more than 100 are
//!   paged per product), kept through the version-guarded product store; completing it advances the
//!   products watermark.
//! - **Subscription health.** Lists the shop's webhook subscriptions, re-creates missing ones, raises a
//!   data-gap alert for each, and queues a recovery window since the last webhook that arrived.

use std::{collections::HashMap, sync::Arc, time::Duration};

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use chrono::TimeDelta;
use lambda_runtime::LambdaEvent;
use shared::{
    clock::{Clock, SystemClock},
    config::{ConfigError, Env, Secret, TableConfig},
    domain::{
        Alert, AlertKind, ChannelOrderId, OrderKey, ShopDomain, StageMessage,
        message::{PollJob, PollTask, PollWindow, WindowMode},
    },
    error::WorkerError,
    install::{self, TokenConfig, Tokens},
    orders::{self, Applied},
    queue::{MessageQueue, Stage, schema, sqs::SqsQueue},
    shopify::{
        admin::{AdminError, Cost, Reply, describe},
        graphql::{
            ORDERS_PAGE, ORDERS_PAGE_SIZE, OrdersData, PRODUCT_VARIANTS, PRODUCTS_PAGE, PRODUCTS_PAGE_SIZE, PageInfo,
            ProductVariantsData, ProductsData, WEBHOOK_SUBSCRIPTION_CREATE, WEBHOOK_SUBSCRIPTIONS,
            WebhookSubscriptionCreateData, WebhookSubscriptionsData, gid_tail,
        },
    },
    sqs_batch,
    store::{
        AlertStore, OrderStore, ProductStore, Resource, ShopRecord, ShopStatus, ShopStore, SyncStore,
        dynamo::DynamoStore,
    },
    tenants::{ShopifyAccess, ShopifyAccessConfig},
};

const STAGE: &str = "shopify-poll";

/// A poll result older than this that no webhook delivered is a data gap; younger ones may simply be
/// in flight.
pub const GAP_GRACE: TimeDelta = TimeDelta::minutes(5);
/// Waits up to this long happen inline; longer ones are carried over with an SQS delay.
pub const MAX_INLINE_WAIT: Duration = Duration::from_secs(1);
/// Pages read per invocation before the rest of the window is handed to a continuation.
pub const MAX_PAGES_PER_RUN: usize = 40;
/// Throttled attempts at one page before it is handed to a continuation.
const MAX_INLINE_RETRIES: usize = 3;

/// The webhook topics the app subscribes to through the API. The three compliance topics are
/// configured in the app's settings, not through `webhookSubscriptionCreate`.
pub const SUBSCRIBED_TOPICS: &[&str] = &[
    "orders/create",
    "orders/updated",
    "orders/cancelled",
    "orders/fulfilled",
    "orders/partially_fulfilled",
    "orders/paid",
    "orders/edited",
    "fulfillments/create",
    "fulfillments/update",
    "refunds/create",
    "fulfillment_orders/placed_on_hold",
    "fulfillment_orders/hold_released",
    "returns/request",
    "returns/approve",
    "returns/decline",
    "returns/close",
    "products/create",
    "products/update",
    "products/delete",
    "inventory_levels/update",
    "app/uninstalled",
];

/// `orders/create` → `ORDERS_CREATE`, the GraphQL `WebhookSubscriptionTopic`.
pub fn graphql_topic(topic: &str) -> String {
    topic.replace('/', "_").to_ascii_uppercase()
}

#[derive(Debug, Clone)]
pub struct Config {
    pub table: TableConfig,
    pub shopify: ShopifyAccessConfig,
    /// The app's credentials and token endpoint, to refresh expiring offline tokens.
    pub tokens: TokenConfig,
    pub poll_queue_url: String,
    /// Where Shopify should deliver webhooks (the `POST /webhooks/shopify` route).
    pub webhook_callback_url: String,
    /// How far before the last webhook a recovery window starts.
    pub overlap: TimeDelta,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::read(Env::from_process())
    }

    pub fn read(mut env: Env) -> Result<Self, ConfigError> {
        let config = Self {
            table: TableConfig::read(&mut env),
            shopify: ShopifyAccessConfig::read(&mut env),
            tokens: TokenConfig::read(&mut env),
            poll_queue_url: env.required(schema::def(Stage::ShopifyPoll).url_env),
            webhook_callback_url: env.required("SHOPIFY_WEBHOOK_CALLBACK_URL"),
            overlap: TimeDelta::seconds(env.parsed("SHOPIFY_POLL_OVERLAP_SECONDS", 120, |v| v.parse().ok())),
        };
        env.finish().map(|()| config)
    }
}

pub struct Deps {
    pub orders: Arc<dyn OrderStore>,
    pub alerts: Arc<dyn AlertStore>,
    pub shops: Arc<dyn ShopStore>,
    pub sync: Arc<dyn SyncStore>,
    pub products: Arc<dyn ProductStore>,
    pub queue: Arc<dyn MessageQueue>,
    pub shopify: ShopifyAccess,
    /// Refreshes expiring tokens; marks refused ones invalid and parks their jobs.
    pub tokens: Tokens,
    pub clock: Arc<dyn Clock>,
    pub webhook_callback_url: String,
    pub overlap: TimeDelta,
}

impl Deps {
    pub async fn connect(config: Config) -> Self {
        let sdk = shared::aws::sdk_config().await;
        let store = Arc::new(DynamoStore::new(shared::aws::dynamodb(&sdk), config.table.table_name));
        let queue: Arc<dyn MessageQueue> = Arc::new(SqsQueue::new(
            shared::aws::sqs(&sdk),
            HashMap::from([(Stage::ShopifyPoll, config.poll_queue_url)]),
        ));
        Self {
            orders: store.clone(),
            alerts: store.clone(),
            shops: store.clone(),
            sync: store.clone(),
            products: store.clone(),
            tokens: Tokens::connect(&sdk, config.tokens, Vec::new(), store, queue.clone()),
            queue,
            shopify: ShopifyAccess::connect(&sdk, config.shopify),
            clock: Arc::new(SystemClock),
            webhook_callback_url: config.webhook_callback_url,
            overlap: config.overlap,
        }
    }
}

pub async fn handle(deps: &Deps, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let max_receive_count = schema::def(Stage::ShopifyPoll).max_receive_count;
    Ok(sqs_batch::process(event.payload, STAGE, max_receive_count, deps.alerts.as_ref(), |message| step(deps, message))
        .await)
}

pub async fn step(deps: &Deps, message: StageMessage) -> Result<(), WorkerError> {
    let StageMessage::ShopifyPoll(job) = &message else {
        return Err(WorkerError::Permanent(anyhow::anyhow!("not a Shopify poll job")));
    };
    let Some(record) = deps.shops.shop(&job.shop).await?.filter(|r| r.status == ShopStatus::Active) else {
        tracing::info!(shop = %job.shop, "shop is not installed or not active; poll job dropped");
        return Ok(());
    };
    // Until the shop reconnects, its jobs wait as parked records rather than failing into the DLQ.
    let result = match deps.tokens.token(&record).await {
        Ok(token) => run(deps, job, &record, &token).await,
        Err(e) => Err(e.into()),
    };
    match result {
        Err(e) if install::is_token_refusal(&e) => Ok(deps.tokens.refused(Stage::ShopifyPoll, &message).await?),
        other => other,
    }
}

async fn run(deps: &Deps, job: &PollJob, record: &ShopRecord, token: &Secret) -> Result<(), WorkerError> {
    match &job.task {
        PollTask::Orders { window, after } => orders_window(deps, job, record, token, *window, after.clone()).await,
        PollTask::Products { window, after } => products_window(deps, job, record, token, *window, after.clone()).await,
        PollTask::Subscriptions => subscriptions(deps, job, record, token).await,
    }
}

/// What reading a window did, for logs and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WindowReport {
    pub pages: usize,
    pub seen: usize,
    pub written: usize,
    pub gaps: usize,
}

/// One GraphQL call with the throttle rules: a short wait is taken inline (a few times), a long one is
/// handed back as [`Fetch::Later`] for the caller to carry over with an SQS delay.
enum Fetch<T> {
    Got(Reply<T>),
    Later(Duration),
}

async fn fetch<T: serde::de::DeserializeOwned>(
    deps: &Deps,
    shop: &ShopDomain,
    token: &Secret,
    query: &str,
    variables: serde_json::Value,
) -> Result<Fetch<T>, WorkerError> {
    let mut throttled = 0;
    loop {
        match deps.shopify.admin.graphql::<T>(shop, token, query, variables.clone()).await {
            Ok(reply) => return Ok(Fetch::Got(reply)),
            Err(AdminError::Throttled { wait }) if wait <= MAX_INLINE_WAIT && throttled < MAX_INLINE_RETRIES => {
                throttled += 1;
                tracing::info!(shop = %shop, wait_ms = wait.as_millis() as u64, "throttled; waiting inline");
                tokio::time::sleep(wait).await;
            }
            Err(AdminError::Throttled { wait }) => return Ok(Fetch::Later(wait.max(MAX_INLINE_WAIT))),
            Err(e) => return Err(e.into()),
        }
    }
}

/// After a page: wait inline for the bucket to hold another query of the same cost, or say how long
/// the continuation must be delayed.
async fn pace(cost: Option<&Cost>) -> Option<Duration> {
    let wait = cost.map(|c| c.wait_before(c.requested_query_cost)).unwrap_or_default();
    if wait > MAX_INLINE_WAIT {
        return Some(wait);
    }
    tokio::time::sleep(wait).await;
    None
}

/// What reading one page gave.
enum Step {
    /// The page was processed: where the connection stands, and what the query cost.
    Page(PageInfo, Option<Cost>),
    /// Shopify asked for a long wait: the page is read again by a continuation.
    Later(Duration),
}

/// What follows a page.
enum Flow {
    More,
    /// The window was read to the end.
    Ended,
    /// A continuation on the queue took over the rest.
    Handed,
}

/// Walks a window page by page: paces between pages, and hands the rest to a continuation (built by
/// `later` from the cursor reached) when a wait is long or the run has read enough.
struct Pager<F> {
    after: Option<String>,
    report: WindowReport,
    later: F,
}

impl<F: Fn(Option<String>) -> PollTask> Pager<F> {
    fn new(after: Option<String>, later: F) -> Self {
        Self { after, report: WindowReport::default(), later }
    }

    async fn next(&mut self, deps: &Deps, job: &PollJob, step: Step) -> Result<Flow, WorkerError> {
        let (info, cost) = match step {
            Step::Page(info, cost) => (info, cost),
            Step::Later(wait) => return self.hand_over(deps, job, wait).await,
        };
        self.report.pages += 1;
        self.after = info.end_cursor.or(self.after.take());
        if !info.has_next_page {
            return Ok(Flow::Ended);
        }
        if let Some(wait) = pace(cost.as_ref()).await {
            return self.hand_over(deps, job, wait).await;
        }
        if self.report.pages >= MAX_PAGES_PER_RUN {
            return self.hand_over(deps, job, Duration::ZERO).await;
        }
        Ok(Flow::More)
    }

    async fn hand_over(&self, deps: &Deps, job: &PollJob, wait: Duration) -> Result<Flow, WorkerError> {
        continue_later(deps, job, (self.later)(self.after.clone()), wait, self.report).await?;
        Ok(Flow::Handed)
    }
}

async fn orders_window(
    deps: &Deps,
    job: &PollJob,
    record: &ShopRecord,
    token: &Secret,
    window: PollWindow,
    after: Option<String>,
) -> Result<(), WorkerError> {
    let mut pager = Pager::new(after, |after| PollTask::Orders { window, after });
    loop {
        let step = orders_page(deps, &record.shop, token, window, pager.after.clone(), &mut pager.report).await?;
        match pager.next(deps, job, step).await? {
            Flow::More => {}
            Flow::Handed => return Ok(()),
            Flow::Ended => return complete(deps, job, window, pager.after.as_deref(), pager.report).await,
        }
    }
}

async fn orders_page(
    deps: &Deps,
    shop: &ShopDomain,
    token: &Secret,
    window: PollWindow,
    after: Option<String>,
    report: &mut WindowReport,
) -> Result<Step, WorkerError> {
    let (search, sort_key) = window.search();
    let variables = serde_json::json!({
        "first": ORDERS_PAGE_SIZE, "after": after, "query": search, "sortKey": sort_key,
    });
    let reply = match fetch::<OrdersData>(deps, shop, token, ORDERS_PAGE, variables).await? {
        Fetch::Got(reply) => reply,
        Fetch::Later(wait) => return Ok(Step::Later(wait)),
    };
    let page = reply.data.orders;
    let now = deps.clock.now();
    let cursors: Vec<(OrderKey, String)> = page
        .edges
        .iter()
        .filter_map(|e| {
            let id = e.node.legacy_resource_id.as_deref().unwrap_or_else(|| gid_tail(&e.node.id));
            Some((OrderKey::shopify(ChannelOrderId::parse(id).ok()?), e.cursor.clone()))
        })
        .collect();
    for node in page.edges.into_iter().map(|e| e.node) {
        report.seen += 1;
        let id = node.id.clone();
        let order = match node.into_order(shop.clone()) {
            Ok(order) => order,
            Err(e) => {
                // One unreadable order must not hold the whole window back.
                unreadable(deps, shop, &id, &e.to_string()).await?;
                continue;
            }
        };
        let applied = orders::apply_revision(deps.orders.as_ref(), deps.alerts.as_ref(), order.clone(), now)
            .await
            .map_err(|e| WorkerError::Retryable(e.into()))?;
        if applied != Applied::Written {
            continue;
        }
        report.written += 1;
        if window.mode != WindowMode::Backfill && order.updated_at < now - GAP_GRACE {
            report.gaps += 1;
            raise_gap(deps, &order).await?;
        }
    }
    deps.sync.record_order_cursors(shop, &cursors).await?;
    Ok(Step::Page(page.page_info, reply.cost))
}

async fn products_window(
    deps: &Deps,
    job: &PollJob,
    record: &ShopRecord,
    token: &Secret,
    window: PollWindow,
    after: Option<String>,
) -> Result<(), WorkerError> {
    let shop = &record.shop;
    let mut pager = Pager::new(after, |after| PollTask::Products { window, after });
    loop {
        let step = products_page(deps, shop, token, window, pager.after.clone(), &mut pager.report).await?;
        match pager.next(deps, job, step).await? {
            Flow::More => {}
            Flow::Handed => return Ok(()),
            Flow::Ended => {
                deps.sync.advance_watermark(shop, Resource::Products, window.until, None).await?;
                let report = pager.report;
                tracing::info!(shop = %shop, pages = report.pages, seen = report.seen, written = report.written, "products window complete");
                return Ok(());
            }
        }
    }
}

async fn products_page(
    deps: &Deps,
    shop: &ShopDomain,
    token: &Secret,
    window: PollWindow,
    after: Option<String>,
    report: &mut WindowReport,
) -> Result<Step, WorkerError> {
    let (search, sort_key) = window.search();
    let variables = serde_json::json!({
        "first": PRODUCTS_PAGE_SIZE, "after": after, "query": search, "sortKey": sort_key,
    });
    let reply = match fetch::<ProductsData>(deps, shop, token, PRODUCTS_PAGE, variables).await? {
        Fetch::Got(reply) => reply,
        Fetch::Later(wait) => return Ok(Step::Later(wait)),
    };
    let mut cost = reply.cost;
    let page = reply.data.products;
    for mut node in page.nodes {
        report.seen += 1;
        let mut variants = std::mem::take(&mut node.variants.nodes);
        let mut more = node.variants.page_info.clone();
        while more.has_next_page {
            let variables = serde_json::json!({ "id": node.id, "after": more.end_cursor });
            let reply = match fetch::<ProductVariantsData>(deps, shop, token, PRODUCT_VARIANTS, variables).await? {
                Fetch::Got(reply) => reply,
                // The page is read again by the continuation; products already stored are unchanged.
                Fetch::Later(wait) => return Ok(Step::Later(wait)),
            };
            cost = reply.cost.or(cost);
            let Some(product) = reply.data.product else { break };
            variants.extend(product.variants.nodes);
            more = product.variants.page_info;
        }
        let product = node.into_product(shop.clone(), variants);
        if deps.products.put_product(&product).await? {
            report.written += 1;
        }
    }
    Ok(Step::Page(page.page_info, cost))
}

/// Hands the rest of the window to a continuation on the queue, delayed by `wait`.
async fn continue_later(
    deps: &Deps,
    job: &PollJob,
    task: PollTask,
    wait: Duration,
    report: WindowReport,
) -> Result<(), WorkerError> {
    let delay = u32::try_from(wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).unwrap_or(900).min(900);
    let continuation = PollJob { task, ..job.clone() };
    deps.queue.send(Stage::ShopifyPoll, &StageMessage::ShopifyPoll(continuation), delay).await?;
    tracing::info!(shop = %job.shop, delay, pages = report.pages, written = report.written, "window continues later");
    Ok(())
}

async fn complete(
    deps: &Deps,
    job: &PollJob,
    window: PollWindow,
    cursor: Option<&str>,
    report: WindowReport,
) -> Result<(), WorkerError> {
    let shop = &job.shop;
    let now = deps.clock.now();
    match window.mode {
        WindowMode::Incremental => {
            deps.sync.advance_watermark(shop, Resource::Orders, window.until, cursor).await?;
        }
        WindowMode::Recovery | WindowMode::Backfill => deps.sync.ping_refresh(shop, now).await?,
    }
    orders::review_due(deps.orders.as_ref(), deps.alerts.as_ref(), shop, now)
        .await
        .map_err(|e| WorkerError::Retryable(e.into()))?;
    tracing::info!(
        shop = %shop, mode = ?window.mode, pages = report.pages, seen = report.seen, written = report.written,
        gaps = report.gaps, "orders window complete"
    );
    Ok(())
}

async fn unreadable(deps: &Deps, shop: &ShopDomain, id: &str, error: &str) -> Result<(), WorkerError> {
    let alert = Alert {
        shop: shop.clone(),
        id: format!("unreadable:{id}"),
        kind: AlertKind::DataGap,
        message: format!("Order {id} from the poll could not be read ({error}); it was skipped"),
        order: None,
        raised_at: deps.clock.now(),
        cleared_at: None,
    };
    deps.alerts.raise_alert(&alert).await?;
    tracing::error!(shop = %shop, order = id, error, "unreadable order skipped");
    Ok(())
}

async fn raise_gap(deps: &Deps, order: &shared::domain::Order) -> Result<(), WorkerError> {
    let alert = Alert {
        shop: order.shop.clone(),
        id: format!("data_gap:{}:{}", order.key(), order.updated_at.timestamp_millis()),
        kind: AlertKind::DataGap,
        message: format!(
            "Order {} changed at {} but no webhook delivered it; the poll caught it up",
            order.name.as_str(),
            order.updated_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
        order: Some(order.key().to_string()),
        raised_at: deps.clock.now(),
        cleared_at: None,
    };
    deps.alerts.raise_alert(&alert).await?;
    tracing::warn!(shop = %order.shop, order = %order.key(), "data gap: the poll found an undelivered change");
    Ok(())
}

async fn subscriptions(deps: &Deps, job: &PollJob, record: &ShopRecord, token: &Secret) -> Result<(), WorkerError> {
    let shop = &record.shop;
    let existing = deps
        .shopify
        .admin
        .graphql::<WebhookSubscriptionsData>(shop, token, WEBHOOK_SUBSCRIPTIONS, serde_json::json!({}))
        .await?
        .data
        .webhook_subscriptions
        .nodes;
    let ours = |topic: &str| {
        existing.iter().any(|s| {
            s.topic == graphql_topic(topic)
                && s.endpoint.as_ref().and_then(|e| e.callback_url.as_deref()) == Some(&deps.webhook_callback_url)
        })
    };
    let missing: Vec<&str> = SUBSCRIBED_TOPICS.iter().copied().filter(|t| !ours(t)).collect();
    if missing.is_empty() {
        tracing::info!(shop = %shop, "webhook subscriptions complete");
        return Ok(());
    }
    // An install registers the subscriptions: nothing was dropped, so no alert and no recovery window.
    let installing = job.origin.starts_with(install::INSTALL_ORIGIN);
    let now = deps.clock.now();
    for topic in &missing {
        let variables = serde_json::json!({
            "topic": graphql_topic(topic),
            "webhookSubscription": { "callbackUrl": deps.webhook_callback_url, "format": "JSON" },
        });
        let created = deps
            .shopify
            .admin
            .graphql::<WebhookSubscriptionCreateData>(shop, token, WEBHOOK_SUBSCRIPTION_CREATE, variables)
            .await?
            .data
            .webhook_subscription_create;
        if installing {
            if !created.user_errors.is_empty() {
                tracing::warn!(shop = %shop, topic, errors = %describe(&created.user_errors), "webhook subscription refused");
            }
            continue;
        }
        let outcome = if created.user_errors.is_empty() {
            "re-created".to_owned()
        } else {
            format!("could not be re-created ({})", describe(&created.user_errors))
        };
        let alert = Alert {
            shop: shop.clone(),
            id: format!("subscription_missing:{topic}:{}", job.origin),
            kind: AlertKind::DataGap,
            message: format!(
                "The {topic} webhook subscription was missing and {outcome}; its events may have been dropped, so the window since the last webhook is polled again"
            ),
            order: None,
            raised_at: now,
            cleared_at: None,
        };
        deps.alerts.raise_alert(&alert).await?;
        tracing::warn!(shop = %shop, topic, outcome = %outcome, "webhook subscription was missing");
    }
    if installing {
        tracing::info!(shop = %shop, created = missing.len(), "webhook subscriptions registered");
        return Ok(());
    }
    let state = deps.sync.sync_state(shop).await?;
    let since = state.last_webhook_at.or(state.orders_watermark).unwrap_or(record.installed_at);
    let window = PollWindow { mode: WindowMode::Recovery, from: since - deps.overlap, until: now };
    let recovery = PollJob { task: PollTask::Orders { window, after: None }, ..job.clone() };
    deps.queue.send(Stage::ShopifyPoll, &StageMessage::ShopifyPoll(recovery), 0).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_map_to_the_graphql_enum() {
        assert_eq!(graphql_topic("orders/partially_fulfilled"), "ORDERS_PARTIALLY_FULFILLED");
        assert_eq!(graphql_topic("fulfillment_orders/placed_on_hold"), "FULFILLMENT_ORDERS_PLACED_ON_HOLD");
    }
}
