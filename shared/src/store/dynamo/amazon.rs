//! DynamoDB adapter of [`AmazonStore`]. Keys: `docs/data-model.md` §6.3.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use chrono::{DateTime, SecondsFormat, Utc};

use super::{DynamoStore, Item, from_data, n, s, string_attr, to_json};
use crate::{
    domain::ShopDomain,
    error::StoreError,
    integrations::amazon::model::{AmazonOrder, AmazonOrderItem},
    store::{
        Recorded, WriteOutcome,
        amazon::{
            AmazonConnection, AmazonStore, CheckResult, ConnectionStatus, SealedCredential, SyncResult, Upserted,
            Watermark,
        },
        keys,
    },
};

fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn is_conditional_failure<E: aws_sdk_dynamodb::error::ProvideErrorMetadata>(e: &E) -> bool {
    e.code() == Some("ConditionalCheckFailedException")
}

fn opt_string(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

fn opt_time(item: &Item, name: &str) -> Option<DateTime<Utc>> {
    opt_string(item, name).and_then(|v| DateTime::parse_from_rfc3339(&v).ok()).map(|d| d.with_timezone(&Utc))
}

fn opt_u64(item: &Item, name: &str) -> Option<u64> {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok())
}

fn status_of(item: &Item) -> ConnectionStatus {
    ConnectionStatus {
        last_check_at: opt_time(item, "last_check_at"),
        last_check_ok: item.get("last_check_ok").and_then(|v| v.as_bool().ok()).copied(),
        last_check_error: opt_string(item, "last_check_error"),
        last_orders_sync_at: opt_time(item, "last_orders_sync_at"),
        last_orders_sync_status: opt_string(item, "last_orders_sync_status"),
        last_orders_sync_error: opt_string(item, "last_orders_sync_error"),
        last_orders_sync_orders_count: opt_u64(item, "last_orders_sync_orders_count"),
        last_orders_sync_items_count: opt_u64(item, "last_orders_sync_items_count"),
    }
}

impl DynamoStore {
    /// Every item of the shop's Amazon order partitions, reached through GSI1 (no scan). The
    /// connection, credential and watermark live in the shop's partition, which erasure takes whole.
    pub(super) async fn amazon_erasure_keys(&self, shop: &ShopDomain) -> Result<Vec<(String, String)>, StoreError> {
        let mut doomed = Vec::new();
        for item in self.index_partition(keys::GSI1, keys::GSI1PK, &keys::amazon_orders_gsi1pk(shop)).await? {
            doomed.extend(self.partition_keys(string_attr(&item, keys::PK)?).await?);
        }
        Ok(doomed)
    }

    async fn get_consistent(&self, pk: String, sk: &str, context: &'static str) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(keys::PK, s(pk))
            .key(keys::SK, s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::unavailable(context, e))?;
        self.count_reads(u64::from(output.item.is_some()));
        Ok(output.item)
    }

    /// Sets `values` (attribute → value; `None` removes it) on the connection item, if it exists.
    async fn set_connection_attributes(
        &self,
        shop: &ShopDomain,
        values: Vec<(&'static str, Option<AttributeValue>)>,
        context: &'static str,
    ) -> Result<(), StoreError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::shop_pk(shop)))
            .key(keys::SK, s(keys::AMAZON_CONNECTION_SK))
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", keys::PK);
        let (mut sets, mut removes) = (Vec::new(), Vec::new());
        for (i, (name, value)) in values.into_iter().enumerate() {
            request = request.expression_attribute_names(format!("#a{i}"), name);
            match value {
                Some(value) => {
                    request = request.expression_attribute_values(format!(":v{i}"), value);
                    sets.push(format!("#a{i} = :v{i}"));
                }
                None => removes.push(format!("#a{i}")),
            }
        }
        let mut expression = String::new();
        if !sets.is_empty() {
            expression.push_str(&format!("SET {}", sets.join(", ")));
        }
        if !removes.is_empty() {
            expression.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        match request.update_expression(expression.trim()).send().await {
            Ok(_) => Ok(()),
            // No connection (deleted meanwhile): nothing to record on.
            Err(e) if e.as_service_error().is_some_and(is_conditional_failure) => Ok(()),
            Err(e) => Err(StoreError::unavailable(context, e)),
        }
    }
}

#[async_trait]
impl AmazonStore for DynamoStore {
    async fn amazon_connection(&self, shop: &ShopDomain) -> Result<Option<AmazonConnection>, StoreError> {
        let Some(item) = self.get_consistent(keys::shop_pk(shop), keys::AMAZON_CONNECTION_SK, "get connection").await?
        else {
            return Ok(None);
        };
        let mut connection: AmazonConnection = from_data(&item)?;
        connection.status = status_of(&item);
        connection.version = opt_u64(&item, "version").unwrap_or(connection.version);
        Ok(Some(connection))
    }

    async fn create_amazon_connection(&self, connection: &AmazonConnection) -> Result<Recorded, StoreError> {
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(keys::PK, s(keys::shop_pk(&connection.shop)))
            .item(keys::SK, s(keys::AMAZON_CONNECTION_SK))
            .item("entity", s("amazon_connection"))
            .item("version", n(connection.version))
            .item("data", to_json(connection)?)
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", keys::PK);
        if connection.active {
            request = request
                .item(keys::GSI2PK, s(keys::AMAZON_CONNECTIONS_GSI2PK))
                .item(keys::GSI2SK, s(connection.shop.as_str()));
        }
        match request.send().await {
            Ok(_) => Ok(Recorded::New),
            Err(e) if e.as_service_error().is_some_and(is_conditional_failure) => Ok(Recorded::Duplicate),
            Err(e) => Err(StoreError::unavailable("create connection", e)),
        }
    }

    async fn update_amazon_connection(&self, connection: &AmazonConnection) -> Result<WriteOutcome, StoreError> {
        let expected = connection.version.saturating_sub(1);
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::shop_pk(&connection.shop)))
            .key(keys::SK, s(keys::AMAZON_CONNECTION_SK))
            .condition_expression("#version = :expected")
            .expression_attribute_names("#version", "version")
            .expression_attribute_names("#data", "data")
            .expression_attribute_names("#g2pk", keys::GSI2PK)
            .expression_attribute_names("#g2sk", keys::GSI2SK)
            .expression_attribute_values(":expected", n(expected))
            .expression_attribute_values(":version", n(connection.version))
            .expression_attribute_values(":data", to_json(connection)?);
        request = if connection.active {
            request
                .update_expression("SET #data = :data, #version = :version, #g2pk = :g2pk, #g2sk = :g2sk")
                .expression_attribute_values(":g2pk", s(keys::AMAZON_CONNECTIONS_GSI2PK))
                .expression_attribute_values(":g2sk", s(connection.shop.as_str()))
        } else {
            request.update_expression("SET #data = :data, #version = :version REMOVE #g2pk, #g2sk")
        };
        match request.send().await {
            Ok(_) => Ok(WriteOutcome::Written),
            Err(e) if e.as_service_error().is_some_and(is_conditional_failure) => Ok(WriteOutcome::VersionConflict),
            Err(e) => Err(StoreError::unavailable("update connection", e)),
        }
    }

    async fn record_amazon_check(&self, shop: &ShopDomain, check: &CheckResult) -> Result<(), StoreError> {
        let values = vec![
            ("last_check_at", Some(s(stamp(check.at)))),
            ("last_check_ok", Some(AttributeValue::Bool(check.ok))),
            ("last_check_error", check.error.clone().map(s)),
        ];
        self.set_connection_attributes(shop, values, "record check").await
    }

    async fn record_amazon_sync(&self, shop: &ShopDomain, sync: &SyncResult) -> Result<(), StoreError> {
        let values = vec![
            ("last_orders_sync_at", Some(s(stamp(sync.at)))),
            ("last_orders_sync_status", Some(s(&sync.status))),
            ("last_orders_sync_error", sync.error.clone().map(s)),
            ("last_orders_sync_orders_count", Some(n(sync.orders))),
            ("last_orders_sync_items_count", Some(n(sync.items))),
        ];
        self.set_connection_attributes(shop, values, "record sync").await
    }

    async fn active_amazon_connections(&self) -> Result<Vec<ShopDomain>, StoreError> {
        self.index_partition(keys::GSI2, keys::GSI2PK, keys::AMAZON_CONNECTIONS_GSI2PK)
            .await?
            .iter()
            .map(|item| {
                let shop = string_attr(item, keys::GSI2SK)?;
                ShopDomain::parse(shop).map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .collect()
    }

    async fn put_amazon_credential(&self, shop: &ShopDomain, credential: &SealedCredential) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item(keys::PK, s(keys::shop_pk(shop)))
            .item(keys::SK, s(keys::AMAZON_CREDENTIAL_SK))
            .item("entity", s("amazon_credential"))
            .item("data", to_json(credential)?)
            .send()
            .await
            .map_err(|e| StoreError::unavailable("put credential", e))?;
        Ok(())
    }

    async fn amazon_credential(&self, shop: &ShopDomain) -> Result<Option<SealedCredential>, StoreError> {
        let item = self.get_consistent(keys::shop_pk(shop), keys::AMAZON_CREDENTIAL_SK, "get credential").await?;
        item.as_ref().map(from_data).transpose()
    }

    async fn amazon_watermark(&self, shop: &ShopDomain) -> Result<Option<Watermark>, StoreError> {
        let Some(item) = self.get_consistent(keys::shop_pk(shop), keys::AMAZON_WATERMARK_SK, "get watermark").await?
        else {
            return Ok(None);
        };
        let at = opt_time(&item, "watermark").ok_or_else(|| StoreError::Corrupt("watermark without time".into()))?;
        Ok(Some(Watermark { at, version: opt_u64(&item, "version").unwrap_or_default() }))
    }

    async fn advance_amazon_watermark(
        &self,
        shop: &ShopDomain,
        to: DateTime<Utc>,
        expected: Option<u64>,
    ) -> Result<WriteOutcome, StoreError> {
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(keys::PK, s(keys::shop_pk(shop)))
            .item(keys::SK, s(keys::AMAZON_WATERMARK_SK))
            .item("entity", s("sync_watermark"))
            .item("watermark", s(stamp(to)))
            .item("version", n(expected.map_or(1, |v| v + 1)));
        request = match expected {
            None => {
                request.condition_expression("attribute_not_exists(#pk)").expression_attribute_names("#pk", keys::PK)
            }
            Some(v) => request
                .condition_expression("#version = :expected")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":expected", n(v)),
        };
        match request.send().await {
            Ok(_) => Ok(WriteOutcome::Written),
            Err(e) if e.as_service_error().is_some_and(is_conditional_failure) => Ok(WriteOutcome::VersionConflict),
            Err(e) => Err(StoreError::unavailable("advance watermark", e)),
        }
    }

    async fn upsert_amazon_order(
        &self,
        shop: &ShopDomain,
        order: &AmazonOrder,
        items: &[AmazonOrderItem],
    ) -> Result<Upserted, StoreError> {
        let pk = keys::amazon_order_pk(shop, &order.marketplace_id, &order.amazon_order_id);
        let updated = stamp(order.last_update_date);
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(keys::PK, s(&pk))
            .item(keys::SK, s(keys::AMAZON_ORDER_SK))
            .item(keys::GSI1PK, s(keys::amazon_orders_gsi1pk(shop)))
            .item(
                keys::GSI1SK,
                s(keys::amazon_orders_gsi1sk(order.purchase_date, &order.marketplace_id, &order.amazon_order_id)),
            )
            .item("entity", s("amazon_order"))
            .item("last_update_date", s(&updated))
            .item("data", to_json(order)?)
            .condition_expression("attribute_not_exists(#pk) OR #updated <= :updated")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#updated", "last_update_date")
            .expression_attribute_values(":updated", s(&updated))
            .send()
            .await;
        match put {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(is_conditional_failure) => return Ok(Upserted::Stale),
            Err(e) => return Err(StoreError::unavailable("put amazon order", e)),
        }
        let writes = items
            .iter()
            .map(|item| {
                let put = PutRequest::builder()
                    .set_item(Some(HashMap::from([
                        (keys::PK.to_owned(), s(&pk)),
                        (keys::SK.to_owned(), s(keys::amazon_item_sk(&item.order_item_id))),
                        ("entity".to_owned(), s("amazon_order_item")),
                        ("data".to_owned(), to_json(item)?),
                    ])))
                    .build()
                    .map_err(|e| StoreError::unavailable("build put", e))?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.batch_write(writes, "put amazon order items").await?;
        Ok(Upserted::Written)
    }

    async fn amazon_order(
        &self,
        shop: &ShopDomain,
        marketplace_id: &str,
        amazon_order_id: &str,
    ) -> Result<Option<(AmazonOrder, Vec<AmazonOrderItem>)>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_values(":pk", s(keys::amazon_order_pk(shop, marketplace_id, amazon_order_id)))
            .consistent_read(true);
        let items = self.query(query, usize::MAX).await?;
        let mut order = None;
        let mut lines = Vec::new();
        for item in &items {
            if string_attr(item, keys::SK)? == keys::AMAZON_ORDER_SK {
                order = Some(from_data::<AmazonOrder>(item)?);
            } else {
                lines.push(from_data::<AmazonOrderItem>(item)?);
            }
        }
        Ok(order.map(|order| (order, lines)))
    }

    async fn amazon_orders(&self, shop: &ShopDomain, limit: usize) -> Result<Vec<AmazonOrder>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::GSI1)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", keys::GSI1PK)
            .expression_attribute_values(":pk", s(keys::amazon_orders_gsi1pk(shop)))
            .scan_index_forward(false);
        self.query(query, limit).await?.iter().map(from_data).collect()
    }
}
