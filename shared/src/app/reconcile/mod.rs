//! Reconciliation (seed 004: "verify order counts match between systems"), per shop and integration
//! over a window of order creation times:
//!
//! - a **source** (Shopify, Amazon) against what we stored: orders the source has and we lack
//!   (`missing`), stored orders the source does not list (`extra`), and orders the source changed
//!   after our copy (`mismatched`: an update we never received) ([`sources`]);
//! - a **partner** (MasonHub, CommerceOS) against the orders we handed it: handed orders it lacks
//!   (`missing`), orders of this shop it has and we never handed (`extra`), and orders whose status
//!   differs (`mismatched`: a callback missed) ([`partners`]).
//!
//! The last report per integration is kept (a mirror record of kind `reconciliation`) for
//! `GET /sync/reconciliation`. Gaps raise one `data_gap` alert per integration and day, naming the
//! orders (each run replaces its message; a run without gaps clears it). Each gap that can be pushed
//! again becomes a dead letter of cause `gap` (the report names their ids under `repush`), so
//! `POST /api/dead-letters/replay` re-pushes it through the same idempotent path: a partner's gap
//! as the partner's create (MasonHub `POST /orders`, CommerceOS upsert), a source's as a re-read of
//! that order's creation second by the source's poll. Every run replaces the integration's gap
//! letters: a gap that closed loses its letter.

pub mod partners;
pub mod sources;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{alerts, shops::TenantError};
use crate::{
    domain::{Integration, Order, OrderKey, ShopDomain},
    error::StoreError,
    integrations::{
        amazon::client::SpApiClient,
        commerceos::{CommerceOsConfig, client::CommerceOsClient},
        http::UpstreamError,
        masonhub::{MasonHubConfig, client::MasonHubClient},
        shopify::admin::AdminClient,
    },
    queue::Message,
    secrets::Sealer,
    store::{
        AlertStore, ConnectionStore, CredentialStore, DeadLetter, DeadLetterCause, DeadLetterStore, MirrorRecord,
        MirrorStore, OrderQuery, OrderStore, Seek, ShopStore,
    },
};

/// The integrations a reconciliation covers, sources first.
pub const INTEGRATIONS: [Integration; 4] =
    [Integration::Shopify, Integration::Amazon, Integration::MasonHub, Integration::CommerceOs];

/// The mirror kind the reports are kept under.
pub const KIND: &str = "reconciliation";
/// An order this recent (created at a source, or handed to a partner) may still be on its way: not a
/// gap.
pub const GRACE: Duration = Duration::minutes(15);
/// The longest window one run covers.
pub const MAX_WINDOW: Duration = Duration::days(7);
/// Stored orders read per page.
const PAGE: usize = 100;
/// Pages read at most on any side.
const MAX_PAGES: usize = 100;
/// Order ids an alert names at most (the report has them all).
const ALERT_IDS: usize = 20;

/// Which side of us an integration is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// Orders come from it (Shopify, Amazon).
    Source,
    /// Orders go to it (MasonHub, CommerceOS).
    Partner,
}

impl Side {
    pub fn of(integration: Integration) -> Self {
        match integration {
            Integration::Shopify | Integration::Amazon => Side::Source,
            Integration::MasonHub | Integration::CommerceOs => Side::Partner,
        }
    }
}

/// One order both sides hold differently: statuses (a partner) or update times (a source).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mismatch {
    pub order: String,
    pub ours: Option<String>,
    pub theirs: Option<String>,
}

/// A reconciliation of one integration over a window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The integration reconciled (reports kept before sources were reconciled call it `partner`).
    #[serde(alias = "partner")]
    pub integration: Integration,
    #[serde(default = "partner_side")]
    pub side: Side,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub generated_at: DateTime<Utc>,
    /// Orders compared on our side: stored from a source, or handed to a partner, in the window.
    pub checked: usize,
    /// Orders (`channel:id`) one side has and the other lacks: a source's orders we never stored, or
    /// handed orders the partner does not have.
    pub missing: Vec<String>,
    /// Orders only on the other side of the usual direction: stored orders the source does not list
    /// (`channel:id`), or the partner's ids of this shop's orders we never handed it.
    pub extra: Vec<String>,
    pub mismatched: Vec<Mismatch>,
    /// The dead letters (ids) that re-push the gaps through `POST /api/dead-letters/replay`.
    #[serde(default)]
    pub repush: Vec<String>,
}

fn partner_side() -> Side {
    Side::Partner
}

impl Report {
    /// A report of `integration` over `from..to` with `checked` orders on our side and no gaps yet.
    pub fn new(
        integration: Integration,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        now: DateTime<Utc>,
        checked: usize,
    ) -> Self {
        Self {
            integration,
            side: Side::of(integration),
            from,
            to,
            generated_at: now,
            checked,
            missing: Vec::new(),
            extra: Vec::new(),
            mismatched: Vec::new(),
            repush: Vec::new(),
        }
    }

    pub fn gaps(&self) -> usize {
        self.missing.len() + self.extra.len() + self.mismatched.len()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0} is not connected")]
    NotConnected(Integration),
    #[error("the integration could not be asked: {0}")]
    Upstream(#[from] UpstreamError),
    #[error("the integration's credential could not be opened: {0}")]
    Credential(String),
    /// Nothing to reconcile with this connection (an Amazon sandbox): skipped, not failed.
    #[error("not reconciled: {0}")]
    NotApplicable(&'static str),
}

impl From<TenantError> for ReconcileError {
    fn from(e: TenantError) -> Self {
        match e {
            TenantError::Store(e) => Self::Store(e),
            other => Self::Credential(other.to_string()),
        }
    }
}

/// What a reconciliation reads and writes, and the clients of every integration it asks.
pub struct Deps<'a> {
    pub orders: &'a dyn OrderStore,
    pub mirror: &'a dyn MirrorStore,
    pub alerts: &'a dyn AlertStore,
    pub dead_letters: &'a dyn DeadLetterStore,
    pub connections: &'a dyn ConnectionStore,
    pub credentials: &'a dyn CredentialStore,
    pub shops: &'a dyn ShopStore,
    pub sealer: &'a dyn Sealer,
    pub shopify: &'a AdminClient,
    pub amazon: &'a SpApiClient,
    pub masonhub: &'a MasonHubClient,
    pub masonhub_config: &'a MasonHubConfig,
    pub commerceos: &'a CommerceOsClient,
    pub commerceos_config: &'a CommerceOsConfig,
}

/// Reconciles `integration` for `shop` over the orders created in `from..to`, keeps the report,
/// alerts on gaps and leaves a dead letter per gap that can be pushed again.
pub async fn run(
    deps: &Deps<'_>,
    shop: &ShopDomain,
    integration: Integration,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Report, ReconcileError> {
    let found = match integration {
        Integration::Shopify => sources::shopify(deps, shop, from, to, now).await?,
        Integration::Amazon => sources::amazon(deps, shop, from, to, now).await?,
        Integration::MasonHub => partners::masonhub(deps, shop, from, to, now).await?,
        Integration::CommerceOs => partners::commerceos(deps, shop, from, to, now).await?,
    };
    Ok(keep(deps, shop, found, now).await?)
}

/// The shops `integration` is reconciled for: installed shops for Shopify, active connections for the
/// others.
pub async fn shops_of(deps: &Deps<'_>, integration: Integration) -> Result<Vec<ShopDomain>, StoreError> {
    match integration {
        Integration::Shopify => deps.shops.active_shops().await,
        other => deps.connections.active_connections(other).await,
    }
}

/// What one side's comparison found, before it is kept: the report and the letters that re-push its
/// gaps.
pub struct Found {
    pub report: Report,
    pub letters: Vec<DeadLetter>,
}

/// Every stored order of the shop created in `from..to`, each once.
async fn stored(
    orders: &dyn OrderStore,
    shop: &ShopDomain,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Order>, StoreError> {
    let query = OrderQuery { created_from: Some(from), created_to: Some(to), ..Default::default() };
    let mut found = Vec::new();
    let mut seen = BTreeSet::new();
    let mut seek = Seek::First;
    for _ in 0..MAX_PAGES {
        let page = orders.list_orders(shop, &query, &seek, PAGE).await?;
        let mut fresh = 0;
        for listed in &page {
            if seen.insert(listed.order.key()) {
                fresh += 1;
                found.push(listed.order.clone());
            }
        }
        match page.last() {
            Some(last) if fresh > 0 && page.len() >= PAGE => seek = Seek::From(last.position.clone()),
            _ => break,
        }
    }
    Ok(found)
}

/// Both sides compared (pure): `ours` and `theirs` by the same id, each with a status (or an update
/// time). `missing` names our order keys (a partner) or is filled by the caller (a source).
pub fn compare(
    integration: Integration,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
    ours: &BTreeMap<String, (OrderKey, Option<String>)>,
    theirs: &BTreeMap<String, Option<String>>,
) -> Report {
    let mut report = Report::new(integration, from, to, now, ours.len());
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

/// The id of the dead letter that re-pushes `order`'s gap with `integration` found on `now`'s day (a
/// new id each day, so a re-push is never taken for an earlier delivery of the same message).
pub fn gap_letter_id(integration: Integration, order: &str, now: DateTime<Utc>) -> String {
    format!("reconcile:{integration}:{order}:{}", now.format("%Y-%m-%d"))
}

/// A dead letter of cause `gap` holding `message`, the re-push of `order`'s gap.
fn gap_letter(
    shop: &ShopDomain,
    integration: Integration,
    order: &str,
    kind: &str,
    message: &Message,
    error: String,
    now: DateTime<Utc>,
) -> Result<DeadLetter, StoreError> {
    Ok(DeadLetter {
        shop: shop.clone(),
        id: gap_letter_id(integration, order, now),
        destination: integration,
        order: order.to_owned(),
        kind: kind.to_owned(),
        message: serde_json::to_value(message).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        request: None,
        response: None,
        attempts: 0,
        error,
        cause: DeadLetterCause::Gap,
        created_at: now,
        updated_at: now,
        episode: now,
        replays: 0,
        next_retry_at: None,
        retry_until: None,
    })
}

/// Keeps the report as the integration's latest, replaces its gap letters, and raises (or replaces,
/// or clears) the day's `data_gap` alert.
async fn keep(deps: &Deps<'_>, shop: &ShopDomain, found: Found, now: DateTime<Utc>) -> Result<Report, StoreError> {
    let Found { mut report, letters } = found;
    let integration = report.integration;
    let (earlier, failed): (Vec<DeadLetter>, Vec<DeadLetter>) = deps
        .dead_letters
        .dead_letters(shop, Some(integration))
        .await?
        .into_iter()
        .partition(|d| d.cause == DeadLetterCause::Gap);
    for stale in earlier.iter().filter(|d| !letters.iter().any(|l| l.id == d.id)) {
        deps.dead_letters.remove_dead_letter(shop, integration, &stale.id).await?;
    }
    for mut letter in letters {
        // A re-push that was replayed and failed is a dead letter of its own now (with its request,
        // response and alert): it stays as it is, and is still the way to push the gap again.
        if !failed.iter().any(|d| d.id == letter.id) {
            if let Some(before) = earlier.iter().find(|d| d.id == letter.id) {
                (letter.created_at, letter.episode, letter.replays) =
                    (before.created_at, before.episode, before.replays);
            }
            deps.dead_letters.put_dead_letter(&letter).await?;
        }
        report.repush.push(letter.id);
    }
    let payload = serde_json::to_value(&report).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let record = MirrorRecord {
        shop: shop.clone(),
        integration,
        kind: KIND.into(),
        id: "latest".into(),
        updated_at: report.generated_at,
        sort_at: report.generated_at,
        payload,
        parts: Vec::new(),
    };
    deps.mirror.upsert_mirror(&record).await?;
    if report.gaps() == 0 {
        // Settled since an earlier run today found gaps.
        deps.alerts.clear_alert(shop, &alerts::reconciliation_gap_id(integration, now), now).await?;
        return Ok(report);
    }
    let named: Vec<&str> = report
        .missing
        .iter()
        .chain(&report.extra)
        .chain(report.mismatched.iter().map(|m| &m.order))
        .map(String::as_str)
        .take(ALERT_IDS)
        .collect();
    let (missing, extra) = match report.side {
        Side::Source => ("not stored here", "not listed there"),
        Side::Partner => ("missing there", "only there"),
    };
    let message = format!(
        "Reconciliation with {integration}: {} {missing}, {} {extra}, {} changed differently ({}){}",
        report.missing.len(),
        report.extra.len(),
        report.mismatched.len(),
        named.join(", "),
        if report.repush.is_empty() { String::new() } else { format!("; {} can be re-pushed", report.repush.len()) },
    );
    deps.alerts.refresh_alert(&alerts::reconciliation_gap(shop, integration, message, now), now).await?;
    Ok(report)
}

/// The integration's last report, if any.
pub async fn last(
    mirror: &dyn MirrorStore,
    shop: &ShopDomain,
    integration: Integration,
) -> Result<Option<Report>, StoreError> {
    let Some(record) = mirror.mirror(shop, integration, KIND, "latest").await? else { return Ok(None) };
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
