//! Trigger: the dashboard's `/sync/*` routes. Every route authenticates the Shopify session token and
//! serves only the shop it was issued for.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use lambda_http::{Body, Request, Response, http::Method};
use serde::Serialize;
use shared::{
    clock::{Clock, SystemClock},
    config::{ConfigError, Env, ShopifyAppConfig, TableConfig},
    domain::{Order, ShopDomain},
    error::ApiError,
    http::{self as h, header, query_param},
    shopify::session::{self, Session},
    store::{OrderStore, dynamo::DynamoStore},
};

pub const ORDERS_ROUTE: &str = "/sync/orders";
pub const DEFAULT_PAGE_SIZE: usize = 50;
pub const MAX_PAGE_SIZE: usize = 250;

#[derive(Debug, Clone)]
pub struct Config {
    pub table: TableConfig,
    pub shopify: ShopifyAppConfig,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::read(Env::from_process())
    }

    pub fn read(mut env: Env) -> Result<Self, ConfigError> {
        let config = Self { table: TableConfig::read(&mut env), shopify: ShopifyAppConfig::read(&mut env) };
        env.finish().map(|()| config)
    }
}

pub struct Deps {
    pub shopify: ShopifyAppConfig,
    pub orders: Arc<dyn OrderStore>,
    pub clock: Arc<dyn Clock>,
}

impl Deps {
    pub async fn connect(config: Config) -> Self {
        let sdk = shared::aws::sdk_config().await;
        Self {
            shopify: config.shopify,
            orders: Arc::new(DynamoStore::new(shared::aws::dynamodb(&sdk), config.table.table_name)),
            clock: Arc::new(SystemClock),
        }
    }
}

#[tracing::instrument(skip_all, fields(stage = "dashboard-api", shop = tracing::field::Empty))]
pub async fn handle(deps: &Deps, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    Ok(h::respond(route(deps, req).await))
}

async fn route(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    match (req.method(), h::path(&req).as_str()) {
        (&Method::GET, ORDERS_ROUTE) => list_orders(deps, &req).await,
        (_, ORDERS_ROUTE) => Err(ApiError::method_not_allowed()),
        _ => Err(ApiError::not_found("NOT_FOUND", "no such route")),
    }
}

/// Verifies the bearer session token and that `shop_domain` names the token's shop.
fn authorize(deps: &Deps, req: &Request, shop_domain: Option<&str>) -> Result<ShopDomain, ApiError> {
    let token = header(req, "authorization")
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .ok_or_else(|| ApiError::unauthorized("TOKEN_MISSING", "a Shopify session token is required"))?;
    let Session { shop, .. } = session::verify(token.trim(), &deps.shopify, deps.clock.now())
        .map_err(|e| ApiError::unauthorized("TOKEN_INVALID", e.to_string()))?;
    let requested =
        shop_domain.ok_or_else(|| ApiError::bad_request("SHOP_DOMAIN_REQUIRED", "shop_domain is required"))?;
    let requested = ShopDomain::parse(requested)
        .map_err(|_| ApiError::bad_request("INVALID_SHOP_DOMAIN", "shop_domain is not a shop domain"))?;
    if requested != shop {
        return Err(ApiError::forbidden("SHOP_MISMATCH", "the session token belongs to another shop"));
    }
    tracing::Span::current().record("shop", shop.as_str());
    Ok(shop)
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct OrderSummary {
    id: String,
    name: String,
    channel: String,
    financial_status: String,
    fulfillment_status: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    cancelled_at: Option<DateTime<Utc>>,
    total: shared::domain::Money,
    customer_name: Option<String>,
    line_item_count: usize,
}

impl From<&Order> for OrderSummary {
    fn from(order: &Order) -> Self {
        Self {
            id: order.public_id(),
            name: order.name.as_str().to_owned(),
            channel: order.channel.to_string(),
            financial_status: order.financial_status.to_string(),
            fulfillment_status: order.fulfillment_status.to_string(),
            created_at: order.created_at,
            updated_at: order.updated_at,
            cancelled_at: order.cancelled_at,
            total: order.total.clone(),
            customer_name: order.customer.as_ref().and_then(|c| c.name.clone()),
            line_item_count: order.line_items.len(),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct OrderList {
    orders: Vec<OrderSummary>,
    next_cursor: Option<String>,
}

async fn list_orders(deps: &Deps, req: &Request) -> Result<Response<Body>, ApiError> {
    let shop = authorize(deps, req, query_param(req, "shop_domain").as_deref())?;
    let page_size = match query_param(req, "pageSize") {
        None => DEFAULT_PAGE_SIZE,
        Some(raw) => raw.parse::<usize>().ok().filter(|n| (1..=MAX_PAGE_SIZE).contains(n)).ok_or_else(|| {
            ApiError::bad_request("INVALID_PAGE_SIZE", format!("pageSize must be 1..={MAX_PAGE_SIZE}"))
        })?,
    };
    let cursor = query_param(req, "cursor");
    if cursor.as_deref().is_some_and(|c| !valid_cursor(c)) {
        return Err(ApiError::bad_request("INVALID_CURSOR", "cursor is malformed"));
    }
    let page = deps.orders.list_orders(&shop, page_size, cursor.as_deref()).await?;
    let body = OrderList { orders: page.orders.iter().map(OrderSummary::from).collect(), next_cursor: page.next };
    Ok(h::json(lambda_http::http::StatusCode::OK, &body))
}

/// A cursor this service issued: `<15 digits>#<channel>:<id>`.
fn valid_cursor(cursor: &str) -> bool {
    cursor.split_once('#').is_some_and(|(millis, key)| {
        millis.len() == 15 && millis.bytes().all(|b| b.is_ascii_digit()) && shared::domain::OrderKey::parse(key).is_ok()
    })
}
