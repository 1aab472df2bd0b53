use super::*;

#[async_trait]
impl DeliveryStore for DynamoStore {
    async fn record_delivery(&self, shop: &ShopDomain, key: &OrderKey, delivery: &Delivery) -> Result<(), StoreError> {
        // `data` is the record as JSON: a stored `delivered` record holds this exact text (older
        // records too, which have no other attribute to test).
        let delivered = format!("\"outcome\":\"{}\"", crate::store::DeliveryOutcome::Delivered.as_str());
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(keys::PK, s(keys::order_pk(shop, key)))
            .item(keys::SK, s(keys::delivery_sk(&delivery.id)))
            .item("entity", s("delivery"))
            .item("outcome", s(delivery.outcome.as_str()))
            .item("data", to_json(delivery)?)
            .condition_expression("attribute_not_exists(#pk) OR NOT contains(#data, :delivered)")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#data", "data")
            .expression_attribute_values(":delivered", s(delivered));
        match put.send().await {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failed(&e) => {
                tracing::info!(shop = %shop, order = %key, "delivery already recorded as delivered; kept");
                Ok(())
            }
            Err(e) => Err(super::sdk_error("record delivery", e)),
        }
    }

    async fn claim_delivery(
        &self,
        shop: &ShopDomain,
        key: &OrderKey,
        id: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(keys::PK, s(keys::order_pk(shop, key)))
            .item(keys::SK, s(keys::delivery_claim_sk(id)))
            .item("entity", s("delivery_claim"))
            .item("holder", s(holder))
            .item("until", n(until.timestamp_millis()))
            .item(keys::TTL, n((until + chrono::Duration::days(1)).timestamp()))
            .condition_expression("attribute_not_exists(#pk) OR #until < :now OR #holder = :holder")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#until", "until")
            .expression_attribute_names("#holder", "holder")
            .expression_attribute_values(":now", n(now.timestamp_millis()))
            .expression_attribute_values(":holder", s(holder));
        match put.send().await {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(super::sdk_error("claim delivery", e)),
        }
    }

    async fn release_delivery(
        &self,
        shop: &ShopDomain,
        key: &OrderKey,
        id: &str,
        holder: &str,
    ) -> Result<(), StoreError> {
        let delete = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::order_pk(shop, key)))
            .key(keys::SK, s(keys::delivery_claim_sk(id)))
            .condition_expression("#holder = :holder")
            .expression_attribute_names("#holder", "holder")
            .expression_attribute_values(":holder", s(holder));
        match delete.send().await {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failed(&e) => Ok(()),
            Err(e) => Err(super::sdk_error("release delivery", e)),
        }
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
