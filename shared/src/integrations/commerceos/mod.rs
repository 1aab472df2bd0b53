//! CommerceOS by Heads, the ERP/OMS (seed 004; `../shared/docs/domain.md` §5). Trade orders go out as
//! idempotent upserts (`PUT /v1/trade-orders/{ns.key=value}`: 201, then 200) followed by actions
//! (`PATCH …/actions`: `changeDeliveryAddress`, `changeInvoiceAddress`, `createPayment`, `tryApprove`,
//! `createShipment`, `tryCancel`; `release` on shipment orders); CommerceOS calls us back through its
//! sync-webhooks (mapped types + `PUT /v1/sync-webhooks/{id}`). A tenant lives at
//! `https://<tenant>.app.heads.com`: the API under `/api/v1`, the OAuth2 token endpoint at
//! `/oauth2/v1/token`. Authentication is an API key (`X-Api-Key`) or OAuth2 client credentials.

pub mod client;
pub mod model;

use serde::{Deserialize, Serialize};

use crate::config::{Env, Secret};

/// The upstream's name in errors and logs.
pub const COMMERCEOS: &str = "CommerceOS";

/// Where tenants live: a URL template with `{tenant}` (`https://{tenant}.app.heads.com` in AWS, the
/// simulator locally). Tenants are names, never URLs, so a connection cannot point our credentials
/// and requests at an arbitrary host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommerceOsConfig {
    pub tenant_url: String,
}

impl CommerceOsConfig {
    pub fn read(env: &mut Env) -> Self {
        let config = Self { tenant_url: env.required("COMMERCEOS_TENANT_URL") };
        if !config.tenant_url.is_empty() && !config.tenant_url.contains("{tenant}") {
            env.invalid("COMMERCEOS_TENANT_URL", "the URL must contain {tenant}, the tenant's name");
        }
        config
    }

    /// The root of `tenant` (no trailing slash).
    pub fn root(&self, tenant: &str) -> String {
        self.tenant_url.replace("{tenant}", tenant).trim_end_matches('/').to_owned()
    }

    /// The tenant's API base URL, `{root}/api/v1` (`https://acme.app.heads.com/api/v1`).
    pub fn base_url(&self, tenant: &str) -> String {
        format!("{}{API_PATH}", self.root(tenant))
    }

    /// The tenant a base URL names, read against the template: the URL must be the template's root
    /// with a tenant name (a DNS label) in its place, optionally followed by `/api/v1` and a trailing
    /// slash, and nothing else (no other host, port, path, query or user). So a connection given a URL
    /// still cannot point our credentials at a host the template does not name. Case-insensitive
    /// (tenant names are lower case).
    pub fn tenant_of(&self, base_url: &str) -> Option<String> {
        let url = base_url.trim().to_ascii_lowercase();
        let url = url.strip_suffix('/').unwrap_or(&url);
        let url = url.strip_suffix(API_PATH).unwrap_or(url);
        let template = self.tenant_url.trim_end_matches('/').to_ascii_lowercase();
        let (prefix, suffix) = template.split_once("{tenant}")?;
        let tenant = url.strip_prefix(prefix)?.strip_suffix(suffix)?;
        is_tenant(tenant).then(|| tenant.to_owned())
    }
}

/// The API's path under a tenant's root.
const API_PATH: &str = "/api/v1";

/// Whether `tenant` can be a tenant name (a DNS label).
pub fn is_tenant(tenant: &str) -> bool {
    (1..=63).contains(&tenant.len())
        && tenant.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !tenant.starts_with('-')
        && !tenant.ends_with('-')
}

/// A namespaced identifier key: exactly three dot segments (`com.acme.order-id`). CommerceOS silently
/// drops a malformed key with a 200, so every key we send is checked here first.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IdentifierKey(String);

impl IdentifierKey {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let segments: Vec<&str> = raw.split('.').collect();
        let segment_ok = |s: &&str| {
            (1..=63).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if segments.len() == 3 && segments.iter().all(segment_ok) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(format!("`{raw}` is not a namespaced key of exactly three dot segments (com.acme.order-id)"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `{namespace}.{name}`: a sibling key in the same namespace (`com.acme` + `channel`).
    pub fn sibling(&self, name: &str) -> IdentifierKey {
        let namespace = self.0.rsplit_once('.').map_or(self.0.as_str(), |(ns, _)| ns);
        IdentifierKey(format!("{namespace}.{name}"))
    }

    /// The path segment addressing the record whose key is `value`: `com.acme.order-id=WEB-1`
    /// (the value percent-encoded).
    pub fn address(&self, value: &str) -> String {
        let encoded: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
        format!("{}={}", self.0, encoded.replace('+', "%20"))
    }
}

impl TryFrom<String> for IdentifierKey {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<IdentifierKey> for String {
    fn from(value: IdentifierKey) -> Self {
        value.0
    }
}

impl std::fmt::Display for IdentifierKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// How we authenticate to a tenant. No `Debug`: it holds secrets.
#[derive(Clone)]
pub enum Credential {
    /// `X-Api-Key`.
    ApiKey(Secret),
    /// OAuth2 client credentials, exchanged at the tenant's token endpoint.
    Client { client_id: String, client_secret: Secret },
}

/// A tenant to call: its root and our credential there.
#[derive(Clone)]
pub struct Tenant {
    pub root: String,
    pub credential: Credential,
}

impl Tenant {
    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v1/{}", self.root, path.trim_start_matches('/'))
    }

    pub fn token_url(&self) -> String {
        format!("{}/oauth2/v1/token", self.root)
    }
}

/// Scopes that allow writing trade orders, payments and shipments (fine-grained, seed 004's names,
/// or the legacy `write:api`).
pub const WRITE_SCOPES: &[(&str, &[&str])] = &[
    ("write:orders", &["write:orders", "trade-orders:write", "trade-records:write", "write:api"]),
    ("write:payments", &["write:payments", "payments:write", "trade-orders:write", "write:api"]),
    ("write:shipments", &["write:shipments", "shipments:write", "shipment-orders:write", "write:api"]),
];

/// The write scopes `granted` lacks, by seed 004's names. CommerceOS answers a write under a
/// read-only scope with a silent 200 that persists nothing, so writes wait until none is missing.
pub fn missing_write_scopes(granted: &[String]) -> Vec<String> {
    WRITE_SCOPES
        .iter()
        .filter(|(_, any_of)| !any_of.iter().any(|s| granted.iter().any(|g| g.eq_ignore_ascii_case(s))))
        .map(|(name, _)| (*name).to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifier_keys_have_exactly_three_segments() {
        let key = IdentifierKey::parse("com.acme.order-id").unwrap();
        assert_eq!(key.address("WEB-1"), "com.acme.order-id=WEB-1");
        assert_eq!(key.address("a b/c"), "com.acme.order-id=a%20b%2Fc");
        assert_eq!(key.sibling("channel").as_str(), "com.acme.channel");
        for bad in ["acme.order-id", "com.acme.order.id", "com..order-id", "com.acme.order id", "", "com.acme."] {
            assert!(IdentifierKey::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_base_url_names_its_tenant_only_when_it_is_the_template_exactly() {
        let config = CommerceOsConfig { tenant_url: "https://{tenant}.app.heads.com".into() };
        for good in [
            "https://acme.app.heads.com/api/v1",
            "https://acme.app.heads.com/api/v1/",
            "https://ACME.app.heads.com",
            " https://acme.app.heads.com/ ",
        ] {
            assert_eq!(config.tenant_of(good).as_deref(), Some("acme"), "{good}");
        }
        for bad in [
            "https://evil.example/api/v1",
            "https://acme.app.heads.com.evil.example/api/v1",
            "https://evil.example/x.app.heads.com/api/v1",
            "https://acme.evil.app.heads.com/api/v1",
            "https://user@acme.app.heads.com/api/v1",
            "http://acme.app.heads.com/api/v1",
            "https://acme.app.heads.com:8443/api/v1",
            "https://acme.app.heads.com/api/v2",
            "https://acme.app.heads.com/api/v1?x=1",
            "https://.app.heads.com/api/v1",
            "acme",
        ] {
            assert_eq!(config.tenant_of(bad), None, "{bad}");
        }
        assert_eq!(config.base_url("acme"), "https://acme.app.heads.com/api/v1");
        let local = CommerceOsConfig { tenant_url: "http://127.0.0.1:4000/commerceos/{tenant}/".into() };
        assert_eq!(local.tenant_of("http://127.0.0.1:4000/commerceos/acme/api/v1").as_deref(), Some("acme"));
    }

    #[test]
    fn tenants_are_dns_labels_and_write_scopes_are_checked() {
        assert!(is_tenant("acme-prod"));
        assert!(!is_tenant("evil.com/x") && !is_tenant("") && !is_tenant("-a"));
        assert_eq!(missing_write_scopes(&["write:api".into()]), Vec::<String>::new());
        assert_eq!(
            missing_write_scopes(&["read:orders".into(), "write:orders".into()]),
            vec!["write:payments".to_owned(), "write:shipments".to_owned()]
        );
    }
}
