//! Who is calling: the dashboard's Shopify session token (HS256, `aud`, `exp`/`nbf`, `dest`), checked
//! once for every HTTP function, and the shop the caller may act on.

use chrono::{DateTime, Utc};

use crate::{
    config::ShopifyAppConfig,
    domain::ShopDomain,
    error::ApiError,
    integrations::shopify::session::{self, Session},
};

/// The caller's verified session: the token's shop and user (`sub`, if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub shop: ShopDomain,
    pub user: Option<String>,
    /// When the session token stops being accepted: a long-lived response (the alert stream) ends then.
    pub expires_at: DateTime<Utc>,
}

/// Whether a request must name its shop in `shop_domain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShopParam {
    /// `shop_domain` is required and must be the token's shop.
    Required,
    /// `shop_domain` may be omitted (the token names the shop); if given, it must be the token's shop.
    Optional,
}

/// Verifies the session token of an `Authorization` header at `now`, and that `shop_domain` names the
/// token's shop: 401 for a missing or invalid token, 400 for a missing (when required) or malformed
/// `shop_domain`, 403 when it names another shop.
pub fn authorize(
    authorization: Option<&str>,
    shop_domain: Option<&str>,
    param: ShopParam,
    app: &ShopifyAppConfig,
    now: DateTime<Utc>,
) -> Result<Caller, ApiError> {
    let token = authorization
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .ok_or_else(|| ApiError::unauthorized("TOKEN_MISSING", "a Shopify session token is required"))?;
    let Session { shop, user, expires_at } =
        session::verify(token.trim(), app, now).map_err(|e| ApiError::unauthorized("TOKEN_INVALID", e.to_string()))?;
    let requested = match (shop_domain, param) {
        (Some(requested), _) => Some(requested),
        (None, ShopParam::Required) => {
            return Err(ApiError::bad_request("SHOP_DOMAIN_REQUIRED", "shop_domain is required"));
        }
        (None, ShopParam::Optional) => None,
    };
    if let Some(requested) = requested {
        let requested = ShopDomain::parse(requested)
            .map_err(|_| ApiError::bad_request("INVALID_SHOP_DOMAIN", "shop_domain is not a shop domain"))?;
        if requested != shop {
            return Err(ApiError::forbidden("SHOP_MISMATCH", "the session token belongs to another shop"));
        }
    }
    Ok(Caller { shop, user: user.filter(|u| !u.trim().is_empty()), expires_at })
}
