//! Webhook delivery headers and HMAC verification.

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::{config::Secret, domain::ShopDomain};

type HmacSha256 = Hmac<Sha256>;

pub const HMAC_HEADER: &str = "x-shopify-hmac-sha256";
pub const TOPIC_HEADER: &str = "x-shopify-topic";
pub const SHOP_HEADER: &str = "x-shopify-shop-domain";
pub const API_VERSION_HEADER: &str = "x-shopify-api-version";
pub const WEBHOOK_ID_HEADER: &str = "x-shopify-webhook-id";
pub const EVENT_ID_HEADER: &str = "x-shopify-event-id";
pub const TRIGGERED_AT_HEADER: &str = "x-shopify-triggered-at";

/// The delivery headers, as `shopify-app-js` reads them: hmac, topic, shop, API version and webhook id
/// are required; event id and triggered-at are optional.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryHeaders {
    pub hmac: String,
    pub topic: String,
    pub shop: ShopDomain,
    pub api_version: String,
    pub webhook_id: String,
    pub event_id: Option<String>,
    pub triggered_at: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HeaderError {
    #[error("missing required headers: {}", .0.join(", "))]
    Missing(Vec<&'static str>),
    #[error("invalid header {0}")]
    Invalid(&'static str),
}

impl DeliveryHeaders {
    /// Reads the headers through `get`, which looks a header up case-insensitively. The HMAC header
    /// is checked separately by the caller, since a missing HMAC is a 401, not a 400.
    pub fn parse<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<Self, HeaderError> {
        let required = [TOPIC_HEADER, SHOP_HEADER, API_VERSION_HEADER, WEBHOOK_ID_HEADER];
        let missing: Vec<&'static str> = required.into_iter().filter(|h| get(h).is_none()).collect();
        if !missing.is_empty() {
            return Err(HeaderError::Missing(missing));
        }
        let value = |name: &str| get(name).unwrap_or_default().to_owned();
        let webhook_id = value(WEBHOOK_ID_HEADER);
        if webhook_id.len() > 256 {
            return Err(HeaderError::Invalid(WEBHOOK_ID_HEADER));
        }
        Ok(Self {
            hmac: value(HMAC_HEADER),
            topic: value(TOPIC_HEADER),
            shop: ShopDomain::parse(&value(SHOP_HEADER)).map_err(|_| HeaderError::Invalid(SHOP_HEADER))?,
            api_version: value(API_VERSION_HEADER),
            webhook_id,
            event_id: get(EVENT_ID_HEADER).map(str::to_owned),
            triggered_at: get(TRIGGERED_AT_HEADER).map(str::to_owned),
        })
    }
}

/// True when `signature` (base64) is the HMAC-SHA256 of `body` under any of `secrets`. Each comparison
/// runs in constant time. Several secrets cover a rotation: Shopify signs with the oldest unrevoked one.
pub fn verify_hmac<'s>(body: &[u8], signature: &str, secrets: impl IntoIterator<Item = &'s Secret>) -> bool {
    let Ok(expected) = STANDARD.decode(signature.trim()) else {
        return false;
    };
    secrets.into_iter().any(|secret| {
        let Ok(mut mac) = HmacSha256::new_from_slice(secret.expose().as_bytes()) else {
            return false;
        };
        mac.update(body);
        mac.verify_slice(&expected).is_ok()
    })
}

/// The `X-Shopify-Hmac-Sha256` value for `body`: what Shopify would send. Used by the local stack's
/// demo seeding and by tests.
pub fn sign(body: &[u8], secret: &Secret) -> String {
    // HMAC accepts keys of any length, so the error arm is never taken.
    let Ok(mut mac) = HmacSha256::new_from_slice(secret.expose().as_bytes()) else {
        return String::new();
    };
    mac.update(body);
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Topics whose effect reaches the whole shop or its customers' data: the shop their body names must be
/// the shop of `X-Shopify-Shop-Domain`, because the HMAC covers the body only and a replayed signed body
/// could otherwise be delivered under another shop's header.
pub const SHOP_BOUND_TOPICS: &[&str] =
    &["shop/redact", "customers/redact", "customers/data_request", "app/uninstalled"];

/// Whether the body of a `topic` delivery names `shop`: the compliance topics' `shop_domain`, or the
/// shop resource's `myshopify_domain` for `app/uninstalled`. Always true for topics outside
/// [`SHOP_BOUND_TOPICS`]. A compliance body that names no shop is refused; an `app/uninstalled` body whose
/// `myshopify_domain` is null (as in Shopify's published sample; real deliveries carry it) is accepted,
/// since marking a shop uninstalled erases nothing.
pub fn body_names_shop(topic: &str, payload: &serde_json::Value, shop: &ShopDomain) -> bool {
    if !SHOP_BOUND_TOPICS.contains(&topic) {
        return true;
    }
    let field = if topic == "app/uninstalled" { "/myshopify_domain" } else { "/shop_domain" };
    match payload.pointer(field).and_then(serde_json::Value::as_str) {
        Some(named) => ShopDomain::parse(named).is_ok_and(|named| named == *shop),
        None => topic == "app/uninstalled",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shop_bound_topics_must_name_the_header_shop_in_their_body() {
        let shop = ShopDomain::parse("demo-shop.myshopify.com").unwrap();
        let redact = |named: &str| serde_json::json!({ "shop_id": 1, "shop_domain": named });
        assert!(body_names_shop("shop/redact", &redact("demo-shop.myshopify.com"), &shop));
        assert!(!body_names_shop("shop/redact", &redact("other.myshopify.com"), &shop));
        assert!(!body_names_shop("customers/redact", &serde_json::json!({ "customer": {} }), &shop), "names no shop");
        let uninstalled =
            serde_json::json!({ "domain": "shop.example.com", "myshopify_domain": "demo-shop.myshopify.com" });
        assert!(body_names_shop("app/uninstalled", &uninstalled, &shop));
        let other =
            serde_json::json!({ "domain": "demo-shop.myshopify.com", "myshopify_domain": "other.myshopify.com" });
        assert!(!body_names_shop("app/uninstalled", &other, &shop));
        assert!(body_names_shop("orders/create", &serde_json::json!({}), &shop), "other topics are not shop-bound");
    }

    #[test]
    fn the_published_vector_verifies_and_a_trailing_newline_does_not() {
        // domain.md §1: SQLPage's vector, re-verified with openssl.
        let secret = Secret::new("test-webhook-secret");
        let body = br#"{"id":1234567890,"email":"customer@example.com","total_price":"123.45"}"#;
        assert_eq!(sign(body, &secret), "QNyObTlKbMx2qDlPF/ZOZcBqg5OgPg+2oky3zldc0Gw=");
        assert!(verify_hmac(body, "QNyObTlKbMx2qDlPF/ZOZcBqg5OgPg+2oky3zldc0Gw=", [&secret]));
        let with_newline = [body.as_slice(), b"\n"].concat();
        assert!(!verify_hmac(&with_newline, "QNyObTlKbMx2qDlPF/ZOZcBqg5OgPg+2oky3zldc0Gw=", [&secret]));
        assert_eq!(sign(&with_newline, &secret), "L/D3ENnYwaFSU5HArthvAK618UK7/q43/yRlTjU9ypw=");
    }

    #[test]
    fn garbage_signatures_are_rejected() {
        let secret = Secret::new("s");
        assert!(!verify_hmac(b"{}", "not base64!!", [&secret]));
        assert!(!verify_hmac(b"{}", "", [&secret]));
    }

    #[test]
    fn the_previous_secret_is_accepted_during_rotation() {
        let (new, old) = (Secret::new("new"), Secret::new("old"));
        let signature = sign(b"body", &old);
        assert!(verify_hmac(b"body", &signature, [&new, &old]));
        assert!(!verify_hmac(b"body", &signature, [&new]));
    }

    #[test]
    fn missing_headers_are_all_named() {
        let err = DeliveryHeaders::parse(|name| (name == TOPIC_HEADER).then_some("orders/create")).unwrap_err();
        assert_eq!(err, HeaderError::Missing(vec![SHOP_HEADER, API_VERSION_HEADER, WEBHOOK_ID_HEADER]));
    }
}
