use super::*;

#[async_trait]
impl RequestStore for MemoryStore {
    async fn stored_response(
        &self,
        shop: &ShopDomain,
        key: &str,
        _now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        Ok(self.state().requests.get(&keys::request_pk(shop, key)).cloned())
    }

    async fn store_response(
        &self,
        shop: &ShopDomain,
        key: &str,
        response: &str,
        _now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.state().requests.insert(keys::request_pk(shop, key), response.to_owned());
        Ok(())
    }
}
