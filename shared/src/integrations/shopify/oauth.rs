//! Shopify's token endpoint (`POST https://{shop}/admin/oauth/access_token`): the token exchange that
//! turns an embedded app's session token into an **expiring offline** Admin API token, and the
//! refresh-token grant that renews it (Shopify replaces the refresh token at every use).
//! <https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens/token-exchange>,
//! <https://shopify.dev/changelog/offline-access-tokens-now-support-expiry-and-refresh>.
//!
//! Nothing is sent to a host that [`ShopHosts`] refuses: a session token or client secret never
//! leaves for an IP address or a host outside `*.myshopify.com` (unless the configuration names it).

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;

use crate::{
    config::{Env, Secret, ShopifyAppConfig},
    domain::ShopDomain,
};

pub const TOKEN_EXCHANGE_GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";
pub const OFFLINE_ACCESS_TOKEN_TYPE: &str = "urn:shopify:params:oauth:token-type:offline-access-token";
pub const REFRESH_TOKEN_GRANT: &str = "refresh_token";

/// Which shop hosts may receive tokens: `{name}.myshopify.com`, plus the exact hosts the configuration
/// names (`SHOPIFY_EXTRA_SHOP_HOSTS`, comma-separated; never set in AWS).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShopHosts {
    pub extra: Vec<String>,
}

impl ShopHosts {
    pub fn read(env: &mut Env) -> Self {
        let extra = env.optional("SHOPIFY_EXTRA_SHOP_HOSTS").unwrap_or_default();
        Self { extra: extra.split(',').map(|h| h.trim().to_ascii_lowercase()).filter(|h| !h.is_empty()).collect() }
    }

    /// Whether tokens may be sent to `shop`: one DNS label under `myshopify.com` (so no IP address and
    /// no other domain), or a host listed explicitly.
    pub fn allows(&self, shop: &ShopDomain) -> bool {
        let host = shop.as_str();
        let myshopify = host.strip_suffix(".myshopify.com").is_some_and(|name| {
            !name.is_empty()
                && !name.starts_with('-')
                && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        });
        myshopify || self.extra.iter().any(|h| h == host)
    }
}

/// What the app needs to call the token endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthConfig {
    pub app: ShopifyAppConfig,
    /// The shop's base URL with `{shop}` standing for the shop (`https://{shop}` in AWS; the same
    /// `SHOPIFY_ADMIN_URL` the Admin API client uses).
    pub base_url: String,
    pub hosts: ShopHosts,
}

impl OAuthConfig {
    pub fn read(env: &mut Env) -> Self {
        Self {
            app: ShopifyAppConfig::read(env),
            base_url: env.required("SHOPIFY_ADMIN_URL"),
            hosts: ShopHosts::read(env),
        }
    }

    pub fn token_url(&self, shop: &ShopDomain) -> String {
        let base = self.base_url.replace("{shop}", shop.as_str());
        format!("{}/admin/oauth/access_token", base.trim_end_matches('/'))
    }
}

/// An offline token as Shopify granted it.
#[derive(Debug, Clone)]
pub struct Grant {
    pub access_token: Secret,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// `None` for a non-expiring token (Shopify answered without `expires_in`).
    pub expires_at: Option<DateTime<Utc>>,
    pub refresh_token: Option<Secret>,
    pub refresh_token_expires_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct GrantWire {
    access_token: String,
    #[serde(default)]
    scope: String,
    expires_in: Option<i64>,
    refresh_token: Option<String>,
    refresh_token_expires_in: Option<i64>,
}

impl GrantWire {
    fn into_grant(self, now: DateTime<Utc>) -> Grant {
        let at = |seconds: Option<i64>| seconds.map(|s| now + TimeDelta::seconds(s));
        Grant {
            access_token: Secret::new(self.access_token),
            scopes: self.scope.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect(),
            expires_at: at(self.expires_in),
            refresh_token: self.refresh_token.map(Secret::new),
            refresh_token_expires_at: at(self.refresh_token_expires_in),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// The shop host may not receive tokens; nothing was sent.
    #[error("`{0}` is not a myshopify.com shop; no token was sent")]
    HostRefused(String),
    /// Shopify refused the grant (HTTP 400/401/403): an expired or invalid session token, a revoked
    /// refresh token, an uninstalled app. Retrying the same grant will not help.
    #[error("Shopify refused the grant (HTTP {status}: {error})")]
    Refused { status: u16, error: String },
    #[error("Shopify answered HTTP {0}")]
    Status(u16),
    #[error("Shopify could not be reached: {0}")]
    Transport(#[from] reqwest::Error),
    #[error("unexpected token response: {0}")]
    Decode(String),
}

impl OAuthError {
    /// Whether a later attempt may succeed (Shopify unavailable).
    pub fn is_transient(&self) -> bool {
        match self {
            OAuthError::Transport(_) => true,
            OAuthError::Status(status) => *status >= 500 || *status == 429,
            OAuthError::HostRefused(_) | OAuthError::Refused { .. } | OAuthError::Decode(_) => false,
        }
    }
}

/// The token endpoint client.
#[derive(Debug, Clone)]
pub struct OAuthClient {
    http: std::sync::OnceLock<reqwest::Client>,
    config: OAuthConfig,
}

impl OAuthClient {
    pub fn new(config: OAuthConfig) -> Self {
        Self { http: std::sync::OnceLock::new(), config }
    }

    pub fn config(&self) -> &OAuthConfig {
        &self.config
    }

    fn http(&self) -> Result<&reqwest::Client, OAuthError> {
        if let Some(http) = self.http.get() {
            return Ok(http);
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            // A redirect would carry the secrets to another host.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("order-sync/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(self.http.get_or_init(|| http))
    }

    /// Exchanges the session token (ID token) of `shop` for an expiring offline access token.
    pub async fn exchange(
        &self,
        shop: &ShopDomain,
        session_token: &str,
        now: DateTime<Utc>,
    ) -> Result<Grant, OAuthError> {
        let body = serde_json::json!({
            "client_id": self.config.app.api_key,
            "client_secret": self.config.app.api_secret.expose(),
            "grant_type": TOKEN_EXCHANGE_GRANT,
            "subject_token": session_token,
            "subject_token_type": ID_TOKEN_TYPE,
            "requested_token_type": OFFLINE_ACCESS_TOKEN_TYPE,
            "expiring": "1",
        });
        self.post(shop, body, now).await
    }

    /// Renews an expiring offline token with its refresh token. The answer carries a new refresh token.
    pub async fn refresh(
        &self,
        shop: &ShopDomain,
        refresh_token: &Secret,
        now: DateTime<Utc>,
    ) -> Result<Grant, OAuthError> {
        let body = serde_json::json!({
            "client_id": self.config.app.api_key,
            "client_secret": self.config.app.api_secret.expose(),
            "grant_type": REFRESH_TOKEN_GRANT,
            "refresh_token": refresh_token.expose(),
        });
        self.post(shop, body, now).await
    }

    async fn post(&self, shop: &ShopDomain, body: serde_json::Value, now: DateTime<Utc>) -> Result<Grant, OAuthError> {
        if !self.config.hosts.allows(shop) {
            return Err(OAuthError::HostRefused(shop.to_string()));
        }
        let response = self
            .http()?
            .post(self.config.token_url(shop))
            .header("Accept", "application/json")
            .json(&body)
            .send()
            .await?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await?;
        match status {
            200..=299 => {}
            400 | 401 | 403 => {
                // Only the error code is kept: the description may echo the request.
                let error = serde_json::from_slice::<serde_json::Value>(&bytes)
                    .ok()
                    .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
                    .unwrap_or_else(|| "refused".into());
                return Err(OAuthError::Refused { status, error });
            }
            other => return Err(OAuthError::Status(other)),
        }
        let wire: GrantWire = serde_json::from_slice(&bytes).map_err(|e| OAuthError::Decode(e.to_string()))?;
        if wire.access_token.is_empty() {
            return Err(OAuthError::Decode("empty access_token".into()));
        }
        Ok(wire.into_grant(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shop(raw: &str) -> ShopDomain {
        ShopDomain::parse(raw).unwrap()
    }

    #[test]
    fn only_myshopify_hosts_and_named_extras_may_receive_tokens() {
        let hosts = ShopHosts::default();
        assert!(hosts.allows(&shop("demo-shop.myshopify.com")));
        for refused in ["127.0.0.1", "evil.com", "a.b.myshopify.com", "myshopify.com.evil.com", "x.myshopify.co"] {
            assert!(!hosts.allows(&shop(refused)), "{refused}");
        }
        let local = ShopHosts { extra: vec!["shop.localhost".into()] };
        assert!(local.allows(&shop("shop.localhost")));
        assert!(!local.allows(&shop("127.0.0.1")));
    }

    #[test]
    fn a_grant_reads_scopes_and_expiry() {
        let now = DateTime::parse_from_rfc3339("2026-11-27T12:00:00Z").unwrap().to_utc();
        let wire: GrantWire = serde_json::from_value(serde_json::json!({
            "access_token": "shpat_x", "scope": "read_orders,write_fulfillments", "expires_in": 3600,
            "refresh_token": "shprt_y", "refresh_token_expires_in": 7776000
        }))
        .unwrap();
        let grant = wire.into_grant(now);
        assert_eq!(grant.scopes, ["read_orders", "write_fulfillments"]);
        assert_eq!(grant.expires_at, Some(now + TimeDelta::hours(1)));
        assert_eq!(grant.refresh_token.unwrap().expose(), "shprt_y");
        assert_eq!(format!("{:?}", grant.access_token), "Secret(***)");
    }

    #[test]
    fn the_token_url_is_on_the_shop() {
        let config = OAuthConfig {
            app: ShopifyAppConfig { api_key: "k".into(), api_secret: Secret::new("s"), previous_api_secret: None },
            base_url: "https://{shop}".into(),
            hosts: ShopHosts::default(),
        };
        assert_eq!(config.token_url(&shop("a.myshopify.com")), "https://a.myshopify.com/admin/oauth/access_token");
    }
}
