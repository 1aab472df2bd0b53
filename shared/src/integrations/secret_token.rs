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
