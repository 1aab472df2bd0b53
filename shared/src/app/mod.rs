//! The use cases: what the system does, over the store and queue ports and the integrations' clients.
//! No Lambda or AWS types: functions decode their trigger, call into here, and map the answer.

pub mod alerts;
pub mod auth;
pub mod connections;
pub mod credentials;
pub mod dead_letters;
pub mod fan_out;
pub mod ingest;
pub mod install;
pub mod order_ref;
pub mod orders;
pub mod outbound;
pub mod outbox;
pub mod poll;
pub mod reconcile;
pub mod shops;
