//! The integration test harness: a [`TestEnv`] is a local stack on its own table and queues in the
//! moto server, plus helpers to sign requests and read what landed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    path::PathBuf,
    sync::atomic::{AtomicU64, Ordering},
};

use chrono::Utc;
use lambda_http::{Body, Response};
use local_stack::{Settings, Stack, to_lambda_request};
use shared::{
    config::{Secret, ShopifyAppConfig},
    domain::{Integration, ShopDomain},
    integrations::shopify::{session, webhook},
    queue::Stage,
};

/// Builds function `$krate` as its `main` does, from the stack's environment: `deps!(stack, dlq_monitor)`.
#[macro_export]
macro_rules! deps {
    ($stack:expr, $krate:ident) => {
        $krate::connect($krate::Config::read(shared::aws::resolve_app_secret($stack.env()).await.unwrap()).unwrap())
            .await
    };
}

/// The project root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every queue's URL variable pointing at `stack`'s queue, for functions built from hand-made variables.
pub fn queue_vars(stack: &Stack) -> Vec<(String, String)> {
    shared::queue::schema::QUEUES
        .iter()
        .map(|def| (def.url_env.to_owned(), stack.queues[&def.stage].queue.clone()))
        .collect()
}

pub const API_KEY: &str = "dev-api-key";
pub const API_SECRET: &str = "dev-api-secret";

pub struct TestEnv {
    pub stack: std::sync::Arc<Stack>,
}

impl TestEnv {
    /// A stack on a fresh table and fresh queues (visibility timeout 1 s, so retries come quickly).
    pub async fn new() -> Self {
        Self::with_upstreams(&[(Integration::Shopify, "http://127.0.0.1:9/no-shopify/{shop}")]).await
    }

    /// A stack whose Shopify Admin API calls go to `admin_url` (`{shop}` stands for the shop), such as
    /// a wiremock server.
    pub async fn with_shopify(admin_url: &str) -> Self {
        Self::with_upstreams(&[(Integration::Shopify, admin_url)]).await
    }

    /// A stack whose integrations' upstream calls go to the given base URLs (one per integration, such
    /// as a wiremock server's); the others go to the built-in simulators.
    pub async fn with_upstreams(upstreams: &[(Integration, &str)]) -> Self {
        assert!(
            std::env::var("AWS_ENDPOINT_URL").is_ok(),
            "AWS_ENDPOINT_URL is not set: run the tests through `make test`, which starts the moto server"
        );
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let id = format!("t{}-{}", Utc::now().timestamp_micros(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let settings = Settings {
            port: 0,
            table_name: format!("orders-{id}"),
            queue_prefix: format!("{id}-"),
            shopify: ShopifyAppConfig {
                api_key: API_KEY.into(),
                api_secret: Secret::new(API_SECRET),
                previous_api_secret: Some(Secret::new("dev-previous-secret")),
            },
            demo_shop: ShopDomain::parse("demo-shop.myshopify.com").unwrap(),
            schedule_interval: std::time::Duration::from_secs(3600),
            events_dir: root().join("events"),
            seed: false,
            upstreams: upstreams.iter().map(|(i, url)| (*i, url.to_string())).collect(),
            required_scopes: local_stack::LOCAL_REQUIRED_SCOPES.split(',').map(str::to_owned).collect(),
        };
        Self { stack: std::sync::Arc::new(Stack::bootstrap(settings, Some(1)).await.unwrap()) }
    }

    /// POSTs `body` to the webhook endpoint as Shopify would, signed with the app secret.
    pub async fn deliver(&self, shop: &ShopDomain, topic: &str, webhook_id: &str, body: &[u8]) -> Response<Body> {
        let signature = webhook::sign(body, &Secret::new(API_SECRET));
        self.deliver_signed(shop, topic, webhook_id, body, &signature).await
    }

    /// Delivers as [`TestEnv::deliver`], with Shopify's `X-Shopify-Triggered-At`.
    pub async fn deliver_at(
        &self,
        shop: &ShopDomain,
        topic: &str,
        webhook_id: &str,
        body: &[u8],
        triggered_at: &str,
    ) -> Response<Body> {
        let signature = webhook::sign(body, &Secret::new(API_SECRET));
        let mut headers = Self::webhook_headers(shop, topic, webhook_id, &signature);
        headers.push(("X-Shopify-Triggered-At", triggered_at));
        self.request("POST", "/webhooks/shopify", &headers, body).await
    }

    fn webhook_headers<'a>(
        shop: &'a ShopDomain,
        topic: &'a str,
        webhook_id: &'a str,
        signature: &'a str,
    ) -> Vec<(&'a str, &'a str)> {
        vec![
            ("Content-Type", "application/json"),
            ("X-Shopify-Hmac-Sha256", signature),
            ("X-Shopify-Topic", topic),
            ("X-Shopify-Shop-Domain", shop.as_str()),
            ("X-Shopify-API-Version", "2026-07"),
            ("X-Shopify-Webhook-Id", webhook_id),
            ("X-Shopify-Event-Id", "event-1"),
        ]
    }

    pub async fn deliver_signed(
        &self,
        shop: &ShopDomain,
        topic: &str,
        webhook_id: &str,
        body: &[u8],
        signature: &str,
    ) -> Response<Body> {
        let headers = Self::webhook_headers(shop, topic, webhook_id, signature);
        self.request("POST", "/webhooks/shopify", &headers, body).await
    }

    pub async fn request(&self, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Response<Body> {
        let headers: Vec<(String, String)> = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.stack.dispatch(to_lambda_request(method, target, &headers, body).unwrap()).await
    }

    /// `GET target` with a fresh session token for `token_shop`.
    pub async fn get_as(&self, token_shop: &ShopDomain, target: &str) -> Response<Body> {
        let auth = format!("Bearer {}", token_for(token_shop));
        self.request("GET", target, &[("Authorization", &auth)], b"").await
    }

    /// Runs the ingest worker until its queue is empty. Returns how many records it processed.
    pub async fn drain_ingest(&self) -> usize {
        self.drain(Stage::Ingest, 0).await
    }

    /// Runs `stage`'s worker until a receive waiting `wait_seconds` finds nothing (wait longer than any
    /// delay a continuation carries). Returns how many records it processed.
    pub async fn drain(&self, stage: Stage, wait_seconds: i32) -> usize {
        let mut total = 0;
        loop {
            let (received, _) = self.stack.poll_once(stage, wait_seconds).await.unwrap();
            if received == 0 {
                return total;
            }
            total += received;
        }
    }

    /// Installs `shop` with `token` and `scopes`, as the install flow would.
    pub async fn install(&self, shop: &ShopDomain, token: &str, scopes: &[&str]) -> shared::store::ShopRecord {
        let scopes = scopes.iter().map(|s| s.to_string()).collect();
        shared::app::shops::install(
            &self.stack.shops,
            &self.stack.sealer,
            shop,
            &Secret::new(token),
            scopes,
            Utc::now(),
        )
        .await
        .unwrap()
    }

    /// Sends `message` to `stage`'s queue, as another stage would.
    pub async fn enqueue(&self, stage: Stage, message: &shared::queue::Message, delay_seconds: u32) {
        let urls = self.stack.queues.get(&stage).unwrap();
        self.stack
            .sqs
            .send_message()
            .queue_url(&urls.queue)
            .message_body(serde_json::to_string(message).unwrap())
            .delay_seconds(delay_seconds as i32)
            .send()
            .await
            .unwrap();
    }

    /// Takes every message waiting on `stage`'s queue off it, in the order received.
    pub async fn take_all(&self, stage: Stage) -> Vec<shared::queue::Message> {
        let urls = self.stack.queues.get(&stage).unwrap();
        let mut messages = Vec::new();
        loop {
            let received = self
                .stack
                .sqs
                .receive_message()
                .queue_url(&urls.queue)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .unwrap();
            let batch = received.messages.unwrap_or_default();
            if batch.is_empty() {
                return messages;
            }
            for m in batch {
                messages.push(serde_json::from_str(m.body.as_deref().unwrap()).unwrap());
                let handle = m.receipt_handle.unwrap();
                self.stack.sqs.delete_message().queue_url(&urls.queue).receipt_handle(handle).send().await.unwrap();
            }
        }
    }

    /// The shop's alerts, oldest first.
    pub async fn alerts(&self, shop: &ShopDomain) -> Vec<shared::domain::Alert> {
        use shared::store::AlertStore;
        self.stack.shops.alerts_since(shop, None, 1000).await.unwrap().into_iter().map(|(_, a)| a).collect()
    }
}

pub fn token_for(shop: &ShopDomain) -> String {
    session::sign(&session::claims_for(shop, API_KEY, "7", Utc::now(), 60), &Secret::new(API_SECRET))
}

/// The response body as JSON.
pub fn json_body(response: &Response<Body>) -> serde_json::Value {
    let bytes: &[u8] = match response.body() {
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => b"null",
    };
    serde_json::from_slice(bytes).unwrap()
}

/// A demo webhook body from `events/shopify/`.
pub fn demo_event(name: &str) -> Vec<u8> {
    std::fs::read(root().join("events/shopify").join(name)).unwrap()
}

/// `../shared/fixtures/<rel>`, or `None` with a plain note that the conformance test was skipped.
pub fn fixture(rel: &str) -> Option<PathBuf> {
    match shared::testing::shared_fixtures() {
        Some(dir) => Some(dir.join(rel)),
        None => {
            // Written straight to stderr: the test harness captures `eprintln!` of passing tests.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: ../shared/fixtures is absent, so the conformance check on {rel} did not run"
            );
            None
        }
    }
}

/// The requests wiremock received for the GraphQL operation named `operation` (e.g. `query OrdersPage`).
pub async fn graphql_requests(server: &wiremock::MockServer, operation: &str) -> Vec<wiremock::Request> {
    let all = server.received_requests().await.unwrap_or_default();
    all.into_iter().filter(|r| String::from_utf8_lossy(&r.body).contains(operation)).collect()
}

/// The `variables` of a GraphQL request.
pub fn graphql_variables(request: &wiremock::Request) -> serde_json::Value {
    serde_json::from_slice::<serde_json::Value>(&request.body).unwrap()["variables"].clone()
}
