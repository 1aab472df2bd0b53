//! CommerceOS's effects, one message each, built from the order as stored when worked: the trade-order
//! upsert (201, then 200), the address actions (only while the order is New/Reserved there), a payment
//! per captured transaction (idempotent on its transaction id at CommerceOS too), `tryApprove`,
//! `createShipment` + `release` (or, when CommerceOS fulfils the order, one `createShipment` that it
//! releases itself), and `tryCancel` (Committed only). An action waits (a rung of the
//! ladder) until the upsert went through; a state rule that refuses it raises an alert and is not
//! retried; a 409 (out of stock) cancels the order in CommerceOS and raises an alert naming the items;
//! 429, 5xx and timeouts climb the ladder to the dead letter. No write goes out while the credential
//! lacks write scopes (CommerceOS would answer it with a silent 200).

use super::{Failure, Outbound, already_handed_on, record, retry_or_dead_letter, wait_for_token};
use crate::{
    app::{
        alerts,
        connections::commerceos::{self as connection, Access, AccessError},
        orders::{self, Decision},
        outbox,
    },
    domain::{ErpAction, Integration, Order, OrderKey, TimelineEvent, erp},
    error::WorkerError,
    integrations::{
        commerceos::{
            client::Upserted,
            model::{self},
        },
        http::UpstreamError,
    },
    queue,
    store::DeliveryOutcome,
};

/// The payment method of captured transactions.
const CARD: &str = "com.heads.card";

/// Works one CommerceOS message.
pub(super) async fn single(deps: &Outbound, message: &queue::Outbound, action: &ErpAction) -> Result<(), WorkerError> {
    let key = OrderKey::parse(&message.order).map_err(|e| WorkerError::Permanent(e.into()))?;
    if already_handed_on(deps, message, &key).await? {
        return Ok(());
    }
    let Some(order) = deps.orders.get_order(&message.shop, &key).await? else {
        return record(deps, message, &key, DeliveryOutcome::Skipped, "the order is gone".into()).await;
    };
    let Some(state) = order.ops.erp.clone() else {
        return record(deps, message, &key, DeliveryOutcome::Skipped, "the order is not mirrored to CommerceOS".into())
            .await;
    };
    let c = &deps.commerceos;
    let access = match connection::access(
        c.connections.as_ref(),
        c.credentials.as_ref(),
        c.sealer.as_ref(),
        &c.config,
        &message.shop,
    )
    .await
    {
        Ok(access) => access,
        Err(AccessError::NotConnected) => {
            let failure = Failure::rejected("the shop has no active CommerceOS connection", None, None);
            return retry_or_dead_letter(deps, message, failure).await;
        }
        Err(e) => return Err(WorkerError::Retryable(anyhow::anyhow!("CommerceOS access: {e}"))),
    };
    if !access.settings.writes_allowed() {
        let error = format!(
            "the CommerceOS credential lacks the write scopes {}; reconnect with them, then replay",
            access.settings.missing_scopes.join(", ")
        );
        return retry_or_dead_letter(deps, message, Failure::rejected(error, None, None)).await;
    }
    // State rules we know before asking: an action needs the trade order to exist there.
    if !matches!(action, ErpAction::Upsert) && !state.upserted {
        if matches!(action, ErpAction::Cancel) {
            return record(deps, message, &key, DeliveryOutcome::Skipped, "CommerceOS never had the order".into())
                .await;
        }
        return retry_or_dead_letter(deps, message, Failure::waiting("CommerceOS does not have the trade order yet"))
            .await;
    }
    let work = Work { deps, message, key: &key, order: &order, state: &state, access: &access };
    match action {
        ErpAction::Addresses if state.approved || state.cancelled => {
            let rule = "CommerceOS changes addresses only while the order is New or Reserved; it is Committed there";
            work.refuse(rule).await
        }
        ErpAction::Approve if state.approved => {
            record(deps, message, &key, DeliveryOutcome::Delivered, "already approved in CommerceOS".into()).await
        }
        ErpAction::Approve
            if erp::address_digest(&order).is_some() && state.address_digest != erp::address_digest(&order) =>
        {
            retry_or_dead_letter(deps, message, Failure::waiting("the order's address is not in CommerceOS yet")).await
        }
        ErpAction::Shipment { .. } | ErpAction::Fulfil
            if !state.approved && !state.raw_status.iter().any(|s| s == "Committed") =>
        {
            retry_or_dead_letter(
                deps,
                message,
                Failure::waiting("CommerceOS ships only Committed orders; not yet approved"),
            )
            .await
        }
        ErpAction::Cancel if state.cancelled => {
            record(deps, message, &key, DeliveryOutcome::Delivered, "already cancelled in CommerceOS".into()).await
        }
        ErpAction::Cancel if !state.approved => {
            work.refuse("CommerceOS cancels (tryCancel) only Committed orders; the order is New there").await
        }
        _ => {
            if let Err(delay) = deps.rates.take(Integration::CommerceOs, &message.shop, deps.clock.now()) {
                return wait_for_token(deps, message, delay).await;
            }
            work.run(action).await
        }
    }
}

struct Work<'a> {
    deps: &'a Outbound,
    message: &'a queue::Outbound,
    key: &'a OrderKey,
    order: &'a Order,
    state: &'a erp::ErpState,
    access: &'a Access,
}

impl Work<'_> {
    fn address(&self) -> String {
        self.access.settings.defaults.identifier_key.address(&self.state.identifier)
    }

    /// A state rule refuses the action: an alert, the delivery recorded as rejected, no retry.
    async fn refuse(&self, why: &str) -> Result<(), WorkerError> {
        let now = self.deps.clock.now();
        let detail = format!("{} refused for order {}: {why}", self.message.change.kind(), self.order.name.as_str());
        let alert = alerts::push_rejected(&self.message.shop, self.key, &self.message.id, &detail, now);
        self.deps.alerts.raise_alert(&alert).await?;
        record(self.deps, self.message, self.key, DeliveryOutcome::Rejected, detail).await
    }

    /// Updates the order's ERP state (and its timeline) after a success. What the new state asks of
    /// the ERP in turn (CommerceOS fulfils an approved order: its `createShipment`) commits with it and
    /// is relayed at once.
    async fn note(
        &self,
        event: Option<(&str, String)>,
        apply: impl Fn(&mut erp::ErpState) -> bool,
    ) -> Result<(), WorkerError> {
        let now = self.deps.clock.now();
        let change = |o: &mut Order| {
            let Some(state) = o.ops.erp.as_mut() else { return Ok::<_, std::convert::Infallible>(Decision::Keep) };
            if !apply(state) {
                return Ok(Decision::Keep);
            }
            state.updated_at = Some(now);
            Ok(Decision::Write(event.iter().map(|(kind, text)| TimelineEvent::new(now, kind, text.clone())).collect()))
        };
        let (orders_store, shop) = (self.deps.orders.as_ref(), &self.message.shop);
        let changed = orders::change_with_effects(orders_store, shop, self.key, now, change, |_, _| Vec::new()).await;
        if let Ok((_, pending)) = &changed {
            outbox::relay_after_commit(self.deps.outbox.as_ref(), self.deps.queue.as_ref(), pending).await;
        }
        match changed {
            Ok(_) | Err(orders::ChangeError::NotFound) => Ok(()),
            Err(orders::ChangeError::Store(e)) => Err(e.into()),
            Err(e) => Err(WorkerError::Retryable(anyhow::anyhow!("{e}"))),
        }
    }

    async fn run(&self, action: &ErpAction) -> Result<(), WorkerError> {
        let (deps, now) = (self.deps, self.deps.clock.now());
        let client = &deps.commerceos.client;
        let tenant = &self.access.tenant;
        let address = self.address();
        let defaults = &self.access.settings.defaults;
        match action {
            ErpAction::Upsert => {
                let body = match model::trade_order(self.order, defaults, &self.state.identifier) {
                    Ok(body) => body,
                    Err(e) => return retry_or_dead_letter(deps, self.message, Failure::rejected(e, None, None)).await,
                };
                match client.upsert_trade_order(tenant, &address, &body, now).await {
                    Ok(upserted) => {
                        let (code, what) = match upserted {
                            Upserted::Created => (201, "created"),
                            Upserted::Updated => (200, "updated"),
                        };
                        let text = format!("Sent to CommerceOS as {address}");
                        self.note(Some(("erp_upserted", text)), |s| !std::mem::replace(&mut s.upserted, true)).await?;
                        let detail = format!("trade order {what} in CommerceOS ({code})");
                        record(deps, self.message, self.key, DeliveryOutcome::Delivered, detail).await
                    }
                    Err(e) => self.failed(e, Some(body)).await,
                }
            }
            ErpAction::Addresses => {
                let Some(shipping) = self.order.shipping_address.as_ref() else {
                    return record(deps, self.message, self.key, DeliveryOutcome::Skipped, "no address".into()).await;
                };
                let digest = erp::address_digest(self.order);
                for body in [model::change_delivery_address(shipping), model::change_invoice_address(shipping)] {
                    if let Err(e) = client.order_action(tenant, &address, &body, now).await {
                        return self.failed(e, Some(body)).await;
                    }
                }
                self.note(None, |s| {
                    let changed = s.address_digest != digest;
                    s.address_digest.clone_from(&digest);
                    changed
                })
                .await?;
                record(deps, self.message, self.key, DeliveryOutcome::Delivered, "addresses set in CommerceOS".into())
                    .await
            }
            ErpAction::Payment { transaction_id, amount, currency } => {
                let currency = if currency.trim().is_empty() { &defaults.currency } else { currency };
                let body = model::create_payment(transaction_id, self.order.updated_at, currency, amount, CARD);
                match client.order_action(tenant, &address, &body, now).await {
                    Ok(_) => {
                        let detail = format!("payment {transaction_id} of {amount} {currency} recorded in CommerceOS");
                        record(deps, self.message, self.key, DeliveryOutcome::Delivered, detail).await
                    }
                    Err(e) => self.failed(e, Some(body)).await,
                }
            }
            ErpAction::Approve => {
                let body = model::flag("tryApprove");
                match client.order_action(tenant, &address, &body, now).await {
                    Ok(_) => {
                        let text = "Approved in CommerceOS (Committed)".to_owned();
                        self.note(Some(("erp_approved", text)), |s| !std::mem::replace(&mut s.approved, true)).await?;
                        record(deps, self.message, self.key, DeliveryOutcome::Delivered, "approved".into()).await
                    }
                    Err(e) => self.failed(e, Some(body)).await,
                }
            }
            ErpAction::Shipment { shipment_id } => self.ship(shipment_id).await,
            ErpAction::Fulfil => self.fulfil().await,
            ErpAction::Cancel => {
                let body = model::flag("tryCancel");
                match client.order_action(tenant, &address, &body, now).await {
                    Ok(_) => {
                        let text = "Cancelled in CommerceOS".to_owned();
                        self.note(Some(("erp_cancelled", text)), |s| !std::mem::replace(&mut s.cancelled, true))
                            .await?;
                        record(deps, self.message, self.key, DeliveryOutcome::Delivered, "cancelled".into()).await
                    }
                    Err(e) => self.failed(e, Some(body)).await,
                }
            }
        }
    }

    /// `createShipment` (once per shipment of ours: a retry after a failed release does not create
    /// another), then `release` of every shipment order of the trade order still `New`.
    async fn ship(&self, shipment_id: &str) -> Result<(), WorkerError> {
        let (deps, now) = (self.deps, self.deps.clock.now());
        let client = &deps.commerceos.client;
        let (tenant, address) = (&self.access.tenant, self.address());
        let created_marker = format!("created:{shipment_id}");
        if !self.state.released.contains(&created_marker) {
            let body = model::flag("createShipment");
            if let Err(e) = client.order_action(tenant, &address, &body, now).await {
                return self.failed(e, Some(body)).await;
            }
            self.note(None, |s| {
                let fresh = !s.released.contains(&created_marker);
                if fresh {
                    s.released.push(created_marker.clone());
                }
                fresh
            })
            .await?;
        }
        let shipments = match client.order_shipments(tenant, &address, now).await {
            Ok(shipments) => shipments,
            Err(e) => return self.failed(e, None).await,
        };
        let mut released = Vec::new();
        for shipment in shipments {
            let Some(key) = shipment["identifiers"]["key"].as_str().map(str::to_owned) else { continue };
            let statuses = crate::integrations::commerceos::client::statuses(&shipment);
            if !statuses.is_empty() && !statuses.iter().any(|s| s == "New") {
                continue;
            }
            if let Err(e) = client.release_shipment(tenant, &key, now).await {
                return self.failed(e, Some(model::flag("release"))).await;
            }
            released.push(key);
        }
        let text = format!("Shipment {shipment_id} created and released in CommerceOS");
        let done = shipment_id.to_owned();
        self.note(Some(("erp_shipment", text)), |s| {
            let fresh = !s.released.contains(&done);
            if fresh {
                s.released.push(done.clone());
            }
            fresh
        })
        .await?;
        let detail = format!("shipment created and released ({} shipment orders)", released.len());
        record(deps, self.message, self.key, DeliveryOutcome::Delivered, detail).await
    }

    /// CommerceOS fulfils the order: one `createShipment` of the whole trade order (a retry after the
    /// create landed sends nothing: the `created:fulfil` marker), and no `release`: CommerceOS releases
    /// and ships it itself, and its shipment-completed sync-webhook reports the parcel.
    async fn fulfil(&self) -> Result<(), WorkerError> {
        let (deps, now) = (self.deps, self.deps.clock.now());
        let marker = "created:fulfil".to_owned();
        if self.state.released.contains(&marker) {
            let detail = "shipment already created in CommerceOS".to_owned();
            return record(deps, self.message, self.key, DeliveryOutcome::Delivered, detail).await;
        }
        let body = model::flag("createShipment");
        let client = &deps.commerceos.client;
        if let Err(e) = client.order_action(&self.access.tenant, &self.address(), &body, now).await {
            return self.failed(e, Some(body)).await;
        }
        let text = "Shipment created in CommerceOS, which fulfils the order".to_owned();
        self.note(Some(("erp_fulfil", text)), |s| {
            let fresh = !s.released.contains(&marker);
            if fresh {
                s.released.push(marker.clone());
            }
            fresh
        })
        .await?;
        let detail = "shipment created for CommerceOS to fulfil".to_owned();
        record(deps, self.message, self.key, DeliveryOutcome::Delivered, detail).await
    }

    /// A failed call: a 409 is out of stock (cancel there, alert, no retry); a refused credential
    /// asks the shop to reconnect (a setup alert) and dead-letters the change; the rest goes up the
    /// ladder (429, 5xx, timeouts) or to the dead letter (other refusals).
    async fn failed(&self, error: UpstreamError, request: Option<serde_json::Value>) -> Result<(), WorkerError> {
        if let UpstreamError::Rejected { status: 409, message, .. } = &error {
            return self.out_of_stock(message).await;
        }
        if let UpstreamError::Unauthorized { status, .. } = &error {
            let alert = alerts::commerceos_credential_refused(
                &self.message.shop,
                &format!("HTTP {status}"),
                self.deps.clock.now(),
            );
            self.deps.alerts.raise_alert(&alert).await?;
        }
        retry_or_dead_letter(self.deps, self.message, Failure::of(&error, request)).await
    }

    async fn out_of_stock(&self, message: &str) -> Result<(), WorkerError> {
        let (deps, now) = (self.deps, self.deps.clock.now());
        let skus: Vec<String> = self.order.line_items.iter().filter_map(|l| l.sku.clone()).collect();
        let named: Vec<String> = skus.iter().filter(|s| message.contains(s.as_str())).cloned().collect();
        let items = if named.is_empty() { skus } else { named };
        let cancel = model::flag("tryCancel");
        // CommerceOS cancels only Committed orders: one still New (the 409 answered its approval) stays
        // New there, unapproved, and the timeline says so.
        let outcome = match deps
            .commerceos
            .client
            .order_action(&self.access.tenant, &self.address(), &cancel, now)
            .await
        {
            Ok(_) => "cancelled there",
            Err(e) => {
                tracing::warn!(shop = %self.message.shop, order = %self.key, error = %e, "CommerceOS cancel after 409 refused");
                "not approved there (CommerceOS cancels only Committed orders)"
            }
        };
        let text = format!("CommerceOS is out of stock ({}); {outcome}", items.join(", "));
        self.note(Some(("erp_out_of_stock", text)), |s| !std::mem::replace(&mut s.cancelled, true)).await?;
        deps.alerts.raise_alert(&alerts::erp_out_of_stock(&self.message.shop, self.key, &items, now)).await?;
        let detail = format!("409 out of stock: {}", message.chars().take(200).collect::<String>());
        record(deps, self.message, self.key, DeliveryOutcome::Rejected, detail).await
    }
}
