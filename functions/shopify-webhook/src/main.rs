//! Trigger: `POST /webhooks/shopify` (HttpApi). Writes: webhook receipts. Enqueues: ingest.
use lambda_http::{Error, run, service_fn};
use shopify_webhook::{Config, connect, handle};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    // The Shopify app secret comes from Secrets Manager (SHOPIFY_APP_SECRET_ID), read once here.
    let deps = connect(Config::read(shared::aws::function_env().await?)?).await;
    run(service_fn(|req| handle(&deps, req))).await
}
