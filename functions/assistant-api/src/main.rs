//! Trigger: `GET /api/orders|fulfillments|products`, `GET /api/product/{productId}/variants` and the
//! `/api/assistant/keys` routes (HttpApi). Reads: orders, products, API keys. Writes: shop records
//! (token exchange), API keys. Enqueues: Shopify poll jobs after an install.
use assistant_api::{Config, connect, handle};
use lambda_http::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let deps = connect(Config::from_env().await?).await;
    run(service_fn(|req| handle(&deps, req))).await
}
