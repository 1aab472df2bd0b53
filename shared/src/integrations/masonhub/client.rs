//! The MasonHub client: one request per call, no retries of its own (the outbound dispatcher's ladder
//! retries, with SQS delays). A 429 is [`UpstreamError::Throttled`], a 5xx or no answer is transient,
//! 401/403 refused credentials, any other 4xx a rejection carrying MasonHub's message.

use std::time::Duration;

use serde::{Serialize, de::DeserializeOwned};

use super::{
    MASONHUB,
    model::{BatchResult, CallbackRecord, CancelRecord, MAX_BATCH, OrderRecord},
};
use crate::{
    config::Secret,
    integrations::http::{Client, UpstreamError},
};

/// The `GET /orders` search.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrdersQuery {
    /// MasonHub uuids (1–30).
    pub ids: Vec<String>,
    pub offset: Option<u32>,
    pub limit: Option<u32>,
    /// `detail` or `summary`.
    pub list_type: Option<String>,
    /// Orders updated since (RFC 3339).
    pub sdt: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct MasonHubClient {
    http: Client,
}

impl MasonHubClient {
    /// A client whose requests give up after `timeout` (a timed-out request is transient: the
    /// dispatcher's ladder retries it, and a create that did land answers "already taken").
    pub fn new(timeout: Duration) -> Self {
        Self { http: Client::with_timeout(timeout) }
    }

    /// `POST /orders` with at most 30 records; the answer holds one result per record.
    pub async fn create_orders(
        &self,
        base: &str,
        token: &Secret,
        records: &[OrderRecord],
    ) -> Result<BatchResult, UpstreamError> {
        self.batch(base, token, "orders", records).await
    }

    /// `POST /order_update_requests` (full replacement, resolved by an `orderUpdateResolution` callback).
    pub async fn update_orders(
        &self,
        base: &str,
        token: &Secret,
        records: &[OrderRecord],
    ) -> Result<BatchResult, UpstreamError> {
        self.batch(base, token, "order_update_requests", records).await
    }

    /// `POST /order_cancel_requests` (resolved by an `orderCancelResolution` callback).
    pub async fn cancel_orders(
        &self,
        base: &str,
        token: &Secret,
        records: &[CancelRecord],
    ) -> Result<BatchResult, UpstreamError> {
        self.batch(base, token, "order_cancel_requests", records).await
    }

    /// `POST /callbacks`: registers (or re-points) callbacks; the answer has one result per entry.
    pub async fn register_callbacks(
        &self,
        base: &str,
        token: &Secret,
        records: &[CallbackRecord],
    ) -> Result<Vec<serde_json::Value>, UpstreamError> {
        self.post(base, token, "callbacks", records).await
    }

    /// `GET /orders`: an order's state on demand.
    pub async fn orders(
        &self,
        base: &str,
        token: &Secret,
        query: &OrdersQuery,
    ) -> Result<serde_json::Value, UpstreamError> {
        let mut params: Vec<(&str, String)> = Vec::new();
        if !query.ids.is_empty() {
            params.push(("id", query.ids.join(",")));
        }
        params.extend(query.offset.map(|o| ("offset", o.to_string())));
        params.extend(query.limit.map(|l| ("limit", l.to_string())));
        params.extend(query.list_type.clone().map(|t| ("list_type", t)));
        params.extend(query.sdt.clone().map(|s| ("sdt", s)));
        let mut url = url::Url::parse(&format!("{base}/orders"))
            .map_err(|e| UpstreamError::Transient { upstream: MASONHUB, detail: format!("bad base URL: {e}") })?;
        url.query_pairs_mut().extend_pairs(params);
        let request = self.http.get(MASONHUB)?.get(url);
        send(request.bearer_auth(token.expose())).await
    }

    async fn batch<T: Serialize>(
        &self,
        base: &str,
        token: &Secret,
        path: &str,
        records: &[T],
    ) -> Result<BatchResult, UpstreamError> {
        if records.is_empty() || records.len() > MAX_BATCH {
            return Err(UpstreamError::Rejected {
                upstream: MASONHUB,
                status: 0,
                code: "BATCH_SIZE".into(),
                message: format!("a batch holds 1-{MAX_BATCH} records, not {}", records.len()),
            });
        }
        self.post(base, token, path, records).await
    }

    async fn post<T: Serialize, R: DeserializeOwned>(
        &self,
        base: &str,
        token: &Secret,
        path: &str,
        body: &[T],
    ) -> Result<R, UpstreamError> {
        let request = self.http.get(MASONHUB)?.post(format!("{base}/{path}")).json(body);
        send(request.bearer_auth(token.expose())).await
    }
}

/// Sends `request`, emitting its latency and whether MasonHub failed it (`crate::metrics`).
async fn send<R: DeserializeOwned>(request: reqwest::RequestBuilder) -> Result<R, UpstreamError> {
    let started = std::time::Instant::now();
    let result = exchange(request).await;
    crate::metrics::partner_call(MASONHUB, started.elapsed(), result.as_ref().is_err_and(UpstreamError::is_retryable));
    result
}

async fn exchange<R: DeserializeOwned>(request: reqwest::RequestBuilder) -> Result<R, UpstreamError> {
    let response = request.send().await.map_err(|e| UpstreamError::transport(MASONHUB, e))?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let bytes = response.bytes().await.map_err(|e| UpstreamError::transport(MASONHUB, e))?;
    if (200..300).contains(&status) {
        return serde_json::from_slice(&bytes)
            .map_err(|e| UpstreamError::Decode { upstream: MASONHUB, detail: format!("HTTP {status}: {e}") });
    }
    let message = error_message(&bytes);
    Err(match status {
        429 => {
            UpstreamError::Throttled { upstream: MASONHUB, retry_after: retry_after.unwrap_or(Duration::from_secs(1)) }
        }
        500..=599 => UpstreamError::Transient { upstream: MASONHUB, detail: format!("HTTP {status}: {message}") },
        401 | 403 => UpstreamError::Unauthorized { upstream: MASONHUB, status, code: format!("HTTP{status}"), message },
        _ => UpstreamError::Rejected { upstream: MASONHUB, status, code: format!("HTTP{status}"), message },
    })
}

/// MasonHub's error bodies (`{"message"}`, `{"error"}`, `{"errors": [...]}`) in one line, at most 500
/// characters; never the request.
fn error_message(body: &[u8]) -> String {
    let text = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(value) => ["message", "error", "errors", "messages"]
            .iter()
            .find_map(|k| value.get(*k).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
            .unwrap_or_else(|| value.to_string()),
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    };
    text.chars().take(500).collect()
}
