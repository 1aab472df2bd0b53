use super::*;
use crate::store::{DeadLetter, DeadLetterStore};

#[async_trait]
impl DeadLetterStore for DynamoStore {
    async fn put_dead_letter(&self, dead_letter: &DeadLetter) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item(keys::PK, s(keys::shop_pk(&dead_letter.shop)))
            .item(keys::SK, s(keys::dead_letter_sk(dead_letter.destination, &dead_letter.id)))
            .item("entity", s("dead_letter"))
            .item("data", to_json(dead_letter)?)
            .send()
            .await
            .map_err(|e| super::sdk_error("put dead letter", e))?;
        Ok(())
    }

    async fn dead_letters(
        &self,
        shop: &ShopDomain,
        destination: Option<Integration>,
    ) -> Result<Vec<DeadLetter>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#sk", keys::SK)
            .expression_attribute_values(":pk", s(keys::shop_pk(shop)))
            .expression_attribute_values(":prefix", s(keys::dead_letters_prefix(destination)))
            .consistent_read(true);
        let mut letters: Vec<DeadLetter> =
            self.query(query, usize::MAX).await?.iter().map(from_data).collect::<Result<_, _>>()?;
        letters.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.id.cmp(&b.id)));
        Ok(letters)
    }

    async fn remove_dead_letter(
        &self,
        shop: &ShopDomain,
        destination: Integration,
        id: &str,
    ) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::shop_pk(shop)))
            .key(keys::SK, s(keys::dead_letter_sk(destination, id)))
            .send()
            .await
            .map_err(|e| super::sdk_error("remove dead letter", e))?;
        Ok(())
    }
}
