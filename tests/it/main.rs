//! Integration tests. They run against the moto server that `make test` starts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod amazon;
mod assistant;
mod commerceos;
mod compliance;
mod contracts;
mod dashboard;
mod dead_letters;
mod faults;
mod flow;
mod install;
mod layering;
mod masonhub;
mod openapi;
mod products;
mod samples;
mod shipments;
mod shopify_poll;
mod shopify_push;
mod sse;
mod template;
mod tenants;
mod topics;
