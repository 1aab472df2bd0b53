//! Trigger: the Shopify poll SQS queue. Reads: shop records (opens their tokens with KMS), Shopify's
//! Admin GraphQL API. Writes: orders, sync state, alerts; continuations back onto its own queue.
use lambda_runtime::{Error, run, service_fn};
use shopify_poller::{Config, connect, handle};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let deps = connect(Config::from_env().await?).await;
    run(service_fn(|event| handle(&deps, event))).await
}
