use super::*;

pub(super) fn item_status(item: &Item) -> Result<ShopStatus, StoreError> {
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
        put.send().await.map_err(|e| super::sdk_error("install shop", e))?;
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
        update.send().await.map_err(|e| super::sdk_error("set shop status", e))?;
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
        doomed.extend(self.mirror_erasure_keys(shop).await?);
        doomed.extend(self.api_key_erasure_keys(shop).await?);
        doomed.push((keys::SHOPS_PK.to_owned(), shop.as_str().to_owned()));
        doomed.sort();
        doomed.dedup();
        self.delete_keys(doomed).await
    }

    async fn erase_shop_orders(&self, shop: &ShopDomain, limit: usize) -> Result<ErasedOrders, StoreError> {
        let listed = self.list_orders(shop, &OrderQuery::default(), &Seek::First, limit.saturating_add(1)).await?;
        let more = listed.len() > limit;
        let mut doomed: Vec<(String, String)> = Vec::new();
        let mut orders = 0;
        for listed in listed.into_iter().take(limit) {
            let order = listed.order;
            doomed.extend(self.partition_keys(&keys::order_pk(shop, &order.key())).await?);
            doomed.extend(keys::order_index(&order).into_iter().map(|e| (e.pk, e.sk)));
            orders += 1;
        }
        doomed.sort();
        doomed.dedup();
        self.delete_keys(doomed).await?;
        Ok(ErasedOrders { orders, more })
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
            .map_err(|e| super::sdk_error("record data export", e))?;
        Ok(())
    }

    async fn data_export(&self, shop: &ShopDomain, request_id: &str) -> Result<Option<String>, StoreError> {
        let item = self.get_consistent(&keys::shop_pk(shop), &keys::export_sk(request_id), "get data export").await?;
        item.as_ref().map(|item| string_attr(item, "data").map(str::to_owned)).transpose()
    }
}
