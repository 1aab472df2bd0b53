use super::*;
use crate::store::{Claim, IN_PROGRESS_SECONDS};

#[async_trait]
impl RequestStore for DynamoStore {
    async fn claim_request(
        &self,
        shop: &ShopDomain,
        key: &str,
        payload: &str,
        now: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        let pk = keys::request_pk(shop, key);
        let claim = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(keys::PK, s(&pk))
            .item(keys::SK, s(keys::REQUEST_SK))
            .item("entity", s("request"))
            .item("status", s("in_progress"))
            .item("payload", s(payload))
            .item("expires_at", n(now.timestamp() + IN_PROGRESS_SECONDS))
            .item(keys::TTL, n(now.timestamp() + REQUEST_TTL_SECONDS))
            // A free key: none, a claim whose holder died, or a completed record past its TTL (TTL
            // deletion lags by days).
            .condition_expression(
                "attribute_not_exists(#pk) OR (#status = :in_progress AND #expires < :now) OR #ttl < :now",
            )
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#expires", "expires_at")
            .expression_attribute_names("#ttl", keys::TTL)
            .expression_attribute_values(":in_progress", s("in_progress"))
            .expression_attribute_values(":now", n(now.timestamp()))
            .send()
            .await;
        match claim {
            Ok(_) => return Ok(Claim::Claimed),
            Err(e) if is_condition_failed(&e) => {}
            Err(e) => return Err(super::sdk_error("claim request", e)),
        }
        let item = self.get_consistent(&pk, keys::REQUEST_SK, "get request").await?;
        // Deleted between the two calls: claim again on the next try.
        let Some(item) = item else { return Err(StoreError::unavailable("claim request", "the record vanished")) };
        let payload = string_attr(&item, "payload")?.to_owned();
        match string_attr(&item, "status")? {
            "completed" => Ok(Claim::Completed { payload, response: string_attr(&item, "response")?.to_owned() }),
            _ => Ok(Claim::InProgress { payload }),
        }
    }

    async fn complete_request(
        &self,
        shop: &ShopDomain,
        key: &str,
        response: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::request_pk(shop, key)))
            .key(keys::SK, s(keys::REQUEST_SK))
            .update_expression("SET #status = :completed, #response = :response, #ttl = :ttl REMOVE #expires")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#response", "response")
            .expression_attribute_names("#ttl", keys::TTL)
            .expression_attribute_names("#expires", "expires_at")
            .expression_attribute_values(":completed", s("completed"))
            .expression_attribute_values(":response", s(response))
            .expression_attribute_values(":ttl", n(now.timestamp() + REQUEST_TTL_SECONDS))
            .send()
            .await
            .map_err(|e| super::sdk_error("complete request", e))?;
        Ok(())
    }

    async fn release_request(&self, shop: &ShopDomain, key: &str) -> Result<(), StoreError> {
        let delete = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::request_pk(shop, key)))
            .key(keys::SK, s(keys::REQUEST_SK))
            .condition_expression("#status = :in_progress")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":in_progress", s("in_progress"))
            .send()
            .await;
        match delete {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failed(&e) => Ok(()),
            Err(e) => Err(super::sdk_error("release request", e)),
        }
    }
}
