//! The local stack: every function of the bundle in one process, against the moto server reached through
//! the SDK's `AWS_ENDPOINT_URL`. HTTP requests become real API Gateway v2 events, queue messages become
//! real `SqsEvent` batches (partial failures stay on the queue until their visibility timeout), and
//! schedules tick at a configurable interval. The functions run exactly the code they run in Lambda.

use std::{collections::HashMap, convert::Infallible, net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context as _;
use aws_lambda_events::sqs::SqsEvent;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use base64::{Engine, engine::general_purpose::STANDARD};
use http_body_util::{BodyExt, Full};
use hyper::{body::Bytes, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use lambda_runtime::{Context, LambdaEvent};
use shared::{
    clock::{Clock, SystemClock},
    config::{ConfigError, Env, ShopifyAppConfig},
    domain::{Integration, ShopDomain},
    integrations::shopify::{session, webhook},
    queue::{
        Stage,
        schema::{self, QueueUrls},
    },
    sse::SseBody,
};
use tokio::net::TcpListener;

pub mod registry;
pub mod sim;

pub use registry::{FUNCTIONS, Function, Handler, Trigger, route};

/// The local stack's settings. The defaults here are the only defaults in the code base: deployed
/// functions get every value from their environment.
#[derive(Debug, Clone)]
pub struct Settings {
    pub port: u16,
    pub table_name: String,
    pub queue_prefix: String,
    pub shopify: ShopifyAppConfig,
    pub demo_shop: ShopDomain,
    pub schedule_interval: Duration,
    pub events_dir: PathBuf,
    pub seed: bool,
    /// Each integration's upstream base URL, where it is not the built-in simulator: Shopify's Admin
    /// API base (`{shop}` stands for the shop), Amazon's SP-API and LWA base, MasonHub's API base
    /// (`{slug}` stands for the account).
    pub upstreams: HashMap<Integration, String>,
    /// The scopes the app requires (`SHOPIFY_REQUIRED_SCOPES`); the simulator grants exactly these.
    pub required_scopes: Vec<String>,
}

const DEFAULTS: &[(&str, &str)] = &[
    ("PORT", "3000"),
    ("TABLE_NAME", "order-sync-local"),
    ("QUEUE_PREFIX", "order-sync-local-"),
    ("SHOPIFY_API_KEY", "dev-api-key"),
    ("SHOPIFY_API_SECRET", "dev-api-secret"),
    ("DEMO_SHOP", "demo-shop.myshopify.com"),
    ("SCHEDULE_INTERVAL_SECONDS", "60"),
    ("EVENTS_DIR", "events"),
    ("SEED_DEMO", "true"),
    ("SHOPIFY_REQUIRED_SCOPES", LOCAL_REQUIRED_SCOPES),
];

/// The scopes the local app requires (and its simulator grants).
pub const LOCAL_REQUIRED_SCOPES: &str = "read_orders,read_all_orders,write_orders,read_products,read_inventory,read_fulfillments,write_fulfillments,read_returns";

impl Settings {
    /// The defaults above, overridden by the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::read(Env::from_map(DEFAULTS.iter().map(|(k, v)| (k.to_string(), v.to_string())).chain(std::env::vars())))
    }

    pub fn read(mut env: Env) -> Result<Self, ConfigError> {
        let demo_shop = env.required("DEMO_SHOP");
        let settings = Self {
            port: env.parsed("PORT", 3000, |v| v.parse().ok()),
            table_name: env.required("TABLE_NAME"),
            queue_prefix: env.required("QUEUE_PREFIX"),
            shopify: ShopifyAppConfig::read(&mut env),
            demo_shop: ShopDomain::parse(&demo_shop).map_err(|_| ConfigError {
                missing: Vec::new(),
                invalid: vec![("DEMO_SHOP".into(), format!("`{demo_shop}` is not a shop domain"))],
            })?,
            schedule_interval: Duration::from_secs(env.parsed("SCHEDULE_INTERVAL_SECONDS", 60, |v| v.parse().ok())),
            events_dir: PathBuf::from(env.required("EVENTS_DIR")),
            seed: env.parsed("SEED_DEMO", true, |v| v.parse().ok()),
            upstreams: HashMap::new(),
            required_scopes: env
                .required("SHOPIFY_REQUIRED_SCOPES")
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        };
        let upstreams = [
            (Integration::Shopify, "SHOPIFY_ADMIN_URL"),
            (Integration::Amazon, "SPAPI_URL"),
            (Integration::MasonHub, "MASONHUB_URL"),
            (Integration::CommerceOs, "COMMERCEOS_URL"),
        ]
        .into_iter()
        .filter_map(|(integration, name)| env.optional(name).map(|url| (integration, url)))
        .collect();
        let settings = Settings { upstreams, ..settings };
        env.finish().map(|()| settings)
    }
}

impl Settings {
    /// Shopify's Admin API base: the configured upstream, else the built-in simulator.
    pub fn shopify_admin_url(&self) -> String {
        self.upstreams
            .get(&Integration::Shopify)
            .cloned()
            .unwrap_or_else(|| format!("http://127.0.0.1:{}{}/{{shop}}", self.port, sim::shopify::ROUTE_PREFIX))
    }
}

impl Settings {
    /// MasonHub's API base: the configured upstream, else the built-in simulator.
    pub fn masonhub_url(&self) -> String {
        self.upstreams
            .get(&Integration::MasonHub)
            .cloned()
            .unwrap_or_else(|| format!("http://127.0.0.1:{}{}/{{slug}}/api/v1", self.port, sim::masonhub::ROUTE_PREFIX))
    }
}

impl Settings {
    /// CommerceOS tenants' root (`{tenant}` stands for the tenant): the configured upstream, else the
    /// built-in simulator.
    pub fn commerceos_url(&self) -> String {
        self.upstreams
            .get(&Integration::CommerceOs)
            .cloned()
            .unwrap_or_else(|| format!("http://127.0.0.1:{}{}/{{tenant}}", self.port, sim::commerceos::ROUTE_PREFIX))
    }
}

/// Every function, wired to the local table and queues.
pub struct Stack {
    pub settings: Settings,
    pub queues: HashMap<Stage, QueueUrls>,
    pub sqs: aws_sdk_sqs::Client,
    /// Every function of [`FUNCTIONS`], built from the same environment.
    handlers: Vec<(&'static Function, Handler)>,
    /// The environment the functions are built from (their `Config::read` input).
    vars: Vec<(String, String)>,
    /// The built-in Shopify Admin API simulator the local stack points the poller at.
    pub simulator: sim::shopify::Simulator,
    /// The local SP-API/LWA simulator every SP-API base URL points at.
    pub spapi_sim_url: String,
    /// The MasonHub simulator (served under `/local/masonhub`).
    pub masonhub_sim: sim::masonhub::Simulator,
    /// The CommerceOS simulator (served under `/local/commerceos`).
    pub commerceos_sim: sim::commerceos::Simulator,
    /// Local-only shop installs (`POST /local/shops`): the store and the KMS key they use.
    pub shops: shared::store::dynamo::DynamoStore,
    pub sealer: shared::secrets::KmsSealer,
}

/// The local-only route that installs a shop, standing in for the OAuth install flow.
pub const LOCAL_INSTALL_ROUTE: &str = "/local/shops";
/// The KMS key alias of the local stack.
pub const LOCAL_KEY_ALIAS: &str = "alias/order-sync-local";

fn internal_error() -> lambda_http::Response<lambda_http::Body> {
    shared::http::json(
        lambda_http::http::StatusCode::INTERNAL_SERVER_ERROR,
        &serde_json::json!({ "error": "internal error", "code": "INTERNAL" }),
    )
}

impl Stack {
    /// Creates the table and queues (from the same definitions the code uses) and builds each function
    /// from the same `Config::read` it uses in Lambda, fed with the local environment.
    pub async fn bootstrap(settings: Settings, visibility_override: Option<u32>) -> anyhow::Result<Self> {
        let sdk = shared::aws::sdk_config().await;
        let dynamodb = shared::aws::dynamodb(&sdk);
        let sqs = shared::aws::sqs(&sdk);
        shared::store::schema::create_table(&dynamodb, &settings.table_name).await.context("creating the table")?;
        let queues = schema::create_queues(&sqs, &settings.queue_prefix, visibility_override)
            .await
            .context("creating the queues")?;

        let payload_bucket = format!("{}payloads", settings.queue_prefix);
        shared::queue::claims::ensure_bucket(&shared::aws::s3(&sdk), &payload_bucket, sdk.region().map(|r| r.as_ref()))
            .await
            .context("creating the claim-check bucket")?;
        let app_secret = shared::aws::AppSecret {
            api_secret: settings.shopify.api_secret.expose().to_owned(),
            previous_api_secret: settings.shopify.previous_api_secret.as_ref().map(|s| s.expose().to_owned()),
        };
        let app_secret_id = shared::aws::ensure_app_secret(
            &shared::aws::secretsmanager(&sdk),
            &format!("{}shopify-app", settings.queue_prefix),
            &app_secret,
        )
        .await
        .context("storing the app secret")?;
        let kms = shared::aws::kms(&sdk);
        let key_id = shared::secrets::ensure_key(&kms, LOCAL_KEY_ALIAS).await.context("creating the local KMS key")?;
        let mut vars = vec![
            ("TABLE_NAME".to_owned(), settings.table_name.clone()),
            (shared::queue::claims::BUCKET_ENV.to_owned(), payload_bucket),
            ("SECRETS_KEY_ID".to_owned(), key_id.clone()),
            ("SHOPIFY_ADMIN_URL".to_owned(), settings.shopify_admin_url()),
            ("SHOPIFY_API_VERSION".to_owned(), sim::shopify::API_VERSION.to_owned()),
            (
                "SHOPIFY_WEBHOOK_CALLBACK_URL".to_owned(),
                format!("http://127.0.0.1:{}{}", settings.port, shopify_webhook::ROUTE),
            ),
            ("SHOPIFY_API_KEY".to_owned(), settings.shopify.api_key.clone()),
            ("SHOPIFY_REQUIRED_SCOPES".to_owned(), settings.required_scopes.join(",")),
            // The app secret is in Secrets Manager (moto), as in AWS; the functions read it at start.
            (shared::aws::APP_SECRET_ID_ENV.to_owned(), app_secret_id),
        ];
        for def in schema::QUEUES {
            if let Some(urls) = queues.get(&def.stage) {
                vars.push((def.url_env.to_owned(), urls.queue.clone()));
                vars.push((def.dlq_url_env.to_owned(), urls.dlq.clone()));
            }
        }
        let spapi_sim_url = sim::spapi::start(sim::spapi::Samples::load(&settings.events_dir)?)
            .await
            .context("starting the SP-API simulator")?;
        let spapi_url = settings.upstreams.get(&Integration::Amazon).unwrap_or(&spapi_sim_url);
        vars.extend(spapi_vars(spapi_url, &key_id));
        let masonhub_url = settings.masonhub_url();
        vars.extend([
            ("MASONHUB_PRODUCTION_URL".to_owned(), masonhub_url.clone()),
            ("MASONHUB_SANDBOX_URL".to_owned(), masonhub_url),
            (
                "MASONHUB_CALLBACK_URL".to_owned(),
                format!("http://127.0.0.1:{}{}", settings.port, masonhub_webhook::ROUTE),
            ),
            ("COMMERCEOS_TENANT_URL".to_owned(), settings.commerceos_url()),
            ("COMMERCEOS_CALLBACK_BASE_URL".to_owned(), format!("http://127.0.0.1:{}", settings.port)),
        ]);
        let mut handlers = Vec::new();
        for function in FUNCTIONS {
            let handler = (function.build)(Env::from_map(vars.clone()))
                .await
                .with_context(|| format!("building {}", function.name))?;
            handlers.push((function, handler));
        }
        Ok(Self {
            shops: shared::store::dynamo::DynamoStore::new(dynamodb.clone(), settings.table_name.clone()),
            sealer: shared::secrets::KmsSealer::new(kms, key_id),
            handlers,
            vars,
            simulator: sim::shopify::Simulator::load(&settings.events_dir)?
                .with_granted_scopes(settings.required_scopes.clone()),
            spapi_sim_url,
            masonhub_sim: sim::masonhub::Simulator::new(Duration::from_secs(3)),
            commerceos_sim: sim::commerceos::Simulator::new(Duration::from_secs(2)),
            settings,
            queues,
            sqs,
        })
    }

    /// The environment every function is built from, for tests that build one function themselves.
    pub fn env(&self) -> Env {
        Env::from_map(self.vars.clone())
    }

    fn handler(&self, name: &str) -> Option<&Handler> {
        self.handlers.iter().find(|(f, _)| f.name == name).map(|(_, h)| h)
    }

    /// Routes one API Gateway request to the function that serves it.
    pub async fn dispatch(&self, request: lambda_http::Request) -> lambda_http::Response<lambda_http::Body> {
        let path = request.uri().path().to_owned();
        let handler = route(request.method().as_str(), &path).and_then(|name| self.handler(name));
        let Some(Handler::Http(handle)) = handler else {
            return shared::http::json(
                lambda_http::http::StatusCode::NOT_FOUND,
                &serde_json::json!({ "error": "no such route", "code": "NOT_FOUND" }),
            );
        };
        handle(request).await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "handler failed");
            internal_error()
        })
    }

    /// Serves `request` from a streaming route, if one matches it.
    pub async fn stream(&self, request: lambda_http::Request) -> Option<lambda_http::Response<SseBody>> {
        let (method, path) = (request.method().as_str().to_owned(), request.uri().path().to_owned());
        let (_, handle) = self.handlers.iter().find(|(f, h)| {
            matches!(h, Handler::Stream(_))
                && f.triggers.iter().any(|t| matches!(t, Trigger::Stream(m, p) if *m == method && *p == path))
        })?;
        let Handler::Stream(handle) = handle else { return None };
        Some(handle(request).await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "stream handler failed");
            internal_error().map(|_| SseBody::once(r#"{"error":"internal error","code":"INTERNAL"}"#))
        }))
    }

    /// Receives up to ten messages of `stage`'s queue as the Lambda event SQS would deliver, with the
    /// messages themselves (to delete what the worker reports done); `None` when the wait finds none.
    pub async fn receive_event(
        &self,
        stage: Stage,
        wait_seconds: i32,
    ) -> anyhow::Result<Option<(LambdaEvent<SqsEvent>, Vec<aws_sdk_sqs::types::Message>)>> {
        let urls = self.queues.get(&stage).context("queue not created")?;
        let received = self
            .sqs
            .receive_message()
            .queue_url(&urls.queue)
            .max_number_of_messages(10)
            .wait_time_seconds(wait_seconds)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await?;
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(None);
        }
        let records: Vec<serde_json::Value> = messages
            .iter()
            .map(|m| {
                let attributes: HashMap<String, String> = m
                    .attributes
                    .iter()
                    .flatten()
                    .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
                    .collect();
                serde_json::json!({
                    "messageId": m.message_id,
                    "receiptHandle": m.receipt_handle,
                    "body": m.body,
                    "md5OfBody": m.md5_of_body,
                    "attributes": attributes,
                    "messageAttributes": {},
                    "eventSource": "aws:sqs",
                    "eventSourceARN": format!("arn:aws:sqs:local:000000000000:{}", urls.queue.rsplit('/').next().unwrap_or_default()),
                    "awsRegion": "local",
                })
            })
            .collect();
        let event: SqsEvent = serde_json::from_value(serde_json::json!({ "Records": records }))?;
        let invocation = LambdaEvent::new(event, Context::default());
        Ok(Some((invocation, messages)))
    }

    /// Receives one batch from `stage`'s queue, runs its worker on it as a real `SqsEvent`, and deletes
    /// the records the worker did not report as failed. Returns (received, failed).
    pub async fn poll_once(&self, stage: Stage, wait_seconds: i32) -> anyhow::Result<(usize, usize)> {
        let urls = self.queues.get(&stage).context("queue not created")?;
        let Some((invocation, messages)) = self.receive_event(stage, wait_seconds).await? else {
            return Ok((0, 0));
        };
        let worker = FUNCTIONS.iter().find(|f| f.triggers.contains(&Trigger::Queue(stage))).context("no worker")?;
        let Some(Handler::Queue(handle)) = self.handler(worker.name) else {
            anyhow::bail!("{} is no queue worker", worker.name)
        };
        let response = handle(invocation).await.map_err(|e| anyhow::anyhow!("{} failed: {e}", worker.name))?;
        let failed: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
        let done: Vec<DeleteMessageBatchRequestEntry> = messages
            .iter()
            .enumerate()
            .filter(|(_, m)| !failed.contains(&m.message_id.as_deref().unwrap_or_default()))
            .filter_map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle.clone().unwrap_or_default())
                    .build()
                    .ok()
            })
            .collect();
        if !done.is_empty() {
            self.sqs.delete_message_batch().queue_url(&urls.queue).set_entries(Some(done)).send().await?;
        }
        Ok((messages.len(), failed.len()))
    }

    /// Waits (up to `limit`) until `stage`'s queue holds no message, visible or in flight.
    pub async fn wait_until_empty(&self, stage: Stage, limit: Duration) -> anyhow::Result<()> {
        use aws_sdk_sqs::types::QueueAttributeName as Attr;
        let urls = self.queues.get(&stage).context("queue not created")?;
        let deadline = tokio::time::Instant::now() + limit;
        while tokio::time::Instant::now() < deadline {
            let attributes = self
                .sqs
                .get_queue_attributes()
                .queue_url(&urls.queue)
                .attribute_names(Attr::ApproximateNumberOfMessages)
                .attribute_names(Attr::ApproximateNumberOfMessagesNotVisible)
                .send()
                .await?
                .attributes
                .unwrap_or_default();
            let waiting: u64 = attributes.values().filter_map(|v| v.parse::<u64>().ok()).sum();
            if waiting == 0 {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        anyhow::bail!("{stage:?} queue still busy after {limit:?}")
    }

    /// Invokes every scheduled function once with an EventBridge schedule event.
    pub async fn tick(&self) -> anyhow::Result<()> {
        let now = SystemClock.now();
        let event = serde_json::json!({
            "version": "0", "id": format!("local-{}", now.timestamp_millis()), "detail-type": "Scheduled Event",
            "source": "aws.events", "account": "000000000000", "time": now.to_rfc3339(), "region": "local",
            "resources": ["arn:aws:events:local:000000000000:rule/local-schedule"], "detail": {}
        });
        for (function, handler) in &self.handlers {
            if let Handler::Schedule(handle) = handler {
                let report = handle(LambdaEvent::new(event.clone(), Context::default()))
                    .await
                    .map_err(|e| anyhow::anyhow!("{} failed: {e}", function.name))?;
                tracing::debug!(function = function.name, %report, "ticked");
            }
        }
        Ok(())
    }
}

/// The SP-API settings of the local functions: every base URL and the LWA token URL point at the
/// simulator, with a local app LWA client, the local KMS key and short back-offs.
pub fn spapi_vars(sim_url: &str, key_id: &str) -> Vec<(String, String)> {
    [
        ("SPAPI_LWA_TOKEN_URL", format!("{sim_url}/auth/o2/token")),
        ("SPAPI_ENDPOINT_NA", sim_url.to_owned()),
        ("SPAPI_ENDPOINT_EU", sim_url.to_owned()),
        ("SPAPI_ENDPOINT_FE", sim_url.to_owned()),
        ("SPAPI_ENDPOINT_SANDBOX", sim_url.to_owned()),
        ("SPAPI_LWA_CLIENT_ID", "amzn1.application-oa2-client.local".to_owned()),
        ("SPAPI_LWA_CLIENT_SECRET", "local-lwa-client-secret".to_owned()),
        ("SPAPI_BACKOFF_BASE_MS", "200".to_owned()),
        ("SPAPI_MAX_INLINE_WAIT_MS", "3000".to_owned()),
        ("SECRETS_KEY_ID", key_id.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Turns a plain HTTP request into the API Gateway v2 event Lambda would receive, and parses it with
/// `lambda_http` exactly as the runtime does.
pub fn to_lambda_request(
    method: &str,
    path_and_query: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> anyhow::Result<lambda_http::Request> {
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    let mut query_map: HashMap<String, String> = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        query_map.entry(k.into_owned()).and_modify(|e| e.push_str(&format!(",{v}"))).or_insert_with(|| v.into_owned());
    }
    let mut header_map: HashMap<String, String> = HashMap::new();
    for (k, v) in headers {
        header_map
            .entry(k.to_ascii_lowercase())
            .and_modify(|e| e.push_str(&format!(",{v}")))
            .or_insert_with(|| v.clone());
    }
    let (body, base64) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => (STANDARD.encode(body), true),
    };
    let now = SystemClock.now();
    let event = serde_json::json!({
        "version": "2.0",
        "routeKey": format!("{method} {path}"),
        "rawPath": path,
        "rawQueryString": query,
        "headers": header_map,
        "queryStringParameters": query_map,
        "requestContext": {
            "accountId": "000000000000", "apiId": "local", "domainName": "127.0.0.1", "domainPrefix": "local",
            "http": { "method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1",
                      "userAgent": header_map.get("user-agent").cloned().unwrap_or_default() },
            "requestId": format!("local-{}", now.timestamp_nanos_opt().unwrap_or_default()),
            "routeKey": format!("{method} {path}"), "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S %z").to_string(), "timeEpoch": now.timestamp_millis()
        },
        "body": if body.is_empty() { serde_json::Value::Null } else { serde_json::Value::String(body) },
        "isBase64Encoded": base64
    });
    Ok(lambda_http::request::from_str(&event.to_string())?)
}

type HttpBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

async fn serve_connection(
    stack: Arc<Stack>,
    request: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<HttpBody>, Infallible> {
    let method = request.method().as_str().to_owned();
    let target = request.uri().path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "/".into());
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_owned(), v.to_owned())))
        .collect();
    let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let lambda_request = match to_lambda_request(&method, &target, &headers, &body) {
        Ok(lambda_request) => lambda_request,
        Err(e) => {
            let response = shared::http::json(
                lambda_http::http::StatusCode::BAD_REQUEST,
                &serde_json::json!({ "error": format!("unparseable request: {e}"), "code": "BAD_REQUEST" }),
            );
            return Ok(buffered(response));
        }
    };
    if method == "POST" && lambda_request.uri().path() == LOCAL_INSTALL_ROUTE {
        return Ok(buffered(install_shop(&stack, &body).await));
    }
    if let Some(rest) = target.strip_prefix(sim::masonhub::ROUTE_PREFIX) {
        return Ok(buffered(stack.masonhub_sim.handle(&method, rest, &body)));
    }
    if let Some(rest) = target.strip_prefix(sim::commerceos::ROUTE_PREFIX) {
        return Ok(buffered(stack.commerceos_sim.handle(&method, rest, &body)));
    }
    if let Some(rest) = lambda_request.uri().path().strip_prefix(sim::shopify::ROUTE_PREFIX) {
        return Ok(buffered(stack.simulator.handle(&method, rest, &headers, &body)));
    }
    if shared::http::wants_event_stream(&lambda_request) {
        let streamable = registry::triggers()
            .any(|(_, t)| matches!(t, Trigger::Stream(m, p) if m == method && p == lambda_request.uri().path()));
        if streamable && let Some(response) = stack.stream(lambda_request.clone()).await {
            return Ok(response.map(|body| body.boxed()));
        }
    }
    Ok(buffered(stack.dispatch(lambda_request).await))
}

/// `POST /local/shops {"shop", "access_token", "scopes": [..]}`: installs a shop locally.
/// The answer never contains the token.
async fn install_shop(stack: &Stack, body: &[u8]) -> lambda_http::Response<lambda_http::Body> {
    use lambda_http::http::StatusCode;
    #[derive(serde::Deserialize)]
    struct Install {
        shop: String,
        access_token: String,
        #[serde(default)]
        scopes: Vec<String>,
    }
    let bad = |message: &str| {
        shared::http::json(StatusCode::BAD_REQUEST, &serde_json::json!({ "error": message, "code": "INVALID_BODY" }))
    };
    let Ok(install) = serde_json::from_slice::<Install>(body) else {
        return bad("expected {\"shop\", \"access_token\", \"scopes\"}");
    };
    let Ok(shop) = ShopDomain::parse(&install.shop) else { return bad("shop is not a shop domain") };
    if install.access_token.trim().is_empty() {
        return bad("access_token is empty");
    }
    let token = shared::config::Secret::new(install.access_token);
    match shared::app::shops::install(&stack.shops, &stack.sealer, &shop, &token, install.scopes, SystemClock.now())
        .await
    {
        Ok(record) => shared::http::json(
            StatusCode::CREATED,
            &serde_json::json!({ "shop": record.shop, "status": record.status, "scopes": record.scopes,
                                 "readAllOrders": record.read_all_orders() }),
        ),
        Err(e) => {
            tracing::error!(error = %e, "install failed");
            shared::http::json(
                StatusCode::INTERNAL_SERVER_ERROR,
                &serde_json::json!({ "error": "internal error", "code": "INTERNAL" }),
            )
        }
    }
}

fn buffered(response: lambda_http::Response<lambda_http::Body>) -> hyper::Response<HttpBody> {
    let (parts, body) = response.into_parts();
    let bytes = match body {
        lambda_http::Body::Empty => Bytes::new(),
        lambda_http::Body::Text(text) => Bytes::from(text),
        lambda_http::Body::Binary(bytes) => Bytes::from(bytes),
        _ => Bytes::new(),
    };
    hyper::Response::from_parts(parts, Full::new(bytes).boxed())
}

/// Serves the HTTP routes on `listener` until the task is dropped.
pub async fn serve(stack: Arc<Stack>, listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let stack = stack.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| serve_connection(stack.clone(), req));
            if let Err(e) = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await {
                tracing::debug!(error = %e, "connection closed");
            }
        });
    }
}

/// Polls every worker's queue forever.
pub async fn poll_forever(stack: Arc<Stack>) {
    let workers: Vec<(Stage, &str)> = registry::triggers()
        .filter_map(|(name, t)| match t {
            Trigger::Queue(stage) => Some((stage, name)),
            _ => None,
        })
        .collect();
    loop {
        for (stage, worker) in &workers {
            match stack.poll_once(*stage, 1).await {
                Ok((0, _)) => {}
                Ok((received, failed)) => {
                    tracing::info!(worker, received, failed, "batch processed")
                }
                Err(e) => {
                    tracing::warn!(worker, error = format!("{e:#}"), "poll failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }
}

/// Ticks the scheduled functions forever.
pub async fn tick_forever(stack: Arc<Stack>) {
    let mut interval = tokio::time::interval(stack.settings.schedule_interval);
    loop {
        interval.tick().await;
        if let Err(e) = stack.tick().await {
            tracing::warn!(error = format!("{e:#}"), "scheduled tick failed");
        }
    }
}

/// POSTs every demo webhook in `<events>/shopify/` through the real endpoint, signed as Shopify would.
/// Webhook ids are derived from the file names, so seeding twice is deduplicated.
pub async fn seed_demo(base_url: &str, settings: &Settings) -> anyhow::Result<usize> {
    seed_webhooks(base_url, settings, "shopify").await
}

/// The fulfilment demo: connects the demo shop to the MasonHub simulator (callbacks registered through
/// the real `PUT /api/masonhub/connection` code), routes every order to it, and delivers two paid orders
/// from `<events>/masonhub-demo/`: #1005 travels to MasonHub, ships and comes back to Shopify as a
/// fulfilment; #1006 holds a SKU MasonHub does not know and becomes a dead letter with an alert.
pub async fn seed_masonhub_demo(stack: &Stack, base_url: &str) -> anyhow::Result<usize> {
    use shared::{
        app::connections::masonhub as connection,
        domain::{FulfilmentSettings, fulfilment::RouteRule},
        integrations::masonhub::{MasonHubConfig, client::MasonHubClient},
    };
    let settings = &stack.settings;
    let url = settings.masonhub_url();
    let config = MasonHubConfig {
        production_url: url.clone(),
        sandbox_url: url,
        request_timeout: shared::integrations::http::REQUEST_TIMEOUT,
    };
    let client = MasonHubClient::new(config.request_timeout);
    let callback_url = format!("{base_url}{}", masonhub_webhook::ROUTE);
    let deps = connection::ConnectDeps {
        connections: &stack.shops,
        credentials: &stack.shops,
        sealer: &stack.sealer,
        client: &client,
        config: &config,
        callback_url: &callback_url,
    };
    let input = connection::ConnectionInput {
        environment: "sandbox".into(),
        account_slug: "demo".into(),
        api_token: "local-masonhub-token".into(),
        active: Some(true),
    };
    let now = SystemClock.now();
    connection::connect(&deps, &settings.demo_shop, Some("1"), input, now).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let routing = FulfilmentSettings {
        enabled: true,
        partner: Integration::MasonHub,
        rule: RouteRule::All,
        shipping: Vec::new(),
        default_provider: "masonhub".into(),
        default_service_level: "ground".into(),
        split_policy: None,
        backorder_policy: None,
    };
    connection::put_fulfilment(&stack.shops, &settings.demo_shop, routing, now)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    seed_webhooks(base_url, settings, "masonhub-demo").await
}

/// The ERP demo: connects the demo shop to the CommerceOS simulator through the real connection code
/// (scopes checked, mapped types and sync-webhooks configured, pointing at this stack) and mirrors every
/// order into it. #1005 then reaches CommerceOS, is approved, ships (MasonHub's shipment is created and
/// released there) and comes back delivered by the shipment sync-webhook; #1006's out-of-stock SKU is a
/// 409 that cancels it there with an alert; the simulator also reports one B2B order born in
/// CommerceOS, which becomes an order of the `commerceos` channel.
pub async fn seed_commerceos_demo(stack: &Stack, base_url: &str) -> anyhow::Result<()> {
    use shared::{
        app::connections::commerceos as connection,
        domain::{ErpSettings, fulfilment::RouteRule},
        integrations::commerceos::{CommerceOsConfig, client::CommerceOsClient},
    };
    let settings = &stack.settings;
    let config = CommerceOsConfig { tenant_url: settings.commerceos_url() };
    let client = CommerceOsClient::new();
    let deps = connection::ConnectDeps {
        connections: &stack.shops,
        credentials: &stack.shops,
        alerts: &stack.shops,
        sealer: &stack.sealer,
        client: &client,
        config: &config,
        callback_base_url: base_url,
    };
    let input = connection::ConnectionInput {
        tenant: Some("demo".into()),
        base_url: None,
        identifier_key: "com.demo.order-id".into(),
        seller: "WAREHOUSE-MAIN".into(),
        supplier: Some("DEMO-RETAIL".into()),
        currency: "USD".into(),
        api_key: None,
        client_id: Some("local-commerceos-client".into()),
        client_secret: Some("local-commerceos-secret".into()),
        active: Some(true),
    };
    let now = SystemClock.now();
    connection::connect(&deps, &settings.demo_shop, Some("1"), input, now).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let erp = ErpSettings { enabled: true, rule: RouteRule::All, fulfils: false };
    connection::put_erp(&stack.shops, &settings.demo_shop, erp, now).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}

async fn seed_webhooks(base_url: &str, settings: &Settings, folder: &str) -> anyhow::Result<usize> {
    let dir = settings.events_dir.join(folder);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let client = reqwest::Client::new();
    for file in &files {
        let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        let topic = match stem.split('-').take(2).collect::<Vec<_>>().as_slice() {
            [resource, action] => format!("{resource}/{action}"),
            _ => anyhow::bail!("cannot tell the topic of {stem}"),
        };
        let body = std::fs::read(file)?;
        let response = client
            .post(format!("{base_url}{}", shopify_webhook::ROUTE))
            .header("content-type", "application/json")
            .header(webhook::HMAC_HEADER, webhook::sign(&body, &settings.shopify.api_secret))
            .header(webhook::TOPIC_HEADER, &topic)
            .header(webhook::SHOP_HEADER, settings.demo_shop.as_str())
            .header(webhook::API_VERSION_HEADER, "2026-07")
            .header(webhook::WEBHOOK_ID_HEADER, format!("demo-{stem}"))
            .body(body)
            .send()
            .await?;
        anyhow::ensure!(response.status().is_success(), "seeding {stem} got {}", response.status());
    }
    Ok(files.len())
}

/// Installs the demo shop with a made-up token and subscribes it, in the simulator, to every topic the
/// app needs, so the scheduled poll runs against the simulator from the first tick.
pub async fn install_demo_shop(stack: &Stack) -> anyhow::Result<()> {
    let settings = &stack.settings;
    let scopes = ["read_orders", "read_all_orders", "write_fulfillments", "read_products"].map(String::from).to_vec();
    let token = shared::config::Secret::new("local-demo-token");
    shared::app::shops::install(&stack.shops, &stack.sealer, &settings.demo_shop, &token, scopes, SystemClock.now())
        .await?;
    let callback = format!("http://127.0.0.1:{}{}", settings.port, shopify_webhook::ROUTE);
    for topic in shared::app::poll::shopify::SUBSCRIBED_TOPICS {
        stack.simulator.subscribe(&shared::app::poll::shopify::graphql_topic(topic), &callback);
    }
    Ok(())
}

/// A session token for the demo shop, valid for `hours`, and the `curl` that lists its orders.
pub fn demo_curl(settings: &Settings, base_url: &str, hours: i64) -> String {
    format!(
        "curl -s -H 'Authorization: Bearer {}' '{base_url}{}?shop_domain={}'",
        demo_token(settings, hours),
        dashboard_api::ORDERS_ROUTE,
        settings.demo_shop
    )
}

/// The shop the banner's install `curl` installs by token exchange, as a first request does in AWS.
pub const EXCHANGE_DEMO_SHOP: &str = "another-shop.myshopify.com";

/// A session token for [`EXCHANGE_DEMO_SHOP`] and the `curl` whose first request installs it (token
/// exchange with the simulator) and lists its products.
pub fn install_curl(settings: &Settings, base_url: &str, hours: i64) -> String {
    let shop = ShopDomain::parse(EXCHANGE_DEMO_SHOP).unwrap_or_else(|_| settings.demo_shop.clone());
    let claims = session::claims_for(&shop, &settings.shopify.api_key, "1", SystemClock.now(), hours * 3600);
    format!(
        "curl -s -H 'Authorization: Bearer {}' '{base_url}{}'",
        session::sign(&claims, &settings.shopify.api_secret),
        assistant_api::PRODUCTS_ROUTE
    )
}

/// The `curl` that follows the demo shop's alerts as Server-Sent Events.
pub fn demo_alerts_curl(settings: &Settings, base_url: &str, hours: i64) -> String {
    format!(
        "curl -sN -H 'Accept: text/event-stream' -H 'Authorization: Bearer {}' '{base_url}{}?shop_domain={}'",
        demo_token(settings, hours),
        alerts_stream::ROUTE,
        settings.demo_shop
    )
}

fn demo_token(settings: &Settings, hours: i64) -> String {
    let claims =
        session::claims_for(&settings.demo_shop, &settings.shopify.api_key, "1", SystemClock.now(), hours * 3600);
    session::sign(&claims, &settings.shopify.api_secret)
}

/// Runs the stack until Ctrl-C.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let addr = SocketAddr::from(([127, 0, 0, 1], settings.port));
    let listener = TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
    let base_url = format!("http://{addr}");
    let stack = Arc::new(Stack::bootstrap(settings, None).await?);
    let server = tokio::spawn(serve(stack.clone(), listener));
    let pollers = tokio::spawn(poll_forever(stack.clone()));
    if stack.settings.seed {
        install_demo_shop(&stack).await?;
        let seeded = seed_demo(&base_url, &stack.settings).await?;
        stack.wait_until_empty(Stage::Ingest, Duration::from_secs(30)).await?;
        seed_commerceos_demo(&stack, &base_url).await?;
        let seeded = seeded + seed_masonhub_demo(&stack, &base_url).await?;
        // The first poll runs once the webhooks are in, so it reports only what they missed.
        stack.wait_until_empty(Stage::Ingest, Duration::from_secs(30)).await?;
        tracing::info!(seeded, "demo webhooks delivered");
    }
    let ticker = tokio::spawn(tick_forever(stack.clone()));
    let token = demo_token(&stack.settings, 12);
    let shop = &stack.settings.demo_shop;
    let banner = format!(
        "\norder-sync local stack on {base_url}\n  routes: {}\n  demo shop: {}\n\nList the demo orders (token valid 12 h):\n\n  {}\n\nFollow its alerts live (Server-Sent Events):\n\n  {}\n\nWatch order #1005 travel Shopify -> MasonHub -> shipped -> Shopify (its fulfilment and timeline):\n\n  curl -s -H 'Authorization: Bearer {token}' '{base_url}/sync/orders/1005?shop_domain={shop}'\n\nThe dead letter of #1006 (a SKU MasonHub does not know), and its replay:\n\n  curl -s -H 'Authorization: Bearer {token}' '{base_url}/api/dead-letters?shop_domain={shop}'\n  curl -s -X POST -H 'Authorization: Bearer {token}' -d '{{\"destination\":\"masonhub\"}}' '{base_url}/api/dead-letters/replay'\n\n#1005 also travels to CommerceOS (the ERP): upserted, approved, shipped and delivered (its timeline above shows the erp_* events); the CommerceOS connection and its scopes check:\n\n  curl -s -H 'Authorization: Bearer {token}' '{base_url}/api/commerceos/connection?shop_domain={shop}'\n\nA B2B order born in CommerceOS (channel commerceos) is in the orders list a few seconds after start.\n\nInstall another shop by token exchange, as its first session-token request does in AWS (then its products, once polled):\n\n  {}\n\nCtrl-C stops everything.\n",
        registry::http_routes().iter().map(|(m, p, _)| format!("{m} {p}")).collect::<Vec<_>>().join(", "),
        stack.settings.demo_shop,
        demo_curl(&stack.settings, &base_url, 12),
        demo_alerts_curl(&stack.settings, &base_url, 12),
        install_curl(&stack.settings, &base_url, 12),
    );
    // The banner is for the person at the terminal, so it goes to stderr next to the logs.
    eprintln!("{banner}");
    tokio::signal::ctrl_c().await?;
    server.abort();
    pollers.abort();
    ticker.abort();
    Ok(())
}
