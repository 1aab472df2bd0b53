use super::*;

#[async_trait]
impl StreamStore for MemoryStore {
    async fn open_stream(
        &self,
        shop: &ShopDomain,
        lease: &str,
        cap: usize,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Option<usize>, StoreError> {
        let mut state = self.state();
        for slot in 0..cap {
            let key = (shop.clone(), slot);
            if state.streams.get(&key).is_none_or(|(_, until)| *until <= now) {
                state.streams.insert(key, (lease.to_owned(), expires_at));
                return Ok(Some(slot));
            }
        }
        Ok(None)
    }

    async fn close_stream(&self, shop: &ShopDomain, slot: usize, lease: &str) -> Result<(), StoreError> {
        let mut state = self.state();
        let key = (shop.clone(), slot);
        if state.streams.get(&key).is_some_and(|(held, _)| held == lease) {
            state.streams.remove(&key);
        }
        Ok(())
    }
}
