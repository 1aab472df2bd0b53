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
    operation::query::builders::QueryFluentBuilder,
    types::{AttributeValue, Delete, Put, TransactWriteItem},
};
use chrono::{DateTime, Utc};
use serde::{Serialize, de::DeserializeOwned};

use super::{
    AlertStore, Delivery, DeliveryStore, Listed, OrderQuery, OrderStore, PAGE_BOUNDARY_TTL_SECONDS,
    RECEIPT_TTL_SECONDS, REQUEST_TTL_SECONDS, ReceiptStore, Recorded, RequestStore, Resource, Seek, ShopRecord,
    ShopStatus, ShopStore, SyncState, SyncStore, WebhookReceipt, WriteOutcome, keys,
};
use crate::{
    domain::{Alert, Order, OrderKey, ShopDomain, Tab, TimelineEvent},
    error::StoreError,
};

mod amazon;
mod assistant;
mod install;
mod products;

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

    /// A store on `table` with the SDK's default configuration, for functions that need only DynamoDB.
    pub async fn connect(table: impl Into<String>) -> Self {
        Self::new(crate::aws::dynamodb(&crate::aws::sdk_config().await), table)
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
                .map_err(|e| StoreError::unavailable("query", e))?;
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
        self.count_reads(u64::from(output.item.is_some()));
        output.item.as_ref().map(from_data).transpose()
    }

    async fn write_order(
        &self,
        order: &Order,
        previous: Option<&Order>,
        events: &[TimelineEvent],
    ) -> Result<WriteOutcome, StoreError> {
        let pk = keys::order_pk(&order.shop, &order.key());
        let data = to_json(order)?;
        let mut order_put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(order_item(order)?))
            .build()
            .map_err(|e| StoreError::unavailable("build put", e))?;
        order_put.condition_expression = Some(match previous {
            None => "attribute_not_exists(PK)".to_owned(),
            Some(previous) => {
                order_put.expression_attribute_names = Some(HashMap::from([("#v".into(), "version".into())]));
                order_put.expression_attribute_values = Some(HashMap::from([(":v".into(), n(previous.version))]));
                "#v = :v".to_owned()
            }
        });
        let mut items = vec![TransactWriteItem::builder().put(order_put).build()];
        let entries = keys::order_index(order);
        for entry in &entries {
            items.push(put(&self.table, index_item(order, entry, &data))?);
        }
        for stale in previous.map(keys::order_index).unwrap_or_default() {
            if !entries.iter().any(|e| e.pk == stale.pk && e.sk == stale.sk) {
                items.push(delete(&self.table, &stale.pk, &stale.sk)?);
            }
        }
        for event in events {
            items.push(put(&self.table, timeline_item(&pk, event)?)?);
        }
        if previous.is_none() {
            let shop = HashMap::from([
                (keys::PK.into(), s(keys::SHOPS_PK)),
                (keys::SK.into(), s(order.shop.as_str())),
                ("entity".into(), s("shop_registration")),
            ]);
            items.push(put(&self.table, shop)?);
        }
        self.transact(items, "write order").await
    }

    async fn list_orders(
        &self,
        shop: &ShopDomain,
        query: &OrderQuery,
        seek: &Seek,
        limit: usize,
    ) -> Result<Vec<Listed>, StoreError> {
        let (partition, tab_filter) = match &query.assignee {
            Some(assignee) => (keys::assignee_pk(shop, assignee), Some(query.tab())),
            None => (keys::tab_pk(shop, query.tab()), None),
        };
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .scan_index_forward(matches!(seek, Seek::Before(_)))
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_values(":pk", s(partition));
        let mut condition = "#pk = :pk".to_owned();
        let (lower, upper) = key_range(query, seek);
        if lower.is_some() || upper.is_some() {
            request = request.expression_attribute_names("#sk", keys::SK);
        }
        match (lower, upper) {
            (Some(lower), Some(upper)) => {
                condition.push_str(" AND #sk BETWEEN :lower AND :upper");
                request = request
                    .expression_attribute_values(":lower", s(lower))
                    .expression_attribute_values(":upper", s(upper));
            }
            (Some(lower), None) => {
                condition.push_str(" AND #sk >= :lower");
                request = request.expression_attribute_values(":lower", s(lower));
            }
            (None, Some(upper)) => {
                condition.push_str(" AND #sk <= :upper");
                request = request.expression_attribute_values(":upper", s(upper));
            }
            (None, None) => {}
        }
        let mut filters = Vec::new();
        if let Some(tab) = tab_filter.filter(|t| !matches!(t, Tab::All | Tab::Assigned)) {
            filters.push("contains(#tabs, :tab)");
            request = request
                .expression_attribute_names("#tabs", "tabs")
                .expression_attribute_values(":tab", s(tab.as_str()));
        }
        if let Some(status) = &query.status {
            filters.push("#status = :status");
            request = request
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":status", s(status.as_str()));
        }
        if let Some(priority) = query.priority {
            filters.push("#priority = :priority");
            request = request
                .expression_attribute_names("#priority", "priority")
                .expression_attribute_values(":priority", s(priority.as_str()));
        }
        if !filters.is_empty() {
            request = request.filter_expression(filters.join(" AND "));
        }
        request = request.key_condition_expression(condition);
        // `Before` excludes its own position, which the inclusive key range may return first.
        let exclude = match seek {
            Seek::Before(position) => Some(position.clone()),
            _ => None,
        };
        let want = limit + usize::from(exclude.is_some());
        let mut listed = Vec::new();
        for item in self.query(request, want).await? {
            let position = string_attr(&item, keys::SK)?.to_owned();
            if exclude.as_ref() != Some(&position) {
                listed.push(Listed { position, order: from_data(&item)? });
            }
        }
        listed.truncate(limit);
        Ok(listed)
    }

    async fn page_boundary(
        &self,
        shop: &ShopDomain,
        fingerprint: &str,
        offset: u64,
    ) -> Result<Option<String>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::pages_pk(shop, fingerprint)))
            .key(keys::SK, s(keys::page_sk(offset)))
            .send()
            .await
            .map_err(|e| StoreError::unavailable("get page boundary", e))?;
        self.count_reads(u64::from(output.item.is_some()));
        output.item.as_ref().map(|item| string_attr(item, "position").map(str::to_owned)).transpose()
    }

    async fn remember_page_boundary(
        &self,
        shop: &ShopDomain,
        fingerprint: &str,
        offset: u64,
        position: &str,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item(keys::PK, s(keys::pages_pk(shop, fingerprint)))
            .item(keys::SK, s(keys::page_sk(offset)))
            .item("entity", s("page_boundary"))
            .item("position", s(position))
            .item(keys::TTL, n(Utc::now().timestamp() + PAGE_BOUNDARY_TTL_SECONDS))
            .send()
            .await
            .map_err(|e| StoreError::unavailable("remember page boundary", e))?;
        Ok(())
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

    async fn order_detail(
        &self,
        shop: &ShopDomain,
        key: &OrderKey,
        events: usize,
    ) -> Result<Option<(Order, Vec<TimelineEvent>)>, StoreError> {
        // Descending from `~ORDER`: the order item first, then its newest timeline events.
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND #sk <= :order")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#sk", keys::SK)
            .expression_attribute_values(":pk", s(keys::order_pk(shop, key)))
            .expression_attribute_values(":order", s(keys::ORDER_SK))
            .scan_index_forward(false)
            .consistent_read(true);
        let items = self.query(query, events + 1).await?;
        let Some((first, rest)) = items.split_first() else { return Ok(None) };
        if string_attr(first, keys::SK)? != keys::ORDER_SK {
            return Ok(None);
        }
        let timeline = rest
            .iter()
            .filter(|item| string_attr(item, keys::SK).is_ok_and(|sk| sk.starts_with(keys::TIMELINE_PREFIX)))
            .map(from_data)
            .collect::<Result<_, _>>()?;
        Ok(Some((from_data(first)?, timeline)))
    }

    async fn shops(&self) -> Result<Vec<ShopDomain>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_values(":pk", s(keys::SHOPS_PK));
        self.query(query, usize::MAX)
            .await?
            .iter()
            .map(|item| ShopDomain::parse(string_attr(item, keys::SK)?).map_err(|e| StoreError::Corrupt(e.to_string())))
            .collect()
    }

    async fn due_for_review(
        &self,
        shop: &ShopDomain,
        watch: keys::Watch,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OrderKey>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND #sk <= :until")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#sk", keys::SK)
            .expression_attribute_values(":pk", s(keys::watch_pk(shop, watch)))
            .expression_attribute_values(":until", s(format!("{}~", keys::sortable_millis(until))));
        self.query(query, limit)
            .await?
            .iter()
            .map(|item| {
                OrderKey::parse(string_attr(item, "order_key")?).map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .collect()
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

    async fn clear_alert(&self, shop: &ShopDomain, id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::alert_pk(shop, id)))
            .key(keys::SK, s(keys::ALERT_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::unavailable("get alert", e))?;
        let Some(item) = output.item else { return Ok(()) };
        let mut alert: Alert = from_data(&item)?;
        if alert.cleared_at.is_some() {
            return Ok(());
        }
        alert.cleared_at = Some(at);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::alert_pk(shop, id)))
            .key(keys::SK, s(keys::ALERT_SK))
            .update_expression("SET #data = :data, #sk = :sk")
            .condition_expression("#data = :before")
            .expression_attribute_names("#data", "data")
            .expression_attribute_names("#sk", keys::GSI1SK)
            .expression_attribute_values(":data", to_json(&alert)?)
            .expression_attribute_values(":sk", s(keys::shop_alerts_gsi1sk(keys::clear_position(&alert, at), id)))
            .expression_attribute_values(":before", item.get("data").cloned().unwrap_or(s("")))
            .send()
            .await;
        match result {
            // Someone else changed it first (cleared it): nothing left to do.
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(StoreError::unavailable("clear alert", e)),
            Ok(_) => Ok(()),
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

#[async_trait]
impl RequestStore for DynamoStore {
    async fn stored_response(
        &self,
        shop: &ShopDomain,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::request_pk(shop, key)))
            .key(keys::SK, s(keys::REQUEST_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::unavailable("get stored response", e))?;
        let now = now.timestamp();
        let live = output.item.filter(|item| {
            item.get(keys::TTL).and_then(|t| t.as_n().ok()).and_then(|t| t.parse::<i64>().ok()).is_none_or(|t| t > now)
        });
        live.as_ref().map(|item| string_attr(item, "response").map(str::to_owned)).transpose()
    }

    async fn store_response(
        &self,
        shop: &ShopDomain,
        key: &str,
        response: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item(keys::PK, s(keys::request_pk(shop, key)))
            .item(keys::SK, s(keys::REQUEST_SK))
            .item("entity", s("request"))
            .item("response", s(response))
            .item(keys::TTL, n(now.timestamp() + REQUEST_TTL_SECONDS))
            .send()
            .await
            .map_err(|e| StoreError::unavailable("store response", e))?;
        Ok(())
    }
}

#[async_trait]
impl DeliveryStore for DynamoStore {
    async fn record_delivery(&self, shop: &ShopDomain, key: &OrderKey, delivery: &Delivery) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item(keys::PK, s(keys::order_pk(shop, key)))
            .item(keys::SK, s(keys::delivery_sk(&delivery.id)))
            .item("entity", s("delivery"))
            .item("data", to_json(delivery)?)
            .send()
            .await
            .map_err(|e| StoreError::unavailable("record delivery", e))?;
        Ok(())
    }

    async fn deliveries(&self, shop: &ShopDomain, key: &OrderKey) -> Result<Vec<Delivery>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#sk", keys::SK)
            .expression_attribute_values(":pk", s(keys::order_pk(shop, key)))
            .expression_attribute_values(":prefix", s(keys::delivery_sk("")));
        self.query(query, 1000).await?.iter().map(from_data).collect()
    }
}

impl DynamoStore {
    /// Runs `items` as one transaction. A failed condition or a conflicting transaction is a lost race
    /// (`VersionConflict`): the caller re-reads and decides again.
    async fn transact(&self, items: Vec<TransactWriteItem>, context: &'static str) -> Result<WriteOutcome, StoreError> {
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
        match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(WriteOutcome::Written),
            Err(e) => {
                let lost_race = match e.as_service_error() {
                    Some(TransactWriteItemsError::TransactionCanceledException(tc)) => tc
                        .cancellation_reasons()
                        .iter()
                        .any(|r| matches!(r.code(), Some("ConditionalCheckFailed") | Some("TransactionConflict"))),
                    _ => false,
                };
                if lost_race { Ok(WriteOutcome::VersionConflict) } else { Err(StoreError::unavailable(context, e)) }
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

    /// Sends `writes` in BatchWriteItem calls of 25, resending whatever DynamoDB leaves unprocessed.
    async fn batch_write(
        &self,
        writes: Vec<aws_sdk_dynamodb::types::WriteRequest>,
        context: &'static str,
    ) -> Result<(), StoreError> {
        for chunk in writes.chunks(25) {
            let mut pending = Some(HashMap::from([(self.table.clone(), chunk.to_vec())]));
            while let Some(batch) = pending.take().filter(|b| b.values().any(|w| !w.is_empty())) {
                let output = self
                    .client
                    .batch_write_item()
                    .set_request_items(Some(batch))
                    .send()
                    .await
                    .map_err(|e| StoreError::unavailable(context, e))?;
                pending = output.unprocessed_items;
                if pending.as_ref().is_some_and(|p| p.values().any(|w| !w.is_empty())) {
                    // Throttled: give the partition a moment before resending the rest.
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
        Ok(())
    }

    /// The shop's record item, read consistently.
    async fn shop_item(&self, shop: &ShopDomain) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::shop_pk(shop)))
            .key(keys::SK, s(keys::SHOP_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::unavailable("get shop", e))?;
        Ok(output.item)
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

fn item_status(item: &Item) -> Result<ShopStatus, StoreError> {
    let raw = string_attr(item, "status")?;
    ShopStatus::parse(raw).ok_or_else(|| StoreError::Corrupt(format!("shop status `{raw}`")))
}

#[async_trait]
impl ShopStore for DynamoStore {
    async fn install_shop(&self, record: &ShopRecord) -> Result<(), StoreError> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(keys::PK, s(keys::shop_pk(&record.shop)))
            .item(keys::SK, s(keys::SHOP_SK))
            .item("entity", s("shop"))
            .item("status", s(record.status.as_str()))
            .item("status_changed_at", s(record.installed_at.to_rfc3339()))
            .item("data", to_json(record)?);
        if record.status == ShopStatus::Active {
            put = put.item(keys::GSI1PK, s(keys::ACTIVE_SHOPS_GSI1PK)).item(keys::GSI1SK, s(record.shop.as_str()));
        }
        put.send().await.map_err(|e| StoreError::unavailable("install shop", e))?;
        Ok(())
    }

    async fn shop(&self, shop: &ShopDomain) -> Result<Option<ShopRecord>, StoreError> {
        let Some(item) = self.shop_item(shop).await?.filter(|item| item.contains_key("data")) else { return Ok(None) };
        let mut record: ShopRecord = from_data(&item)?;
        // `set_shop_status` changes only the attribute; it is the truth.
        record.status = item_status(&item)?;
        Ok(Some(record))
    }

    async fn set_shop_status(
        &self,
        shop: &ShopDomain,
        status: ShopStatus,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::shop_pk(shop)))
            .key(keys::SK, s(keys::SHOP_SK))
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#at", "status_changed_at")
            .expression_attribute_names("#entity", "entity")
            .expression_attribute_names("#gpk", keys::GSI1PK)
            .expression_attribute_names("#gsk", keys::GSI1SK)
            .expression_attribute_values(":status", s(status.as_str()))
            .expression_attribute_values(":at", s(at.to_rfc3339()))
            .expression_attribute_values(":entity", s("shop"));
        // Only an active shop sits in the active-shops index.
        let update = match status {
            ShopStatus::Active => update
                .update_expression("SET #status = :status, #at = :at, #entity = :entity, #gpk = :gpk, #gsk = :gsk")
                .expression_attribute_values(":gpk", s(keys::ACTIVE_SHOPS_GSI1PK))
                .expression_attribute_values(":gsk", s(shop.as_str())),
            ShopStatus::Uninstalled => {
                update.update_expression("SET #status = :status, #at = :at, #entity = :entity REMOVE #gpk, #gsk")
            }
        };
        update.send().await.map_err(|e| StoreError::unavailable("set shop status", e))?;
        Ok(())
    }

    async fn shop_status(&self, shop: &ShopDomain) -> Result<Option<ShopStatus>, StoreError> {
        self.shop_item(shop).await?.as_ref().map(item_status).transpose()
    }

    async fn active_shops(&self) -> Result<Vec<ShopDomain>, StoreError> {
        self.index_partition(keys::GSI1, keys::GSI1PK, keys::ACTIVE_SHOPS_GSI1PK)
            .await?
            .iter()
            .map(|item| {
                let raw = string_attr(item, keys::GSI1SK)?;
                ShopDomain::parse(raw).map_err(|_| StoreError::Corrupt(format!("active shop `{raw}`")))
            })
            .collect()
    }

    async fn erase_shop(&self, shop: &ShopDomain) -> Result<u64, StoreError> {
        let mut doomed: Vec<(String, String)> = Vec::new();
        let all = OrderQuery::default();
        for listed in self.list_orders(shop, &all, &Seek::First, usize::MAX - 1).await? {
            let order = listed.order;
            doomed.extend(self.partition_keys(&keys::order_pk(shop, &order.key())).await?);
            doomed.extend(keys::order_index(&order).into_iter().map(|e| (e.pk, e.sk)));
        }
        let alerts = self.alerts_since(shop, None, usize::MAX).await?;
        doomed.extend(alerts.iter().map(|(_, alert)| (keys::alert_pk(shop, &alert.id), keys::ALERT_SK.to_owned())));
        doomed.extend(self.partition_keys(&keys::shop_pk(shop)).await?);
        doomed.extend(self.product_keys(shop).await?);
        doomed.extend(self.partition_keys(&keys::order_cursors_pk(shop)).await?);
        doomed.extend(self.amazon_erasure_keys(shop).await?);
        doomed.extend(self.api_key_erasure_keys(shop).await?);
        doomed.push((keys::SHOPS_PK.to_owned(), shop.as_str().to_owned()));
        doomed.sort();
        doomed.dedup();
        self.delete_keys(doomed).await
    }

    async fn record_data_export(&self, shop: &ShopDomain, request_id: &str, export: &str) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item(keys::PK, s(keys::shop_pk(shop)))
            .item(keys::SK, s(keys::export_sk(request_id)))
            .item("entity", s("data_export"))
            .item("data", s(export))
            .send()
            .await
            .map_err(|e| StoreError::unavailable("record data export", e))?;
        Ok(())
    }

    async fn data_export(&self, shop: &ShopDomain, request_id: &str) -> Result<Option<String>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::shop_pk(shop)))
            .key(keys::SK, s(keys::export_sk(request_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::unavailable("get data export", e))?;
        output.item.as_ref().map(|item| string_attr(item, "data").map(str::to_owned)).transpose()
    }
}

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
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(StoreError::unavailable(context, e)),
        }
    }
}

#[async_trait]
impl SyncStore for DynamoStore {
    async fn sync_state(&self, shop: &ShopDomain) -> Result<SyncState, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::shop_pk(shop)))
            .key(keys::SK, s(keys::SYNC_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::unavailable("get sync state", e))?;
        let Some(item) = output.item else { return Ok(SyncState::default()) };
        Ok(SyncState {
            orders_watermark: time_attr(&item, "orders_watermark")?,
            orders_cursor: item.get("orders_cursor").and_then(|v| v.as_s().ok()).cloned(),
            products_watermark: time_attr(&item, "products_watermark")?,
            last_webhook_at: time_attr(&item, "last_webhook_at")?,
            refreshed_at: time_attr(&item, "refreshed_at")?,
        })
    }

    async fn advance_watermark(
        &self,
        shop: &ShopDomain,
        resource: Resource,
        to: DateTime<Utc>,
        cursor: Option<&str>,
    ) -> Result<bool, StoreError> {
        let attribute = format!("{}_watermark", resource.as_str());
        let cursor_attribute = format!("{}_cursor", resource.as_str());
        let extra = cursor.map(|c| (cursor_attribute.as_str(), s(c)));
        self.move_forward(shop, &attribute, to, extra, "advance watermark").await
    }

    async fn record_webhook(&self, shop: &ShopDomain, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.move_forward(shop, "last_webhook_at", at, None, "record webhook").await.map(drop)
    }

    async fn record_order_cursors(&self, shop: &ShopDomain, cursors: &[(OrderKey, String)]) -> Result<(), StoreError> {
        use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
        let writes = cursors
            .iter()
            .map(|(key, cursor)| {
                let put = PutRequest::builder()
                    .item(keys::PK, s(keys::order_cursors_pk(shop)))
                    .item(keys::SK, s(key.to_string()))
                    .item("entity", s("order_cursor"))
                    .item("cursor", s(cursor))
                    .build()
                    .map_err(|e| StoreError::unavailable("build put", e))?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.batch_write(writes, "record order cursors").await
    }

    async fn order_cursor(&self, shop: &ShopDomain, key: &OrderKey) -> Result<Option<String>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::order_cursors_pk(shop)))
            .key(keys::SK, s(key.to_string()))
            .send()
            .await
            .map_err(|e| StoreError::unavailable("get order cursor", e))?;
        Ok(output.item.as_ref().and_then(|item| item.get("cursor")).and_then(|v| v.as_s().ok()).cloned())
    }

    async fn ping_refresh(&self, shop: &ShopDomain, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::shop_pk(shop)))
            .key(keys::SK, s(keys::SYNC_SK))
            .update_expression("SET refreshed_at = :at, #entity = :entity")
            .expression_attribute_names("#entity", "entity")
            .expression_attribute_values(":at", s(keys::sortable_time(at)))
            .expression_attribute_values(":entity", s("sync_state"))
            .send()
            .await
            .map_err(|e| StoreError::unavailable("ping refresh", e))?;
        Ok(())
    }
}
