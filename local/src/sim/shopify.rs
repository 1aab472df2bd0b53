//! A small Shopify Admin GraphQL simulator for the local stack, so `make dev` runs the poll, the
//! subscription health check and the tracking push against something that answers like Shopify.
//! It serves `POST /local/shopify/{shop}/admin/api/{version}/graphql.json`, knows the operations this
//! code base sends (by operation name), and reports a full cost bucket. It is not a Shopify clone:
//! filters are ignored and every orders query pages through the same demo orders
//! (`events/shopify-admin/orders.json`) and products (`products.json`), which the version-guarded
//! stores make harmless.
//!
//! It also answers the token endpoint (`POST …/{shop}/admin/oauth/access_token`): the token exchange
//! of a session token and the refresh-token grant, each granting a fresh expiring offline token with
//! the scopes the app requires, so a shop's first session-token request installs it as in AWS.

use std::{
    path::Path,
    sync::{Mutex, MutexGuard},
};

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use lambda_http::{Body, Response, http::StatusCode};
use serde_json::{Value, json};

pub const ROUTE_PREFIX: &str = "/local/shopify";
pub const API_VERSION: &str = "2026-10";

#[derive(Debug, Default)]
struct State {
    /// Refresh tokens granted and not used yet.
    refresh_tokens: Vec<String>,
    grants: u64,
    /// (topic, callback URL) of each subscription created.
    subscriptions: Vec<(String, String)>,
    /// Tracking numbers of fulfilments created, by order GID.
    fulfillments: Vec<(String, Option<String>)>,
}

#[derive(Debug)]
pub struct Simulator {
    /// The scopes every grant carries.
    granted_scopes: Vec<String>,
    orders: Vec<Value>,
    products: Vec<Value>,
    state: Mutex<State>,
}

impl Simulator {
    /// Loads the demo orders and products from `<events>/shopify-admin/`.
    pub fn load(events_dir: &Path) -> anyhow::Result<Self> {
        let list = |file: &str, field: &str| -> anyhow::Result<Vec<Value>> {
            let path = events_dir.join("shopify-admin").join(file);
            let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            let value: Value = serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
            Ok(value.get(field).and_then(Value::as_array).cloned().unwrap_or_default())
        };
        Ok(Self {
            granted_scopes: Vec::new(),
            orders: list("orders.json", "orders")?,
            products: list("products.json", "products")?,
            state: Mutex::default(),
        })
    }

    /// Grants `scopes` with every token.
    pub fn with_granted_scopes(self, scopes: Vec<String>) -> Self {
        Self { granted_scopes: scopes, ..self }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Answers one request under [`ROUTE_PREFIX`] (`rest` is the path after it).
    pub fn handle(&self, method: &str, rest: &str, headers: &[(String, String)], body: &[u8]) -> Response<Body> {
        if method == "POST" && rest.ends_with("/admin/oauth/access_token") {
            return self.access_token(body);
        }
        if method != "POST" || !rest.ends_with("/graphql.json") || !rest.contains("/admin/api/") {
            return reply(StatusCode::NOT_FOUND, json!({ "errors": "Not Found" }));
        }
        let token = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("x-shopify-access-token"));
        if token.is_none_or(|(_, v)| v.trim().is_empty()) {
            return reply(StatusCode::UNAUTHORIZED, json!({ "errors": "[API] Invalid API key or access token" }));
        }
        let Ok(request) = serde_json::from_slice::<Value>(body) else {
            return reply(StatusCode::BAD_REQUEST, json!({ "errors": "body is not JSON" }));
        };
        let query = request.get("query").and_then(Value::as_str).unwrap_or_default();
        let variables = request.get("variables").cloned().unwrap_or(Value::Null);
        let operation = query.split(['(', '{']).next().unwrap_or_default().trim();
        let data = match operation {
            "query OrdersPage" => page("orders", &self.orders, &variables, true),
            "query OrderIds" => page("orders", &created_in(&self.orders, &variables), &variables, false),
            "query ProductsPage" => page("products", &self.products, &variables, false),
            "query ProductVariants" => json!({ "product": null }),
            "query FulfillmentOrderOrder" => self.fulfillment_order(&variables),
            "query WebhookSubscriptions" => self.subscriptions(),
            "mutation WebhookSubscriptionCreate" => self.create_subscription(&variables),
            "query OrderFulfillmentOrders" => self.fulfillment_orders(&variables),
            "mutation FulfillmentCreate" => self.create_fulfillment(&variables),
            "mutation FulfillmentTrackingInfoUpdate" => {
                let id = variables.get("fulfillmentId").cloned().unwrap_or(Value::Null);
                json!({ "fulfillmentTrackingInfoUpdate": { "fulfillment": { "id": id }, "userErrors": [] } })
            }
            "mutation MetafieldsSet" => {
                json!({ "metafieldsSet": { "metafields": [{ "id": "gid://shopify/Metafield/1" }], "userErrors": [] } })
            }
            "mutation MetafieldsDelete" => json!({ "metafieldsDelete": { "deletedMetafields": [], "userErrors": [] } }),
            // The simulator keeps no single orders or returns: a tie stays as stored, and a reverse
            // delivery of an unknown return is dropped.
            "query OrderRevision" => json!({ "order": null }),
            "query ReturnOrder" => json!({ "return": null }),
            other => {
                return reply(
                    StatusCode::OK,
                    json!({ "errors": [{ "message": format!("unknown operation `{other}`") }] }),
                );
            }
        };
        let cost = json!({ "requestedQueryCost": 10, "actualQueryCost": 10,
            "throttleStatus": { "maximumAvailable": 2000.0, "currentlyAvailable": 1990.0, "restoreRate": 100.0 } });
        reply(StatusCode::OK, json!({ "data": data, "extensions": { "cost": cost } }))
    }

    /// The token endpoint: `token-exchange` of a session token (any well-formed JWT; the app's own
    /// check already verified it) or `refresh_token` with a refresh token this simulator granted.
    fn access_token(&self, body: &[u8]) -> Response<Body> {
        let Ok(request) = serde_json::from_slice::<Value>(body) else {
            return reply(StatusCode::BAD_REQUEST, json!({ "error": "invalid_request" }));
        };
        let field = |name: &str| request.get(name).and_then(Value::as_str).unwrap_or_default();
        if field("client_id").is_empty() || field("client_secret").is_empty() {
            return reply(StatusCode::UNAUTHORIZED, json!({ "error": "invalid_client" }));
        }
        let mut state = self.state();
        match field("grant_type") {
            shared::integrations::shopify::oauth::TOKEN_EXCHANGE_GRANT
                if field("subject_token").split('.').count() == 3 => {}
            shared::integrations::shopify::oauth::TOKEN_EXCHANGE_GRANT => {
                return reply(StatusCode::BAD_REQUEST, json!({ "error": "invalid_subject_token" }));
            }
            shared::integrations::shopify::oauth::REFRESH_TOKEN_GRANT => {
                let presented = field("refresh_token").to_owned();
                let Some(at) = state.refresh_tokens.iter().position(|t| *t == presented) else {
                    return reply(StatusCode::BAD_REQUEST, json!({ "error": "invalid_grant" }));
                };
                // Shopify replaces the refresh token at every use.
                state.refresh_tokens.remove(at);
            }
            _ => return reply(StatusCode::BAD_REQUEST, json!({ "error": "unsupported_grant_type" })),
        }
        state.grants += 1;
        let n = state.grants;
        let refresh_token = format!("shprt_local_{n}");
        state.refresh_tokens.push(refresh_token.clone());
        reply(
            StatusCode::OK,
            json!({ "access_token": format!("shpat_local_{n}"), "scope": self.granted_scopes.join(","),
                    "expires_in": 3600, "refresh_token": refresh_token, "refresh_token_expires_in": 7_776_000 }),
        )
    }

    /// A fulfillment order's order: the simulator names fulfillment orders after their orders.
    fn fulfillment_order(&self, variables: &Value) -> Value {
        let id = variables.get("id").and_then(Value::as_str).unwrap_or_default();
        let order = id.replace("/FulfillmentOrder/", "/Order/").trim_end_matches("-fo").to_owned();
        json!({ "fulfillmentOrder": { "id": id, "orderId": order } })
    }

    /// Records a subscription, as the app's install flow would have created it.
    pub fn subscribe(&self, topic: &str, callback_url: &str) {
        self.state().subscriptions.push((topic.to_owned(), callback_url.to_owned()));
    }

    fn subscriptions(&self) -> Value {
        let nodes: Vec<Value> = self
            .state()
            .subscriptions
            .iter()
            .enumerate()
            .map(|(i, (topic, url))| {
                json!({ "id": format!("gid://shopify/WebhookSubscription/{}", i + 1), "topic": topic,
                        "endpoint": { "__typename": "WebhookHttpEndpoint", "callbackUrl": url } })
            })
            .collect();
        json!({ "webhookSubscriptions": { "nodes": nodes } })
    }

    fn create_subscription(&self, variables: &Value) -> Value {
        let topic = variables.get("topic").and_then(Value::as_str).unwrap_or_default().to_owned();
        let url = variables.pointer("/webhookSubscription/callbackUrl").and_then(Value::as_str).unwrap_or_default();
        self.subscribe(&topic, url);
        let id = self.state().subscriptions.len();
        json!({ "webhookSubscriptionCreate": {
            "webhookSubscription": { "id": format!("gid://shopify/WebhookSubscription/{id}"), "topic": topic },
            "userErrors": [],
        }})
    }

    fn fulfillment_orders(&self, variables: &Value) -> Value {
        let gid = variables.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
        if !self.orders.iter().any(|o| o.get("id").and_then(Value::as_str) == Some(&gid)) {
            return json!({ "order": null });
        }
        let state = self.state();
        let done: Vec<&Option<String>> = state.fulfillments.iter().filter(|(o, _)| *o == gid).map(|(_, t)| t).collect();
        let status = if done.is_empty() { "OPEN" } else { "CLOSED" };
        let fulfillments: Vec<Value> = done
            .iter()
            .enumerate()
            .map(|(i, number)| json!({ "id": format!("gid://shopify/Fulfillment/{i}"), "trackingInfo": [{ "number": number }] }))
            .collect();
        json!({ "order": {
            "id": gid,
            "fulfillmentOrders": { "nodes": [{ "id": format!("{}-fo", gid.replace("/Order/", "/FulfillmentOrder/")), "status": status }] },
            "fulfillments": fulfillments,
        }})
    }

    fn create_fulfillment(&self, variables: &Value) -> Value {
        let fo = variables
            .pointer("/fulfillment/lineItemsByFulfillmentOrder/0/fulfillmentOrderId")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let order = fo.replace("/FulfillmentOrder/", "/Order/").trim_end_matches("-fo").to_owned();
        let number = variables.pointer("/fulfillment/trackingInfo/number").and_then(Value::as_str).map(str::to_owned);
        self.state().fulfillments.push((order, number));
        json!({ "fulfillmentCreate": { "fulfillment": { "id": "gid://shopify/Fulfillment/1", "status": "SUCCESS" }, "userErrors": [] } })
    }
}

/// A page of `items` as the connection `field`, with offset cursors, as `edges` or as `nodes`.
/// The orders created in the window of the search query (`created_at:>='A' AND created_at:<'B'`), as
/// ids and times (reconciliation's `OrderIds`).
fn created_in(orders: &[Value], variables: &Value) -> Vec<Value> {
    let query = variables.get("query").and_then(Value::as_str).unwrap_or_default();
    let bound = |prefix: &str| {
        query
            .split(prefix)
            .nth(1)
            .and_then(|rest| rest.split('\'').next())
            .and_then(|t| t.parse::<DateTime<Utc>>().ok())
    };
    let (from, until) = (bound("created_at:>='"), bound("created_at:<'"));
    orders
        .iter()
        .filter(|o| {
            let created = o.get("createdAt").and_then(Value::as_str).and_then(|t| t.parse::<DateTime<Utc>>().ok());
            created.is_some_and(|c| from.is_none_or(|f| c >= f) && until.is_none_or(|u| c < u))
        })
        .map(|o| json!({ "id": o["id"], "createdAt": o["createdAt"], "updatedAt": o["updatedAt"] }))
        .collect()
}

fn page(field: &str, items: &[Value], variables: &Value, edges: bool) -> Value {
    let first = variables.get("first").and_then(Value::as_u64).unwrap_or(25).max(1) as usize;
    let start = variables.get("after").and_then(Value::as_str).and_then(|c| c.parse::<usize>().ok()).unwrap_or(0);
    let nodes: Vec<Value> = items.iter().skip(start).take(first).cloned().collect();
    let end = start + nodes.len();
    let info = json!({ "hasNextPage": end < items.len(), "endCursor": end.to_string() });
    if edges {
        let edges: Vec<Value> = nodes
            .into_iter()
            .enumerate()
            .map(|(i, node)| json!({ "cursor": (start + i + 1).to_string(), "node": node }))
            .collect();
        json!({ field: { "pageInfo": info, "edges": edges } })
    } else {
        json!({ field: { "pageInfo": info, "nodes": nodes } })
    }
}

fn reply(status: StatusCode, body: Value) -> Response<Body> {
    shared::http::json(status, &body)
}
