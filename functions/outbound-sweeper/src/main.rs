//! Trigger: a schedule. Relays pending outbox effects; replays due transient dead letters.
use lambda_runtime::{Error, run, service_fn};
use outbound_sweeper::{Config, connect, handle};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let deps = connect(Config::from_env()?).await;
    run(service_fn(|event| handle(&deps, event))).await
}
