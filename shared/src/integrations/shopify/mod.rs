//! Shopify: webhook verification, session tokens, and the order wire format.
//! Header and HMAC facts: <https://shopify.dev/docs/apps/build/webhooks/verify-deliveries>.

pub mod admin;
pub mod graphql;
pub mod model;
pub mod oauth;
pub mod session;
pub mod webhook;
