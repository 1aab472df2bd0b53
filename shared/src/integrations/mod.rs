//! One folder per upstream system, each the same shape: its configuration, authentication, HTTP client,
//! wire model and the mapping of that model to the canonical domain. An integration imports `domain`
//! (and the foundation modules `config`, `error`, `clock`) only: never `store`, `queue` or `app`.

pub mod amazon;
pub mod commerceos;
pub mod http;
pub mod masonhub;
pub mod secret_token;
pub mod shopify;
