//! Trigger: `POST /webhooks/shopify`. Verifies the HMAC over the raw body, then hands the delivery to
//! `shared::app::ingest::accept` (a receipt by `X-Shopify-Webhook-Id`, then the ingest queue) and
//! answers 200 at once. Shopify allows 5 s in total; the heavy work happens behind the queue.

use std::{collections::HashMap, sync::Arc};

use lambda_http::{Body, Request, Response, http::Method};
use serde_json::json;
use shared::{
    app::ingest::{self, Accepted},
    clock::{Clock, SystemClock},
    config::{ConfigError, Env, ShopifyAppConfig, TableConfig},
    domain::Integration,
    error::ApiError,
    http::{self as h, header},
    integrations::shopify::webhook::{self, DeliveryHeaders, HMAC_HEADER, HeaderError},
    queue::{
        ClaimStore, Inbound, MessageQueue, Stage,
        claims::{self, S3Claims},
        schema,
        sqs::SqsQueue,
    },
    store::{ReceiptStore, dynamo::DynamoStore},
};

pub const ROUTE: &str = "/webhooks/shopify";

#[derive(Debug, Clone)]
pub struct Config {
    pub table: TableConfig,
    pub shopify: ShopifyAppConfig,
    pub queues: HashMap<Stage, String>,
    /// The claim-check bucket for bodies larger than the queue accepts.
    pub payload_bucket: String,
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
            queues: schema::read_urls(&mut env, &[Stage::Ingest]),
            payload_bucket: env.required(claims::BUCKET_ENV),
        };
        env.finish().map(|()| config)
    }
}

pub struct Deps {
    pub shopify: ShopifyAppConfig,
    pub receipts: Arc<dyn ReceiptStore>,
    pub queue: Arc<dyn MessageQueue>,
    pub claims: Arc<dyn ClaimStore>,
    pub clock: Arc<dyn Clock>,
}

pub async fn connect(config: Config) -> Deps {
    let sdk = shared::aws::sdk_config().await;
    Deps {
        shopify: config.shopify,
        receipts: Arc::new(DynamoStore::new(shared::aws::dynamodb(&sdk), config.table.table_name)),
        queue: Arc::new(SqsQueue::new(shared::aws::sqs(&sdk), config.queues)),
        claims: Arc::new(S3Claims::new(shared::aws::s3(&sdk), config.payload_bucket)),
        clock: Arc::new(SystemClock),
    }
}

#[tracing::instrument(skip_all, fields(stage = "shopify-webhook", shop = tracing::field::Empty, topic = tracing::field::Empty, webhook_id = tracing::field::Empty))]
pub async fn handle(deps: &Deps, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    Ok(h::respond(process(deps, req).await))
}

async fn process(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    if h::path(&req) != ROUTE {
        return Err(ApiError::not_found("NOT_FOUND", "no such route"));
    }
    if req.method() != Method::POST {
        return Err(ApiError::method_not_allowed());
    }
    // Authenticate before reading anything else, so unsigned callers learn nothing.
    let signature = header(&req, HMAC_HEADER)
        .ok_or_else(|| ApiError::unauthorized("HMAC_MISSING", "X-Shopify-Hmac-Sha256 header is required"))?;
    let body = h::body_bytes(&req);
    if !webhook::verify_hmac(body, signature, deps.shopify.secrets()) {
        tracing::warn!("webhook HMAC verification failed");
        return Err(ApiError::unauthorized("HMAC_INVALID", "HMAC verification failed"));
    }
    let headers = DeliveryHeaders::parse(|name| header(&req, name)).map_err(|e| match e {
        HeaderError::Missing(_) => ApiError::bad_request("MISSING_HEADERS", e.to_string()),
        HeaderError::Invalid(_) => ApiError::bad_request("INVALID_HEADER", e.to_string()),
    })?;
    let span = tracing::Span::current();
    span.record("shop", headers.shop.as_str());
    span.record("topic", headers.topic.as_str());
    span.record("webhook_id", headers.webhook_id.as_str());
    let payload: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| ApiError::bad_request("INVALID_JSON", "webhook body is not JSON"))?;
    if !webhook::body_names_shop(&headers.topic, &payload, &headers.shop) {
        // A signed body replayed under another shop's header: nothing is recorded or queued.
        tracing::warn!("the body names another shop than X-Shopify-Shop-Domain");
        return Err(ApiError::unauthorized("SHOP_MISMATCH", "the webhook body names another shop than its header"));
    }

    let event = Inbound {
        source: Integration::Shopify,
        shop: headers.shop,
        topic: headers.topic,
        delivery_id: headers.webhook_id,
        event_id: headers.event_id,
        occurred_at: headers
            .triggered_at
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.to_utc())
            // Without Shopify's trigger time, the receipt time: it travels with the event, so what the
            // worker derives from it (timeline ids) is the same on every processing.
            .or_else(|| Some(deps.clock.now())),
        payload,
        payload_ref: None,
    };
    // A failed send answers 500: Shopify retries, and the receipt, still pending, lets the retry through.
    if ingest::accept(deps.receipts.as_ref(), deps.queue.as_ref(), deps.claims.as_ref(), event, deps.clock.now())
        .await?
        == Accepted::Duplicate
    {
        tracing::info!("duplicate delivery acknowledged");
        return Ok(h::json(lambda_http::http::StatusCode::OK, &json!({ "status": "duplicate" })));
    }
    tracing::info!("webhook accepted");
    Ok(h::json(lambda_http::http::StatusCode::OK, &json!({ "status": "accepted" })))
}
