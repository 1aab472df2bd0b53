//! Trigger: `GET /sync/*` (HttpApi). Reads: orders.
use dashboard_api::{Config, connect, handle};
use lambda_http::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let deps = connect(Config::from_env().await?).await;
    run(service_fn(|req| handle(&deps, req))).await
}
