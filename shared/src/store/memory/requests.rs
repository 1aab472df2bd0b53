use super::*;
use crate::store::{Claim, IN_PROGRESS_SECONDS, REQUEST_TTL_SECONDS};

#[async_trait]
impl RequestStore for MemoryStore {
    async fn claim_request(
        &self,
        shop: &ShopDomain,
        key: &str,
        payload: &str,
        now: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        let mut state = self.state();
        let pk = keys::request_pk(shop, key);
        let free = match state.requests.get(&pk) {
            None => true,
            Some(record) if record.response.is_none() => record.expires_at < now.timestamp(),
            Some(record) => record.ttl < now.timestamp(),
        };
        if free {
            let record = RequestRecord {
                payload: payload.to_owned(),
                response: None,
                expires_at: now.timestamp() + IN_PROGRESS_SECONDS,
                ttl: now.timestamp() + REQUEST_TTL_SECONDS,
            };
            state.requests.insert(pk, record);
            return Ok(Claim::Claimed);
        }
        let record = &state.requests[&pk];
        Ok(match &record.response {
            Some(response) => Claim::Completed { payload: record.payload.clone(), response: response.clone() },
            None => Claim::InProgress { payload: record.payload.clone() },
        })
    }

    async fn complete_request(
        &self,
        shop: &ShopDomain,
        key: &str,
        response: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if let Some(record) = self.state().requests.get_mut(&keys::request_pk(shop, key)) {
            record.response = Some(response.to_owned());
            record.ttl = now.timestamp() + REQUEST_TTL_SECONDS;
        }
        Ok(())
    }

    async fn release_request(&self, shop: &ShopDomain, key: &str) -> Result<(), StoreError> {
        let mut state = self.state();
        let pk = keys::request_pk(shop, key);
        if state.requests.get(&pk).is_some_and(|r| r.response.is_none()) {
            state.requests.remove(&pk);
        }
        Ok(())
    }
}
