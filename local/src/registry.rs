//! Every function of the bundle, listed once: its name, what triggers it (HTTP routes, a streaming
//! route, a queue, a schedule) and how the local stack builds and calls it. Adding a function to the
//! bundle adds one entry here (and its resources in `infra/template.yaml`; a test checks the two agree).

use std::{future::Future, pin::Pin, sync::Arc};

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_http::{Body, Request, Response};
use lambda_runtime::LambdaEvent;
use shared::{config::Env, domain::Integration, queue::Stage, sse::SseBody};

/// What starts a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// An API route: method and path (`{param}` segments match one path segment).
    Http(&'static str, &'static str),
    /// A streaming route (a Function URL with `InvokeMode: RESPONSE_STREAM` in AWS), taken when the
    /// client asks for `text/event-stream`.
    Stream(&'static str, &'static str),
    /// The queue of a stage.
    Queue(Stage),
    /// An EventBridge schedule.
    Schedule,
}

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type Error = lambda_runtime::Error;

/// A function's entry point: an event in, its answer out.
pub type Entry<E, A> = Box<dyn Fn(E) -> BoxFuture<Result<A, Error>> + Send + Sync>;

/// A built function, with the entry point its trigger calls.
pub enum Handler {
    Http(Entry<Request, Response<Body>>),
    Stream(Entry<Request, Response<SseBody>>),
    Queue(Entry<LambdaEvent<SqsEvent>, SqsBatchResponse>),
    /// Scheduled functions answer a report, as JSON.
    Schedule(Entry<LambdaEvent<serde_json::Value>, serde_json::Value>),
}

/// A function of the bundle: its name (the crate, the binary and the template's logical id stem), its
/// triggers, and how to build it from the function's environment.
pub struct Function {
    pub name: &'static str,
    pub triggers: &'static [Trigger],
    pub build: fn(Env) -> BoxFuture<anyhow::Result<Handler>>,
}

/// Builds `$krate` with its own `Config::read` and `connect`, exactly as its `main` does in Lambda (the
/// app secret read from Secrets Manager first), and wraps its `handle` as a `$kind` handler.
macro_rules! wire {
    ($krate:ident, Schedule) => {
        |env| {
            Box::pin(async move {
                let env = shared::aws::resolve_app_secret(env).await?;
                let deps = Arc::new($krate::connect($krate::Config::read(env)?).await);
                Ok(Handler::Schedule(Box::new(move |event| {
                    let deps = deps.clone();
                    Box::pin(async move { Ok(serde_json::to_value($krate::handle(&deps, event).await?)?) })
                })))
            })
        }
    };
    ($krate:ident, $kind:ident) => {
        |env| {
            Box::pin(async move {
                let env = shared::aws::resolve_app_secret(env).await?;
                let deps = Arc::new($krate::connect($krate::Config::read(env)?).await);
                Ok(Handler::$kind(Box::new(move |event| {
                    let deps = deps.clone();
                    Box::pin(async move { $krate::handle(&deps, event).await })
                })))
            })
        }
    };
}

/// The bundle. Order matters only for the schedule: functions tick in this order.
pub const FUNCTIONS: &[Function] = &[
    Function {
        name: "shopify-webhook",
        triggers: &[Trigger::Http("POST", shopify_webhook::ROUTE)],
        build: wire!(shopify_webhook, Http),
    },
    Function { name: "ingest-worker", triggers: &[Trigger::Queue(Stage::Ingest)], build: wire!(ingest_worker, Queue) },
    Function {
        name: "dashboard-api",
        triggers: &[
            Trigger::Http("GET", dashboard_api::OPENAPI_ROUTE),
            Trigger::Http("GET", dashboard_api::ORDERS_ROUTE),
            Trigger::Http("GET", dashboard_api::ALERTS_ROUTE),
            Trigger::Http("GET", "/sync/orders/{id}"),
            Trigger::Http("POST", dashboard_api::ASSIGN_ROUTE),
            Trigger::Http("POST", dashboard_api::FULFILL_ROUTE),
            Trigger::Http("POST", dashboard_api::SUPPORT_ROUTE),
            Trigger::Http("POST", dashboard_api::RETURNS_ROUTE),
        ],
        build: wire!(dashboard_api, Http),
    },
    Function {
        name: "alerts-stream",
        triggers: &[Trigger::Stream("GET", alerts_stream::ROUTE)],
        build: wire!(alerts_stream, Stream),
    },
    Function {
        name: "outbound-worker",
        triggers: &[
            Trigger::Queue(Stage::Outbound(Integration::Shopify)),
            Trigger::Queue(Stage::Outbound(Integration::MasonHub)),
            Trigger::Queue(Stage::Outbound(Integration::CommerceOs)),
        ],
        build: wire!(outbound_worker, Queue),
    },
    Function {
        name: "masonhub-webhook",
        triggers: &[Trigger::Http("POST", masonhub_webhook::ROUTE)],
        build: wire!(masonhub_webhook, Http),
    },
    Function {
        name: "commerceos-webhook",
        triggers: &[
            Trigger::Http("POST", commerceos_webhook::ORDER_STATUS_ROUTE),
            Trigger::Http("POST", commerceos_webhook::SHIPMENT_ROUTE),
            Trigger::Http("POST", commerceos_webhook::NEW_ORDERS_ROUTE),
            Trigger::Http("POST", commerceos_webhook::TOKEN_ROUTE),
        ],
        build: wire!(commerceos_webhook, Http),
    },
    Function {
        name: "fulfilment-api",
        triggers: &[
            Trigger::Http("GET", fulfilment_api::SETTINGS_ROUTE),
            Trigger::Http("PUT", fulfilment_api::SETTINGS_ROUTE),
            Trigger::Http("GET", fulfilment_api::CONNECTION_ROUTE),
            Trigger::Http("PUT", fulfilment_api::CONNECTION_ROUTE),
            Trigger::Http("GET", fulfilment_api::DEAD_LETTERS_ROUTE),
            Trigger::Http("POST", fulfilment_api::REPLAY_ROUTE),
            Trigger::Http("GET", fulfilment_api::PARTNER_ORDER_ROUTE),
            Trigger::Http("GET", fulfilment_api::RECONCILIATION_ROUTE),
            Trigger::Http("POST", fulfilment_api::RECONCILIATION_ROUTE),
            Trigger::Http("GET", fulfilment_api::COMMERCEOS_CONNECTION_ROUTE),
            Trigger::Http("PUT", fulfilment_api::COMMERCEOS_CONNECTION_ROUTE),
            Trigger::Http("POST", fulfilment_api::COMMERCEOS_PING_ROUTE),
        ],
        build: wire!(fulfilment_api, Http),
    },
    Function { name: "outbound-sweeper", triggers: &[Trigger::Schedule], build: wire!(outbound_sweeper, Schedule) },
    Function { name: "reconciler", triggers: &[Trigger::Schedule], build: wire!(reconciler, Schedule) },
    Function { name: "dlq-monitor", triggers: &[Trigger::Schedule], build: wire!(dlq_monitor, Schedule) },
    Function { name: "shipment-monitor", triggers: &[Trigger::Schedule], build: wire!(shipment_monitor, Schedule) },
    Function { name: "shopify-scheduler", triggers: &[Trigger::Schedule], build: wire!(shopify_scheduler, Schedule) },
    Function {
        name: "shopify-poller",
        triggers: &[Trigger::Queue(Stage::Poll(Integration::Shopify))],
        build: wire!(shopify_poller, Queue),
    },
    Function {
        name: "amazon-api",
        triggers: &[
            Trigger::Http("GET", amazon_api::CONNECTION_ROUTE),
            Trigger::Http("PUT", amazon_api::CONNECTION_ROUTE),
            Trigger::Http("PUT", amazon_api::CREDENTIAL_ROUTE),
            Trigger::Http("POST", amazon_api::PING_ROUTE),
            Trigger::Http("POST", amazon_api::SYNC_ROUTE),
        ],
        build: wire!(amazon_api, Http),
    },
    Function {
        name: "assistant-api",
        triggers: &[
            Trigger::Http("GET", assistant_api::ORDERS_ROUTE),
            Trigger::Http("GET", assistant_api::FULFILLMENTS_ROUTE),
            Trigger::Http("GET", assistant_api::PRODUCTS_ROUTE),
            Trigger::Http("GET", assistant_api::VARIANTS_ROUTE),
            Trigger::Http("GET", assistant_api::KEYS_ROUTE),
            Trigger::Http("POST", assistant_api::KEYS_ROUTE),
            Trigger::Http("DELETE", assistant_api::KEY_ROUTE),
        ],
        build: wire!(assistant_api, Http),
    },
    Function { name: "amazon-scheduler", triggers: &[Trigger::Schedule], build: wire!(amazon_scheduler, Schedule) },
    Function {
        name: "amazon-poller",
        triggers: &[Trigger::Queue(Stage::Poll(Integration::Amazon))],
        build: wire!(amazon_poller, Queue),
    },
];

/// Every trigger of every function, with the function's name.
pub fn triggers() -> impl Iterator<Item = (&'static str, Trigger)> {
    FUNCTIONS.iter().flat_map(|f| f.triggers.iter().map(move |t| (f.name, *t)))
}

/// The HTTP routes: method, path and function.
pub fn http_routes() -> Vec<(&'static str, &'static str, &'static str)> {
    triggers()
        .filter_map(|(name, t)| match t {
            Trigger::Http(method, path) => Some((method, path, name)),
            _ => None,
        })
        .collect()
}

/// The function serving `method path`: exact routes first, then `{param}` segments.
pub fn route(method: &str, path: &str) -> Option<&'static str> {
    let matches = |pattern: &str| {
        let (pattern, path): (Vec<&str>, Vec<&str>) = (pattern.split('/').collect(), path.split('/').collect());
        pattern.len() == path.len()
            && pattern.iter().zip(&path).all(|(p, s)| (p.starts_with('{') && !s.is_empty()) || p == s)
    };
    let routes = http_routes();
    let candidates = || routes.iter().filter(|(m, _, _)| *m == method);
    candidates()
        .find(|(_, p, _)| *p == path)
        .or_else(|| candidates().find(|(_, p, _)| matches(p)))
        .or_else(|| routes.iter().find(|(_, p, _)| *p == path || matches(p)))
        .map(|(_, _, f)| *f)
}
