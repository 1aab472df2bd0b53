//! A small MasonHub simulator for the local stack: `POST /local/masonhub/{slug}/api/v1/{callbacks,
//! orders, order_update_requests, order_cancel_requests}` and `GET …/orders`. Orders get per-record
//! results (a line with [`FAILING_SKU`] fails, a `customer_identifier` seen before is "already
//! taken"); like the sandbox's `data_factory/shipOrder`, each accepted order is shipped a moment later:
//! an `orderEvent` callback with a shipment and a tracking number goes to the registered callback URL.
//! Update and cancel requests are resolved by their resolution callbacks. It is not MasonHub: bearer
//! tokens are accepted without checking, and nothing is persisted.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use lambda_http::{Body, Response, http::StatusCode};
use serde_json::{Value, json};

pub const ROUTE_PREFIX: &str = "/local/masonhub";
/// A SKU MasonHub's item master does not know: its orders fail with a per-record error.
pub const FAILING_SKU: &str = "DEMO-DISCONTINUED";

#[derive(Debug, Default)]
struct State {
    /// Registered callbacks by (account, message type): (URL, token).
    callbacks: HashMap<(String, String), (String, String)>,
    /// Accepted orders by (account, customer_identifier).
    orders: HashMap<(String, String), Value>,
}

#[derive(Debug, Clone)]
pub struct Simulator {
    state: Arc<Mutex<State>>,
    ship_after: Duration,
    http: reqwest::Client,
}

impl Simulator {
    /// Ships accepted orders `ship_after` their acceptance.
    pub fn new(ship_after: Duration) -> Self {
        Self { state: Arc::default(), ship_after, http: reqwest::Client::new() }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The orders the simulator accepted for `slug`'s account.
    /// The account's orders as `GET /orders` lists them: MasonHub's id, and `open` until the simulated
    /// shipment goes out, then `fulfilled` with its tracking number.
    pub fn orders(&self, slug: &str) -> Vec<Value> {
        let now = chrono::Utc::now().timestamp_millis();
        let state = self.state();
        let listed = state.orders.iter().filter(|((s, _), _)| s == slug).map(|((_, id), record)| {
            let mut order = record.clone();
            let shipped = record.get("sim_ships_at").and_then(Value::as_i64).is_some_and(|at| at <= now);
            order["id"] = json!(format!("mh-{id}"));
            order["status"] = json!(if shipped { "fulfilled" } else { "open" });
            if !shipped && let Some(map) = order.as_object_mut() {
                map.remove("tracking_numbers");
            }
            if let Some(map) = order.as_object_mut() {
                map.remove("sim_ships_at");
            }
            order
        });
        listed.collect()
    }

    /// Answers one request under [`ROUTE_PREFIX`] (`rest` is the path after it: `/{slug}/api/v1/...`).
    pub fn handle(&self, method: &str, rest: &str, body: &[u8]) -> Response<Body> {
        let path = rest.split('?').next().unwrap_or_default();
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let [slug, "api", "v1", resource] = parts.as_slice() else {
            return reply(StatusCode::NOT_FOUND, json!({ "message": "Not Found" }));
        };
        let slug = (*slug).to_owned();
        let records = || serde_json::from_slice::<Vec<Value>>(body).unwrap_or_default();
        match (method, *resource) {
            ("POST", "callbacks") => {
                let mut state = self.state();
                let answers: Vec<Value> = records()
                    .iter()
                    .map(|r| {
                        let text = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
                        state.callbacks.insert((slug.clone(), text("message_type")), (text("url"), text("token")));
                        json!({ "message_type": text("message_type"), "status": "Success", "url": text("url"),
                                "messages": ["Callback url updated successfuly."] })
                    })
                    .collect();
                reply(StatusCode::OK, Value::Array(answers))
            }
            ("POST", "orders") => {
                let results: Vec<Value> = records().into_iter().map(|r| self.accept(&slug, r)).collect();
                reply(StatusCode::OK, batch(results))
            }
            ("POST", kind @ ("order_update_requests" | "order_cancel_requests")) => {
                let message_type =
                    if kind == "order_update_requests" { "orderUpdateResolution" } else { "orderCancelResolution" };
                let results: Vec<Value> = records()
                    .into_iter()
                    .map(|r| {
                        let id = r.get("customer_identifier").and_then(Value::as_str).unwrap_or_default().to_owned();
                        let resolution =
                            json!([{ "id": format!("res-{id}"), "customer_order_id": id, "status": "success" }]);
                        self.call_back(&slug, message_type, resolution, Duration::from_millis(500));
                        json!({ "customer_identifier": id, "status": "Success", "system_id": format!("req-{id}") })
                    })
                    .collect();
                reply(StatusCode::OK, batch(results))
            }
            ("GET", "orders") => reply(StatusCode::OK, Value::Array(self.orders(&slug))),
            _ => reply(StatusCode::NOT_FOUND, json!({ "message": "Not Found" })),
        }
    }

    fn accept(&self, slug: &str, record: Value) -> Value {
        let id = record.get("customer_identifier").and_then(Value::as_str).unwrap_or_default().to_owned();
        let lines = record.get("line_items").and_then(Value::as_array).cloned().unwrap_or_default();
        let unknown: Vec<String> = lines
            .iter()
            .filter_map(|l| l.get("sku_customer_id").and_then(Value::as_str))
            .filter(|sku| *sku == FAILING_SKU)
            .map(|sku| format!("'{sku}' is not in the item master"))
            .collect();
        if !unknown.is_empty() {
            return json!({ "customer_identifier": id, "status": "Failure",
                           "messages": [{ "field_name": "line_items", "errors": unknown }] });
        }
        let key = (slug.to_owned(), id.clone());
        let tracking = format!("1ZSIM{:08}", id.len() * 7919 % 100_000_000);
        let mut listed = record.clone();
        let ships_at = chrono::Utc::now() + self.ship_after;
        listed["sim_ships_at"] = json!(ships_at.timestamp_millis());
        listed["tracking_numbers"] = json!([{ "shipping_provider": "UPS", "tracking_number": tracking }]);
        if self.state().orders.insert(key, listed).is_some() {
            return json!({ "customer_identifier": id, "status": "Failure", "messages": [{ "field_name": "customer_identifier",
                "errors": [format!("301: '{id}' is already taken and 'customer_identifier' must be unique")] }] });
        }
        let shipment = json!([{
            "id": format!("mh-{id}"),
            "customer_identifier": id,
            "status": "fulfilled",
            "shipments": [{
                "shipment_id": format!("ship-{id}"),
                "customer_order_id": id,
                "shipping_provider": "UPS",
                "shipper_service_level": record.get("shipper_service_level").cloned().unwrap_or(json!("ground")),
                "tracking_number": tracking,
                "tracking_url": "https://www.ups.com/track",
                "shipment_date_time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "shipment_line_items": lines.iter().map(|l| json!({ "sku_customer_id": l["sku_customer_id"], "quantity": l["quantity"] })).collect::<Vec<_>>(),
            }],
        }]);
        self.call_back(slug, "orderEvent", shipment, self.ship_after);
        json!({ "customer_identifier": id, "status": "Success", "system_id": format!("mh-{id}") })
    }

    /// Posts a `message_type` callback with `data` to the registered URL after `delay`.
    fn call_back(&self, slug: &str, message_type: &str, data: Value, delay: Duration) {
        let Some((url, token)) = self.state().callbacks.get(&(slug.to_owned(), message_type.to_owned())).cloned()
        else {
            tracing::warn!(message_type, "simulated MasonHub has no callback registered; nothing sent");
            return;
        };
        let envelope = json!({
            "callback_url": url,
            "message_type": message_type,
            "message_id": format!("sim-{}-{}", message_type, chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()),
            "data": data,
        });
        let http = self.http.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            match http.post(&url).bearer_auth(&token).json(&envelope).send().await {
                Ok(response) => tracing::info!(status = response.status().as_u16(), "simulated MasonHub called back"),
                Err(e) => tracing::warn!(error = %e, "simulated MasonHub could not call back"),
            }
        });
    }
}

fn batch(results: Vec<Value>) -> Value {
    let failed = results.iter().filter(|r| r["status"] == "Failure").count();
    json!({ "records_submitted": results.len(), "records_processed": results.len(), "records_failed": failed,
            "records_succeeded": results.len() - failed, "results": results })
}

fn reply(status: StatusCode, body: Value) -> Response<Body> {
    shared::http::json(status, &body)
}
