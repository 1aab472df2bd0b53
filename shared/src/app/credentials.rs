//! Sealing and opening credential fields. Every secret of every integration is sealed under the same
//! KMS encryption context, naming the shop, the integration and the field, so a ciphertext copied to
//! another shop, integration or field does not open (and an IAM condition on the context can limit a
//! function to its own integration's secrets).

use crate::{
    config::Secret,
    domain::{Integration, ShopDomain},
    secrets::{SealError, Sealer},
};

/// The encryption context of `field` of the shop's `integration` credential.
pub fn context<'a>(shop: &'a ShopDomain, integration: Integration, field: &'a str) -> [(&'a str, &'a str); 3] {
    [("shop", shop.as_str()), ("integration", integration.as_str()), ("field", field)]
}

pub async fn seal(
    sealer: &dyn Sealer,
    shop: &ShopDomain,
    integration: Integration,
    field: &str,
    secret: &Secret,
) -> Result<String, SealError> {
    sealer.seal(secret, &context(shop, integration, field)).await
}

pub async fn open(
    sealer: &dyn Sealer,
    shop: &ShopDomain,
    integration: Integration,
    field: &str,
    sealed: &str,
) -> Result<Secret, SealError> {
    sealer.open(sealed, &context(shop, integration, field)).await
}
