//! In-memory [`TokenStore`] and [`ApiKeyStore`], following the DynamoDB adapter's rules.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Mutex, MutexGuard},
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::MemoryStore;
use crate::{
    domain::ShopDomain,
    error::StoreError,
    store::{
        ShopRecord, ShopStatus, WriteOutcome,
        install::{ApiKey, ApiKeyStore, ParkedJob, TokenStore},
    },
};

#[derive(Debug, Default)]
struct State {
    versions: HashMap<ShopDomain, u64>,
    leases: HashMap<ShopDomain, (String, DateTime<Utc>)>,
    parked: HashMap<ShopDomain, BTreeMap<String, ParkedJob>>,
    /// By digest.
    keys: HashMap<String, ApiKey>,
}

#[derive(Debug, Default)]
pub(super) struct InstallMemory {
    state: Mutex<State>,
}

impl InstallMemory {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn erase(&self, shop: &ShopDomain) {
        let mut state = self.state();
        state.versions.remove(shop);
        state.leases.remove(shop);
        state.parked.remove(shop);
        state.keys.retain(|_, k| &k.shop != shop);
    }
}

#[async_trait]
impl TokenStore for MemoryStore {
    async fn shop_versioned(&self, shop: &ShopDomain) -> Result<Option<(ShopRecord, u64)>, StoreError> {
        let record = crate::store::ShopStore::shop(self, shop).await?;
        let version = self.install.state().versions.get(shop).copied().unwrap_or(0);
        Ok(record.map(|r| (r, version)))
    }

    async fn replace_shop(
        &self,
        record: &ShopRecord,
        expected: Option<(u64, ShopStatus)>,
    ) -> Result<WriteOutcome, StoreError> {
        let mut state = self.state();
        let mut install = self.install.state();
        let stored_status = state.shops.get(&record.shop).copied();
        let stored_version = install.versions.get(&record.shop).copied().unwrap_or(0);
        let holds = match expected {
            None => !state.shop_records.contains_key(&record.shop),
            Some((version, status)) => stored_status == Some(status) && stored_version == version,
        };
        if !holds {
            return Ok(WriteOutcome::VersionConflict);
        }
        state.shops.insert(record.shop.clone(), record.status);
        state.shop_records.insert(record.shop.clone(), record.clone());
        install.versions.insert(record.shop.clone(), stored_version + 1);
        Ok(WriteOutcome::Written)
    }

    async fn claim_token_lease(
        &self,
        shop: &ShopDomain,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut install = self.install.state();
        let free = install.leases.get(shop).is_none_or(|(h, u)| *u < now || h == holder);
        if free {
            install.leases.insert(shop.clone(), (holder.to_owned(), until));
        }
        Ok(free)
    }

    async fn release_token_lease(&self, shop: &ShopDomain, holder: &str) -> Result<(), StoreError> {
        let mut install = self.install.state();
        if install.leases.get(shop).is_some_and(|(h, _)| h == holder) {
            install.leases.remove(shop);
        }
        Ok(())
    }

    async fn park(&self, shop: &ShopDomain, job: &ParkedJob) -> Result<(), StoreError> {
        self.install.state().parked.entry(shop.clone()).or_default().insert(job.id.clone(), job.clone());
        Ok(())
    }

    async fn parked(&self, shop: &ShopDomain, limit: usize) -> Result<Vec<ParkedJob>, StoreError> {
        let install = self.install.state();
        let mut jobs: Vec<ParkedJob> =
            install.parked.get(shop).map(|p| p.values().take(limit).cloned().collect()).unwrap_or_default();
        jobs.sort_by(|a, b| a.parked_at.cmp(&b.parked_at).then_with(|| a.id.cmp(&b.id)));
        Ok(jobs)
    }

    async fn unpark(&self, shop: &ShopDomain, id: &str) -> Result<(), StoreError> {
        if let Some(parked) = self.install.state().parked.get_mut(shop) {
            parked.remove(id);
        }
        Ok(())
    }
}

#[async_trait]
impl ApiKeyStore for MemoryStore {
    async fn create_api_key(&self, key: &ApiKey) -> Result<(), StoreError> {
        let mut install = self.install.state();
        if install.keys.contains_key(&key.digest) || install.keys.values().any(|k| k.id == key.id) {
            return Err(StoreError::Corrupt("api key id or digest already taken".into()));
        }
        install.keys.insert(key.digest.clone(), key.clone());
        Ok(())
    }

    async fn api_key_by_digest(&self, digest: &str) -> Result<Option<ApiKey>, StoreError> {
        Ok(self.install.state().keys.get(digest).cloned())
    }

    async fn api_keys(&self, shop: &ShopDomain) -> Result<Vec<ApiKey>, StoreError> {
        let mut keys: Vec<ApiKey> = self.install.state().keys.values().filter(|k| &k.shop == shop).cloned().collect();
        keys.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.id.cmp(&b.id)));
        Ok(keys)
    }

    async fn revoke_api_key(&self, shop: &ShopDomain, id: &str) -> Result<bool, StoreError> {
        let mut install = self.install.state();
        let before = install.keys.len();
        install.keys.retain(|_, k| !(&k.shop == shop && k.id == id));
        Ok(install.keys.len() < before)
    }
}
