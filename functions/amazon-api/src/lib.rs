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

use std::{collections::HashMap, sync::Arc};

use chrono::{DateTime, Utc};
use lambda_http::{
    Body, Request, Response,
    http::{Method, StatusCode},
};
use serde::{Deserialize, Serialize};
use shared::{
    app::poll::amazon::{self as sync, SyncDeps, SyncJob},
    clock::{Clock, SystemClock},
    config::{ConfigError, Env, Secret, SecretsConfig, ShopifyAppConfig, TableConfig},
    domain::{ShopDomain, StageMessage},
    error::ApiError,
    http as h,
    integrations::amazon::{ApiVersion, Region, SpApiConfig, client::SpApiClient},
    integrations::shopify::session,
    queue::{MessageQueue, Stage, schema, sqs::SqsQueue},
    secrets::{KmsSealer, Sealer},
    store::{
        AlertStore, OrderStore, Recorded, WriteOutcome,
        amazon::{AmazonConnection, AmazonStore, ConnectionStatus},
        dynamo::DynamoStore,
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
    pub amazon_sync_queue_url: String,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::read(Env::from_process())
    }

    pub fn read(mut env: Env) -> Result<Self, ConfigError> {
        let config = Self {
            table: TableConfig::read(&mut env),
            shopify: ShopifyAppConfig::read(&mut env),
            spapi: SpApiConfig::read(&mut env),
            secrets: SecretsConfig::read(&mut env),
            amazon_sync_queue_url: env.required(schema::def(Stage::AmazonSync).url_env),
        };
        env.finish().map(|()| config)
    }
}

pub struct Deps {
    pub shopify: ShopifyAppConfig,
    pub amazon: Arc<dyn AmazonStore>,
    pub orders: Arc<dyn OrderStore>,
    pub alerts: Arc<dyn AlertStore>,
    pub sealer: Arc<dyn Sealer>,
    pub client: Arc<SpApiClient>,
    pub queue: Arc<dyn MessageQueue>,
    pub clock: Arc<dyn Clock>,
}

impl Deps {
    pub async fn connect(config: Config) -> Self {
        let sdk = shared::aws::sdk_config().await;
        let store = Arc::new(DynamoStore::new(shared::aws::dynamodb(&sdk), config.table.table_name));
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        Self {
            shopify: config.shopify,
            amazon: store.clone(),
            orders: store.clone(),
            alerts: store,
            sealer: Arc::new(KmsSealer::new(shared::aws::kms(&sdk), config.secrets.key_id)),
            client: Arc::new(SpApiClient::new(config.spapi, clock.clone())),
            queue: Arc::new(SqsQueue::new(
                shared::aws::sqs(&sdk),
                HashMap::from([(Stage::AmazonSync, config.amazon_sync_queue_url)]),
            )),
            clock,
        }
    }

    pub fn sync_deps(&self) -> SyncDeps<'_> {
        SyncDeps {
            client: &self.client,
            amazon: self.amazon.as_ref(),
            orders: self.orders.as_ref(),
            alerts: self.alerts.as_ref(),
            sealer: self.sealer.as_ref(),
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

/// The verified session: its shop (checked against `shop_domain` when given) and its user (`sub`).
struct Caller {
    shop: ShopDomain,
    user: Option<String>,
}

fn authorize(deps: &Deps, req: &Request) -> Result<Caller, ApiError> {
    let token = h::header(req, "authorization")
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .ok_or_else(|| ApiError::unauthorized("TOKEN_MISSING", "a Shopify session token is required"))?;
    let session = session::verify(token.trim(), &deps.shopify, deps.clock.now())
        .map_err(|e| ApiError::unauthorized("TOKEN_INVALID", e.to_string()))?;
    if let Some(requested) = h::query_param(req, "shop_domain") {
        let requested = ShopDomain::parse(&requested)
            .map_err(|_| ApiError::bad_request("INVALID_SHOP_DOMAIN", "shop_domain is not a shop domain"))?;
        if requested != session.shop {
            return Err(ApiError::forbidden("SHOP_MISMATCH", "the session token belongs to another shop"));
        }
    }
    tracing::Span::current().record("shop", session.shop.as_str());
    Ok(Caller { shop: session.shop, user: session.user.filter(|u| !u.trim().is_empty()) })
}

/// 403 unless the caller is the connection's owner.
fn require_owner(connection: &AmazonConnection, caller: &Caller) -> Result<(), ApiError> {
    if caller.user.as_deref() == Some(connection.owner_sub.as_str()) {
        Ok(())
    } else {
        Err(ApiError::forbidden("NOT_OWNER", "only the user who connected Amazon may do this"))
    }
}

async fn owned_connection(deps: &Deps, caller: &Caller) -> Result<AmazonConnection, ApiError> {
    let connection = deps
        .amazon
        .amazon_connection(&caller.shop)
        .await?
        .ok_or_else(|| ApiError::not_found("CONNECTION_NOT_FOUND", "this shop has no Amazon connection"))?;
    require_owner(&connection, caller)?;
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
    let has_credential = deps.amazon.amazon_credential(&connection.shop).await?.is_some();
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
    match deps.amazon.amazon_connection(&caller.shop).await? {
        Some(connection) => Ok(h::json(StatusCode::OK, &view(deps, connection, &caller).await?)),
        None => Ok(h::json(StatusCode::OK, &serde_json::Value::Null)),
    }
}

fn parse_body<T: for<'de> Deserialize<'de>>(req: &Request, shape: &str) -> Result<T, ApiError> {
    serde_json::from_slice(h::body_bytes(req))
        .map_err(|_| ApiError::bad_request("INVALID_BODY", format!("expected a JSON body {shape}")))
}

fn is_amazon_id(raw: &str) -> bool {
    (1..=64).contains(&raw.len()) && raw.chars().all(|c| c.is_ascii_alphanumeric())
}

#[derive(Deserialize)]
struct ConnectionInput {
    seller_id: String,
    region: String,
    marketplace_ids: Vec<String>,
    #[serde(default)]
    api_version: Option<String>,
    #[serde(default)]
    active: Option<bool>,
}

const CONNECTION_SHAPE: &str =
    "{\"seller_id\", \"region\": \"NA|EU|FE|SANDBOX\", \"marketplace_ids\": [..], \"api_version\"?, \"active\"?}";

async fn put_connection(deps: &Deps, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = authorize(deps, req)?;
    let input: ConnectionInput = parse_body(req, CONNECTION_SHAPE)?;
    let seller_id = input.seller_id.trim().to_owned();
    if !is_amazon_id(&seller_id) {
        return Err(ApiError::bad_request("INVALID_SELLER_ID", "seller_id must be 1-64 letters and digits"));
    }
    let region = Region::parse(input.region.trim())
        .ok_or_else(|| ApiError::bad_request("INVALID_REGION", "region must be NA, EU, FE or SANDBOX"))?;
    let marketplace_ids: Vec<String> = input.marketplace_ids.iter().map(|m| m.trim().to_owned()).collect();
    if marketplace_ids.is_empty() || marketplace_ids.len() > 50 || !marketplace_ids.iter().all(|m| is_amazon_id(m)) {
        return Err(ApiError::bad_request(
            "INVALID_MARKETPLACE_IDS",
            "marketplace_ids must list 1-50 marketplace ids (letters and digits)",
        ));
    }
    let api_version = match input.api_version.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => Some(
            ApiVersion::parse(raw)
                .ok_or_else(|| ApiError::bad_request("INVALID_API_VERSION", "api_version must be 2026-01-01 or v0"))?,
        ),
    };
    let now = deps.clock.now();
    for _ in 0..3 {
        let Some(stored) = deps.amazon.amazon_connection(&caller.shop).await? else {
            let owner_sub = caller.user.clone().ok_or_else(|| {
                ApiError::forbidden("USER_REQUIRED", "the session token names no user (sub) to own the connection")
            })?;
            let connection = AmazonConnection {
                shop: caller.shop.clone(),
                seller_id: seller_id.clone(),
                region,
                marketplace_ids: marketplace_ids.clone(),
                api_version: api_version.unwrap_or_default(),
                owner_sub,
                active: input.active.unwrap_or(true),
                created_at: now,
                updated_at: now,
                status: ConnectionStatus::default(),
                version: 1,
            };
            if deps.amazon.create_amazon_connection(&connection).await? == Recorded::New {
                tracing::info!(region = %region, "Amazon connection created");
                return Ok(h::json(StatusCode::CREATED, &view(deps, connection, &caller).await?));
            }
            continue;
        };
        require_owner(&stored, &caller)?;
        let updated = AmazonConnection {
            seller_id: seller_id.clone(),
            region,
            marketplace_ids: marketplace_ids.clone(),
            api_version: api_version.unwrap_or(stored.api_version),
            active: input.active.unwrap_or(stored.active),
            updated_at: now,
            version: stored.version + 1,
            ..stored
        };
        if deps.amazon.update_amazon_connection(&updated).await? == WriteOutcome::Written {
            tracing::info!(region = %region, "Amazon connection updated");
            return Ok(h::json(StatusCode::OK, &view(deps, updated, &caller).await?));
        }
    }
    Err(conflict("CONCURRENT_UPDATE", "the connection changed meanwhile; try again"))
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
    let secret = client_secret.map(Secret::new);
    let sealed = sync::seal_credential(
        deps.sealer.as_ref(),
        &connection.shop,
        &Secret::new(refresh_token),
        client_id.clone(),
        secret.as_ref(),
        now,
    )
    .await
    .map_err(|e| ApiError::Internal(e.into()))?;
    deps.amazon.put_amazon_credential(&connection.shop, &sealed).await?;
    tracing::info!(own_client = client_id.is_some(), "Amazon credential stored");
    Ok(h::json(
        StatusCode::OK,
        &serde_json::json!({ "has_credential": true, "client_id": client_id, "updated_at": now }),
    ))
}

async fn ping(deps: &Deps, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = authorize(deps, req)?;
    let connection = owned_connection(deps, &caller).await?;
    if deps.amazon.amazon_credential(&connection.shop).await?.is_none() {
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
    if deps.amazon.amazon_credential(&connection.shop).await?.is_none() {
        return Err(conflict("CREDENTIAL_MISSING", "store the LWA refresh token first (PUT /api/amazon/credential)"));
    }
    let job = SyncJob { shop: connection.shop.clone(), dry_run, include_items, resume: None };
    let report = sync::run_and_record(deps.sync_deps(), &connection, &job, deps.clock.now()).await?;
    let mut retry_after = None;
    if let Some((next, delay)) = report.carry_over {
        deps.queue.send(Stage::AmazonSync, &StageMessage::AmazonSync(next), delay).await?;
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
