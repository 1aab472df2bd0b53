//! The sources' side of a reconciliation: what Shopify (`orders` by creation time) and Amazon
//! (`getOrders`/`searchOrders` by creation time) hold against the orders we stored. An order we lack,
//! or hold older than the source's last update, is re-pushed as a re-read of its creation second by
//! the source's own poll (idempotent upserts with the update-time guard).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, SecondsFormat, Utc};

use super::{Deps, Found, GRACE, MAX_PAGES, Mismatch, ReconcileError, Report, gap_letter, stored};
use crate::{
    app::{
        connections::amazon as amazon_connection,
        poll::amazon::{SyncError, SyncJob, created_window, latest_before, open_credentials},
        shops,
    },
    domain::{
        Channel, Integration, ShopDomain,
        poll::{PollWindow, WindowMode},
    },
    error::StoreError,
    integrations::{
        amazon::{Region, client::Seller},
        shopify::graphql::{ORDER_IDS, ORDER_IDS_PAGE_SIZE, OrderIdsData, gid_tail, search},
    },
    queue::{Message, PollJob, PollTask},
    store::DeadLetter,
};

/// One order as a source lists it, or as we stored it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A source's orders against ours (pure), both by channel order id: the source's orders we lack are
/// `missing`, ours it does not list are `extra`, and ours older than its last update (to the second)
/// are `mismatched` (`ours`/`theirs`: the update times).
pub fn compare(
    integration: Integration,
    channel: Channel,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
    ours: &BTreeMap<String, Stamp>,
    theirs: &BTreeMap<String, Stamp>,
) -> Report {
    let key = |id: &str| format!("{}:{id}", channel.as_str());
    let at = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    let mut report = Report::new(integration, from, to, now, ours.len());
    for (id, their) in theirs {
        match ours.get(id) {
            None => report.missing.push(key(id)),
            Some(our) if our.updated_at.timestamp() < their.updated_at.timestamp() => report
                .mismatched
                .push(Mismatch { order: key(id), ours: Some(at(our.updated_at)), theirs: Some(at(their.updated_at)) }),
            Some(_) => {}
        }
    }
    report.extra = ours.keys().filter(|id| !theirs.contains_key(*id)).map(|id| key(id)).collect();
    report
}

/// Our orders of `channel` created in the window, by channel order id.
async fn ours(
    deps: &Deps<'_>,
    shop: &ShopDomain,
    channel: Channel,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<BTreeMap<String, Stamp>, StoreError> {
    Ok(stored(deps.orders, shop, from, to)
        .await?
        .into_iter()
        .filter(|o| o.channel == channel)
        .map(|o| (o.channel_order_id.as_str().to_owned(), Stamp { created_at: o.created_at, updated_at: o.updated_at }))
        .collect())
}

/// The letters that re-read each missing or stale order's creation second through `job`.
fn letters(
    shop: &ShopDomain,
    report: &Report,
    theirs: &BTreeMap<String, Stamp>,
    now: DateTime<Utc>,
    job: impl Fn(&str, DateTime<Utc>) -> Result<PollJob, StoreError>,
) -> Result<Vec<DeadLetter>, StoreError> {
    let mut letters = Vec::new();
    let integration = report.integration;
    for order in report.missing.iter().chain(report.mismatched.iter().map(|m| &m.order)) {
        let Some(id) = order.split_once(':').map(|(_, id)| id) else { continue };
        let Some(stamp) = theirs.get(id) else { continue };
        let origin = super::gap_letter_id(integration, order, now);
        let message = Message::Poll(job(&origin, stamp.created_at)?);
        let error = format!("reconciliation on {}: not stored as {integration} has it", now.format("%Y-%m-%d"));
        letters.push(gap_letter(shop, integration, order, "order_reread", &message, error, now)?);
    }
    Ok(letters)
}

/// Shopify's orders created in the window (`orders(query: "created_at:…")`, ids and times only)
/// against ours. Orders created within the grace are left to their webhooks.
pub async fn shopify(
    deps: &Deps<'_>,
    shop: &ShopDomain,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Found, ReconcileError> {
    let token = shops::access_token(deps.shops, deps.sealer, shop)
        .await?
        .ok_or(ReconcileError::NotConnected(Integration::Shopify))?;
    let until = to.min(now - GRACE);
    let window = PollWindow { mode: WindowMode::Backfill, from, until };
    let (query, _) = search(&window);
    let mut theirs = BTreeMap::new();
    let mut after: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let variables = serde_json::json!({ "first": ORDER_IDS_PAGE_SIZE, "after": after, "query": query });
        let page = deps.shopify.graphql::<OrderIdsData>(shop, &token, ORDER_IDS, variables).await?.data.orders;
        for node in page.nodes {
            let stamp = Stamp { created_at: node.created_at, updated_at: node.updated_at };
            theirs.insert(gid_tail(&node.id).to_owned(), stamp);
        }
        match page.page_info.end_cursor.filter(|_| page.page_info.has_next_page) {
            Some(cursor) => after = Some(cursor),
            None => break,
        }
    }
    let ours = ours(deps, shop, Channel::Shopify, from, until).await?;
    let report = compare(Integration::Shopify, Channel::Shopify, from, to, now, &ours, &theirs);
    let letters = letters(shop, &report, &theirs, now, |origin, created| {
        let window = PollWindow { mode: WindowMode::Backfill, from: created, until: created + Duration::seconds(1) };
        Ok(PollJob {
            integration: Integration::Shopify,
            shop: shop.clone(),
            origin: origin.to_owned(),
            task: PollTask::Orders { window, after: None },
        })
    })?;
    Ok(Found { report, letters })
}

impl From<SyncError> for ReconcileError {
    fn from(e: SyncError) -> Self {
        match e {
            SyncError::Store(e) => Self::Store(e),
            SyncError::Api(e) => Self::Upstream(e),
            other => Self::Credential(other.to_string()),
        }
    }
}

/// Amazon's orders created in the window (the connection's marketplaces, every page) against ours.
/// A sandbox connection answers only its static test cases: nothing to reconcile.
pub async fn amazon(
    deps: &Deps<'_>,
    shop: &ShopDomain,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Found, ReconcileError> {
    let connection = amazon_connection::load(deps.connections, shop)
        .await?
        .filter(|c| c.active)
        .ok_or(ReconcileError::NotConnected(Integration::Amazon))?;
    if connection.region == Region::Sandbox {
        return Err(ReconcileError::NotApplicable("an Amazon sandbox connection answers only its test cases"));
    }
    let credentials = open_credentials(deps.amazon, deps.credentials, deps.sealer, shop).await?;
    let seller = Seller { id: &connection.seller_id, region: connection.region, credentials: &credentials };
    let until = to.min(now - GRACE).min(latest_before(now));
    let window = created_window(&connection, from, until).window;
    let mut theirs = BTreeMap::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let page = deps.amazon.orders_page(seller, connection.api_version, &window, token.as_deref()).await?;
        for (order, _) in page.orders {
            let stamp = Stamp { created_at: order.purchase_date, updated_at: order.last_update_date };
            theirs.insert(order.amazon_order_id, stamp);
        }
        match page.next_token {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    let ours = ours(deps, shop, Channel::Amazon, from, until).await?;
    let report = compare(Integration::Amazon, Channel::Amazon, from, to, now, &ours, &theirs);
    let letters = letters(shop, &report, &theirs, now, |origin, created| {
        let resume = created_window(&connection, created, created + Duration::seconds(1));
        let job = SyncJob { shop: shop.clone(), dry_run: false, include_items: true, resume: Some(resume) };
        job.into_poll_job(origin.to_owned()).map_err(|e| StoreError::Corrupt(e.to_string()))
    })?;
    Ok(Found { report, letters })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use chrono::TimeZone;

    use super::*;
    use crate::app::reconcile::Side;

    #[test]
    fn a_source_finds_orders_we_lack_orders_it_lacks_and_updates_we_missed() {
        let at = |h| Utc.with_ymd_and_hms(2026, 11, 27, h, 0, 0).unwrap();
        let stamp = |c, u| Stamp { created_at: at(c), updated_at: at(u) };
        let ours = BTreeMap::from([
            ("1".to_owned(), stamp(1, 2)),
            ("2".to_owned(), stamp(1, 2)),
            ("3".to_owned(), stamp(1, 5)),
            ("4".to_owned(), stamp(1, 1)),
        ]);
        let theirs = BTreeMap::from([
            ("1".to_owned(), stamp(1, 2)),
            ("2".to_owned(), stamp(1, 3)),
            // Ours is newer (a change we made): not a gap.
            ("3".to_owned(), stamp(1, 4)),
            ("9".to_owned(), stamp(1, 1)),
        ]);
        let report = compare(Integration::Shopify, Channel::Shopify, at(0), at(6), at(7), &ours, &theirs);
        assert_eq!((report.side, report.checked), (Side::Source, 4));
        assert_eq!(report.missing, ["shopify:9"]);
        assert_eq!(report.extra, ["shopify:4"]);
        assert_eq!(
            report.mismatched,
            [Mismatch {
                order: "shopify:2".into(),
                ours: Some("2026-11-27T02:00:00Z".into()),
                theirs: Some("2026-11-27T03:00:00Z".into())
            }]
        );
    }
}
