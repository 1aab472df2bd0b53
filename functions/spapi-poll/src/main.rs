//! Trigger: an EventBridge schedule (fan-out: one sync job per active Amazon connection) and the
//! amazon-sync SQS queue (runs and carries over those jobs). Reads/writes: connections, watermarks,
//! Amazon and canonical orders. Raises: sync-failure and dead-letter alerts.
use lambda_runtime::{Error, run, service_fn};
use spapi_poll::{Config, Deps, handle};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let deps = Deps::connect(Config::from_env()?).await;
    run(service_fn(|event| handle(&deps, event))).await
}
