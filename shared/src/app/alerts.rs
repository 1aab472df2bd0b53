//! Every alert the system raises is built here: one constructor per reason, so each alert's id (its
//! idempotency key: raising the same alert twice stores it once) is formed in one place.
//!
//! Id scheme: `<reason>:<subject>[:<when>]`. The subject names what the alert is about (an order key,
//! a topic, a stage and message); `<when>` is the start of the condition in epoch milliseconds where a
//! condition can end and come back (a shipment flag, a stuck watermark), so a replay raises nothing new
//! and a new occurrence raises a new alert.

use chrono::{DateTime, SecondsFormat, Utc};

use crate::{
    domain::{Alert, AlertKind, Integration, Order, OrderKey, ShopDomain},
    queue::Stage,
};

fn alert(shop: &ShopDomain, kind: AlertKind, id: String, message: String, now: DateTime<Utc>) -> Alert {
    Alert { shop: shop.clone(), id, kind, message, order: None, raised_at: now, cleared_at: None }
}

fn about(mut alert: Alert, order: &OrderKey) -> Alert {
    alert.order = Some(order.to_string());
    alert
}

/// The id of the dead-letter alert of `message_id` on `stage`'s queue: raised by the worker on the
/// record's last attempt and by the DLQ monitor, which must agree.
pub fn dead_letter_id(stage: Stage, message_id: &str) -> String {
    format!("dead-letter:{stage}:{message_id}")
}

/// A message moved (or about to move) to `stage`'s dead-letter queue; `failure` is how many times it
/// failed and the last error, when the worker knows them.
pub fn dead_letter(
    shop: &ShopDomain,
    stage: Stage,
    message_id: &str,
    failure: Option<(u32, &dyn std::fmt::Display)>,
    now: DateTime<Utc>,
) -> Alert {
    let message = match failure {
        Some((attempts, error)) => {
            format!("A {stage} message failed {attempts} times and was moved to the dead-letter queue: {error}")
        }
        None => format!("A {stage} message was moved to the dead-letter queue"),
    };
    alert(shop, AlertKind::DeadLetter, dead_letter_id(stage, message_id), message, now)
}

/// The id of a shipment alert (`tracking_pending` or `delayed`) of the flag raised at `since`.
pub fn shipment_id(kind: AlertKind, key: &OrderKey, since: DateTime<Utc>) -> String {
    format!("{}:{key}:{}", kind.as_str(), since.timestamp_millis())
}

/// A shipment flag came up: no tracking after 2 hours, or no carrier update for 24 hours.
pub fn shipment(kind: AlertKind, order: &Order, since: DateTime<Utc>, now: DateTime<Utc>) -> Alert {
    let message = match kind {
        AlertKind::TrackingPending => format!("Order {} has no tracking number after 2 hours", order.name.as_str()),
        _ => format!("Order {} has had no carrier update for 24 hours", order.name.as_str()),
    };
    about(alert(&order.shop, kind, shipment_id(kind, &order.key(), since), message, now), &order.key())
}

/// The poll found an order state that no webhook delivered.
pub fn undelivered_change(order: &Order, now: DateTime<Utc>) -> Alert {
    let key = order.key();
    let message = format!(
        "Order {} changed at {} but no webhook delivered it; the poll caught it up",
        order.name.as_str(),
        order.updated_at.to_rfc3339_opts(SecondsFormat::Secs, true)
    );
    let id = format!("data_gap:{key}:{}", order.updated_at.timestamp_millis());
    about(alert(&order.shop, AlertKind::DataGap, id, message, now), &key)
}

/// An order the poll read could not be mapped, and was skipped.
pub fn unreadable_order(shop: &ShopDomain, order_id: &str, error: &str, now: DateTime<Utc>) -> Alert {
    let message = format!("Order {order_id} from the poll could not be read ({error}); it was skipped");
    alert(shop, AlertKind::DataGap, format!("unreadable:{order_id}"), message, now)
}

/// A webhook subscription was missing (found by the check started by `origin`); `outcome` says whether
/// it was re-created.
pub fn subscription_missing(shop: &ShopDomain, topic: &str, origin: &str, outcome: &str, now: DateTime<Utc>) -> Alert {
    let message = format!(
        "The {topic} webhook subscription was missing and {outcome}; its events may have been dropped, so the window since the last webhook is polled again"
    );
    alert(shop, AlertKind::DataGap, format!("subscription_missing:{topic}:{origin}"), message, now)
}

/// The shop has not granted `read_all_orders` (raised once per shop).
pub fn read_all_orders_missing(shop: &ShopDomain, now: DateTime<Utc>) -> Alert {
    let message =
        "The app lacks the read_all_orders scope: orders older than 60 days are invisible to the poll and backfill";
    alert(shop, AlertKind::Setup, "setup:read_all_orders".to_owned(), message.to_owned(), now)
}

/// A partner refused a change we pushed (`delivery_id` is the outbound message's id).
pub fn push_rejected(
    shop: &ShopDomain,
    order: &OrderKey,
    delivery_id: &str,
    detail: &str,
    now: DateTime<Utc>,
) -> Alert {
    about(alert(shop, AlertKind::PushRejected, format!("push_rejected:{delivery_id}"), detail.to_owned(), now), order)
}

/// The id of the alert of an integration's failing sync, stuck at `watermark`: repeated failures of
/// the same window raise it once, and the next successful run clears it.
pub fn sync_failed_id(integration: Integration, watermark: Option<DateTime<Utc>>) -> String {
    format!("{integration}-sync:{}", watermark.map_or(0, |w| w.timestamp_millis()))
}

/// An integration's orders sync failed with `error`.
pub fn sync_failed(
    shop: &ShopDomain,
    integration: Integration,
    watermark: Option<DateTime<Utc>>,
    error: &str,
    now: DateTime<Utc>,
) -> Alert {
    let message = format!("{} orders sync failed: {error}", integration_name(integration));
    alert(shop, AlertKind::SyncFailed, sync_failed_id(integration, watermark), message, now)
}

/// The id of the alert of `destination`'s dead letters of `cause`, for the episode that began with the
/// oldest open one at `since`: one alert per destination and cause while dead letters remain, its
/// message refreshed with the count; once they are all resolved it is cleared, and a later dead letter
/// opens a new episode.
pub fn dead_letters_id(destination: Integration, cause: &str, since: DateTime<Utc>) -> String {
    format!("dead-letters:{destination}:{cause}:{}", since.timestamp_millis())
}

/// `count` messages to `destination` dead-lettered for `cause`; `latest` is the newest error.
pub fn dead_letters(
    shop: &ShopDomain,
    destination: Integration,
    cause: &str,
    since: DateTime<Utc>,
    count: usize,
    latest: &str,
    now: DateTime<Utc>,
) -> Alert {
    let what = if count == 1 { "1 message".to_owned() } else { format!("{count} messages") };
    let why = match cause {
        "transient" => "kept failing (throttled, unavailable or timed out) and will be retried on a slow schedule",
        _ => "were refused and wait for a replay",
    };
    let latest: String = latest.chars().take(300).collect();
    let message =
        format!("{what} to {} {why} (GET /api/dead-letters). Latest: {latest}", integration_name(destination));
    alert(shop, AlertKind::DeadLetter, dead_letters_id(destination, cause, since), message, now)
}

fn integration_name(integration: Integration) -> &'static str {
    match integration {
        Integration::Shopify => "Shopify",
        Integration::Amazon => "Amazon",
        Integration::MasonHub => "MasonHub",
        Integration::CommerceOs => "CommerceOS",
    }
}

/// The partner could not ship `skus` of the order (MasonHub `shorts`); one alert per order and set of
/// short SKUs.
pub fn partner_short(shop: &ShopDomain, order: &OrderKey, skus: &[String], now: DateTime<Utc>) -> Alert {
    let message = format!("MasonHub could not ship every unit of order {order}: short on {}", skus.join(", "));
    about(
        alert(shop, AlertKind::PartnerShort, format!("partner_short:{order}:{}", skus.join(",")), message, now),
        order,
    )
}

/// The partner refused an update or cancel request of the order (a failed resolution callback).
pub fn partner_request_failed(
    shop: &ShopDomain,
    order: &OrderKey,
    request: &str,
    resolution_id: &str,
    now: DateTime<Utc>,
) -> Alert {
    let message = format!("MasonHub could not apply the {request} request of order {order}");
    let id = format!("push_rejected:masonhub:{request}:{resolution_id}");
    about(alert(shop, AlertKind::PushRejected, id, message, now), order)
}

/// The id of the missing-scopes alert (one per shop; cleared when an install grants them all).
pub const MISSING_SCOPES_ID: &str = "setup:missing-scopes";

/// The shop granted fewer scopes than the app requires.
pub fn missing_scopes(shop: &ShopDomain, missing: &[String], now: DateTime<Utc>) -> Alert {
    let message = format!("The app lacks required scopes: {}; reinstall it to grant them", missing.join(", "));
    alert(shop, AlertKind::Setup, MISSING_SCOPES_ID.to_owned(), message, now)
}

/// The id of the reconnect alert of a token that became invalid at `since`.
pub fn reconnect_id(since: DateTime<Utc>) -> String {
    format!("reconnect:{}", since.timestamp_millis())
}

/// Shopify refuses the shop's token (`why`) since `now`: the merchant must open the app to reconnect.
pub fn reconnect(shop: &ShopDomain, why: &str, now: DateTime<Utc>) -> Alert {
    let message = format!(
        "Shopify no longer accepts the app's access token ({why}): open the app in Shopify to reconnect; syncing with Shopify is paused until then"
    );
    alert(shop, AlertKind::Reconnect, reconnect_id(now), message, now)
}

/// A reconciliation found orders that differ between us and `partner`: one alert per partner and day,
/// its message replaced by each run that day (see [`reconciliation_gap_id`]).
pub fn reconciliation_gap(shop: &ShopDomain, partner: Integration, message: String, now: DateTime<Utc>) -> Alert {
    alert(shop, AlertKind::DataGap, reconciliation_gap_id(partner, now), message, now)
}

/// The id of `partner`'s reconciliation alert on the day of `now`.
pub fn reconciliation_gap_id(partner: Integration, now: DateTime<Utc>) -> String {
    format!("reconciliation:{partner}:{}", now.format("%Y-%m-%d"))
}

/// The id of the CommerceOS scopes alert (one per shop; cleared by a check that finds them all).
pub const COMMERCEOS_SCOPES_ID: &str = "setup:commerceos-scopes";

/// The CommerceOS credential lacks write scopes: CommerceOS would answer our writes with a silent 200
/// that persists nothing, so none is sent until they are granted.
pub fn commerceos_scopes_missing(shop: &ShopDomain, missing: &[String], now: DateTime<Utc>) -> Alert {
    let message = format!(
        "The CommerceOS credential lacks the scopes {}: orders are not sent to CommerceOS until a credential with them is connected (PUT /api/commerceos/connection)",
        missing.join(", ")
    );
    alert(shop, AlertKind::Setup, COMMERCEOS_SCOPES_ID.to_owned(), message, now)
}

/// The id of the CommerceOS credential alert (one per shop; cleared when a check with the credential
/// succeeds: a reconnect or a ping).
pub const COMMERCEOS_CREDENTIAL_ID: &str = "setup:commerceos-credential";

/// CommerceOS refused the stored credential (401/403) on an outbound call: nothing reaches it until the
/// shop reconnects; the refused changes wait as dead letters for a replay.
pub fn commerceos_credential_refused(shop: &ShopDomain, detail: &str, now: DateTime<Utc>) -> Alert {
    let message = format!(
        "CommerceOS refused our credential ({detail}): reconnect CommerceOS (PUT /api/commerceos/connection), then replay its dead letters"
    );
    alert(shop, AlertKind::Setup, COMMERCEOS_CREDENTIAL_ID.to_owned(), message, now)
}

/// CommerceOS answered 409 (out of stock) for the order: it was cancelled there; `items` names the
/// SKUs concerned.
pub fn erp_out_of_stock(shop: &ShopDomain, order: &OrderKey, items: &[String], now: DateTime<Utc>) -> Alert {
    let message = format!(
        "CommerceOS is out of stock for order {order} ({}); the order was cancelled in CommerceOS",
        items.join(", ")
    );
    about(alert(shop, AlertKind::PartnerShort, format!("partner_short:commerceos:{order}"), message, now), order)
}
