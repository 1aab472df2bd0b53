//! Trigger: the Amazon poll SQS queue. Reads/writes: connections, credentials (opened with KMS),
//! watermarks, mirrored Amazon orders, canonical orders. Raises: sync-failure and dead-letter alerts.
use amazon_poller::{Config, connect, handle};
use lambda_runtime::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let deps = connect(Config::from_env()?).await;
    run(service_fn(|event| handle(&deps, event))).await
}
