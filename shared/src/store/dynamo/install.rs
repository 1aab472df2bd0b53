//! [`TokenStore`] and [`ApiKeyStore`] on DynamoDB (`docs/data-model.md` §6.6). Everything but the key
//! lookup lives in the shop's partition (`SHOP#{shop}`), so `erase_shop` takes it along.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use chrono::{DateTime, TimeDelta, Utc};

use super::{DynamoStore, Item, from_data, n, s, string_attr, to_json};
use crate::{
    domain::ShopDomain,
    error::StoreError,
    store::{
        ShopRecord, ShopStatus, WriteOutcome,
        install::{ApiKey, ApiKeyStore, ParkedJob, TokenStore},
        keys,
    },
};

/// The token version attribute of the shop record.
const TOKEN_VERSION: &str = "token_version";
pub const TOKEN_LEASE_SK: &str = "LEASE#token";
pub const PARKED_PREFIX: &str = "PARKED#";
pub const API_KEY_PREFIX: &str = "APIKEY#";
pub const API_KEY_LOOKUP_SK: &str = "APIKEY";

pub fn api_key_sk(id: &str) -> String {
    format!("{API_KEY_PREFIX}{id}")
}

pub fn api_key_lookup_pk(digest: &str) -> String {
    format!("{API_KEY_PREFIX}{digest}")
}

fn conditional_failed<E, R>(e: &aws_sdk_dynamodb::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    e.as_service_error().and_then(|e| e.code()) == Some("ConditionalCheckFailedException")
}

#[async_trait]
impl TokenStore for DynamoStore {
    async fn shop_versioned(&self, shop: &ShopDomain) -> Result<Option<(ShopRecord, u64)>, StoreError> {
        let Some(item) = self.shop_item(shop).await?.filter(|item| item.contains_key("data")) else { return Ok(None) };
        let mut record: ShopRecord = from_data(&item)?;
        record.status = super::shops::item_status(&item)?;
        let version = item.get(TOKEN_VERSION).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok()).unwrap_or(0);
        Ok(Some((record, version)))
    }

    async fn replace_shop(
        &self,
        record: &ShopRecord,
        expected: Option<(u64, ShopStatus)>,
    ) -> Result<WriteOutcome, StoreError> {
        let next = expected.map(|(v, _)| v).unwrap_or(0) + 1;
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(keys::PK, s(keys::shop_pk(&record.shop)))
            .item(keys::SK, s(keys::SHOP_SK))
            .item("entity", s("shop"))
            .item("status", s(record.status.as_str()))
            .item("status_changed_at", s(record.installed_at.to_rfc3339()))
            .item(TOKEN_VERSION, n(next))
            .item("data", to_json(record)?)
            .expression_attribute_names("#pk", keys::PK);
        if record.status == ShopStatus::Active {
            put = put.item(keys::GSI1PK, s(keys::ACTIVE_SHOPS_GSI1PK)).item(keys::GSI1SK, s(record.shop.as_str()));
        }
        put = match expected {
            None => put.condition_expression("attribute_not_exists(#pk)"),
            Some((version, status)) => {
                let put = put
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_names("#v", TOKEN_VERSION)
                    .expression_attribute_values(":status", s(status.as_str()));
                if version == 0 {
                    put.condition_expression("attribute_exists(#pk) AND attribute_not_exists(#v) AND #status = :status")
                } else {
                    put.condition_expression("attribute_exists(#pk) AND #v = :v AND #status = :status")
                        .expression_attribute_values(":v", n(version))
                }
            }
        };
        match put.send().await {
            Ok(_) => Ok(WriteOutcome::Written),
            Err(e) if conditional_failed(&e) => Ok(WriteOutcome::VersionConflict),
            Err(e) => Err(super::sdk_error("replace shop", e)),
        }
    }

    async fn claim_token_lease(
        &self,
        shop: &ShopDomain,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let expires = (until + TimeDelta::days(1)).timestamp();
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(keys::PK, s(keys::shop_pk(shop)))
            .item(keys::SK, s(TOKEN_LEASE_SK))
            .item("entity", s("token_lease"))
            .item("holder", s(holder))
            .item("until", n(until.timestamp_millis()))
            .item(keys::TTL, n(expires))
            .condition_expression("attribute_not_exists(#pk) OR #until < :now OR #holder = :holder")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#until", "until")
            .expression_attribute_names("#holder", "holder")
            .expression_attribute_values(":now", n(now.timestamp_millis()))
            .expression_attribute_values(":holder", s(holder));
        match put.send().await {
            Ok(_) => Ok(true),
            Err(e) if conditional_failed(&e) => Ok(false),
            Err(e) => Err(super::sdk_error("claim token lease", e)),
        }
    }

    async fn release_token_lease(&self, shop: &ShopDomain, holder: &str) -> Result<(), StoreError> {
        let delete = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::shop_pk(shop)))
            .key(keys::SK, s(TOKEN_LEASE_SK))
            .condition_expression("#holder = :holder")
            .expression_attribute_names("#holder", "holder")
            .expression_attribute_values(":holder", s(holder));
        match delete.send().await {
            Ok(_) => Ok(()),
            Err(e) if conditional_failed(&e) => Ok(()),
            Err(e) => Err(super::sdk_error("release token lease", e)),
        }
    }

    async fn park(&self, shop: &ShopDomain, job: &ParkedJob) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item(keys::PK, s(keys::shop_pk(shop)))
            .item(keys::SK, s(format!("{PARKED_PREFIX}{}", job.id)))
            .item("entity", s("parked_job"))
            .item("data", to_json(job)?)
            .send()
            .await
            .map_err(|e| super::sdk_error("park job", e))?;
        Ok(())
    }

    async fn parked(&self, shop: &ShopDomain, limit: usize) -> Result<Vec<ParkedJob>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#sk", keys::SK)
            .expression_attribute_values(":pk", s(keys::shop_pk(shop)))
            .expression_attribute_values(":prefix", s(PARKED_PREFIX));
        let mut jobs: Vec<ParkedJob> =
            self.query(query, limit).await?.iter().map(from_data).collect::<Result<_, _>>()?;
        jobs.sort_by(|a, b| a.parked_at.cmp(&b.parked_at).then_with(|| a.id.cmp(&b.id)));
        Ok(jobs)
    }

    async fn unpark(&self, shop: &ShopDomain, id: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::shop_pk(shop)))
            .key(keys::SK, s(format!("{PARKED_PREFIX}{id}")))
            .send()
            .await
            .map_err(|e| super::sdk_error("unpark job", e))?;
        Ok(())
    }
}

impl DynamoStore {
    fn api_key_items(&self, key: &ApiKey) -> Result<[Item; 2], StoreError> {
        let data = to_json(key)?;
        let record = HashMap::from([
            (keys::PK.to_owned(), s(keys::shop_pk(&key.shop))),
            (keys::SK.to_owned(), s(api_key_sk(&key.id))),
            ("entity".to_owned(), s("api_key")),
            ("data".to_owned(), data.clone()),
        ]);
        let lookup = HashMap::from([
            (keys::PK.to_owned(), s(api_key_lookup_pk(&key.digest))),
            (keys::SK.to_owned(), s(API_KEY_LOOKUP_SK)),
            ("entity".to_owned(), s("api_key_lookup")),
            ("data".to_owned(), data),
        ]);
        Ok([record, lookup])
    }

    /// The (PK, SK) of every API key lookup item of the shop, for erasure.
    pub(super) async fn api_key_erasure_keys(&self, shop: &ShopDomain) -> Result<Vec<(String, String)>, StoreError> {
        Ok(self
            .api_keys(shop)
            .await?
            .iter()
            .map(|k| (api_key_lookup_pk(&k.digest), API_KEY_LOOKUP_SK.to_owned()))
            .collect())
    }
}

#[async_trait]
impl ApiKeyStore for DynamoStore {
    async fn create_api_key(&self, key: &ApiKey) -> Result<(), StoreError> {
        let items = self
            .api_key_items(key)?
            .into_iter()
            .map(|item| {
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(item))
                    .condition_expression("attribute_not_exists(#pk)")
                    .expression_attribute_names("#pk", keys::PK)
                    .build()
                    .map_err(|e| StoreError::unavailable("build put", e))?;
                Ok(TransactWriteItem::builder().put(put).build())
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        match self.transact(items, "create api key").await? {
            WriteOutcome::Written => Ok(()),
            WriteOutcome::VersionConflict => Err(StoreError::Corrupt("api key id or digest already taken".into())),
        }
    }

    async fn api_key_by_digest(&self, digest: &str) -> Result<Option<ApiKey>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(keys::PK, s(api_key_lookup_pk(digest)))
            .key(keys::SK, s(API_KEY_LOOKUP_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| super::sdk_error("get api key", e))?;
        output.item.as_ref().map(from_data).transpose()
    }

    async fn api_keys(&self, shop: &ShopDomain) -> Result<Vec<ApiKey>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#sk", keys::SK)
            .expression_attribute_values(":pk", s(keys::shop_pk(shop)))
            .expression_attribute_values(":prefix", s(API_KEY_PREFIX));
        let mut found: Vec<ApiKey> =
            self.query(query, usize::MAX).await?.iter().map(from_data).collect::<Result<_, _>>()?;
        found.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.id.cmp(&b.id)));
        Ok(found)
    }

    async fn revoke_api_key(&self, shop: &ShopDomain, id: &str) -> Result<bool, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::shop_pk(shop)))
            .key(keys::SK, s(api_key_sk(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| super::sdk_error("get api key", e))?;
        let Some(item) = output.item else { return Ok(false) };
        let key: ApiKey = from_data(&item)?;
        let delete = |pk: String, sk: String| -> Result<TransactWriteItem, StoreError> {
            let delete = Delete::builder()
                .table_name(&self.table)
                .key(keys::PK, AttributeValue::S(pk))
                .key(keys::SK, AttributeValue::S(sk))
                .build()
                .map_err(|e| StoreError::unavailable("build delete", e))?;
            Ok(TransactWriteItem::builder().delete(delete).build())
        };
        let items = vec![
            delete(keys::shop_pk(shop), string_attr(&item, keys::SK)?.to_owned())?,
            delete(api_key_lookup_pk(&key.digest), API_KEY_LOOKUP_SK.to_owned())?,
        ];
        self.transact(items, "revoke api key").await?;
        Ok(true)
    }
}
