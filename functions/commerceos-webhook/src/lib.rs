//! Trigger: CommerceOS calling us back, and the token endpoint its new-order sync-webhook signs in at:
//!
//! - `POST /webhooks/commerceos/{shop}/order-status` and `…/shipment-completed`: authenticated by the
//!   shop's bearer secret (configured on the sync-webhook at connect; only its SHA-256 is stored,
//!   compared in constant time).
//! - `POST /webhooks/commerceos/{shop}/orders/new`: authenticated by an access token from our
//!   `POST /oauth/token`.
//! - `POST /oauth/token`: the client-credentials grant (form body, or HTTP Basic for the client) for
//!   the shop's CommerceOS client; tokens live 15 minutes.
//!
//! Unauthenticated calls get 401 and nothing is stored. A delivery is acknowledged at once: a receipt
//! keyed by the digest of its topic and body (CommerceOS sends no delivery id; a redelivery is the same
//! body), then the ingest queue, processed by `shared::app::ingest::commerceos`.

use std::{collections::HashMap, sync::Arc};

use base64::{Engine, engine::general_purpose::STANDARD};
use lambda_http::{
    Body, Request, Response,
    http::{Method, StatusCode},
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use shared::{
    app::{
        connections::commerceos as connection,
        ingest::{
            self, Accepted,
            commerceos::{NEW_ORDERS, ORDER_STATUS, SHIPMENT_COMPLETED},
        },
    },
    clock::{Clock, SystemClock},
    config::{ConfigError, Env, TableConfig},
    domain::{Integration, ShopDomain},
    error::ApiError,
    http::{self as h, header},
    queue::{
        ClaimStore, Inbound, MessageQueue, Stage,
        claims::{self, S3Claims},
        schema,
        sqs::SqsQueue,
    },
    store::{ConnectionStore, ReceiptStore, dynamo::DynamoStore},
};

pub const ORDER_STATUS_ROUTE: &str = "/webhooks/commerceos/{shop}/order-status";
pub const SHIPMENT_ROUTE: &str = "/webhooks/commerceos/{shop}/shipment-completed";
pub const NEW_ORDERS_ROUTE: &str = "/webhooks/commerceos/{shop}/orders/new";
pub const TOKEN_ROUTE: &str = "/oauth/token";

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

#[tracing::instrument(skip_all, fields(stage = "commerceos-webhook", shop = tracing::field::Empty))]
pub async fn handle(deps: &Deps, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    Ok(h::respond(process(deps, req).await))
}

/// Which callback a path names: its shop and topic.
fn callback_of(path: &str) -> Option<(&str, &'static str)> {
    let rest = path.strip_prefix("/webhooks/commerceos/")?;
    let (shop, topic) = rest.split_once('/')?;
    let topic = match topic {
        "order-status" => ORDER_STATUS,
        "shipment-completed" => SHIPMENT_COMPLETED,
        "orders/new" => NEW_ORDERS,
        _ => return None,
    };
    Some((shop, topic))
}

fn bearer(req: &Request) -> Option<String> {
    header(req, "authorization")
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty() && t.len() <= 1024)
}

async fn process(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    let path = h::path(&req);
    if path == TOKEN_ROUTE {
        if req.method() != Method::POST {
            return Err(ApiError::method_not_allowed());
        }
        return token(deps, &req).await;
    }
    let Some((shop, topic)) = callback_of(&path) else {
        return Err(ApiError::not_found("NOT_FOUND", "no such route"));
    };
    if req.method() != Method::POST {
        return Err(ApiError::method_not_allowed());
    }
    // Authenticate before reading the body, so unauthenticated callers learn nothing.
    let unauthorized = || ApiError::unauthorized("TOKEN_INVALID", "a valid CommerceOS webhook credential is required");
    let shop = ShopDomain::parse(shop).map_err(|_| unauthorized())?;
    let secret = bearer(&req).ok_or_else(unauthorized)?;
    let store = deps.connections.as_ref();
    let authenticated = if topic == NEW_ORDERS {
        connection::authenticate_access_token(store, &shop, &secret, deps.clock.now()).await?
    } else {
        connection::authenticate_webhook(store, &shop, &secret).await?
    };
    if !authenticated {
        tracing::warn!(topic, "CommerceOS webhook credential refused");
        return Err(unauthorized());
    }
    tracing::Span::current().record("shop", shop.as_str());
    let bytes = h::body_bytes(&req);
    let payload: Value = serde_json::from_slice(bytes)
        .map_err(|_| ApiError::bad_request("INVALID_JSON", "the webhook body is not JSON"))?;
    if !(payload.is_object() || payload.is_array()) {
        return Err(ApiError::bad_request("INVALID_BODY", "the webhook body must be an object or an array"));
    }
    let digest: String =
        Sha256::digest([topic.as_bytes(), b"\n", bytes].concat()).iter().map(|b| format!("{b:02x}")).collect();
    let event = Inbound {
        source: Integration::CommerceOs,
        shop: shop.clone(),
        topic: topic.to_owned(),
        delivery_id: digest.clone(),
        event_id: Some(digest),
        occurred_at: None,
        payload,
        payload_ref: None,
    };
    // A failed send answers 500: the sync-webhook's retry finds the receipt pending and gets through.
    let accepted =
        ingest::accept(deps.receipts.as_ref(), deps.queue.as_ref(), deps.claims.as_ref(), event, deps.clock.now())
            .await?;
    tracing::info!(topic, duplicate = accepted == Accepted::Duplicate, "CommerceOS webhook acknowledged");
    Ok(h::json(StatusCode::OK, &json!({ "status": "accepted" })))
}

/// `POST /oauth/token`: `grant_type=client_credentials` with the client in the form or in HTTP Basic.
async fn token(deps: &Deps, req: &Request) -> Result<Response<Body>, ApiError> {
    let form: HashMap<String, String> = url::form_urlencoded::parse(h::body_bytes(req)).into_owned().collect();
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return Err(ApiError::bad_request("unsupported_grant_type", "grant_type must be client_credentials"));
    }
    let basic = header(req, "authorization")
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|pair| pair.split_once(':').map(|(id, secret)| (id.to_owned(), secret.to_owned())));
    let (client_id, client_secret) = match (basic, form.get("client_id"), form.get("client_secret")) {
        (Some(pair), _, _) => pair,
        (None, Some(id), Some(secret)) => (id.clone(), secret.clone()),
        _ => return Err(ApiError::unauthorized("invalid_client", "client_id and client_secret are required")),
    };
    if client_id.len() > 512 || client_secret.len() > 512 {
        return Err(ApiError::unauthorized("invalid_client", "the client credentials are refused"));
    }
    let now = deps.clock.now();
    let Some((token, expires_in)) =
        connection::issue_token(deps.connections.as_ref(), &client_id, &client_secret, now).await?
    else {
        tracing::warn!("CommerceOS client credentials refused");
        return Err(ApiError::unauthorized("invalid_client", "the client credentials are refused"));
    };
    Ok(h::json(StatusCode::OK, &json!({ "access_token": token, "token_type": "Bearer", "expires_in": expires_in })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_paths_name_their_shop_and_topic() {
        assert_eq!(
            callback_of("/webhooks/commerceos/a.myshopify.com/order-status"),
            Some(("a.myshopify.com", ORDER_STATUS))
        );
        assert_eq!(
            callback_of("/webhooks/commerceos/a.myshopify.com/orders/new"),
            Some(("a.myshopify.com", NEW_ORDERS))
        );
        assert_eq!(callback_of("/webhooks/commerceos/a.myshopify.com/other"), None);
    }
}
