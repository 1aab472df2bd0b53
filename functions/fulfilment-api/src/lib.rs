//! Trigger: the fulfilment routes, behind the dashboard's Shopify session token (shop-scoped):
//!
//! - `GET /api/masonhub/connection`: the shop's MasonHub connection (never its tokens), or `null`.
//! - `PUT /api/masonhub/connection`: connect (or reconnect) MasonHub: the API token is sealed with KMS
//!   and the callbacks are registered at MasonHub (`POST /callbacks`) with a fresh callback token.
//! - `GET /api/fulfilment/settings`, `PUT /api/fulfilment/settings`: which orders go to MasonHub and
//!   how they ship (validated against MasonHub's vocabularies); with `partner: commerceos`, which
//!   orders are mirrored into CommerceOS (`{enabled, partner, rule, fulfils?}`), independent of the
//!   3PL's. `fulfils: true` makes CommerceOS the shop's fulfilment partner: no order is routed to
//!   MasonHub, each mirrored order that is ours to ship gets one `createShipment` once approved in
//!   CommerceOS (which releases and ships it; its shipment-completed sync-webhook brings the tracking
//!   back to Shopify). It needs a CommerceOS connection (409 `COMMERCEOS_NOT_CONNECTED`) and
//!   `enabled` (400 `INVALID_FULFILS`), and excludes MasonHub routing enabled, either way round (409
//!   `FULFILMENT_PARTNER_CONFLICT`).
//! - `GET /api/masonhub/orders/{id}`: an order's state at MasonHub on demand (`GET /orders` by its
//!   MasonHub id) beside what we hold, for when a callback seems missing.
//! - `GET /sync/reconciliation?window=&integration=`: the last reconciliation report per integration;
//!   `POST /sync/reconciliation` (`{window?, from?, integration?}`: the `24h` before now by default, at
//!   most `7d` from `from`; every integration the shop uses unless one is named) reconciles now
//!   (`shared::app::reconcile`).
//! - `GET /api/commerceos/connection`, `PUT /api/commerceos/connection`: connect (or reconnect)
//!   CommerceOS: the credential is sealed, its scopes checked (`GET /v1/scopes`), and the mapped types
//!   and sync-webhooks that call us back configured; `POST /api/commerceos/ping` re-checks the scopes.
//! - `GET /api/dead-letters?destination=`: the shop's dead letters.
//! - `POST /api/dead-letters/replay`: replays one id, a list (`ids`), or all of a `destination`,
//!   through the same queue and idempotent worker (a reconciliation gap of a source: its poll queue).

use std::{collections::HashMap, sync::Arc};

use lambda_http::{
    Body, Request, Response,
    http::{Method, StatusCode},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use shared::{
    app::{
        auth::{self, Caller, ShopParam},
        connections::{
            commerceos::{self as cos, CommerceOsConnection},
            masonhub::{self as connection, ConnectDeps, ConnectionInput, MasonHubConnection},
        },
        dead_letters::{self, Selection},
        order_ref,
        reconcile::{self, ReconcileError},
    },
    clock::{Clock, SystemClock},
    config::{ConfigError, Env, SecretsConfig, ShopifyAppConfig, TableConfig},
    domain::{ErpSettings, FulfilmentSettings, Integration},
    error::ApiError,
    http as h,
    integrations::{
        amazon::{SpApiConfig, client::SpApiClient},
        commerceos::{CommerceOsConfig, client::CommerceOsClient},
        http::UpstreamError,
        masonhub::{
            MasonHubConfig,
            client::{MasonHubClient, OrdersQuery},
        },
        shopify::admin::{AdminClient, AdminConfig},
    },
    queue::{MessageQueue, Stage, schema, sqs::SqsQueue},
    secrets::{KmsSealer, Sealer},
    store::{
        AlertStore, ConnectionStore, CredentialStore, DeadLetter, DeadLetterStore, MirrorStore, OrderStore, ShopStore,
        dynamo::DynamoStore,
    },
};

pub const SETTINGS_ROUTE: &str = "/api/fulfilment/settings";
pub const CONNECTION_ROUTE: &str = "/api/masonhub/connection";
pub const DEAD_LETTERS_ROUTE: &str = "/api/dead-letters";
pub const REPLAY_ROUTE: &str = "/api/dead-letters/replay";
/// `GET /api/masonhub/orders/{id}` (the local stack's and the template's route pattern).
pub const PARTNER_ORDER_ROUTE: &str = "/api/masonhub/orders/{id}";
pub const RECONCILIATION_ROUTE: &str = "/sync/reconciliation";
const PARTNER_ORDER_PREFIX: &str = "/api/masonhub/orders/";
pub const COMMERCEOS_CONNECTION_ROUTE: &str = "/api/commerceos/connection";
pub const COMMERCEOS_PING_ROUTE: &str = "/api/commerceos/ping";

/// Most ids one replay names.
const MAX_REPLAY_IDS: usize = 100;

#[derive(Debug, Clone)]
pub struct Config {
    pub table: TableConfig,
    pub shopify: ShopifyAppConfig,
    pub masonhub: MasonHubConfig,
    pub secrets: SecretsConfig,
    /// Our `POST /webhooks/masonhub` URL as MasonHub reaches it, registered with the callbacks.
    pub callback_url: String,
    pub commerceos: CommerceOsConfig,
    /// Our public base URL as CommerceOS reaches it: its sync-webhooks call
    /// `{base}/webhooks/commerceos/{shop}/…` and get tokens at `{base}/oauth/token`.
    pub commerceos_callback_base_url: String,
    /// The sources reconciliation compares with (Shopify's Admin API, SP-API).
    pub admin: AdminConfig,
    pub spapi: SpApiConfig,
    pub queues: HashMap<Stage, String>,
}

impl Config {
    /// The process environment, with the app secret read from Secrets Manager.
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::read(shared::aws::function_env().await?)
    }

    pub fn read(mut env: Env) -> Result<Self, ConfigError> {
        let config = Self {
            table: TableConfig::read(&mut env),
            shopify: ShopifyAppConfig::read(&mut env),
            masonhub: MasonHubConfig::read(&mut env),
            secrets: SecretsConfig::read(&mut env),
            callback_url: env.required("MASONHUB_CALLBACK_URL"),
            commerceos: CommerceOsConfig::read(&mut env),
            commerceos_callback_base_url: env.required("COMMERCEOS_CALLBACK_BASE_URL"),
            admin: AdminConfig::read(&mut env),
            spapi: SpApiConfig::read(&mut env),
            // A replay sends an outbound dead letter to its destination's queue, and a source's
            // reconciliation gap to that source's poll queue.
            queues: schema::read_urls(&mut env, &[schema::outbound_stages(), RESYNC_STAGES.to_vec()].concat()),
        };
        env.finish().map(|()| config)
    }
}

/// The poll queues a replayed reconciliation gap of a source goes to.
pub const RESYNC_STAGES: [Stage; 2] = [Stage::Poll(Integration::Shopify), Stage::Poll(Integration::Amazon)];

pub struct Deps {
    pub shopify: ShopifyAppConfig,
    pub admin: AdminClient,
    pub spapi: SpApiClient,
    pub shops: Arc<dyn ShopStore>,
    pub masonhub: MasonHubConfig,
    pub callback_url: String,
    pub client: MasonHubClient,
    pub commerceos: CommerceOsConfig,
    pub commerceos_callback_base_url: String,
    pub commerceos_client: CommerceOsClient,
    pub connections: Arc<dyn ConnectionStore>,
    pub credentials: Arc<dyn CredentialStore>,
    pub dead_letters: Arc<dyn DeadLetterStore>,
    pub orders: Arc<dyn OrderStore>,
    pub mirror: Arc<dyn MirrorStore>,
    pub alerts: Arc<dyn AlertStore>,
    pub sealer: Arc<dyn Sealer>,
    pub queue: Arc<dyn MessageQueue>,
    pub clock: Arc<dyn Clock>,
}

pub async fn connect(config: Config) -> Deps {
    let sdk = shared::aws::sdk_config().await;
    let store = Arc::new(DynamoStore::new(shared::aws::dynamodb(&sdk), config.table.table_name));
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    Deps {
        shopify: config.shopify,
        admin: AdminClient::new(config.admin),
        spapi: SpApiClient::new(config.spapi, clock.clone()),
        shops: store.clone(),
        client: MasonHubClient::new(config.masonhub.request_timeout),
        masonhub: config.masonhub,
        callback_url: config.callback_url,
        commerceos: config.commerceos,
        commerceos_callback_base_url: config.commerceos_callback_base_url,
        commerceos_client: CommerceOsClient::new(),
        connections: store.clone(),
        credentials: store.clone(),
        dead_letters: store.clone(),
        orders: store.clone(),
        mirror: store.clone(),
        alerts: store,
        sealer: Arc::new(KmsSealer::new(shared::aws::kms(&sdk), config.secrets.key_id)),
        queue: Arc::new(SqsQueue::new(shared::aws::sqs(&sdk), config.queues)),
        clock,
    }
}

#[tracing::instrument(skip_all, fields(stage = "fulfilment-api", shop = tracing::field::Empty))]
pub async fn handle(deps: &Deps, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    Ok(h::respond(route(deps, req).await))
}

async fn route(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    let path = h::path(&req);
    match (req.method(), path.as_str()) {
        (&Method::GET, SETTINGS_ROUTE) => get_settings(deps, &req).await,
        (&Method::PUT, SETTINGS_ROUTE) => put_settings(deps, &req).await,
        (&Method::GET, CONNECTION_ROUTE) => get_connection(deps, &req).await,
        (&Method::PUT, CONNECTION_ROUTE) => put_connection(deps, &req).await,
        (&Method::GET, DEAD_LETTERS_ROUTE) => list_dead_letters(deps, &req).await,
        (&Method::POST, REPLAY_ROUTE) => replay(deps, &req).await,
        (&Method::GET, RECONCILIATION_ROUTE) => last_reconciliation(deps, &req).await,
        (&Method::POST, RECONCILIATION_ROUTE) => reconcile_now(deps, &req).await,
        (&Method::GET, COMMERCEOS_CONNECTION_ROUTE) => get_commerceos(deps, &req).await,
        (&Method::PUT, COMMERCEOS_CONNECTION_ROUTE) => put_commerceos(deps, &req).await,
        (&Method::POST, COMMERCEOS_PING_ROUTE) => ping_commerceos(deps, &req).await,
        (
            _,
            SETTINGS_ROUTE
            | CONNECTION_ROUTE
            | DEAD_LETTERS_ROUTE
            | REPLAY_ROUTE
            | RECONCILIATION_ROUTE
            | COMMERCEOS_CONNECTION_ROUTE
            | COMMERCEOS_PING_ROUTE,
        ) => Err(ApiError::method_not_allowed()),
        (&Method::GET, other) if other.starts_with(PARTNER_ORDER_PREFIX) => {
            partner_order(deps, &req, &other[PARTNER_ORDER_PREFIX.len()..]).await
        }
        _ => Err(ApiError::not_found("NOT_FOUND", "no such route")),
    }
}

/// Verifies the session (`shop_domain` optional; if given, it must be the token's shop).
fn authorize(deps: &Deps, req: &Request) -> Result<Caller, ApiError> {
    let (authorization, now) = (h::header(req, "authorization"), deps.clock.now());
    let shop_domain = h::query_param(req, "shop_domain");
    let caller = auth::authorize(authorization, shop_domain.as_deref(), ShopParam::Optional, &deps.shopify, now)?;
    tracing::Span::current().record("shop", caller.shop.as_str());
    Ok(caller)
}

fn body<T: serde::de::DeserializeOwned>(req: &Request) -> Result<T, ApiError> {
    serde_json::from_slice(h::body_bytes(req)).map_err(|e| ApiError::bad_request("INVALID_BODY", e.to_string()))
}

async fn get_settings(deps: &Deps, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = authorize(deps, req)?;
    let connection = connection::load(deps.connections.as_ref(), &caller.shop).await?;
    let settings = connection.and_then(|c| c.settings.fulfilment);
    let erp = cos::load(deps.connections.as_ref(), &caller.shop).await?.and_then(|c| c.settings.erp);
    Ok(h::json(StatusCode::OK, &json!({ "settings": settings, "erp": erp })))
}

/// `PUT /api/fulfilment/settings` with `partner: commerceos`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ErpBody {
    enabled: bool,
    #[allow(dead_code)]
    partner: Integration,
    rule: shared::domain::fulfilment::RouteRule,
    /// CommerceOS is also the shop's fulfilment partner (no MasonHub routing; `createShipment` once
    /// approved, CommerceOS releases and ships).
    #[serde(default)]
    fulfils: bool,
}

async fn put_settings(deps: &Deps, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = authorize(deps, req)?;
    let raw: serde_json::Value = body(req)?;
    if raw.get("partner").and_then(|p| p.as_str()) == Some(Integration::CommerceOs.as_str()) {
        let input: ErpBody =
            serde_json::from_value(raw).map_err(|e| ApiError::bad_request("INVALID_BODY", e.to_string()))?;
        let settings = ErpSettings { enabled: input.enabled, rule: input.rule, fulfils: input.fulfils };
        let stored = cos::put_erp(deps.connections.as_ref(), &caller.shop, settings, deps.clock.now()).await?;
        tracing::info!(shop = %caller.shop, enabled = stored.enabled, fulfils = stored.fulfils, "ERP routing stored");
        return Ok(h::json(StatusCode::OK, &json!({ "erp": stored })));
    }
    let settings: FulfilmentSettings =
        serde_json::from_value(raw).map_err(|e| ApiError::bad_request("INVALID_BODY", e.to_string()))?;
    let stored =
        connection::put_fulfilment(deps.connections.as_ref(), &caller.shop, settings, deps.clock.now()).await?;
    tracing::info!(shop = %caller.shop, enabled = stored.enabled, "fulfilment settings stored");
    Ok(h::json(StatusCode::OK, &json!({ "settings": stored })))
}

/// A connection as the dashboard sees it: never a token or its hash.
#[derive(Debug, Serialize)]
struct ConnectionView {
    environment: shared::integrations::masonhub::Environment,
    account_slug: String,
    active: bool,
    callbacks_registered_at: Option<chrono::DateTime<chrono::Utc>>,
    routing_configured: bool,
    updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<&MasonHubConnection> for ConnectionView {
    fn from(c: &MasonHubConnection) -> Self {
        Self {
            environment: c.settings.environment,
            account_slug: c.settings.account_slug.clone(),
            active: c.active,
            callbacks_registered_at: c.settings.callbacks_registered_at,
            routing_configured: c.settings.fulfilment.is_some(),
            updated_at: c.updated_at,
        }
    }
}

async fn get_connection(deps: &Deps, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = authorize(deps, req)?;
    let connection = connection::load(deps.connections.as_ref(), &caller.shop).await?;
    Ok(h::json(StatusCode::OK, &json!({ "connection": connection.as_ref().map(ConnectionView::from) })))
}

async fn put_connection(deps: &Deps, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = authorize(deps, req)?;
    let input: ConnectionInput = body(req)?;
    let connect_deps = ConnectDeps {
        connections: deps.connections.as_ref(),
        credentials: deps.credentials.as_ref(),
        sealer: deps.sealer.as_ref(),
        client: &deps.client,
        config: &deps.masonhub,
        callback_url: &deps.callback_url,
    };
    let connection =
        connection::connect(&connect_deps, &caller.shop, caller.user.as_deref(), input, deps.clock.now()).await?;
    Ok(h::json(StatusCode::OK, &json!({ "connection": ConnectionView::from(&connection) })))
}

fn conflict(code: &'static str, message: &str) -> ApiError {
    ApiError::Client { status: StatusCode::CONFLICT, code, message: message.into() }
}

/// The order's state at MasonHub beside ours. MasonHub finds orders by its own id, which its answer to
/// the create gave us; before that there is nothing to ask (409).
async fn partner_order(deps: &Deps, req: &Request, raw_id: &str) -> Result<Response<Body>, ApiError> {
    let caller = authorize(deps, req)?;
    let order = order_ref::resolve(deps.orders.as_ref(), &caller.shop, &h::path_segment(raw_id)).await?;
    let route =
        order.ops.route.as_ref().ok_or_else(|| conflict("NOT_ROUTED", "the order is not routed to MasonHub"))?;
    let ours = order.ops.partner.clone().unwrap_or_default();
    let partner_id = ours
        .partner_id
        .clone()
        .ok_or_else(|| conflict("NOT_ACCEPTED", "MasonHub has not accepted the order yet; nothing to ask"))?;
    let access = connection::access(
        deps.connections.as_ref(),
        deps.credentials.as_ref(),
        deps.sealer.as_ref(),
        &deps.masonhub,
        &caller.shop,
    )
    .await
    .map_err(|e| match e {
        connection::AccessError::NotConnected => conflict("NOT_CONNECTED", "MasonHub is not connected"),
        connection::AccessError::Store(e) => e.into(),
        other => ApiError::Internal(anyhow::Error::new(other)),
    })?;
    let query = OrdersQuery { ids: vec![partner_id.clone()], list_type: Some("summary".into()), ..Default::default() };
    let answer = deps.client.orders(&access.base_url, &access.token, &query).await.map_err(|e| {
        tracing::warn!(shop = %caller.shop, order = %order.key(), error = %e, "MasonHub order check failed");
        let code = if matches!(e, UpstreamError::Unauthorized { .. }) {
            "MASONHUB_REFUSED_TOKEN"
        } else {
            "MASONHUB_UNAVAILABLE"
        };
        ApiError::Client { status: StatusCode::BAD_GATEWAY, code, message: format!("MasonHub: {e}") }
    })?;
    let theirs = answer.as_array().into_iter().flatten().find(|o| {
        o.get("id").and_then(|v| v.as_str()) == Some(partner_id.as_str())
            || o.get("customer_identifier").and_then(|v| v.as_str()) == Some(route.partner_order_id.as_str())
    });
    let masonhub = theirs.map(|o| {
        let tracking: Vec<&str> = o
            .get("tracking_numbers")
            .and_then(|t| t.as_array())
            .into_iter()
            .flatten()
            .filter_map(|t| t.get("tracking_number").and_then(|n| n.as_str()))
            .collect();
        json!({ "status": o.get("status"), "tracking_numbers": tracking, "updated_at": o.get("updated_at") })
    });
    let in_sync = theirs.is_some_and(|o| o.get("status").and_then(|s| s.as_str()) == ours.status.as_deref());
    let shipments: Vec<&str> = ours.shipments.iter().filter_map(|s| s.tracking_number.as_deref()).collect();
    Ok(h::json(
        StatusCode::OK,
        &json!({
            "order": order.key().to_string(),
            "partner_order_id": route.partner_order_id,
            "partner_id": partner_id,
            "ours": { "status": ours.status, "tracking_numbers": shipments, "updated_at": ours.updated_at },
            "masonhub": masonhub,
            "in_sync": in_sync,
            "checked_at": deps.clock.now(),
        }),
    ))
}

/// `24h`, `7d`, `90m`: a reconciliation window, at most [`reconcile::MAX_WINDOW`].
fn window(raw: &str) -> Result<chrono::Duration, ApiError> {
    let invalid = || {
        ApiError::bad_request(
            "INVALID_WINDOW",
            "window is a number of minutes, hours or days (90m, 24h, 7d), at most 7d",
        )
    };
    let raw = raw.trim();
    // The unit is the last character (any character: the split must fall on its boundary).
    let (at, unit) = raw.char_indices().last().ok_or_else(invalid)?;
    let n: i64 = raw[..at].parse().ok().filter(|n| *n > 0).ok_or_else(invalid)?;
    let span = match unit {
        'm' => chrono::Duration::try_minutes(n),
        'h' => chrono::Duration::try_hours(n),
        'd' => chrono::Duration::try_days(n),
        _ => None,
    };
    span.filter(|s| *s <= reconcile::MAX_WINDOW).ok_or_else(invalid)
}

/// The `integration` parameter: one of [`reconcile::INTEGRATIONS`].
fn integration_param(raw: &str) -> Result<Integration, ApiError> {
    reconcile::INTEGRATIONS.into_iter().find(|i| i.as_str() == raw).ok_or_else(|| {
        ApiError::bad_request("INVALID_INTEGRATION", "integration is one of shopify, amazon, masonhub, commerceos")
    })
}

async fn last_reconciliation(deps: &Deps, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = authorize(deps, req)?;
    let wanted = h::query_param(req, "window").map(|w| window(&w)).transpose()?;
    let only = h::query_param(req, "integration").map(|i| integration_param(&i)).transpose()?;
    let mut reports = Vec::new();
    for integration in reconcile::INTEGRATIONS.into_iter().filter(|i| only.is_none_or(|o| o == *i)) {
        let report = reconcile::last(deps.mirror.as_ref(), &caller.shop, integration).await?;
        reports.extend(report.filter(|r| wanted.is_none_or(|w| r.to - r.from >= w)));
    }
    Ok(h::json(StatusCode::OK, &json!({ "reports": reports })))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReconcileBody {
    #[serde(default)]
    window: Option<String>,
    #[serde(default)]
    integration: Option<String>,
    /// The window's start (default: `window` before now); the window never reaches past now.
    #[serde(default)]
    from: Option<chrono::DateTime<chrono::Utc>>,
}

impl Deps {
    fn reconcile(&self) -> reconcile::Deps<'_> {
        reconcile::Deps {
            orders: self.orders.as_ref(),
            mirror: self.mirror.as_ref(),
            alerts: self.alerts.as_ref(),
            dead_letters: self.dead_letters.as_ref(),
            connections: self.connections.as_ref(),
            credentials: self.credentials.as_ref(),
            shops: self.shops.as_ref(),
            sealer: self.sealer.as_ref(),
            shopify: &self.admin,
            amazon: &self.spapi,
            masonhub: &self.client,
            masonhub_config: &self.masonhub,
            commerceos: &self.commerceos_client,
            commerceos_config: &self.commerceos,
        }
    }
}

/// How long an on-demand run starts integrations for: the HTTP API answers within 29 s, so one not
/// started by then is answered as not run (run it alone, or leave it to the daily run).
const RECONCILE_BUDGET: std::time::Duration = std::time::Duration::from_secs(18);

/// Reconciles now: the one `integration` asked for (409 when the shop does not use it, 502 when it
/// cannot be asked), else every integration the shop uses; one that cannot be asked, or is not
/// reached within [`RECONCILE_BUDGET`], is named under `failed` beside the others' reports.
async fn reconcile_now(deps: &Deps, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = authorize(deps, req)?;
    let input: ReconcileBody = if h::body_bytes(req).is_empty() { ReconcileBody::default() } else { body(req)? };
    let span = input.window.as_deref().map(window).transpose()?.unwrap_or_else(|| chrono::Duration::hours(24));
    let only = input.integration.as_deref().map(integration_param).transpose()?;
    let now = deps.clock.now();
    let (from, to) = match input.from {
        None => (now - span, now),
        Some(from) if from < now => (from, (from + span).min(now)),
        Some(_) => return Err(ApiError::bad_request("INVALID_WINDOW", "from must be in the past")),
    };
    let reconcile_deps = deps.reconcile();
    let started = std::time::Instant::now();
    let (mut reports, mut failed) = (Vec::new(), Vec::new());
    for integration in reconcile::INTEGRATIONS.into_iter().filter(|i| only.is_none_or(|o| o == *i)) {
        if started.elapsed() > RECONCILE_BUDGET {
            let error = "not run: the others took the request's time; reconcile it alone";
            failed.push(json!({ "integration": integration, "code": "TIME_BUDGET", "error": error }));
            continue;
        }
        match reconcile::run(&reconcile_deps, &caller.shop, integration, from, to, now).await {
            Ok(report) => {
                tracing::info!(shop = %caller.shop, %integration, gaps = report.gaps(), checked = report.checked, "reconciled");
                reports.push(report);
            }
            Err(ReconcileError::NotConnected(_) | ReconcileError::NotApplicable(_)) if only.is_none() => {}
            Err(ReconcileError::NotConnected(_)) => {
                return Err(conflict("NOT_CONNECTED", &format!("{integration} is not connected")));
            }
            Err(ReconcileError::NotApplicable(why)) => return Err(conflict("NOT_RECONCILABLE", why)),
            Err(ReconcileError::Store(e)) => return Err(e.into()),
            Err(e) => {
                tracing::warn!(shop = %caller.shop, %integration, error = %e, "reconciliation could not ask the integration");
                let message = format!("{integration}: {e}");
                if only.is_some() {
                    return Err(ApiError::Client {
                        status: StatusCode::BAD_GATEWAY,
                        code: "UPSTREAM_UNAVAILABLE",
                        message,
                    });
                }
                failed.push(json!({ "integration": integration, "code": "UPSTREAM_UNAVAILABLE", "error": message }));
            }
        }
    }
    Ok(h::json(StatusCode::OK, &json!({ "reports": reports, "failed": failed })))
}

/// A CommerceOS connection as the dashboard sees it: never a credential, secret or hash.
#[derive(Debug, Serialize)]
struct CommerceOsView {
    tenant: String,
    /// The tenant's API base URL under `COMMERCEOS_TENANT_URL`.
    base_url: String,
    identifier_key: String,
    seller: String,
    supplier: String,
    currency: String,
    auth: cos::AuthKind,
    client_id_set: bool,
    active: bool,
    scopes: Vec<String>,
    missing_scopes: Vec<String>,
    writes_allowed: bool,
    webhooks_configured_at: Option<chrono::DateTime<chrono::Utc>>,
    routing_configured: bool,
    last_check_at: Option<chrono::DateTime<chrono::Utc>>,
    last_check_ok: Option<bool>,
    last_check_error: Option<String>,
    updated_at: chrono::DateTime<chrono::Utc>,
}

impl CommerceOsView {
    fn new(c: &CommerceOsConnection, config: &CommerceOsConfig) -> Self {
        let s = &c.settings;
        Self {
            tenant: s.tenant.clone(),
            base_url: config.base_url(&s.tenant),
            identifier_key: s.defaults.identifier_key.to_string(),
            seller: s.defaults.seller.clone(),
            supplier: s.defaults.supplier.clone(),
            currency: s.defaults.currency.clone(),
            auth: s.auth,
            client_id_set: s.auth == cos::AuthKind::Oauth2,
            active: c.active,
            scopes: s.scopes.clone(),
            missing_scopes: s.missing_scopes.clone(),
            writes_allowed: s.writes_allowed(),
            webhooks_configured_at: s.webhooks_configured_at,
            routing_configured: s.erp.is_some(),
            last_check_at: c.status.last_check_at,
            last_check_ok: c.status.last_check_ok,
            last_check_error: c.status.last_check_error.clone(),
            updated_at: c.updated_at,
        }
    }
}

fn commerceos_deps(deps: &Deps) -> cos::ConnectDeps<'_> {
    cos::ConnectDeps {
        connections: deps.connections.as_ref(),
        credentials: deps.credentials.as_ref(),
        alerts: deps.alerts.as_ref(),
        sealer: deps.sealer.as_ref(),
        client: &deps.commerceos_client,
        config: &deps.commerceos,
        callback_base_url: &deps.commerceos_callback_base_url,
    }
}

async fn get_commerceos(deps: &Deps, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = authorize(deps, req)?;
    let connection = cos::load(deps.connections.as_ref(), &caller.shop).await?;
    let view = connection.as_ref().map(|c| CommerceOsView::new(c, &deps.commerceos));
    Ok(h::json(StatusCode::OK, &json!({ "connection": view })))
}

async fn put_commerceos(deps: &Deps, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = authorize(deps, req)?;
    let input: cos::ConnectionInput = body(req)?;
    let now = deps.clock.now();
    let connection = cos::connect(&commerceos_deps(deps), &caller.shop, caller.user.as_deref(), input, now).await?;
    Ok(h::json(StatusCode::OK, &json!({ "connection": CommerceOsView::new(&connection, &deps.commerceos) })))
}

async fn ping_commerceos(deps: &Deps, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = authorize(deps, req)?;
    let connection = cos::check(&commerceos_deps(deps), &caller.shop, deps.clock.now()).await?;
    Ok(h::json(StatusCode::OK, &json!({ "connection": CommerceOsView::new(&connection, &deps.commerceos) })))
}

/// A dead letter as the dashboard sees it.
#[derive(Debug, Serialize)]
struct DeadLetterView<'a> {
    id: &'a str,
    destination: Integration,
    order: &'a str,
    kind: &'a str,
    cause: &'static str,
    error: &'a str,
    attempts: u32,
    replays: u32,
    request: &'a Option<serde_json::Value>,
    response: &'a Option<String>,
    created_at: chrono::DateTime<chrono::Utc>,
    updated_at: chrono::DateTime<chrono::Utc>,
    next_retry_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl<'a> From<&'a DeadLetter> for DeadLetterView<'a> {
    fn from(d: &'a DeadLetter) -> Self {
        Self {
            id: &d.id,
            destination: d.destination,
            order: &d.order,
            kind: &d.kind,
            cause: d.cause.as_str(),
            error: &d.error,
            attempts: d.attempts,
            replays: d.replays,
            request: &d.request,
            response: &d.response,
            created_at: d.created_at,
            updated_at: d.updated_at,
            next_retry_at: d.next_retry_at,
        }
    }
}

fn destination(raw: &str) -> Result<Integration, ApiError> {
    Integration::parse(raw.trim()).map_err(|_| {
        ApiError::bad_request("INVALID_DESTINATION", "destination must be shopify, amazon, masonhub or commerceos")
    })
}

async fn list_dead_letters(deps: &Deps, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = authorize(deps, req)?;
    let wanted = h::query_param(req, "destination").map(|d| destination(&d)).transpose()?;
    let letters = deps.dead_letters.dead_letters(&caller.shop, wanted).await?;
    let views: Vec<DeadLetterView<'_>> = letters.iter().map(DeadLetterView::from).collect();
    Ok(h::json(StatusCode::OK, &json!({ "deadLetters": views })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayBody {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    ids: Option<Vec<String>>,
    #[serde(default)]
    destination: Option<String>,
}

async fn replay(deps: &Deps, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = authorize(deps, req)?;
    let input: ReplayBody = body(req)?;
    let selection = match (input.id, input.ids, input.destination) {
        (Some(id), None, None) => Selection::Ids(vec![id]),
        (None, Some(ids), None) if !ids.is_empty() && ids.len() <= MAX_REPLAY_IDS => Selection::Ids(ids),
        (None, None, Some(d)) => Selection::Destination(destination(&d)?),
        _ => {
            return Err(ApiError::bad_request(
                "INVALID_SELECTION",
                format!("name exactly one of id, ids (1-{MAX_REPLAY_IDS}) or destination"),
            ));
        }
    };
    let replayed = dead_letters::replay(
        deps.dead_letters.as_ref(),
        deps.queue.as_ref(),
        &caller.shop,
        &selection,
        deps.clock.now(),
    )
    .await
    .map_err(|e| ApiError::Internal(anyhow::Error::new(e)))?;
    tracing::info!(shop = %caller.shop, replayed = replayed.replayed.len(), "dead letters replayed");
    Ok(h::json(StatusCode::OK, &replayed))
}
