//! The ERP side of an order (CommerceOS): which orders a shop mirrors into its ERP (decided once, like
//! the fulfilment route, and independent of it), what each later change of a mirrored order asks of the
//! ERP, and the ERP's own state of the order as its callbacks report it. Pure.
//!
//! Effects are planned from the difference between two revisions, each with an id derived from what
//! it carries, so planning the same change again names the same effect: the upsert by the order's
//! content digest, the addresses by the address digest, the payment by its transaction id, the
//! shipment by the shipment's id, approve and cancel once per order.
//!
//! **Payments** (`createPayment`, [`Capture`]): one per successful sale or capture the order carries
//! ([`Order::transactions`]) that the previous revision did not, keyed by the channel's transaction id
//! (`{channel}-{id}`); authorizations, voids and failed attempts never reach the order. An order whose
//! channel reports no transactions (Amazon) gets the derived capture [`capture_transaction`]
//! (`{channel}-{id}-capture`, the order total) instead, once, when it becomes paid. The two never
//! meet on one order, so the same money is never paid twice:
//! - the fallback is sent only while the order has no transactions at the moment it becomes paid, and
//!   only for a channel that reports none; a Shopify order (which reports its transactions, by
//!   `order_transactions/create` and the poll) paid without them waits for them instead: Shopify's
//!   paid `orders/create` usually lands before its transaction;
//! - once the fallback went out ([`Capture::Fallback`]) the order's transactions are never sent, and
//!   once a transaction went out ([`Capture::Transactions`]) the fallback never is;
//! - an order mirrored before transactions were carried ([`Capture::Legacy`]) that was already paid
//!   had its fallback sent then: it counts as [`Capture::Fallback`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{
    Channel, FinancialStatus, Integration, Order, PaymentTransaction, TimelineEvent,
    fulfilment::{RouteRule, partner_order_id},
};

/// A shop's ERP settings: which orders go to CommerceOS (usually all), and whether CommerceOS also
/// fulfils them (the shop's fulfilment partner instead of a 3PL).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErpSettings {
    pub enabled: bool,
    pub rule: RouteRule,
    /// CommerceOS fulfils the mirrored orders: none is routed to MasonHub, and each one that is ours to
    /// ship gets one `createShipment` once approved in CommerceOS, which releases and ships it itself
    /// (its shipment-completed sync-webhook brings the tracking back to Shopify). Decided per order
    /// when it is mirrored ([`ErpState::fulfils`]).
    #[serde(default)]
    pub fulfils: bool,
}

/// A shipment the ERP reported (a shipment order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErpShipment {
    pub id: String,
    /// The webshop status of seed 004's table (`processing`, `released`, `shipped`, `delivered`,
    /// `partially_*`).
    pub status: String,
    #[serde(default)]
    pub tracking_number: Option<String>,
    #[serde(default)]
    pub tracking_url: Option<String>,
    #[serde(default)]
    pub carrier: Option<String>,
}

/// The ERP's side of a mirrored order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErpState {
    /// Our identifier value of the trade order (`{ns.key}={identifier}`).
    pub identifier: String,
    pub decided_at: DateTime<Utc>,
    /// CommerceOS has the trade order (an upsert answered 201 or 200).
    #[serde(default)]
    pub upserted: bool,
    /// The address digest last set with `changeDeliveryAddress` / `changeInvoiceAddress`.
    #[serde(default)]
    pub address_digest: Option<String>,
    /// `tryApprove` went through: the order is Committed.
    #[serde(default)]
    pub approved: bool,
    #[serde(default)]
    pub cancelled: bool,
    /// The trade order's status as CommerceOS last reported it (`New`, `Committed`…), and its
    /// webshop status (`pending`, `confirmed`, `cancelled`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub raw_status: Vec<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shipments: Vec<ErpShipment>,
    /// Our shipments already sent as `createShipment` + `release` (their ids).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub released: Vec<String>,
    /// How the order's money goes to the ERP (the module doc's payment rule).
    #[serde(default)]
    pub capture: Capture,
    /// CommerceOS fulfils this order (the shop's setting when the order was mirrored): one
    /// `createShipment` once approved, and no shipment of ours is sent to it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fulfils: bool,
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
}

/// How a mirrored order's money reaches the ERP: its own transactions or the derived capture, never
/// both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Capture {
    /// Mirrored before transactions were carried (the field is absent): a paid order's derived
    /// capture was sent then, an unpaid one's nothing yet.
    #[default]
    Legacy,
    /// Nothing captured sent yet.
    Pending,
    /// The derived capture (the order total) was sent: the order's transactions never are.
    Fallback,
    /// The order's own transactions are sent, one payment each: the fallback never is.
    Transactions,
}

/// What the ERP is asked to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ErpAction {
    /// `PUT /v1/trade-orders/{id}` from the order as stored when the message is worked.
    Upsert,
    /// `changeDeliveryAddress` and `changeInvoiceAddress` from the stored order's address.
    Addresses,
    /// `createPayment` of one captured transaction (a refund: a negative amount).
    Payment { transaction_id: String, amount: String, currency: String },
    /// `tryApprove`.
    Approve,
    /// `createShipment`, then `release` of the shipment order it created.
    Shipment { shipment_id: String },
    /// `createShipment` of the whole order for CommerceOS to fulfil (it releases and ships it itself).
    Fulfil,
    /// `tryCancel`.
    Cancel,
}

impl ErpAction {
    pub fn as_str(&self) -> &'static str {
        match self {
            ErpAction::Upsert => "upsert",
            ErpAction::Addresses => "addresses",
            ErpAction::Payment { .. } => "payment",
            ErpAction::Approve => "approve",
            ErpAction::Shipment { .. } => "shipment",
            ErpAction::Fulfil => "fulfil",
            ErpAction::Cancel => "cancel",
        }
    }
}

/// One ERP effect of an order change: its idempotency key and the action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErpEffect {
    pub id: String,
    pub action: ErpAction,
}

fn digest(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// A digest of what the trade order carries (lines, currency, customer).
pub fn order_digest(order: &Order) -> String {
    let lines: Vec<String> =
        order.line_items.iter().map(|l| format!("{}|{}", l.sku.as_deref().unwrap_or_default(), l.quantity)).collect();
    let customer = order.customer.as_ref().and_then(|c| c.id.clone().or_else(|| c.email.clone()));
    digest(&format!("{}\n{}\n{:?}", lines.join(";"), order.total.currency, customer))
}

/// A digest of the order's address (`None`: the order has none).
pub fn address_digest(order: &Order) -> Option<String> {
    order.shipping_address.as_ref().map(|a| digest(&serde_json::to_string(a).unwrap_or_default()))
}

fn paid(order: &Order) -> bool {
    matches!(order.financial_status, FinancialStatus::Paid | FinancialStatus::PartiallyRefunded)
}

/// Ready to approve: paid, not on hold, not cancelled.
pub fn approvable(order: &Order) -> bool {
    paid(order) && !order.delivery.on_hold && order.cancelled_at.is_none()
}

/// The shipments the ERP must hear of, from one source so a parcel is never told twice: the 3PL's
/// shipments when the order is routed to one (their Shopify fulfilments are the same parcels), else
/// the channel's fulfilments; none when CommerceOS ships the order itself (it reported shipments).
fn shipment_ids(order: &Order) -> Vec<String> {
    if order.ops.erp.as_ref().is_some_and(|e| e.fulfils || !e.shipments.is_empty()) {
        return Vec::new();
    }
    let mut ids: Vec<String> = match (&order.ops.route, &order.ops.partner) {
        (Some(_), Some(partner)) => partner.shipments.iter().map(|s| s.id.clone()).collect(),
        (Some(_), None) => Vec::new(),
        (None, _) => order.fulfillments.iter().filter(|f| f.status != "cancelled").map(|f| f.id.clone()).collect(),
    };
    ids.sort();
    ids.dedup();
    ids
}

/// The transaction id of the order's derived capture (the fallback for orders without transactions):
/// one per order, derived from it.
pub fn capture_transaction(order: &Order) -> String {
    format!("{}-{}-capture", order.channel, order.channel_order_id)
}

/// The ERP transaction id of one of the order's own transactions: `{channel}-{transaction id}`.
pub fn transaction_id(order: &Order, transaction: &PaymentTransaction) -> String {
    format!("{}-{}", order.channel, transaction.id)
}

/// Whether the order's channel reports its payment transactions (so a paid order without them is
/// waiting for them, not without them).
fn reports_transactions(channel: Channel) -> bool {
    channel == Channel::Shopify
}

/// Plans the ERP consequences of writing `next` over `previous`. An order not mirrored yet is
/// mirrored when `settings` take it (then its state is set on `next` with a timeline event); a
/// mirrored order's change asks for what changed. Orders born in CommerceOS are never sent back.
pub fn plan(
    previous: Option<&Order>,
    next: &mut Order,
    settings: Option<&ErpSettings>,
    now: DateTime<Utc>,
) -> (Vec<TimelineEvent>, Vec<ErpEffect>) {
    let mut events = Vec::new();
    let mut effects = Vec::new();
    let first = next.ops.erp.is_none();
    if first {
        let take = settings.is_some_and(|s| s.enabled && s.rule.matches(next))
            && next.channel != super::Channel::CommerceOs
            && next.cancelled_at.is_none();
        if !take {
            return (events, effects);
        }
        let identifier = partner_order_id(&next.shop, &next.key());
        let fulfils = settings.is_some_and(|s| s.fulfils);
        events.push(TimelineEvent::new(
            next.updated_at,
            "erp_routed",
            format!("Mirrored to CommerceOS as {identifier}"),
        ));
        next.ops.erp = Some(ErpState {
            identifier,
            decided_at: now,
            upserted: false,
            address_digest: None,
            approved: false,
            cancelled: false,
            raw_status: Vec::new(),
            status: None,
            shipments: Vec::new(),
            released: Vec::new(),
            capture: Capture::Pending,
            fulfils,
            updated_at: None,
        });
    }
    let Some(state) = next.ops.erp.clone() else { return (events, effects) };
    let id = &state.identifier;
    let before = if first { None } else { previous };
    let effect =
        |action: ErpAction, key: String| ErpEffect { id: format!("erp:{}:{id}{key}", action.as_str()), action };
    if next.cancelled_at.is_some() {
        if before.is_some_and(|p| p.cancelled_at.is_none()) {
            effects.push(effect(ErpAction::Cancel, String::new()));
        }
        return (events, effects);
    }
    let digest_now = order_digest(next);
    if before.is_none_or(|p| order_digest(p) != digest_now) {
        effects.push(effect(ErpAction::Upsert, format!(":{digest_now}")));
    }
    if let Some(address) = address_digest(next)
        && before.is_none_or(|p| address_digest(p).as_ref() != Some(&address))
    {
        effects.push(effect(ErpAction::Addresses, format!(":{address}")));
    }
    let capture = match state.capture {
        Capture::Legacy if before.is_some_and(paid) => Capture::Fallback,
        Capture::Legacy => Capture::Pending,
        other => other,
    };
    let capture = match capture {
        Capture::Pending | Capture::Transactions if !next.transactions.is_empty() => {
            let seen = |t: &PaymentTransaction| before.is_some_and(|p| p.transactions.iter().any(|s| s.id == t.id));
            for transaction in next.transactions.iter().filter(|t| !seen(t)) {
                let transaction_id = transaction_id(next, transaction);
                effects.push(effect(
                    ErpAction::Payment {
                        transaction_id: transaction_id.clone(),
                        amount: transaction.amount.amount.clone(),
                        currency: transaction.amount.currency.clone(),
                    },
                    format!(":{transaction_id}"),
                ));
            }
            Capture::Transactions
        }
        Capture::Pending if paid(next) && !reports_transactions(next.channel) => {
            let transaction_id = capture_transaction(next);
            effects.push(effect(
                ErpAction::Payment {
                    transaction_id: transaction_id.clone(),
                    amount: next.total.amount.clone(),
                    currency: next.total.currency.clone(),
                },
                format!(":{transaction_id}"),
            ));
            Capture::Fallback
        }
        other => other,
    };
    if let Some(erp) = next.ops.erp.as_mut() {
        erp.capture = capture;
    }
    if approvable(next) && before.is_none_or(|p| !approvable(p)) {
        effects.push(effect(ErpAction::Approve, String::new()));
    }
    // The returns flow's approved refund reaches the ERP as a negative payment of the order's total
    // (the return case names no lines or amount), keyed once per order.
    let refund_approved =
        |o: &Order| o.ops.return_case.as_ref().is_some_and(|r| r.state == super::ReturnState::AwaitingRefund);
    if refund_approved(next) && before.is_some_and(|p| !refund_approved(p)) {
        let transaction_id = format!("{}-{}-return-refund", next.channel, next.channel_order_id);
        let amount = next.total.amount.trim();
        let negative = amount.strip_prefix('-').map_or_else(|| format!("-{amount}"), str::to_owned);
        effects.push(effect(
            ErpAction::Payment {
                transaction_id: transaction_id.clone(),
                amount: negative,
                currency: next.total.currency.clone(),
            },
            format!(":{transaction_id}"),
        ));
    }
    // CommerceOS fulfils: once the order is approved there (our `tryApprove` went through, or it
    // reports the order Committed), one `createShipment` for the whole order.
    if state.fulfils
        && committed(&state)
        && before.is_none_or(|p| !p.ops.erp.as_ref().is_some_and(committed))
        && super::fulfilment::not_ours_to_ship(next).is_none()
    {
        effects.push(effect(ErpAction::Fulfil, String::new()));
    }
    let known = before.map(shipment_ids).unwrap_or_default();
    for shipment_id in shipment_ids(next).into_iter().filter(|s| !known.contains(s)) {
        effects.push(effect(ErpAction::Shipment { shipment_id: shipment_id.clone() }, format!(":{shipment_id}")));
    }
    (events, effects)
}

/// Approved in CommerceOS: our `tryApprove` went through, or CommerceOS reports the order Committed.
fn committed(state: &ErpState) -> bool {
    state.approved || state.raw_status.iter().any(|s| s == "Committed")
}

/// The integration ERP effects go to.
pub const ERP: Integration = Integration::CommerceOs;

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    /// A successful channel fulfilment `id`, without tracking.
    fn shipped(id: &str) -> Fulfillment {
        Fulfillment {
            id: id.into(),
            status: "success".into(),
            shipment_status: None,
            tracking_company: None,
            tracking_numbers: vec![],
            tracking_urls: vec![],
            created_at: None,
            updated_at: None,
        }
    }
    use crate::domain::{Fulfillment, LineItem, Money, order::tests::sample_order};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap()
    }

    fn order(id: &str) -> Order {
        let mut order = sample_order("a.myshopify.com", id, 1);
        order.line_items = vec![LineItem {
            id: "l1".into(),
            title: "Shirt".into(),
            sku: Some("SHIRT-1".into()),
            variant_id: None,
            quantity: 2,
            price: Money::new("5.00", "USD").unwrap(),
            source: None,
            source_order_item_id: None,
        }];
        order
    }

    fn sale(id: &str, amount: &str) -> PaymentTransaction {
        PaymentTransaction {
            id: id.into(),
            kind: "sale".into(),
            amount: Money::new(amount, "USD").unwrap(),
            gateway: Some("shopify_payments".into()),
            processed_at: Some(now()),
        }
    }

    /// The payments planned, as `(transaction id, amount)`.
    fn payments(effects: &[ErpEffect]) -> Vec<(String, String)> {
        effects
            .iter()
            .filter_map(|e| match &e.action {
                ErpAction::Payment { transaction_id, amount, .. } => Some((transaction_id.clone(), amount.clone())),
                _ => None,
            })
            .collect()
    }

    fn capture_of(order: &Order) -> Capture {
        order.ops.erp.as_ref().unwrap().capture
    }

    fn all() -> ErpSettings {
        ErpSettings { enabled: true, rule: RouteRule::All, fulfils: false }
    }

    fn actions(effects: &[ErpEffect]) -> Vec<&'static str> {
        effects.iter().map(|e| e.action.as_str()).collect()
    }

    #[test]
    fn an_order_is_mirrored_once_and_each_change_asks_for_what_changed() {
        let mut next = order("1001");
        next.shipping_address = Some(crate::domain::Address { city: Some("Oslo".into()), ..Default::default() });
        let (events, effects) = plan(None, &mut next, Some(&all()), now());
        assert_eq!(events[0].event, "erp_routed");
        assert_eq!(actions(&effects), ["upsert", "addresses"]);
        let again = plan(Some(&next.clone()), &mut next, Some(&all()), now()).1;
        assert!(again.is_empty(), "nothing changed, nothing planned");

        let before = next.clone();
        next.financial_status = FinancialStatus::Paid;
        next.transactions.push(sale("T1", "10.00"));
        let effects = plan(Some(&before), &mut next, None, now()).1;
        assert_eq!(actions(&effects), ["payment", "approve"]);
        assert_eq!(effects[0].id, format!("erp:payment:{}:shopify-T1", next.ops.erp.as_ref().unwrap().identifier));

        let before = next.clone();
        next.fulfillments.push(shipped("f1"));
        assert_eq!(actions(&plan(Some(&before), &mut next, None, now()).1), ["shipment"]);

        let before = next.clone();
        next.ops.return_case = Some(crate::domain::ReturnCase {
            state: crate::domain::ReturnState::AwaitingRefund,
            updated_at: now(),
            note: None,
        });
        let refund = plan(Some(&before), &mut next, None, now()).1;
        assert_eq!(actions(&refund), ["payment"]);
        assert!(matches!(&refund[0].action, ErpAction::Payment { amount, .. } if amount.starts_with('-')));

        let before = next.clone();
        next.cancelled_at = Some(now());
        assert_eq!(actions(&plan(Some(&before), &mut next, None, now()).1), ["cancel"]);
    }

    #[test]
    fn a_shopify_order_paid_without_transactions_waits_for_them_and_pays_each_capture_once() {
        let mut next = order("1002");
        plan(None, &mut next, Some(&all()), now());
        let before = next.clone();
        next.financial_status = FinancialStatus::Paid;
        let effects = plan(Some(&before), &mut next, None, now()).1;
        assert_eq!(actions(&effects), ["approve"], "no fallback for a channel that reports its transactions");
        assert_eq!(capture_of(&next), Capture::Pending);

        let before = next.clone();
        next.transactions.push(sale("T1", "4.00"));
        let effects = plan(Some(&before), &mut next, None, now()).1;
        assert_eq!(payments(&effects), [("shopify-T1".to_owned(), "4.00".to_owned())]);
        assert_eq!(capture_of(&next), Capture::Transactions);
        assert!(plan(Some(&next.clone()), &mut next, None, now()).1.is_empty(), "a transaction is paid once");

        let before = next.clone();
        next.transactions.push(sale("T2", "6.00"));
        let effects = plan(Some(&before), &mut next, None, now()).1;
        assert_eq!(payments(&effects), [("shopify-T2".to_owned(), "6.00".to_owned())], "only the new capture");
    }

    #[test]
    fn transactions_already_on_the_order_when_it_is_mirrored_are_each_paid() {
        let mut next = order("1003");
        next.financial_status = FinancialStatus::Paid;
        next.transactions = vec![sale("T1", "4.00"), sale("T2", "6.00")];
        let effects = plan(None, &mut next, Some(&all()), now()).1;
        let ids: Vec<String> = payments(&effects).into_iter().map(|p| p.0).collect();
        assert_eq!(ids, ["shopify-T1", "shopify-T2"]);
        assert!(!ids.iter().any(|i| i.ends_with("-capture")), "never the fallback as well");
    }

    #[test]
    fn an_order_without_transactions_gets_the_fallback_once_and_never_its_transactions_after() {
        let mut amazon = order("1004");
        amazon.channel = Channel::Amazon;
        plan(None, &mut amazon, Some(&all()), now());
        let before = amazon.clone();
        amazon.financial_status = FinancialStatus::Paid;
        let effects = plan(Some(&before), &mut amazon, None, now()).1;
        assert_eq!(payments(&effects), [("amazon-1004-capture".to_owned(), "10.00".to_owned())]);
        assert_eq!(capture_of(&amazon), Capture::Fallback);
        let before = amazon.clone();
        amazon.transactions.push(sale("T9", "10.00"));
        assert!(payments(&plan(Some(&before), &mut amazon, None, now()).1).is_empty(), "the same money, once");
    }

    #[test]
    fn an_order_mirrored_before_transactions_were_carried_is_never_paid_twice() {
        // Paid then: its fallback went out then, so its transactions never do.
        let mut paid = order("1005");
        paid.financial_status = FinancialStatus::Paid;
        plan(None, &mut paid, Some(&all()), now());
        paid.ops.erp.as_mut().unwrap().capture = Capture::Legacy;
        let before = paid.clone();
        paid.transactions.push(sale("T1", "10.00"));
        assert!(payments(&plan(Some(&before), &mut paid, None, now()).1).is_empty());
        assert_eq!(capture_of(&paid), Capture::Fallback);
        // Not paid then: its capture is its transaction.
        let mut unpaid = order("1006");
        plan(None, &mut unpaid, Some(&all()), now());
        unpaid.ops.erp.as_mut().unwrap().capture = Capture::Legacy;
        let before = unpaid.clone();
        unpaid.financial_status = FinancialStatus::Paid;
        unpaid.transactions.push(sale("T2", "10.00"));
        assert_eq!(payments(&plan(Some(&before), &mut unpaid, None, now()).1), [("shopify-T2".into(), "10.00".into())]);
        // A stored state without the field reads as legacy.
        let stored = serde_json::json!({ "identifier": "x", "decided_at": now() });
        assert_eq!(serde_json::from_value::<ErpState>(stored).unwrap().capture, Capture::Legacy);
    }

    #[test]
    fn when_commerceos_fulfils_one_shipment_is_created_once_approved_and_none_of_ours_is_sent() {
        let fulfils = ErpSettings { fulfils: true, ..all() };
        let mut next = order("1007");
        next.financial_status = FinancialStatus::Paid;
        let effects = plan(None, &mut next, Some(&fulfils), now()).1;
        assert!(next.ops.erp.as_ref().unwrap().fulfils);
        assert!(
            actions(&effects).contains(&"approve") && !actions(&effects).contains(&"fulfil"),
            "not before approval"
        );

        // The approval went through (the worker notes it): one createShipment, keyed once per order.
        let before = next.clone();
        next.ops.erp.as_mut().unwrap().approved = true;
        let effects = plan(Some(&before), &mut next, None, now()).1;
        assert_eq!(actions(&effects), ["fulfil"]);
        assert_eq!(effects[0].id, format!("erp:fulfil:{}", next.ops.erp.as_ref().unwrap().identifier));
        // Committed reported afterwards, a redelivery, a Shopify fulfilment: nothing more.
        let before = next.clone();
        next.ops.erp.as_mut().unwrap().raw_status = vec!["Committed".into()];
        assert!(plan(Some(&before), &mut next, None, now()).1.is_empty());
        let before = next.clone();
        next.fulfillments.push(shipped("f1"));
        assert!(plan(Some(&before), &mut next, None, now()).1.is_empty(), "CommerceOS's own parcel");

        // Committed by CommerceOS itself also counts; a local pickup is not ours to ship.
        let mut committed = order("1008");
        plan(None, &mut committed, Some(&fulfils), now());
        let before = committed.clone();
        committed.ops.erp.as_mut().unwrap().raw_status = vec!["Committed".into()];
        assert_eq!(actions(&plan(Some(&before), &mut committed, None, now()).1), ["fulfil"]);
        let mut pickup = order("1009");
        pickup.delivery.local_pickup = true;
        plan(None, &mut pickup, Some(&fulfils), now());
        let before = pickup.clone();
        pickup.ops.erp.as_mut().unwrap().approved = true;
        assert!(plan(Some(&before), &mut pickup, None, now()).1.is_empty());
    }

    #[test]
    fn disabled_unmatched_and_cancelled_orders_are_not_mirrored() {
        let mut off = order("1");
        assert!(
            plan(None, &mut off, Some(&ErpSettings { enabled: false, rule: RouteRule::All, fulfils: false }), now())
                .1
                .is_empty()
        );
        let mut cancelled = order("2");
        cancelled.cancelled_at = Some(now());
        assert!(plan(None, &mut cancelled, Some(&all()), now()).1.is_empty());
        let mut unmatched = order("3");
        let by_tag = ErpSettings { enabled: true, rule: RouteRule::Tag { tags: vec!["b2b".into()] }, fulfils: false };
        assert!(plan(None, &mut unmatched, Some(&by_tag), now()).1.is_empty());
        assert!(unmatched.ops.erp.is_none());
    }
}
