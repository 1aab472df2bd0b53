use super::*;
use crate::store::{CheckResult, ConnectionStore, SyncResult};

#[async_trait]
impl ConnectionStore for MemoryStore {
    async fn connection(&self, shop: &ShopDomain, integration: Integration) -> Result<Option<Connection>, StoreError> {
        Ok(self.state().connections.get(&(shop.clone(), integration)).cloned())
    }

    async fn create_connection(&self, connection: &Connection) -> Result<Recorded, StoreError> {
        let mut state = self.state();
        let key = (connection.shop.clone(), connection.integration);
        if state.connections.contains_key(&key) {
            return Ok(Recorded::Duplicate);
        }
        state.connections.insert(key, connection.clone());
        Ok(Recorded::New)
    }

    async fn update_connection(&self, connection: &Connection) -> Result<WriteOutcome, StoreError> {
        let mut state = self.state();
        let Some(stored) = state.connections.get_mut(&(connection.shop.clone(), connection.integration)) else {
            return Ok(WriteOutcome::VersionConflict);
        };
        if stored.version + 1 != connection.version {
            return Ok(WriteOutcome::VersionConflict);
        }
        let status = std::mem::take(&mut stored.status);
        *stored = Connection { status, ..connection.clone() };
        Ok(WriteOutcome::Written)
    }

    async fn record_check(
        &self,
        shop: &ShopDomain,
        integration: Integration,
        check: &CheckResult,
    ) -> Result<(), StoreError> {
        if let Some(connection) = self.state().connections.get_mut(&(shop.clone(), integration)) {
            connection.status.last_check_at = Some(check.at);
            connection.status.last_check_ok = Some(check.ok);
            connection.status.last_check_error = check.error.clone();
        }
        Ok(())
    }

    async fn record_sync(
        &self,
        shop: &ShopDomain,
        integration: Integration,
        sync: &SyncResult,
    ) -> Result<(), StoreError> {
        if let Some(connection) = self.state().connections.get_mut(&(shop.clone(), integration)) {
            let status = &mut connection.status;
            status.last_orders_sync_at = Some(sync.at);
            status.last_orders_sync_status = Some(sync.status.clone());
            status.last_orders_sync_error = sync.error.clone();
            status.last_orders_sync_orders_count = Some(sync.orders);
            status.last_orders_sync_items_count = Some(sync.items);
        }
        Ok(())
    }

    async fn active_connections(&self, integration: Integration) -> Result<Vec<ShopDomain>, StoreError> {
        let state = self.state();
        let mut shops: Vec<ShopDomain> = state
            .connections
            .values()
            .filter(|c| c.integration == integration && c.active)
            .map(|c| c.shop.clone())
            .collect();
        shops.sort();
        Ok(shops)
    }
}
