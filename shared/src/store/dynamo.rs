//! DynamoDB adapter of the store ports. Items keep their keys as top-level attributes and the domain
//! value as a JSON document in `data`, so the schema can grow without migrations.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::{
    Client,
    operation::query::builders::QueryFluentBuilder,
    types::{AttributeValue, Put, TransactWriteItem},
};
use serde::{Serialize, de::DeserializeOwned};

use super::{
    AlertStore, OrderPage, OrderStore, RECEIPT_TTL_SECONDS, ReceiptStore, Recorded, WebhookReceipt, WriteOutcome, keys,
};
use crate::{
    domain::{Alert, Order, OrderKey, ShopDomain, TimelineEvent},
    error::StoreError,
};

type Item = HashMap<String, AttributeValue>;

/// All store ports over one DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    /// Runs `query` until `want` items arrived or the results end, following `LastEvaluatedKey`
    /// (a page stops early at 1 MB).
    async fn query(&self, query: QueryFluentBuilder, want: usize) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let remaining = i32::try_from(want - items.len()).unwrap_or(i32::MAX);
            let page = query
                .clone()
                .limit(remaining)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| StoreError::unavailable("query", e))?;
            items.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(key) if items.len() < want && !key.is_empty() => start = Some(key),
                _ => return Ok(items),
            }
        }
    }
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn string_attr<'i>(item: &'i Item, name: &str) -> Result<&'i str, StoreError> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| StoreError::Corrupt(format!("item lacks string attribute `{name}`")))
}

fn to_json<T: Serialize>(value: &T) -> Result<AttributeValue, StoreError> {
    serde_json::to_string(value).map(s).map_err(|e| StoreError::Corrupt(format!("cannot encode: {e}")))
}

fn from_data<T: DeserializeOwned>(item: &Item) -> Result<T, StoreError> {
    serde_json::from_str(string_attr(item, "data")?).map_err(|e| StoreError::Corrupt(format!("cannot decode: {e}")))
}

fn order_item(order: &Order) -> Result<Item, StoreError> {
    let key = order.key();
    Ok(HashMap::from([
        (keys::PK.into(), s(keys::order_pk(&order.shop, &key))),
        (keys::SK.into(), s(keys::ORDER_SK)),
        (keys::GSI1PK.into(), s(keys::shop_orders_gsi1pk(&order.shop))),
        (keys::GSI1SK.into(), s(keys::shop_orders_gsi1sk(order.created_at, &key))),
        (keys::GSI2PK.into(), s(keys::order_name_gsi2pk(&order.shop, order.name.as_str()))),
        (keys::GSI2SK.into(), s(key.to_string())),
        ("entity".into(), s("order")),
        ("version".into(), n(order.version)),
        ("updated_at".into(), s(order.updated_at.to_rfc3339())),
        ("data".into(), to_json(order)?),
    ]))
}

fn timeline_item(pk: &str, event: &TimelineEvent) -> Result<Item, StoreError> {
    Ok(HashMap::from([
        (keys::PK.into(), s(pk)),
        (keys::SK.into(), s(keys::timeline_sk(event))),
        ("entity".into(), s("timeline")),
        ("data".into(), to_json(event)?),
    ]))
}

fn put(table: &str, item: Item) -> Result<Put, StoreError> {
    Put::builder().table_name(table).set_item(Some(item)).build().map_err(|e| StoreError::unavailable("build put", e))
}

#[async_trait]
impl OrderStore for DynamoStore {
    async fn get_order(&self, shop: &ShopDomain, key: &OrderKey) -> Result<Option<Order>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::order_pk(shop, key)))
            .key(keys::SK, s(keys::ORDER_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::unavailable("get order", e))?;
        output.item.as_ref().map(from_data).transpose()
    }

    async fn write_order(
        &self,
        order: &Order,
        expected_version: Option<u64>,
        events: &[TimelineEvent],
    ) -> Result<WriteOutcome, StoreError> {
        let pk = keys::order_pk(&order.shop, &order.key());
        let mut order_put = put(&self.table, order_item(order)?)?;
        order_put.condition_expression = Some(match expected_version {
            None => "attribute_not_exists(PK)".to_owned(),
            Some(version) => {
                order_put.expression_attribute_names = Some(HashMap::from([("#v".into(), "version".into())]));
                order_put.expression_attribute_values = Some(HashMap::from([(":v".into(), n(version))]));
                "#v = :v".to_owned()
            }
        });
        let mut items = vec![TransactWriteItem::builder().put(order_put).build()];
        for event in events {
            items.push(TransactWriteItem::builder().put(put(&self.table, timeline_item(&pk, event)?)?).build());
        }
        match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(WriteOutcome::Written),
            Err(e) => {
                use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
                let lost_race = match e.as_service_error() {
                    Some(TransactWriteItemsError::TransactionCanceledException(tc)) => tc
                        .cancellation_reasons()
                        .iter()
                        .any(|r| matches!(r.code(), Some("ConditionalCheckFailed") | Some("TransactionConflict"))),
                    _ => false,
                };
                if lost_race {
                    Ok(WriteOutcome::VersionConflict)
                } else {
                    Err(StoreError::unavailable("write order", e))
                }
            }
        }
    }

    async fn list_orders(&self, shop: &ShopDomain, limit: usize, after: Option<&str>) -> Result<OrderPage, StoreError> {
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::GSI1)
            .scan_index_forward(false)
            .expression_attribute_names("#pk", keys::GSI1PK)
            .expression_attribute_values(":pk", s(keys::shop_orders_gsi1pk(shop)));
        query = match after {
            None => query.key_condition_expression("#pk = :pk"),
            Some(after) => query
                .key_condition_expression("#pk = :pk AND #sk < :after")
                .expression_attribute_names("#sk", keys::GSI1SK)
                .expression_attribute_values(":after", s(after)),
        };
        // One item more than asked tells whether a next page exists without a second round trip.
        let mut items = self.query(query, limit + 1).await?;
        let has_more = items.len() > limit;
        items.truncate(limit);
        let next = match (has_more, items.last()) {
            (true, Some(last)) => Some(string_attr(last, keys::GSI1SK)?.to_owned()),
            _ => None,
        };
        let orders = items.iter().map(from_data).collect::<Result<_, _>>()?;
        Ok(OrderPage { orders, next })
    }

    async fn find_by_name(&self, shop: &ShopDomain, name: &str) -> Result<Option<Order>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::GSI2)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", keys::GSI2PK)
            .expression_attribute_values(":pk", s(keys::order_name_gsi2pk(shop, name)));
        self.query(query, 1).await?.first().map(from_data).transpose()
    }

    async fn timeline(
        &self,
        shop: &ShopDomain,
        key: &OrderKey,
        limit: usize,
    ) -> Result<Vec<TimelineEvent>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :tl)")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#sk", keys::SK)
            .expression_attribute_values(":pk", s(keys::order_pk(shop, key)))
            .expression_attribute_values(":tl", s(keys::TIMELINE_PREFIX))
            .scan_index_forward(false);
        self.query(query, limit).await?.iter().map(from_data).collect()
    }
}

#[async_trait]
impl ReceiptStore for DynamoStore {
    async fn begin_receipt(&self, receipt: &WebhookReceipt) -> Result<Recorded, StoreError> {
        let mut item = HashMap::from([
            (keys::PK.into(), s(keys::receipt_pk(&receipt.shop, &receipt.webhook_id))),
            (keys::SK.into(), s(keys::RECEIPT_SK)),
            ("entity".into(), s("webhook_receipt")),
            ("status".into(), s("pending")),
            ("topic".into(), s(&receipt.topic)),
            ("received_at".into(), s(receipt.received_at.to_rfc3339())),
            (keys::TTL.into(), n(receipt.received_at.timestamp() + RECEIPT_TTL_SECONDS)),
        ]);
        if let Some(event_id) = &receipt.event_id {
            item.insert("event_id".into(), s(event_id));
        }
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK) OR #status = :pending")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":pending", s("pending"))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Recorded::New),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                Ok(Recorded::Duplicate)
            }
            Err(e) => Err(StoreError::unavailable("record receipt", e)),
        }
    }

    async fn complete_receipt(&self, shop: &ShopDomain, webhook_id: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::receipt_pk(shop, webhook_id)))
            .key(keys::SK, s(keys::RECEIPT_SK))
            .update_expression("SET #status = :done")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":done", s("enqueued"))
            .send()
            .await;
        match result {
            // Never re-create a receipt that expired in between: it would lack its TTL.
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(StoreError::unavailable("complete receipt", e)),
        }
    }
}

#[async_trait]
impl AlertStore for DynamoStore {
    async fn raise_alert(&self, alert: &Alert) -> Result<Recorded, StoreError> {
        let item = HashMap::from([
            (keys::PK.into(), s(keys::alert_pk(&alert.shop, &alert.id))),
            (keys::SK.into(), s(keys::ALERT_SK)),
            (keys::GSI1PK.into(), s(keys::shop_alerts_gsi1pk(&alert.shop))),
            (keys::GSI1SK.into(), s(keys::shop_alerts_gsi1sk(alert.raised_at, &alert.id))),
            ("entity".into(), s("alert")),
            ("data".into(), to_json(alert)?),
        ]);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(Recorded::New),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                Ok(Recorded::Duplicate)
            }
            Err(e) => Err(StoreError::unavailable("raise alert", e)),
        }
    }

    async fn alerts_since(
        &self,
        shop: &ShopDomain,
        since: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Alert)>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::GSI1)
            .key_condition_expression("#pk = :pk AND #sk > :since")
            .expression_attribute_names("#pk", keys::GSI1PK)
            .expression_attribute_names("#sk", keys::GSI1SK)
            .expression_attribute_values(":pk", s(keys::shop_alerts_gsi1pk(shop)))
            .expression_attribute_values(":since", s(since.unwrap_or("0")))
            .scan_index_forward(true);
        self.query(query, limit)
            .await?
            .iter()
            .map(|item| Ok((string_attr(item, keys::GSI1SK)?.to_owned(), from_data(item)?)))
            .collect()
    }
}
