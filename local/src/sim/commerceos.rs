//! A small CommerceOS simulator for the local stack, served under `/local/commerceos/{tenant}`: the
//! OAuth2 token endpoint, `GET /api/v1/scopes` (tenant `readonly` holds read scopes only), mapped
//! types, sync-webhooks, the trade-order upsert (201, then 200) and its actions with seed 004's state
//! rules (addresses only while New/Reserved, `tryApprove` from New/Reserved, `tryCancel` only when
//! Committed, `createShipment` only when Committed, `createPayment` idempotent on its transaction id; a
//! line with [`OUT_OF_STOCK_SKU`] makes `tryApprove` answer 409), shipment orders with `release`. Like
//! CommerceOS's scheduled sync-webhooks, it calls back a moment after a change: the order status after
//! an approval or a cancel, and a released shipment's progress (Released, then Transiting with tracking,
//! then Acquired). The batch status check (`trade-orders/after(create)/{time}~where(identifiers/…)`,
//! `~skip`, `~take`) lists them for reconciliation. Once the new-order sync-webhook is configured it reports one order born in
//! CommerceOS, signing in at the configured token URL. It is not CommerceOS: credentials are accepted
//! without checking, and nothing is persisted.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use lambda_http::{Body, Response, http::StatusCode};
use serde_json::{Value, json};

pub const ROUTE_PREFIX: &str = "/local/commerceos";
/// A SKU CommerceOS has no stock of: approving its order answers 409.
pub const OUT_OF_STOCK_SKU: &str = "DEMO-DISCONTINUED";

#[derive(Debug, Default)]
struct TradeOrder {
    /// Our identifier value (the `key=value` we addressed it by).
    identifier: String,
    status: String,
    body: Value,
    payments: Vec<String>,
    /// When it was created (its `timestamp`).
    created_at: String,
}

#[derive(Debug, Default)]
struct State {
    orders: HashMap<(String, String), TradeOrder>,
    /// Shipment orders: key → (tenant, order address, status).
    shipments: HashMap<String, (String, String, String)>,
    /// Sync-webhooks by (tenant, name): the body.
    hooks: HashMap<(String, String), Value>,
    born_reported: bool,
}

#[derive(Debug, Clone)]
pub struct Simulator {
    state: Arc<Mutex<State>>,
    step: Duration,
    http: reqwest::Client,
}

impl Simulator {
    /// Calls back `step` after each change (a shipment's progress in steps of it).
    pub fn new(step: Duration) -> Self {
        Self { state: Arc::default(), step, http: reqwest::Client::new() }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The status of the trade order addressed by `address` (`key=value`) in `tenant`.
    pub fn order_status(&self, tenant: &str, address: &str) -> Option<String> {
        self.state().orders.get(&(tenant.to_owned(), address.to_owned())).map(|o| o.status.clone())
    }

    /// Answers one request under [`ROUTE_PREFIX`] (`rest` is the path after it).
    pub fn handle(&self, method: &str, rest: &str, body: &[u8]) -> Response<Body> {
        let path = rest.split('?').next().unwrap_or_default();
        let path = percent_decode(path);
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let json_body = || serde_json::from_slice::<Value>(body).unwrap_or(Value::Null);
        match (method, parts.as_slice()) {
            ("POST", [_, "oauth2", "v1", "token"]) => reply(
                StatusCode::OK,
                json!({ "access_token": "sim-cos-token", "token_type": "Bearer", "expires_in": 3600 }),
            ),
            ("GET", [tenant, "api", "v1", "scopes"]) => {
                let scopes: &[&str] = if *tenant == "readonly" {
                    &["read:orders", "read:payments", "read:shipments"]
                } else {
                    &[
                        "read:orders",
                        "write:orders",
                        "read:payments",
                        "write:payments",
                        "read:shipments",
                        "write:shipments",
                    ]
                };
                reply(StatusCode::OK, json!(scopes))
            }
            ("PUT", [_, "api", "v1", "mapped-types", _]) => reply(StatusCode::OK, json_body()),
            ("GET", [_, "api", "v1", "mapped-types", id]) => {
                let name = id.split('~').next().unwrap_or_default().rsplit('=').next().unwrap_or_default();
                reply(StatusCode::OK, json!({ "identifiers": { "key": format!("mt-{name}") } }))
            }
            ("PUT", [tenant, "api", "v1", "sync-webhooks", id]) => {
                let name = id.rsplit('=').next().unwrap_or_default().to_owned();
                let hook = json_body();
                self.state().hooks.insert(((*tenant).to_owned(), name.clone()), hook.clone());
                if name == "order-created-webhook" {
                    self.report_born_order(tenant);
                }
                reply(StatusCode::OK, hook)
            }
            ("PUT", [tenant, "api", "v1", "trade-orders", address]) => {
                let mut state = self.state();
                let key = ((*tenant).to_owned(), (*address).to_owned());
                let created = !state.orders.contains_key(&key);
                let identifier = address.split_once('=').map(|(_, v)| v.to_owned()).unwrap_or_default();
                let order = state.orders.entry(key).or_insert_with(|| TradeOrder {
                    identifier,
                    status: "New".into(),
                    created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    ..Default::default()
                });
                order.body = json_body();
                reply(if created { StatusCode::CREATED } else { StatusCode::OK }, json!({ "status": [order.status] }))
            }
            ("PATCH", [tenant, "api", "v1", "trade-orders", address, "actions"]) => {
                self.action(tenant, address, &json_body())
            }
            ("GET", [tenant, "api", "v1", "trade-orders", address, "shipments"]) => {
                let state = self.state();
                let list: Vec<Value> = state
                    .shipments
                    .iter()
                    .filter(|(_, (t, a, _))| t == tenant && a == address)
                    .map(|(key, (_, _, status))| json!({ "identifiers": { "key": key }, "status": [status] }))
                    .collect();
                reply(StatusCode::OK, Value::Array(list))
            }
            ("PATCH", [tenant, "api", "v1", "shipment-orders", key, "actions"]) => {
                let mut state = self.state();
                let Some((_, address, status)) = state.shipments.get_mut(*key) else {
                    return reply(StatusCode::NOT_FOUND, json!({ "message": "no such shipment order" }));
                };
                if json_body().get("release").is_none() {
                    return reply(StatusCode::BAD_REQUEST, json!({ "message": "only release is exposed" }));
                }
                if status != "New" {
                    return reply(StatusCode::OK, json!({ "status": [status] }));
                }
                *status = "Released".into();
                let address = address.clone();
                let identifier = state
                    .orders
                    .get(&((*tenant).to_owned(), address))
                    .map(|o| o.identifier.clone())
                    .unwrap_or_default();
                drop(state);
                self.ship(tenant, key, &identifier);
                reply(StatusCode::OK, json!({ "status": ["Released"] }))
            }
            // The batch status check on the placement-time view:
            // `trade-orders/after(create)/{time}~where(identifiers/{key}={value})~…~skip(n)~take(m)` (the
            // filter's `/` splits the path).
            ("GET", [tenant, "api", "v1", "trade-orders", "after(create)", head, query])
                if head.ends_with("~where(identifiers") =>
            {
                let after = head.trim_end_matches("~where(identifiers");
                self.list(tenant, after, query)
            }
            _ => reply(StatusCode::NOT_FOUND, json!({ "message": "Not Found" })),
        }
    }

    /// The tenant's trade orders placed from `after` on whose identifier `key` is `value`, oldest first,
    /// paged.
    fn list(&self, tenant: &str, after: &str, query: &str) -> Response<Body> {
        let Some((condition, operators)) = query.split_once(')') else {
            return reply(StatusCode::BAD_REQUEST, json!({ "message": "unbalanced ~where" }));
        };
        let (key, value) = condition.split_once('=').unwrap_or_default();
        let operator = |name: &str| {
            operators
                .split(&format!("~{name}("))
                .nth(1)
                .and_then(|rest| rest.split(')').next())
                .and_then(|n| n.parse().ok())
        };
        let (skip, take): (usize, usize) = (operator("skip").unwrap_or(0), operator("take").unwrap_or(100));
        let state = self.state();
        let mut matching: Vec<&TradeOrder> = state
            .orders
            .iter()
            .filter(|((t, _), o)| {
                t == tenant && o.body.pointer(&format!("/identifiers/{key}")).and_then(Value::as_str) == Some(value)
            })
            .map(|(_, o)| o)
            .filter(|o| o.created_at.as_str() >= after)
            .collect();
        matching.sort_by(|a, b| a.created_at.cmp(&b.created_at));
        let list: Vec<Value> = matching
            .into_iter()
            .skip(skip)
            .take(take)
            .map(|o| json!({ "identifiers": o.body["identifiers"], "status": [o.status], "timestamp": o.created_at }))
            .collect();
        reply(StatusCode::OK, Value::Array(list))
    }

    fn action(&self, tenant: &str, address: &str, body: &Value) -> Response<Body> {
        let mut state = self.state();
        let key = (tenant.to_owned(), address.to_owned());
        let Some(order) = state.orders.get_mut(&key) else {
            return reply(StatusCode::NOT_FOUND, json!({ "message": "no such trade order" }));
        };
        let refuse = |why: &str| reply(StatusCode::BAD_REQUEST, json!({ "message": why }));
        let open = matches!(order.status.as_str(), "New" | "Reserved");
        let mut callback = None;
        if body.get("changeDeliveryAddress").is_some() || body.get("changeInvoiceAddress").is_some() {
            if !open {
                return refuse("addresses can only change while the order is New or Reserved");
            }
        } else if let Some(payment) = body.get("createPayment") {
            let id = payment.get("transactionId").and_then(Value::as_str).unwrap_or_default().to_owned();
            if !order.payments.contains(&id) {
                order.payments.push(id);
            }
        } else if body.get("tryApprove").is_some() {
            if !open {
                return refuse("only New or Reserved orders can be approved");
            }
            let out: Vec<String> = order.body["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|i| i["product"]["identifiers"].as_object())
                .flat_map(|ids| ids.values().filter_map(Value::as_str).map(str::to_owned).collect::<Vec<_>>())
                .filter(|sku| sku == OUT_OF_STOCK_SKU)
                .collect();
            if !out.is_empty() {
                return reply(
                    StatusCode::CONFLICT,
                    json!({ "message": format!("Insufficient stock for {}", out.join(", ")) }),
                );
            }
            order.status = "Committed".into();
            callback = Some(order.identifier.clone());
        } else if body.get("tryCancel").is_some() {
            if order.status != "Committed" {
                return refuse("only Committed orders can be cancelled");
            }
            order.status = "Cancelled".into();
            callback = Some(order.identifier.clone());
        } else if body.get("createShipment").is_some() {
            if order.status != "Committed" {
                return refuse("only Committed orders can ship");
            }
            let n = state.shipments.len() + 1;
            state.shipments.insert(format!("so-{n}"), (tenant.to_owned(), address.to_owned(), "New".into()));
        } else {
            return refuse("unknown action");
        }
        let status = state.orders.get(&key).map(|o| o.status.clone()).unwrap_or_default();
        drop(state);
        if let Some(identifier) = callback {
            let body =
                json!({ "orderId": identifier, "status": [status], "timestamp": chrono::Utc::now().to_rfc3339() });
            self.call_back(tenant, "order-status-push", vec![(self.step, body)]);
        }
        reply(StatusCode::OK, json!({ "status": [status] }))
    }

    /// A released shipment's progress: Released, Transiting with tracking, Acquired.
    fn ship(&self, tenant: &str, key: &str, identifier: &str) {
        let body = |status: &str, tracking: bool| {
            let mut body = json!({ "shipmentId": key, "orderId": identifier, "status": [status] });
            if tracking {
                body["trackingNumber"] = json!(format!("1ZCOS{:08}", identifier.len() * 7907 % 100_000_000));
                body["trackingUrl"] = json!("https://www.ups.com/track");
                body["carrier"] = json!("UPS");
            }
            body
        };
        let steps = vec![
            (self.step, body("Released", false)),
            (self.step * 2, body("Transiting", true)),
            (self.step * 3, body("Acquired", true)),
        ];
        self.call_back(tenant, "shipment-completed-webhook", steps);
        if let Some(entry) = self.state().shipments.get_mut(key) {
            entry.2 = "Acquired".into();
        }
    }

    /// Posts each body to the sync-webhook `hook`'s URL after its delay, with its static header.
    fn call_back(&self, tenant: &str, hook: &str, steps: Vec<(Duration, Value)>) {
        let Some(config) = self.state().hooks.get(&(tenant.to_owned(), hook.to_owned())).cloned() else {
            tracing::warn!(hook, "simulated CommerceOS has no such sync-webhook; nothing sent");
            return;
        };
        let url = config["out"]["url"].as_str().unwrap_or_default().to_owned();
        let header = config["out"]["auth"]["authorizationHeader"].as_str().unwrap_or_default().to_owned();
        let http = self.http.clone();
        tokio::spawn(async move {
            for (delay, body) in steps {
                tokio::time::sleep(delay).await;
                match http.post(&url).header("authorization", &header).json(&json!([body])).send().await {
                    Ok(response) => {
                        tracing::info!(status = response.status().as_u16(), "simulated CommerceOS called back")
                    }
                    Err(e) => tracing::warn!(error = %e, "simulated CommerceOS could not call back"),
                }
            }
        });
    }

    /// Reports one order born in CommerceOS (a B2B order) to the new-order sync-webhook, signing in
    /// at its token URL with its client credentials, as CommerceOS's `clientCredentials` auth does.
    fn report_born_order(&self, tenant: &str) {
        let config = {
            let mut state = self.state();
            if state.born_reported {
                return;
            }
            state.born_reported = true;
            state.hooks.get(&(tenant.to_owned(), "order-created-webhook".to_owned())).cloned()
        };
        let Some(config) = config else { return };
        let out = config["out"].clone();
        let http = self.http.clone();
        let step = self.step;
        tokio::spawn(async move {
            tokio::time::sleep(step).await;
            let auth = &out["auth"]["clientCredentials"];
            let form = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("grant_type", "client_credentials")
                .append_pair("client_id", auth["client_id"].as_str().unwrap_or_default())
                .append_pair("client_secret", auth["client_secret"].as_str().unwrap_or_default())
                .finish();
            let token = http
                .post(auth["tokenUrl"].as_str().unwrap_or_default())
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form)
                .send()
                .await;
            let token = match token {
                Ok(r) => r.json::<Value>().await.ok().and_then(|v| v["access_token"].as_str().map(str::to_owned)),
                Err(_) => None,
            };
            let Some(token) = token else {
                tracing::warn!("simulated CommerceOS could not sign in at the token URL");
                return;
            };
            let born = json!([{ "identifiers": { "key": "TO-B2B-1", "com.demo.order-id": "B2B-PO-4711" }, "status": ["New"],
                "customer": { "identifiers": { "key": "C-ACME" }, "name": "Acme Retail AB" },
                "currency": { "identifiers": { "currencyCode": "SEK" } },
                "items": [{ "product": { "identifiers": { "com.demo.sku": "DEMO-HOOD-M-NVY" } }, "quantity": 12 }],
                "deliveryAddresses": [{ "line1": "Delivery Street 123", "postalCode": "11122", "cityName": "Stockholm", "countryCode": "SE" }] }]);
            let url = out["url"].as_str().unwrap_or_default();
            match http.post(url).bearer_auth(token).json(&born).send().await {
                Ok(response) => {
                    tracing::info!(status = response.status().as_u16(), "simulated CommerceOS reported a new order")
                }
                Err(e) => tracing::warn!(error = %e, "simulated CommerceOS could not report a new order"),
            }
        });
    }
}

fn percent_decode(path: &str) -> String {
    url::form_urlencoded::parse(format!("p={}", path.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| path.to_owned())
}

fn reply(status: StatusCode, body: Value) -> Response<Body> {
    shared::http::json(status, &body)
}
