//! Shopify's poll jobs (queued by [`super::shopify_schedule`], and by this code itself as
//! continuations). Three kinds of job:
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

use std::{sync::Arc, time::Duration};

use chrono::TimeDelta;

use crate::{
    app::{
        alerts,
        install::{self, Tokens},
        orders::{self, Applied},
        outbox,
        shops::ShopifyAccess,
    },
    clock::Clock,
    config::Secret,
    domain::{
        ChannelOrderId, Integration, OrderKey, ShopDomain,
        poll::{PollWindow, WindowMode},
    },
    error::WorkerError,
    integrations::{
        http::UpstreamError,
        shopify::{
            admin::{Cost, Reply, describe},
            graphql::{
                GqlOrder, ORDER_FULFILLMENTS, ORDER_LINE_ITEMS, ORDERS_PAGE, ORDERS_PAGE_SIZE, OrderFulfillmentsData,
                OrderLineItemsData, OrdersData, PRODUCT_VARIANTS, PRODUCTS_PAGE, PRODUCTS_PAGE_SIZE, PageInfo,
                ProductVariantsData, ProductsData, WEBHOOK_SUBSCRIPTION_CREATE, WEBHOOK_SUBSCRIPTIONS,
                WebhookSubscriptionCreateData, WebhookSubscriptionsData, gid_tail, search,
            },
        },
    },
    queue::{Message, MessageQueue, PollJob, PollTask, Stage},
    store::{
        AlertStore, ConnectionStore, OrderStore, OutboxStore, ProductStore, Resource, ShopRecord, ShopStatus,
        ShopStore, SyncStore,
    },
};

const SHOPIFY_POLL: Stage = Stage::Poll(Integration::Shopify);

/// A poll result older than this that no webhook delivered is a data gap; younger ones may simply be
/// in flight.
pub const GAP_GRACE: TimeDelta = TimeDelta::minutes(5);
/// Waits up to this long happen inline; longer ones are carried over with an SQS delay.
pub const MAX_INLINE_WAIT: Duration = Duration::from_secs(1);
/// Pages read per invocation before the rest of the window is handed to a continuation.
pub const MAX_PAGES_PER_RUN: usize = 40;

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
    "order_transactions/create",
    "fulfillment_orders/placed_on_hold",
    "fulfillment_orders/hold_released",
    "returns/request",
    "returns/approve",
    "returns/decline",
    "returns/close",
    "returns/cancel",
    "reverse_deliveries/attach_deliverable",
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

/// What the Shopify poll works with.
pub struct ShopifyPoll {
    pub orders: Arc<dyn OrderStore>,
    pub alerts: Arc<dyn AlertStore>,
    pub shops: Arc<dyn ShopStore>,
    pub sync: Arc<dyn SyncStore>,
    pub products: Arc<dyn ProductStore>,
    /// Fulfilment settings (routing): a polled order is routed as a webhook's would be, its partner
    /// effects committed with it and relayed at once.
    pub connections: Arc<dyn ConnectionStore>,
    pub outbox: Arc<dyn OutboxStore>,
    pub queue: Arc<dyn MessageQueue>,
    pub shopify: ShopifyAccess,
    /// Refreshes expiring tokens; marks refused ones invalid and parks their jobs.
    pub tokens: Tokens,
    pub clock: Arc<dyn Clock>,
    /// Where Shopify should deliver webhooks (the `POST /webhooks/shopify` route).
    pub webhook_callback_url: String,
    /// How far before the last webhook a recovery window starts.
    pub overlap: TimeDelta,
}

/// Runs one job of the Shopify poll queue.
pub async fn process(deps: &ShopifyPoll, message: Message) -> Result<(), WorkerError> {
    let job = match &message {
        Message::Poll(job) if job.integration == Integration::Shopify => job,
        other => {
            return Err(WorkerError::Permanent(anyhow::anyhow!(
                "a {} message on the Shopify poll queue",
                other.kind()
            )));
        }
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
        Err(e) if install::is_token_refusal(&e) => Ok(deps.tokens.refused(SHOPIFY_POLL, &message).await?),
        other => other,
    }
}

async fn run(deps: &ShopifyPoll, job: &PollJob, record: &ShopRecord, token: &Secret) -> Result<(), WorkerError> {
    match &job.task {
        PollTask::Orders { window, after } => orders_window(deps, job, record, token, *window, after.clone()).await,
        PollTask::Products { window, after } => products_window(deps, job, record, token, *window, after.clone()).await,
        PollTask::Subscriptions => subscriptions(deps, job, record, token).await,
        PollTask::OrdersSync { .. } => {
            Err(WorkerError::Permanent(anyhow::anyhow!("the Shopify poll has no orders sync")))
        }
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

/// One GraphQL call: the client waits out short throttles itself; a long one is handed back as
/// [`Fetch::Later`] for the caller to carry over with an SQS delay.
enum Fetch<T> {
    Got(Reply<T>),
    Later(Duration),
}

async fn fetch<T: serde::de::DeserializeOwned>(
    deps: &ShopifyPoll,
    shop: &ShopDomain,
    token: &Secret,
    query: &str,
    variables: serde_json::Value,
) -> Result<Fetch<T>, WorkerError> {
    fetch_from(&deps.shopify, shop, token, query, variables).await
}

async fn fetch_from<T: serde::de::DeserializeOwned>(
    shopify: &ShopifyAccess,
    shop: &ShopDomain,
    token: &Secret,
    query: &str,
    variables: serde_json::Value,
) -> Result<Fetch<T>, WorkerError> {
    match shopify.admin.graphql::<T>(shop, token, query, variables).await {
        Ok(reply) => Ok(Fetch::Got(reply)),
        Err(UpstreamError::Throttled { retry_after, .. }) => Ok(Fetch::Later(retry_after.max(MAX_INLINE_WAIT))),
        Err(e) => Err(e.into()),
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

    async fn next(&mut self, deps: &ShopifyPoll, job: &PollJob, step: Step) -> Result<Flow, WorkerError> {
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

    async fn hand_over(&self, deps: &ShopifyPoll, job: &PollJob, wait: Duration) -> Result<Flow, WorkerError> {
        continue_later(deps, job, (self.later)(self.after.clone()), wait, self.report).await?;
        Ok(Flow::Handed)
    }
}

async fn orders_window(
    deps: &ShopifyPoll,
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
    deps: &ShopifyPoll,
    shop: &ShopDomain,
    token: &Secret,
    window: PollWindow,
    after: Option<String>,
    report: &mut WindowReport,
) -> Result<Step, WorkerError> {
    let (search, sort_key) = search(&window);
    let variables = serde_json::json!({
        "first": ORDERS_PAGE_SIZE, "after": after, "query": search, "sortKey": sort_key,
    });
    let reply = match fetch::<OrdersData>(deps, shop, token, ORDERS_PAGE, variables).await? {
        Fetch::Got(reply) => reply,
        Fetch::Later(wait) => return Ok(Step::Later(wait)),
    };
    let page = reply.data.orders;
    let now = deps.clock.now();
    let routing = crate::app::connections::routing(deps.connections.as_ref(), shop).await?;
    let cursors: Vec<(OrderKey, String)> = page
        .edges
        .iter()
        .filter_map(|e| {
            let id = e.node.legacy_resource_id.as_deref().unwrap_or_else(|| gid_tail(&e.node.id));
            Some((OrderKey::shopify(ChannelOrderId::parse(id).ok()?), e.cursor.clone()))
        })
        .collect();
    let mut cost = reply.cost;
    for mut node in page.edges.into_iter().map(|e| e.node) {
        report.seen += 1;
        match complete_order(&deps.shopify, shop, token, &mut node, &mut cost).await? {
            Completion::Complete => {}
            // Deleted since the page was read: nothing to store.
            Completion::Gone => continue,
            // The page is read again by the continuation; orders already stored are unchanged.
            Completion::Later(wait) => return Ok(Step::Later(wait)),
        }
        let id = node.id.clone();
        let order = match node.into_order(shop.clone()) {
            Ok(order) => order,
            Err(e) => {
                // One unreadable order must not hold the whole window back.
                unreadable(deps, shop, &id, &e.to_string()).await?;
                continue;
            }
        };
        let orders_store = deps.orders.as_ref();
        let (applied, effects) = orders::apply_routed_revision(orders_store, &routing, order.clone(), now)
            .await
            .map_err(|e| WorkerError::Retryable(e.into()))?;
        outbox::relay_after_commit(deps.outbox.as_ref(), deps.queue.as_ref(), &effects).await;
        if applied != Applied::Written {
            continue;
        }
        crate::app::ingest::release_waiting(orders_store, deps.queue.as_ref(), shop, &order.key()).await?;
        report.written += 1;
        if window.mode != WindowMode::Backfill && order.updated_at < now - GAP_GRACE {
            report.gaps += 1;
            raise_gap(deps, &order).await?;
        }
    }
    deps.sync.record_order_cursors(shop, &cursors).await?;
    Ok(Step::Page(page.page_info, cost))
}

/// Whether an order node from a page could be completed.
pub(crate) enum Completion {
    Complete,
    /// The order is gone upstream.
    Gone,
    /// Shopify asked for a long wait.
    Later(Duration),
}

/// Reads what the orders page cut off: the line items after the first page, and every fulfilment with
/// all its tracking when the page copy was at a limit. A newer poll copy replaces the stored order, so
/// it must never be a truncated one.
pub(crate) async fn complete_order(
    shopify: &ShopifyAccess,
    shop: &ShopDomain,
    token: &Secret,
    node: &mut GqlOrder,
    cost: &mut Option<Cost>,
) -> Result<Completion, WorkerError> {
    let id = node.id.clone();
    if let Some(lines) = node.line_items.as_mut() {
        let mut after = lines.next_after();
        while let Some(cursor) = after {
            let variables = serde_json::json!({ "id": id, "after": cursor });
            let reply =
                match fetch_from::<OrderLineItemsData>(shopify, shop, token, ORDER_LINE_ITEMS, variables).await? {
                    Fetch::Got(reply) => reply,
                    Fetch::Later(wait) => return Ok(Completion::Later(wait)),
                };
            *cost = reply.cost.or(cost.take());
            let Some(order) = reply.data.order else { return Ok(Completion::Gone) };
            after = order.line_items.next_after();
            lines.nodes.extend(order.line_items.nodes);
        }
    }
    if node.fulfillments_at_limit() {
        let variables = serde_json::json!({ "id": id });
        let reply =
            match fetch_from::<OrderFulfillmentsData>(shopify, shop, token, ORDER_FULFILLMENTS, variables).await? {
                Fetch::Got(reply) => reply,
                Fetch::Later(wait) => return Ok(Completion::Later(wait)),
            };
        *cost = reply.cost.or(cost.take());
        let Some(order) = reply.data.order else { return Ok(Completion::Gone) };
        node.fulfillments = order.fulfillments;
    }
    Ok(Completion::Complete)
}

async fn products_window(
    deps: &ShopifyPoll,
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
                deps.sync.advance_watermark(shop, Integration::Shopify, Resource::Products, window.until, None).await?;
                let report = pager.report;
                tracing::info!(shop = %shop, pages = report.pages, seen = report.seen, written = report.written, "products window complete");
                return Ok(());
            }
        }
    }
}

async fn products_page(
    deps: &ShopifyPoll,
    shop: &ShopDomain,
    token: &Secret,
    window: PollWindow,
    after: Option<String>,
    report: &mut WindowReport,
) -> Result<Step, WorkerError> {
    let (search, sort_key) = search(&window);
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
    deps: &ShopifyPoll,
    job: &PollJob,
    task: PollTask,
    wait: Duration,
    report: WindowReport,
) -> Result<(), WorkerError> {
    let delay = u32::try_from(wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).unwrap_or(900).min(900);
    let continuation = PollJob { task, ..job.clone() };
    deps.queue.send(SHOPIFY_POLL, &Message::Poll(continuation), delay).await?;
    tracing::info!(shop = %job.shop, delay, pages = report.pages, written = report.written, "window continues later");
    Ok(())
}

async fn complete(
    deps: &ShopifyPoll,
    job: &PollJob,
    window: PollWindow,
    cursor: Option<&str>,
    report: WindowReport,
) -> Result<(), WorkerError> {
    let shop = &job.shop;
    let now = deps.clock.now();
    match window.mode {
        WindowMode::Incremental => {
            deps.sync.advance_watermark(shop, Integration::Shopify, Resource::Orders, window.until, cursor).await?;
        }
        WindowMode::Recovery | WindowMode::Backfill => deps.sync.ping_refresh(shop, now).await?,
    }
    orders::review_due(deps.orders.as_ref(), shop, now).await.map_err(|e| WorkerError::Retryable(e.into()))?;
    tracing::info!(
        shop = %shop, mode = ?window.mode, pages = report.pages, seen = report.seen, written = report.written,
        gaps = report.gaps, "orders window complete"
    );
    Ok(())
}

async fn unreadable(deps: &ShopifyPoll, shop: &ShopDomain, id: &str, error: &str) -> Result<(), WorkerError> {
    deps.alerts.raise_alert(&alerts::unreadable_order(shop, id, error, deps.clock.now())).await?;
    tracing::error!(shop = %shop, order = id, error, "unreadable order skipped");
    Ok(())
}

async fn raise_gap(deps: &ShopifyPoll, order: &crate::domain::Order) -> Result<(), WorkerError> {
    deps.alerts.raise_alert(&alerts::undelivered_change(order, deps.clock.now())).await?;
    tracing::warn!(shop = %order.shop, order = %order.key(), "data gap: the poll found an undelivered change");
    Ok(())
}

async fn subscriptions(
    deps: &ShopifyPoll,
    job: &PollJob,
    record: &ShopRecord,
    token: &Secret,
) -> Result<(), WorkerError> {
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
        let alert = alerts::subscription_missing(shop, topic, &job.origin, &outcome, now);
        deps.alerts.raise_alert(&alert).await?;
        tracing::warn!(shop = %shop, topic, outcome = %outcome, "webhook subscription was missing");
    }
    if installing {
        tracing::info!(shop = %shop, created = missing.len(), "webhook subscriptions registered");
        return Ok(());
    }
    let state = deps.sync.sync_state(shop).await?;
    let orders_watermark = state.watermark_at(Integration::Shopify, Resource::Orders);
    let since = state.last_webhook_at.or(orders_watermark).unwrap_or(record.installed_at);
    let window = PollWindow { mode: WindowMode::Recovery, from: since - deps.overlap, until: now };
    let recovery = PollJob { task: PollTask::Orders { window, after: None }, ..job.clone() };
    deps.queue.send(SHOPIFY_POLL, &Message::Poll(recovery), 0).await?;
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
