use super::*;

#[async_trait]
impl ShopStore for MemoryStore {
    async fn install_shop(&self, record: &ShopRecord) -> Result<(), StoreError> {
        let mut state = self.state();
        state.shops.insert(record.shop.clone(), record.status);
        state.shop_records.insert(record.shop.clone(), record.clone());
        Ok(())
    }

    async fn shop(&self, shop: &ShopDomain) -> Result<Option<ShopRecord>, StoreError> {
        let state = self.state();
        Ok(state.shop_records.get(shop).cloned().map(|mut r| {
            r.status = state.shops.get(shop).copied().unwrap_or(r.status);
            r
        }))
    }

    async fn set_shop_status(
        &self,
        shop: &ShopDomain,
        status: ShopStatus,
        _at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.state().shops.insert(shop.clone(), status);
        Ok(())
    }

    async fn shop_status(&self, shop: &ShopDomain) -> Result<Option<ShopStatus>, StoreError> {
        Ok(self.state().shops.get(shop).copied())
    }

    async fn active_shops(&self) -> Result<Vec<ShopDomain>, StoreError> {
        let mut shops: Vec<ShopDomain> =
            self.state().shops.iter().filter(|(_, s)| **s == ShopStatus::Active).map(|(d, _)| d.clone()).collect();
        shops.sort();
        Ok(shops)
    }

    async fn erase_shop(&self, shop: &ShopDomain) -> Result<u64, StoreError> {
        let mut state = self.state();
        let prefix = format!("ORDER#{shop}#");
        let before = state.orders.len() + state.alerts.get(shop).map_or(0, |a| a.len());
        state.orders.retain(|pk, _| !pk.starts_with(&prefix));
        state.timelines.retain(|pk, _| !pk.starts_with(&prefix));
        state.deliveries.retain(|pk, _| !pk.starts_with(&prefix));
        state.alerts.remove(shop);
        state.shops.remove(shop);
        state.shop_records.remove(shop);
        state.exports.retain(|(s, _), _| s != shop);
        state.sync.remove(shop);
        state.products.retain(|(s, _), _| s != shop);
        state.inventory_items.retain(|(s, _), _| s != shop);
        state.order_cursors.retain(|(s, _), _| s != shop);
        state.connections.retain(|(s, _), _| s != shop);
        state.credentials.retain(|(s, _), _| s != shop);
        state.mirrors.retain(|(s, ..), _| s != shop);
        state.outbox.retain(|(s, _), _| s != shop);
        state.dead_letters.retain(|(s, ..), _| s != shop);
        state.streams.retain(|(s, _), _| s != shop);
        state.waiting.retain(|(s, _), _| s != shop);
        drop(state);
        self.install.erase(shop);
        Ok(before as u64)
    }

    async fn erase_shop_orders(&self, shop: &ShopDomain, limit: usize) -> Result<ErasedOrders, StoreError> {
        let mut state = self.state();
        let prefix = format!("ORDER#{shop}#");
        let mut doomed: Vec<String> = state.orders.keys().filter(|pk| pk.starts_with(&prefix)).cloned().collect();
        doomed.sort();
        let more = doomed.len() > limit;
        doomed.truncate(limit);
        for pk in &doomed {
            state.orders.remove(pk);
            state.timelines.remove(pk);
            state.deliveries.remove(pk);
        }
        Ok(ErasedOrders { orders: doomed.len(), more })
    }

    async fn record_data_export(&self, shop: &ShopDomain, request_id: &str, export: &str) -> Result<(), StoreError> {
        self.state().exports.insert((shop.clone(), request_id.to_owned()), export.to_owned());
        Ok(())
    }

    async fn data_export(&self, shop: &ShopDomain, request_id: &str) -> Result<Option<String>, StoreError> {
        Ok(self.state().exports.get(&(shop.clone(), request_id.to_owned())).cloned())
    }
}
