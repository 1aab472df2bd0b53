use super::*;

#[async_trait]
impl SyncStore for DynamoStore {
    async fn sync_state(&self, shop: &ShopDomain) -> Result<SyncState, StoreError> {
        let Some(item) = self.get_consistent(&keys::shop_pk(shop), keys::SYNC_SK, "get sync state").await? else {
            return Ok(SyncState::default());
        };
        let mut watermarks = Vec::new();
        for integration in Integration::ALL {
            for resource in Resource::ALL {
                let (at, cursor) = keys::watermark_attributes(integration, resource.as_str());
                if let Some(at) = time_attr(&item, &at)? {
                    let cursor = item.get(&cursor).and_then(|v| v.as_s().ok()).cloned();
                    watermarks.push(Watermark { integration, resource, at, cursor });
                }
            }
        }
        Ok(SyncState {
            watermarks,
            last_webhook_at: time_attr(&item, "last_webhook_at")?,
            refreshed_at: time_attr(&item, "refreshed_at")?,
        })
    }

    async fn advance_watermark(
        &self,
        shop: &ShopDomain,
        integration: Integration,
        resource: Resource,
        to: DateTime<Utc>,
        cursor: Option<&str>,
    ) -> Result<bool, StoreError> {
        let (attribute, cursor_attribute) = keys::watermark_attributes(integration, resource.as_str());
        let extra = cursor.map(|c| (cursor_attribute.as_str(), s(c)));
        self.move_forward(shop, &attribute, to, extra, "advance watermark").await
    }

    async fn record_webhook(&self, shop: &ShopDomain, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.move_forward(shop, "last_webhook_at", at, None, "record webhook").await.map(drop)
    }

    async fn record_order_cursors(&self, shop: &ShopDomain, cursors: &[(OrderKey, String)]) -> Result<(), StoreError> {
        use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
        let writes = cursors
            .iter()
            .map(|(key, cursor)| {
                let put = PutRequest::builder()
                    .item(keys::PK, s(keys::order_cursors_pk(shop)))
                    .item(keys::SK, s(key.to_string()))
                    .item("entity", s("order_cursor"))
                    .item("cursor", s(cursor))
                    .build()
                    .map_err(|e| StoreError::unavailable("build put", e))?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.batch_write(writes, "record order cursors").await
    }

    async fn order_cursor(&self, shop: &ShopDomain, key: &OrderKey) -> Result<Option<String>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::order_cursors_pk(shop)))
            .key(keys::SK, s(key.to_string()))
            .send()
            .await
            .map_err(|e| super::sdk_error("get order cursor", e))?;
        Ok(output.item.as_ref().and_then(|item| item.get("cursor")).and_then(|v| v.as_s().ok()).cloned())
    }

    async fn ping_refresh(&self, shop: &ShopDomain, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::shop_pk(shop)))
            .key(keys::SK, s(keys::SYNC_SK))
            .update_expression("SET refreshed_at = :at, #entity = :entity")
            .expression_attribute_names("#entity", "entity")
            .expression_attribute_values(":at", s(keys::sortable_time(at)))
            .expression_attribute_values(":entity", s("sync_state"))
            .send()
            .await
            .map_err(|e| super::sdk_error("ping refresh", e))?;
        Ok(())
    }
}
