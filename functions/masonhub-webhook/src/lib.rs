//! Trigger: `POST /webhooks/masonhub`, one URL for every shop. The callback token registered for the
//! shop (a bearer header or a `token` query parameter; registration puts it in the URL's query and in
//! the callback's `token` field) authenticates the call and names the shop: 401 and nothing stored
//! otherwise. Each envelope (MasonHub posts one object or an array) goes to
//! `shared::app::ingest::accept` (a receipt by source and `message_id`, then the ingest queue) and the
//! call is answered at once. Unknown message types are acknowledged and dropped.

use std::{collections::HashMap, sync::Arc};

use lambda_http::{
    Body, Request, Response,
    http::{Method, StatusCode},
};
use serde_json::{Value, json};
use shared::{
    app::{
        connections::masonhub as connection,
        ingest::{self, Accepted},
    },
    clock::{Clock, SystemClock},
    config::{ConfigError, Env, TableConfig},
    domain::Integration,
    error::ApiError,
    http::{self as h, header},
    integrations::masonhub::model::{CALLBACK_TYPES, Callback},
    queue::{
        ClaimStore, Inbound, MessageQueue, Stage,
        claims::{self, S3Claims},
        schema,
        sqs::SqsQueue,
    },
    store::{ConnectionStore, ReceiptStore, dynamo::DynamoStore},
};

pub const ROUTE: &str = "/webhooks/masonhub";

#[derive(Debug, Clone)]
pub struct Config {
    pub table: TableConfig,
    pub queues: HashMap<Stage, String>,
    /// The claim-check bucket bodies too large for the queue wait in.
    pub payload_bucket: String,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::read(Env::from_process())
    }

    pub fn read(mut env: Env) -> Result<Self, ConfigError> {
        let config = Self {
            table: TableConfig::read(&mut env),
            queues: schema::read_urls(&mut env, &[Stage::Ingest]),
            payload_bucket: env.required(claims::BUCKET_ENV),
        };
        env.finish().map(|()| config)
    }
}

pub struct Deps {
    pub connections: Arc<dyn ConnectionStore>,
    pub receipts: Arc<dyn ReceiptStore>,
    pub queue: Arc<dyn MessageQueue>,
    pub claims: Arc<dyn ClaimStore>,
    pub clock: Arc<dyn Clock>,
}

pub async fn connect(config: Config) -> Deps {
    let sdk = shared::aws::sdk_config().await;
    let store = Arc::new(DynamoStore::new(shared::aws::dynamodb(&sdk), config.table.table_name));
    Deps {
        connections: store.clone(),
        receipts: store,
        queue: Arc::new(SqsQueue::new(shared::aws::sqs(&sdk), config.queues)),
        claims: Arc::new(S3Claims::new(shared::aws::s3(&sdk), config.payload_bucket)),
        clock: Arc::new(SystemClock),
    }
}

#[tracing::instrument(skip_all, fields(stage = "masonhub-webhook", shop = tracing::field::Empty))]
pub async fn handle(deps: &Deps, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    Ok(h::respond(process(deps, req).await))
}

fn token(req: &Request) -> Option<String> {
    let bearer = header(req, "authorization")
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(|t| t.trim().to_owned());
    bearer.or_else(|| h::query_param(req, "token")).filter(|t| !t.is_empty() && t.len() <= 512)
}

async fn process(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    if h::path(&req) != ROUTE {
        return Err(ApiError::not_found("NOT_FOUND", "no such route"));
    }
    if req.method() != Method::POST {
        return Err(ApiError::method_not_allowed());
    }
    // Authenticate before reading the body, so unauthenticated callers learn nothing.
    let unauthorized = || ApiError::unauthorized("TOKEN_INVALID", "a valid callback token is required");
    let token = token(&req).ok_or_else(unauthorized)?;
    let Some(shop) = connection::authenticate(deps.connections.as_ref(), &token, deps.clock.now()).await? else {
        tracing::warn!("MasonHub callback token refused");
        return Err(unauthorized());
    };
    tracing::Span::current().record("shop", shop.as_str());
    let body: Value = serde_json::from_slice(h::body_bytes(&req))
        .map_err(|_| ApiError::bad_request("INVALID_JSON", "callback body is not JSON"))?;
    let envelopes = match body {
        Value::Array(items) => items,
        single => vec![single],
    };
    let mut callbacks = Vec::with_capacity(envelopes.len());
    for envelope in envelopes {
        let callback: Callback = serde_json::from_value(envelope.clone()).map_err(|_| {
            ApiError::bad_request("INVALID_CALLBACK", "a callback needs message_type, message_id and data")
        })?;
        callbacks.push((callback, envelope));
    }
    let mut accepted = 0;
    for (callback, envelope) in callbacks {
        if !CALLBACK_TYPES.contains(&callback.message_type.as_str()) {
            tracing::info!(message_type = %callback.message_type, "callback type not handled; acknowledged and dropped");
            continue;
        }
        let event = Inbound {
            source: Integration::MasonHub,
            shop: shop.clone(),
            topic: callback.message_type.clone(),
            delivery_id: callback.message_id.clone(),
            event_id: Some(callback.message_id.clone()),
            occurred_at: None,
            payload: envelope,
            payload_ref: None,
        };
        // A failed send answers 500: MasonHub's retry finds the receipt pending and gets through.
        if ingest::accept(deps.receipts.as_ref(), deps.queue.as_ref(), deps.claims.as_ref(), event, deps.clock.now())
            .await?
            == Accepted::Queued
        {
            accepted += 1;
        }
    }
    tracing::info!(accepted, "MasonHub callback acknowledged");
    Ok(h::json(StatusCode::OK, &json!({ "status": "accepted" })))
}
