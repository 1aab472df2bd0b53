//! Reconciliation between what we hold and what a fulfilment partner holds (seed 004: "verify order
//! counts match between systems"). For a window of order creation times, the orders we routed to the
//! partner are compared with the partner's own list: routed orders the partner lacks (`missing`), orders
//! of this shop the partner has and we never routed (`extra`), and orders whose status differs
//! (`mismatched`: a callback missed). The last report per partner is kept (a mirror record of kind
//! `reconciliation`) for `GET /sync/reconciliation`, and gaps raise one `data_gap` alert per partner
//! and day, naming the orders (each run replaces its message; a run without gaps clears it).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{
    alerts,
    connections::masonhub::{self as connection, AccessError},
};
use crate::{
    domain::{Integration, OrderKey, ShopDomain, fulfilment::order_key_of},
    error::StoreError,
    integrations::{
        http::UpstreamError,
        masonhub::{
            MasonHubConfig,
            client::{MasonHubClient, OrdersQuery},
        },
    },
    secrets::Sealer,
    store::{AlertStore, ConnectionStore, CredentialStore, MirrorRecord, MirrorStore, OrderQuery, OrderStore, Seek},
};

/// The mirror kind the reports are kept under.
pub const KIND: &str = "reconciliation";
/// A route decided this recently may not have reached the partner yet: not a gap.
pub const GRACE: Duration = Duration::minutes(15);
/// The longest window one run covers.
pub const MAX_WINDOW: Duration = Duration::days(7);
/// Stored orders read per page, and partner orders per request (MasonHub's default page).
const PAGE: usize = 100;
/// Pages read at most on either side (10,000 orders).
const MAX_PAGES: usize = 100;
/// Order ids an alert names at most (the report has them all).
const ALERT_IDS: usize = 20;

/// One order both sides hold with different statuses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mismatch {
    pub order: String,
    pub ours: Option<String>,
    pub theirs: Option<String>,
}

/// A reconciliation of one partner over a window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub partner: Integration,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub generated_at: DateTime<Utc>,
    /// Orders routed to the partner in the window.
    pub checked: usize,
    /// Routed orders (order keys) the partner does not have.
    pub missing: Vec<String>,
    /// The partner's ids of this shop's orders we never routed.
    pub extra: Vec<String>,
    pub mismatched: Vec<Mismatch>,
}

impl Report {
    pub fn gaps(&self) -> usize {
        self.missing.len() + self.extra.len() + self.mismatched.len()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the partner is not connected")]
    NotConnected,
    #[error("the partner could not be asked: {0}")]
    Upstream(#[from] UpstreamError),
    #[error("the partner's credential could not be opened")]
    Seal(#[from] crate::secrets::SealError),
}

impl From<AccessError> for ReconcileError {
    fn from(e: AccessError) -> Self {
        match e {
            AccessError::Store(e) => Self::Store(e),
            AccessError::Seal(e) => Self::Seal(e),
            AccessError::NotConnected => Self::NotConnected,
        }
    }
}

/// What a reconciliation reads and writes.
pub struct Deps<'a> {
    pub orders: &'a dyn OrderStore,
    pub mirror: &'a dyn MirrorStore,
    pub alerts: &'a dyn AlertStore,
    pub connections: &'a dyn ConnectionStore,
    pub credentials: &'a dyn CredentialStore,
    pub sealer: &'a dyn Sealer,
    pub client: &'a MasonHubClient,
    pub config: &'a MasonHubConfig,
}

/// Reconciles the shop's MasonHub orders created in `from..to`, keeps the report and alerts on gaps.
pub async fn masonhub(
    deps: &Deps<'_>,
    shop: &ShopDomain,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Report, ReconcileError> {
    let access = connection::access(deps.connections, deps.credentials, deps.sealer, deps.config, shop).await?;
    let ours = routed(deps.orders, shop, Integration::MasonHub, from, to, now).await?;
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
        let answer = deps.client.orders(&access.base_url, &access.token, &query).await?;
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
    // The partner lists everything since `from`; only orders of this shop we do not know are extra.
    let mut extra = Vec::new();
    for id in report.extra.drain(..) {
        let Some(key) = order_key_of(shop, &id) else { continue };
        let known = deps.orders.get_order(shop, &key).await?.is_some_and(|o| o.ops.route.is_some());
        if !known {
            extra.push(id);
        }
    }
    report.extra = extra;
    keep(deps, shop, &report).await?;
    Ok(report)
}

/// Our side: every order created in the window whose route names `partner` (decided before the grace),
/// by partner order id, with the partner status we hold.
async fn routed(
    orders: &dyn OrderStore,
    shop: &ShopDomain,
    partner: Integration,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<BTreeMap<String, (OrderKey, Option<String>)>, StoreError> {
    let query = OrderQuery { created_from: Some(from), created_to: Some(to), ..Default::default() };
    let mut found = BTreeMap::new();
    let mut seen = BTreeSet::new();
    let mut seek = Seek::First;
    for _ in 0..MAX_PAGES {
        let page = orders.list_orders(shop, &query, &seek, PAGE).await?;
        let mut fresh = 0;
        for listed in &page {
            if !seen.insert(listed.order.key()) {
                continue;
            }
            fresh += 1;
            let order = &listed.order;
            let Some(route) = order.ops.route.as_ref().filter(|r| r.partner == partner) else { continue };
            if route.decided_at > now - GRACE {
                continue;
            }
            let status = order.ops.partner.as_ref().and_then(|p| p.status.clone());
            found.insert(route.partner_order_id.clone(), (order.key(), status));
        }
        match page.last() {
            Some(last) if fresh > 0 && page.len() >= PAGE => seek = Seek::From(last.position.clone()),
            _ => break,
        }
    }
    Ok(found)
}

/// Both sides compared (pure): `ours` by partner order id, `theirs` the partner's ids and statuses.
pub fn compare(
    partner: Integration,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
    ours: &BTreeMap<String, (OrderKey, Option<String>)>,
    theirs: &BTreeMap<String, Option<String>>,
) -> Report {
    let mut report = Report {
        partner,
        from,
        to,
        generated_at: now,
        checked: ours.len(),
        missing: Vec::new(),
        extra: Vec::new(),
        mismatched: Vec::new(),
    };
    for (id, (key, status)) in ours {
        match theirs.get(id) {
            None => report.missing.push(key.to_string()),
            Some(their) => {
                let same = match (status, their) {
                    (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                    // We have heard nothing yet: whatever the partner says is news, not a conflict.
                    (None, _) => true,
                    (Some(_), None) => false,
                };
                if !same {
                    report.mismatched.push(Mismatch {
                        order: key.to_string(),
                        ours: status.clone(),
                        theirs: their.clone(),
                    });
                }
            }
        }
    }
    report.extra = theirs.keys().filter(|id| !ours.contains_key(*id)).cloned().collect();
    report
}

/// Keeps the report as the partner's latest and raises (or replaces) the day's `data_gap` alert.
async fn keep(deps: &Deps<'_>, shop: &ShopDomain, report: &Report) -> Result<(), StoreError> {
    let payload = serde_json::to_value(report).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let record = MirrorRecord {
        shop: shop.clone(),
        integration: report.partner,
        kind: KIND.into(),
        id: "latest".into(),
        updated_at: report.generated_at,
        sort_at: report.generated_at,
        payload,
        parts: Vec::new(),
    };
    deps.mirror.upsert_mirror(&record).await?;
    let at = report.generated_at;
    if report.gaps() == 0 {
        // Settled since an earlier run today found gaps.
        return deps.alerts.clear_alert(shop, &alerts::reconciliation_gap_id(report.partner, at), at).await;
    }
    let named: Vec<&str> = report
        .missing
        .iter()
        .chain(&report.extra)
        .chain(report.mismatched.iter().map(|m| &m.order))
        .map(String::as_str)
        .take(ALERT_IDS)
        .collect();
    let message = format!(
        "Reconciliation with {}: {} missing there, {} only there, {} with another status ({})",
        report.partner,
        report.missing.len(),
        report.extra.len(),
        report.mismatched.len(),
        named.join(", ")
    );
    deps.alerts.refresh_alert(&alerts::reconciliation_gap(shop, report.partner, message, at), at).await
}

/// The partner's last report, if any.
pub async fn last(
    mirror: &dyn MirrorStore,
    shop: &ShopDomain,
    partner: Integration,
) -> Result<Option<Report>, StoreError> {
    let Some(record) = mirror.mirror(shop, partner, KIND, "latest").await? else { return Ok(None) };
    serde_json::from_value(record.payload).map(Some).map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn each_kind_of_gap_is_found_and_unknown_statuses_are_news_not_conflicts() {
        let at = Utc.with_ymd_and_hms(2026, 11, 27, 0, 0, 0).unwrap();
        let key = |id: &str| OrderKey::parse(&format!("shopify:{id}")).unwrap();
        let ours = BTreeMap::from([
            ("p1".to_owned(), (key("1"), Some("open".to_owned()))),
            ("p2".to_owned(), (key("2"), Some("packed".to_owned()))),
            ("p3".to_owned(), (key("3"), None)),
            ("p4".to_owned(), (key("4"), Some("open".to_owned()))),
        ]);
        let theirs = BTreeMap::from([
            ("p1".to_owned(), Some("Open".to_owned())),
            ("p2".to_owned(), Some("fulfilled".to_owned())),
            ("p3".to_owned(), Some("open".to_owned())),
            ("p9".to_owned(), Some("open".to_owned())),
        ]);
        let report = compare(Integration::MasonHub, at, at, at, &ours, &theirs);
        assert_eq!(report.checked, 4);
        assert_eq!(report.missing, ["shopify:4"]);
        assert_eq!(report.extra, ["p9"]);
        assert_eq!(
            report.mismatched,
            [Mismatch { order: "shopify:2".into(), ours: Some("packed".into()), theirs: Some("fulfilled".into()) }]
        );
        assert_eq!(report.gaps(), 3);
    }
}
