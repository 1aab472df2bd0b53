//! Trigger: EventBridge schedule. Reads/writes: orders whose shipment flags came due. Raises/clears:
//! tracking_pending and delayed alerts.
use lambda_runtime::{Error, run, service_fn};
use shipment_monitor::{Config, connect, handle};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let deps = connect(Config::from_env()?).await;
    run(service_fn(|event| handle(&deps, event))).await
}
