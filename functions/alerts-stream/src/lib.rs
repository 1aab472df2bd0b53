//! Trigger: the alert channel as live Server-Sent Events. API Gateway HTTP APIs buffer responses, so the
//! live stream is served by this function behind a Function URL with `InvokeMode: RESPONSE_STREAM`.
//! Events carry their feed cursor as `id`; a client that reconnects with `Last-Event-ID` (or
//! `?since=`) resumes right after the last event it saw. A stream lasts at most `max_duration`.

use std::{sync::Arc, time::Duration};

use lambda_http::{
    Request, Response,
    http::{HeaderValue, StatusCode, header::CONTENT_TYPE},
};
use shared::{
    app::auth::{self, ShopParam},
    clock::{Clock, SystemClock},
    config::{ConfigError, Env, ShopifyAppConfig, TableConfig},
    error::ApiError,
    http::{self as h, header, query_param},
    sse::{self, SseBody, StreamFor, StreamLease, StreamSettings},
    store::{AlertStore, StreamStore, SyncStore},
};

pub const ROUTE: &str = "/sync/orders/alerts";

#[derive(Debug, Clone)]
pub struct Config {
    pub table: TableConfig,
    pub shopify: ShopifyAppConfig,
    pub stream: StreamSettings,
    /// Live streams one shop may hold open at once (`ALERT_STREAM_MAX_PER_SHOP`).
    pub max_per_shop: usize,
}

/// How long a stream's slot outlives the stream's own end, so a function that dies mid-stream frees it
/// soon after.
const LEASE_MARGIN_SECONDS: i64 = 60;

impl Config {
    /// The process environment, with the Shopify app secret read from Secrets Manager
    /// (`SHOPIFY_APP_SECRET_ID`) once, at cold start.
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::read(shared::aws::function_env().await?)
    }

    pub fn read(mut env: Env) -> Result<Self, ConfigError> {
        let seconds = |env: &mut Env, name: &str, default: u64| {
            Duration::from_secs(env.parsed(name, default, |v| v.parse().ok().filter(|s| *s > 0)))
        };
        let config = Self {
            table: TableConfig::read(&mut env),
            shopify: ShopifyAppConfig::read(&mut env),
            stream: StreamSettings {
                poll_every: seconds(&mut env, "ALERT_STREAM_POLL_SECONDS", 2),
                heartbeat_every: seconds(&mut env, "ALERT_STREAM_HEARTBEAT_SECONDS", 15),
                max_duration: seconds(&mut env, "ALERT_STREAM_MAX_SECONDS", 600),
            },
            max_per_shop: env.parsed("ALERT_STREAM_MAX_PER_SHOP", 10, |v| v.parse().ok().filter(|n| *n > 0)),
        };
        env.finish().map(|()| config)
    }
}

pub struct Deps {
    pub shopify: ShopifyAppConfig,
    pub alerts: Arc<dyn AlertStore>,
    pub sync: Arc<dyn SyncStore>,
    pub streams: Arc<dyn StreamStore>,
    pub clock: Arc<dyn Clock>,
    pub stream: StreamSettings,
    pub max_per_shop: usize,
}

pub async fn connect(config: Config) -> Deps {
    let store = Arc::new(shared::aws::dynamo_store(config.table.table_name).await);
    Deps {
        shopify: config.shopify,
        alerts: store.clone(),
        sync: store.clone(),
        streams: store,
        clock: Arc::new(SystemClock),
        stream: config.stream,
        max_per_shop: config.max_per_shop,
    }
}

#[tracing::instrument(skip_all, fields(stage = "alerts-stream", shop = tracing::field::Empty))]
pub async fn handle(deps: &Deps, req: Request) -> Result<Response<SseBody>, lambda_http::Error> {
    Ok(match open(deps, &req).await {
        Ok(body) => {
            let mut response = Response::new(body);
            response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
            response.headers_mut().insert("cache-control", HeaderValue::from_static("no-cache"));
            response
        }
        Err(error) => {
            // The same `{ error, code }` body as every other route, just through the streaming body type.
            let buffered = h::respond(Err(error));
            let (parts, body) = buffered.into_parts();
            let bytes = match body {
                lambda_http::Body::Text(text) => text.into_bytes(),
                lambda_http::Body::Binary(bytes) => bytes,
                _ => Vec::new(),
            };
            Response::from_parts(parts, SseBody::once(bytes))
        }
    })
}

async fn open(deps: &Deps, req: &Request) -> Result<SseBody, ApiError> {
    if h::path(req) != ROUTE {
        return Err(ApiError::not_found("NOT_FOUND", "no such route"));
    }
    if req.method() != lambda_http::http::Method::GET {
        return Err(ApiError::method_not_allowed());
    }
    let shop_domain = query_param(req, "shop_domain");
    let (authorization, now) = (header(req, "authorization"), deps.clock.now());
    let caller = auth::authorize(authorization, shop_domain.as_deref(), ShopParam::Optional, &deps.shopify, now)?;
    let shop = caller.shop;
    tracing::Span::current().record("shop", shop.as_str());
    let since = header(req, "last-event-id").map(str::to_owned).or_else(|| query_param(req, "since"));
    if since.as_deref().is_some_and(|s| !shared::store::keys::is_alert_cursor(s)) {
        return Err(ApiError::Client {
            status: StatusCode::BAD_REQUEST,
            code: "INVALID_CURSOR",
            message: "Last-Event-ID is not an alert cursor".into(),
        });
    }
    // The stream ends at the token's expiry or its maximum duration, whichever is first; its slot is
    // held a little longer in case the function dies before freeing it.
    let max = chrono::Duration::from_std(deps.stream.max_duration).unwrap_or(chrono::Duration::MAX);
    let ends_at = caller.expires_at.min(now + max);
    let lease_until = ends_at + chrono::Duration::seconds(LEASE_MARGIN_SECONDS);
    let lease = sse::lease_id();
    let Some(slot) = deps.streams.open_stream(&shop, &lease, deps.max_per_shop, now, lease_until).await? else {
        tracing::warn!(cap = deps.max_per_shop, "too many live streams for the shop");
        return Err(ApiError::Client {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: "TOO_MANY_STREAMS",
            message: format!("the shop already has {} live alert streams open", deps.max_per_shop),
        });
    };
    let who = StreamFor {
        shop: shop.clone(),
        expires_at: caller.expires_at,
        clock: deps.clock.clone(),
        lease: Some(StreamLease { store: deps.streams.clone(), shop, slot, id: lease }),
    };
    Ok(sse::alert_stream(deps.alerts.clone(), deps.sync.clone(), who, since, deps.stream))
}
