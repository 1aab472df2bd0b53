//! The Shopify Admin GraphQL client: one POST per operation with the shop's offline token, the
//! calculated query cost read back from `extensions.cost`, and `THROTTLED` (with HTTP 200 or 429)
//! surfaced as a wait rather than a failure. Callers pace themselves with [`Cost::wait_before`].

use std::time::Duration;

use serde::{Deserialize, de::DeserializeOwned};
use serde_json::Value;

use crate::{
    config::{Env, Secret},
    domain::ShopDomain,
    integrations::http::{self, RetryPolicy, UpstreamError},
};

/// Where the Admin API lives, which version is spoken, and how throttles are waited out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminConfig {
    /// The shop's base URL, with `{shop}` standing for the shop domain: `https://{shop}` in AWS, a
    /// simulator or wiremock locally.
    pub base_url: String,
    /// A quarterly `YYYY-MM` version.
    pub api_version: String,
    /// Throttles of up to `max_inline_wait` are waited inline, up to `max_attempts` tries in all.
    pub retry: RetryPolicy,
}

/// Shopify's bucket refills at 50 points per second: waits of up to a second are cheaper inline than a
/// carried-over job.
pub const RETRY: RetryPolicy = RetryPolicy {
    backoff_base: Duration::from_secs(1),
    backoff_max: Duration::from_secs(1),
    max_inline_wait: Duration::from_secs(1),
    max_attempts: 4,
};

impl AdminConfig {
    pub fn read(env: &mut Env) -> Self {
        Self {
            base_url: env.required("SHOPIFY_ADMIN_URL"),
            api_version: env.required("SHOPIFY_API_VERSION"),
            retry: RETRY,
        }
    }

    pub fn endpoint(&self, shop: &ShopDomain) -> String {
        let base = self.base_url.replace("{shop}", shop.as_str());
        format!("{}/admin/api/{}/graphql.json", base.trim_end_matches('/'), self.api_version)
    }
}

/// The leaky bucket's state after a request.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThrottleStatus {
    pub maximum_available: f64,
    pub currently_available: f64,
    pub restore_rate: f64,
}

/// `extensions.cost` of a response.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cost {
    pub requested_query_cost: f64,
    pub actual_query_cost: Option<f64>,
    pub throttle_status: ThrottleStatus,
}

impl Cost {
    /// How long to wait before sending a query of `next_cost` points so that the bucket holds enough
    /// for it: never run the bucket dry.
    pub fn wait_before(&self, next_cost: f64) -> Duration {
        let bucket = &self.throttle_status;
        let missing = next_cost.min(bucket.maximum_available) - bucket.currently_available;
        if missing <= 0.0 || bucket.restore_rate <= 0.0 {
            return Duration::ZERO;
        }
        Duration::from_secs_f64(missing / bucket.restore_rate)
    }
}

/// A successful answer: the `data` object and what it cost.
#[derive(Debug, Clone)]
pub struct Reply<T> {
    pub data: T,
    pub cost: Option<Cost>,
}

/// The name Admin API errors carry.
pub const SHOPIFY: &str = "Shopify";

/// How long to wait on a throttle that says nothing about its bucket.
const DEFAULT_THROTTLE_WAIT: Duration = Duration::from_secs(2);

#[derive(Debug, Deserialize)]
struct Envelope {
    data: Option<Value>,
    #[serde(default)]
    errors: Option<Value>,
    extensions: Option<Extensions>,
}

#[derive(Debug, Deserialize)]
struct Extensions {
    cost: Option<Cost>,
}

#[derive(Debug, Clone)]
pub struct AdminClient {
    /// Built on first use: the ingest worker, for one, rarely calls Shopify, so its cold start should
    /// not pay for a TLS client.
    http: http::Client,
    config: AdminConfig,
}

impl AdminClient {
    pub fn new(config: AdminConfig) -> Self {
        Self { http: http::Client::new(), config }
    }

    /// Runs one GraphQL operation and decodes its `data` into `T`. A throttle (`THROTTLED` with HTTP
    /// 200, or 429) that asks for at most the policy's inline wait is waited out here, a few times; a
    /// longer one is returned as [`UpstreamError::Throttled`] for the caller to carry the work over.
    pub async fn graphql<T: DeserializeOwned>(
        &self,
        shop: &ShopDomain,
        token: &Secret,
        query: &str,
        variables: Value,
    ) -> Result<Reply<T>, UpstreamError> {
        let policy = self.config.retry;
        let mut attempt = 1;
        loop {
            match self.send::<T>(shop, token, query, &variables).await {
                Err(UpstreamError::Throttled { retry_after, .. })
                    if retry_after <= policy.max_inline_wait && attempt < policy.max_attempts =>
                {
                    attempt += 1;
                    tracing::info!(shop = %shop, wait_ms = retry_after.as_millis() as u64, "throttled; waiting inline");
                    tokio::time::sleep(retry_after).await;
                }
                answer => return answer,
            }
        }
    }

    async fn send<T: DeserializeOwned>(
        &self,
        shop: &ShopDomain,
        token: &Secret,
        query: &str,
        variables: &Value,
    ) -> Result<Reply<T>, UpstreamError> {
        let response = self
            .http
            .get(SHOPIFY)?
            .post(self.config.endpoint(shop))
            .header("X-Shopify-Access-Token", token.expose())
            .json(&serde_json::json!({ "query": query, "variables": variables }))
            .send()
            .await
            .map_err(|e| UpstreamError::transport(SHOPIFY, e))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64);
        let body = response.bytes().await.map_err(|e| UpstreamError::transport(SHOPIFY, e))?;
        let envelope: Option<Envelope> = serde_json::from_slice(&body).ok();
        let cost = envelope.as_ref().and_then(|e| e.extensions.as_ref()).and_then(|x| x.cost);
        let throttle_wait = || {
            let from_bucket = cost.map(|c| c.wait_before(c.requested_query_cost)).filter(|w| !w.is_zero());
            retry_after.or(from_bucket).unwrap_or(DEFAULT_THROTTLE_WAIT)
        };
        match status {
            429 => return Err(UpstreamError::Throttled { upstream: SHOPIFY, retry_after: throttle_wait() }),
            401 | 403 => {
                let (code, message) = (status.to_string(), "the access token was refused".to_owned());
                return Err(UpstreamError::Unauthorized { upstream: SHOPIFY, status, code, message });
            }
            200..=299 => {}
            500.. => {
                return Err(UpstreamError::Transient { upstream: SHOPIFY, detail: format!("HTTP {status}") });
            }
            other => {
                let (code, message) = (other.to_string(), "the Admin API refused the request".to_owned());
                return Err(UpstreamError::Rejected { upstream: SHOPIFY, status: other, code, message });
            }
        }
        let decode = |detail: String| UpstreamError::Decode { upstream: SHOPIFY, detail };
        let envelope = envelope.ok_or_else(|| decode("the body is not a GraphQL response".into()))?;
        if let Some(errors) = envelope.errors.as_ref().filter(|e| !e.is_null()) {
            if is_throttled(errors) {
                return Err(UpstreamError::Throttled { upstream: SHOPIFY, retry_after: throttle_wait() });
            }
            if envelope.data.as_ref().is_none_or(Value::is_null) {
                let (code, message) = ("GRAPHQL".to_owned(), messages(errors));
                return Err(UpstreamError::Rejected { upstream: SHOPIFY, status, code, message });
            }
            tracing::warn!(errors = %messages(errors), "partial GraphQL errors");
        }
        let data = envelope.data.ok_or_else(|| decode("no data".into()))?;
        let data = serde_json::from_value(data).map_err(|e| decode(e.to_string()))?;
        Ok(Reply { data, cost })
    }
}

fn is_throttled(errors: &Value) -> bool {
    errors.as_array().is_some_and(|list| {
        list.iter().any(|e| e.pointer("/extensions/code").and_then(Value::as_str) == Some("THROTTLED"))
    })
}

fn messages(errors: &Value) -> String {
    match errors.as_array() {
        Some(list) => list
            .iter()
            .map(|e| e.get("message").and_then(Value::as_str).unwrap_or("unknown error"))
            .collect::<Vec<_>>()
            .join("; "),
        None => errors.to_string(),
    }
}

/// A `userErrors` entry of a mutation payload.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UserError {
    #[serde(default)]
    pub field: Option<Vec<String>>,
    pub message: String,
}

pub fn describe(errors: &[UserError]) -> String {
    errors
        .iter()
        .map(|e| match &e.field {
            Some(field) if !field.is_empty() => format!("{}: {}", field.join("."), e.message),
            _ => e.message.clone(),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost(available: f64) -> Cost {
        Cost {
            requested_query_cost: 752.0,
            actual_query_cost: None,
            throttle_status: ThrottleStatus {
                maximum_available: 1000.0,
                currently_available: available,
                restore_rate: 50.0,
            },
        }
    }

    #[test]
    fn waits_only_for_the_points_missing() {
        assert_eq!(cost(800.0).wait_before(752.0), Duration::ZERO);
        assert_eq!(cost(666.0).wait_before(752.0), Duration::from_secs_f64(86.0 / 50.0));
        // A query dearer than the whole bucket waits for a full bucket, not forever.
        assert_eq!(cost(0.0).wait_before(5000.0), Duration::from_secs(20));
    }

    #[test]
    fn recognises_the_throttled_error() {
        let errors = serde_json::json!([{"message": "Throttled", "extensions": {"code": "THROTTLED"}}]);
        assert!(is_throttled(&errors));
        assert!(!is_throttled(&serde_json::json!([{"message": "Field 'x' doesn't exist"}])));
    }

    #[test]
    fn endpoint_names_the_shop_and_version() {
        let config = AdminConfig { base_url: "https://{shop}/".into(), api_version: "2026-10".into(), retry: RETRY };
        let shop = ShopDomain::parse("demo.myshopify.com").unwrap();
        assert_eq!(config.endpoint(&shop), "https://demo.myshopify.com/admin/api/2026-10/graphql.json");
    }
}
