//! The canonical order and the rule that decides whether an incoming revision may replace the stored one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Channel, ChannelOrderId, Money, OrderKey, OrderName, OrderOps, ShopDomain, TimelineEvent};

/// Declares a string-backed status enum whose unknown values survive a round trip as `Other`.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($variant,)+
            /// A value this version does not know yet, kept verbatim.
            Other(String),
        }

        impl $name {
            pub fn parse(raw: &str) -> Self {
                match raw {
                    $($text => Self::$variant,)+
                    other => Self::Other(other.to_owned()),
                }
            }

            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)+
                    Self::Other(other) => other,
                }
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                Ok(Self::parse(&String::deserialize(d)?))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum! {
    /// Payment state, with Shopify's `financial_status` vocabulary.
    FinancialStatus {
        Pending => "pending",
        Authorized => "authorized",
        PartiallyPaid => "partially_paid",
        Paid => "paid",
        PartiallyRefunded => "partially_refunded",
        Refunded => "refunded",
        Voided => "voided",
        Expired => "expired",
    }
}

string_enum! {
    /// Order-level fulfilment state. Shopify's `null` is `unfulfilled`, `partial` is `partially_fulfilled`.
    FulfillmentStatus {
        Unfulfilled => "unfulfilled",
        PartiallyFulfilled => "partially_fulfilled",
        Fulfilled => "fulfilled",
        Restocked => "restocked",
    }
}

/// A postal address. Every field is optional: Shopify redacts PII for apps without protected
/// customer data approval.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub name: Option<String>,
    pub company: Option<String>,
    pub address1: Option<String>,
    pub address2: Option<String>,
    pub city: Option<String>,
    pub province_code: Option<String>,
    pub zip: Option<String>,
    pub country_code: Option<String>,
    pub phone: Option<String>,
}

/// The buyer, as far as the channel tells us.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    pub id: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineItem {
    pub id: String,
    pub title: String,
    pub sku: Option<String>,
    pub variant_id: Option<String>,
    pub quantity: u32,
    pub price: Money,
    /// The channel the line came from (`amazon`), when it is not the order's own webhook payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The line's id in that channel (Amazon's `OrderItemId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_order_item_id: Option<String>,
}

/// A shipment of some or all of the order's items.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fulfillment {
    pub id: String,
    /// `pending`, `open`, `success`, `cancelled`, `error` or `failure` for Shopify.
    pub status: String,
    /// Carrier state such as `in_transit` or `delivered`, when the carrier reports one.
    pub shipment_status: Option<String>,
    pub tracking_company: Option<String>,
    pub tracking_numbers: Vec<String>,
    pub tracking_urls: Vec<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// A payment transaction of the order that moved money in: a successful sale or capture (Shopify's
/// `OrderTransaction` of kind `SALE`/`CAPTURE` and status `SUCCESS`). Authorizations, voids, refunds
/// and failed attempts are never carried (refunds reach the ERP from their own event).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentTransaction {
    /// The channel's id of the transaction (Shopify's numeric id).
    pub id: String,
    /// `sale` or `capture`.
    pub kind: String,
    pub amount: Money,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processed_at: Option<DateTime<Utc>>,
}

impl PaymentTransaction {
    /// Whether a channel transaction of `kind` and `status` is one the order carries: a successful
    /// sale or capture (case-insensitive, so REST's `sale` and GraphQL's `SALE` both count).
    pub fn is_captured(kind: &str, status: Option<&str>) -> bool {
        let kind = kind.to_ascii_lowercase();
        (kind == "sale" || kind == "capture") && status.is_none_or(|s| s.eq_ignore_ascii_case("success"))
    }

    /// The transaction on the order's timeline, keyed by its id and its own time (a redelivery, or the
    /// poll reading it again, lands on the same item).
    pub fn timeline_event(&self, fallback: DateTime<Utc>) -> TimelineEvent {
        let details = format!(
            "Payment {} of {} {}{}",
            self.kind,
            self.amount.amount,
            self.amount.currency,
            self.gateway.as_ref().map(|g| format!(" ({g})")).unwrap_or_default()
        );
        TimelineEvent::new(self.processed_at.unwrap_or(fallback), "payment_captured", details)
            .from_source(format!("transaction/{}", self.id))
    }
}

/// Adds to `into` every transaction of `from` it does not carry yet (by id). Transactions are facts
/// that never change once successful, so the stored ones always stay. Answers those added.
pub fn merge_transactions(into: &mut Vec<PaymentTransaction>, from: &[PaymentTransaction]) -> Vec<PaymentTransaction> {
    let mut added: Vec<PaymentTransaction> = Vec::new();
    for t in from {
        if !into.iter().chain(&added).any(|known| known.id == t.id) {
            added.push(t.clone());
        }
    }
    into.extend(added.iter().cloned());
    added
}

/// The canonical order, whichever channel it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub shop: ShopDomain,
    pub channel: Channel,
    pub channel_order_id: ChannelOrderId,
    /// Shopify's `gid://shopify/Order/<id>`; `None` for other channels.
    pub admin_graphql_api_id: Option<String>,
    pub name: OrderName,
    pub created_at: DateTime<Utc>,
    /// The channel's modification time: the ordering guard. An older revision never replaces a newer one.
    pub updated_at: DateTime<Utc>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub financial_status: FinancialStatus,
    pub fulfillment_status: FulfillmentStatus,
    pub total: Money,
    pub line_items: Vec<LineItem>,
    pub customer: Option<Customer>,
    pub shipping_address: Option<Address>,
    pub fulfillments: Vec<Fulfillment>,
    /// The order's successful sales and captures ([`PaymentTransaction`]); empty for channels that
    /// report none (Amazon) and for orders stored before transactions were carried. Never shrinks: a
    /// revision without them (a REST webhook) keeps the stored ones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transactions: Vec<PaymentTransaction>,
    /// How the order is delivered (tags, shipping method, pickup, fulfilled by the channel), for routing.
    #[serde(default)]
    pub delivery: super::DeliveryFacts,
    /// The dashboard's state of the order; channel revisions carry it over unchanged.
    #[serde(default)]
    pub ops: OrderOps,
    /// Incremented on every write; used for optimistic locking.
    pub version: u64,
}

impl Order {
    pub fn key(&self) -> OrderKey {
        OrderKey::new(self.channel, self.channel_order_id.clone())
    }

    /// The id the dashboard shows: the Shopify GID when there is one, else `channel:id`.
    pub fn public_id(&self) -> String {
        self.admin_graphql_api_id.clone().unwrap_or_else(|| self.key().to_string())
    }
}

/// What to do with an incoming revision of an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpsertPlan {
    /// Store `order` (its `version` already set) and append `events`.
    Write { order: Box<Order>, events: Vec<TimelineEvent> },
    /// The stored revision is newer: keep it.
    Stale,
    /// The same revision is already stored (a redelivery).
    Unchanged,
    /// Another revision with the same `updated_at` is stored (Shopify's stamps have one-second
    /// precision): which one is newer cannot be told from the two, so the caller settles it with a fresh
    /// read from the channel ([`UpsertPlan::decide_fresh`]).
    Tie,
}

impl UpsertPlan {
    /// Decides how `incoming` applies over `existing`, and which timeline events the change produces.
    /// Events are keyed by the revision's `updated_at`, so replaying a revision yields the same keys.
    pub fn decide(existing: Option<&Order>, incoming: Order) -> Self {
        Self::decide_with(existing, incoming, false)
    }

    /// As [`UpsertPlan::decide`] for a copy just read from the channel itself (a tie's settlement): it is
    /// the newest state of its second, so it replaces a different revision with the same `updated_at`.
    pub fn decide_fresh(existing: Option<&Order>, incoming: Order) -> Self {
        Self::decide_with(existing, incoming, true)
    }

    fn decide_with(existing: Option<&Order>, mut incoming: Order, fresh: bool) -> Self {
        let ts = incoming.updated_at;
        let mut events = Vec::new();
        match existing {
            None => {
                incoming.version = 1;
                events.push(TimelineEvent::new(
                    ts,
                    "order_created",
                    format!("Order {} created", incoming.name.as_str()),
                ));
                if is_paid(&incoming.financial_status) {
                    events.push(payment_event(ts, None, &incoming.financial_status));
                }
                if incoming.fulfillment_status != FulfillmentStatus::Unfulfilled {
                    events.push(fulfillment_event(ts, None, &incoming.fulfillment_status));
                }
                if incoming.cancelled_at.is_some() {
                    events.push(TimelineEvent::new(ts, "order_cancelled", "Order cancelled".to_owned()));
                }
                let mut transactions = Vec::new();
                merge_transactions(&mut transactions, &incoming.transactions);
                events.extend(transactions.iter().map(|t| t.timeline_event(ts)));
                incoming.transactions = transactions;
            }
            Some(current) => {
                if incoming.updated_at < current.updated_at {
                    return UpsertPlan::Stale;
                }
                if fresh && incoming.delivery == super::DeliveryFacts::default() {
                    // The Admin API read does not ask for what routing reads: the stored facts stay.
                    incoming.delivery = current.delivery.clone();
                }
                // No revision carries fulfilment holds (their own topics set them): the stored one stays.
                incoming.delivery.on_hold = current.delivery.on_hold;
                // Transactions only accumulate: a revision without them (REST) keeps the stored ones, and
                // one that reads new ones (the poll) adds them.
                let mut transactions = current.transactions.clone();
                let added = merge_transactions(&mut transactions, &incoming.transactions);
                incoming.transactions = transactions;
                if incoming.updated_at == current.updated_at {
                    if incoming.same_revision(current) {
                        return UpsertPlan::Unchanged;
                    }
                    let mut without = incoming.clone();
                    without.transactions = current.transactions.clone();
                    // Only new transactions in the same second: facts to add, not a rival revision.
                    if !fresh && !without.same_revision(current) {
                        return UpsertPlan::Tie;
                    }
                }
                events.extend(added.iter().map(|t| t.timeline_event(ts)));
                incoming.version = current.version + 1;
                incoming.ops = current.ops.clone();
                if incoming.financial_status != current.financial_status {
                    events.push(payment_event(ts, Some(&current.financial_status), &incoming.financial_status));
                }
                if incoming.fulfillment_status != current.fulfillment_status {
                    events.push(fulfillment_event(ts, Some(&current.fulfillment_status), &incoming.fulfillment_status));
                }
                if incoming.cancelled_at.is_some() && current.cancelled_at.is_none() {
                    events.push(TimelineEvent::new(ts, "order_cancelled", "Order cancelled".to_owned()));
                }
                if events.is_empty() {
                    events.push(TimelineEvent::new(ts, "order_updated", "Order details updated".to_owned()));
                }
            }
        }
        UpsertPlan::Write { order: Box::new(incoming), events }
    }
}

impl Order {
    /// Whether `other` carries the same channel state (the dashboard's ops and the version aside).
    pub fn same_revision(&self, other: &Order) -> bool {
        let mut other = other.clone();
        other.ops = self.ops.clone();
        other.version = self.version;
        *self == other
    }
}

fn is_paid(status: &FinancialStatus) -> bool {
    matches!(status, FinancialStatus::Paid | FinancialStatus::Authorized | FinancialStatus::PartiallyPaid)
}

fn payment_event(ts: DateTime<Utc>, from: Option<&FinancialStatus>, to: &FinancialStatus) -> TimelineEvent {
    let details = match from {
        Some(from) => format!("Payment status changed from {from} to {to}"),
        None => format!("Payment status {to}"),
    };
    TimelineEvent::new(ts, "payment", details)
}

fn fulfillment_event(ts: DateTime<Utc>, from: Option<&FulfillmentStatus>, to: &FulfillmentStatus) -> TimelineEvent {
    let details = match from {
        Some(from) => format!("Fulfillment status changed from {from} to {to}"),
        None => format!("Fulfillment status {to}"),
    };
    TimelineEvent::new(ts, "fulfillment", details)
}

#[cfg(test)]
pub(crate) mod tests {
    use chrono::TimeZone;

    use super::*;

    pub(crate) fn sample_order(shop: &str, id: &str, updated_minute: u32) -> Order {
        Order {
            shop: ShopDomain::parse(shop).unwrap(),
            channel: Channel::Shopify,
            channel_order_id: ChannelOrderId::parse(id).unwrap(),
            admin_graphql_api_id: Some(format!("gid://shopify/Order/{id}")),
            name: OrderName::new(format!("#{id}")),
            created_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            updated_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, updated_minute, 0).unwrap(),
            cancelled_at: None,
            financial_status: FinancialStatus::Pending,
            fulfillment_status: FulfillmentStatus::Unfulfilled,
            total: Money::new("10.00", "USD").unwrap(),
            line_items: vec![],
            customer: None,
            shipping_address: None,
            fulfillments: vec![],
            transactions: vec![],
            delivery: Default::default(),
            ops: OrderOps::default(),
            version: 0,
        }
    }

    #[test]
    fn a_new_order_is_written_at_version_one_with_a_created_event() {
        let plan = UpsertPlan::decide(None, sample_order("a.myshopify.com", "1", 0));
        let UpsertPlan::Write { order, events } = plan else { panic!("expected a write") };
        assert_eq!(order.version, 1);
        assert_eq!(events.iter().map(|e| e.event.as_str()).collect::<Vec<_>>(), ["order_created"]);
    }

    #[test]
    fn an_older_revision_never_replaces_a_newer_one() {
        let mut stored = sample_order("a.myshopify.com", "1", 10);
        stored.version = 3;
        assert_eq!(UpsertPlan::decide(Some(&stored), sample_order("a.myshopify.com", "1", 5)), UpsertPlan::Stale);
        assert_eq!(UpsertPlan::decide(Some(&stored), sample_order("a.myshopify.com", "1", 10)), UpsertPlan::Unchanged);
    }

    #[test]
    fn another_revision_in_the_same_second_is_a_tie_that_only_a_fresh_read_settles() {
        let mut stored = sample_order("a.myshopify.com", "1", 10);
        stored.version = 3;
        stored.ops.assigned_to = Some("ana".into());
        let mut second = sample_order("a.myshopify.com", "1", 10);
        second.financial_status = FinancialStatus::Paid;
        assert_eq!(UpsertPlan::decide(Some(&stored), second.clone()), UpsertPlan::Tie);
        let UpsertPlan::Write { order, events } = UpsertPlan::decide_fresh(Some(&stored), second) else { panic!() };
        assert_eq!((order.version, order.ops.assigned_to.as_deref()), (4, Some("ana")));
        assert_eq!(events[0].details, "Payment status changed from pending to paid");
        assert_eq!(
            UpsertPlan::decide_fresh(Some(&stored), sample_order("a.myshopify.com", "1", 10)),
            UpsertPlan::Unchanged,
            "the same state read again"
        );
    }

    #[test]
    fn a_newer_revision_bumps_the_version_and_names_what_changed() {
        let mut stored = sample_order("a.myshopify.com", "1", 10);
        stored.version = 3;
        let mut newer = sample_order("a.myshopify.com", "1", 20);
        newer.financial_status = FinancialStatus::Paid;
        newer.fulfillment_status = FulfillmentStatus::Fulfilled;
        let UpsertPlan::Write { order, events } = UpsertPlan::decide(Some(&stored), newer) else { panic!() };
        assert_eq!(order.version, 4);
        let kinds: Vec<_> = events.iter().map(|e| e.event.as_str()).collect();
        assert_eq!(kinds, ["payment", "fulfillment"]);
        assert_eq!(events[0].details, "Payment status changed from pending to paid");
    }

    fn capture(id: &str) -> PaymentTransaction {
        PaymentTransaction {
            id: id.into(),
            kind: "capture".into(),
            amount: Money::new("10.00", "USD").unwrap(),
            gateway: None,
            processed_at: Some(Utc.with_ymd_and_hms(2026, 1, 1, 0, 3, 0).unwrap()),
        }
    }

    #[test]
    fn transactions_accumulate_a_revision_without_them_keeps_them_and_new_ones_in_the_same_second_are_written() {
        let mut stored = sample_order("a.myshopify.com", "1", 10);
        stored.version = 3;
        stored.transactions = vec![capture("T1")];
        // A REST revision carries no transactions: the stored one stays.
        let UpsertPlan::Write { order, .. } =
            UpsertPlan::decide(Some(&stored), sample_order("a.myshopify.com", "1", 20))
        else {
            panic!()
        };
        assert_eq!(order.transactions, [capture("T1")]);
        // The same revision without them is the same revision.
        assert_eq!(UpsertPlan::decide(Some(&stored), sample_order("a.myshopify.com", "1", 10)), UpsertPlan::Unchanged);
        // The poll's copy of the same second with a new one: added, not a tie.
        let mut polled = sample_order("a.myshopify.com", "1", 10);
        polled.transactions = vec![capture("T1"), capture("T2"), capture("T2")];
        let UpsertPlan::Write { order, events } = UpsertPlan::decide(Some(&stored), polled) else { panic!() };
        assert_eq!(order.transactions, [capture("T1"), capture("T2")]);
        assert_eq!(events.iter().map(|e| e.event.as_str()).collect::<Vec<_>>(), ["payment_captured"]);
        assert_eq!(events[0].source.as_deref(), Some("transaction/T2"));
    }

    #[test]
    fn only_successful_sales_and_captures_are_carried() {
        assert!(PaymentTransaction::is_captured("SALE", Some("SUCCESS")));
        assert!(PaymentTransaction::is_captured("capture", Some("success")));
        for (kind, status) in
            [("authorization", "success"), ("void", "success"), ("refund", "success"), ("sale", "failure")]
        {
            assert!(!PaymentTransaction::is_captured(kind, Some(status)), "{kind} {status}");
        }
    }

    #[test]
    fn unknown_statuses_survive_a_round_trip() {
        let status: FinancialStatus = serde_json::from_str("\"on_hold_forever\"").unwrap();
        assert_eq!(status, FinancialStatus::Other("on_hold_forever".into()));
        assert_eq!(serde_json::to_string(&status).unwrap(), "\"on_hold_forever\"");
    }
}
