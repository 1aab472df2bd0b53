//! Trigger: EventBridge schedule. Reads: every dead-letter queue. Raises: dead-letter alerts.
use dlq_monitor::{Config, connect, handle};
use lambda_runtime::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let deps = connect(Config::from_env()?).await;
    run(service_fn(|event| handle(&deps, event))).await
}
