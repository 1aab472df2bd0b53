//! The upstream simulators of the local stack: what every integration's base URL points at in
//! `make dev`. Each serves our own samples from `events/`.

pub mod commerceos;
pub mod masonhub;
pub mod shopify;
pub mod spapi;
