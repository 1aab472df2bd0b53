//! Trigger: CommerceOS's sync-webhooks (`POST /webhooks/commerceos/{shop}/…`) and our OAuth2 token
//! endpoint (`POST /oauth/token`). Writes: webhook receipts. Enqueues: ingest.
use commerceos_webhook::{Config, connect, handle};
use lambda_http::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let deps = connect(Config::from_env()?).await;
    run(service_fn(|req| handle(&deps, req))).await
}
