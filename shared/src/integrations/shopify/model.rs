//! Shopify's REST-shaped order JSON, as delivered by `orders/*` webhooks, and its mapping to [`Order`].
//! Only the fields we use are declared; everything else in the payload is ignored. Ids arrive as
//! int64 numbers larger than 2^53, so they are read as numbers or strings and kept as strings.

use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Deserializer};

use crate::domain::{
    Address, Channel, ChannelOrderId, Customer, DeliveryFacts, FinancialStatus, Fulfillment, FulfillmentStatus,
    LineItem, Money, Order, OrderName, PaymentTransaction, Product, ShopDomain, Variant, product::size_and_color,
};

#[derive(Debug, Deserialize)]
pub struct ShopifyOrder {
    #[serde(deserialize_with = "id_string")]
    pub id: String,
    pub admin_graphql_api_id: Option<String>,
    pub name: String,
    pub created_at: DateTime<FixedOffset>,
    pub updated_at: DateTime<FixedOffset>,
    pub cancelled_at: Option<DateTime<FixedOffset>>,
    pub currency: String,
    pub total_price: String,
    pub financial_status: Option<String>,
    pub fulfillment_status: Option<String>,
    pub email: Option<String>,
    #[serde(default)]
    pub line_items: Vec<ShopifyLineItem>,
    pub customer: Option<ShopifyCustomer>,
    pub shipping_address: Option<ShopifyAddress>,
    #[serde(default)]
    pub fulfillments: Vec<ShopifyFulfillment>,
    /// Comma-separated.
    #[serde(default)]
    pub tags: Option<String>,
    #[serde(default)]
    pub shipping_lines: Vec<ShopifyShippingLine>,
}

#[derive(Debug, Deserialize)]
pub struct ShopifyShippingLine {
    pub title: Option<String>,
    pub code: Option<String>,
    pub source: Option<String>,
}

impl ShopifyShippingLine {
    /// Shopify's pickup lines (`source` `shopify` with a pickup code, or a title naming pickup).
    fn is_pickup(&self) -> bool {
        let mentions = |v: &Option<String>| v.as_deref().is_some_and(|t| t.to_ascii_lowercase().contains("pickup"));
        mentions(&self.code) || mentions(&self.title) || mentions(&self.source)
    }
}

#[derive(Debug, Deserialize)]
pub struct ShopifyLineItem {
    #[serde(deserialize_with = "id_string")]
    pub id: String,
    pub title: String,
    pub sku: Option<String>,
    #[serde(default, deserialize_with = "opt_id_string")]
    pub variant_id: Option<String>,
    pub quantity: u32,
    pub price: String,
    #[serde(default)]
    pub requires_shipping: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub struct ShopifyCustomer {
    #[serde(default, deserialize_with = "opt_id_string")]
    pub id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ShopifyAddress {
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

#[derive(Debug, Deserialize)]
pub struct ShopifyFulfillment {
    #[serde(deserialize_with = "id_string")]
    pub id: String,
    pub status: Option<String>,
    pub shipment_status: Option<String>,
    pub tracking_company: Option<String>,
    #[serde(default)]
    pub tracking_numbers: Vec<String>,
    pub tracking_number: Option<String>,
    #[serde(default)]
    pub tracking_urls: Vec<String>,
    pub created_at: Option<DateTime<FixedOffset>>,
    pub updated_at: Option<DateTime<FixedOffset>>,
}

/// A `fulfillments/*` webhook body: a fulfilment of order `order_id`.
#[derive(Debug, Deserialize)]
pub struct ShopifyFulfillmentEvent {
    #[serde(deserialize_with = "id_string")]
    pub order_id: String,
    pub name: Option<String>,
    #[serde(flatten)]
    pub fulfillment: ShopifyFulfillment,
}

/// A `refunds/create` webhook body.
#[derive(Debug, Deserialize)]
pub struct ShopifyRefund {
    #[serde(deserialize_with = "id_string")]
    pub id: String,
    #[serde(deserialize_with = "id_string")]
    pub order_id: String,
    pub created_at: DateTime<FixedOffset>,
    #[serde(default)]
    pub transactions: Vec<ShopifyTransaction>,
}

#[derive(Debug, Deserialize)]
pub struct ShopifyTransaction {
    #[serde(default, deserialize_with = "opt_id_string")]
    pub id: Option<String>,
    pub amount: String,
    pub kind: Option<String>,
    pub status: Option<String>,
    #[serde(default)]
    pub currency: Option<String>,
}

/// An `order_transactions/create` webhook body: one transaction (REST `Transaction`) of order `order_id`.
#[derive(Debug, Deserialize)]
pub struct ShopifyOrderTransaction {
    #[serde(deserialize_with = "id_string")]
    pub id: String,
    #[serde(deserialize_with = "id_string")]
    pub order_id: String,
    pub kind: String,
    pub status: Option<String>,
    pub amount: String,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub gateway: Option<String>,
    #[serde(default)]
    pub processed_at: Option<DateTime<FixedOffset>>,
    #[serde(default)]
    pub created_at: Option<DateTime<FixedOffset>>,
}

impl ShopifyOrderTransaction {
    /// The canonical transaction when it moved money in (a successful sale or capture); `None` for
    /// authorizations, voids, refunds and failed attempts. `currency` stands in when the body has none.
    pub fn captured(&self, currency: &str) -> Result<Option<PaymentTransaction>, MapError> {
        if !PaymentTransaction::is_captured(&self.kind, self.status.as_deref()) {
            return Ok(None);
        }
        let currency = self.currency.as_deref().filter(|c| !c.is_empty()).unwrap_or(currency);
        Ok(Some(PaymentTransaction {
            id: self.id.clone(),
            kind: self.kind.to_ascii_lowercase(),
            amount: Money::new(&self.amount, currency).map_err(|e| invalid("amount", e))?,
            gateway: self.gateway.clone(),
            processed_at: self.processed_at.or(self.created_at).map(|t| t.with_timezone(&Utc)),
        }))
    }
}

/// An `orders/edited` webhook body.
#[derive(Debug, Deserialize)]
pub struct ShopifyOrderEdited {
    pub order_edit: ShopifyOrderEdit,
}

#[derive(Debug, Deserialize)]
pub struct ShopifyOrderEdit {
    #[serde(default, deserialize_with = "opt_id_string")]
    pub id: Option<String>,
    #[serde(deserialize_with = "id_string")]
    pub order_id: String,
    pub created_at: DateTime<FixedOffset>,
    pub committed_at: Option<DateTime<FixedOffset>>,
    pub line_items: Option<ShopifyEditChanges>,
}

#[derive(Debug, Deserialize)]
pub struct ShopifyEditChanges {
    #[serde(default)]
    pub additions: Vec<serde_json::Value>,
    #[serde(default)]
    pub removals: Vec<serde_json::Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum MapError {
    #[error("order payload is not valid: {0}")]
    Json(#[from] serde_json::Error),
    #[error("order field `{field}` is invalid: {reason}")]
    Field { field: &'static str, reason: String },
}

impl ShopifyOrder {
    /// Maps the wire order into the canonical order of `shop`, at version 0 (the store assigns versions).
    pub fn into_order(self, shop: ShopDomain) -> Result<Order, MapError> {
        let channel_order_id = ChannelOrderId::parse(&self.id).map_err(|e| invalid("id", e))?;
        let delivery = DeliveryFacts {
            tags: self
                .tags
                .as_deref()
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect(),
            shipping_method: self.shipping_lines.first().and_then(|l| l.title.clone()),
            local_pickup: !self.shipping_lines.is_empty() && self.shipping_lines.iter().all(|l| l.is_pickup()),
            fulfilled_by_channel: false,
            unshippable_lines: self
                .line_items
                .iter()
                .filter(|l| l.requires_shipping == Some(false))
                .map(|l| l.id.clone())
                .collect(),
            on_hold: false,
        };
        let total = Money::new(&self.total_price, &self.currency).map_err(|e| invalid("total_price", e))?;
        let line_items = self
            .line_items
            .into_iter()
            .map(|item| {
                Ok(LineItem {
                    price: Money::new(&item.price, &self.currency).map_err(|e| invalid("line_items.price", e))?,
                    id: item.id,
                    title: item.title,
                    sku: item.sku.filter(|s| !s.is_empty()),
                    variant_id: item.variant_id,
                    quantity: item.quantity,
                    source: None,
                    source_order_item_id: None,
                })
            })
            .collect::<Result<Vec<_>, MapError>>()?;
        let customer = self.customer.map(|c| Customer {
            id: c.id,
            name: join_name(c.first_name, c.last_name),
            email: c.email.or_else(|| self.email.clone()),
        });
        Ok(Order {
            shop,
            channel: Channel::Shopify,
            channel_order_id,
            admin_graphql_api_id: self.admin_graphql_api_id,
            name: OrderName::new(self.name),
            created_at: self.created_at.with_timezone(&Utc),
            updated_at: self.updated_at.with_timezone(&Utc),
            cancelled_at: self.cancelled_at.map(|t| t.with_timezone(&Utc)),
            financial_status: FinancialStatus::parse(self.financial_status.as_deref().unwrap_or("pending")),
            fulfillment_status: fulfillment_status(self.fulfillment_status.as_deref()),
            total,
            line_items,
            customer,
            shipping_address: self.shipping_address.map(|a| Address {
                name: a.name,
                company: a.company,
                address1: a.address1,
                address2: a.address2,
                city: a.city,
                province_code: a.province_code,
                zip: a.zip,
                country_code: a.country_code,
                phone: a.phone,
            }),
            fulfillments: self.fulfillments.into_iter().map(Fulfillment::from).collect(),
            transactions: Vec::new(),
            delivery,
            ops: Default::default(),
            version: 0,
        })
    }

    /// Parses an `orders/*` webhook body and maps it.
    pub fn parse(payload: &serde_json::Value, shop: ShopDomain) -> Result<Order, MapError> {
        ShopifyOrder::deserialize(payload)?.into_order(shop)
    }
}

impl From<ShopifyFulfillment> for Fulfillment {
    fn from(f: ShopifyFulfillment) -> Self {
        let mut tracking_numbers = f.tracking_numbers;
        if tracking_numbers.is_empty() {
            tracking_numbers.extend(f.tracking_number.filter(|n| !n.is_empty()));
        }
        Fulfillment {
            id: f.id,
            status: f.status.unwrap_or_else(|| "pending".to_owned()),
            shipment_status: f.shipment_status,
            tracking_company: f.tracking_company,
            tracking_numbers,
            tracking_urls: f.tracking_urls,
            created_at: f.created_at.map(|t| t.with_timezone(&Utc)),
            updated_at: f.updated_at.map(|t| t.with_timezone(&Utc)),
        }
    }
}

fn invalid(field: &'static str, reason: impl std::fmt::Display) -> MapError {
    MapError::Field { field, reason: reason.to_string() }
}

fn fulfillment_status(raw: Option<&str>) -> FulfillmentStatus {
    match raw {
        None | Some("") | Some("null") | Some("unfulfilled") => FulfillmentStatus::Unfulfilled,
        Some("partial") => FulfillmentStatus::PartiallyFulfilled,
        Some(other) => FulfillmentStatus::parse(other),
    }
}

fn join_name(first: Option<String>, last: Option<String>) -> Option<String> {
    let name = [first, last].into_iter().flatten().filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" ");
    (!name.is_empty()).then_some(name)
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NumOrString {
    Num(u64),
    Str(String),
}

/// A product as the `products/*` webhooks deliver it.
#[derive(Debug, Deserialize)]
pub struct ShopifyProduct {
    #[serde(deserialize_with = "id_string")]
    pub id: String,
    pub title: String,
    pub status: Option<String>,
    #[serde(default)]
    pub body_html: Option<String>,
    pub updated_at: DateTime<FixedOffset>,
    #[serde(default)]
    pub options: Vec<ShopifyOption>,
    #[serde(default)]
    pub variants: Vec<ShopifyVariant>,
}

#[derive(Debug, Deserialize)]
pub struct ShopifyOption {
    pub name: String,
    pub position: Option<usize>,
}

#[derive(Debug, Deserialize)]
pub struct ShopifyVariant {
    #[serde(deserialize_with = "id_string")]
    pub id: String,
    pub title: String,
    pub sku: Option<String>,
    pub price: Option<String>,
    pub option1: Option<String>,
    pub option2: Option<String>,
    pub option3: Option<String>,
    #[serde(default, deserialize_with = "opt_id_string")]
    pub inventory_item_id: Option<String>,
    #[serde(default)]
    pub inventory_quantity: i64,
}

impl ShopifyProduct {
    pub fn into_product(self, shop: ShopDomain) -> Product {
        // `optionN` is the value of the option at position N.
        let names: Vec<(usize, String)> =
            self.options.iter().enumerate().map(|(i, o)| (o.position.unwrap_or(i + 1), o.name.clone())).collect();
        let name_at = |position: usize| names.iter().find(|(p, _)| *p == position).map(|(_, n)| n.as_str());
        let variants = self
            .variants
            .into_iter()
            .map(|v| {
                let values = [(1, &v.option1), (2, &v.option2), (3, &v.option3)];
                let pairs = values.iter().filter_map(|(p, value)| Some((name_at(*p)?, value.as_deref()?)));
                let (size, color) = size_and_color(pairs);
                Variant {
                    id: v.id,
                    title: v.title,
                    sku: v.sku.filter(|s| !s.is_empty()),
                    price: v.price,
                    size,
                    color,
                    option1: v.option1,
                    option2: v.option2,
                    option3: v.option3,
                    inventory_item_id: v.inventory_item_id,
                    inventory_quantity: v.inventory_quantity,
                    levels: Default::default(),
                }
            })
            .collect();
        Product {
            shop,
            id: self.id,
            title: self.title,
            status: self.status,
            description: self.body_html.as_deref().map(crate::domain::product::plain_text),
            updated_at: self.updated_at.with_timezone(&Utc),
            variants,
        }
    }
}

/// The body of `inventory_levels/update`.
#[derive(Debug, Deserialize)]
pub struct ShopifyInventoryLevel {
    #[serde(deserialize_with = "id_string")]
    pub inventory_item_id: String,
    #[serde(deserialize_with = "id_string")]
    pub location_id: String,
    pub available: Option<i64>,
    pub updated_at: DateTime<FixedOffset>,
}

/// The body of `products/delete`.
#[derive(Debug, Deserialize)]
pub struct ShopifyDeleted {
    #[serde(deserialize_with = "id_string")]
    pub id: String,
}

fn id_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match NumOrString::deserialize(d)? {
        NumOrString::Num(n) => n.to_string(),
        NumOrString::Str(s) => s,
    })
}

fn opt_id_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<NumOrString>::deserialize(d)?.map(|v| match v {
        NumOrString::Num(n) => n.to_string(),
        NumOrString::Str(s) => s,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shop() -> ShopDomain {
        ShopDomain::parse("a.myshopify.com").unwrap()
    }

    #[test]
    fn a_minimal_order_maps_with_defaults() {
        let payload = serde_json::json!({
            "id": 820982911946154508u64, "name": "#1001", "created_at": "2026-01-01T10:00:00-05:00",
            "updated_at": "2026-01-01T11:00:00-05:00", "currency": "usd", "total_price": "10.00",
            "financial_status": "paid", "fulfillment_status": "partial",
            "line_items": [{"id": 1, "title": "Hat", "quantity": 2, "price": "5.00", "variant_id": null, "sku": ""}]
        });
        let order = ShopifyOrder::parse(&payload, shop()).unwrap();
        assert_eq!(order.channel_order_id.as_str(), "820982911946154508");
        assert_eq!(order.updated_at.to_rfc3339(), "2026-01-01T16:00:00+00:00");
        assert_eq!(order.financial_status, FinancialStatus::Paid);
        assert_eq!(order.fulfillment_status, FulfillmentStatus::PartiallyFulfilled);
        assert_eq!(order.total, Money::new("10.00", "USD").unwrap());
        assert_eq!(order.line_items[0].sku, None);
    }

    #[test]
    fn a_bad_amount_or_missing_field_is_an_error_not_a_default() {
        let mut payload = serde_json::json!({
            "id": 1, "name": "#1", "created_at": "2026-01-01T10:00:00Z", "updated_at": "2026-01-01T10:00:00Z",
            "currency": "USD", "total_price": "ten"
        });
        assert!(matches!(ShopifyOrder::parse(&payload, shop()), Err(MapError::Field { field: "total_price", .. })));
        payload.as_object_mut().unwrap().remove("updated_at");
        assert!(matches!(ShopifyOrder::parse(&payload, shop()), Err(MapError::Json(_))));
    }
}
