use super::*;

#[async_trait]
impl StreamStore for DynamoStore {
    async fn open_stream(
        &self,
        shop: &ShopDomain,
        lease: &str,
        cap: usize,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Option<usize>, StoreError> {
        for slot in 0..cap {
            let put = self
                .client
                .put_item()
                .table_name(&self.table)
                .item(keys::PK, s(keys::shop_pk(shop)))
                .item(keys::SK, s(keys::stream_sk(slot)))
                .item("entity", s("stream_lease"))
                .item("lease", s(lease))
                .item("expires_at", n(expires_at.timestamp_millis()))
                // Expired leases are overwritten anyway; TTL only tidies slots nobody reopens.
                .item(keys::TTL, n(expires_at.timestamp() + 24 * 3600))
                .condition_expression("attribute_not_exists(#pk) OR expires_at <= :now")
                .expression_attribute_names("#pk", keys::PK)
                .expression_attribute_values(":now", n(now.timestamp_millis()));
            match put.send().await {
                Ok(_) => return Ok(Some(slot)),
                Err(e) if is_condition_failed(&e) => continue,
                Err(e) => return Err(super::sdk_error("open stream", e)),
            }
        }
        Ok(None)
    }

    async fn close_stream(&self, shop: &ShopDomain, slot: usize, lease: &str) -> Result<(), StoreError> {
        let delete = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::shop_pk(shop)))
            .key(keys::SK, s(keys::stream_sk(slot)))
            .condition_expression("lease = :lease")
            .expression_attribute_values(":lease", s(lease));
        match delete.send().await {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failed(&e) => Ok(()),
            Err(e) => Err(super::sdk_error("close stream", e)),
        }
    }
}
