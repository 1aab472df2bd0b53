//! Connections in the shop's partition (`CONN#{integration}`), the active ones also in GSI2
//! (`CONNS#{integration}`). Settings and status are separate attributes, so recording a check or a sync
//! never races a settings update.

use super::*;
use crate::store::{CheckResult, Connection, ConnectionStatus, ConnectionStore, SyncResult};

fn opt_string(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

fn opt_u64(item: &Item, name: &str) -> Option<u64> {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok())
}

fn status_of(item: &Item) -> Result<ConnectionStatus, StoreError> {
    Ok(ConnectionStatus {
        last_check_at: time_attr(item, "last_check_at")?,
        last_check_ok: item.get("last_check_ok").and_then(|v| v.as_bool().ok()).copied(),
        last_check_error: opt_string(item, "last_check_error"),
        last_orders_sync_at: time_attr(item, "last_orders_sync_at")?,
        last_orders_sync_status: opt_string(item, "last_orders_sync_status"),
        last_orders_sync_error: opt_string(item, "last_orders_sync_error"),
        last_orders_sync_orders_count: opt_u64(item, "last_orders_sync_orders_count"),
        last_orders_sync_items_count: opt_u64(item, "last_orders_sync_items_count"),
    })
}

impl DynamoStore {
    /// Sets `values` (attribute → value; `None` removes it) on the connection item, if it exists.
    async fn set_connection_attributes(
        &self,
        shop: &ShopDomain,
        integration: Integration,
        values: Vec<(&'static str, Option<AttributeValue>)>,
        context: &'static str,
    ) -> Result<(), StoreError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::shop_pk(shop)))
            .key(keys::SK, s(keys::connection_sk(integration)))
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
            Err(e) if is_condition_failed(&e) => Ok(()),
            Err(e) => Err(super::sdk_error(context, e)),
        }
    }
}

#[async_trait]
impl ConnectionStore for DynamoStore {
    async fn connection(&self, shop: &ShopDomain, integration: Integration) -> Result<Option<Connection>, StoreError> {
        let sk = keys::connection_sk(integration);
        let Some(item) = self.get_consistent(&keys::shop_pk(shop), &sk, "get connection").await? else {
            return Ok(None);
        };
        let mut connection: Connection = from_data(&item)?;
        connection.status = status_of(&item)?;
        connection.version = opt_u64(&item, "version").unwrap_or(connection.version);
        Ok(Some(connection))
    }

    async fn create_connection(&self, connection: &Connection) -> Result<Recorded, StoreError> {
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(keys::PK, s(keys::shop_pk(&connection.shop)))
            .item(keys::SK, s(keys::connection_sk(connection.integration)))
            .item("entity", s("connection"))
            .item("version", n(connection.version))
            .item("data", to_json(connection)?)
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", keys::PK);
        if connection.active {
            request = request
                .item(keys::GSI2PK, s(keys::active_connections_gsi2pk(connection.integration)))
                .item(keys::GSI2SK, s(connection.shop.as_str()));
        }
        match request.send().await {
            Ok(_) => Ok(Recorded::New),
            Err(e) if is_condition_failed(&e) => Ok(Recorded::Duplicate),
            Err(e) => Err(super::sdk_error("create connection", e)),
        }
    }

    async fn update_connection(&self, connection: &Connection) -> Result<WriteOutcome, StoreError> {
        let expected = connection.version.saturating_sub(1);
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::shop_pk(&connection.shop)))
            .key(keys::SK, s(keys::connection_sk(connection.integration)))
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
                .expression_attribute_values(":g2pk", s(keys::active_connections_gsi2pk(connection.integration)))
                .expression_attribute_values(":g2sk", s(connection.shop.as_str()))
        } else {
            request.update_expression("SET #data = :data, #version = :version REMOVE #g2pk, #g2sk")
        };
        match request.send().await {
            Ok(_) => Ok(WriteOutcome::Written),
            Err(e) if is_condition_failed(&e) => Ok(WriteOutcome::VersionConflict),
            Err(e) => Err(super::sdk_error("update connection", e)),
        }
    }

    async fn record_check(
        &self,
        shop: &ShopDomain,
        integration: Integration,
        check: &CheckResult,
    ) -> Result<(), StoreError> {
        let values = vec![
            ("last_check_at", Some(s(keys::sortable_time(check.at)))),
            ("last_check_ok", Some(AttributeValue::Bool(check.ok))),
            ("last_check_error", check.error.clone().map(s)),
        ];
        self.set_connection_attributes(shop, integration, values, "record check").await
    }

    async fn record_sync(
        &self,
        shop: &ShopDomain,
        integration: Integration,
        sync: &SyncResult,
    ) -> Result<(), StoreError> {
        let values = vec![
            ("last_orders_sync_at", Some(s(keys::sortable_time(sync.at)))),
            ("last_orders_sync_status", Some(s(&sync.status))),
            ("last_orders_sync_error", sync.error.clone().map(s)),
            ("last_orders_sync_orders_count", Some(n(sync.orders))),
            ("last_orders_sync_items_count", Some(n(sync.items))),
        ];
        self.set_connection_attributes(shop, integration, values, "record sync").await
    }

    async fn active_connections(&self, integration: Integration) -> Result<Vec<ShopDomain>, StoreError> {
        self.index_partition(keys::GSI2, keys::GSI2PK, &keys::active_connections_gsi2pk(integration))
            .await?
            .iter()
            .map(|item| {
                let shop = string_attr(item, keys::GSI2SK)?;
                ShopDomain::parse(shop).map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .collect()
    }
}
