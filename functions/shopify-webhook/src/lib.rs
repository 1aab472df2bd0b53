//! Trigger: `POST /webhooks/shopify`. Verifies the HMAC over the raw body, records the delivery by
//! `X-Shopify-Webhook-Id` (idempotent), enqueues it for the ingest worker and answers 200 at once.
//! Shopify allows 5 s in total; the heavy work happens behind the queue.

use std::{collections::HashMap, sync::Arc};

use lambda_http::{Body, Request, Response, http::Method};
use serde_json::json;
use shared::{
    clock::{Clock, SystemClock},
    config::{ConfigError, Env, ShopifyAppConfig, TableConfig},
    domain::{StageMessage, message::ShopifyWebhook},
    error::ApiError,
    http::{self as h, header},
    integrations::shopify::webhook::{self, DeliveryHeaders, HMAC_HEADER, HeaderError},
    queue::{MessageQueue, Stage, schema, sqs::SqsQueue},
    store::{ReceiptStore, Recorded, WebhookReceipt, dynamo::DynamoStore},
};

pub const ROUTE: &str = "/webhooks/shopify";

#[derive(Debug, Clone)]
pub struct Config {
    pub table: TableConfig,
    pub shopify: ShopifyAppConfig,
    pub ingest_queue_url: String,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::read(Env::from_process())
    }

    pub fn read(mut env: Env) -> Result<Self, ConfigError> {
        let config = Self {
            table: TableConfig::read(&mut env),
            shopify: ShopifyAppConfig::read(&mut env),
            ingest_queue_url: env.required(schema::def(Stage::Ingest).url_env),
        };
        env.finish().map(|()| config)
    }
}

pub struct Deps {
    pub shopify: ShopifyAppConfig,
    pub receipts: Arc<dyn ReceiptStore>,
    pub queue: Arc<dyn MessageQueue>,
    pub clock: Arc<dyn Clock>,
}

impl Deps {
    pub async fn connect(config: Config) -> Self {
        let sdk = shared::aws::sdk_config().await;
        Self {
            shopify: config.shopify,
            receipts: Arc::new(DynamoStore::new(shared::aws::dynamodb(&sdk), config.table.table_name)),
            queue: Arc::new(SqsQueue::new(
                shared::aws::sqs(&sdk),
                HashMap::from([(Stage::Ingest, config.ingest_queue_url)]),
            )),
            clock: Arc::new(SystemClock),
        }
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

    let receipt = WebhookReceipt {
        shop: headers.shop.clone(),
        webhook_id: headers.webhook_id.clone(),
        event_id: headers.event_id.clone(),
        topic: headers.topic.clone(),
        received_at: deps.clock.now(),
    };
    if deps.receipts.begin_receipt(&receipt).await? == Recorded::Duplicate {
        tracing::info!("duplicate delivery acknowledged");
        return Ok(h::json(lambda_http::http::StatusCode::OK, &json!({ "status": "duplicate" })));
    }
    let message = StageMessage::ShopifyWebhook(ShopifyWebhook {
        shop: headers.shop.clone(),
        topic: headers.topic,
        webhook_id: headers.webhook_id.clone(),
        event_id: headers.event_id,
        triggered_at: headers.triggered_at,
        api_version: headers.api_version,
        payload,
    });
    // A failed send answers 500: Shopify retries, and the receipt, still pending, lets the retry through.
    deps.queue.send(Stage::Ingest, &message, 0).await?;
    if let Err(e) = deps.receipts.complete_receipt(&headers.shop, &headers.webhook_id).await {
        // The message is queued; a redelivery would only enqueue a duplicate the worker ignores.
        tracing::warn!(error = %e, "could not mark the receipt as enqueued");
    }
    tracing::info!("webhook accepted");
    Ok(h::json(lambda_http::http::StatusCode::OK, &json!({ "status": "accepted" })))
}
