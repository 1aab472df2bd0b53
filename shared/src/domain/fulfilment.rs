//! Fulfilment routing: which orders a shop hands to its fulfilment partner (MasonHub), decided once
//! when an order becomes ready and stored on the order; what a later revision of a routed order asks
//! of the partner (a full-replacement update, a cancel); the partner's side of the order (its status
//! and shipments); the retry ladder of partner calls; and the token bucket that paces them. Pure.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Channel, ChannelOrderId, FinancialStatus, FulfillmentStatus, Integration, Order, OrderKey, ShopDomain};

/// What the channel says about how an order is delivered, beyond its lines and address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryFacts {
    /// The order's tags (Shopify `tags`, split on commas).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The title of the order's shipping line (Shopify `shipping_lines[0].title`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_method: Option<String>,
    /// Picked up by the buyer in a store (a Shopify pickup shipping line): never shipped by a partner.
    #[serde(default)]
    pub local_pickup: bool,
    /// Fulfilled by the channel itself (Amazon FBA, `FulfillmentChannel: AFN`).
    #[serde(default)]
    pub fulfilled_by_channel: bool,
    /// Lines that need no shipping (digital goods, gift cards).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unshippable_lines: Vec<String>,
    /// The channel holds the order (a fulfilment hold): not ready until released.
    #[serde(default)]
    pub on_hold: bool,
}

/// Which orders go to the partner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum RouteRule {
    All,
    Channel { channels: Vec<Channel> },
    Tag { tags: Vec<String> },
    SkuPrefix { prefixes: Vec<String> },
}

/// A shipping line title mapped to the partner's provider and service level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShippingMapping {
    /// Matched case-insensitively against the order's shipping method.
    pub shipping_method: String,
    pub provider: String,
    pub service_level: String,
}

/// A shop's fulfilment settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FulfilmentSettings {
    /// Routing is on; off, no order is routed (orders already routed keep their route).
    pub enabled: bool,
    pub partner: Integration,
    pub rule: RouteRule,
    #[serde(default)]
    pub shipping: Vec<ShippingMapping>,
    pub default_provider: String,
    pub default_service_level: String,
    #[serde(default)]
    pub split_policy: Option<String>,
    #[serde(default)]
    pub backorder_policy: Option<String>,
}

/// Why settings were refused: a machine code and a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub code: &'static str,
    pub message: String,
}

fn invalid(code: &'static str, message: impl Into<String>) -> Invalid {
    Invalid { code, message: message.into() }
}

fn valid_text(raw: &str, max: usize) -> bool {
    let trimmed = raw.trim();
    !trimmed.is_empty() && trimmed.len() <= max && !trimmed.chars().any(char::is_control)
}

impl FulfilmentSettings {
    /// Checks the shape of every field. The partner's own vocabularies (its providers, service levels and
    /// policies) are checked by the partner's integration.
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.partner != Integration::MasonHub {
            return Err(invalid("INVALID_PARTNER", "partner must be masonhub"));
        }
        let list_ok =
            |items: &[String]| !items.is_empty() && items.len() <= 50 && items.iter().all(|i| valid_text(i, 100));
        match &self.rule {
            RouteRule::All => {}
            RouteRule::Channel { channels } if channels.is_empty() => {
                return Err(invalid("INVALID_RULE", "rule.channels must name at least one channel"));
            }
            RouteRule::Channel { .. } => {}
            RouteRule::Tag { tags } if !list_ok(tags) => {
                return Err(invalid("INVALID_RULE", "rule.tags must hold 1-50 tags of 1-100 characters"));
            }
            RouteRule::SkuPrefix { prefixes } if !list_ok(prefixes) => {
                return Err(invalid("INVALID_RULE", "rule.prefixes must hold 1-50 prefixes of 1-100 characters"));
            }
            RouteRule::Tag { .. } | RouteRule::SkuPrefix { .. } => {}
        }
        if !valid_text(&self.default_provider, 100) || !valid_text(&self.default_service_level, 100) {
            return Err(invalid(
                "INVALID_SHIPPING",
                "default_provider and default_service_level must be 1-100 characters",
            ));
        }
        if self.shipping.len() > 50
            || !self.shipping.iter().all(|m| {
                valid_text(&m.shipping_method, 200) && valid_text(&m.provider, 100) && valid_text(&m.service_level, 100)
            })
        {
            return Err(invalid(
                "INVALID_SHIPPING",
                "shipping holds at most 50 mappings, every field 1-200 characters",
            ));
        }
        if self.split_policy.as_deref().is_some_and(|p| !valid_text(p, 50)) {
            return Err(invalid("INVALID_SPLIT_POLICY", "split_policy must be 1-50 characters"));
        }
        if self.backorder_policy.as_deref().is_some_and(|p| !valid_text(p, 50)) {
            return Err(invalid("INVALID_BACKORDER_POLICY", "backorder_policy must be 1-50 characters"));
        }
        Ok(())
    }

    /// The provider and service level for `order`'s shipping method, or the defaults.
    pub fn shipping_for(&self, order: &Order) -> (String, String) {
        let method = order.delivery.shipping_method.as_deref().map(str::trim).unwrap_or_default();
        self.shipping
            .iter()
            .find(|m| !method.is_empty() && m.shipping_method.trim().eq_ignore_ascii_case(method))
            .map(|m| (m.provider.clone(), m.service_level.clone()))
            .unwrap_or_else(|| (self.default_provider.clone(), self.default_service_level.clone()))
    }

    fn matches(&self, order: &Order) -> bool {
        self.rule.matches(order)
    }
}

impl RouteRule {
    /// Whether `order` falls under the rule.
    pub fn matches(&self, order: &Order) -> bool {
        match self {
            RouteRule::All => true,
            RouteRule::Channel { channels } => channels.contains(&order.channel),
            RouteRule::Tag { tags } => order
                .delivery
                .tags
                .iter()
                .any(|t| tags.iter().any(|wanted| wanted.trim().eq_ignore_ascii_case(t.trim()))),
            RouteRule::SkuPrefix { prefixes } => order
                .line_items
                .iter()
                .filter_map(|l| l.sku.as_deref())
                .any(|sku| prefixes.iter().any(|p| sku.starts_with(p.trim()))),
        }
    }
}

/// The route decided for an order: its partner and the partner's id for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub partner: Integration,
    /// MasonHub's `customer_identifier`: derived from the shop and the order key, so a replay or a race
    /// names the same partner order.
    pub partner_order_id: String,
    pub provider: String,
    pub service_level: String,
    #[serde(default)]
    pub split_policy: Option<String>,
    #[serde(default)]
    pub backorder_policy: Option<String>,
    pub decided_at: DateTime<Utc>,
}

/// A shipment the partner reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerShipment {
    pub id: String,
    pub carrier: Option<String>,
    pub service_level: Option<String>,
    pub tracking_number: Option<String>,
    pub tracking_url: Option<String>,
    pub shipped_at: Option<DateTime<Utc>>,
}

/// The partner's side of a routed order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerState {
    /// The partner accepted the order.
    #[serde(default)]
    pub accepted: bool,
    /// The partner's own id of the order (MasonHub's uuid), once known.
    #[serde(default)]
    pub partner_id: Option<String>,
    /// The partner's status (`open`, `atWarehouse`, `fulfilled`, carrier statuses…), verbatim.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub shipments: Vec<PartnerShipment>,
    /// An update or cancel request waiting for its resolution callback.
    #[serde(default)]
    pub pending_request: Option<String>,
    /// Resolution callbacks already applied (MasonHub's resolution ids), so a redelivery adds nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resolutions: Vec<String>,
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
}

/// Partner statuses after which the order can no longer be changed or cancelled.
const SHIPPED_STATUSES: &[&str] = &[
    "fulfilled",
    "completed",
    "delivered",
    "partiallyTendered",
    "tendered",
    "partiallyInTransit",
    "inTransit",
    "partiallyDelivered",
    "undeliverable",
    "canceled",
];

impl PartnerState {
    pub fn shipped(&self) -> bool {
        !self.shipments.is_empty() || self.status.as_deref().is_some_and(|s| SHIPPED_STATUSES.contains(&s))
    }
}

/// The partner's order id for `key` of `shop`: `os-{8 hex of the shop's digest}-{channel}-{id}` (5–250
/// characters, as MasonHub's `customer_identifier` requires).
pub fn partner_order_id(shop: &ShopDomain, key: &OrderKey) -> String {
    format!("os-{}-{}-{}", shop_tag(shop), key.channel, key.id)
}

fn shop_tag(shop: &ShopDomain) -> String {
    Sha256::digest(shop.as_str().as_bytes()).iter().take(4).map(|b| format!("{b:02x}")).collect()
}

/// The order key named by a partner order id of `shop`; `None` when the id is not ours or names another
/// shop.
pub fn order_key_of(shop: &ShopDomain, partner_order_id: &str) -> Option<OrderKey> {
    let rest = partner_order_id.strip_prefix("os-")?;
    let (tag, rest) = rest.split_once('-')?;
    if tag != shop_tag(shop) {
        return None;
    }
    let (channel, id) = rest.split_once('-')?;
    Some(OrderKey::new(Channel::parse(channel).ok()?, ChannelOrderId::parse(id).ok()?))
}

/// An order is ready for fulfilment when it is paid, not on hold, not cancelled and not yet fulfilled.
pub fn is_ready(order: &Order) -> bool {
    matches!(order.financial_status, FinancialStatus::Paid | FinancialStatus::PartiallyRefunded)
        && !order.delivery.on_hold
        && order.cancelled_at.is_none()
        && order.fulfillment_status == FulfillmentStatus::Unfulfilled
}

/// Why an order is not ours to ship, if it is not: fulfilled by the channel (Amazon FBA), picked up
/// by the buyer, or digital only (every line needs no shipping). Such orders are never routed to a
/// partner, and never wait for tracking (no `tracking_pending`, no `delayed`).
pub fn not_ours_to_ship(order: &Order) -> Option<&'static str> {
    let delivery = &order.delivery;
    if delivery.fulfilled_by_channel {
        Some("fulfilled by the channel")
    } else if delivery.local_pickup {
        Some("local pickup")
    } else if !delivery.unshippable_lines.is_empty()
        && order.line_items.iter().all(|l| delivery.unshippable_lines.contains(&l.id))
    {
        Some("nothing to ship")
    } else {
        None
    }
}

/// Why an order was not routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotRouted {
    NotReady,
    Disabled,
    NoMatch,
    /// Not ours to ship: fulfilled by the channel, digital only, or local pickup.
    NotOurs(&'static str),
}

/// Decides the route of a ready order under `settings`.
pub fn decide(order: &Order, settings: &FulfilmentSettings, now: DateTime<Utc>) -> Result<Route, NotRouted> {
    if !is_ready(order) {
        return Err(NotRouted::NotReady);
    }
    if let Some(why) = not_ours_to_ship(order) {
        return Err(NotRouted::NotOurs(why));
    }
    if !settings.enabled {
        return Err(NotRouted::Disabled);
    }
    if !settings.matches(order) {
        return Err(NotRouted::NoMatch);
    }
    let (provider, service_level) = settings.shipping_for(order);
    Ok(Route {
        partner: settings.partner,
        partner_order_id: partner_order_id(&order.shop, &order.key()),
        provider,
        service_level,
        split_policy: settings.split_policy.clone(),
        backorder_policy: settings.backorder_policy.clone(),
        decided_at: now,
    })
}

/// What a partner is asked to do with a routed order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartnerAction {
    Create,
    Update,
    Cancel,
}

impl PartnerAction {
    pub fn as_str(self) -> &'static str {
        match self {
            PartnerAction::Create => "create",
            PartnerAction::Update => "update",
            PartnerAction::Cancel => "cancel",
        }
    }
}

/// One partner effect of an order change, keyed so that planning it again names the same effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerEffect {
    pub partner: Integration,
    pub action: PartnerAction,
    pub partner_order_id: String,
    /// The effect's idempotency key: `create:{id}`, `update:{id}:{content digest}`, `cancel:{id}`.
    pub id: String,
}

/// A digest of what a partner order carries (address, lines, shipping): an update is due when it changes.
pub fn content_digest(order: &Order) -> String {
    let lines: Vec<String> = order
        .line_items
        .iter()
        .filter(|l| !order.delivery.unshippable_lines.contains(&l.id))
        .map(|l| format!("{}|{}|{}", l.id, l.sku.as_deref().unwrap_or_default(), l.quantity))
        .collect();
    let text = format!(
        "{}\n{}\n{}",
        serde_json::to_string(&order.shipping_address).unwrap_or_default(),
        lines.join(";"),
        order.delivery.shipping_method.as_deref().unwrap_or_default()
    );
    Sha256::digest(text.as_bytes()).iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Plans the fulfilment consequences of writing `next` over `previous`: the route decided now (set on
/// `next`, with a timeline event), or the update or cancel a routed order's change asks for.
pub fn plan(
    previous: Option<&Order>,
    next: &mut Order,
    settings: Option<&FulfilmentSettings>,
    now: DateTime<Utc>,
) -> (Vec<super::TimelineEvent>, Vec<PartnerEffect>) {
    let mut events = Vec::new();
    let mut effects = Vec::new();
    match next.ops.route.clone() {
        None => {
            let Some(route) = settings.and_then(|s| decide(next, s, now).ok()) else {
                return (events, effects);
            };
            events.push(super::TimelineEvent::new(
                next.updated_at,
                "routed",
                format!("Routed to {} as {}", route.partner, route.partner_order_id),
            ));
            effects.push(PartnerEffect {
                partner: route.partner,
                action: PartnerAction::Create,
                id: format!("create:{}", route.partner_order_id),
                partner_order_id: route.partner_order_id.clone(),
            });
            next.ops.route = Some(route);
        }
        Some(route) => {
            let Some(previous) = previous else { return (events, effects) };
            let shipped = next.ops.partner.as_ref().is_some_and(PartnerState::shipped);
            if next.cancelled_at.is_some() && previous.cancelled_at.is_none() {
                if shipped {
                    events.push(super::TimelineEvent::new(
                        next.updated_at,
                        "partner_cancel_skipped",
                        format!("Cancelled after {} shipped it: nothing to cancel there", route.partner),
                    ));
                } else {
                    effects.push(PartnerEffect {
                        partner: route.partner,
                        action: PartnerAction::Cancel,
                        id: format!("cancel:{}", route.partner_order_id),
                        partner_order_id: route.partner_order_id.clone(),
                    });
                }
            } else if next.cancelled_at.is_none() && !shipped && content_digest(previous) != content_digest(next) {
                effects.push(PartnerEffect {
                    partner: route.partner,
                    action: PartnerAction::Update,
                    id: format!("update:{}:{}", route.partner_order_id, content_digest(next)),
                    partner_order_id: route.partner_order_id.clone(),
                });
            }
        }
    }
    (events, effects)
}

/// Seed 004's retry ladder: the first attempt at once, then after 1, 2, 5 and 10 seconds; a message
/// that fails all five is dead-lettered.
pub const RETRY_LADDER_SECONDS: [u32; 4] = [1, 2, 5, 10];

/// The delay before attempt `attempt + 1` after attempt `attempt` (0-based) failed, or `None` when
/// the ladder is spent.
pub fn retry_delay(attempt: u32) -> Option<u32> {
    RetryLadder::PARTNER.delay(attempt)
}

/// The longest delay SQS gives one message (`DelaySeconds`).
pub const MAX_QUEUE_DELAY_SECONDS: u32 = 900;

/// Shopify pushes back off for longer than an outage of Shopify's own retry window (4 hours): 1 s,
/// 5 s, 30 s, 1, 2, 5 and 10 minutes, then every 15 minutes (the longest SQS delay), 4 h 3 min in all.
pub const SHOPIFY_RETRY_SECONDS: [u32; 22] =
    [1, 5, 30, 60, 120, 300, 600, 900, 900, 900, 900, 900, 900, 900, 900, 900, 900, 900, 900, 900, 900, 900];

/// A retry ladder: the delays, in seconds (each at most [`MAX_QUEUE_DELAY_SECONDS`]), before the
/// attempts after the first; a message that fails every rung is dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryLadder(pub &'static [u32]);

impl RetryLadder {
    /// Seed 004's ladder for fulfilment partners.
    pub const PARTNER: RetryLadder = RetryLadder(&RETRY_LADDER_SECONDS);
    /// Shopify's pushes: long enough to ride out a Shopify outage.
    pub const SHOPIFY: RetryLadder = RetryLadder(&SHOPIFY_RETRY_SECONDS);

    /// The delay before attempt `attempt + 1` after attempt `attempt` (0-based) failed, or `None` when
    /// the ladder is spent.
    pub fn delay(self, attempt: u32) -> Option<u32> {
        self.0.get(attempt as usize).copied()
    }

    /// How many attempts the ladder allows in all.
    pub fn attempts(self) -> u32 {
        u32::try_from(self.0.len()).unwrap_or(u32::MAX).saturating_add(1)
    }

    /// The time from the first attempt to the last.
    pub fn span(self) -> Duration {
        Duration::seconds(self.0.iter().map(|s| i64::from(*s)).sum())
    }
}

/// A token bucket: `capacity` tokens, refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenBucket {
    pub capacity: f64,
    pub per_second: f64,
    tokens: f64,
    at: DateTime<Utc>,
}

impl TokenBucket {
    pub fn new(capacity: u32, per_second: f64, now: DateTime<Utc>) -> Self {
        let capacity = f64::from(capacity.max(1));
        Self { capacity, per_second: per_second.max(0.001), tokens: capacity, at: now }
    }

    /// Takes a token, or says how long until one is available.
    pub fn take(&mut self, now: DateTime<Utc>) -> Result<(), Duration> {
        let elapsed = (now - self.at).num_milliseconds().max(0) as f64 / 1000.0;
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - self.tokens) / self.per_second;
            Err(Duration::milliseconds((wait * 1000.0).ceil() as i64))
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::{LineItem, Money, order::tests::sample_order};

    fn settings(rule: RouteRule) -> FulfilmentSettings {
        FulfilmentSettings {
            enabled: true,
            partner: Integration::MasonHub,
            rule,
            shipping: vec![ShippingMapping {
                shipping_method: "Express".into(),
                provider: "UPS".into(),
                service_level: "nextDay".into(),
            }],
            default_provider: "masonhub".into(),
            default_service_level: "ground".into(),
            split_policy: None,
            backorder_policy: None,
        }
    }

    fn paid(id: &str) -> Order {
        let mut order = sample_order("a.myshopify.com", id, 1);
        order.financial_status = FinancialStatus::Paid;
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

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap()
    }

    #[test]
    fn a_ready_order_is_routed_once_with_its_mapped_shipping() {
        let mut order = paid("1001");
        order.delivery.shipping_method = Some("express".into());
        let (events, effects) = plan(None, &mut order, Some(&settings(RouteRule::All)), now());
        let route = order.ops.route.clone().unwrap();
        assert_eq!((route.provider.as_str(), route.service_level.as_str()), ("UPS", "nextDay"));
        assert_eq!(effects.len(), 1);
        assert_eq!(effects[0].id, format!("create:{}", route.partner_order_id));
        assert_eq!(events[0].event, "routed");
        let previous = order.clone();
        let (_, again) = plan(Some(&previous), &mut order, Some(&settings(RouteRule::All)), now());
        assert!(again.is_empty(), "decided once");
    }

    #[test]
    fn the_shopify_ladder_outlasts_shopifys_four_hour_window_within_sqs_delays() {
        assert!(RetryLadder::SHOPIFY.span() >= Duration::hours(4));
        assert!(RetryLadder::SHOPIFY.0.iter().all(|d| *d >= 1 && *d <= MAX_QUEUE_DELAY_SECONDS));
        assert!(RetryLadder::SHOPIFY.0.windows(2).all(|w| w[0] <= w[1]), "backs off");
        assert_eq!(RetryLadder::SHOPIFY.delay(0), Some(1));
        assert_eq!(RetryLadder::SHOPIFY.delay(22), None);
        assert_eq!((RetryLadder::PARTNER.attempts(), retry_delay(3), retry_delay(4)), (5, Some(10), None));
    }

    #[test]
    fn orders_that_are_not_ours_or_not_ready_are_never_routed() {
        let all = settings(RouteRule::All);
        let mut unpaid = paid("1");
        unpaid.financial_status = FinancialStatus::Pending;
        assert_eq!(decide(&unpaid, &all, now()), Err(NotRouted::NotReady));
        let mut fba = paid("2");
        fba.delivery.fulfilled_by_channel = true;
        assert!(matches!(decide(&fba, &all, now()), Err(NotRouted::NotOurs(_))));
        let mut pickup = paid("3");
        pickup.delivery.local_pickup = true;
        assert!(matches!(decide(&pickup, &all, now()), Err(NotRouted::NotOurs(_))));
        let mut digital = paid("4");
        digital.delivery.unshippable_lines = vec!["l1".into()];
        assert!(matches!(decide(&digital, &all, now()), Err(NotRouted::NotOurs(_))));
        let mut held = paid("5");
        held.delivery.on_hold = true;
        assert_eq!(decide(&held, &all, now()), Err(NotRouted::NotReady));
        let by_tag = settings(RouteRule::Tag { tags: vec!["3pl".into()] });
        assert_eq!(decide(&paid("6"), &by_tag, now()), Err(NotRouted::NoMatch));
        let mut tagged = paid("7");
        tagged.delivery.tags = vec!["3PL".into()];
        assert!(decide(&tagged, &by_tag, now()).is_ok());
        let by_sku = settings(RouteRule::SkuPrefix { prefixes: vec!["SHIRT".into()] });
        assert!(decide(&paid("8"), &by_sku, now()).is_ok());
        let by_channel = settings(RouteRule::Channel { channels: vec![Channel::Amazon] });
        assert_eq!(decide(&paid("9"), &by_channel, now()), Err(NotRouted::NoMatch));
    }

    #[test]
    fn changes_before_shipping_update_and_a_cancel_cancels_at_the_partner() {
        let all = settings(RouteRule::All);
        let mut order = paid("1001");
        plan(None, &mut order, Some(&all), now());
        let before = order.clone();
        order.shipping_address = Some(crate::domain::Address { city: Some("Paris".into()), ..Default::default() });
        let (_, effects) = plan(Some(&before), &mut order, Some(&all), now());
        assert_eq!(effects.iter().map(|e| e.action).collect::<Vec<_>>(), [PartnerAction::Update]);
        let before = order.clone();
        order.cancelled_at = Some(now());
        let (_, effects) = plan(Some(&before), &mut order, Some(&all), now());
        assert_eq!(effects.iter().map(|e| e.action).collect::<Vec<_>>(), [PartnerAction::Cancel]);
    }

    #[test]
    fn partner_order_ids_round_trip_only_for_their_shop() {
        let shop = ShopDomain::parse("a.myshopify.com").unwrap();
        let key = OrderKey::parse("shopify:1001").unwrap();
        let id = partner_order_id(&shop, &key);
        assert!((5..=250).contains(&id.len()));
        assert_eq!(order_key_of(&shop, &id), Some(key));
        assert_eq!(order_key_of(&ShopDomain::parse("b.myshopify.com").unwrap(), &id), None);
        assert_eq!(order_key_of(&shop, "129374"), None);
    }

    #[test]
    fn settings_are_validated() {
        assert!(settings(RouteRule::All).validate().is_ok());
        assert_eq!(settings(RouteRule::Tag { tags: vec![] }).validate().unwrap_err().code, "INVALID_RULE");
        let mut bad = settings(RouteRule::All);
        bad.split_policy = Some(" ".into());
        assert_eq!(bad.validate().unwrap_err().code, "INVALID_SPLIT_POLICY");
        bad.split_policy = None;
        bad.default_provider = " ".into();
        assert_eq!(bad.validate().unwrap_err().code, "INVALID_SHIPPING");
    }

    #[test]
    fn the_ladder_and_the_bucket() {
        assert_eq!((0..5).map(retry_delay).collect::<Vec<_>>(), [Some(1), Some(2), Some(5), Some(10), None]);
        let mut bucket = TokenBucket::new(2, 1.0, now());
        assert!(bucket.take(now()).is_ok());
        assert!(bucket.take(now()).is_ok());
        assert_eq!(bucket.take(now()), Err(Duration::milliseconds(1000)));
        assert!(bucket.take(now() + Duration::seconds(1)).is_ok());
    }
}
