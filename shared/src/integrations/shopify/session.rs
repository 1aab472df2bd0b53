//! Shopify session tokens: the HS256 JWT an embedded app sends as `Authorization: Bearer`.
//! Claims per <https://shopify.dev/docs/apps/build/authentication-authorization/session-tokens>.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::{
    config::{Secret, ShopifyAppConfig},
    domain::ShopDomain,
};

/// Tolerated clock skew between Shopify and us when checking `exp` and `nbf`.
pub const LEEWAY_SECONDS: i64 = 5;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    /// `https://<shop>.myshopify.com`: the shop the token was issued for.
    pub dest: String,
    /// The app's API key.
    pub aud: String,
    /// The staff user id.
    pub sub: Option<String>,
    pub exp: i64,
    pub nbf: i64,
    #[serde(default)]
    pub iat: Option<i64>,
    #[serde(default)]
    pub jti: Option<String>,
    #[serde(default)]
    pub sid: Option<String>,
}

/// A verified session: the shop it belongs to, the user behind it, and the first instant the token is
/// no longer accepted (just past `exp` plus the leeway).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub shop: ShopDomain,
    pub user: Option<String>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("token is malformed")]
    Malformed,
    #[error("token algorithm is not HS256")]
    Algorithm,
    #[error("token signature is invalid")]
    Signature,
    #[error("token audience does not match this app")]
    Audience,
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet")]
    NotYetValid,
    #[error("token destination is not a shop")]
    Destination,
    #[error("token issuer is not the shop it was issued for")]
    Issuer,
}

/// Verifies the token with `jsonwebtoken`: the signature (current or previous app secret, HS256 only),
/// `aud`, and the presence of `exp`, `nbf` and `aud`; then `exp` and `nbf` against `now` (the injected
/// clock, with [`LEEWAY_SECONDS`]), and that `iss` names the same shop as `dest`. Returns the shop named
/// by `dest`. Whether that shop may be acted on is the caller's check.
pub fn verify(token: &str, app: &ShopifyAppConfig, now: DateTime<Utc>) -> Result<Session, TokenError> {
    // HS256 pinned: a token naming any other algorithm (`none` included) is refused as such.
    let header = token.split('.').next().and_then(|h| URL_SAFE_NO_PAD.decode(h).ok()).ok_or(TokenError::Malformed)?;
    let alg = serde_json::from_slice::<serde_json::Value>(&header).map_err(|_| TokenError::Malformed)?;
    if alg.get("alg").and_then(serde_json::Value::as_str) != Some("HS256") {
        return Err(TokenError::Algorithm);
    }
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_audience(&[app.api_key.as_str()]);
    validation.set_required_spec_claims(&["exp", "nbf", "aud"]);
    // The expiry is checked below against the injected clock, not the system clock.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    let mut outcome = Err(TokenError::Signature);
    for secret in app.secrets() {
        match jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(secret.expose().as_bytes()), &validation)
        {
            Ok(data) => {
                outcome = Ok(data.claims);
                break;
            }
            Err(e) => {
                outcome = Err(match e.kind() {
                    ErrorKind::InvalidSignature => TokenError::Signature,
                    ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => TokenError::Algorithm,
                    ErrorKind::InvalidAudience => TokenError::Audience,
                    _ => TokenError::Malformed,
                });
                // Only a wrong signature may be the other secret's; anything else is final.
                if !matches!(outcome, Err(TokenError::Signature)) {
                    break;
                }
            }
        }
    }
    let claims = outcome?;
    let now = now.timestamp();
    if now > claims.exp + LEEWAY_SECONDS {
        return Err(TokenError::Expired);
    }
    if now + LEEWAY_SECONDS < claims.nbf {
        return Err(TokenError::NotYetValid);
    }
    let shop = shop_of(&claims.dest).ok_or(TokenError::Destination)?;
    if shop_of(&claims.iss) != Some(shop.clone()) {
        return Err(TokenError::Issuer);
    }
    // The first instant `verify` refuses the token: it accepts whole seconds up to `exp` + leeway.
    let expires_at =
        DateTime::from_timestamp(claims.exp.saturating_add(LEEWAY_SECONDS + 1), 0).ok_or(TokenError::Expired)?;
    Ok(Session { shop, user: claims.sub, expires_at })
}

/// The shop of `https://{shop}` or `https://{shop}/admin`.
fn shop_of(url: &str) -> Option<ShopDomain> {
    let host = url.strip_prefix("https://")?;
    let host = host.strip_suffix("/admin").unwrap_or(host).trim_end_matches('/');
    ShopDomain::parse(host).ok()
}

/// Issues a session token as Shopify would. For the local stack's printed `curl` and for tests.
pub fn sign(claims: &Claims, secret: &Secret) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
    let signed = format!("{header}.{payload}");
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()) else {
        return signed;
    };
    mac.update(signed.as_bytes());
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

/// Claims for `shop` valid from `now` for `ttl_seconds`, as Shopify issues them (one minute by default).
pub fn claims_for(shop: &ShopDomain, api_key: &str, user: &str, now: DateTime<Utc>, ttl_seconds: i64) -> Claims {
    let now = now.timestamp();
    Claims {
        iss: format!("https://{shop}/admin"),
        dest: format!("https://{shop}"),
        aud: api_key.to_owned(),
        sub: Some(user.to_owned()),
        exp: now + ttl_seconds,
        nbf: now,
        iat: Some(now),
        jti: Some(format!("{shop}-{now}")),
        sid: None,
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn app() -> ShopifyAppConfig {
        ShopifyAppConfig { api_key: "key".into(), api_secret: Secret::new("secret"), previous_api_secret: None }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
    }

    fn token(edit: impl FnOnce(&mut Claims)) -> String {
        let mut claims = claims_for(&ShopDomain::parse("a.myshopify.com").unwrap(), "key", "42", now(), 60);
        edit(&mut claims);
        sign(&claims, &Secret::new("secret"))
    }

    #[test]
    fn a_fresh_token_names_its_shop_and_user() {
        let session = verify(&token(|_| {}), &app(), now()).unwrap();
        assert_eq!(session.shop.as_str(), "a.myshopify.com");
        assert_eq!(session.user.as_deref(), Some("42"));
    }

    #[test]
    fn each_claim_is_enforced() {
        assert_eq!(verify(&token(|c| c.aud = "other".into()), &app(), now()), Err(TokenError::Audience));
        assert_eq!(verify(&token(|c| c.exp = now().timestamp() - 6), &app(), now()), Err(TokenError::Expired));
        assert_eq!(verify(&token(|c| c.nbf = now().timestamp() + 6), &app(), now()), Err(TokenError::NotYetValid));
        assert_eq!(verify(&token(|c| c.dest = "ftp://x".into()), &app(), now()), Err(TokenError::Destination));
        assert_eq!(verify("a.b", &app(), now()), Err(TokenError::Malformed));
        assert_eq!(
            verify(&token(|c| c.iss = "https://b.myshopify.com/admin".into()), &app(), now()),
            Err(TokenError::Issuer),
            "iss must name the dest shop"
        );
        let rotated = ShopifyAppConfig {
            previous_api_secret: Some(Secret::new("secret")),
            api_secret: Secret::new("new"),
            ..app()
        };
        assert!(verify(&token(|_| {}), &rotated, now()).is_ok(), "the previous secret still verifies");
    }

    #[test]
    fn a_token_signed_with_another_secret_or_tampered_is_rejected() {
        let claims = claims_for(&ShopDomain::parse("a.myshopify.com").unwrap(), "key", "42", now(), 60);
        assert_eq!(verify(&sign(&claims, &Secret::new("other")), &app(), now()), Err(TokenError::Signature));
        let good = token(|_| {});
        let forged = token(|c| c.dest = "https://b.myshopify.com".into());
        let (head_and_payload, _) = forged.rsplit_once('.').unwrap();
        let (_, good_sig) = good.rsplit_once('.').unwrap();
        assert_eq!(verify(&format!("{head_and_payload}.{good_sig}"), &app(), now()), Err(TokenError::Signature));
    }

    #[test]
    fn the_none_algorithm_is_refused() {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
        let payload = token(|_| {}).split('.').nth(1).unwrap().to_owned();
        assert_eq!(verify(&format!("{header}.{payload}."), &app(), now()), Err(TokenError::Algorithm));
    }
}
