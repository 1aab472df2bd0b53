use super::*;

#[async_trait]
impl ReceiptStore for MemoryStore {
    async fn begin_receipt(&self, receipt: &WebhookReceipt) -> Result<Recorded, StoreError> {
        let mut state = self.state();
        let key = keys::receipt_pk(&receipt.shop, receipt.source, &receipt.delivery_id);
        match state.receipts.get(&key) {
            Some((_, true)) => Ok(Recorded::Duplicate),
            _ => {
                state.receipts.insert(key, (receipt.clone(), false));
                Ok(Recorded::New)
            }
        }
    }

    async fn complete_receipt(
        &self,
        shop: &ShopDomain,
        source: Integration,
        delivery_id: &str,
    ) -> Result<(), StoreError> {
        if let Some(entry) = self.state().receipts.get_mut(&keys::receipt_pk(shop, source, delivery_id)) {
            entry.1 = true;
        }
        Ok(())
    }
}
