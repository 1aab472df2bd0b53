//! The shop's install and token lifecycle (issue #12), over the store ports, the sealer and the token
//! endpoint client:
//!
//! - **Install by token exchange.** The first session-token request of a shop without a usable token
//!   exchanges that session token for an expiring offline token, seals it and its refresh token under
//!   the shop's KMS context, stores the granted scopes, raises a `setup` alert for missing scopes, and
//!   queues the webhook registration, the first poll windows and a 60-day backfill. One function at a
//!   time holds the shop's **token lease** (a conditional write), so concurrent first requests
//!   exchange once; the others wait briefly for its result.
//! - **Refresh before expiry.** A worker asking for the token of a shop whose token expires within
//!   [`REFRESH_MARGIN`] refreshes it under the lease; the new access and refresh tokens are written
//!   together under the record's token version. Others keep using the current token while it lasts.
//!   A refused refresh marks the token invalid.
//! - **A refused token** (any Shopify 401) marks the token invalid, raises a `reconnect` alert and
//!   parks the job; the next successful exchange clears the alert and re-queues the parked jobs.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, TimeDelta, Utc};
use sha2::{Digest, Sha256};

use crate::{
    app::{alerts, credentials, shops},
    clock::Clock,
    config::{Env, Secret, SecretsConfig},
    domain::{
        Integration, ShopDomain,
        poll::{PollWindow, WindowMode},
    },
    error::{StoreError, WorkerError},
    integrations::{
        http::UpstreamError,
        shopify::oauth::{Grant, OAuthClient, OAuthConfig, OAuthError},
    },
    queue::{Message, MessageQueue, PollJob, PollTask, Stage, schema},
    secrets::{SealError, Sealer},
    store::{AlertStore, ParkedJob, ShopRecord, ShopStatus, TokenStore, WriteOutcome},
};

/// Poll jobs queued by an install carry an origin starting with this: their subscription check
/// registers the webhooks without reporting them as missing.
pub const INSTALL_ORIGIN: &str = "install:";
/// A token closer than this to its expiry is refreshed (more than the poll interval, so the scheduled
/// polls keep every token fresh for the other workers).
pub const REFRESH_MARGIN: TimeDelta = TimeDelta::minutes(30);
/// How long a lease holder may take for an exchange or a refresh.
pub const LEASE: TimeDelta = TimeDelta::seconds(30);
/// How long a request or worker waits for another holder's exchange or refresh.
pub const WAIT_FOR_HOLDER: Duration = Duration::from_secs(5);
/// How much history an install backfills.
pub const BACKFILL: TimeDelta = TimeDelta::days(60);
/// The credential field of the refresh token (sealed under shop + integration + field).
const REFRESH_TOKEN: &str = "refresh_token";
const RESUME_BATCH: usize = 100;

/// What refreshing a shop's token needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenConfig {
    pub oauth: OAuthConfig,
    pub secrets: SecretsConfig,
}

impl TokenConfig {
    pub fn read(env: &mut Env) -> Self {
        Self { oauth: OAuthConfig::read(env), secrets: SecretsConfig::read(env) }
    }
}

/// What installing a shop needs: the token settings and the scopes the app requires
/// (`SHOPIFY_REQUIRED_SCOPES`, comma-separated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallConfig {
    pub tokens: TokenConfig,
    pub required_scopes: Vec<String>,
}

impl InstallConfig {
    pub fn read(env: &mut Env) -> Self {
        let tokens = TokenConfig::read(env);
        let scopes = env.required("SHOPIFY_REQUIRED_SCOPES");
        Self { tokens, required_scopes: split_scopes(&scopes) }
    }
}

fn split_scopes(raw: &str) -> Vec<String> {
    raw.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// The install and token service. Cheap to clone.
#[derive(Clone)]
pub struct Tokens {
    pub oauth: Arc<OAuthClient>,
    pub sealer: Arc<dyn Sealer>,
    pub store: Arc<dyn TokenStore>,
    pub alerts: Arc<dyn AlertStore>,
    pub queue: Arc<dyn MessageQueue>,
    pub clock: Arc<dyn Clock>,
    pub required_scopes: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The shop host may not receive tokens; nothing was sent.
    #[error("{0} is not a myshopify.com shop")]
    HostRefused(ShopDomain),
    /// Shopify refused the session token (expired or invalid: HTTP 400) or the app credentials.
    #[error("Shopify refused the session token (HTTP {status}: {error})")]
    Refused { status: u16, error: String },
    /// Shopify or KMS could not be reached, or another request is still installing the shop.
    #[error("the install could not complete: {0:#}")]
    Unavailable(anyhow::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The shop needs a new token exchange (a refused token or refresh, or no token at all).
    #[error("the shop's token is invalid; it must reconnect")]
    Invalid,
    #[error("the token could not be refreshed now: {0:#}")]
    Unavailable(anyhow::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<SealError> for InstallError {
    fn from(e: SealError) -> Self {
        InstallError::Unavailable(e.into())
    }
}

impl From<SealError> for TokenError {
    fn from(e: SealError) -> Self {
        TokenError::Unavailable(e.into())
    }
}

impl From<TokenError> for WorkerError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Store(e) => e.into(),
            TokenError::Unavailable(_) => WorkerError::Retryable(e.into()),
            TokenError::Invalid => WorkerError::Permanent(e.into()),
        }
    }
}

/// What [`Tokens::ensure_installed`] found or did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Installed {
    /// The shop already had a usable token: nothing was sent to Shopify.
    Usable,
    /// This request exchanged its session token.
    Exchanged { reconnected: bool, missing_scopes: Vec<String> },
    /// Another request held the lease and its result was waited for.
    ByAnother,
}

/// Whether the record's token may be used (possibly after a refresh).
pub fn usable(record: &ShopRecord) -> bool {
    record.status == ShopStatus::Active && record.token.invalid_since.is_none()
}

/// `n` random bytes, hex-encoded.
pub fn random_hex(n: usize) -> Result<String, anyhow::Error> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The stage a parked job's stage name (its queue name, [`Stage`]'s `Display`) names.
fn stage_named(name: &str) -> Option<Stage> {
    schema::QUEUES.iter().find(|def| def.name == name).map(|def| def.stage)
}

const SHOPIFY_POLL: Stage = Stage::Poll(Integration::Shopify);

impl Tokens {
    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    async fn seal(&self, shop: &ShopDomain, field: &str, secret: &Secret) -> Result<String, SealError> {
        credentials::seal(self.sealer.as_ref(), shop, Integration::Shopify, field, secret).await
    }

    async fn open(&self, record: &ShopRecord) -> Result<Secret, TokenError> {
        shops::open_token(self.sealer.as_ref(), record).await.map_err(tenant_error)
    }

    /// Makes sure `shop` has a usable token, exchanging `session_token` (already verified as the
    /// shop's) when it has none: a first install, a re-install, or a reconnect after Shopify refused
    /// the token. Concurrent calls exchange once.
    pub async fn ensure_installed(&self, shop: &ShopDomain, session_token: &str) -> Result<Installed, InstallError> {
        if !self.oauth.config().hosts.allows(shop) {
            return Err(InstallError::HostRefused(shop.clone()));
        }
        if self.store.shop_versioned(shop).await?.is_some_and(|(r, _)| usable(&r)) {
            return Ok(Installed::Usable);
        }
        let holder = random_hex(16).map_err(InstallError::Unavailable)?;
        let now = self.now();
        if !self.store.claim_token_lease(shop, &holder, now, now + LEASE).await? {
            return self.wait_for_install(shop).await;
        }
        let result = self.install_holding_lease(shop, session_token).await;
        self.store.release_token_lease(shop, &holder).await?;
        result
    }

    async fn wait_for_install(&self, shop: &ShopDomain) -> Result<Installed, InstallError> {
        let deadline = tokio::time::Instant::now() + WAIT_FOR_HOLDER;
        while tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if self.store.shop_versioned(shop).await?.is_some_and(|(r, _)| usable(&r)) {
                return Ok(Installed::ByAnother);
            }
        }
        Err(InstallError::Unavailable(anyhow::anyhow!("another request is installing the shop")))
    }

    async fn install_holding_lease(&self, shop: &ShopDomain, session_token: &str) -> Result<Installed, InstallError> {
        // The holder before us may have finished just before we claimed the lease.
        if self.store.shop_versioned(shop).await?.is_some_and(|(r, _)| usable(&r)) {
            return Ok(Installed::ByAnother);
        }
        let now = self.now();
        let grant = self.oauth.exchange(shop, session_token, now).await.map_err(|e| match e {
            OAuthError::HostRefused(_) => InstallError::HostRefused(shop.clone()),
            OAuthError::Refused { status, error } => InstallError::Refused { status, error },
            other => InstallError::Unavailable(other.into()),
        })?;
        let sealed_token = self.seal(shop, shops::OFFLINE_TOKEN, &grant.access_token).await?;
        let sealed_refresh = match &grant.refresh_token {
            Some(refresh) => Some(self.seal(shop, REFRESH_TOKEN, refresh).await?),
            None => None,
        };
        for attempt in 0..3 {
            crate::clock::pause_before_retry(attempt).await;
            let stored = self.store.shop_versioned(shop).await?;
            let previous = stored.as_ref().map(|(r, _)| r);
            let reconnected = previous.is_some_and(|r| r.status == ShopStatus::Active);
            let record = ShopRecord {
                shop: shop.clone(),
                status: ShopStatus::Active,
                scopes: grant.scopes.clone(),
                sealed_token: sealed_token.clone(),
                installed_at: previous.filter(|_| reconnected).map(|r| r.installed_at).unwrap_or(now),
                metafields_sync: previous.is_some_and(|r| r.metafields_sync),
                token: crate::store::TokenState {
                    expires_at: grant.expires_at,
                    sealed_refresh_token: sealed_refresh.clone(),
                    refresh_token_expires_at: grant.refresh_token_expires_at,
                    invalid_since: None,
                },
            };
            let expected = stored.as_ref().map(|(r, v)| (*v, r.status));
            if self.store.replace_shop(&record, expected).await? == WriteOutcome::VersionConflict {
                continue;
            }
            let missing = self.after_install(&record, previous, reconnected, &grant).await?;
            tracing::info!(shop = %shop, reconnected, scopes = record.scopes.len(), expiring = grant.expires_at.is_some(), "shop installed by token exchange");
            return Ok(Installed::Exchanged { reconnected, missing_scopes: missing });
        }
        Err(InstallError::Unavailable(anyhow::anyhow!("the shop record kept changing during the install")))
    }

    /// Alerts and queued work after a successful exchange. Returns the missing scopes.
    async fn after_install(
        &self,
        record: &ShopRecord,
        previous: Option<&ShopRecord>,
        reconnected: bool,
        grant: &Grant,
    ) -> Result<Vec<String>, InstallError> {
        let shop = &record.shop;
        let now = self.now();
        let missing: Vec<String> = self.required_scopes.iter().filter(|s| !grant.scopes.contains(s)).cloned().collect();
        if missing.is_empty() {
            self.alerts.clear_alert(shop, alerts::MISSING_SCOPES_ID, now).await?;
        } else {
            self.alerts.raise_alert(&alerts::missing_scopes(shop, &missing, now)).await?;
            tracing::warn!(shop = %shop, missing = %missing.join(","), "required scopes are missing");
        }
        if let Some(since) = previous.and_then(|p| p.token.invalid_since) {
            self.alerts.clear_alert(shop, &alerts::reconnect_id(since), now).await?;
        }
        let queue_err = |e: crate::error::QueueError| InstallError::Unavailable(e.into());
        if reconnected {
            // Subscriptions may have been deleted while Shopify refused the token: a normal check
            // re-creates them and re-reads the window since the last webhook.
            let origin = format!("reconnect:{}", now.timestamp_millis());
            let check = PollJob {
                integration: Integration::Shopify,
                shop: shop.clone(),
                origin,
                task: PollTask::Subscriptions,
            };
            self.queue.send(SHOPIFY_POLL, &Message::Poll(check), 0).await.map_err(queue_err)?;
            self.resume(shop).await?;
        } else {
            let origin = format!("{INSTALL_ORIGIN}{}", now.timestamp_millis());
            let overlap = TimeDelta::seconds(120);
            let tasks = [
                PollTask::Subscriptions,
                PollTask::Orders { window: PollWindow::incremental(None, now, overlap, now), after: None },
                PollTask::Products {
                    window: PollWindow::incremental(None, DateTime::UNIX_EPOCH, overlap, now),
                    after: None,
                },
                PollTask::Orders {
                    window: PollWindow { mode: WindowMode::Backfill, from: now - BACKFILL, until: now },
                    after: None,
                },
            ];
            for task in tasks {
                let job =
                    PollJob { integration: Integration::Shopify, shop: shop.clone(), origin: origin.clone(), task };
                self.queue.send(SHOPIFY_POLL, &Message::Poll(job), 0).await.map_err(queue_err)?;
            }
        }
        Ok(missing)
    }

    /// Re-queues the shop's parked jobs. Returns how many.
    pub async fn resume(&self, shop: &ShopDomain) -> Result<usize, InstallError> {
        let mut resumed = 0;
        loop {
            let parked = self.store.parked(shop, RESUME_BATCH).await?;
            if parked.is_empty() {
                break;
            }
            for job in &parked {
                let Some(stage) = stage_named(&job.stage) else {
                    self.store.unpark(shop, &job.id).await?;
                    continue;
                };
                self.queue.send(stage, &job.message, 0).await.map_err(|e| InstallError::Unavailable(e.into()))?;
                self.store.unpark(shop, &job.id).await?;
                resumed += 1;
            }
        }
        if resumed > 0 {
            tracing::info!(shop = %shop, resumed, "parked jobs resumed after the reconnect");
        }
        Ok(resumed)
    }

    /// The access token of `record` for an Admin API call, refreshed first when it expires within
    /// [`REFRESH_MARGIN`].
    pub async fn token(&self, record: &ShopRecord) -> Result<Secret, TokenError> {
        if !usable(record) {
            return Err(TokenError::Invalid);
        }
        let now = self.now();
        let due = |r: &ShopRecord| r.token.expires_at.is_some_and(|at| at - now <= REFRESH_MARGIN);
        if !due(record) {
            return self.open(record).await;
        }
        let shop = &record.shop;
        let holder = random_hex(16).map_err(TokenError::Unavailable)?;
        if !self.store.claim_token_lease(shop, &holder, now, now + LEASE).await? {
            return self.token_from_holder(record).await;
        }
        let result = self.refresh_holding_lease(shop, due).await;
        self.store.release_token_lease(shop, &holder).await?;
        result
    }

    /// Another function is refreshing: use the current token while it lasts, else wait for the new one.
    async fn token_from_holder(&self, record: &ShopRecord) -> Result<Secret, TokenError> {
        let still_valid = |r: &ShopRecord| r.token.expires_at.is_none_or(|at| at > self.now() + TimeDelta::seconds(10));
        if still_valid(record) {
            return self.open(record).await;
        }
        let deadline = tokio::time::Instant::now() + WAIT_FOR_HOLDER;
        while tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let Some((fresh, _)) = self.store.shop_versioned(&record.shop).await? else {
                return Err(TokenError::Invalid);
            };
            if !usable(&fresh) {
                return Err(TokenError::Invalid);
            }
            if still_valid(&fresh) {
                return self.open(&fresh).await;
            }
        }
        Err(TokenError::Unavailable(anyhow::anyhow!("another function's refresh did not finish in time")))
    }

    async fn refresh_holding_lease(
        &self,
        shop: &ShopDomain,
        due: impl Fn(&ShopRecord) -> bool,
    ) -> Result<Secret, TokenError> {
        let Some((record, version)) = self.store.shop_versioned(shop).await? else { return Err(TokenError::Invalid) };
        if !usable(&record) {
            return Err(TokenError::Invalid);
        }
        if !due(&record) {
            // Refreshed by the holder before us.
            return self.open(&record).await;
        }
        let Some(sealed_refresh) = record.token.sealed_refresh_token.as_deref() else {
            self.invalidate(shop, "the token expires and there is no refresh token").await?;
            return Err(TokenError::Invalid);
        };
        let refresh_token =
            credentials::open(self.sealer.as_ref(), shop, Integration::Shopify, REFRESH_TOKEN, sealed_refresh).await?;
        let now = self.now();
        let grant = match self.oauth.refresh(shop, &refresh_token, now).await {
            Ok(grant) => grant,
            Err(e) if e.is_transient() => return Err(TokenError::Unavailable(e.into())),
            Err(e) => {
                tracing::warn!(shop = %shop, error = %e, "token refresh refused; the shop must reconnect");
                self.invalidate(shop, "Shopify refused the token refresh").await?;
                return Err(TokenError::Invalid);
            }
        };
        let sealed_token = self.seal(shop, shops::OFFLINE_TOKEN, &grant.access_token).await?;
        // Shopify replaced the refresh token: the new one is stored with the new access token, in one write.
        let sealed_refresh_token = match &grant.refresh_token {
            Some(refresh) => Some(self.seal(shop, REFRESH_TOKEN, refresh).await?),
            None => record.token.sealed_refresh_token.clone(),
        };
        let next = ShopRecord {
            sealed_token,
            token: crate::store::TokenState {
                expires_at: grant.expires_at,
                sealed_refresh_token,
                refresh_token_expires_at: grant.refresh_token_expires_at.or(record.token.refresh_token_expires_at),
                invalid_since: None,
            },
            ..record.clone()
        };
        if self.store.replace_shop(&next, Some((version, record.status))).await? == WriteOutcome::VersionConflict {
            // Uninstalled or reinstalled meanwhile: the new token is still Shopify's answer for this call.
            tracing::warn!(shop = %shop, "the shop record changed during a refresh; the refreshed token was not stored");
        } else {
            tracing::info!(shop = %shop, "offline token refreshed");
        }
        Ok(grant.access_token)
    }

    /// Marks the shop's token invalid (once) and raises the reconnect alert.
    pub async fn invalidate(&self, shop: &ShopDomain, why: &str) -> Result<(), StoreError> {
        for attempt in 0..3 {
            crate::clock::pause_before_retry(attempt).await;
            let Some((record, version)) = self.store.shop_versioned(shop).await? else { return Ok(()) };
            if record.token.invalid_since.is_some() || record.status != ShopStatus::Active {
                return Ok(());
            }
            let now = self.now();
            let mut next = record.clone();
            next.token.invalid_since = Some(now);
            if self.store.replace_shop(&next, Some((version, record.status))).await? == WriteOutcome::VersionConflict {
                continue;
            }
            let alert = alerts::reconnect(shop, why, now);
            self.alerts.raise_alert(&alert).await?;
            tracing::warn!(shop = %shop, why, "token marked invalid; reconnect required");
            return Ok(());
        }
        Err(StoreError::unavailable("invalidate token", "the shop record kept changing"))
    }

    /// Sets `message` aside until the shop reconnects.
    pub async fn park(&self, stage: Stage, message: &Message) -> Result<(), StoreError> {
        let body = serde_json::to_vec(message).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let id: String = Sha256::digest(&body).iter().take(16).map(|b| format!("{b:02x}")).collect();
        let job = ParkedJob { id, stage: stage.to_string(), message: message.clone(), parked_at: self.now() };
        self.store.park(message.shop(), &job).await?;
        tracing::info!(shop = %message.shop(), kind = message.kind(), "job parked until the shop reconnects");
        Ok(())
    }

    /// Handles Shopify's refusal of the shop's token during `message`: marks the token invalid, raises
    /// the reconnect alert, and parks the message (acknowledged, not dead-lettered).
    pub async fn refused(&self, stage: Stage, message: &Message) -> Result<(), StoreError> {
        self.invalidate(message.shop(), "Shopify answered 401").await?;
        self.park(stage, message).await
    }
}

fn tenant_error(e: shops::TenantError) -> TokenError {
    match e {
        shops::TenantError::Store(e) => TokenError::Store(e),
        shops::TenantError::Seal(e) => e.into(),
    }
}

/// Whether a worker's error is Shopify refusing the token (HTTP 401).
pub fn is_token_refusal(error: &WorkerError) -> bool {
    let (WorkerError::Retryable(e) | WorkerError::Permanent(e)) = error;
    e.chain().any(|cause| {
        matches!(cause.downcast_ref::<UpstreamError>(), Some(UpstreamError::Unauthorized { status: 401, .. }))
            || matches!(cause.downcast_ref::<TokenError>(), Some(TokenError::Invalid))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_split_on_commas() {
        assert_eq!(split_scopes(" read_orders, ,write_fulfillments "), ["read_orders", "write_fulfillments"]);
    }

    #[test]
    fn stage_names_round_trip() {
        for def in schema::QUEUES {
            assert_eq!(stage_named(&def.stage.to_string()), Some(def.stage));
        }
    }

    #[test]
    fn a_token_refusal_is_recognised_through_the_worker_error() {
        let refusal = |status| UpstreamError::Unauthorized {
            upstream: "Shopify",
            status,
            code: status.to_string(),
            message: "refused".into(),
        };
        let refused: WorkerError = refusal(401).into();
        assert!(is_token_refusal(&refused));
        let forbidden: WorkerError = refusal(403).into();
        assert!(!is_token_refusal(&forbidden));
        assert!(is_token_refusal(&TokenError::Invalid.into()));
    }
}
