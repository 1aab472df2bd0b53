use super::*;

#[async_trait]
impl AlertStore for MemoryStore {
    async fn raise_alert(&self, alert: &Alert) -> Result<Recorded, StoreError> {
        let mut state = self.state();
        let feed = state.alerts.entry(alert.shop.clone()).or_default();
        if feed.values().any(|a| a.id == alert.id) {
            return Ok(Recorded::Duplicate);
        }
        feed.insert(keys::shop_alerts_gsi1sk(alert.raised_at, &alert.id), alert.clone());
        Ok(Recorded::New)
    }

    async fn refresh_alert(&self, alert: &Alert, at: DateTime<Utc>) -> Result<(), StoreError> {
        let mut state = self.state();
        let feed = state.alerts.entry(alert.shop.clone()).or_default();
        let Some((position, stored)) = feed.iter().find(|(_, a)| a.id == alert.id).map(|(p, a)| (p.clone(), a.clone()))
        else {
            feed.insert(keys::shop_alerts_gsi1sk(alert.raised_at, &alert.id), alert.clone());
            return Ok(());
        };
        if stored.cleared_at.is_some() || stored.message == alert.message {
            return Ok(());
        }
        feed.remove(&position);
        let updated = Alert { message: alert.message.clone(), ..stored };
        feed.insert(keys::shop_alerts_gsi1sk(keys::clear_position(&updated, at), &alert.id), updated);
        Ok(())
    }

    async fn clear_alert(&self, shop: &ShopDomain, id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let mut state = self.state();
        let Some(feed) = state.alerts.get_mut(shop) else { return Ok(()) };
        let Some(position) = feed.iter().find(|(_, a)| a.id == id && a.cleared_at.is_none()).map(|(p, _)| p.clone())
        else {
            return Ok(());
        };
        if let Some(mut alert) = feed.remove(&position) {
            alert.cleared_at = Some(at);
            feed.insert(keys::shop_alerts_gsi1sk(keys::clear_position(&alert, at), id), alert);
        }
        Ok(())
    }

    async fn alerts_since(
        &self,
        shop: &ShopDomain,
        since: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Alert)>, StoreError> {
        let state = self.state();
        let Some(feed) = state.alerts.get(shop) else {
            return Ok(Vec::new());
        };
        Ok(feed
            .iter()
            .filter(|(sk, _)| since.is_none_or(|since| sk.as_str() > since))
            .take(limit)
            .map(|(sk, a)| (sk.clone(), a.clone()))
            .collect())
    }
}
