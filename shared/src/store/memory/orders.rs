use super::*;

#[async_trait]
impl OrderStore for MemoryStore {
    async fn get_order(&self, shop: &ShopDomain, key: &OrderKey) -> Result<Option<Order>, StoreError> {
        Ok(self.state().orders.get(&keys::order_pk(shop, key)).cloned())
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
        let mut state = self.state();
        let current = state.orders.get(&pk).map(|o| o.version);
        if current != previous.map(|p| p.version) {
            return Ok(WriteOutcome::VersionConflict);
        }
        state.orders.insert(pk.clone(), order.clone());
        let timeline = state.timelines.entry(pk).or_default();
        for event in events {
            timeline.insert(keys::timeline_sk(event), event.clone());
        }
        for effect in effects {
            state.outbox.insert((effect.shop.clone(), effect.id.clone()), effect.clone());
        }
        let feed = state.alerts.entry(order.shop.clone()).or_default();
        for change in alerts {
            let stored = feed.iter().find(|(_, a)| a.id == change.id()).map(|(p, a)| (p.clone(), a.clone()));
            let (position, alert) = match (change, stored) {
                (crate::store::AlertChange::Raise(alert), _) => {
                    (keys::shop_alerts_gsi1sk(alert.raised_at, &alert.id), alert.clone())
                }
                (crate::store::AlertChange::Clear { id, at }, Some((_, stored))) if stored.cleared_at.is_none() => {
                    let cleared = crate::domain::Alert { cleared_at: Some(*at), ..stored };
                    (keys::shop_alerts_gsi1sk(keys::clear_position(&cleared, *at), id), cleared)
                }
                (crate::store::AlertChange::Clear { .. }, _) => continue,
            };
            feed.retain(|_, a| a.id != alert.id);
            feed.insert(position, alert);
        }
        Ok(WriteOutcome::Written)
    }

    async fn list_orders(
        &self,
        shop: &ShopDomain,
        query: &OrderQuery,
        seek: &Seek,
        limit: usize,
    ) -> Result<Vec<Listed>, StoreError> {
        let state = self.state();
        let mut listed: Vec<Listed> = state
            .orders
            .values()
            .filter(|o| &o.shop == shop && query.matches(o))
            .map(|o| Listed { position: keys::order_position(o), order: o.clone() })
            .filter(|l| match seek {
                Seek::First => true,
                Seek::From(position) => l.position <= *position,
                Seek::Before(position) => l.position > *position,
            })
            .collect();
        match seek {
            Seek::Before(_) => listed.sort_by(|a, b| a.position.cmp(&b.position)),
            _ => listed.sort_by(|a, b| b.position.cmp(&a.position)),
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
        Ok(self.state().pages.get(&(keys::pages_pk(shop, fingerprint), offset)).cloned())
    }

    async fn remember_page_boundary(
        &self,
        shop: &ShopDomain,
        fingerprint: &str,
        offset: u64,
        position: &str,
        _now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.state().pages.insert((keys::pages_pk(shop, fingerprint), offset), position.to_owned());
        Ok(())
    }

    async fn find_by_name(&self, shop: &ShopDomain, name: &str) -> Result<Option<Order>, StoreError> {
        let wanted = keys::order_name_gsi2pk(shop, name);
        Ok(self.state().orders.values().find(|o| keys::order_name_gsi2pk(&o.shop, o.name.as_str()) == wanted).cloned())
    }

    async fn order_detail(
        &self,
        shop: &ShopDomain,
        key: &OrderKey,
        events: usize,
    ) -> Result<Option<(Order, Vec<TimelineEvent>)>, StoreError> {
        let state = self.state();
        let pk = keys::order_pk(shop, key);
        let Some(order) = state.orders.get(&pk) else { return Ok(None) };
        let timeline = state.timelines.get(&pk).map(|t| t.values().rev().take(events).cloned().collect());
        Ok(Some((order.clone(), timeline.unwrap_or_default())))
    }

    async fn keep_waiting_event(
        &self,
        shop: &ShopDomain,
        key: &OrderKey,
        id: &str,
        event: &str,
        _now: DateTime<Utc>,
    ) -> Result<crate::store::Waiting, StoreError> {
        let mut state = self.state();
        if state.orders.contains_key(&keys::order_pk(shop, key)) {
            return Ok(crate::store::Waiting::OrderExists);
        }
        state.waiting.insert((shop.clone(), keys::waiting_sk(key, id)), event.to_owned());
        Ok(crate::store::Waiting::Kept)
    }

    async fn waiting_events(&self, shop: &ShopDomain, key: &OrderKey) -> Result<Vec<(String, String)>, StoreError> {
        let prefix = keys::waiting_prefix(key);
        Ok(self
            .state()
            .waiting
            .iter()
            .filter(|((s, sk), _)| s == shop && sk.starts_with(&prefix))
            .map(|((_, sk), event)| (sk[prefix.len()..].to_owned(), event.clone()))
            .collect())
    }

    async fn forget_waiting_event(&self, shop: &ShopDomain, key: &OrderKey, id: &str) -> Result<(), StoreError> {
        self.state().waiting.remove(&(shop.clone(), keys::waiting_sk(key, id)));
        Ok(())
    }

    async fn shops(&self) -> Result<Vec<ShopDomain>, StoreError> {
        let mut shops: Vec<ShopDomain> = self.state().orders.values().map(|o| o.shop.clone()).collect();
        shops.sort();
        shops.dedup();
        Ok(shops)
    }

    async fn due_for_review(
        &self,
        shop: &ShopDomain,
        watch: keys::Watch,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OrderKey>, StoreError> {
        let pk = keys::watch_pk(shop, watch);
        let until = format!("{}~", keys::sortable_millis(until));
        let state = self.state();
        let mut due: Vec<(String, OrderKey)> = state
            .orders
            .values()
            .flat_map(|o| keys::order_index(o).into_iter().map(move |e| (e, o.key())))
            .filter(|(e, _)| e.pk == pk && e.sk <= until)
            .map(|(e, key)| (e.sk, key))
            .collect();
        due.sort();
        Ok(due.into_iter().take(limit).map(|(_, key)| key).collect())
    }
}
