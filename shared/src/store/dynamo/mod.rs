//! DynamoDB adapter of the store ports. Items keep their keys as top-level attributes and the domain
//! value as a JSON document in `data`, so the schema can grow without migrations.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use async_trait::async_trait;
use aws_sdk_dynamodb::{
    Client,
    error::{ProvideErrorMetadata, SdkError},
    operation::query::builders::QueryFluentBuilder,
    types::{AttributeValue, Delete, Put, TransactWriteItem},
};
use chrono::{DateTime, Utc};
use serde::{Serialize, de::DeserializeOwned};

use super::{
    AlertStore, Delivery, DeliveryStore, ErasedOrders, Listed, OrderQuery, OrderStore, PAGE_BOUNDARY_TTL_SECONDS,
    RECEIPT_TTL_SECONDS, REQUEST_TTL_SECONDS, ReceiptStore, Recorded, RequestStore, Resource, Seek, ShopRecord,
    ShopStatus, ShopStore, StreamStore, SyncState, SyncStore, Watermark, WebhookReceipt, WriteOutcome, keys,
};
use crate::{
    domain::{Alert, Integration, Order, OrderKey, ShopDomain, Tab, TimelineEvent},
    error::StoreError,
};

mod alerts;
mod assistant;
mod connections;
mod credentials;
mod dead_letters;
mod deliveries;
mod install;
mod mirror;
mod orders;
mod outbox;
mod products;
mod receipts;
mod requests;
mod shops;
mod streams;
mod sync;

type Item = HashMap<String, AttributeValue>;

/// All store ports over one DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    reads: Arc<AtomicU64>,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into(), reads: Arc::default() }
    }

    /// Items read so far (DynamoDB's `ScannedCount` for queries, 1 per item found by GetItem): what
    /// reads cost, for tests and metrics.
    pub fn items_read(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    fn count_reads(&self, items: u64) {
        self.reads.fetch_add(items, Ordering::Relaxed);
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
                .map_err(|e| sdk_error("query", e))?;
            self.count_reads(u64::try_from(page.scanned_count).unwrap_or_default());
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

/// A stored time (RFC 3339), if the attribute is present. A value that is not a time is corrupt data,
/// never silently absent.
fn time_attr(item: &Item, name: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(|raw| {
            DateTime::parse_from_rfc3339(raw)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| StoreError::Corrupt(format!("`{name}` is not a time: {raw}")))
        })
        .transpose()
}

/// Whether a DynamoDB call failed its condition (`ConditionalCheckFailedException`): the one way every
/// adapter tells a lost race or an existing item from a real failure.
fn is_condition_failed<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> bool {
    error.as_service_error().and_then(ProvideErrorMetadata::code) == Some("ConditionalCheckFailedException")
}

/// DynamoDB error codes that say the request itself is wrong: the same call fails the same way again.
const PERMANENT_CODES: &[&str] = &["ValidationException", "SerializationException"];

/// A failed SDK call as a [`StoreError`]: a request DynamoDB refused as invalid (an item over 400 KB, a
/// malformed key or expression) is [`StoreError::Rejected`], never retried; anything else (throttling,
/// timeouts, a 5xx, no connection) is [`StoreError::Unavailable`].
fn sdk_error<E, R>(context: &'static str, error: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let permanent = error
        .as_service_error()
        .and_then(ProvideErrorMetadata::code)
        .is_some_and(|code| PERMANENT_CODES.contains(&code));
    if permanent { StoreError::rejected(context, error) } else { StoreError::unavailable(context, error) }
}

/// Tries of one BatchWriteItem chunk (the first call and the resends of what DynamoDB left
/// unprocessed) before the write is reported as unavailable.
const BATCH_WRITE_TRIES: u32 = 8;

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
        (keys::GSI2PK.into(), s(keys::order_name_gsi2pk(&order.shop, order.name.as_str()))),
        (keys::GSI2SK.into(), s(key.to_string())),
        ("entity".into(), s("order")),
        ("version".into(), n(order.version)),
        ("updated_at".into(), s(order.updated_at.to_rfc3339())),
        ("data".into(), to_json(order)?),
    ]))
}

/// A list entry carries a copy of the order, so a page is one query; a watch entry only names it.
fn index_item(order: &Order, entry: &keys::IndexEntry, data: &AttributeValue) -> Item {
    let mut item = HashMap::from([
        (keys::PK.into(), s(&entry.pk)),
        (keys::SK.into(), s(&entry.sk)),
        ("order_key".into(), s(order.key().to_string())),
    ]);
    if entry.listing {
        item.insert("entity".into(), s("order_listing"));
        item.insert("tabs".into(), AttributeValue::L(order.tabs().into_iter().map(|t| s(t.as_str())).collect()));
        item.insert("status".into(), s(order.status_label()));
        item.insert("priority".into(), s(order.priority().as_str()));
        item.insert("data".into(), data.clone());
    } else {
        item.insert("entity".into(), s("order_watch"));
    }
    item
}

fn timeline_item(pk: &str, event: &TimelineEvent) -> Result<Item, StoreError> {
    Ok(HashMap::from([
        (keys::PK.into(), s(pk)),
        (keys::SK.into(), s(keys::timeline_sk(event))),
        ("entity".into(), s("timeline")),
        ("data".into(), to_json(event)?),
    ]))
}

fn outbox_item(effect: &super::PendingEffect) -> Result<Item, StoreError> {
    Ok(HashMap::from([
        (keys::PK.into(), s(keys::shop_pk(&effect.shop))),
        (keys::SK.into(), s(keys::outbox_sk(&effect.id))),
        ("entity".into(), s("outbox_effect")),
        ("created_at".into(), s(keys::sortable_time(effect.created_at))),
        ("data".into(), to_json(effect)?),
    ]))
}

fn put(table: &str, item: Item) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .build()
        .map_err(|e| StoreError::unavailable("build put", e))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

fn delete(table: &str, pk: &str, sk: &str) -> Result<TransactWriteItem, StoreError> {
    let delete = Delete::builder()
        .table_name(table)
        .key(keys::PK, s(pk))
        .key(keys::SK, s(sk))
        .build()
        .map_err(|e| StoreError::unavailable("build delete", e))?;
    Ok(TransactWriteItem::builder().delete(delete).build())
}

/// The bounds of a list read on the sort key, from the seek position and the creation-date filter.
/// Positions start with the creation time, so a date range is a key range.
fn key_range(query: &OrderQuery, seek: &Seek) -> (Option<String>, Option<String>) {
    let mut lower = query.created_from.map(keys::sortable_millis);
    // `~` sorts after every position character, so the upper bound includes the whole last millisecond.
    let mut upper = query.created_to.map(|t| format!("{}~", keys::sortable_millis(t)));
    match seek {
        Seek::First => {}
        Seek::From(position) => upper = Some(upper.map_or(position.clone(), |u| u.min(position.clone()))),
        Seek::Before(position) => lower = Some(lower.map_or(position.clone(), |l| l.max(position.clone()))),
    }
    (lower, upper)
}

/// Test seeding: writes new orders with exactly the items [`OrderStore::write_order`] writes, through
/// BatchWriteItem. moto copies the whole table for every transaction, so seeding a thousand orders
/// through transactions takes minutes there. Unconditional, so never for production paths.
#[cfg(feature = "testing")]
impl DynamoStore {
    pub async fn seed_orders(&self, orders: &[Order]) -> Result<(), StoreError> {
        use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
        let mut writes = Vec::new();
        for order in orders {
            let data = to_json(order)?;
            let entries = keys::order_index(order);
            let items =
                std::iter::once(order_item(order)?).chain(entries.iter().map(|entry| index_item(order, entry, &data)));
            for item in items {
                let put = PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map_err(|e| StoreError::unavailable("build put", e))?;
                writes.push(WriteRequest::builder().put_request(put).build());
            }
        }
        self.batch_write(writes, "seed orders").await
    }
}

impl DynamoStore {
    /// Runs `items` as one transaction. A failed condition or a conflicting transaction is a lost race
    /// (`VersionConflict`): the caller re-reads and decides again.
    async fn transact(&self, items: Vec<TransactWriteItem>, context: &'static str) -> Result<WriteOutcome, StoreError> {
        self.transact_once(items, None, context).await
    }

    /// As [`DynamoStore::transact`], with `token` as the `ClientRequestToken` (at most 36 characters,
    /// derived from the change), so that a repeat of a committed transaction is not a conflict.
    async fn transact_once(
        &self,
        items: Vec<TransactWriteItem>,
        token: Option<String>,
        context: &'static str,
    ) -> Result<WriteOutcome, StoreError> {
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
        let request =
            self.client.transact_write_items().set_transact_items(Some(items)).set_client_request_token(token);
        match request.send().await {
            Ok(_) => Ok(WriteOutcome::Written),
            // The token was used within ten minutes for a different transaction: another writer's
            // change of the same order (a race), which a re-read settles.
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(TransactWriteItemsError::IdempotentParameterMismatchException(_))
                ) =>
            {
                Ok(WriteOutcome::VersionConflict)
            }
            Err(e) => {
                let reasons = match e.as_service_error() {
                    Some(TransactWriteItemsError::TransactionCanceledException(tc)) => {
                        tc.cancellation_reasons().iter().filter_map(|r| r.code()).collect::<Vec<_>>()
                    }
                    _ => Vec::new(),
                };
                if reasons.contains(&"ValidationError") {
                    // An item of the transaction is invalid (over the size limit, say): no retry fixes it.
                    return Err(StoreError::rejected(context, e));
                }
                let lost_race =
                    reasons.iter().any(|code| matches!(*code, "ConditionalCheckFailed" | "TransactionConflict"));
                if lost_race { Ok(WriteOutcome::VersionConflict) } else { Err(sdk_error(context, e)) }
            }
        }
    }

    /// Deletes `keys` (PK, SK).
    async fn delete_keys(&self, keys: Vec<(String, String)>) -> Result<u64, StoreError> {
        use aws_sdk_dynamodb::types::{DeleteRequest, WriteRequest};
        let count = keys.len() as u64;
        let writes = keys
            .iter()
            .map(|(pk, sk)| {
                let delete = DeleteRequest::builder()
                    .key(keys::PK, s(pk))
                    .key(keys::SK, s(sk))
                    .build()
                    .map_err(|e| StoreError::unavailable("build delete", e))?;
                Ok(WriteRequest::builder().delete_request(delete).build())
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.batch_write(writes, "delete items").await?;
        Ok(count)
    }

    /// Sends `writes` in BatchWriteItem calls of 25, resending whatever DynamoDB leaves unprocessed with
    /// a growing, jittered wait, at most [`BATCH_WRITE_TRIES`] calls per chunk. Every write is a put or
    /// delete of a whole item, so a resend after a partial failure is harmless.
    async fn batch_write(
        &self,
        writes: Vec<aws_sdk_dynamodb::types::WriteRequest>,
        context: &'static str,
    ) -> Result<(), StoreError> {
        for chunk in writes.chunks(25) {
            let mut pending = HashMap::from([(self.table.clone(), chunk.to_vec())]);
            let mut tries = 0;
            while pending.values().any(|w| !w.is_empty()) {
                if tries == BATCH_WRITE_TRIES {
                    let left: usize = pending.values().map(Vec::len).sum();
                    return Err(StoreError::unavailable(
                        context,
                        format!("{left} writes still unprocessed after {BATCH_WRITE_TRIES} tries"),
                    ));
                }
                if tries > 0 {
                    // Throttled: give the partition a growing moment before resending the rest.
                    tokio::time::sleep(crate::clock::backoff(tries - 1)).await;
                }
                tries += 1;
                let output = self
                    .client
                    .batch_write_item()
                    .set_request_items(Some(pending))
                    .send()
                    .await
                    .map_err(|e| sdk_error(context, e))?;
                pending = output.unprocessed_items.unwrap_or_default();
            }
        }
        Ok(())
    }

    /// The item `(pk, sk)`, read consistently, counted in [`DynamoStore::items_read`].
    async fn get_consistent(&self, pk: &str, sk: &str, context: &'static str) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(keys::PK, s(pk))
            .key(keys::SK, s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error(context, e))?;
        self.count_reads(u64::from(output.item.is_some()));
        Ok(output.item)
    }

    /// The shop's record item, read consistently.
    async fn shop_item(&self, shop: &ShopDomain) -> Result<Option<Item>, StoreError> {
        self.get_consistent(&keys::shop_pk(shop), keys::SHOP_SK, "get shop").await
    }

    /// Every item of the partition `pk` of `index` (`GSI1` with `GSI1PK`, `GSI2` with `GSI2PK`).
    async fn index_partition(&self, index: &str, pk_attribute: &str, pk: &str) -> Result<Vec<Item>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", pk_attribute)
            .expression_attribute_values(":pk", s(pk));
        self.query(query, usize::MAX).await
    }

    /// Every (PK, SK) of a base-table partition.
    async fn partition_keys(&self, pk: &str) -> Result<Vec<(String, String)>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk")
            .projection_expression("#pk, #sk")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#sk", keys::SK)
            .expression_attribute_values(":pk", s(pk));
        self.query(query, usize::MAX)
            .await?
            .iter()
            .map(|item| Ok((string_attr(item, keys::PK)?.to_owned(), string_attr(item, keys::SK)?.to_owned())))
            .collect()
    }
}

impl DynamoStore {
    /// Sets `attribute` and the refresh ping to `at` on the sync item, unless `attribute` already holds
    /// `at` or later. `extra` adds one more assignment. Returns whether it moved.
    async fn move_forward(
        &self,
        shop: &ShopDomain,
        attribute: &str,
        at: DateTime<Utc>,
        extra: Option<(&str, AttributeValue)>,
        context: &'static str,
    ) -> Result<bool, StoreError> {
        let mut assignments = "SET #a = :at, #entity = :entity, refreshed_at = :at".to_owned();
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::shop_pk(shop)))
            .key(keys::SK, s(keys::SYNC_SK))
            .condition_expression("attribute_not_exists(#a) OR #a < :at")
            .expression_attribute_names("#a", attribute)
            .expression_attribute_names("#entity", "entity")
            .expression_attribute_values(":at", s(keys::sortable_time(at)))
            .expression_attribute_values(":entity", s("sync_state"));
        if let Some((name, value)) = extra {
            assignments.push_str(", #x = :x");
            update = update.expression_attribute_names("#x", name).expression_attribute_values(":x", value);
        }
        match update.update_expression(assignments).send().await {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(sdk_error(context, e)),
        }
    }
}
