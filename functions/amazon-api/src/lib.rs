//! Trigger: the Amazon connection routes, behind the dashboard's Shopify session token.
//!
//! - `GET /api/amazon/connection`: the shop's connection, or `null`.
//! - `PUT /api/amazon/connection`: create (the session user becomes the owner) or update (owner only).
//! - `PUT /api/amazon/credential`: store the LWA refresh token (and a per-connection client id and
//!   secret), sealed with KMS (owner only).
//! - `POST /api/admin/amazon/sp-api/ping`: one cheap authenticated SP-API call, recorded (owner only).
//! - `POST /api/admin/amazon/orders/sync?dry_run=&include_items=`: a sync now (owner only).
//!
//! No response or log line carries the refresh token or the client secret.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use lambda_http::{
    Body, Request, Response,
    http::{Method, StatusCode},
};
use serde::{Deserialize, Serialize};
use shared::{
    app::{
        auth::{self, Caller, ShopParam},
        connections::amazon::{self as connection, AmazonConnection, ConnectionInput, Put},
        poll::amazon::{self as sync, SyncDeps, SyncJob},
    },
    clock::{Clock, SystemClock},
    config::{ConfigError, Env, Secret, SecretsConfig, ShopifyAppConfig, TableConfig},
    domain::{Integration, ShopDomain},
    error::ApiError,
    http as h,
    integrations::amazon::{ApiVersion, Region, SpApiConfig, client::SpApiClient},
    queue::{Message, MessageQueue, Stage, schema, sqs::SqsQueue},
    secrets::{KmsSealer, Sealer},
    store::{
        AlertStore, ConnectionStatus, ConnectionStore, CredentialStore, MirrorStore, OrderStore, OutboxStore,
        SyncStore, dynamo::DynamoStore,
    },
};

pub const CONNECTION_ROUTE: &str = "/api/amazon/connection";
pub const CREDENTIAL_ROUTE: &str = "/api/amazon/credential";
pub const PING_ROUTE: &str = "/api/admin/amazon/sp-api/ping";
pub const SYNC_ROUTE: &str = "/api/admin/amazon/orders/sync";

/// Longest accepted refresh token or client secret (LWA tokens are a few hundred characters).
const MAX_SECRET_LEN: usize = 4096;

#[derive(Debug, Clone)]
pub struct Config {
    pub table: TableConfig,
    pub shopify: ShopifyAppConfig,
    pub spapi: SpApiConfig,
    /// The KMS key that seals credentials.
    pub secrets: SecretsConfig,
    pub queues: std::collections::HashMap<Stage, String>,
}

impl Config {
    /// The process environment, with the Shopify app secret read from Secrets Manager
    /// (`SHOPIFY_APP_SECRET_ID`) once, at cold start.
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::read(shared::aws::function_env().await?)
    }

    pub fn read(mut env: Env) -> Result<Self, ConfigError> {
        let config = Self {
            table: TableConfig::read(&mut env),
            shopify: ShopifyAppConfig::read(&mut env),
            spapi: SpApiConfig::read(&mut env),
            secrets: SecretsConfig::read(&mut env),
            queues: schema::read_urls(
                &mut env,
                &[schema::outbound_stages(), vec![Stage::Poll(Integration::Amazon)]].concat(),
            ),
        };
        env.finish().map(|()| config)
    }
}

pub struct Deps {
    pub shopify: ShopifyAppConfig,
    pub connections: Arc<dyn ConnectionStore>,
    pub credentials: Arc<dyn CredentialStore>,
    pub sync: Arc<dyn SyncStore>,
    pub mirror: Arc<dyn MirrorStore>,
    pub orders: Arc<dyn OrderStore>,
    pub alerts: Arc<dyn AlertStore>,
    pub sealer: Arc<dyn Sealer>,
    pub outbox: Arc<dyn OutboxStore>,
    pub client: Arc<SpApiClient>,
    pub queue: Arc<dyn MessageQueue>,
    pub clock: Arc<dyn Clock>,
}

pub async fn connect(config: Config) -> Deps {
    let sdk = shared::aws::sdk_config().await;
    let store = Arc::new(DynamoStore::new(shared::aws::dynamodb(&sdk), config.table.table_name));
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    Deps {
        shopify: config.shopify,
        connections: store.clone(),
        credentials: store.clone(),
        sync: store.clone(),
        mirror: store.clone(),
        orders: store.clone(),
        alerts: store.clone(),
        outbox: store,
        sealer: Arc::new(KmsSealer::new(shared::aws::kms(&sdk), config.secrets.key_id)),
        client: Arc::new(SpApiClient::new(config.spapi, clock.clone())),
        queue: Arc::new(SqsQueue::new(shared::aws::sqs(&sdk), config.queues)),
        clock,
    }
}

impl Deps {
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

#[tracing::instrument(skip_all, fields(stage = "amazon-api", shop = tracing::field::Empty))]
pub async fn handle(deps: &Deps, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    Ok(h::respond(route(deps, req).await))
}

async fn route(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    let path = h::path(&req);
    match (req.method(), path.as_str()) {
        (&Method::GET, CONNECTION_ROUTE) => get_connection(deps, &req).await,
        (&Method::PUT, CONNECTION_ROUTE) => put_connection(deps, &req).await,
        (&Method::PUT, CREDENTIAL_ROUTE) => put_credential(deps, &req).await,
        (&Method::POST, PING_ROUTE) => ping(deps, &req).await,
        (&Method::POST, SYNC_ROUTE) => sync_now(deps, &req).await,
        (_, CONNECTION_ROUTE | CREDENTIAL_ROUTE | PING_ROUTE | SYNC_ROUTE) => Err(ApiError::method_not_allowed()),
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

async fn owned_connection(deps: &Deps, caller: &Caller) -> Result<AmazonConnection, ApiError> {
    let connection = connection::load(deps.connections.as_ref(), &caller.shop)
        .await?
        .ok_or_else(|| ApiError::not_found("CONNECTION_NOT_FOUND", "this shop has no Amazon connection"))?;
    connection::require_owner(&connection, caller.user.as_deref())?;
    Ok(connection)
}

fn conflict(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::Client { status: StatusCode::CONFLICT, code, message: message.into() }
}

/// The connection as answered: settings and status, never a credential.
#[derive(Debug, Serialize)]
pub struct ConnectionView {
    pub shop: ShopDomain,
    pub seller_id: String,
    pub region: Region,
    pub marketplace_ids: Vec<String>,
    pub api_version: ApiVersion,
    pub active: bool,
    /// Whether the caller owns the connection.
    pub is_owner: bool,
    pub has_credential: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(flatten)]
    pub status: ConnectionStatus,
}

async fn view(deps: &Deps, connection: AmazonConnection, caller: &Caller) -> Result<ConnectionView, ApiError> {
    let has_credential = has_credential(deps, &connection.shop).await?;
    Ok(ConnectionView {
        is_owner: caller.user.as_deref() == Some(connection.owner_sub.as_str()),
        shop: connection.shop,
        seller_id: connection.seller_id,
        region: connection.region,
        marketplace_ids: connection.marketplace_ids,
        api_version: connection.api_version,
        active: connection.active,
        has_credential,
        created_at: connection.created_at,
        updated_at: connection.updated_at,
        status: connection.status,
    })
}

async fn get_connection(deps: &Deps, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = authorize(deps, req)?;
    match connection::load(deps.connections.as_ref(), &caller.shop).await? {
        Some(connection) => Ok(h::json(StatusCode::OK, &view(deps, connection, &caller).await?)),
        None => Ok(h::json(StatusCode::OK, &serde_json::Value::Null)),
    }
}

fn parse_body<T: for<'de> Deserialize<'de>>(req: &Request, shape: &str) -> Result<T, ApiError> {
    serde_json::from_slice(h::body_bytes(req))
        .map_err(|_| ApiError::bad_request("INVALID_BODY", format!("expected a JSON body {shape}")))
}

async fn has_credential(deps: &Deps, shop: &ShopDomain) -> Result<bool, ApiError> {
    Ok(deps.credentials.credential(shop, Integration::Amazon).await?.is_some())
}

const CONNECTION_SHAPE: &str =
    "{\"seller_id\", \"region\": \"NA|EU|FE|SANDBOX\", \"marketplace_ids\": [..], \"api_version\"?, \"active\"?}";

async fn put_connection(deps: &Deps, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = authorize(deps, req)?;
    let input: ConnectionInput = parse_body(req, CONNECTION_SHAPE)?;
    let now = deps.clock.now();
    let (put, saved) =
        connection::put(deps.connections.as_ref(), &caller.shop, caller.user.as_deref(), input, now).await?;
    let status = if put == Put::Created { StatusCode::CREATED } else { StatusCode::OK };
    Ok(h::json(status, &view(deps, saved, &caller).await?))
}

#[derive(Deserialize)]
struct CredentialInput {
    refresh_token: String,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    client_secret: Option<String>,
}

async fn put_credential(deps: &Deps, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = authorize(deps, req)?;
    let connection = owned_connection(deps, &caller).await?;
    let input: CredentialInput = parse_body(req, "{\"refresh_token\", \"client_id\"?, \"client_secret\"?}")?;
    let refresh_token = input.refresh_token.trim();
    if refresh_token.is_empty() || refresh_token.len() > MAX_SECRET_LEN {
        return Err(ApiError::bad_request("INVALID_REFRESH_TOKEN", "refresh_token must be a non-empty token"));
    }
    let client_id = input.client_id.map(|c| c.trim().to_owned()).filter(|c| !c.is_empty());
    let client_secret = input.client_secret.map(|c| c.trim().to_owned()).filter(|c| !c.is_empty());
    if client_id.as_ref().is_some_and(|c| c.len() > 256)
        || client_secret.as_ref().is_some_and(|c| c.len() > MAX_SECRET_LEN)
    {
        return Err(ApiError::bad_request("INVALID_CLIENT", "client_id or client_secret is too long"));
    }
    if client_secret.is_some() != client_id.is_some() {
        return Err(ApiError::bad_request("INVALID_CLIENT", "client_id and client_secret go together"));
    }
    if client_id.is_none() && deps.client.app_client().is_none() {
        return Err(ApiError::bad_request(
            "CLIENT_REQUIRED",
            "this deployment has no app LWA client: send client_id and client_secret",
        ));
    }
    let now = deps.clock.now();
    let client = client_id.clone().zip(client_secret.map(Secret::new));
    let (store, sealer) = (deps.credentials.as_ref(), deps.sealer.as_ref());
    connection::put_credential(store, sealer, &connection.shop, &Secret::new(refresh_token), client, now).await?;
    tracing::info!(own_client = client_id.is_some(), "Amazon credential stored");
    Ok(h::json(
        StatusCode::OK,
        &serde_json::json!({ "has_credential": true, "client_id": client_id, "updated_at": now }),
    ))
}

async fn ping(deps: &Deps, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = authorize(deps, req)?;
    let connection = owned_connection(deps, &caller).await?;
    if !has_credential(deps, &connection.shop).await? {
        return Err(conflict("CREDENTIAL_MISSING", "store the LWA refresh token first (PUT /api/amazon/credential)"));
    }
    let check = sync::check(deps.sync_deps(), &connection, deps.clock.now()).await?;
    Ok(h::json(
        StatusCode::OK,
        &serde_json::json!({
            "last_check_at": check.at, "last_check_ok": check.ok, "last_check_error": check.error,
        }),
    ))
}

fn flag(req: &Request, name: &'static str) -> Result<bool, ApiError> {
    match h::query_param(req, name).as_deref().map(str::trim) {
        None | Some("") | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(_) => Err(ApiError::bad_request("INVALID_FLAG", format!("{name} must be true or false"))),
    }
}

async fn sync_now(deps: &Deps, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = authorize(deps, req)?;
    let dry_run = flag(req, "dry_run")?;
    let include_items = flag(req, "include_items")?;
    let connection = owned_connection(deps, &caller).await?;
    if !has_credential(deps, &connection.shop).await? {
        return Err(conflict("CREDENTIAL_MISSING", "store the LWA refresh token first (PUT /api/amazon/credential)"));
    }
    let job = SyncJob { shop: connection.shop.clone(), dry_run, include_items, resume: None };
    let report = sync::run_and_record(deps.sync_deps(), &connection, &job, deps.clock.now()).await?;
    let mut retry_after = None;
    if let Some((next, delay)) = report.carry_over {
        let job = next.into_poll_job("admin-sync".to_owned()).map_err(|e| ApiError::Internal(e.into()))?;
        deps.queue.send(Stage::Poll(Integration::Amazon), &Message::Poll(job), delay).await?;
        retry_after = Some(delay);
    }
    let result = report.result;
    Ok(h::json(
        StatusCode::OK,
        &serde_json::json!({
            "status": result.status,
            "dry_run": dry_run,
            "include_items": include_items || connection.api_version == ApiVersion::V2026,
            "api_version": connection.api_version,
            "last_orders_sync_at": result.at,
            "last_orders_sync_status": result.status,
            "last_orders_sync_error": result.error,
            "last_orders_sync_orders_count": result.orders,
            "last_orders_sync_items_count": result.items,
            "retry_after_seconds": retry_after,
        }),
    ))
}
