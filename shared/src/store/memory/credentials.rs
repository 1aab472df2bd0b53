use super::*;
use crate::store::CredentialStore;

#[async_trait]
impl CredentialStore for MemoryStore {
    async fn put_credential(
        &self,
        shop: &ShopDomain,
        integration: Integration,
        credential: &SealedCredential,
    ) -> Result<(), StoreError> {
        self.state().credentials.insert((shop.clone(), integration), credential.clone());
        Ok(())
    }

    async fn credential(
        &self,
        shop: &ShopDomain,
        integration: Integration,
    ) -> Result<Option<SealedCredential>, StoreError> {
        Ok(self.state().credentials.get(&(shop.clone(), integration)).cloned())
    }
}
