//! Trigger: the ingest SQS queue. Reads/writes: orders and timelines. Raises: dead-letter alerts.
use ingest_worker::{Config, connect, handle};
use lambda_runtime::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let deps = connect(Config::from_env()?).await;
    run(service_fn(|event| handle(&deps, event))).await
}
