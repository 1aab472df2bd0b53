//! Sealed credentials, stored once for every integration: per shop and integration, the KMS-sealed
//! secret fields (opened only under an encryption context naming the shop, the integration and the
//! field: `crate::app::credentials`) and the public parts that go with them (a client id).

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    domain::{Integration, ShopDomain},
    error::StoreError,
};

/// A shop's credential for an integration. `Debug` shows the sealed fields' names, never a ciphertext.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedCredential {
    /// Sealed secrets by field name (`refresh_token`, `client_secret`, `api_key`…).
    pub sealed: BTreeMap<String, String>,
    /// Parts that are not secret (a client id), by name.
    #[serde(default)]
    pub public: BTreeMap<String, String>,
    pub updated_at: DateTime<Utc>,
}

impl std::fmt::Debug for SealedCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedCredential")
            .field("sealed", &self.sealed.keys().map(|field| (field, "***")).collect::<BTreeMap<_, _>>())
            .field("public", &self.public)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

#[async_trait]
pub trait CredentialStore: Send + Sync {
    /// Stores (replaces) the shop's credential for `integration`.
    async fn put_credential(
        &self,
        shop: &ShopDomain,
        integration: Integration,
        credential: &SealedCredential,
    ) -> Result<(), StoreError>;

    async fn credential(
        &self,
        shop: &ShopDomain,
        integration: Integration,
    ) -> Result<Option<SealedCredential>, StoreError>;
}
