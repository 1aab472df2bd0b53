//! A small stand-in for Login with Amazon and the SP-API Orders and Sellers APIs, for the local stack.
//! It serves the sandbox-shaped samples in `events/spapi-sim/` (our own data, not Amazon's), checks that
//! every SP-API call carries an access token it issued, and pages `getOrders` with a `NextToken`. The
//! local stack points every SP-API base URL and the LWA token URL at it.

use std::{
    collections::HashMap,
    convert::Infallible,
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use anyhow::Context as _;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, StatusCode, body::Bytes, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// The samples, loaded once.
pub struct Samples {
    orders_page1: Value,
    orders_page2: Value,
    order_items: Value,
    search_orders: Value,
    participations: Value,
}

impl Samples {
    pub fn load(events_dir: &Path) -> anyhow::Result<Self> {
        let dir = events_dir.join("spapi-sim");
        let read = |name: &str| -> anyhow::Result<Value> {
            let path = dir.join(name);
            let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
        };
        Ok(Self {
            orders_page1: read("getOrders.page1.json")?,
            orders_page2: read("getOrders.page2.json")?,
            order_items: read("getOrderItems.json")?,
            search_orders: read("searchOrders.json")?,
            participations: read("marketplaceParticipations.json")?,
        })
    }
}

struct Simulator {
    samples: Samples,
    issued: AtomicU64,
}

const TOKEN_PREFIX: &str = "Atza|local-sim-";

fn reply(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
    response
}

fn error(status: StatusCode, code: &str, message: &str) -> Response<Full<Bytes>> {
    reply(status, &json!({ "errors": [{ "code": code, "message": message }] }))
}

impl Simulator {
    fn token(&self, body: &[u8]) -> Response<Full<Bytes>> {
        let form: HashMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
        let valid = form.get("grant_type").map(String::as_str) == Some("refresh_token")
            && form.get("refresh_token").is_some_and(|t| !t.is_empty())
            && form.get("client_id").is_some_and(|t| !t.is_empty())
            && form.get("client_secret").is_some_and(|t| !t.is_empty());
        if !valid {
            return reply(
                StatusCode::BAD_REQUEST,
                &json!({ "error": "invalid_request", "error_description": "refresh_token grant with client credentials expected" }),
            );
        }
        let n = self.issued.fetch_add(1, Ordering::Relaxed);
        reply(
            StatusCode::OK,
            &json!({ "access_token": format!("{TOKEN_PREFIX}{n}"), "token_type": "bearer", "expires_in": 3600 }),
        )
    }

    fn serve(
        &self,
        method: &str,
        path: &str,
        query: &HashMap<String, String>,
        token: Option<&str>,
        body: &[u8],
    ) -> Response<Full<Bytes>> {
        if method == "POST" && path == "/auth/o2/token" {
            return self.token(body);
        }
        if !token.is_some_and(|t| t.starts_with(TOKEN_PREFIX)) {
            return error(StatusCode::FORBIDDEN, "Unauthorized", "Access to requested resource is denied.");
        }
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        match (method, segments.as_slice()) {
            ("GET", ["sellers", "v1", "marketplaceParticipations"]) => {
                reply(StatusCode::OK, &self.samples.participations)
            }
            ("GET", ["orders", "v0", "orders"]) => {
                if !query.contains_key("MarketplaceIds") {
                    return error(StatusCode::BAD_REQUEST, "InvalidInput", "MarketplaceIds is required");
                }
                match query.get("NextToken").map(String::as_str) {
                    None => reply(StatusCode::OK, &self.samples.orders_page1),
                    Some("sim-page-2") => reply(StatusCode::OK, &self.samples.orders_page2),
                    Some(_) => error(StatusCode::BAD_REQUEST, "InvalidInput", "Invalid NextToken"),
                }
            }
            ("GET", ["orders", "v0", "orders", id, "orderItems"]) => match self.samples.order_items.get(*id) {
                Some(items) => reply(StatusCode::OK, items),
                None => error(StatusCode::NOT_FOUND, "NotFound", "The requested resource doesn't exist."),
            },
            ("GET", ["orders", "2026-01-01", "orders"]) => reply(StatusCode::OK, &self.samples.search_orders),
            ("GET", ["orders", "2026-01-01", "orders", id]) => {
                let found = self.samples.search_orders["orders"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|o| o["orderId"].as_str() == Some(*id));
                match found {
                    Some(order) => reply(StatusCode::OK, &json!({ "order": order })),
                    None => error(StatusCode::NOT_FOUND, "NotFound", "The requested resource doesn't exist."),
                }
            }
            _ => error(StatusCode::NOT_FOUND, "NotFound", "The requested resource doesn't exist."),
        }
    }
}

async fn handle(
    sim: Arc<Simulator>,
    request: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let query: HashMap<String, String> =
        url::form_urlencoded::parse(request.uri().query().unwrap_or_default().as_bytes()).into_owned().collect();
    let token = request.headers().get("x-amz-access-token").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    Ok(sim.serve(&method, &path, &query, token.as_deref(), &body))
}

/// Starts the simulator on a free loopback port and returns its base URL. It runs until the runtime
/// shuts down.
pub async fn start(samples: Samples) -> anyhow::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await.context("binding the SP-API simulator")?;
    let base = format!("http://{}", listener.local_addr()?);
    let sim = Arc::new(Simulator { samples, issued: AtomicU64::new(0) });
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let sim = sim.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| handle(sim.clone(), req));
                if let Err(e) = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await {
                    tracing::debug!(error = %e, "simulator connection closed");
                }
            });
        }
    });
    Ok(base)
}
