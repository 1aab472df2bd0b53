use super::*;

#[async_trait]
impl AlertStore for DynamoStore {
    async fn raise_alert(&self, alert: &Alert) -> Result<Recorded, StoreError> {
        let item = alert_item(alert)?;
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
            Err(e) if is_condition_failed(&e) => Ok(Recorded::Duplicate),
            Err(e) => Err(super::sdk_error("raise alert", e)),
        }
    }

    async fn refresh_alert(&self, alert: &Alert, at: DateTime<Utc>) -> Result<(), StoreError> {
        if self.raise_alert(alert).await? == Recorded::New {
            return Ok(());
        }
        let Some(item) =
            self.get_consistent(&keys::alert_pk(&alert.shop, &alert.id), keys::ALERT_SK, "get alert").await?
        else {
            return Ok(());
        };
        let mut stored: Alert = from_data(&item)?;
        if stored.cleared_at.is_some() || stored.message == alert.message {
            return Ok(());
        }
        stored.message = alert.message.clone();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::alert_pk(&alert.shop, &alert.id)))
            .key(keys::SK, s(keys::ALERT_SK))
            .update_expression("SET #data = :data, #sk = :sk")
            .condition_expression("#data = :before")
            .expression_attribute_names("#data", "data")
            .expression_attribute_names("#sk", keys::GSI1SK)
            .expression_attribute_values(":data", to_json(&stored)?)
            .expression_attribute_values(
                ":sk",
                s(keys::shop_alerts_gsi1sk(keys::clear_position(&stored, at), &alert.id)),
            )
            .expression_attribute_values(":before", item.get("data").cloned().unwrap_or(s("")))
            .send()
            .await;
        match result {
            // Someone else changed it meanwhile; their message is as fresh.
            Err(e) if is_condition_failed(&e) => Ok(()),
            Err(e) => Err(super::sdk_error("refresh alert", e)),
            Ok(_) => Ok(()),
        }
    }

    async fn clear_alert(&self, shop: &ShopDomain, id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let Some(item) = self.get_consistent(&keys::alert_pk(shop, id), keys::ALERT_SK, "get alert").await? else {
            return Ok(());
        };
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
            Err(e) if is_condition_failed(&e) => Ok(()),
            Err(e) => Err(super::sdk_error("clear alert", e)),
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

/// The item of an open alert, positioned in the feed at its raise.
pub(super) fn alert_item(alert: &Alert) -> Result<Item, StoreError> {
    Ok(HashMap::from([
        (keys::PK.into(), s(keys::alert_pk(&alert.shop, &alert.id))),
        (keys::SK.into(), s(keys::ALERT_SK)),
        (keys::GSI1PK.into(), s(keys::shop_alerts_gsi1pk(&alert.shop))),
        (keys::GSI1SK.into(), s(keys::shop_alerts_gsi1sk(alert.raised_at, &alert.id))),
        ("entity".into(), s("alert")),
        ("data".into(), to_json(alert)?),
    ]))
}

impl DynamoStore {
    /// The transaction item of an alert change that commits with an order: a raise puts the open alert
    /// (a flag that came up again reopens its alert); a clear marks the stored open alert cleared, on
    /// condition that it is unchanged since read. `None` when there is nothing to clear.
    pub(super) async fn alert_write(
        &self,
        shop: &ShopDomain,
        change: &crate::store::AlertChange,
    ) -> Result<Option<TransactWriteItem>, StoreError> {
        use aws_sdk_dynamodb::types::Update;
        let (id, at) = match change {
            crate::store::AlertChange::Raise(alert) => return put(&self.table, alert_item(alert)?).map(Some),
            crate::store::AlertChange::Clear { id, at } => (id, *at),
        };
        let pk = keys::alert_pk(shop, id);
        let Some(item) = self.get_consistent(&pk, keys::ALERT_SK, "get alert").await? else { return Ok(None) };
        let mut alert: Alert = from_data(&item)?;
        if alert.cleared_at.is_some() {
            return Ok(None);
        }
        alert.cleared_at = Some(at);
        let update = Update::builder()
            .table_name(&self.table)
            .key(keys::PK, s(&pk))
            .key(keys::SK, s(keys::ALERT_SK))
            .update_expression("SET #data = :data, #sk = :sk")
            .condition_expression("#data = :before")
            .expression_attribute_names("#data", "data")
            .expression_attribute_names("#sk", keys::GSI1SK)
            .expression_attribute_values(":data", to_json(&alert)?)
            .expression_attribute_values(":sk", s(keys::shop_alerts_gsi1sk(keys::clear_position(&alert, at), id)))
            .expression_attribute_values(":before", item.get("data").cloned().unwrap_or(s("")))
            .build()
            .map_err(|e| StoreError::unavailable("build update", e))?;
        Ok(Some(TransactWriteItem::builder().update(update).build()))
    }
}
