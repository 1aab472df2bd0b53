//! The Amazon SP-API channel: Login with Amazon tokens ([`lwa`]), the Orders API client with per-operation
//! token buckets ([`client`], [`rate`]), lenient wire parsing ([`model`]) and the orders sync that feeds
//! the Amazon order records and the canonical orders ([`sync`]). Facts and sources: `docs/data-model.md`
//! §6.3 and the issue #4 notes in the README.

pub mod client;
pub mod lwa;
pub mod model;
pub mod rate;

use std::{fmt, time::Duration};

use serde::{Deserialize, Serialize};

use crate::config::{Env, Secret};
pub use crate::integrations::http::RetryPolicy;

/// The SP-API endpoint a seller's data lives behind. Every base URL comes from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Region {
    /// North America: `https://sellingpartnerapi-na.amazon.com`.
    Na,
    /// Europe: `https://sellingpartnerapi-eu.amazon.com`.
    Eu,
    /// Far East: `https://sellingpartnerapi-fe.amazon.com`.
    Fe,
    /// The static sandbox: `https://sandbox.sellingpartnerapi-na.amazon.com`.
    Sandbox,
}

impl Region {
    pub fn as_str(self) -> &'static str {
        match self {
            Region::Na => "NA",
            Region::Eu => "EU",
            Region::Fe => "FE",
            Region::Sandbox => "SANDBOX",
        }
    }

    /// Case-insensitive: `na`, `NA`, `sandbox`.
    pub fn parse(raw: &str) -> Option<Self> {
        [Region::Na, Region::Eu, Region::Fe, Region::Sandbox].into_iter().find(|r| r.as_str().eq_ignore_ascii_case(raw))
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which Orders API a connection reads. v2026-01-01 is the default; v0's reads are deprecated and
/// removed on 2027-03-27, so v0 stays selectable per connection until then.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum ApiVersion {
    #[default]
    #[serde(rename = "2026-01-01")]
    V2026,
    #[serde(rename = "v0")]
    V0,
}

impl ApiVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiVersion::V2026 => "2026-01-01",
            ApiVersion::V0 => "v0",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [ApiVersion::V2026, ApiVersion::V0].into_iter().find(|v| v.as_str() == raw)
    }
}

/// SP-API base URLs per region, the LWA token endpoint, the app's LWA client (when credentials are not
/// per connection) and the retry policy.
#[derive(Debug, Clone, PartialEq)]
pub struct SpApiConfig {
    pub lwa_token_url: String,
    pub endpoint_na: String,
    pub endpoint_eu: String,
    pub endpoint_fe: String,
    pub endpoint_sandbox: String,
    /// The app's LWA client id and secret; a connection may bring its own instead.
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    pub retry: RetryPolicy,
    /// How long one invocation may spend on a sync before it carries the rest over (well inside the
    /// function's timeout, so a long window always makes progress).
    pub run_budget: Duration,
}

impl SpApiConfig {
    /// `SPAPI_LWA_TOKEN_URL`, `SPAPI_ENDPOINT_{NA,EU,FE,SANDBOX}` (required); `SPAPI_LWA_CLIENT_ID`,
    /// `SPAPI_LWA_CLIENT_SECRET`, `SPAPI_BACKOFF_BASE_MS`, `SPAPI_BACKOFF_MAX_MS`,
    /// `SPAPI_MAX_INLINE_WAIT_MS`, `SPAPI_RUN_BUDGET_MS` (optional).
    pub fn read(env: &mut Env) -> Self {
        let defaults = RetryPolicy::default();
        let millis = |env: &mut Env, name: &str, default: Duration| {
            Duration::from_millis(env.parsed(name, default.as_millis() as u64, |v| v.parse().ok()))
        };
        Self {
            lwa_token_url: env.required("SPAPI_LWA_TOKEN_URL"),
            endpoint_na: env.required("SPAPI_ENDPOINT_NA"),
            endpoint_eu: env.required("SPAPI_ENDPOINT_EU"),
            endpoint_fe: env.required("SPAPI_ENDPOINT_FE"),
            endpoint_sandbox: env.required("SPAPI_ENDPOINT_SANDBOX"),
            client_id: env.optional("SPAPI_LWA_CLIENT_ID"),
            client_secret: env.optional("SPAPI_LWA_CLIENT_SECRET").map(Secret::new),
            retry: RetryPolicy {
                backoff_base: millis(env, "SPAPI_BACKOFF_BASE_MS", defaults.backoff_base),
                backoff_max: millis(env, "SPAPI_BACKOFF_MAX_MS", defaults.backoff_max),
                max_inline_wait: millis(env, "SPAPI_MAX_INLINE_WAIT_MS", defaults.max_inline_wait),
                max_attempts: defaults.max_attempts,
            },
            run_budget: millis(env, "SPAPI_RUN_BUDGET_MS", Duration::from_secs(60)),
        }
    }

    pub fn endpoint(&self, region: Region) -> &str {
        match region {
            Region::Na => &self.endpoint_na,
            Region::Eu => &self.endpoint_eu,
            Region::Fe => &self.endpoint_fe,
            Region::Sandbox => &self.endpoint_sandbox,
        }
    }
}
