//! Bearer secrets that name their shop, for partners that call us back: `{base64url(shop)}.{random}`.
//! One URL can serve every shop (the token says which), and only the token's SHA-256 is stored,
//! compared in constant time. Shared by MasonHub's callbacks and CommerceOS's sync-webhooks.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

use crate::domain::ShopDomain;

/// A new token for `shop` from 32 random bytes.
pub fn new_token(shop: &ShopDomain, random: &[u8; 32]) -> String {
    format!("{}.{}", URL_SAFE_NO_PAD.encode(shop.as_str()), URL_SAFE_NO_PAD.encode(random))
}

/// The shop a token names, if it has a token's shape.
pub fn shop_of(token: &str) -> Option<ShopDomain> {
    let (shop, secret) = token.split_once('.')?;
    if secret.len() < 32 {
        return None;
    }
    let raw = URL_SAFE_NO_PAD.decode(shop).ok()?;
    ShopDomain::parse(std::str::from_utf8(&raw).ok()?).ok()
}

/// The stored form of a token: its SHA-256, hex.
pub fn hash(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `token` hashes to `stored`, compared in constant time.
pub fn verify(token: &str, stored: &str) -> bool {
    let (a, b) = (hash(token), stored.to_owned());
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_names_its_shop_and_verifies_only_against_its_hash() {
        let shop = ShopDomain::parse("a.myshopify.com").unwrap();
        let token = new_token(&shop, &[7; 32]);
        assert_eq!(shop_of(&token), Some(shop.clone()));
        let stored = hash(&token);
        assert!(verify(&token, &stored));
        assert!(!verify(&new_token(&shop, &[8; 32]), &stored));
        assert_eq!(shop_of("garbage"), None);
        assert_eq!(shop_of("YQ.short"), None);
    }
}

/// Short-lived access tokens we issue at `POST /oauth/token` (client credentials) to a partner's
/// client: `{base64url(shop)}.{expiry epoch seconds}.{HMAC-SHA256 hex}`, signed with the stored hash of
/// the client's secret, so a reconnect (a new secret) revokes every token issued before.
pub mod access {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    use chrono::{DateTime, Utc};
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    use crate::domain::ShopDomain;

    fn signature(key: &str, shop: &ShopDomain, expires: i64) -> Option<String> {
        // HMAC takes a key of any length; the error branch never happens.
        let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).ok()?;
        mac.update(format!("{shop}|{expires}").as_bytes());
        Some(mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect())
    }

    /// A token for `shop` valid until `expires`, signed with `key`.
    pub fn issue(key: &str, shop: &ShopDomain, expires: DateTime<Utc>) -> String {
        let at = expires.timestamp();
        format!("{}.{at}.{}", URL_SAFE_NO_PAD.encode(shop.as_str()), signature(key, shop, at).unwrap_or_default())
    }

    /// The shop a token names (not yet verified).
    pub fn shop_of(token: &str) -> Option<ShopDomain> {
        let (shop, _) = token.split_once('.')?;
        ShopDomain::parse(std::str::from_utf8(&URL_SAFE_NO_PAD.decode(shop).ok()?).ok()?).ok()
    }

    /// Whether `token` was signed with `key` for `shop` and is not expired at `now` (constant time).
    pub fn verify(token: &str, key: &str, shop: &ShopDomain, now: DateTime<Utc>) -> bool {
        let mut parts = token.splitn(3, '.');
        let (Some(named), Some(at), Some(sig)) = (parts.next(), parts.next(), parts.next()) else { return false };
        let Ok(at) = at.parse::<i64>() else { return false };
        let Some(expected) = signature(key, shop, at) else { return false };
        let same =
            expected.len() == sig.len() && expected.bytes().zip(sig.bytes()).fold(0u8, |a, (x, y)| a | (x ^ y)) == 0;
        same && named == URL_SAFE_NO_PAD.encode(shop.as_str()) && at > now.timestamp()
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn tokens_verify_for_their_shop_key_and_lifetime_only() {
            let shop = ShopDomain::parse("a.myshopify.com").unwrap();
            let now = chrono::Utc::now();
            let token = issue("k", &shop, now + chrono::Duration::minutes(15));
            assert_eq!(shop_of(&token), Some(shop.clone()));
            assert!(verify(&token, "k", &shop, now));
            assert!(!verify(&token, "other", &shop, now), "another secret");
            assert!(!verify(&token, "k", &shop, now + chrono::Duration::minutes(16)), "expired");
            assert!(!verify(&token, "k", &ShopDomain::parse("b.myshopify.com").unwrap(), now));
            assert!(!verify("garbage", "k", &shop, now));
        }
    }
}
