//! Trigger: the outbound SQS queue. Writes: delivery records. Raises: dead-letter alerts.
use lambda_runtime::{Error, run, service_fn};
use outbound_worker::{Config, connect, handle};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let deps = connect(Config::from_env().await?).await;
    run(service_fn(|event| handle(&deps, event))).await
}
