//! Trigger: `POST /webhooks/shopify` (HttpApi). Writes: webhook receipts. Enqueues: ingest.
use lambda_http::{Error, run, service_fn};
use shopify_webhook::{Config, connect, handle};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let deps = connect(Config::from_env().await?).await;
    run(service_fn(|req| handle(&deps, req))).await
}
