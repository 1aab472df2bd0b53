use super::*;

#[async_trait]
impl DeliveryStore for MemoryStore {
    async fn record_delivery(&self, shop: &ShopDomain, key: &OrderKey, delivery: &Delivery) -> Result<(), StoreError> {
        let mut state = self.state();
        let records = state.deliveries.entry(keys::order_pk(shop, key)).or_default();
        records.insert(delivery.id.clone(), delivery.clone());
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
