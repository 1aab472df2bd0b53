//! Shared library of the order-sync Lambdas: the canonical domain, the ports (order store, queue) with
//! their DynamoDB/SQS adapters and in-memory fakes, configuration, errors, telemetry and the HTTP/SQS
//! plumbing every function uses. Functions stay thin: they wire these pieces together.
#![forbid(unsafe_code)]

pub mod app;
pub mod aws;
pub mod clock;
pub mod config;
pub mod domain;
pub mod error;
pub mod http;
pub mod integrations;
pub mod metrics;
pub mod queue;
pub mod secrets;
pub mod sqs_batch;
pub mod sse;
pub mod store;
pub mod telemetry;

#[cfg(feature = "testing")]
pub mod testing;
