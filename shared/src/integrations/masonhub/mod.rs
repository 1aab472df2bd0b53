//! MasonHub, the 3PL (seed 003; `../shared/docs/domain.md` §4; the official OpenAPI spec
//! `masonhub_v5/public_dereferenced.yaml`). Orders go out (`POST /orders` in batches of at most 30 with
//! per-record results in the HTTP 200 body, `POST /order_update_requests`, `POST /order_cancel_requests`,
//! `GET /orders`), callbacks come back (`orderEvent`, `orderUpdateResolution`, `orderCancelResolution`,
//! `skuInventoryChange`), registered with `POST /callbacks`. Every call carries the shop's bearer token.

pub mod client;
pub mod model;
pub mod webhook;

use serde::{Deserialize, Serialize};

use crate::config::Env;

/// The upstream's name in errors and logs.
pub const MASONHUB: &str = "MasonHub";

/// Where a shop's MasonHub account lives: its environment's base URL with the account's `urlSlug`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasonHubConfig {
    /// `https://app.masonhub.co/{slug}/api/v1` in production.
    pub production_url: String,
    /// `https://sandbox.masonhub.co/{slug}/api/v1` in production; the local simulator in `make dev`.
    pub sandbox_url: String,
    /// How long one request may take (`MASONHUB_REQUEST_TIMEOUT_MS`, 20 s by default).
    pub request_timeout: std::time::Duration,
}

impl MasonHubConfig {
    pub fn read(env: &mut Env) -> Self {
        let config = Self {
            production_url: env.required("MASONHUB_PRODUCTION_URL"),
            sandbox_url: env.required("MASONHUB_SANDBOX_URL"),
            request_timeout: std::time::Duration::from_millis(env.parsed("MASONHUB_REQUEST_TIMEOUT_MS", 20_000, |v| {
                v.parse().ok().filter(|ms| (100..=60_000).contains(ms))
            })),
        };
        for (name, url) in
            [("MASONHUB_PRODUCTION_URL", &config.production_url), ("MASONHUB_SANDBOX_URL", &config.sandbox_url)]
        {
            if !url.is_empty() && !url.contains("{slug}") {
                env.invalid(name, "the URL must contain {slug}, the account's urlSlug");
            }
        }
        config
    }

    /// The API base of `slug`'s account in `environment`.
    pub fn base_url(&self, environment: Environment, slug: &str) -> String {
        let template = match environment {
            Environment::Production => &self.production_url,
            Environment::Sandbox => &self.sandbox_url,
        };
        template.replace("{slug}", slug).trim_end_matches('/').to_owned()
    }
}

/// A MasonHub environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    Production,
    Sandbox,
}

impl Environment {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "production" => Some(Self::Production),
            "sandbox" => Some(Self::Sandbox),
            _ => None,
        }
    }
}

/// Whether `slug` can be an account `urlSlug` (a URL path segment).
pub fn is_slug(slug: &str) -> bool {
    (1..=64).contains(&slug.len()) && slug.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}
