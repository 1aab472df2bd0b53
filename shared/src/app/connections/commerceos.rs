//! The shop's CommerceOS connection: the tenant, the identifier namespace, the trade-order defaults
//! (seller, supplier, currency), the scopes the credential holds, the hashes of the secrets CommerceOS
//! calls us back with, and the shop's ERP routing, typed over the generic connection record; the API
//! key or OAuth2 client secret sealed with KMS. Connecting checks the scopes (`GET /v1/scopes`) and
//! configures the mapped types and sync-webhooks that call us back (PUTs by identifier, so a reconnect
//! updates them in place).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    app::{alerts, credentials},
    config::Secret,
    domain::{ErpSettings, Integration, ShopDomain},
    error::{ApiError, StoreError},
    integrations::{
        commerceos::{
            CommerceOsConfig, Credential, IdentifierKey, Tenant,
            client::CommerceOsClient,
            is_tenant, missing_write_scopes,
            model::{self, Hook, HookAuth, OrderDefaults},
        },
        http::UpstreamError,
        secret_token,
    },
    secrets::Sealer,
    store::{
        AlertStore, CheckResult, ConnectionStatus, ConnectionStore, CredentialStore, Recorded, SealedCredential,
        WriteOutcome,
    },
};

/// Sealed fields.
pub const API_KEY: &str = "api_key";
pub const CLIENT_SECRET: &str = "client_secret";
/// The public field of the OAuth2 client id.
pub const CLIENT_ID: &str = "client_id";

/// How we authenticate to CommerceOS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthKind {
    ApiKey,
    Oauth2,
}

/// The settings document of a CommerceOS connection record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub tenant: String,
    #[serde(flatten)]
    pub defaults: OrderDefaults,
    pub auth: AuthKind,
    /// Scopes the credential holds (`GET /v1/scopes` at the last check).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Write scopes it lacks: while any is missing, no write is sent.
    #[serde(default)]
    pub missing_scopes: Vec<String>,
    /// SHA-256 of the bearer secret of the order-status and shipment-completed sync-webhooks.
    pub webhook_secret_hash: String,
    /// Our OAuth2 client for CommerceOS's new-order sync-webhook (`POST /oauth/token`): its id and the
    /// SHA-256 of its secret.
    pub oauth_client_id: String,
    pub oauth_client_secret_hash: String,
    #[serde(default)]
    pub webhooks_configured_at: Option<DateTime<Utc>>,
    /// Which orders are mirrored into CommerceOS (`PUT /api/fulfilment/settings` with `partner:
    /// commerceos`).
    #[serde(default)]
    pub erp: Option<ErpSettings>,
}

impl Settings {
    pub fn writes_allowed(&self) -> bool {
        self.missing_scopes.is_empty()
    }
}

/// A shop's CommerceOS connection.
pub type CommerceOsConnection = super::Typed<Settings>;

impl super::ConnectionSettings for Settings {
    const INTEGRATION: Integration = Integration::CommerceOs;
}

pub async fn load(store: &dyn ConnectionStore, shop: &ShopDomain) -> Result<Option<CommerceOsConnection>, StoreError> {
    super::load(store, shop).await
}

/// The shop's ERP settings, when CommerceOS is connected and active.
pub async fn erp(store: &dyn ConnectionStore, shop: &ShopDomain) -> Result<Option<ErpSettings>, StoreError> {
    Ok(load(store, shop).await?.filter(|c| c.active).and_then(|c| c.settings.erp))
}

/// Where and as whom to call the shop's CommerceOS tenant, with its order defaults.
pub struct Access {
    pub tenant: Tenant,
    pub settings: Settings,
}

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the CommerceOS credential could not be opened")]
    Seal(#[from] crate::secrets::SealError),
    #[error("the shop has no active CommerceOS connection")]
    NotConnected,
}

async fn open_credential(
    credentials_store: &dyn CredentialStore,
    sealer: &dyn Sealer,
    shop: &ShopDomain,
    auth: AuthKind,
) -> Result<Credential, AccessError> {
    let credential =
        credentials_store.credential(shop, Integration::CommerceOs).await?.ok_or(AccessError::NotConnected)?;
    let field = match auth {
        AuthKind::ApiKey => API_KEY,
        AuthKind::Oauth2 => CLIENT_SECRET,
    };
    let sealed = credential.sealed.get(field).ok_or(AccessError::NotConnected)?;
    let secret = credentials::open(sealer, shop, Integration::CommerceOs, field, sealed).await?;
    Ok(match auth {
        AuthKind::ApiKey => Credential::ApiKey(secret),
        AuthKind::Oauth2 => Credential::Client {
            client_id: credential.public.get(CLIENT_ID).cloned().ok_or(AccessError::NotConnected)?,
            client_secret: secret,
        },
    })
}

/// Opens the shop's CommerceOS access.
pub async fn access(
    connections: &dyn ConnectionStore,
    credentials_store: &dyn CredentialStore,
    sealer: &dyn Sealer,
    config: &CommerceOsConfig,
    shop: &ShopDomain,
) -> Result<Access, AccessError> {
    let connection = load(connections, shop).await?.filter(|c| c.active).ok_or(AccessError::NotConnected)?;
    let credential = open_credential(credentials_store, sealer, shop, connection.settings.auth).await?;
    let tenant = Tenant { root: config.root(&connection.settings.tenant), credential };
    Ok(Access { tenant, settings: connection.settings })
}

/// `PUT /api/commerceos/connection`'s body. No `Debug`: it holds secrets.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionInput {
    /// The tenant's name (`acme` of `https://acme.app.heads.com`). Give it or `base_url`.
    #[serde(default)]
    pub tenant: Option<String>,
    /// The tenant's API base URL (`https://acme.app.heads.com/api/v1`): read against
    /// `COMMERCEOS_TENANT_URL` and stored as the tenant it names; any other URL is refused
    /// (`INVALID_BASE_URL`). Give it or `tenant` (both: they must name the same tenant).
    #[serde(default)]
    pub base_url: Option<String>,
    /// Our order identifier key, exactly three dot segments (`com.acme.order-id`).
    pub identifier_key: String,
    pub seller: String,
    #[serde(default)]
    pub supplier: Option<String>,
    pub currency: String,
    #[serde(default)]
    pub api_key: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub active: Option<bool>,
}

/// What connecting and checking need.
pub struct ConnectDeps<'a> {
    pub connections: &'a dyn ConnectionStore,
    pub credentials: &'a dyn CredentialStore,
    pub alerts: &'a dyn AlertStore,
    pub sealer: &'a dyn Sealer,
    pub client: &'a CommerceOsClient,
    pub config: &'a CommerceOsConfig,
    /// Our public base URL as CommerceOS reaches it (the webhooks and `/oauth/token` hang off it).
    pub callback_base_url: &'a str,
}

fn bad(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::bad_request(code, message)
}

fn header_safe(value: &str) -> bool {
    !value.is_empty() && value.len() <= 4096 && value.chars().all(|c| c.is_ascii_graphic())
}

fn text_ok(value: &str) -> bool {
    let v = value.trim();
    !v.is_empty() && v.len() <= 100 && !v.chars().any(char::is_control)
}

fn upstream_error(shop: &ShopDomain, e: UpstreamError) -> ApiError {
    match e {
        UpstreamError::Unauthorized { .. } => {
            bad("COMMERCEOS_REFUSED_CREDENTIALS", "CommerceOS refused the credential for this tenant")
        }
        UpstreamError::Rejected { message, .. } => bad("COMMERCEOS_REJECTED", format!("CommerceOS refused: {message}")),
        other => {
            tracing::warn!(shop = %shop, error = %other, "CommerceOS unavailable while connecting");
            ApiError::Client {
                status: http::StatusCode::BAD_GATEWAY,
                code: "COMMERCEOS_UNAVAILABLE",
                message: "CommerceOS could not be reached or failed; try again".into(),
            }
        }
    }
}

fn random() -> Result<[u8; 32], ApiError> {
    let mut random = [0u8; 32];
    getrandom::fill(&mut random).map_err(|e| ApiError::Internal(anyhow::anyhow!("no randomness: {e}")))?;
    Ok(random)
}

/// The callback routes, under our base URL.
pub fn order_status_url(base: &str, shop: &ShopDomain) -> String {
    format!("{}/webhooks/commerceos/{shop}/order-status", base.trim_end_matches('/'))
}
pub fn shipment_url(base: &str, shop: &ShopDomain) -> String {
    format!("{}/webhooks/commerceos/{shop}/shipment-completed", base.trim_end_matches('/'))
}
pub fn new_orders_url(base: &str, shop: &ShopDomain) -> String {
    format!("{}/webhooks/commerceos/{shop}/orders/new", base.trim_end_matches('/'))
}
pub fn token_url(base: &str) -> String {
    format!("{}/oauth/token", base.trim_end_matches('/'))
}

/// Configures the mapped types and the three sync-webhooks (PUT by identifier: a reconnect updates
/// them in place).
#[allow(clippy::too_many_arguments)]
async fn configure_webhooks(
    deps: &ConnectDeps<'_>,
    shop: &ShopDomain,
    tenant: &Tenant,
    key: &IdentifierKey,
    webhook_secret: &str,
    client_id: &str,
    client_secret: &str,
    now: DateTime<Utc>,
) -> Result<(), UpstreamError> {
    let client = deps.client;
    let mapped = key.sibling("mapped-type");
    let status_key = client
        .put_mapped_type(tenant, &mapped.address(model::ORDER_STATUS_MAP), &model::order_status_map(key), now)
        .await?;
    let shipment_key =
        client.put_mapped_type(tenant, &mapped.address(model::SHIPMENT_MAP), &model::shipment_map(key), now).await?;
    let base = deps.callback_base_url;
    let (status_url, shipment_url_, new_url, token) =
        (order_status_url(base, shop), shipment_url(base, shop), new_orders_url(base, shop), token_url(base));
    let sync = key.sibling("sync-id");
    let hooks = [
        Hook {
            name: model::ORDER_STATUS_HOOK,
            title: "Order Status Push",
            every: "api/v1/now/+=0:1:0",
            input: format!(
                "api/v1/trade-orders~where(identifiers/{}=null)~with(status,identifiers)~take(50)",
                key.sibling("status-synced")
            ),
            map_key: Some(&status_key),
            out_url: &status_url,
            auth: HookAuth::Bearer(webhook_secret),
            marker: Some(key.sibling("status-synced").to_string()),
            scopes: &["read:orders", "write:orders"],
        },
        Hook {
            name: model::SHIPMENT_HOOK,
            title: "Shipment Completed Notification",
            every: "api/v1/now/+=0:2:0",
            input: format!(
                "api/v1/shipment-orders~where(identifiers/{}=null)~with(orders,status)~take(50)",
                key.sibling("shipped-notified")
            ),
            map_key: Some(&shipment_key),
            out_url: &shipment_url_,
            auth: HookAuth::Bearer(webhook_secret),
            marker: Some(key.sibling("shipped-notified").to_string()),
            scopes: &["read:shipments", "write:shipments"],
        },
        Hook {
            name: model::NEW_ORDERS_HOOK,
            title: "New Order Notification",
            every: "api/v1/now/+=0:1:0",
            input: format!(
                "api/v1/trade-orders~where(status=New)~where(identifiers/{}=null)~with(items,customer,deliveryAddresses,identifiers,status)~take(50)",
                key.sibling("new-notified")
            ),
            map_key: None,
            out_url: &new_url,
            auth: HookAuth::ClientCredentials { token_url: &token, client_id, client_secret },
            marker: Some(key.sibling("new-notified").to_string()),
            scopes: &["read:orders", "write:orders"],
        },
    ];
    for hook in &hooks {
        client.put_sync_webhook(tenant, &sync.address(hook.name), &model::sync_webhook(key, hook), now).await?;
    }
    Ok(())
}

/// Raises or clears the scopes alert and records the check.
async fn record_scopes(
    deps: &ConnectDeps<'_>,
    shop: &ShopDomain,
    missing: &[String],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    // The credential answered: any earlier refusal of it is settled.
    deps.alerts.clear_alert(shop, alerts::COMMERCEOS_CREDENTIAL_ID, now).await?;
    if missing.is_empty() {
        deps.alerts.clear_alert(shop, alerts::COMMERCEOS_SCOPES_ID, now).await?;
    } else {
        deps.alerts.raise_alert(&alerts::commerceos_scopes_missing(shop, missing, now)).await?;
    }
    let error = (!missing.is_empty()).then(|| format!("missing write scopes: {}", missing.join(", ")));
    let check = CheckResult { at: now, ok: missing.is_empty(), error };
    deps.connections.record_check(shop, Integration::CommerceOs, &check).await
}

/// The tenant a connection names: its `tenant` (a name), or the tenant its `base_url` names under the
/// configured template (`CommerceOsConfig::tenant_of`), never a host of its own.
fn tenant_name(config: &CommerceOsConfig, tenant: Option<&str>, base_url: Option<&str>) -> Result<String, ApiError> {
    let named = match tenant {
        Some(raw) => {
            let name = raw.trim().to_ascii_lowercase();
            if !is_tenant(&name) {
                return Err(bad("INVALID_TENANT", "tenant must be the tenant's name: 1-63 letters, digits or -"));
            }
            Some(name)
        }
        None => None,
    };
    let from_url = match base_url {
        Some(raw) => Some(config.tenant_of(raw).ok_or_else(|| {
            bad(
                "INVALID_BASE_URL",
                format!("base_url must be the tenant's CommerceOS API URL, {}", config.base_url("{tenant}")),
            )
        })?),
        None => None,
    };
    match (named, from_url) {
        (Some(name), Some(url)) if name != url => {
            Err(bad("INVALID_BASE_URL", "base_url names another tenant than tenant; give one of them"))
        }
        (Some(name), _) | (None, Some(name)) => Ok(name),
        (None, None) => Err(bad("INVALID_TENANT", "give the tenant's name (tenant) or its API URL (base_url)")),
    }
}

/// Connects the shop (or reconnects it: a new credential, new callback secrets): checks the input,
/// reads the scopes with the credential, configures the callbacks when writes are allowed (a setup
/// alert names the missing scopes otherwise), seals the credential and stores the connection (keeping
/// its ERP settings). The session user becomes the owner of a new connection.
pub async fn connect(
    deps: &ConnectDeps<'_>,
    shop: &ShopDomain,
    user: Option<&str>,
    input: ConnectionInput,
    now: DateTime<Utc>,
) -> Result<CommerceOsConnection, ApiError> {
    let tenant_name = tenant_name(deps.config, input.tenant.as_deref(), input.base_url.as_deref())?;
    let key = IdentifierKey::parse(input.identifier_key.trim()).map_err(|m| bad("INVALID_IDENTIFIER_KEY", m))?;
    if !text_ok(&input.seller) || input.supplier.as_deref().is_some_and(|s| !text_ok(s)) {
        return Err(bad("INVALID_SELLER", "seller and supplier must be 1-100 characters"));
    }
    let currency = input.currency.trim().to_ascii_uppercase();
    if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(bad("INVALID_CURRENCY", "currency must be an ISO 4217 code such as SEK"));
    }
    let (auth, credential, sealed_field, secret) = match (input.api_key, input.client_id, input.client_secret) {
        (Some(key), None, None) if header_safe(key.trim()) => {
            let secret = Secret::new(key.trim());
            (AuthKind::ApiKey, Credential::ApiKey(secret.clone()), API_KEY, secret)
        }
        (None, Some(id), Some(secret)) if header_safe(id.trim()) && header_safe(secret.trim()) => {
            let secret = Secret::new(secret.trim());
            let credential = Credential::Client { client_id: id.trim().to_owned(), client_secret: secret.clone() };
            (AuthKind::Oauth2, credential, CLIENT_SECRET, secret)
        }
        _ => {
            return Err(bad(
                "INVALID_CREDENTIAL",
                "give either api_key, or client_id and client_secret (printable ASCII, 1-4096 characters)",
            ));
        }
    };
    let client_id = match &credential {
        Credential::Client { client_id, .. } => Some(client_id.clone()),
        Credential::ApiKey(_) => None,
    };
    let tenant = Tenant { root: deps.config.root(&tenant_name), credential };
    let scopes = deps.client.scopes(&tenant, now).await.map_err(|e| upstream_error(shop, e))?;
    let missing = missing_write_scopes(&scopes);

    let webhook_secret = secret_token::new_token(shop, &random()?);
    let oauth_client_id = client_id_for(shop);
    let oauth_client_secret = secret_token::new_token(shop, &random()?);
    let configured = if missing.is_empty() {
        configure_webhooks(deps, shop, &tenant, &key, &webhook_secret, &oauth_client_id, &oauth_client_secret, now)
            .await
            .map_err(|e| upstream_error(shop, e))?;
        Some(now)
    } else {
        tracing::warn!(shop = %shop, missing = %missing.join(","), "CommerceOS credential lacks write scopes");
        None
    };

    let sealed = credentials::seal(deps.sealer, shop, Integration::CommerceOs, sealed_field, &secret)
        .await
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e)))?;
    let credential = SealedCredential {
        sealed: [(sealed_field.to_owned(), sealed)].into(),
        public: client_id.map(|id| [(CLIENT_ID.to_owned(), id)].into()).unwrap_or_default(),
        updated_at: now,
    };
    deps.credentials.put_credential(shop, Integration::CommerceOs, &credential).await?;

    let defaults = OrderDefaults {
        identifier_key: key,
        seller: input.seller.trim().to_owned(),
        supplier: input.supplier.as_deref().unwrap_or(&input.seller).trim().to_owned(),
        currency,
    };
    let mut stored_connection = None;
    for _ in 0..3 {
        let stored = load(deps.connections, shop).await?;
        let settings = Settings {
            tenant: tenant_name.clone(),
            defaults: defaults.clone(),
            auth,
            scopes: scopes.clone(),
            missing_scopes: missing.clone(),
            webhook_secret_hash: secret_token::hash(&webhook_secret),
            oauth_client_id: oauth_client_id.clone(),
            oauth_client_secret_hash: secret_token::hash(&oauth_client_secret),
            webhooks_configured_at: configured
                .or_else(|| stored.as_ref().and_then(|s| s.settings.webhooks_configured_at)),
            erp: stored.as_ref().and_then(|s| s.settings.erp.clone()),
        };
        match stored {
            None => {
                let connection = CommerceOsConnection {
                    shop: shop.clone(),
                    settings,
                    owner_sub: user.unwrap_or("unknown").to_owned(),
                    active: input.active.unwrap_or(true),
                    created_at: now,
                    updated_at: now,
                    status: ConnectionStatus::default(),
                    version: 1,
                };
                if deps.connections.create_connection(&connection.to_record()?).await? == Recorded::New {
                    stored_connection = Some(connection);
                    break;
                }
            }
            Some(stored) => {
                let connection = CommerceOsConnection {
                    settings,
                    active: input.active.unwrap_or(stored.active),
                    updated_at: now,
                    version: stored.version + 1,
                    ..stored
                };
                if deps.connections.update_connection(&connection.to_record()?).await? == WriteOutcome::Written {
                    stored_connection = Some(connection);
                    break;
                }
            }
        }
    }
    let Some(mut connection) = stored_connection else { return Err(conflict()) };
    record_scopes(deps, shop, &missing, now).await?;
    connection.status.last_check_at = Some(now);
    connection.status.last_check_ok = Some(missing.is_empty());
    connection.status.last_check_error =
        (!missing.is_empty()).then(|| format!("missing write scopes: {}", missing.join(", ")));
    tracing::info!(shop = %shop, writes = missing.is_empty(), "CommerceOS connected");
    Ok(connection)
}

/// Re-reads the credential's scopes (`POST /api/commerceos/ping`): writes stop or resume with them.
pub async fn check(
    deps: &ConnectDeps<'_>,
    shop: &ShopDomain,
    now: DateTime<Utc>,
) -> Result<CommerceOsConnection, ApiError> {
    let access =
        access(deps.connections, deps.credentials, deps.sealer, deps.config, shop).await.map_err(|e| match e {
            AccessError::NotConnected => ApiError::Client {
                status: http::StatusCode::CONFLICT,
                code: "COMMERCEOS_NOT_CONNECTED",
                message: "connect CommerceOS first (PUT /api/commerceos/connection)".into(),
            },
            other => ApiError::Internal(anyhow::Error::new(other)),
        })?;
    let scopes = match deps.client.scopes(&access.tenant, now).await {
        Ok(scopes) => scopes,
        Err(e) => {
            let check = CheckResult { at: now, ok: false, error: Some(e.to_string()) };
            deps.connections.record_check(shop, Integration::CommerceOs, &check).await?;
            return Err(upstream_error(shop, e));
        }
    };
    let missing = missing_write_scopes(&scopes);
    for _ in 0..3 {
        let Some(stored) = load(deps.connections, shop).await? else { break };
        let mut updated = stored.clone();
        updated.settings.scopes = scopes.clone();
        updated.settings.missing_scopes = missing.clone();
        updated.updated_at = now;
        updated.version = stored.version + 1;
        if deps.connections.update_connection(&updated.to_record()?).await? == WriteOutcome::Written {
            record_scopes(deps, shop, &missing, now).await?;
            return load(deps.connections, shop).await?.ok_or_else(conflict);
        }
    }
    Err(conflict())
}

fn conflict() -> ApiError {
    ApiError::Client {
        status: http::StatusCode::CONFLICT,
        code: "CONCURRENT_UPDATE",
        message: "the connection changed meanwhile; try again".into(),
    }
}

/// Stores the shop's ERP settings on its CommerceOS connection (409 when CommerceOS is not connected).
pub async fn put_erp(
    store: &dyn ConnectionStore,
    shop: &ShopDomain,
    settings: ErpSettings,
    now: DateTime<Utc>,
) -> Result<ErpSettings, ApiError> {
    validate_rule(&settings)?;
    if settings.fulfils && !settings.enabled {
        return Err(bad("INVALID_FULFILS", "fulfils needs enabled: CommerceOS fulfils the orders mirrored into it"));
    }
    for _ in 0..3 {
        let stored = load(store, shop).await?.ok_or_else(|| ApiError::Client {
            status: http::StatusCode::CONFLICT,
            code: "COMMERCEOS_NOT_CONNECTED",
            message: "connect CommerceOS (PUT /api/commerceos/connection) before routing orders to it".into(),
        })?;
        if settings.fulfils && super::masonhub::fulfilment(store, shop).await?.is_some_and(|f| f.enabled) {
            return Err(partner_conflict(
                "MasonHub routing is enabled: disable it (PUT /api/fulfilment/settings with enabled false) before \
                 CommerceOS fulfils",
            ));
        }
        let mut updated = stored.clone();
        updated.settings.erp = Some(settings.clone());
        updated.updated_at = now;
        updated.version = stored.version + 1;
        if store.update_connection(&updated.to_record()?).await? == WriteOutcome::Written {
            return Ok(settings);
        }
    }
    Err(conflict())
}

/// The shop has one fulfilment partner: MasonHub routing and CommerceOS fulfilling exclude each other
/// (409 `FULFILMENT_PARTNER_CONFLICT`).
pub fn partner_conflict(message: &str) -> ApiError {
    ApiError::Client {
        status: http::StatusCode::CONFLICT,
        code: "FULFILMENT_PARTNER_CONFLICT",
        message: message.into(),
    }
}

fn validate_rule(settings: &ErpSettings) -> Result<(), ApiError> {
    use crate::domain::fulfilment::RouteRule;
    let list_ok = |items: &[String]| !items.is_empty() && items.len() <= 50 && items.iter().all(|i| text_ok(i));
    match &settings.rule {
        RouteRule::All => Ok(()),
        RouteRule::Channel { channels } if !channels.is_empty() => Ok(()),
        RouteRule::Tag { tags } if list_ok(tags) => Ok(()),
        RouteRule::SkuPrefix { prefixes } if list_ok(prefixes) => Ok(()),
        _ => Err(bad("INVALID_RULE", "the rule must name 1-50 channels, tags or prefixes of 1-100 characters")),
    }
}

/// The shop a sync-webhook's bearer secret authenticates: `shop`, if its active connection holds the
/// secret's hash (compared in constant time). `None`: unauthenticated.
pub async fn authenticate_webhook(
    store: &dyn ConnectionStore,
    shop: &ShopDomain,
    secret: &str,
) -> Result<bool, StoreError> {
    if secret_token::shop_of(secret).as_ref() != Some(shop) {
        return Ok(false);
    }
    let Some(connection) = load(store, shop).await?.filter(|c| c.active) else { return Ok(false) };
    Ok(secret_token::verify(secret, &connection.settings.webhook_secret_hash))
}

/// Our OAuth2 client id for the shop's CommerceOS (it names the shop: `cos.{base64url(shop)}`).
pub fn client_id_for(shop: &ShopDomain) -> String {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    format!("cos.{}", URL_SAFE_NO_PAD.encode(shop.as_str()))
}

fn shop_of_client_id(client_id: &str) -> Option<ShopDomain> {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let raw = URL_SAFE_NO_PAD.decode(client_id.strip_prefix("cos.")?).ok()?;
    ShopDomain::parse(std::str::from_utf8(&raw).ok()?).ok()
}

/// How long a token from our `POST /oauth/token` lives.
pub const ACCESS_TOKEN_SECONDS: i64 = 900;

/// The client-credentials grant of our `POST /oauth/token`: a short-lived access token for the
/// shop's CommerceOS client, if the client id names an active connection whose secret matches
/// (constant time). `None`: refused.
pub async fn issue_token(
    store: &dyn ConnectionStore,
    client_id: &str,
    client_secret: &str,
    now: DateTime<Utc>,
) -> Result<Option<(String, i64)>, StoreError> {
    let Some(shop) = shop_of_client_id(client_id) else { return Ok(None) };
    let Some(connection) = load(store, &shop).await?.filter(|c| c.active) else { return Ok(None) };
    let settings = &connection.settings;
    if settings.oauth_client_id != client_id || !secret_token::verify(client_secret, &settings.oauth_client_secret_hash)
    {
        return Ok(None);
    }
    let expires = now + chrono::Duration::seconds(ACCESS_TOKEN_SECONDS);
    Ok(Some((secret_token::access::issue(&settings.oauth_client_secret_hash, &shop, expires), ACCESS_TOKEN_SECONDS)))
}

/// Whether `token` is a live access token we issued to `shop`'s CommerceOS client.
pub async fn authenticate_access_token(
    store: &dyn ConnectionStore,
    shop: &ShopDomain,
    token: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    if secret_token::access::shop_of(token).as_ref() != Some(shop) {
        return Ok(false);
    }
    let Some(connection) = load(store, shop).await?.filter(|c| c.active) else { return Ok(false) };
    Ok(secret_token::access::verify(token, &connection.settings.oauth_client_secret_hash, shop, now))
}
