//! Trigger: `GET /sync/orders/alerts` with `Accept: text/event-stream` (Function URL, response
//! streaming). Reads: the shop's alert feed.
use alerts_stream::{Config, connect, handle};
use lambda_http::{Error, run_with_streaming_response, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let deps = connect(Config::from_env().await?).await;
    run_with_streaming_response(service_fn(|req| handle(&deps, req))).await
}
