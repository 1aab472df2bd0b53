//! Trigger: the assistant API (seed 001), served from DynamoDB only (no Shopify call on the request
//! path but the one-time token exchange of a shop's first session-token request).
//!
//! - `GET /api/orders`: orders with their line items and fulfilments; filters `name` (with or without
//!   `#`), `email`, `status`, `created_from`/`created_to`.
//! - `GET /api/fulfillments`: the fulfilments of those orders, with their tracking.
//! - `GET /api/products`: products with up to 250 variants each.
//! - `GET /api/product/{productId}/variants`: every variant of one product, a stored page at a time.
//! - `POST /api/assistant/keys`, `GET /api/assistant/keys`, `DELETE /api/assistant/keys/{id}`: per-shop
//!   API keys for a server-side assistant (session token only; a key is shown once, stored hashed).
//!
//! Every list takes `cursor` and answers `hasNextPage` and `cursor` (`null` on the last page); a page
//! is one DynamoDB request at any depth. Callers authenticate with the Shopify session token
//! (`Authorization: Bearer <jwt>`) or an API key (`X-Api-Key`, or `Authorization: Bearer osk_…`). A
//! shop whose Shopify token is invalid or revoked answers `401 TOKEN_INVALID`.

mod views;

use std::{collections::HashMap, sync::Arc};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, NaiveDate, Utc};
use lambda_http::{
    Body, Request, Response,
    http::{Method, StatusCode},
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shared::{
    app::install::{self, InstallConfig, InstallError, Tokens, usable},
    clock::{Clock, SystemClock},
    config::{ConfigError, Env, TableConfig},
    domain::{Integration, ShopDomain},
    error::ApiError,
    http as h,
    integrations::shopify::session,
    queue::{MessageQueue, Stage, schema, sqs::SqsQueue},
    store::{ApiKey, ApiKeyStore, AssistantStore, OrderFilter, OrderStore, Page, TokenStore, dynamo::DynamoStore},
};

pub const ORDERS_ROUTE: &str = "/api/orders";
pub const FULFILLMENTS_ROUTE: &str = "/api/fulfillments";
pub const PRODUCTS_ROUTE: &str = "/api/products";
pub const VARIANTS_ROUTE: &str = "/api/product/{productId}/variants";
pub const KEYS_ROUTE: &str = "/api/assistant/keys";
pub const KEY_ROUTE: &str = "/api/assistant/keys/{id}";

const PRODUCT_PREFIX: &str = "/api/product/";
const VARIANTS_SUFFIX: &str = "/variants";
/// API keys start with this, so a key is told from a session token (a JWT) at a glance.
pub const API_KEY_PREFIX: &str = "osk_";
pub const DEFAULT_ORDER_LIMIT: usize = 25;
pub const MAX_ORDER_LIMIT: usize = 100;
pub const DEFAULT_PRODUCT_LIMIT: usize = 10;
pub const MAX_PRODUCT_LIMIT: usize = 50;
const MAX_KEYS_PER_SHOP: usize = 20;
const MAX_POSITION_LEN: usize = 256;
const MAX_NAME_LEN: usize = 100;
const MAX_EMAIL_LEN: usize = 254;

#[derive(Debug, Clone)]
pub struct Config {
    pub table: TableConfig,
    pub install: InstallConfig,
    /// The Shopify poll and outbound queues: an install queues its first poll jobs, and a reconnect
    /// resumes parked ones.
    pub queues: HashMap<Stage, String>,
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
            install: InstallConfig::read(&mut env),
            queues: schema::read_urls(
                &mut env,
                &[Stage::Poll(Integration::Shopify), Stage::Outbound(Integration::Shopify)],
            ),
        };
        env.finish().map(|()| config)
    }
}

pub struct Deps {
    pub orders: Arc<dyn OrderStore>,
    pub assistant: Arc<dyn AssistantStore>,
    pub keys: Arc<dyn ApiKeyStore>,
    pub shops: Arc<dyn TokenStore>,
    pub tokens: Tokens,
    pub clock: Arc<dyn Clock>,
}

pub async fn connect(config: Config) -> Deps {
    let sdk = shared::aws::sdk_config().await;
    let store = Arc::new(DynamoStore::new(shared::aws::dynamodb(&sdk), config.table.table_name));
    let queue: Arc<dyn MessageQueue> = Arc::new(SqsQueue::new(shared::aws::sqs(&sdk), config.queues));
    let (tokens, scopes) = (config.install.tokens, config.install.required_scopes);
    Deps {
        orders: store.clone(),
        assistant: store.clone(),
        keys: store.clone(),
        shops: store.clone(),
        tokens: shared::aws::tokens(&sdk, tokens, scopes, store, queue),
        clock: Arc::new(SystemClock),
    }
}

#[tracing::instrument(skip_all, fields(stage = "assistant-api", shop = tracing::field::Empty))]
pub async fn handle(deps: &Deps, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    Ok(h::respond(route(deps, req).await))
}

async fn route(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    let path = h::path(&req);
    let method = req.method().clone();
    match (&method, path.as_str()) {
        (&Method::GET, ORDERS_ROUTE) => orders(deps, &req).await,
        (&Method::GET, FULFILLMENTS_ROUTE) => fulfillments(deps, &req).await,
        (&Method::GET, PRODUCTS_ROUTE) => products(deps, &req).await,
        (&Method::POST, KEYS_ROUTE) => create_key(deps, &req).await,
        (&Method::GET, KEYS_ROUTE) => list_keys(deps, &req).await,
        (_, ORDERS_ROUTE | FULFILLMENTS_ROUTE | PRODUCTS_ROUTE | KEYS_ROUTE) => Err(ApiError::method_not_allowed()),
        (_, other) if other.starts_with(PRODUCT_PREFIX) && other.ends_with(VARIANTS_SUFFIX) => {
            if method != Method::GET {
                return Err(ApiError::method_not_allowed());
            }
            let raw = &other[PRODUCT_PREFIX.len()..other.len() - VARIANTS_SUFFIX.len()];
            variants(deps, &req, raw).await
        }
        (_, other) if other.starts_with("/api/assistant/keys/") => {
            if method != Method::DELETE {
                return Err(ApiError::method_not_allowed());
            }
            revoke_key(deps, &req, &other["/api/assistant/keys/".len()..]).await
        }
        _ => Err(ApiError::not_found("NOT_FOUND", "no such route")),
    }
}

// ------------------------------------------------------------------------------------------ auth

fn bearer(req: &Request) -> Option<&str> {
    h::header(req, "authorization")
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
}

fn api_key(req: &Request) -> Option<&str> {
    h::header(req, "x-api-key").or_else(|| bearer(req).filter(|t| t.starts_with(API_KEY_PREFIX)))
}

fn digest(key: &str) -> String {
    Sha256::digest(key.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn token_invalid() -> ApiError {
    ApiError::unauthorized(
        "TOKEN_INVALID",
        "the shop's Shopify access is invalid or revoked: open the app in Shopify to reconnect",
    )
}

/// The shop of a verified session token, installed (token exchange) if it has no usable token yet.
async fn session_shop(deps: &Deps, req: &Request) -> Result<ShopDomain, ApiError> {
    let token = bearer(req)
        .filter(|t| !t.starts_with(API_KEY_PREFIX))
        .ok_or_else(|| ApiError::unauthorized("TOKEN_MISSING", "a Shopify session token or an API key is required"))?;
    let app = &deps.tokens.oauth.config().app;
    let session = session::verify(token, app, deps.clock.now())
        .map_err(|e| ApiError::unauthorized("TOKEN_INVALID", e.to_string()))?;
    if let Some(requested) = h::query_param(req, "shop_domain") {
        let requested = ShopDomain::parse(&requested)
            .map_err(|_| ApiError::bad_request("INVALID_SHOP_DOMAIN", "shop_domain is not a shop domain"))?;
        if requested != session.shop {
            return Err(ApiError::forbidden("SHOP_MISMATCH", "the session token belongs to another shop"));
        }
    }
    tracing::Span::current().record("shop", session.shop.as_str());
    match deps.tokens.ensure_installed(&session.shop, token).await {
        Ok(_) => Ok(session.shop),
        Err(InstallError::HostRefused(_)) => {
            Err(ApiError::forbidden("SHOP_NOT_ALLOWED", "only *.myshopify.com shops are served"))
        }
        Err(InstallError::Refused { status, .. }) => {
            tracing::warn!(shop = %session.shop, status, "Shopify refused the session token exchange");
            Err(ApiError::unauthorized(
                "TOKEN_INVALID",
                format!("Shopify refused this session token (HTTP {status}); open the app again to reconnect"),
            ))
        }
        Err(InstallError::Unavailable(e)) => {
            tracing::warn!(shop = %session.shop, error = format!("{e:#}"), "install could not complete");
            Err(ApiError::Client {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: "SHOPIFY_UNAVAILABLE",
                message: "Shopify could not be reached to connect the shop; retry shortly".into(),
            })
        }
        Err(InstallError::Store(e)) => Err(e.into()),
    }
}

/// The shop the caller may read, with a usable Shopify token: a session token's shop is installed (or
/// reconnected) first; an API key's shop must still have one.
async fn reader(deps: &Deps, req: &Request) -> Result<ShopDomain, ApiError> {
    let Some(key) = api_key(req) else { return session_shop(deps, req).await };
    let found = deps
        .keys
        .api_key_by_digest(&digest(key))
        .await?
        .ok_or_else(|| ApiError::unauthorized("API_KEY_INVALID", "unknown or revoked API key"))?;
    tracing::Span::current().record("shop", found.shop.as_str());
    match deps.shops.shop_versioned(&found.shop).await? {
        Some((record, _)) if usable(&record) => Ok(found.shop),
        _ => Err(token_invalid()),
    }
}

// ------------------------------------------------------------------------------------------ paging

#[derive(Serialize, Deserialize)]
struct Cursor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    after: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    page: Option<usize>,
}

fn encode_cursor(cursor: &Cursor) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(cursor).unwrap_or_default())
}

fn decode_cursor(req: &Request) -> Result<Option<Cursor>, ApiError> {
    let Some(raw) = h::query_param(req, "cursor").filter(|c| !c.is_empty()) else { return Ok(None) };
    URL_SAFE_NO_PAD
        .decode(raw.trim())
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Cursor>(&bytes).ok())
        // Positions are short keys; anything longer was not issued here (and would not be a valid key).
        .filter(|c| c.after.as_ref().is_none_or(|a| !a.is_empty() && a.len() <= MAX_POSITION_LEN))
        .map(Some)
        .ok_or_else(|| ApiError::bad_request("INVALID_CURSOR", "cursor is not one this API issued"))
}

fn after(req: &Request) -> Result<Option<String>, ApiError> {
    Ok(decode_cursor(req)?.and_then(|c| c.after))
}

fn next_cursor<T>(page: &Page<T>) -> Option<String> {
    page.next.as_ref().map(|after| encode_cursor(&Cursor { after: Some(after.clone()), page: None }))
}

fn limit(req: &Request, default: usize, max: usize) -> Result<usize, ApiError> {
    match h::query_param(req, "limit") {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| ApiError::bad_request("INVALID_LIMIT", format!("limit must be 1 to {max}"))),
    }
}

/// An ISO 8601 date-time, or a date (the start of the day for `from`, its end for `to`).
fn date_param(req: &Request, name: &str, end_of_day: bool) -> Result<Option<DateTime<Utc>>, ApiError> {
    let Some(raw) = h::query_param(req, name).map(|r| r.trim().to_owned()).filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    if let Ok(at) = DateTime::parse_from_rfc3339(&raw) {
        return Ok(Some(at.to_utc()));
    }
    let date = NaiveDate::parse_from_str(&raw, "%Y-%m-%d")
        .map_err(|_| ApiError::bad_request("INVALID_DATE", format!("{name} must be an ISO 8601 date or date-time")))?;
    let time = if end_of_day { date.and_hms_milli_opt(23, 59, 59, 999) } else { date.and_hms_opt(0, 0, 0) };
    Ok(time.map(|t| t.and_utc()))
}

/// The seed's order status vocabulary (Shopify's GraphQL spellings) → the list's status label.
const STATUSES: &[&str] = &["UNFULFILLED", "PARTIALLY_FULFILLED", "FULFILLED", "RESTOCKED", "CANCELLED"];

fn order_filter(req: &Request) -> Result<OrderFilter, ApiError> {
    let status = match h::query_param(req, "status").map(|s| s.trim().to_ascii_uppercase()).filter(|s| !s.is_empty()) {
        None => None,
        Some(status) if STATUSES.contains(&status.as_str()) => Some(status.to_ascii_lowercase()),
        Some(_) => {
            return Err(ApiError::bad_request(
                "INVALID_STATUS",
                format!("status must be one of {}", STATUSES.join(", ")),
            ));
        }
    };
    let filter = OrderFilter {
        created_from: date_param(req, "created_from", false)?,
        created_to: date_param(req, "created_to", true)?,
        status,
        email: h::query_param(req, "email").map(|e| e.trim().to_owned()).filter(|e| !e.is_empty()),
    };
    if filter.email.as_ref().is_some_and(|e| e.chars().count() > MAX_EMAIL_LEN) {
        return Err(ApiError::bad_request("INVALID_EMAIL", format!("email is longer than {MAX_EMAIL_LEN} characters")));
    }
    if let (Some(from), Some(to)) = (filter.created_from, filter.created_to)
        && from > to
    {
        return Err(ApiError::bad_request("INVALID_DATE", "created_from is after created_to"));
    }
    Ok(filter)
}

/// A page of orders: one GSI2 lookup for `name`, else one list query.
async fn order_page(deps: &Deps, req: &Request, shop: &ShopDomain) -> Result<Page<shared::domain::Order>, ApiError> {
    let filter = order_filter(req)?;
    let limit = limit(req, DEFAULT_ORDER_LIMIT, MAX_ORDER_LIMIT)?;
    if let Some(name) = h::query_param(req, "name").map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()) {
        if name.chars().count() > MAX_NAME_LEN {
            return Err(ApiError::bad_request(
                "INVALID_NAME",
                format!("name is longer than {MAX_NAME_LEN} characters"),
            ));
        }
        let found = deps.orders.find_by_name(shop, &name).await?.filter(|o| filter.matches(o));
        return Ok(Page { items: found.into_iter().collect(), next: None });
    }
    Ok(deps.assistant.orders_page(shop, &filter, after(req)?.as_deref(), limit).await?)
}

// ------------------------------------------------------------------------------------------ routes

async fn orders(deps: &Deps, req: &Request) -> Result<Response<Body>, ApiError> {
    let shop = reader(deps, req).await?;
    let page = order_page(deps, req, &shop).await?;
    let body = views::OrderList {
        orders: page.items.iter().map(views::order).collect(),
        has_next_page: page.next.is_some(),
        cursor: next_cursor(&page),
    };
    Ok(h::json(StatusCode::OK, &body))
}

async fn fulfillments(deps: &Deps, req: &Request) -> Result<Response<Body>, ApiError> {
    let shop = reader(deps, req).await?;
    let page = order_page(deps, req, &shop).await?;
    let body = views::FulfillmentList {
        fulfillments: page.items.iter().flat_map(views::order_fulfillments).collect(),
        has_next_page: page.next.is_some(),
        cursor: next_cursor(&page),
    };
    Ok(h::json(StatusCode::OK, &body))
}

async fn products(deps: &Deps, req: &Request) -> Result<Response<Body>, ApiError> {
    let shop = reader(deps, req).await?;
    let limit = limit(req, DEFAULT_PRODUCT_LIMIT, MAX_PRODUCT_LIMIT)?;
    let page = deps.assistant.products_page(&shop, after(req)?.as_deref(), limit).await?;
    let body = views::ProductList {
        products: page.items.iter().map(views::product).collect(),
        has_next_page: page.next.is_some(),
        cursor: next_cursor(&page),
    };
    Ok(h::json(StatusCode::OK, &body))
}

/// A product GID (`gid://shopify/Product/123`, percent-encoded in the path) or its numeric id.
fn product_id(raw: &str) -> Result<String, ApiError> {
    let decoded: String = url::form_urlencoded::parse(format!("x={}", raw.replace('+', "%2B")).as_bytes())
        .map(|(_, v)| v.into_owned())
        .next()
        .unwrap_or_default();
    let id = decoded.strip_prefix("gid://shopify/Product/").unwrap_or(&decoded);
    if id.is_empty() || id.len() > 32 || !id.chars().all(|c| c.is_ascii_digit()) {
        return Err(ApiError::bad_request(
            "INVALID_PRODUCT_ID",
            "productId must be a product GID (gid://shopify/Product/…)",
        ));
    }
    Ok(id.to_owned())
}

async fn variants(deps: &Deps, req: &Request, raw: &str) -> Result<Response<Body>, ApiError> {
    let id = product_id(raw)?;
    let shop = reader(deps, req).await?;
    let page = decode_cursor(req)?.and_then(|c| c.page).unwrap_or(0);
    let found = deps
        .assistant
        .variants_page(&shop, &id, page)
        .await?
        .ok_or_else(|| ApiError::not_found("PRODUCT_NOT_FOUND", "no such product"))?;
    let body = views::VariantList {
        product_id: views::gid("Product", &id),
        product_title: found.product_title,
        variants: found.variants.iter().map(views::variant).collect(),
        has_next_page: found.next_page.is_some(),
        cursor: found.next_page.map(|page| encode_cursor(&Cursor { after: None, page: Some(page) })),
    };
    Ok(h::json(StatusCode::OK, &body))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKey {
    #[serde(default)]
    label: Option<String>,
}

/// Key management needs the merchant's session (an API key cannot mint or revoke keys).
async fn key_owner(deps: &Deps, req: &Request) -> Result<ShopDomain, ApiError> {
    if h::header(req, "x-api-key").is_some() || bearer(req).is_some_and(|t| t.starts_with(API_KEY_PREFIX)) {
        return Err(ApiError::forbidden("SESSION_REQUIRED", "API keys are managed with a Shopify session token"));
    }
    session_shop(deps, req).await
}

async fn create_key(deps: &Deps, req: &Request) -> Result<Response<Body>, ApiError> {
    let shop = key_owner(deps, req).await?;
    let body = h::body_bytes(req);
    let new: NewKey = if body.iter().all(u8::is_ascii_whitespace) {
        NewKey::default()
    } else {
        serde_json::from_slice(body)
            .map_err(|_| ApiError::bad_request("INVALID_BODY", "expected {\"label\"?: string}"))?
    };
    let label = new.label.map(|l| l.trim().to_owned()).filter(|l| !l.is_empty());
    if label.as_ref().is_some_and(|l| l.chars().count() > 100) {
        return Err(ApiError::bad_request("INVALID_BODY", "label is longer than 100 characters"));
    }
    if deps.keys.api_keys(&shop).await?.len() >= MAX_KEYS_PER_SHOP {
        return Err(ApiError::Client {
            status: StatusCode::CONFLICT,
            code: "TOO_MANY_KEYS",
            message: format!("a shop holds at most {MAX_KEYS_PER_SHOP} keys; revoke one first"),
        });
    }
    let key = format!("{API_KEY_PREFIX}{}", install::random_hex(32).map_err(ApiError::Internal)?);
    let stored = ApiKey {
        shop: shop.clone(),
        id: format!("key_{}", install::random_hex(8).map_err(ApiError::Internal)?),
        digest: digest(&key),
        prefix: key.chars().take(12).collect(),
        label,
        created_at: deps.clock.now(),
    };
    deps.keys.create_api_key(&stored).await?;
    tracing::info!(shop = %shop, key_id = %stored.id, "assistant API key created");
    Ok(h::json(StatusCode::CREATED, &views::NewApiKey { key: views::api_key(&stored), secret: key }))
}

async fn list_keys(deps: &Deps, req: &Request) -> Result<Response<Body>, ApiError> {
    let shop = key_owner(deps, req).await?;
    let keys = deps.keys.api_keys(&shop).await?;
    Ok(h::json(StatusCode::OK, &views::ApiKeyList { keys: keys.iter().map(views::api_key).collect() }))
}

async fn revoke_key(deps: &Deps, req: &Request, id: &str) -> Result<Response<Body>, ApiError> {
    let shop = key_owner(deps, req).await?;
    if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(ApiError::not_found("KEY_NOT_FOUND", "no such key"));
    }
    if !deps.keys.revoke_api_key(&shop, id).await? {
        return Err(ApiError::not_found("KEY_NOT_FOUND", "no such key"));
    }
    tracing::info!(shop = %shop, key_id = id, "assistant API key revoked");
    Ok(h::json(StatusCode::OK, &serde_json::json!({ "id": id, "revoked": true })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_ids_are_gids_or_digits() {
        assert_eq!(product_id("gid%3A%2F%2Fshopify%2FProduct%2F123").unwrap(), "123");
        assert_eq!(product_id("gid://shopify/Product/123").unwrap(), "123");
        assert_eq!(product_id("123").unwrap(), "123");
        assert!(product_id("gid://shopify/Order/1").is_err());
        assert!(product_id("").is_err());
    }

    #[test]
    fn cursors_round_trip_and_foreign_ones_are_refused() {
        let encoded = encode_cursor(&Cursor { after: Some("001#shopify:1".into()), page: None });
        let decoded: Cursor = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&encoded).unwrap()).unwrap();
        assert_eq!(decoded.after.as_deref(), Some("001#shopify:1"));
        assert!(URL_SAFE_NO_PAD.decode("!!").is_err());
    }

    #[test]
    fn keys_are_hashed_hex() {
        assert_eq!(digest("osk_x").len(), 64);
        assert_ne!(digest("osk_x"), digest("osk_y"));
    }
}
