//! Trigger: the dashboard's `/sync/*` routes (the Orders dashboard ↔ Sync contract, seed 000) and the
//! public `GET /openapi.json`. Every `/sync/*` route authenticates the Shopify session token and serves
//! only the shop it was issued for; the first session-token request of a shop without a usable Shopify
//! token installs it (`shared::app::install`). Lists and details read the order store; actions change
//! orders and queue their outbound changes.

mod actions;
mod alerts;
mod list;
mod resolve;
mod view;

use std::{collections::HashMap, sync::Arc};

use lambda_http::{Body, Request, Response, http::Method};
use shared::{
    app::auth::{self, ShopParam},
    app::install::{InstallConfig, InstallError, Tokens},
    clock::{Clock, SystemClock},
    config::{ConfigError, Env, ShopifyAppConfig, TableConfig},
    domain::{Integration, ShopDomain},
    error::ApiError,
    http as h,
    queue::{MessageQueue, Stage, schema, sqs::SqsQueue},
    store::{AlertStore, DeliveryStore, OrderStore, OutboxStore, RequestStore, SyncStore, dynamo::DynamoStore},
};

pub use list::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};

pub const ORDERS_ROUTE: &str = "/sync/orders";
pub const OPENAPI_ROUTE: &str = "/openapi.json";
/// The OpenAPI 3.1 document of every HTTP route (a test checks real responses against it).
pub const OPENAPI: &str = include_str!("../openapi.json");
pub const ALERTS_ROUTE: &str = "/sync/orders/alerts";
pub const ASSIGN_ROUTE: &str = "/sync/orders/assign";
pub const FULFILL_ROUTE: &str = "/sync/orders/fulfill";
pub const SUPPORT_ROUTE: &str = "/sync/orders/support";
pub const RETURNS_ROUTE: &str = "/sync/orders/returns";
/// The order detail: `/sync/orders/{id}`.
pub const ORDER_ROUTE_PREFIX: &str = "/sync/orders/";

#[derive(Debug, Clone)]
pub struct Config {
    pub table: TableConfig,
    pub shopify: ShopifyAppConfig,
    pub queues: HashMap<Stage, String>,
    /// Installs a shop by token exchange on its first session-token request (#12).
    pub install: InstallConfig,
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
            queues: schema::read_urls(
                &mut env,
                &[
                    Stage::Outbound(Integration::Shopify),
                    Stage::Outbound(Integration::CommerceOs),
                    Stage::Poll(Integration::Shopify),
                ],
            ),
            install: InstallConfig::read(&mut env),
        };
        env.finish().map(|()| config)
    }
}

pub struct Deps {
    pub shopify: ShopifyAppConfig,
    pub orders: Arc<dyn OrderStore>,
    pub alerts: Arc<dyn AlertStore>,
    pub requests: Arc<dyn RequestStore>,
    pub deliveries: Arc<dyn DeliveryStore>,
    pub sync: Arc<dyn SyncStore>,
    /// Pending outbound effects, committed with the order changes that cause them.
    pub outbox: Arc<dyn OutboxStore>,
    pub queue: Arc<dyn MessageQueue>,
    pub clock: Arc<dyn Clock>,
    /// The token exchange of a shop's first session-token request; `None` serves without installing.
    pub tokens: Option<Tokens>,
}

pub async fn connect(config: Config) -> Deps {
    let sdk = shared::aws::sdk_config().await;
    let store = Arc::new(DynamoStore::new(shared::aws::dynamodb(&sdk), config.table.table_name));
    let queue: Arc<dyn MessageQueue> = Arc::new(SqsQueue::new(shared::aws::sqs(&sdk), config.queues));
    let tokens =
        shared::aws::tokens(&sdk, config.install.tokens, config.install.required_scopes, store.clone(), queue.clone());
    Deps {
        shopify: config.shopify,
        orders: store.clone(),
        alerts: store.clone(),
        requests: store.clone(),
        deliveries: store.clone(),
        outbox: store.clone(),
        sync: store,
        queue,
        clock: Arc::new(SystemClock),
        tokens: Some(tokens),
    }
}

#[tracing::instrument(skip_all, fields(stage = "dashboard-api", shop = tracing::field::Empty))]
pub async fn handle(deps: &Deps, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    Ok(h::respond(route(deps, req).await))
}

async fn route(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    let path = h::path(&req);
    if path != OPENAPI_ROUTE {
        install_on_first_request(deps, &req).await?;
    }
    match (req.method(), path.as_str()) {
        (&Method::GET, OPENAPI_ROUTE) => {
            let mut response = Response::new(Body::from(OPENAPI));
            response.headers_mut().insert(
                lambda_http::http::header::CONTENT_TYPE,
                lambda_http::http::HeaderValue::from_static("application/json"),
            );
            Ok(response)
        }
        (&Method::GET, ORDERS_ROUTE) => list::list_orders(deps, &req).await,
        (&Method::GET, ALERTS_ROUTE) => alerts::poll(deps, &req).await,
        (&Method::POST, ASSIGN_ROUTE) => Ok(actions::assign(deps, &req).await.unwrap_or_else(actions::failure)),
        (&Method::POST, FULFILL_ROUTE) => Ok(actions::fulfill(deps, &req).await.unwrap_or_else(actions::failure)),
        (&Method::POST, SUPPORT_ROUTE) => Ok(actions::support(deps, &req).await.unwrap_or_else(actions::failure)),
        (&Method::POST, RETURNS_ROUTE) => Ok(actions::returns(deps, &req).await.unwrap_or_else(actions::failure)),
        (_, ORDERS_ROUTE | ALERTS_ROUTE | ASSIGN_ROUTE | FULFILL_ROUTE | SUPPORT_ROUTE | RETURNS_ROUTE) => {
            Err(ApiError::method_not_allowed())
        }
        (&Method::GET, other) if other.starts_with(ORDER_ROUTE_PREFIX) => {
            list::order_detail(deps, &req, &other[ORDER_ROUTE_PREFIX.len()..]).await
        }
        _ => Err(ApiError::not_found("NOT_FOUND", "no such route")),
    }
}

/// Verifies the session token and that `shop_domain` names its shop.
///
/// GET routes take `shop_domain` optionally (the session token names the shop; seed 000's list lists
/// no `shop_domain`), actions require it in their body.
fn authorize(deps: &Deps, req: &Request, shop_domain: Option<&str>) -> Result<ShopDomain, ApiError> {
    let param = if req.method() == Method::GET { ShopParam::Optional } else { ShopParam::Required };
    let (authorization, now) = (h::header(req, "authorization"), deps.clock.now());
    let shop = auth::authorize(authorization, shop_domain, param, &deps.shopify, now)?.shop;
    tracing::Span::current().record("shop", shop.as_str());
    Ok(shop)
}

/// A verified session token of a shop without a usable Shopify token installs the shop (token
/// exchange). Shopify refusing the session token is a 401; Shopify being unreachable is only logged,
/// since the dashboard itself is served from DynamoDB.
async fn install_on_first_request(deps: &Deps, req: &Request) -> Result<(), ApiError> {
    let Some(tokens) = &deps.tokens else { return Ok(()) };
    let Some(token) = h::header(req, "authorization").and_then(|v| v.strip_prefix("Bearer ")).map(str::trim) else {
        return Ok(());
    };
    // An invalid token is answered by the route's own check.
    let Ok(session) = shared::integrations::shopify::session::verify(token, &deps.shopify, deps.clock.now()) else {
        return Ok(());
    };
    match tokens.ensure_installed(&session.shop, token).await {
        Ok(_) => Ok(()),
        Err(InstallError::HostRefused(_)) => {
            Err(ApiError::forbidden("SHOP_NOT_ALLOWED", "only *.myshopify.com shops are served"))
        }
        Err(InstallError::Refused { status, .. }) => Err(ApiError::unauthorized(
            "TOKEN_INVALID",
            format!("Shopify refused this session token (HTTP {status}); open the app again to reconnect"),
        )),
        Err(InstallError::Unavailable(e)) => {
            tracing::warn!(shop = %session.shop, error = format!("{e:#}"), "install could not complete; serving anyway");
            Ok(())
        }
        Err(InstallError::Store(e)) => Err(e.into()),
    }
}
