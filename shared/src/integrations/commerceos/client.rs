//! The CommerceOS client: one request per call, no retries of its own (the outbound dispatcher's
//! ladder retries with SQS delays). A 429 is [`UpstreamError::Throttled`]; a 5xx, a timeout or no
//! answer transient; 401/403 refused credentials (an OAuth token is then dropped from the cache); any
//! other 4xx a rejection with CommerceOS's message and status (409: out of stock).
//!
//! OAuth2 client-credentials tokens are cached per tenant and client until [`TOKEN_MARGIN`] before
//! they expire, so a worker instance asks for one token per tenant, not one per request.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::{COMMERCEOS, Credential, Tenant};
use crate::{
    config::Secret,
    integrations::http::{Client, UpstreamError},
};

/// A cached token is renewed this long before it expires.
pub const TOKEN_MARGIN: chrono::Duration = chrono::Duration::seconds(60);

/// How an upsert went: CommerceOS created the order (201) or already had it (200).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    Created,
    Updated,
}

#[derive(Clone)]
struct CachedToken {
    token: Secret,
    expires_at: DateTime<Utc>,
}

#[derive(Clone, Default)]
pub struct CommerceOsClient {
    http: Client,
    tokens: Arc<Mutex<HashMap<String, CachedToken>>>,
}

impl std::fmt::Debug for CommerceOsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommerceOsClient").finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<i64>,
}

impl CommerceOsClient {
    pub fn new() -> Self {
        Self::default()
    }

    fn cache_key(tenant: &Tenant, client_id: &str) -> String {
        format!("{}|{client_id}", tenant.root)
    }

    /// The tenant's OAuth2 access token: cached, or fetched with `client_credentials`.
    pub async fn token(&self, tenant: &Tenant, now: DateTime<Utc>) -> Result<Option<Secret>, UpstreamError> {
        let Credential::Client { client_id, client_secret } = &tenant.credential else { return Ok(None) };
        let key = Self::cache_key(tenant, client_id);
        if let Some(cached) = self.tokens.lock().unwrap_or_else(|e| e.into_inner()).get(&key)
            && cached.expires_at - TOKEN_MARGIN > now
        {
            return Ok(Some(cached.token.clone()));
        }
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("client_id", client_id)
            .append_pair("client_secret", client_secret.expose())
            .finish();
        let request = self
            .http
            .get(COMMERCEOS)?
            .post(tenant.token_url())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        let answer: TokenAnswer = match send(request).await {
            Ok(answer) => answer,
            Err(UpstreamError::Rejected { status, code, message, .. }) => {
                return Err(UpstreamError::Unauthorized { upstream: COMMERCEOS, status, code, message });
            }
            Err(e) => return Err(e),
        };
        let token = Secret::new(answer.access_token);
        let expires_at = now + chrono::Duration::seconds(answer.expires_in.unwrap_or(3600).clamp(0, 86_400));
        self.tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, CachedToken { token: token.clone(), expires_at });
        Ok(Some(token))
    }

    fn forget_token(&self, tenant: &Tenant) {
        if let Credential::Client { client_id, .. } = &tenant.credential {
            self.tokens.lock().unwrap_or_else(|e| e.into_inner()).remove(&Self::cache_key(tenant, client_id));
        }
    }

    /// One API call. A refused OAuth2 token (it may have been revoked or rotated early) is dropped and
    /// the call made once more with a fresh one, as CommerceOS's own sync-webhooks do; a second refusal
    /// is the caller's.
    async fn call(
        &self,
        tenant: &Tenant,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        now: DateTime<Utc>,
    ) -> Result<(u16, Value), UpstreamError> {
        let mut retried = false;
        loop {
            let token = self.token(tenant, now).await?;
            let mut request = self.http.get(COMMERCEOS)?.request(method.clone(), tenant.api(path));
            request = match (&tenant.credential, token) {
                (_, Some(token)) => request.bearer_auth(token.expose()),
                (Credential::ApiKey(key), None) => request.header("x-api-key", key.expose()),
                (Credential::Client { .. }, None) => request,
            };
            if let Some(body) = body {
                request = request.json(body);
            }
            let answer = send_status(request).await;
            if let Err(UpstreamError::Unauthorized { .. }) = &answer {
                self.forget_token(tenant);
                if matches!(tenant.credential, Credential::Client { .. }) && !retried {
                    retried = true;
                    continue;
                }
            }
            return answer;
        }
    }

    /// `GET /v1/scopes`: the scopes our credential holds.
    pub async fn scopes(&self, tenant: &Tenant, now: DateTime<Utc>) -> Result<Vec<String>, UpstreamError> {
        let (_, body) = self.call(tenant, reqwest::Method::GET, "scopes", None, now).await?;
        Ok(scope_names(&body))
    }

    /// `PUT /v1/trade-orders/{ns.key=value}`: the idempotent upsert.
    pub async fn upsert_trade_order(
        &self,
        tenant: &Tenant,
        address: &str,
        order: &Value,
        now: DateTime<Utc>,
    ) -> Result<Upserted, UpstreamError> {
        let path = format!("trade-orders/{address}");
        let (status, _) = self.call(tenant, reqwest::Method::PUT, &path, Some(order), now).await?;
        Ok(if status == 201 { Upserted::Created } else { Upserted::Updated })
    }

    /// `GET /v1/trade-orders/{ns.key=value}~with(status)`: the order's status list (`None`: no such order).
    pub async fn trade_order_status(
        &self,
        tenant: &Tenant,
        address: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<String>>, UpstreamError> {
        let path = format!("trade-orders/{address}~with(status)");
        match self.call(tenant, reqwest::Method::GET, &path, None, now).await {
            Ok((_, body)) => Ok(Some(statuses(&body))),
            Err(UpstreamError::Rejected { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// One page of the trade orders placed since `placed_after` whose identifier `channel_key` is
    /// `channel`, oldest first, with their status and identifiers: the seed's batch status check
    /// (`~where(identifiers/{key}={channel})~with(status,identifiers)`) on the placement-time view
    /// `/after(create)/{time}`, paged with `~orderBy(timestamp)~skip~take`.
    #[allow(clippy::too_many_arguments)]
    pub async fn trade_orders_of_channel(
        &self,
        tenant: &Tenant,
        placed_after: DateTime<Utc>,
        channel_key: &str,
        channel: &str,
        skip: usize,
        take: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<Value>, UpstreamError> {
        let after = placed_after.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let path = format!(
            "trade-orders/after(create)/{after}~where(identifiers/{channel_key}={channel})~with(status,identifiers)~orderBy(timestamp)~skip({skip})~take({take})"
        );
        let (_, body) = self.call(tenant, reqwest::Method::GET, &path, None, now).await?;
        Ok(items(body))
    }

    /// `PATCH /v1/trade-orders/{ns.key=value}/actions` with one action.
    pub async fn order_action(
        &self,
        tenant: &Tenant,
        address: &str,
        action: &Value,
        now: DateTime<Utc>,
    ) -> Result<Value, UpstreamError> {
        let path = format!("trade-orders/{address}/actions");
        Ok(self.call(tenant, reqwest::Method::PATCH, &path, Some(action), now).await?.1)
    }

    /// `GET /v1/trade-orders/{ns.key=value}/shipments`: the order's shipment orders.
    pub async fn order_shipments(
        &self,
        tenant: &Tenant,
        address: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Value>, UpstreamError> {
        let path = format!("trade-orders/{address}/shipments");
        let (_, body) = self.call(tenant, reqwest::Method::GET, &path, None, now).await?;
        Ok(items(body))
    }

    /// `PATCH /v1/shipment-orders/{key}/actions` `{"release": true}`.
    pub async fn release_shipment(&self, tenant: &Tenant, key: &str, now: DateTime<Utc>) -> Result<(), UpstreamError> {
        let path = format!("shipment-orders/{key}/actions");
        let body = serde_json::json!({ "release": true });
        self.call(tenant, reqwest::Method::PATCH, &path, Some(&body), now).await.map(|_| ())
    }

    /// `PUT /v1/mapped-types/{id}`, then its database key (`~just(identifiers)`), which a
    /// sync-webhook must name.
    pub async fn put_mapped_type(
        &self,
        tenant: &Tenant,
        address: &str,
        body: &Value,
        now: DateTime<Utc>,
    ) -> Result<String, UpstreamError> {
        let path = format!("mapped-types/{address}");
        self.call(tenant, reqwest::Method::PUT, &path, Some(body), now).await?;
        let (_, answer) =
            self.call(tenant, reqwest::Method::GET, &format!("{path}~just(identifiers)"), None, now).await?;
        answer["identifiers"]["key"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| UpstreamError::Decode { upstream: COMMERCEOS, detail: "the mapped type has no key".into() })
    }

    /// `PUT /v1/sync-webhooks/{id}`.
    pub async fn put_sync_webhook(
        &self,
        tenant: &Tenant,
        address: &str,
        body: &Value,
        now: DateTime<Utc>,
    ) -> Result<(), UpstreamError> {
        let path = format!("sync-webhooks/{address}");
        self.call(tenant, reqwest::Method::PUT, &path, Some(body), now).await.map(|_| ())
    }
}

/// Scope names from `GET /v1/scopes`, leniently: a list of names, a list of objects with a `name`
/// or `scope`, or either under `scopes`/`items`.
pub fn scope_names(body: &Value) -> Vec<String> {
    let list = match body {
        Value::Array(items) => items.clone(),
        Value::Object(map) => {
            map.get("scopes").or_else(|| map.get("items")).and_then(Value::as_array).cloned().unwrap_or_default()
        }
        Value::String(s) => s.split_whitespace().map(|s| Value::String(s.to_owned())).collect(),
        _ => Vec::new(),
    };
    list.iter()
        .filter_map(|v| match v {
            Value::String(s) => Some(s.clone()),
            other => other.get("name").or_else(|| other.get("scope")).and_then(Value::as_str).map(str::to_owned),
        })
        .collect()
}

/// A collection answer's entries: a bare array or `{"items": [...]}`.
fn items(body: Value) -> Vec<Value> {
    match body {
        Value::Array(items) => items,
        Value::Object(mut map) => match map.remove("items") {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// A trade order's `status` (a read-only list of strings).
pub fn statuses(body: &Value) -> Vec<String> {
    match &body["status"] {
        Value::Array(items) => items.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        Value::String(s) => vec![s.clone()],
        _ => Vec::new(),
    }
}

async fn send<R: serde::de::DeserializeOwned>(request: reqwest::RequestBuilder) -> Result<R, UpstreamError> {
    let (status, body) = send_status(request).await?;
    serde_json::from_value(body)
        .map_err(|e| UpstreamError::Decode { upstream: COMMERCEOS, detail: format!("HTTP {status}: {e}") })
}

/// Sends `request`, emitting its latency and whether CommerceOS failed it (`crate::metrics`).
async fn send_status(request: reqwest::RequestBuilder) -> Result<(u16, Value), UpstreamError> {
    let started = std::time::Instant::now();
    let result = exchange(request).await;
    crate::metrics::partner_call(
        COMMERCEOS,
        started.elapsed(),
        result.as_ref().is_err_and(UpstreamError::is_retryable),
    );
    result
}

async fn exchange(request: reqwest::RequestBuilder) -> Result<(u16, Value), UpstreamError> {
    let response = request.send().await.map_err(|e| UpstreamError::transport(COMMERCEOS, e))?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let bytes = response.bytes().await.map_err(|e| UpstreamError::transport(COMMERCEOS, e))?;
    if (200..300).contains(&status) {
        let body = if bytes.iter().all(u8::is_ascii_whitespace) {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .map_err(|e| UpstreamError::Decode { upstream: COMMERCEOS, detail: format!("HTTP {status}: {e}") })?
        };
        return Ok((status, body));
    }
    let message = error_message(&bytes);
    Err(match status {
        429 => UpstreamError::Throttled {
            upstream: COMMERCEOS,
            retry_after: retry_after.unwrap_or(Duration::from_secs(1)),
        },
        500..=599 => UpstreamError::Transient { upstream: COMMERCEOS, detail: format!("HTTP {status}: {message}") },
        401 | 403 => {
            UpstreamError::Unauthorized { upstream: COMMERCEOS, status, code: format!("HTTP{status}"), message }
        }
        _ => UpstreamError::Rejected { upstream: COMMERCEOS, status, code: format!("HTTP{status}"), message },
    })
}

/// CommerceOS's error body in one line, at most 500 characters; never the request.
fn error_message(body: &[u8]) -> String {
    let text = match serde_json::from_slice::<Value>(body) {
        Ok(value) => ["message", "error", "title", "detail", "errors"]
            .iter()
            .find_map(|k| value.get(*k).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
            .unwrap_or_else(|| value.to_string()),
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    };
    text.chars().take(500).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_and_statuses_are_read_leniently() {
        let names = ["read:orders", "write:orders"];
        for body in [
            serde_json::json!(names),
            serde_json::json!({ "scopes": names }),
            serde_json::json!([{ "name": "read:orders" }, { "scope": "write:orders" }]),
            serde_json::json!("read:orders write:orders"),
        ] {
            assert_eq!(scope_names(&body), names, "{body}");
        }
        assert_eq!(statuses(&serde_json::json!({ "status": ["Committed", "Fulfilled"] })), ["Committed", "Fulfilled"]);
    }
}
