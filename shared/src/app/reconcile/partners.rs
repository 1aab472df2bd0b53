//! The partners' side of a reconciliation: the orders we handed MasonHub or CommerceOS against the
//! partner's own list. A handed order the partner lacks is re-pushed as its create.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{Deps, Found, GRACE, MAX_PAGES, ReconcileError, compare, gap_letter, stored};
use crate::{
    app::connections::{commerceos, masonhub},
    domain::{Channel, ErpAction, Integration, Order, OrderKey, ShopDomain, fulfilment::order_key_of},
    error::StoreError,
    integrations::{commerceos::client::statuses, masonhub::client::OrdersQuery},
    queue::{Message, Outbound, OutboundChange},
};

/// Partner orders read per request (MasonHub's default page; within CommerceOS's recommended 50–100).
const PAGE: usize = 100;

impl From<masonhub::AccessError> for ReconcileError {
    fn from(e: masonhub::AccessError) -> Self {
        match e {
            masonhub::AccessError::Store(e) => Self::Store(e),
            masonhub::AccessError::Seal(e) => Self::Credential(e.to_string()),
            masonhub::AccessError::NotConnected => Self::NotConnected(Integration::MasonHub),
        }
    }
}

impl From<commerceos::AccessError> for ReconcileError {
    fn from(e: commerceos::AccessError) -> Self {
        match e {
            commerceos::AccessError::Store(e) => Self::Store(e),
            commerceos::AccessError::Seal(e) => Self::Credential(e.to_string()),
            commerceos::AccessError::NotConnected => Self::NotConnected(Integration::CommerceOs),
        }
    }
}

/// The re-push of a handed order the partner lacks: the partner's create, sent as a fresh message.
fn repush(
    shop: &ShopDomain,
    partner: Integration,
    order: &str,
    change: OutboundChange,
    now: DateTime<Utc>,
) -> Result<crate::store::DeadLetter, StoreError> {
    let id = super::gap_letter_id(partner, order, now);
    let kind = change.kind();
    let message = Message::Outbound(Outbound::new(partner, shop.clone(), order.to_owned(), id, change));
    let error = format!("reconciliation on {}: {partner} does not have this order", now.format("%Y-%m-%d"));
    gap_letter(shop, partner, order, kind, &message, error, now)
}

/// The partner's ids among `listed` that name an order of this shop (not another shop's on the same
/// account or tenant) that we never `handed` it.
async fn not_handed(
    deps: &Deps<'_>,
    shop: &ShopDomain,
    listed: Vec<String>,
    handed: impl Fn(&Order) -> bool,
) -> Result<Vec<String>, StoreError> {
    let mut extra = Vec::new();
    for id in listed {
        let Some(key) = order_key_of(shop, &id) else { continue };
        if !deps.orders.get_order(shop, &key).await?.is_some_and(|o| handed(&o)) {
            extra.push(id);
        }
    }
    Ok(extra)
}

/// MasonHub's orders created since `from` (`GET /orders?sdt=`) against the orders routed to it.
pub async fn masonhub(
    deps: &Deps<'_>,
    shop: &ShopDomain,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Found, ReconcileError> {
    let access = masonhub::access(deps.connections, deps.credentials, deps.sealer, deps.masonhub_config, shop).await?;
    let mut ours = BTreeMap::new();
    for order in stored(deps.orders, shop, from, to).await? {
        let Some(route) = order.ops.route.as_ref().filter(|r| r.partner == Integration::MasonHub) else { continue };
        if route.decided_at > now - GRACE {
            continue;
        }
        let status = order.ops.partner.as_ref().and_then(|p| p.status.clone());
        ours.insert(route.partner_order_id.clone(), (order.key(), status));
    }
    let mut theirs: BTreeMap<String, Option<String>> = BTreeMap::new();
    let since = from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for page in 0..MAX_PAGES {
        let query = OrdersQuery {
            offset: u32::try_from(page * PAGE).ok(),
            limit: u32::try_from(PAGE).ok(),
            list_type: Some("summary".into()),
            sdt: Some(since.clone()),
            ..Default::default()
        };
        let answer = deps.masonhub.orders(&access.base_url, &access.token, &query).await?;
        let records = answer.as_array().cloned().unwrap_or_default();
        for record in &records {
            if let Some(id) = record.get("customer_identifier").and_then(|v| v.as_str()) {
                let status = record.get("status").and_then(|v| v.as_str()).map(str::to_owned);
                theirs.insert(id.to_owned(), status);
            }
        }
        if records.len() < PAGE {
            break;
        }
    }
    let mut report = compare(Integration::MasonHub, from, to, now, &ours, &theirs);
    // The partner lists everything since `from`, of every shop on the account.
    let listed = std::mem::take(&mut report.extra);
    report.extra = not_handed(deps, shop, listed, |o| o.ops.route.is_some()).await?;
    let mut letters = Vec::new();
    for (partner_order_id, (key, _)) in ours.iter().filter(|(id, _)| !theirs.contains_key(*id)) {
        let change = OutboundChange::PartnerCreate { partner_order_id: partner_order_id.clone() };
        letters.push(repush(shop, Integration::MasonHub, &key.to_string(), change, now)?);
    }
    Ok(Found { report, letters })
}

/// CommerceOS's trade orders of our channels placed since the window began (their `{ns}.channel`
/// identifier, on the `/after(create)/` view) against the orders mirrored into it. Statuses compare CommerceOS's own (`New`,
/// `Committed`, …) with the last it reported to us.
pub async fn commerceos(
    deps: &Deps<'_>,
    shop: &ShopDomain,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Found, ReconcileError> {
    let access =
        commerceos::access(deps.connections, deps.credentials, deps.sealer, deps.commerceos_config, shop).await?;
    let key = &access.settings.defaults.identifier_key;
    let mut ours: BTreeMap<String, (OrderKey, Option<String>)> = BTreeMap::new();
    for order in stored(deps.orders, shop, from, to).await? {
        let Some(erp) = order.ops.erp.as_ref() else { continue };
        if erp.decided_at > now - GRACE {
            continue;
        }
        let status = (!erp.raw_status.is_empty()).then(|| erp.raw_status.join(","));
        ours.insert(erp.identifier.clone(), (order.key(), status));
    }
    let channel_key = key.sibling("channel");
    let mut theirs: BTreeMap<String, Option<String>> = BTreeMap::new();
    // Trade orders placed after the window (listed, since the view is open-ended) are never extra.
    let mut outside = std::collections::BTreeSet::new();
    // Every channel we mirror from (orders born in CommerceOS are never ours to hand over).
    for channel in [Channel::Shopify, Channel::Amazon] {
        for page in 0..MAX_PAGES {
            let records = deps
                .commerceos
                .trade_orders_of_channel(
                    &access.tenant,
                    from,
                    channel_key.as_str(),
                    channel.as_str(),
                    page * PAGE,
                    PAGE,
                    now,
                )
                .await?;
            for record in &records {
                let Some(id) = record.pointer(&format!("/identifiers/{}", key.as_str())).and_then(|v| v.as_str())
                else {
                    continue;
                };
                let placed =
                    record.get("timestamp").and_then(|t| t.as_str()).and_then(|t| t.parse::<DateTime<Utc>>().ok());
                if placed.is_some_and(|t| t > to) {
                    outside.insert(id.to_owned());
                }
                let status = statuses(record);
                theirs.insert(id.to_owned(), (!status.is_empty()).then(|| status.join(",")));
            }
            if records.len() < PAGE {
                break;
            }
        }
    }
    let mut report = compare(Integration::CommerceOs, from, to, now, &ours, &theirs);
    let listed = std::mem::take(&mut report.extra).into_iter().filter(|id| !outside.contains(id)).collect();
    report.extra = not_handed(deps, shop, listed, |o| o.ops.erp.is_some()).await?;
    let mut letters = Vec::new();
    for (_, (key, _)) in ours.iter().filter(|(id, _)| !theirs.contains_key(*id)) {
        letters.push(repush(
            shop,
            Integration::CommerceOs,
            &key.to_string(),
            OutboundChange::Erp(ErpAction::Upsert),
            now,
        )?);
    }
    Ok(Found { report, letters })
}
