//! The shop's MasonHub connection: its account (environment and `urlSlug`), the hash of the callback
//! token that authenticates MasonHub's callbacks, and the shop's fulfilment settings (routing), typed
//! over the generic connection record; the API bearer token sealed with KMS. Connecting registers the
//! callbacks at MasonHub (`POST /callbacks`), so a merchant never touches MasonHub's console.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    app::credentials,
    config::Secret,
    domain::{FulfilmentSettings, Integration, ShopDomain},
    error::{ApiError, StoreError},
    integrations::{
        http::UpstreamError,
        masonhub::{
            Environment, MasonHubConfig,
            client::MasonHubClient,
            is_slug,
            model::{BACKORDER_POLICIES, CALLBACK_TYPES, CallbackRecord, PROVIDERS, SERVICE_LEVELS, SPLIT_POLICIES},
            webhook,
        },
    },
    secrets::Sealer,
    store::{ConnectionStatus, ConnectionStore, CredentialStore, Recorded, SealedCredential, WriteOutcome},
};

/// The sealed field of the API bearer token.
pub const API_TOKEN: &str = "api_token";

/// The settings document of a MasonHub connection record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub environment: Environment,
    pub account_slug: String,
    /// SHA-256 of the callback token (never the token).
    pub callback_token_hash: String,
    pub callbacks_registered_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub fulfilment: Option<FulfilmentSettings>,
    /// The callback token a reconnect replaced, still honoured until `previous_until`: callbacks
    /// MasonHub had already queued under it are not refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_callback_token_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_until: Option<DateTime<Utc>>,
    /// Set while a (re)connect registers callbacks at MasonHub: a second one meanwhile is refused, so
    /// MasonHub and the stored hash can never name different tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connecting_until: Option<DateTime<Utc>>,
}

/// How long a replaced callback token is still honoured.
pub const PREVIOUS_TOKEN_GRACE: chrono::TimeDelta = chrono::TimeDelta::hours(24);
/// How long a (re)connect may hold the connection while it registers callbacks.
const CONNECT_LEASE: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// A shop's MasonHub connection.
pub type MasonHubConnection = super::Typed<Settings>;

impl super::ConnectionSettings for Settings {
    const INTEGRATION: Integration = Integration::MasonHub;
}

pub async fn load(store: &dyn ConnectionStore, shop: &ShopDomain) -> Result<Option<MasonHubConnection>, StoreError> {
    super::load(store, shop).await
}

/// The shop's fulfilment settings, when MasonHub is connected, active and routing is configured.
pub async fn fulfilment(
    store: &dyn ConnectionStore,
    shop: &ShopDomain,
) -> Result<Option<FulfilmentSettings>, StoreError> {
    Ok(load(store, shop).await?.filter(|c| c.active).and_then(|c| c.settings.fulfilment))
}

/// Where and as whom to call the shop's MasonHub account.
pub struct Access {
    pub base_url: String,
    pub token: Secret,
}

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the MasonHub credential could not be opened")]
    Seal(#[from] crate::secrets::SealError),
    #[error("the shop has no active MasonHub connection")]
    NotConnected,
}

/// Opens the shop's MasonHub access: the base URL of its account and its bearer token.
pub async fn access(
    connections: &dyn ConnectionStore,
    credentials_store: &dyn CredentialStore,
    sealer: &dyn Sealer,
    config: &MasonHubConfig,
    shop: &ShopDomain,
) -> Result<Access, AccessError> {
    let connection = load(connections, shop).await?.filter(|c| c.active).ok_or(AccessError::NotConnected)?;
    let credential =
        credentials_store.credential(shop, Integration::MasonHub).await?.ok_or(AccessError::NotConnected)?;
    let sealed = credential.sealed.get(API_TOKEN).ok_or(AccessError::NotConnected)?;
    let token = credentials::open(sealer, shop, Integration::MasonHub, API_TOKEN, sealed).await?;
    Ok(Access { base_url: config.base_url(connection.settings.environment, &connection.settings.account_slug), token })
}

/// `PUT /api/masonhub/connection`'s body. No `Debug`: it holds the API token.
#[derive(Deserialize)]
pub struct ConnectionInput {
    pub environment: String,
    pub account_slug: String,
    /// The MasonHub bearer token (`POST /secrets` answer); kept sealed, never returned.
    pub api_token: String,
    #[serde(default)]
    pub active: Option<bool>,
}

/// What connecting needs.
pub struct ConnectDeps<'a> {
    pub connections: &'a dyn ConnectionStore,
    pub credentials: &'a dyn CredentialStore,
    pub sealer: &'a dyn Sealer,
    pub client: &'a MasonHubClient,
    pub config: &'a MasonHubConfig,
    /// Our `POST /webhooks/masonhub` URL, as MasonHub reaches it.
    pub callback_url: &'a str,
}

fn bad(code: &'static str, message: &str) -> ApiError {
    ApiError::bad_request(code, message)
}

/// Connects the shop (or reconnects it: a new token, a new callback token): checks the input, seals
/// the API token, registers the four callbacks with a fresh callback token, and stores the connection
/// (keeping its fulfilment settings). The session user becomes the owner of a new connection.
pub async fn connect(
    deps: &ConnectDeps<'_>,
    shop: &ShopDomain,
    user: Option<&str>,
    input: ConnectionInput,
    now: DateTime<Utc>,
) -> Result<MasonHubConnection, ApiError> {
    let environment = Environment::parse(input.environment.trim())
        .ok_or_else(|| bad("INVALID_ENVIRONMENT", "environment must be production or sandbox"))?;
    let slug = input.account_slug.trim().to_owned();
    if !is_slug(&slug) {
        return Err(bad("INVALID_ACCOUNT_SLUG", "account_slug must be 1-64 letters, digits, - or _"));
    }
    let api_token = input.api_token.trim();
    // A bearer token travels in a header: printable ASCII only.
    if api_token.is_empty() || api_token.len() > 4096 || !api_token.chars().all(|c| c.is_ascii_graphic()) {
        return Err(bad("INVALID_API_TOKEN", "api_token must be 1-4096 printable ASCII characters without spaces"));
    }
    let api_token = Secret::new(api_token);
    // Only the connection's owner reconnects it, and one (re)connect at a time holds it.
    let claimed = claim(deps.connections, shop, user, environment, &slug, now).await?;
    let result = register_and_store(deps, shop, user, &input, environment, &slug, &api_token, claimed, now).await;
    if result.is_err() {
        release(deps.connections, shop).await;
    }
    result
}

/// Claims the connection for a (re)connect, with a conditional write marking it `connecting_until`:
/// a second (re)connect meanwhile gets 409, so MasonHub's registered token and the stored hash always
/// agree. A shop without a connection gets an inactive placeholder (no callbacks yet, so no owner to
/// respect); a registered connection may be reconnected by its owner only.
async fn claim(
    store: &dyn ConnectionStore,
    shop: &ShopDomain,
    user: Option<&str>,
    environment: Environment,
    slug: &str,
    now: DateTime<Utc>,
) -> Result<MasonHubConnection, ApiError> {
    let lease = Some(now + CONNECT_LEASE);
    let Some(stored) = load(store, shop).await? else {
        let placeholder = MasonHubConnection {
            shop: shop.clone(),
            settings: Settings {
                environment,
                account_slug: slug.to_owned(),
                callback_token_hash: String::new(),
                callbacks_registered_at: None,
                fulfilment: None,
                previous_callback_token_hash: None,
                previous_until: None,
                connecting_until: lease,
            },
            owner_sub: user.unwrap_or("unknown").to_owned(),
            active: false,
            created_at: now,
            updated_at: now,
            status: ConnectionStatus::default(),
            version: 1,
        };
        return match store.create_connection(&placeholder.to_record()?).await? {
            Recorded::New => Ok(placeholder),
            _ => Err(conflict()),
        };
    };
    if stored.settings.callbacks_registered_at.is_some() && user != Some(stored.owner_sub.as_str()) {
        return Err(ApiError::forbidden("NOT_OWNER", "only the user who connected MasonHub may reconnect it"));
    }
    if stored.settings.connecting_until.is_some_and(|until| until > now) {
        return Err(conflict());
    }
    let mut claimed = stored.clone();
    claimed.settings.connecting_until = lease;
    claimed.version = stored.version + 1;
    match store.update_connection(&claimed.to_record()?).await? {
        WriteOutcome::Written => Ok(claimed),
        _ => Err(conflict()),
    }
}

/// Lets go of a failed (re)connect's claim (best effort: the lease expires anyway).
async fn release(store: &dyn ConnectionStore, shop: &ShopDomain) {
    let Ok(Some(mut stored)) = load(store, shop).await else { return };
    if stored.settings.connecting_until.is_none() {
        return;
    }
    stored.settings.connecting_until = None;
    stored.version += 1;
    if let Ok(record) = stored.to_record() {
        let _ = store.update_connection(&record).await;
    }
}

#[allow(clippy::too_many_arguments)]
async fn register_and_store(
    deps: &ConnectDeps<'_>,
    shop: &ShopDomain,
    user: Option<&str>,
    input: &ConnectionInput,
    environment: Environment,
    slug: &str,
    api_token: &Secret,
    claimed: MasonHubConnection,
    now: DateTime<Utc>,
) -> Result<MasonHubConnection, ApiError> {
    let mut random = [0u8; 32];
    getrandom::fill(&mut random).map_err(|e| ApiError::Internal(anyhow::anyhow!("no randomness: {e}")))?;
    let callback_token = webhook::new_token(shop, &random);

    let base = deps.config.base_url(environment, slug);
    let url = format!("{}?token={callback_token}", deps.callback_url);
    let records: Vec<CallbackRecord> = CALLBACK_TYPES
        .iter()
        .map(|t| CallbackRecord {
            url: url.clone(),
            message_type: (*t).to_owned(),
            api_version: "1.0".into(),
            token: callback_token.clone(),
        })
        .collect();
    let results = deps.client.register_callbacks(&base, api_token, &records).await.map_err(|e| match e {
        UpstreamError::Unauthorized { .. } => {
            ApiError::bad_request("MASONHUB_REFUSED_TOKEN", "MasonHub refused the api_token for this account")
        }
        UpstreamError::Rejected { message, .. } => {
            ApiError::bad_request("MASONHUB_REJECTED", format!("MasonHub refused the callbacks: {message}"))
        }
        other => {
            tracing::warn!(shop = %shop, error = %other, "MasonHub unavailable while connecting");
            ApiError::Client {
                status: http::StatusCode::BAD_GATEWAY,
                code: "MASONHUB_UNAVAILABLE",
                message: "MasonHub could not be reached or failed; try again".into(),
            }
        }
    })?;
    let failed = results
        .iter()
        .filter(|r| r.get("status").and_then(|s| s.as_str()).is_some_and(|s| !s.eq_ignore_ascii_case("success")))
        .count();
    if failed > 0 {
        return Err(ApiError::Client {
            status: http::StatusCode::BAD_GATEWAY,
            code: "CALLBACKS_NOT_REGISTERED",
            message: format!("MasonHub refused {failed} of {} callbacks", records.len()),
        });
    }

    let sealed = credentials::seal(deps.sealer, shop, Integration::MasonHub, API_TOKEN, api_token)
        .await
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e)))?;
    let credential = SealedCredential {
        sealed: [(API_TOKEN.to_owned(), sealed)].into(),
        public: Default::default(),
        updated_at: now,
    };
    deps.credentials.put_credential(shop, Integration::MasonHub, &credential).await?;

    // Written over our own claim: a conflict means the claim expired and another (re)connect took it.
    let registered = claimed.settings.callbacks_registered_at.is_some();
    let connection = MasonHubConnection {
        settings: Settings {
            environment,
            account_slug: slug.to_owned(),
            callback_token_hash: webhook::hash(&callback_token),
            callbacks_registered_at: Some(now),
            fulfilment: claimed.settings.fulfilment.clone(),
            previous_callback_token_hash: registered.then(|| claimed.settings.callback_token_hash.clone()),
            previous_until: registered.then_some(now + PREVIOUS_TOKEN_GRACE),
            connecting_until: None,
        },
        owner_sub: if registered { claimed.owner_sub.clone() } else { user.unwrap_or("unknown").to_owned() },
        active: input.active.unwrap_or(!registered || claimed.active),
        updated_at: now,
        version: claimed.version + 1,
        ..claimed
    };
    if deps.connections.update_connection(&connection.to_record()?).await? != WriteOutcome::Written {
        return Err(conflict());
    }
    tracing::info!(shop = %shop, reconnect = registered, "MasonHub connected");
    Ok(connection)
}

fn conflict() -> ApiError {
    ApiError::Client {
        status: http::StatusCode::CONFLICT,
        code: "CONCURRENT_UPDATE",
        message: "the connection changed meanwhile; try again".into(),
    }
}

/// Checks `settings` against the domain's rules and MasonHub's vocabularies.
pub fn validate(settings: &FulfilmentSettings) -> Result<(), ApiError> {
    settings.validate().map_err(|i| ApiError::bad_request(i.code, i.message))?;
    let providers = std::iter::once(settings.default_provider.as_str())
        .chain(settings.shipping.iter().map(|m| m.provider.as_str()));
    if let Some(p) = providers.into_iter().find(|p| !PROVIDERS.contains(p)) {
        return Err(bad("INVALID_SHIPPING", &format!("`{p}` is not a MasonHub provider ({})", PROVIDERS.join(", "))));
    }
    let levels = std::iter::once(settings.default_service_level.as_str())
        .chain(settings.shipping.iter().map(|m| m.service_level.as_str()));
    if let Some(l) = levels.into_iter().find(|l| !SERVICE_LEVELS.contains(l)) {
        return Err(bad("INVALID_SHIPPING", &format!("`{l}` is not a MasonHub service level")));
    }
    if settings.split_policy.as_deref().is_some_and(|p| !SPLIT_POLICIES.contains(&p)) {
        return Err(bad("INVALID_SPLIT_POLICY", "split_policy must be manual or auto"));
    }
    if settings.backorder_policy.as_deref().is_some_and(|p| !BACKORDER_POLICIES.contains(&p)) {
        return Err(bad("INVALID_BACKORDER_POLICY", "backorder_policy must be forceBackorder or default"));
    }
    Ok(())
}

/// Stores the shop's fulfilment settings on its MasonHub connection (409 when MasonHub is not
/// connected yet).
pub async fn put_fulfilment(
    store: &dyn ConnectionStore,
    shop: &ShopDomain,
    settings: FulfilmentSettings,
    now: DateTime<Utc>,
) -> Result<FulfilmentSettings, ApiError> {
    validate(&settings)?;
    let commerceos_fulfils = super::commerceos::load(store, shop)
        .await?
        .and_then(|c| c.settings.erp)
        .is_some_and(|e| e.enabled && e.fulfils);
    if settings.enabled && commerceos_fulfils {
        return Err(super::commerceos::partner_conflict(
            "CommerceOS fulfils this shop's orders: set fulfils false (partner commerceos) before routing to MasonHub",
        ));
    }
    for _ in 0..3 {
        let stored = load(store, shop).await?.ok_or_else(|| ApiError::Client {
            status: http::StatusCode::CONFLICT,
            code: "MASONHUB_NOT_CONNECTED",
            message: "connect MasonHub (PUT /api/masonhub/connection) before setting up fulfilment".into(),
        })?;
        let mut updated = stored.clone();
        updated.settings.fulfilment = Some(settings.clone());
        updated.updated_at = now;
        updated.version = stored.version + 1;
        if store.update_connection(&updated.to_record()?).await? == WriteOutcome::Written {
            return Ok(settings);
        }
    }
    Err(conflict())
}

/// The shop a MasonHub callback token authenticates: the shop it names, if that shop's active
/// connection holds its hash (compared in constant time). `None`: unauthenticated.
pub async fn authenticate(
    store: &dyn ConnectionStore,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<ShopDomain>, StoreError> {
    let Some(shop) = webhook::shop_of(token) else { return Ok(None) };
    let Some(connection) = load(store, &shop).await?.filter(|c| c.active) else { return Ok(None) };
    let settings = &connection.settings;
    let previous = settings
        .previous_callback_token_hash
        .as_deref()
        .filter(|_| settings.previous_until.is_some_and(|until| until > now));
    let current = webhook::verify(token, &settings.callback_token_hash);
    Ok((current || previous.is_some_and(|hash| webhook::verify(token, hash))).then_some(shop))
}
