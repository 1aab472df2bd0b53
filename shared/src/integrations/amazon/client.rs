//! The SP-API client: one request helper that takes a token from the operation's bucket, attaches the
//! LWA access token as `x-amz-access-token`, follows `x-amzn-RateLimit-Limit`, and retries 429 and 5xx
//! with exponential back-off. A wait longer than the policy's inline limit is returned as
//! [`UpstreamError::Throttled`], so the caller carries the work over (SQS delay) instead of sleeping.

use std::{sync::Arc, time::Duration};

use serde_json::Value;

use super::{
    ApiVersion, Region, RetryPolicy, SpApiConfig,
    lwa::{LwaClient, LwaCredentials},
    model::{AmazonOrder, AmazonOrderItem},
    rate::{Operation, RateLimiter},
};
use crate::{
    clock::Clock,
    integrations::http::{self, UpstreamError},
};

/// The name SP-API errors carry.
pub const SP_API: &str = "SP-API";

/// Who a call is for: the seller (its buckets), the region (its endpoint) and the LWA credentials.
#[derive(Debug, Clone, Copy)]
pub struct Seller<'a> {
    pub id: &'a str,
    pub region: Region,
    pub credentials: &'a LwaCredentials,
}

/// Whether a window is on the creation or the last-update time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowField {
    Created,
    LastUpdated,
}

/// The orders to search: marketplaces plus a time window. `after`/`before` are sent as given (RFC 3339,
/// or a sandbox test-case value such as `TEST_CASE_200`); the sync keeps `before` at least two minutes
/// before now, which Amazon requires.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OrdersWindow {
    pub marketplace_ids: Vec<String>,
    pub field: WindowField,
    pub after: String,
    pub before: Option<String>,
    /// v2026 `includedData`; ignored by v0.
    #[serde(default)]
    pub included_data: Vec<String>,
}

/// One page of orders, each with the items that came with it (v2026 always; v0 never).
#[derive(Debug, Clone, PartialEq)]
pub struct OrdersPage {
    pub orders: Vec<(AmazonOrder, Vec<AmazonOrderItem>)>,
    pub next_token: Option<String>,
    /// Entries that could not be parsed at all (no id, no date); logged and skipped.
    pub skipped: usize,
}

pub struct SpApiClient {
    http: http::Client,
    config: SpApiConfig,
    lwa: LwaClient,
    limiter: RateLimiter,
}

impl SpApiClient {
    pub fn new(config: SpApiConfig, clock: Arc<dyn Clock>) -> Self {
        let lwa = LwaClient::new(config.lwa_token_url.clone(), clock);
        Self { http: http::Client::new(), config, lwa, limiter: RateLimiter::new() }
    }

    pub fn lwa(&self) -> &LwaClient {
        &self.lwa
    }

    pub fn retry_policy(&self) -> RetryPolicy {
        self.config.retry
    }

    pub fn run_budget(&self) -> Duration {
        self.config.run_budget
    }

    /// The app-level LWA client, when configured.
    pub fn app_client(&self) -> Option<(&str, &crate::config::Secret)> {
        self.config.client_id.as_deref().zip(self.config.client_secret.as_ref())
    }

    /// `GET /sellers/v1/marketplaceParticipations`: the cheapest authenticated call, used as the
    /// connection check. Returns the marketplace ids the seller participates in.
    pub async fn marketplace_participations(&self, seller: Seller<'_>) -> Result<Vec<String>, UpstreamError> {
        let body = self
            .get(seller, Operation::MarketplaceParticipations, "/sellers/v1/marketplaceParticipations", &[])
            .await?;
        Ok(body
            .get("payload")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| p.get("marketplace")?.get("id")?.as_str().map(str::to_owned))
            .collect())
    }

    /// One page of orders in `window`, by the connection's API version.
    pub async fn orders_page(
        &self,
        seller: Seller<'_>,
        version: ApiVersion,
        window: &OrdersWindow,
        token: Option<&str>,
    ) -> Result<OrdersPage, UpstreamError> {
        match version {
            ApiVersion::V0 => self.get_orders_v0(seller, window, token).await,
            ApiVersion::V2026 => self.search_orders(seller, window, token).await,
        }
    }

    /// Orders v0 `getOrders` (`GET /orders/v0/orders`), following `NextToken` one page at a time.
    pub async fn get_orders_v0(
        &self,
        seller: Seller<'_>,
        window: &OrdersWindow,
        next_token: Option<&str>,
    ) -> Result<OrdersPage, UpstreamError> {
        let (after, before) = match window.field {
            WindowField::Created => ("CreatedAfter", "CreatedBefore"),
            WindowField::LastUpdated => ("LastUpdatedAfter", "LastUpdatedBefore"),
        };
        let mut query = vec![("MarketplaceIds", window.marketplace_ids.join(",")), (after, window.after.clone())];
        if let Some(value) = &window.before {
            query.push((before, value.clone()));
        }
        if let Some(token) = next_token {
            query.push(("NextToken", token.to_owned()));
        }
        let body = self.get(seller, Operation::GetOrders, "/orders/v0/orders", &query).await?;
        let payload = body
            .get("payload")
            .ok_or_else(|| UpstreamError::Decode { upstream: SP_API, detail: "getOrders has no payload".into() })?;
        let default_marketplace = window.marketplace_ids.first().map(String::as_str).unwrap_or_default();
        let mut page = OrdersPage { orders: Vec::new(), next_token: text(payload, "NextToken"), skipped: 0 };
        for raw in payload.get("Orders").and_then(Value::as_array).into_iter().flatten() {
            match AmazonOrder::from_v0(raw, default_marketplace) {
                Ok(order) => page.orders.push((order, Vec::new())),
                Err(e) => {
                    tracing::warn!(error = %e, "order skipped");
                    page.skipped += 1;
                }
            }
        }
        Ok(page)
    }

    /// Orders v0 `getOrderItems` (`GET /orders/v0/orders/{orderId}/orderItems`), every page.
    pub async fn get_order_items_v0(
        &self,
        seller: Seller<'_>,
        order_id: &str,
        marketplace: &str,
    ) -> Result<Vec<AmazonOrderItem>, UpstreamError> {
        let path = format!("/orders/v0/orders/{order_id}/orderItems");
        let mut items = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let query: Vec<(&str, String)> = token.iter().map(|t| ("NextToken", t.clone())).collect();
            let body = self.get(seller, Operation::GetOrderItems, &path, &query).await?;
            let payload = body.get("payload").ok_or_else(|| UpstreamError::Decode {
                upstream: SP_API,
                detail: "getOrderItems has no payload".into(),
            })?;
            for raw in payload.get("OrderItems").and_then(Value::as_array).into_iter().flatten() {
                match AmazonOrderItem::from_v0(raw, order_id, marketplace) {
                    Ok(item) => items.push(item),
                    Err(e) => tracing::warn!(error = %e, "order item skipped"),
                }
            }
            token = text(payload, "NextToken");
            if token.is_none() {
                return Ok(items);
            }
        }
    }

    /// Orders v2026-01-01 `searchOrders` (`GET /orders/2026-01-01/orders`); items come with each order.
    pub async fn search_orders(
        &self,
        seller: Seller<'_>,
        window: &OrdersWindow,
        pagination_token: Option<&str>,
    ) -> Result<OrdersPage, UpstreamError> {
        let (after, before) = match window.field {
            WindowField::Created => ("createdAfter", "createdBefore"),
            WindowField::LastUpdated => ("lastUpdatedAfter", "lastUpdatedBefore"),
        };
        let mut query = vec![(after, window.after.clone()), ("marketplaceIds", window.marketplace_ids.join(","))];
        if let Some(value) = &window.before {
            query.push((before, value.clone()));
        }
        if !window.included_data.is_empty() {
            query.push(("includedData", window.included_data.join(",")));
        }
        if let Some(token) = pagination_token {
            query.push(("paginationToken", token.to_owned()));
        }
        let body = self.get(seller, Operation::SearchOrders, "/orders/2026-01-01/orders", &query).await?;
        let default_marketplace = window.marketplace_ids.first().map(String::as_str).unwrap_or_default();
        let next_token = body.get("pagination").and_then(|p| text(p, "nextToken"));
        let mut page = OrdersPage { orders: Vec::new(), next_token, skipped: 0 };
        for raw in body.get("orders").and_then(Value::as_array).into_iter().flatten() {
            match AmazonOrder::from_v2026(raw, default_marketplace) {
                Ok(entry) => page.orders.push(entry),
                Err(e) => {
                    tracing::warn!(error = %e, "order skipped");
                    page.skipped += 1;
                }
            }
        }
        Ok(page)
    }

    /// Orders v2026-01-01 `getOrder` (`GET /orders/2026-01-01/orders/{orderId}`), items included.
    pub async fn get_order(
        &self,
        seller: Seller<'_>,
        order_id: &str,
        included_data: &[String],
    ) -> Result<(AmazonOrder, Vec<AmazonOrderItem>), UpstreamError> {
        let path = format!("/orders/2026-01-01/orders/{order_id}");
        let query: Vec<(&str, String)> =
            if included_data.is_empty() { Vec::new() } else { vec![("includedData", included_data.join(","))] };
        let body = self.get(seller, Operation::GetOrder, &path, &query).await?;
        let order = body.get("order").unwrap_or(&body);
        AmazonOrder::from_v2026(order, "")
            .map_err(|e| UpstreamError::Decode { upstream: SP_API, detail: e.to_string() })
    }

    async fn get(
        &self,
        seller: Seller<'_>,
        op: Operation,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Value, UpstreamError> {
        let base = self.config.endpoint(seller.region).trim_end_matches('/');
        let mut url = url::Url::parse(&format!("{base}{path}")).map_err(|_| UpstreamError::Decode {
            upstream: SP_API,
            detail: format!("the {} endpoint is not a URL", seller.region),
        })?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        let policy = self.config.retry;
        let mut attempt: u32 = 0;
        let mut token_renewed = false;
        loop {
            let wait = self.limiter.wait_for(seller.id, op);
            if wait > policy.max_inline_wait {
                return Err(UpstreamError::Throttled { upstream: SP_API, retry_after: wait });
            }
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
                continue;
            }
            let token = self.lwa.access_token(seller.credentials).await?;
            let sent = self
                .http
                .get(SP_API)?
                .get(url.clone())
                .header("x-amz-access-token", token.expose())
                .header(reqwest::header::ACCEPT, "application/json")
                .send()
                .await;
            let backoff = policy.backoff(attempt);
            let response = match sent {
                Ok(response) => response,
                Err(e) => {
                    attempt += 1;
                    if attempt >= policy.max_attempts || backoff > policy.max_inline_wait {
                        return Err(UpstreamError::transport(SP_API, e));
                    }
                    tokio::time::sleep(backoff).await;
                    continue;
                }
            };
            if let Some(rate) = response
                .headers()
                .get("x-amzn-ratelimit-limit")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<f64>().ok())
            {
                self.limiter.observe_limit(seller.id, op, rate);
            }
            let status = response.status().as_u16();
            let bytes = response.bytes().await.map_err(|e| UpstreamError::transport(SP_API, e))?;
            if (200..300).contains(&status) {
                return serde_json::from_slice(&bytes).map_err(|_| UpstreamError::Decode {
                    upstream: SP_API,
                    detail: format!("{} answered with something other than JSON", op.name()),
                });
            }
            let (code, message) = error_of(&bytes, status);
            match status {
                429 | 500 | 502 | 503 | 504 => {
                    attempt += 1;
                    if attempt >= policy.max_attempts || backoff > policy.max_inline_wait {
                        return Err(if status == 429 {
                            UpstreamError::Throttled { upstream: SP_API, retry_after: backoff }
                        } else {
                            UpstreamError::Transient { upstream: SP_API, detail: format!("{status} {code}: {message}") }
                        });
                    }
                    tracing::warn!(operation = op.name(), status, attempt, "SP-API asked to back off; retrying");
                    tokio::time::sleep(backoff).await;
                }
                401 | 403 if !token_renewed => {
                    // The cached access token may have been revoked early: exchange once more.
                    self.lwa.forget(seller.credentials);
                    token_renewed = true;
                }
                401 | 403 => return Err(UpstreamError::Unauthorized { upstream: SP_API, status, code, message }),
                _ => return Err(UpstreamError::Rejected { upstream: SP_API, status, code, message }),
            }
        }
    }
}

fn text(value: &Value, field: &str) -> Option<String> {
    value.get(field).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// The first entry of SP-API's `{"errors": [{"code", "message", "details"}]}` body.
fn error_of(body: &[u8], status: u16) -> (String, String) {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let first = parsed.as_ref().and_then(|b| b.get("errors")).and_then(|e| e.get(0));
    let code = first.and_then(|e| text(e, "code")).unwrap_or_else(|| format!("HTTP{status}"));
    let mut message = first.and_then(|e| text(e, "message")).unwrap_or_else(|| "no error message".into());
    if let Some(details) = first.and_then(|e| text(e, "details")) {
        message = format!("{message} ({details})");
    }
    (code, message)
}
