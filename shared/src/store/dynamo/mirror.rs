//! Mirrored upstream records: one partition per record (`RECORD` + `PART#{id}`), listed through the
//! shop's GSI1 mirror partition. The record's write is conditional on its `updated_at`, so an older
//! revision never replaces a newer one.

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};

use super::*;
use crate::store::{MirrorRecord, MirrorStore, Upserted};

/// The record item's document: everything but the parts, which have items of their own.
#[derive(serde::Serialize, serde::Deserialize)]
struct Stored {
    shop: ShopDomain,
    integration: Integration,
    kind: String,
    id: String,
    updated_at: DateTime<Utc>,
    sort_at: DateTime<Utc>,
    payload: serde_json::Value,
}

impl Stored {
    fn into_record(self, parts: Vec<(String, serde_json::Value)>) -> MirrorRecord {
        let Stored { shop, integration, kind, id, updated_at, sort_at, payload } = self;
        MirrorRecord { shop, integration, kind, id, updated_at, sort_at, payload, parts }
    }
}

impl DynamoStore {
    /// Every item of the shop's mirrored records, reached through GSI1 (no scan), whatever their
    /// integration.
    pub(super) async fn mirror_erasure_keys(&self, shop: &ShopDomain) -> Result<Vec<(String, String)>, StoreError> {
        let mut doomed = Vec::new();
        for item in self.index_partition(keys::GSI1, keys::GSI1PK, &keys::mirrors_gsi1pk(shop)).await? {
            doomed.extend(self.partition_keys(string_attr(&item, keys::PK)?).await?);
        }
        Ok(doomed)
    }
}

#[async_trait]
impl MirrorStore for DynamoStore {
    async fn upsert_mirror(&self, record: &MirrorRecord) -> Result<Upserted, StoreError> {
        let pk = keys::mirror_pk(&record.shop, record.integration, &record.kind, &record.id);
        let updated = keys::sortable_time(record.updated_at);
        let stored = Stored {
            shop: record.shop.clone(),
            integration: record.integration,
            kind: record.kind.clone(),
            id: record.id.clone(),
            updated_at: record.updated_at,
            sort_at: record.sort_at,
            payload: record.payload.clone(),
        };
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(keys::PK, s(&pk))
            .item(keys::SK, s(keys::MIRROR_RECORD_SK))
            .item(keys::GSI1PK, s(keys::mirrors_gsi1pk(&record.shop)))
            .item(keys::GSI1SK, s(keys::mirrors_gsi1sk(record.integration, &record.kind, record.sort_at, &record.id)))
            .item("entity", s("mirror_record"))
            .item("updated_at", s(&updated))
            .item("data", to_json(&stored)?)
            .condition_expression("attribute_not_exists(#pk) OR #updated <= :updated")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#updated", "updated_at")
            .expression_attribute_values(":updated", s(&updated))
            .send()
            .await;
        match put {
            Ok(_) => {}
            Err(e) if is_condition_failed(&e) => return Ok(Upserted::Stale),
            Err(e) => return Err(super::sdk_error("put mirror record", e)),
        }
        let writes = record
            .parts
            .iter()
            .map(|(id, part)| {
                let put = PutRequest::builder()
                    .set_item(Some(HashMap::from([
                        (keys::PK.to_owned(), s(&pk)),
                        (keys::SK.to_owned(), s(keys::mirror_part_sk(id))),
                        ("entity".to_owned(), s("mirror_part")),
                        ("part_id".to_owned(), s(id)),
                        ("data".to_owned(), to_json(part)?),
                    ])))
                    .build()
                    .map_err(|e| StoreError::unavailable("build put", e))?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.batch_write(writes, "put mirror parts").await?;
        Ok(Upserted::Written)
    }

    async fn mirror(
        &self,
        shop: &ShopDomain,
        integration: Integration,
        kind: &str,
        id: &str,
    ) -> Result<Option<MirrorRecord>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_values(":pk", s(keys::mirror_pk(shop, integration, kind, id)))
            .consistent_read(true);
        let items = self.query(query, usize::MAX).await?;
        let mut record = None;
        let mut parts = Vec::new();
        for item in &items {
            if string_attr(item, keys::SK)? == keys::MIRROR_RECORD_SK {
                record = Some(from_data::<Stored>(item)?);
            } else {
                parts.push((string_attr(item, "part_id")?.to_owned(), from_data(item)?));
            }
        }
        Ok(record.map(|r| r.into_record(parts)))
    }

    async fn mirrors(
        &self,
        shop: &ShopDomain,
        integration: Integration,
        kind: &str,
        limit: usize,
    ) -> Result<Vec<MirrorRecord>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::GSI1)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#pk", keys::GSI1PK)
            .expression_attribute_names("#sk", keys::GSI1SK)
            .expression_attribute_values(":pk", s(keys::mirrors_gsi1pk(shop)))
            .expression_attribute_values(":prefix", s(keys::mirrors_gsi1sk_prefix(integration, kind)))
            .scan_index_forward(false);
        self.query(query, limit)
            .await?
            .iter()
            .map(|item| Ok(from_data::<Stored>(item)?.into_record(Vec::new())))
            .collect()
    }
}
