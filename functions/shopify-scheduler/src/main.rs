//! Trigger: EventBridge schedule (or a manual backfill invocation). Reads: active shops, sync state.
//! Writes: poll jobs onto the Shopify poll queue; the read_all_orders setup alert.
use lambda_runtime::{Error, run, service_fn};
use shopify_scheduler::{Config, connect, handle};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let deps = connect(Config::from_env()?).await;
    run(service_fn(|event| handle(&deps, event))).await
}
