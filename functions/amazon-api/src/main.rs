//! Trigger: HTTP API routes `/api/amazon/*` and `/api/admin/amazon/*`. Reads/writes: the shop's Amazon
//! connection, its KMS-sealed credential, Amazon and canonical orders. Enqueues: carried-over syncs.
use amazon_api::{Config, connect, handle};
use lambda_http::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let deps = connect(Config::from_env().await?).await;
    run(service_fn(|req| handle(&deps, req))).await
}
