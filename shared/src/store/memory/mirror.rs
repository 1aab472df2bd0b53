use super::*;
use crate::store::{MirrorStore, Upserted};

#[async_trait]
impl MirrorStore for MemoryStore {
    async fn upsert_mirror(&self, record: &MirrorRecord) -> Result<Upserted, StoreError> {
        let mut state = self.state();
        let key = (record.shop.clone(), record.integration, record.kind.clone(), record.id.clone());
        let entry = state.mirrors.entry(key).or_insert_with(|| (record.clone(), BTreeMap::new()));
        if entry.0.updated_at > record.updated_at {
            return Ok(Upserted::Stale);
        }
        entry.0 = MirrorRecord { parts: Vec::new(), ..record.clone() };
        entry.1.extend(record.parts.iter().cloned());
        Ok(Upserted::Written)
    }

    async fn mirror(
        &self,
        shop: &ShopDomain,
        integration: Integration,
        kind: &str,
        id: &str,
    ) -> Result<Option<MirrorRecord>, StoreError> {
        let state = self.state();
        let found = state.mirrors.get(&(shop.clone(), integration, kind.to_owned(), id.to_owned()));
        Ok(found.map(|(record, parts)| MirrorRecord {
            parts: parts.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            ..record.clone()
        }))
    }

    async fn mirrors(
        &self,
        shop: &ShopDomain,
        integration: Integration,
        kind: &str,
        limit: usize,
    ) -> Result<Vec<MirrorRecord>, StoreError> {
        let state = self.state();
        let mut records: Vec<MirrorRecord> = state
            .mirrors
            .iter()
            .filter(|((s, i, k, _), _)| s == shop && *i == integration && k == kind)
            .map(|(_, (record, _))| record.clone())
            .collect();
        records.sort_by(|a, b| (b.sort_at, &b.id).cmp(&(a.sort_at, &a.id)));
        records.truncate(limit);
        Ok(records)
    }
}
