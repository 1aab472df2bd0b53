use super::*;

#[async_trait]
impl OrderStore for DynamoStore {
    async fn get_order(&self, shop: &ShopDomain, key: &OrderKey) -> Result<Option<Order>, StoreError> {
        let item = self.get_consistent(&keys::order_pk(shop, key), keys::ORDER_SK, "get order").await?;
        item.as_ref().map(from_data).transpose()
    }

    async fn write_order_with_alerts(
        &self,
        order: &Order,
        previous: Option<&Order>,
        events: &[TimelineEvent],
        effects: &[crate::store::PendingEffect],
        alerts: &[crate::store::AlertChange],
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
        for effect in effects {
            items.push(put(&self.table, outbox_item(effect)?)?);
        }
        for change in alerts {
            if let Some(item) = self.alert_write(&order.shop, change).await? {
                items.push(item);
            }
        }
        if previous.is_none() {
            let shop = HashMap::from([
                (keys::PK.into(), s(keys::SHOPS_PK)),
                (keys::SK.into(), s(order.shop.as_str())),
                ("entity".into(), s("shop_registration")),
            ]);
            items.push(put(&self.table, shop)?);
        }
        let token = order_write_token(order, previous, events, effects, alerts);
        self.transact_once(items, Some(token), "write order").await
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
            .map_err(|e| super::sdk_error("get page boundary", e))?;
        self.count_reads(u64::from(output.item.is_some()));
        output.item.as_ref().map(|item| string_attr(item, "position").map(str::to_owned)).transpose()
    }

    async fn remember_page_boundary(
        &self,
        shop: &ShopDomain,
        fingerprint: &str,
        offset: u64,
        position: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item(keys::PK, s(keys::pages_pk(shop, fingerprint)))
            .item(keys::SK, s(keys::page_sk(offset)))
            .item("entity", s("page_boundary"))
            .item("position", s(position))
            .item(keys::TTL, n(now.timestamp() + PAGE_BOUNDARY_TTL_SECONDS))
            .send()
            .await
            .map_err(|e| super::sdk_error("remember page boundary", e))?;
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

    async fn keep_waiting_event(
        &self,
        shop: &ShopDomain,
        key: &OrderKey,
        id: &str,
        event: &str,
        now: DateTime<Utc>,
    ) -> Result<crate::store::Waiting, StoreError> {
        use aws_sdk_dynamodb::types::ConditionCheck;
        let absent = ConditionCheck::builder()
            .table_name(&self.table)
            .key(keys::PK, s(keys::order_pk(shop, key)))
            .key(keys::SK, s(keys::ORDER_SK))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .map_err(|e| StoreError::unavailable("build condition check", e))?;
        let waiting = HashMap::from([
            (keys::PK.into(), s(keys::shop_pk(shop))),
            (keys::SK.into(), s(keys::waiting_sk(key, id))),
            ("entity".into(), s("waiting_event")),
            ("data".into(), s(event)),
            (keys::TTL.into(), n(now.timestamp() + crate::store::WAITING_TTL_SECONDS)),
        ]);
        let items = vec![TransactWriteItem::builder().condition_check(absent).build(), put(&self.table, waiting)?];
        Ok(match self.transact(items, "keep waiting event").await? {
            WriteOutcome::Written => crate::store::Waiting::Kept,
            WriteOutcome::VersionConflict => crate::store::Waiting::OrderExists,
        })
    }

    async fn waiting_events(&self, shop: &ShopDomain, key: &OrderKey) -> Result<Vec<(String, String)>, StoreError> {
        let prefix = keys::waiting_prefix(key);
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#sk", keys::SK)
            .expression_attribute_values(":pk", s(keys::shop_pk(shop)))
            .expression_attribute_values(":prefix", s(&prefix))
            .consistent_read(true);
        self.query(query, usize::MAX)
            .await?
            .iter()
            .map(|item| {
                let sk = string_attr(item, keys::SK)?;
                let id = sk.strip_prefix(&prefix).unwrap_or(sk).to_owned();
                Ok((id, string_attr(item, "data")?.to_owned()))
            })
            .collect()
    }

    async fn forget_waiting_event(&self, shop: &ShopDomain, key: &OrderKey, id: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::shop_pk(shop)))
            .key(keys::SK, s(keys::waiting_sk(key, id)))
            .send()
            .await
            .map_err(|e| super::sdk_error("forget waiting event", e))?;
        Ok(())
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

/// The `ClientRequestToken` of an order write, derived from the change itself (the order, the version
/// it replaces, its events, effects and alert changes): DynamoDB answers a repeat of a committed
/// transaction within ten minutes as a success, not as a lost race. 32 hex characters (at most 36).
fn order_write_token(
    order: &Order,
    previous: Option<&Order>,
    events: &[TimelineEvent],
    effects: &[crate::store::PendingEffect],
    alerts: &[crate::store::AlertChange],
) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    hash.update(keys::order_pk(&order.shop, &order.key()));
    hash.update(format!("|{:?}|{}|", previous.map(|p| p.version), order.version));
    hash.update(serde_json::to_vec(order).unwrap_or_default());
    for event in events {
        hash.update(keys::timeline_sk(event));
    }
    for effect in effects {
        hash.update(format!("|effect:{}", effect.id));
    }
    for change in alerts {
        let (kind, at) = match change {
            crate::store::AlertChange::Raise(alert) => ("raise", alert.raised_at),
            crate::store::AlertChange::Clear { at, .. } => ("clear", *at),
        };
        hash.update(format!("|{kind}:{}:{}", change.id(), at.timestamp_millis()));
    }
    hash.finalize().iter().take(16).map(|b| format!("{b:02x}")).collect()
}
