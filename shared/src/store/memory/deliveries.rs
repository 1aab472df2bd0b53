use super::*;
use crate::store::DeliveryOutcome;

#[async_trait]
impl DeliveryStore for MemoryStore {
    async fn record_delivery(&self, shop: &ShopDomain, key: &OrderKey, delivery: &Delivery) -> Result<(), StoreError> {
        let mut state = self.state();
        let records = state.deliveries.entry(keys::order_pk(shop, key)).or_default();
        if records.get(&delivery.id).is_none_or(|r| r.outcome != DeliveryOutcome::Delivered) {
            records.insert(delivery.id.clone(), delivery.clone());
        }
        Ok(())
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
        let mut state = self.state();
        let claim = (keys::order_pk(shop, key), id.to_owned());
        let free = state.delivery_claims.get(&claim).is_none_or(|(h, u)| *u < now || h == holder);
        if free {
            state.delivery_claims.insert(claim, (holder.to_owned(), until));
        }
        Ok(free)
    }

    async fn release_delivery(
        &self,
        shop: &ShopDomain,
        key: &OrderKey,
        id: &str,
        holder: &str,
    ) -> Result<(), StoreError> {
        let mut state = self.state();
        let claim = (keys::order_pk(shop, key), id.to_owned());
        if state.delivery_claims.get(&claim).is_some_and(|(h, _)| h == holder) {
            state.delivery_claims.remove(&claim);
        }
        Ok(())
    }

    async fn deliveries(&self, shop: &ShopDomain, key: &OrderKey) -> Result<Vec<Delivery>, StoreError> {
        Ok(self
            .state()
            .deliveries
            .get(&keys::order_pk(shop, key))
            .map(|d| d.values().cloned().collect())
            .unwrap_or_default())
    }
}
