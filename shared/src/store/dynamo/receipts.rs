use super::*;

#[async_trait]
impl ReceiptStore for DynamoStore {
    async fn begin_receipt(&self, receipt: &WebhookReceipt) -> Result<Recorded, StoreError> {
        let mut item = HashMap::from([
            (keys::PK.into(), s(keys::receipt_pk(&receipt.shop, receipt.source, &receipt.delivery_id))),
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
            Err(e) if is_condition_failed(&e) => Ok(Recorded::Duplicate),
            Err(e) => Err(super::sdk_error("record receipt", e)),
        }
    }

    async fn complete_receipt(
        &self,
        shop: &ShopDomain,
        source: Integration,
        delivery_id: &str,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::receipt_pk(shop, source, delivery_id)))
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
            Err(e) if is_condition_failed(&e) => Ok(()),
            Err(e) => Err(super::sdk_error("complete receipt", e)),
        }
    }
}
