//! MasonHub's wire model, with the spec's own field names, and the mapping of a routed canonical order
//! to an order record. The vocabularies below are the spec's enums (`public_dereferenced.yaml`), which
//! the shop's fulfilment settings are checked against.

use chrono::SecondsFormat;
use serde::{Deserialize, Serialize};

use crate::domain::{Order, Route};

/// `shipping_provider` values.
pub const PROVIDERS: &[&str] = &["masonhub", "UPS", "USPS", "DHL", "willCall"];
/// `shipper_service_level` values.
pub const SERVICE_LEVELS: &[&str] = &[
    "nextDay",
    "standardOvernight",
    "priorityOvernight",
    "2Day",
    "2-day",
    "3-day",
    "guaranteed2Day",
    "ground",
    "groundSelect",
    "priority",
    "LTL",
    "FTL",
    "willCall",
    "international",
];
/// `split_policy` values.
pub const SPLIT_POLICIES: &[&str] = &["manual", "auto"];
/// `backorder_policy` values.
pub const BACKORDER_POLICIES: &[&str] = &["forceBackorder", "default"];
/// The callback message types we register and handle.
pub const CALLBACK_TYPES: &[&str] =
    &["orderEvent", "orderUpdateResolution", "orderCancelResolution", "skuInventoryChange"];
/// Most records per `POST /orders` (and update, cancel, callbacks).
pub const MAX_BATCH: usize = 30;

/// An order record of `POST /orders` and `POST /order_update_requests` (full replacement).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderRecord {
    pub customer_identifier: String,
    pub packing_slip_order_id: String,
    pub order_type: String,
    pub shipping_provider: String,
    pub shipper_service_level: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_email: Option<String>,
    pub shipping_address_name: String,
    pub shipping_address_street_line_one: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shipping_address_street_line_two: Option<String>,
    pub shipping_address_city: String,
    pub shipping_address_locale: String,
    pub shipping_address_postal_code: String,
    pub shipping_address_country_code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shipping_address_phone_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub split_policy: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backorder_policy: Option<String>,
    pub currency_code: String,
    pub submitted_at: String,
    pub line_items: Vec<LineRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineRecord {
    pub sku_customer_id: String,
    pub quantity: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<f64>,
}

/// An entry of `POST /order_cancel_requests`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelRecord {
    pub customer_identifier: String,
}

/// An entry of `POST /callbacks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackRecord {
    pub url: String,
    pub message_type: String,
    pub api_version: String,
    pub token: String,
}

/// Why an order cannot become a MasonHub record; the order is refused, never sent half-empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the order cannot be sent to MasonHub: {0}")]
pub struct Unmappable(pub String);

/// The order record of `order` on `route`. MasonHub requires a complete shipping address and SKUs it
/// knows; lines without a SKU or that need no shipping are left out.
pub fn order_record(order: &Order, route: &Route) -> Result<OrderRecord, Unmappable> {
    let address = order.shipping_address.as_ref().ok_or_else(|| Unmappable("it has no shipping address".into()))?;
    let field = |value: &Option<String>, name: &str| {
        value
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| Unmappable(format!("its shipping address has no {name}")))
    };
    let name = address
        .name
        .clone()
        .or_else(|| order.customer.as_ref().and_then(|c| c.name.clone()))
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| Unmappable("its shipping address has no name".into()))?;
    let line_items: Vec<LineRecord> = order
        .line_items
        .iter()
        .filter(|l| !order.delivery.unshippable_lines.contains(&l.id))
        .filter_map(|l| {
            let sku = l.sku.as_deref().map(str::trim).filter(|s| !s.is_empty())?;
            Some(LineRecord {
                sku_customer_id: sku.to_owned(),
                quantity: l.quantity,
                price: l.price.amount.parse::<f64>().ok(),
            })
        })
        .collect();
    if line_items.is_empty() {
        return Err(Unmappable("none of its lines has a SKU to ship".into()));
    }
    Ok(OrderRecord {
        customer_identifier: route.partner_order_id.clone(),
        packing_slip_order_id: order.name.as_str().to_owned(),
        order_type: "customer".into(),
        shipping_provider: route.provider.clone(),
        shipper_service_level: route.service_level.clone(),
        customer_email: order.customer.as_ref().and_then(|c| c.email.clone()),
        shipping_address_name: name,
        shipping_address_street_line_one: field(&address.address1, "street")?,
        shipping_address_street_line_two: address.address2.clone().filter(|a| !a.trim().is_empty()),
        shipping_address_city: field(&address.city, "city")?,
        shipping_address_locale: field(&address.province_code, "province or state")?,
        shipping_address_postal_code: field(&address.zip, "postal code")?,
        shipping_address_country_code: field(&address.country_code, "country")?,
        shipping_address_phone_number: address.phone.clone().filter(|p| !p.trim().is_empty()),
        split_policy: route.split_policy.clone(),
        backorder_policy: route.backorder_policy.clone(),
        currency_code: order.total.currency.clone(),
        submitted_at: order.created_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        line_items,
    })
}

/// The HTTP 200 body of a batch: counts and one result per record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchResult {
    #[serde(default)]
    pub records_submitted: u32,
    #[serde(default)]
    pub records_failed: u32,
    #[serde(default)]
    pub records_succeeded: u32,
    #[serde(default)]
    pub results: Vec<RecordResult>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordResult {
    #[serde(default)]
    pub customer_identifier: Option<String>,
    #[serde(default)]
    pub system_id: Option<String>,
    /// `Success` / `Failure` (the spec's examples capitalise; the docs do not).
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub messages: Vec<serde_json::Value>,
}

impl RecordResult {
    pub fn succeeded(&self) -> bool {
        self.status.eq_ignore_ascii_case("success")
    }

    /// The record's messages in one line (`field: error; …`).
    pub fn message(&self) -> String {
        let parts: Vec<String> = self
            .messages
            .iter()
            .map(|m| match m {
                serde_json::Value::String(text) => text.clone(),
                other => {
                    let field = other.get("field_name").and_then(|f| f.as_str()).unwrap_or_default();
                    let errors: Vec<String> = other
                        .get("errors")
                        .and_then(|e| e.as_array())
                        .map(|e| e.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
                        .unwrap_or_default();
                    if field.is_empty() { errors.join(", ") } else { format!("{field}: {}", errors.join(", ")) }
                }
            })
            .collect();
        if parts.is_empty() { format!("record {}", self.status) } else { parts.join("; ") }
    }

    /// A failure that says the order already exists at MasonHub: a create sent twice (a replay, a race)
    /// is then done already.
    pub fn already_exists(&self) -> bool {
        !self.succeeded() && self.message().contains("already taken")
    }
}

/// One callback delivery's envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Callback {
    #[serde(default)]
    pub callback_url: Option<String>,
    pub message_type: String,
    pub message_id: String,
    #[serde(default)]
    pub data: Vec<serde_json::Value>,
}

/// An `orderEvent` entry (only what we use).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct OrderEvent {
    /// MasonHub's uuid (`id` in the published example, `order_id` in the design card).
    #[serde(default, alias = "order_id")]
    pub id: Option<String>,
    pub customer_identifier: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub shipments: Vec<Shipment>,
    #[serde(default)]
    pub shorts: Vec<Short>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Shipment {
    pub shipment_id: String,
    #[serde(default)]
    pub shipping_provider: Option<String>,
    #[serde(default, alias = "shipping_service_level")]
    pub shipper_service_level: Option<String>,
    #[serde(default)]
    pub tracking_number: Option<String>,
    #[serde(default)]
    pub tracking_url: Option<String>,
    #[serde(default)]
    pub shipment_date_time: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Short {
    pub sku_customer_id: String,
    #[serde(default)]
    pub quantity: Option<i64>,
    #[serde(default)]
    pub reason: Option<String>,
}

/// An `orderUpdateResolution` / `orderCancelResolution` entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Resolution {
    #[serde(default)]
    pub id: Option<String>,
    pub customer_order_id: String,
    pub status: String,
}

impl Resolution {
    pub fn succeeded(&self) -> bool {
        self.status.eq_ignore_ascii_case("success")
    }
}

/// A `skuInventoryChange` entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SkuInventory {
    pub customer_identifier: String,
    #[serde(default)]
    pub total_available_to_sell: Option<i64>,
    #[serde(default)]
    pub total_units: Option<i64>,
    #[serde(default)]
    pub as_of: Option<String>,
}
