//! Trigger: a daily schedule. Reconciles every shop with each integration it uses (sources and partners).
use lambda_runtime::{Error, run, service_fn};
use reconciler::{Config, connect, handle};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let deps = connect(Config::from_env()?).await;
    run(service_fn(|event| handle(&deps, event))).await
}
