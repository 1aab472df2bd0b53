//! Trigger: an EventBridge schedule. Reads: active Amazon connections. Writes: one sync job per
//! connection onto the Amazon poll queue.
use amazon_scheduler::{Config, connect, handle};
use lambda_runtime::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let deps = connect(Config::from_env()?).await;
    run(service_fn(|event| handle(&deps, event))).await
}
