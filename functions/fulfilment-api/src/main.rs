//! Trigger: the fulfilment routes (HttpApi). Reads and writes MasonHub connections, fulfilment
//! settings and dead letters. Enqueues: replayed outbound messages.
use fulfilment_api::{Config, connect, handle};
use lambda_http::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let deps = connect(Config::from_env().await?).await;
    run(service_fn(|req| handle(&deps, req))).await
}
