//! Outbound changes: each message hands one change to its destination and records the outcome on the
//! order, keyed by the message id, so a redelivery records nothing new. One queue per destination,
//! all consumed by this code.
//!
//! Partner effects (MasonHub's create, update and cancel) go through the dispatcher: paced by a token
//! bucket per partner and shop, retried on seed 004's ladder (at once, then 1, 2, 5 and 10 s later,
//! carried by SQS delays), and then dead-lettered; a refusal (a 4xx, a failed record) is dead-lettered
//! at once with the partner's message. Shopify's pushes use the same retry and dead-letter code on
//! their own, longer ladder (`RetryLadder::SHOPIFY`: past Shopify's 4-hour window), so an outage of
//! Shopify never exhausts the queue's redrive.

mod commerceos;
mod masonhub;
mod shopify;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use chrono::{DateTime, Utc};

use crate::{
    app::{
        dead_letters,
        install::{self, Tokens},
        shops::ShopifyAccess,
    },
    clock::Clock,
    config::Env,
    domain::{
        Integration, OrderKey, ShopDomain,
        fulfilment::{RetryLadder, TokenBucket},
    },
    error::WorkerError,
    integrations::{
        commerceos::{CommerceOsConfig, client::CommerceOsClient},
        masonhub::{MasonHubConfig, client::MasonHubClient},
    },
    queue::{Message, MessageQueue, OutboundChange, Stage},
    secrets::Sealer,
    store::{
        AlertStore, ConnectionStore, CredentialStore, DeadLetter, DeadLetterCause, DeadLetterStore, Delivery,
        DeliveryOutcome, DeliveryStore, OrderStore, OutboxStore, ShopStore,
    },
};

/// A partner's pace: a token bucket per shop.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateConfig {
    pub burst: u32,
    pub per_second: f64,
}

impl RateConfig {
    /// `{PREFIX}_RATE_BURST` and `{PREFIX}_RATE_PER_SECOND` (MasonHub publishes no limit): the partner's
    /// pace per shop across every worker. Each instance keeps its own bucket, so it takes its share:
    /// the pace divided by `{PREFIX}_WORKERS`, the most instances the queue's event source runs at once
    /// (its `MaximumConcurrency`; a template test keeps the two equal).
    pub fn read(env: &mut Env, prefix: &str) -> Self {
        Self::read_or(env, prefix, Self { burst: 10, per_second: 5.0 })
    }

    /// As [`RateConfig::read`], with the partner's own defaults (CommerceOS: 100 requests per second).
    pub fn read_or(env: &mut Env, prefix: &str, default: Self) -> Self {
        let burst: u32 =
            env.parsed(&format!("{prefix}_RATE_BURST"), default.burst, |v| v.parse().ok().filter(|b| *b > 0));
        let per_second = env.parsed(&format!("{prefix}_RATE_PER_SECOND"), default.per_second, |v| {
            v.parse().ok().filter(|r: &f64| *r > 0.0)
        });
        let workers: u32 = env.parsed(&format!("{prefix}_WORKERS"), 1, |v| v.parse().ok().filter(|w| *w > 0));
        Self { burst: burst.div_ceil(workers), per_second: per_second / f64::from(workers) }
    }
}

/// The token buckets of one worker instance, per partner and shop.
#[derive(Debug, Default)]
pub struct RateLimits {
    configs: HashMap<Integration, RateConfig>,
    buckets: Mutex<HashMap<(Integration, ShopDomain), TokenBucket>>,
}

impl RateLimits {
    pub fn new(configs: impl IntoIterator<Item = (Integration, RateConfig)>) -> Self {
        Self { configs: configs.into_iter().collect(), buckets: Mutex::default() }
    }

    /// Takes a token for a call to `partner` for `shop`, or says how many seconds to wait.
    pub fn take(&self, partner: Integration, shop: &ShopDomain, now: DateTime<Utc>) -> Result<(), u32> {
        let Some(config) = self.configs.get(&partner) else { return Ok(()) };
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = buckets
            .entry((partner, shop.clone()))
            .or_insert_with(|| TokenBucket::new(config.burst, config.per_second, now));
        bucket.take(now).map_err(|wait| u32::try_from(wait.num_seconds() + 1).unwrap_or(900).min(900))
    }
}

/// What the MasonHub dispatcher calls MasonHub with.
pub struct MasonHubAccess {
    pub client: MasonHubClient,
    pub config: MasonHubConfig,
    pub connections: Arc<dyn ConnectionStore>,
    pub credentials: Arc<dyn CredentialStore>,
    pub sealer: Arc<dyn Sealer>,
}

/// What the CommerceOS dispatcher calls CommerceOS with.
pub struct CommerceOsAccess {
    /// Caches OAuth2 tokens per tenant for the worker instance's life.
    pub client: CommerceOsClient,
    pub config: CommerceOsConfig,
    pub connections: Arc<dyn ConnectionStore>,
    pub credentials: Arc<dyn CredentialStore>,
    pub sealer: Arc<dyn Sealer>,
}

/// What the outbound stage works with.
pub struct Outbound {
    pub deliveries: Arc<dyn DeliveryStore>,
    pub alerts: Arc<dyn AlertStore>,
    pub shops: Arc<dyn ShopStore>,
    pub orders: Arc<dyn OrderStore>,
    pub outbox: Arc<dyn OutboxStore>,
    pub dead_letters: Arc<dyn DeadLetterStore>,
    pub queue: Arc<dyn MessageQueue>,
    pub shopify: ShopifyAccess,
    /// Refreshes expiring tokens; marks refused ones invalid and parks their messages.
    pub tokens: Tokens,
    pub masonhub: MasonHubAccess,
    pub commerceos: CommerceOsAccess,
    pub rates: RateLimits,
    pub clock: Arc<dyn Clock>,
}

/// A change's outcome and what to record about it.
type Outcome = (DeliveryOutcome, String);

/// A failed attempt at a partner effect.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub error: String,
    /// 429, 5xx, a timeout or not yet possible: worth another rung of the ladder.
    pub transient: bool,
    pub request: Option<serde_json::Value>,
    pub response: Option<String>,
}

impl Failure {
    fn of(error: &crate::integrations::http::UpstreamError, request: Option<serde_json::Value>) -> Self {
        Self { error: error.to_string(), transient: error.is_retryable(), request, response: Some(error.to_string()) }
    }

    fn rejected(error: impl Into<String>, request: Option<serde_json::Value>, response: Option<String>) -> Self {
        Self { error: error.into(), transient: false, request, response }
    }

    fn waiting(error: impl Into<String>) -> Self {
        Self { error: error.into(), transient: true, request: None, response: None }
    }
}

/// Hands one change on and records its outcome. A change whose shop's token Shopify refuses is parked
/// until the shop reconnects, rather than dead-lettered.
pub async fn process(deps: &Outbound, message: Message) -> Result<(), WorkerError> {
    let stage = match &message {
        Message::Outbound(outbound) => Stage::Outbound(outbound.destination),
        other => {
            return Err(WorkerError::Permanent(anyhow::anyhow!("a {} message on an outbound queue", other.kind())));
        }
    };
    match deliver(deps, message.clone()).await {
        Err(e) if install::is_token_refusal(&e) => Ok(deps.tokens.refused(stage, &message).await?),
        other => other,
    }
}

async fn deliver(deps: &Outbound, message: Message) -> Result<(), WorkerError> {
    let Message::Outbound(outbound) = message else {
        return Err(WorkerError::Permanent(anyhow::anyhow!("not an outbound message")));
    };
    if outbound.destination == Integration::MasonHub {
        return masonhub::dispatch(deps, vec![outbound]).await.into_iter().next().unwrap_or(Ok(()));
    }
    if let OutboundChange::Erp(action) = &outbound.change {
        return commerceos::single(deps, &outbound, action).await;
    }
    let key = OrderKey::parse(&outbound.order).map_err(|e| WorkerError::Permanent(e.into()))?;
    if already_handed_on(deps, &outbound, &key).await? {
        return Ok(());
    }
    let crate::queue::Outbound { destination, shop, id, change, .. } = &outbound;
    let push = match (destination, change) {
        (Integration::Shopify, OutboundChange::AssignmentSync { assignee }) => {
            Some(shopify::assignment(deps, shop, &key, id, assignee.as_deref()).await?)
        }
        (Integration::Shopify, OutboundChange::FulfillmentCreate { tracking_number, carrier, .. }) => {
            Some(shopify::fulfillment(deps, shop, &key, id, tracking_number.as_deref(), carrier.as_deref()).await?)
        }
        _ => None,
    };
    let (outcome, detail) = match (push, destination, change) {
        (Some(shopify::Push::Done(outcome)), ..) => outcome,
        (Some(shopify::Push::Held(delay)), ..) => return put_back(deps, &outbound, delay, "push held elsewhere").await,
        (Some(shopify::Push::Failed(failure)), ..) => {
            if !failure.transient {
                record(deps, &outbound, &key, DeliveryOutcome::Rejected, failure.error.clone()).await?;
            }
            return retry_or_dead_letter(deps, &outbound, failure).await;
        }
        (None, _, OutboundChange::SupportEscalation { .. }) => {
            // Delivered only once something receives it: no support destination exists yet, so the
            // escalation waits, visible on the order's deliveries, and a redelivery or replay retries it.
            (DeliveryOutcome::Deferred, "no support destination is configured; the escalation waits for one".to_owned())
        }
        (None, _, OutboundChange::ReturnUpdate { .. }) => (
            DeliveryOutcome::Deferred,
            "no Shopify returns integration is configured; a mirrored order's refund goes to CommerceOS as a payment"
                .to_owned(),
        ),
        (None, other, change) => {
            let detail = format!("{other} has no handler for {} changes", change.kind());
            return Err(WorkerError::Permanent(anyhow::anyhow!(detail)));
        }
    };
    record(deps, &outbound, &key, outcome, detail).await
}

/// Processes a batch of one queue: MasonHub's creates go out together (up to 30 per request), the rest
/// one by one. One result per message, in order.
pub async fn process_batch(deps: &Outbound, messages: Vec<Message>) -> Vec<Result<(), WorkerError>> {
    let mut results: Vec<Option<Result<(), WorkerError>>> = Vec::with_capacity(messages.len());
    let mut partner = Vec::new();
    let mut positions = Vec::new();
    for (i, message) in messages.into_iter().enumerate() {
        match message {
            Message::Outbound(o) if o.destination == Integration::MasonHub => {
                partner.push(o);
                positions.push(i);
                results.push(None);
            }
            other => results.push(Some(process(deps, other).await)),
        }
    }
    for (position, result) in positions.into_iter().zip(masonhub::dispatch(deps, partner).await) {
        results[position] = Some(result);
    }
    results.into_iter().map(|r| r.unwrap_or(Ok(()))).collect()
}

/// Whether the message was handed on already (a redelivery): a replay of it then resolves its dead
/// letter.
async fn already_handed_on(
    deps: &Outbound,
    outbound: &crate::queue::Outbound,
    key: &OrderKey,
) -> Result<bool, WorkerError> {
    let recorded = deps.deliveries.deliveries(&outbound.shop, key).await?;
    // A replay sends a refused change again (the merchant fixed its cause): only a settled outcome
    // other than a refusal answers it.
    let settled = |d: &Delivery| match d.outcome {
        DeliveryOutcome::Deferred => false,
        DeliveryOutcome::Rejected => !outbound.replay,
        DeliveryOutcome::Delivered | DeliveryOutcome::Skipped => true,
    };
    if !recorded.iter().any(|d| d.id == outbound.id && settled(d)) {
        return Ok(false);
    }
    tracing::info!(shop = %outbound.shop, order = %key, kind = outbound.change.kind(), "already handed on; redelivery ignored");
    if outbound.replay {
        let now = deps.clock.now();
        dead_letters::resolve(
            deps.dead_letters.as_ref(),
            deps.alerts.as_ref(),
            &outbound.shop,
            outbound.destination,
            &outbound.id,
            now,
        )
        .await?;
    }
    Ok(true)
}

/// Records the outcome of a change; a replayed message that went through resolves its dead letter.
async fn record(
    deps: &Outbound,
    outbound: &crate::queue::Outbound,
    key: &OrderKey,
    outcome: DeliveryOutcome,
    detail: String,
) -> Result<(), WorkerError> {
    let now = deps.clock.now();
    let delivery =
        Delivery { id: outbound.id.clone(), kind: outbound.change.kind().to_owned(), outcome, detail, at: now };
    deps.deliveries.record_delivery(&outbound.shop, key, &delivery).await?;
    if outbound.replay {
        dead_letters::resolve(
            deps.dead_letters.as_ref(),
            deps.alerts.as_ref(),
            &outbound.shop,
            outbound.destination,
            &outbound.id,
            now,
        )
        .await?;
    }
    tracing::info!(
        shop = %outbound.shop, order = %key, stage = %Stage::Outbound(outbound.destination), kind = outbound.change.kind(),
        outcome = outcome.as_str(), "outbound change recorded"
    );
    Ok(())
}

/// After a failed attempt: the next rung of the ladder (the same message, one attempt more, delayed by
/// SQS), or the dead letter.
async fn retry_or_dead_letter(
    deps: &Outbound,
    outbound: &crate::queue::Outbound,
    failure: Failure,
) -> Result<(), WorkerError> {
    let stage = Stage::Outbound(outbound.destination);
    if failure.transient
        && let Some(delay) = ladder(outbound.destination).delay(outbound.attempt)
    {
        let mut next = outbound.clone();
        next.attempt += 1;
        deps.queue.send(stage, &Message::Outbound(next), delay).await?;
        tracing::warn!(
            shop = %outbound.shop, order = %outbound.order, stage = %stage, attempt = outbound.attempt + 1, delay,
            error = %failure.error, "partner call failed; retrying"
        );
        return Ok(());
    }
    let now = deps.clock.now();
    let message = serde_json::to_value(Message::Outbound(outbound.clone()))
        .map_err(|e| WorkerError::Permanent(anyhow::anyhow!("cannot encode the message: {e}")))?;
    let letter = DeadLetter {
        shop: outbound.shop.clone(),
        id: outbound.id.clone(),
        destination: outbound.destination,
        order: outbound.order.clone(),
        kind: outbound.change.kind().to_owned(),
        message,
        request: failure.request,
        response: failure.response,
        attempts: outbound.attempt + 1,
        error: failure.error,
        cause: if failure.transient { DeadLetterCause::Transient } else { DeadLetterCause::Rejected },
        created_at: now,
        updated_at: now,
        episode: now,
        replays: 0,
        next_retry_at: None,
        retry_until: None,
    };
    dead_letters::record(deps.dead_letters.as_ref(), deps.alerts.as_ref(), letter, now).await?;
    Ok(())
}

/// The retry ladder of a destination's effects: Shopify's rides out a Shopify outage; partners keep
/// seed 004's.
pub fn ladder(destination: Integration) -> RetryLadder {
    match destination {
        Integration::Shopify => RetryLadder::SHOPIFY,
        _ => RetryLadder::PARTNER,
    }
}

/// Puts the message back with `delay` seconds, without spending a rung (the bucket was empty).
async fn wait_for_token(deps: &Outbound, outbound: &crate::queue::Outbound, delay: u32) -> Result<(), WorkerError> {
    put_back(deps, outbound, delay, "rate limited").await
}

/// Puts the message back with `delay` seconds, without spending a rung.
async fn put_back(
    deps: &Outbound,
    outbound: &crate::queue::Outbound,
    delay: u32,
    why: &'static str,
) -> Result<(), WorkerError> {
    deps.queue.send(Stage::Outbound(outbound.destination), &Message::Outbound(outbound.clone()), delay).await?;
    tracing::info!(shop = %outbound.shop, order = %outbound.order, delay, why, "delayed");
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn each_worker_takes_its_share_of_the_partners_pace() {
        let vars = [("X_RATE_PER_SECOND", "5"), ("X_RATE_BURST", "9"), ("X_WORKERS", "2")];
        let mut env = Env::from_map(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        assert_eq!(RateConfig::read(&mut env, "X"), RateConfig { burst: 5, per_second: 2.5 });
        let mut alone = Env::from_map(Vec::new());
        assert_eq!(RateConfig::read(&mut alone, "X"), RateConfig { burst: 10, per_second: 5.0 });
        assert!(env.finish().is_ok() && alone.finish().is_ok());
    }
}
