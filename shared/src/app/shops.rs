//! Installing a shop and reading its access token back. The token is sealed with KMS under the
//! credential context (shop, integration, field), stored only sealed, and never logged or returned.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::{
    app::credentials,
    config::{Env, Secret, SecretsConfig},
    domain::{Integration, ShopDomain},
    error::StoreError,
    integrations::shopify::admin::{AdminClient, AdminConfig},
    secrets::{SealError, Sealer},
    store::{ShopRecord, ShopStatus, ShopStore},
};

/// The credential field of the offline token: sealed under the context every credential uses
/// ([`crate::app::credentials`]: shop, integration, field).
pub(crate) const OFFLINE_TOKEN: &str = "offline_token";

#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Seal(#[from] SealError),
}

/// Records `shop` as installed with `scopes`, sealing its offline Admin API token.
pub async fn install(
    store: &dyn ShopStore,
    sealer: &dyn Sealer,
    shop: &ShopDomain,
    token: &Secret,
    scopes: Vec<String>,
    now: DateTime<Utc>,
) -> Result<ShopRecord, TenantError> {
    let record = ShopRecord {
        shop: shop.clone(),
        status: ShopStatus::Active,
        scopes,
        sealed_token: credentials::seal(sealer, shop, Integration::Shopify, OFFLINE_TOKEN, token).await?,
        installed_at: now,
        metafields_sync: false,
        token: Default::default(),
    };
    store.install_shop(&record).await?;
    if !record.read_all_orders() {
        tracing::warn!(shop = %shop, "read_all_orders is not granted: orders older than 60 days stay invisible");
    }
    tracing::info!(shop = %shop, scopes = record.scopes.len(), "shop installed");
    Ok(record)
}

/// The shop's offline token, if it is installed and active and Shopify has not refused it.
pub async fn access_token(
    store: &dyn ShopStore,
    sealer: &dyn Sealer,
    shop: &ShopDomain,
) -> Result<Option<Secret>, TenantError> {
    let usable = |r: &ShopRecord| r.status == ShopStatus::Active && r.token.invalid_since.is_none();
    let Some(record) = store.shop(shop).await?.filter(usable) else { return Ok(None) };
    Ok(Some(open_token(sealer, &record).await?))
}

/// Opens the token of a shop record already read.
pub async fn open_token(sealer: &dyn Sealer, record: &ShopRecord) -> Result<Secret, TenantError> {
    Ok(credentials::open(sealer, &record.shop, Integration::Shopify, OFFLINE_TOKEN, &record.sealed_token).await?)
}

impl From<TenantError> for crate::error::WorkerError {
    fn from(e: TenantError) -> Self {
        match e {
            TenantError::Store(e) => e.into(),
            TenantError::Seal(SealError::Invalid) => Self::Permanent(e.into()),
            TenantError::Seal(_) => Self::Retryable(e.into()),
        }
    }
}

/// What a function needs to call shops' Admin API: where the API lives, and the key that opens shop
/// tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopifyAccessConfig {
    pub admin: AdminConfig,
    pub secrets: SecretsConfig,
}

impl ShopifyAccessConfig {
    pub fn read(env: &mut Env) -> Self {
        Self { admin: AdminConfig::read(env), secrets: SecretsConfig::read(env) }
    }
}

/// The Admin API client and the sealer that opens shop tokens for it.
#[derive(Clone)]
pub struct ShopifyAccess {
    pub admin: AdminClient,
    pub sealer: Arc<dyn Sealer>,
}

impl ShopifyAccess {
    /// The token of a shop record already read.
    pub async fn open(&self, record: &ShopRecord) -> Result<Secret, TenantError> {
        open_token(self.sealer.as_ref(), record).await
    }

    /// The shop's token, if it is installed and active.
    pub async fn token(&self, shops: &dyn ShopStore, shop: &ShopDomain) -> Result<Option<Secret>, TenantError> {
        access_token(shops, self.sealer.as_ref(), shop).await
    }
}
