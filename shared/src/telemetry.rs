//! JSON logs. Fields name the shop, order and stage; payloads, signatures and secrets are never logged.

use tracing_subscriber::{EnvFilter, fmt};

/// Installs the JSON subscriber once per process. The level comes from `AWS_LAMBDA_LOG_LEVEL` (set by
/// the template's `LoggingConfig`) or `RUST_LOG`, defaulting to `info`.
pub fn init() {
    let filter = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .ok()
        .map(|level| EnvFilter::new(level.to_lowercase()))
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let _ = fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .with_env_filter(filter)
        .try_init();
}

/// A subscriber that writes through the test harness, so output shows only for failing tests.
pub fn init_for_tests() {
    let _ = fmt().with_test_writer().with_env_filter(EnvFilter::new("info")).try_init();
}
