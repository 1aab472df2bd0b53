use super::*;
use crate::store::{OutboxStore, PendingEffect};

#[async_trait]
impl OutboxStore for DynamoStore {
    async fn pending_effects(
        &self,
        shop: &ShopDomain,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<PendingEffect>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .filter_expression("#created <= :until")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#sk", keys::SK)
            .expression_attribute_names("#created", "created_at")
            .expression_attribute_values(":pk", s(keys::shop_pk(shop)))
            .expression_attribute_values(":prefix", s(keys::outbox_sk("")))
            .expression_attribute_values(":until", s(keys::sortable_time(until)))
            .consistent_read(true);
        let mut effects: Vec<PendingEffect> =
            self.query(query, usize::MAX).await?.iter().map(from_data).collect::<Result<_, _>>()?;
        effects.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.id.cmp(&b.id)));
        effects.truncate(limit);
        Ok(effects)
    }

    async fn effect_relayed(&self, shop: &ShopDomain, id: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::shop_pk(shop)))
            .key(keys::SK, s(keys::outbox_sk(id)))
            .send()
            .await
            .map_err(|e| super::sdk_error("remove relayed effect", e))?;
        Ok(())
    }
}
