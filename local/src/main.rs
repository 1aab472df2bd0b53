//! `make dev`: the whole system in one process against the moto server.
use local_stack::{Settings, run};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shared::telemetry::init();
    run(Settings::from_env()?).await
}
