use super::*;
use crate::store::{OutboxStore, PendingEffect};

#[async_trait]
impl OutboxStore for MemoryStore {
    async fn pending_effects(
        &self,
        shop: &ShopDomain,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<PendingEffect>, StoreError> {
        let mut effects: Vec<PendingEffect> =
            self.state().outbox.values().filter(|e| &e.shop == shop && e.created_at <= until).cloned().collect();
        effects.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.id.cmp(&b.id)));
        effects.truncate(limit);
        Ok(effects)
    }

    async fn effect_relayed(&self, shop: &ShopDomain, id: &str) -> Result<(), StoreError> {
        self.state().outbox.remove(&(shop.clone(), id.to_owned()));
        Ok(())
    }
}
