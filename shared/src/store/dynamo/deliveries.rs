use super::*;

#[async_trait]
impl DeliveryStore for DynamoStore {
    async fn record_delivery(&self, shop: &ShopDomain, key: &OrderKey, delivery: &Delivery) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item(keys::PK, s(keys::order_pk(shop, key)))
            .item(keys::SK, s(keys::delivery_sk(&delivery.id)))
            .item("entity", s("delivery"))
            .item("data", to_json(delivery)?)
            .send()
            .await
            .map_err(|e| super::sdk_error("record delivery", e))?;
        Ok(())
    }

    async fn deliveries(&self, shop: &ShopDomain, key: &OrderKey) -> Result<Vec<Delivery>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#sk", keys::SK)
            .expression_attribute_values(":pk", s(keys::order_pk(shop, key)))
            .expression_attribute_values(":prefix", s(keys::delivery_sk("")));
        self.query(query, 1000).await?.iter().map(from_data).collect()
    }
}
