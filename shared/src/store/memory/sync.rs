use super::*;

/// Moves `slot` to `at` if it is behind; returns whether it moved.
fn forward(slot: &mut Option<DateTime<Utc>>, at: DateTime<Utc>) -> bool {
    let moved = slot.is_none_or(|current| current < at);
    if moved {
        *slot = Some(at);
    }
    moved
}

#[async_trait]
impl SyncStore for MemoryStore {
    async fn sync_state(&self, shop: &ShopDomain) -> Result<SyncState, StoreError> {
        Ok(self.state().sync.get(shop).cloned().unwrap_or_default())
    }

    async fn advance_watermark(
        &self,
        shop: &ShopDomain,
        integration: Integration,
        resource: Resource,
        to: DateTime<Utc>,
        cursor: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut state = self.state();
        let sync = state.sync.entry(shop.clone()).or_default();
        let cursor = cursor.map(str::to_owned);
        let moved = match sync.watermarks.iter_mut().find(|w| w.integration == integration && w.resource == resource) {
            Some(mark) if mark.at >= to => false,
            Some(mark) => {
                (mark.at, mark.cursor) = (to, cursor.or(mark.cursor.take()));
                true
            }
            None => {
                sync.watermarks.push(Watermark { integration, resource, at: to, cursor });
                true
            }
        };
        if moved {
            sync.refreshed_at = Some(to);
        }
        Ok(moved)
    }

    async fn record_webhook(&self, shop: &ShopDomain, at: DateTime<Utc>) -> Result<(), StoreError> {
        let mut state = self.state();
        let sync = state.sync.entry(shop.clone()).or_default();
        if forward(&mut sync.last_webhook_at, at) {
            sync.refreshed_at = Some(at);
        }
        Ok(())
    }

    async fn ping_refresh(&self, shop: &ShopDomain, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.state().sync.entry(shop.clone()).or_default().refreshed_at = Some(at);
        Ok(())
    }

    async fn record_order_cursors(&self, shop: &ShopDomain, cursors: &[(OrderKey, String)]) -> Result<(), StoreError> {
        let mut state = self.state();
        for (key, cursor) in cursors {
            state.order_cursors.insert((shop.clone(), key.clone()), cursor.clone());
        }
        Ok(())
    }

    async fn order_cursor(&self, shop: &ShopDomain, key: &OrderKey) -> Result<Option<String>, StoreError> {
        Ok(self.state().order_cursors.get(&(shop.clone(), key.clone())).cloned())
    }
}
