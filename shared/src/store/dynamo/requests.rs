use super::*;

#[async_trait]
impl RequestStore for DynamoStore {
    async fn stored_response(
        &self,
        shop: &ShopDomain,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        let item = self.get_consistent(&keys::request_pk(shop, key), keys::REQUEST_SK, "get stored response").await?;
        let now = now.timestamp();
        let live = item.filter(|item| {
            item.get(keys::TTL).and_then(|t| t.as_n().ok()).and_then(|t| t.parse::<i64>().ok()).is_none_or(|t| t > now)
        });
        live.as_ref().map(|item| string_attr(item, "response").map(str::to_owned)).transpose()
    }

    async fn store_response(
        &self,
        shop: &ShopDomain,
        key: &str,
        response: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item(keys::PK, s(keys::request_pk(shop, key)))
            .item(keys::SK, s(keys::REQUEST_SK))
            .item("entity", s("request"))
            .item("response", s(response))
            .item(keys::TTL, n(now.timestamp() + REQUEST_TTL_SECONDS))
            .send()
            .await
            .map_err(|e| super::sdk_error("store response", e))?;
        Ok(())
    }
}
