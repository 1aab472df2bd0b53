//! Sealed credentials in the shop's partition (`CRED#{integration}`).

use super::*;
use crate::store::{CredentialStore, SealedCredential};

#[async_trait]
impl CredentialStore for DynamoStore {
    async fn put_credential(
        &self,
        shop: &ShopDomain,
        integration: Integration,
        credential: &SealedCredential,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item(keys::PK, s(keys::shop_pk(shop)))
            .item(keys::SK, s(keys::credential_sk(integration)))
            .item("entity", s("credential"))
            .item("data", to_json(credential)?)
            .send()
            .await
            .map_err(|e| super::sdk_error("put credential", e))?;
        Ok(())
    }

    async fn credential(
        &self,
        shop: &ShopDomain,
        integration: Integration,
    ) -> Result<Option<SealedCredential>, StoreError> {
        let sk = keys::credential_sk(integration);
        let item = self.get_consistent(&keys::shop_pk(shop), &sk, "get credential").await?;
        item.as_ref().map(from_data).transpose()
    }
}
