//! Amazon orders and order items as we keep them, parsed leniently from either Orders API: v0
//! (`getOrders` / `getOrderItems`, PascalCase, `payload` wrapper) or v2026-01-01 (`searchOrders` /
//! `getOrder`, camelCase, items inside the order). The sandbox data is odd (epoch strings such as
//! `"1.569521782042E9"` in date fields, 1970 dates, orders without totals), so every field is read
//! tolerantly; only the ids are required. The raw payload is kept verbatim beside the parsed fields.

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::{
    Address, Channel, ChannelOrderId, Customer, FinancialStatus, Fulfillment, FulfillmentStatus, LineItem, Money,
    Order, OrderName, ShopDomain,
};

/// An order as Amazon reported it, unique per (amazon_order_id, marketplace_id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AmazonOrder {
    pub amazon_order_id: String,
    pub marketplace_id: String,
    pub purchase_date: DateTime<Utc>,
    pub last_update_date: DateTime<Utc>,
    /// v0 `OrderStatus` (`Unshipped`, …) or v2026 `fulfillment.fulfillmentStatus` (`UNSHIPPED`, …).
    pub order_status: String,
    /// v0 `OrderTotal`, v2026 `proceeds.grandTotal`; absent on pending orders.
    pub order_total: Option<Money>,
    pub fulfillment_channel: Option<String>,
    pub raw_payload: Value,
}

/// A line of an Amazon order, unique per order_item_id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AmazonOrderItem {
    pub order_item_id: String,
    pub amazon_order_id: String,
    pub marketplace_id: String,
    pub seller_sku: Option<String>,
    pub asin: Option<String>,
    pub title: Option<String>,
    pub quantity_ordered: u32,
    /// v0 `ItemPrice` (for the line's whole quantity) or v2026 `product.price.unitPrice` (per unit).
    /// Absent while an order is pending.
    pub item_price: Option<Money>,
    pub raw_payload: Value,
}

/// Why a payload was not usable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ModelError {
    #[error("field `{0}` is missing or malformed")]
    Field(&'static str),
}

/// The default currency of the main marketplaces
/// (<https://developer-docs.amazon.com/sp-api/docs/marketplace-ids>), for orders that carry no amount
/// yet (pending orders have no `OrderTotal`).
pub fn marketplace_currency(marketplace_id: &str) -> Option<&'static str> {
    Some(match marketplace_id {
        "ATVPDKIKX0DER" => "USD",
        "A2EUQ1WTGCTBG2" => "CAD",
        "A1AM78C64UM0Y8" => "MXN",
        "A2Q3Y263D00KWC" => "BRL",
        "A1F83G8C2ARO7P" => "GBP",
        "A1PA6795UKMFR9" | "A13V1IB3VIYZZH" | "APJ6JRA9NG5V4" | "A1RKKUPIHCS9HS" | "A1805IZSGTT6HS" => "EUR",
        "A2NODRKZP88ZB9" => "SEK",
        "A1C3SOZRARQ6R3" => "PLN",
        "A33AVAJ2PDY3EV" => "TRY",
        "A21TJRUUN4KGV" => "INR",
        "A1VC38T7YXB528" => "JPY",
        "A39IBJ37TRP1C6" => "AUD",
        "A19VAU5U5O7RUS" => "SGD",
        _ => return None,
    })
}

/// A date as the sandbox and production send them: RFC 3339, or epoch seconds as a number or string
/// (`"1.569521782042E9"`). `None` for anything else.
pub fn lenient_date(value: &Value) -> Option<DateTime<Utc>> {
    let epoch = |secs: f64| {
        (secs.is_finite() && secs.abs() < 1e11)
            .then(|| Utc.timestamp_millis_opt((secs * 1000.0).round() as i64).single())
            .flatten()
    };
    match value {
        Value::String(s) => {
            let s = s.trim();
            DateTime::parse_from_rfc3339(s)
                .map(|d| d.with_timezone(&Utc))
                .ok()
                .or_else(|| s.parse::<f64>().ok().and_then(epoch))
        }
        Value::Number(n) => n.as_f64().and_then(epoch),
        _ => None,
    }
}

fn text(value: &Value, field: &str) -> Option<String> {
    match value.get(field)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn count(value: Option<&Value>) -> u32 {
    match value {
        Some(Value::Number(n)) => n.as_u64().and_then(|n| u32::try_from(n).ok()).unwrap_or(0),
        Some(Value::String(s)) => s.trim().parse().unwrap_or(0),
        _ => 0,
    }
}

/// Where the order ships: v2026 `recipient.deliveryAddress` (with `includedData=RECIPIENT`, granted by
/// the seller's role, no RDT), or v0 `ShippingAddress` (restricted: present only when the application
/// may read it). `None` when the answer carries no street, as v0 does without that access.
fn delivery_address(raw: &Value) -> Option<Address> {
    let (address, v0) = match raw.pointer("/recipient/deliveryAddress") {
        Some(address) => (address, false),
        None => (raw.get("ShippingAddress")?, true),
    };
    let field = |v2026: &str, v0_name: &str| text(address, if v0 { v0_name } else { v2026 });
    let address1 = field("addressLine1", "AddressLine1")?;
    let lines: Vec<String> =
        [field("addressLine2", "AddressLine2"), field("addressLine3", "AddressLine3")].into_iter().flatten().collect();
    Some(Address {
        name: field("name", "Name"),
        company: field("companyName", "CompanyName"),
        address1: Some(address1),
        address2: (!lines.is_empty()).then(|| lines.join(", ")),
        city: field("city", "City"),
        province_code: field("stateOrRegion", "StateOrRegion"),
        zip: field("postalCode", "PostalCode"),
        country_code: field("countryCode", "CountryCode"),
        phone: field("phone", "Phone"),
    })
}

/// The buyer: v2026 `buyer` (with `includedData=BUYER`) or v0 `BuyerInfo`; `None` when neither names
/// anyone.
fn buyer(raw: &Value) -> Option<Customer> {
    let (name, email) = match raw.get("buyer") {
        Some(buyer) => (text(buyer, "buyerName"), text(buyer, "buyerEmail")),
        None => {
            let info = raw.get("BuyerInfo")?;
            (text(info, "BuyerName"), text(info, "BuyerEmail"))
        }
    };
    (name.is_some() || email.is_some()).then_some(Customer { id: None, name, email })
}

/// `{CurrencyCode, Amount}` (v0) or `{currencyCode, amount}` (v2026); amounts may be strings or numbers.
fn money(value: Option<&Value>) -> Option<Money> {
    let value = value?;
    let currency = text(value, "CurrencyCode").or_else(|| text(value, "currencyCode"))?;
    let amount = text(value, "Amount").or_else(|| text(value, "amount"))?;
    Money::new(&amount, &currency).ok()
}

fn dates(value: &Value, purchase: &str, updated: &str) -> Result<(DateTime<Utc>, DateTime<Utc>), ModelError> {
    let purchased = value.get(purchase).and_then(lenient_date);
    let updated = value.get(updated).and_then(lenient_date);
    match (purchased, updated) {
        (Some(p), Some(u)) => Ok((p, u.max(p))),
        (Some(p), None) => Ok((p, p)),
        (None, Some(u)) => Ok((u, u)),
        (None, None) => Err(ModelError::Field("PurchaseDate")),
    }
}

impl AmazonOrder {
    /// One element of v0 `payload.Orders`. `marketplace` fills a missing `MarketplaceId`.
    pub fn from_v0(raw: &Value, marketplace: &str) -> Result<Self, ModelError> {
        let id = text(raw, "AmazonOrderId").ok_or(ModelError::Field("AmazonOrderId"))?;
        ChannelOrderId::parse(&id).map_err(|_| ModelError::Field("AmazonOrderId"))?;
        let (purchase_date, last_update_date) = dates(raw, "PurchaseDate", "LastUpdateDate")?;
        Ok(Self {
            amazon_order_id: id,
            marketplace_id: text(raw, "MarketplaceId").unwrap_or_else(|| marketplace.to_owned()),
            purchase_date,
            last_update_date,
            order_status: text(raw, "OrderStatus").unwrap_or_else(|| "Unknown".into()),
            order_total: money(raw.get("OrderTotal")),
            fulfillment_channel: text(raw, "FulfillmentChannel"),
            raw_payload: raw.clone(),
        })
    }

    /// One element of v2026 `orders` (or a `getOrder` response's `order`), with its embedded items.
    pub fn from_v2026(raw: &Value, marketplace: &str) -> Result<(Self, Vec<AmazonOrderItem>), ModelError> {
        let id = text(raw, "orderId").ok_or(ModelError::Field("orderId"))?;
        ChannelOrderId::parse(&id).map_err(|_| ModelError::Field("orderId"))?;
        let (purchase_date, last_update_date) = dates(raw, "createdTime", "lastUpdatedTime")?;
        let fulfillment = raw.get("fulfillment");
        let marketplace_id =
            raw.get("salesChannel").and_then(|c| text(c, "marketplaceId")).unwrap_or_else(|| marketplace.to_owned());
        let order = Self {
            amazon_order_id: id.clone(),
            marketplace_id: marketplace_id.clone(),
            purchase_date,
            last_update_date,
            order_status: fulfillment.and_then(|f| text(f, "fulfillmentStatus")).unwrap_or_else(|| "UNKNOWN".into()),
            order_total: money(raw.get("proceeds").and_then(|p| p.get("grandTotal"))),
            fulfillment_channel: fulfillment.and_then(|f| text(f, "fulfilledBy")),
            raw_payload: raw.clone(),
        };
        let items = raw
            .get("orderItems")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|item| AmazonOrderItem::from_v2026(item, &id, &marketplace_id).ok())
            .collect();
        Ok((order, items))
    }

    /// The canonical order (channel `amazon`, named by its `3-7-7` id), with `items` as line items that
    /// keep their source. Version 0: the store assigns versions.
    pub fn to_canonical(&self, shop: &ShopDomain, items: &[AmazonOrderItem]) -> Result<Order, ModelError> {
        let status = self.order_status.to_ascii_uppercase().replace('_', "");
        let cancelled = matches!(status.as_str(), "CANCELED" | "CANCELLED");
        let currency = self
            .order_total
            .as_ref()
            .map(|m| m.currency.clone())
            .or_else(|| items.iter().find_map(|i| i.item_price.as_ref().map(|p| p.currency.clone())))
            .or_else(|| marketplace_currency(&self.marketplace_id).map(str::to_owned))
            .unwrap_or_default();
        let zero = Money { amount: "0".into(), currency };
        Ok(Order {
            shop: shop.clone(),
            channel: Channel::Amazon,
            channel_order_id: ChannelOrderId::parse(&self.amazon_order_id)
                .map_err(|_| ModelError::Field("AmazonOrderId"))?,
            admin_graphql_api_id: None,
            name: OrderName::new(self.amazon_order_id.clone()),
            created_at: self.purchase_date,
            updated_at: self.last_update_date,
            cancelled_at: cancelled.then_some(self.last_update_date),
            financial_status: match status.as_str() {
                "PENDING" | "PENDINGAVAILABILITY" | "INVOICEUNCONFIRMED" => FinancialStatus::Pending,
                "CANCELED" | "CANCELLED" => FinancialStatus::Voided,
                _ => FinancialStatus::Paid,
            },
            fulfillment_status: match status.as_str() {
                "SHIPPED" => FulfillmentStatus::Fulfilled,
                "PARTIALLYSHIPPED" => FulfillmentStatus::PartiallyFulfilled,
                _ => FulfillmentStatus::Unfulfilled,
            },
            total: self.order_total.clone().unwrap_or_else(|| zero.clone()),
            line_items: items
                .iter()
                .map(|item| LineItem {
                    id: item.order_item_id.clone(),
                    title: item.title.clone().or_else(|| item.asin.clone()).unwrap_or_default(),
                    sku: item.seller_sku.clone(),
                    variant_id: item.asin.clone(),
                    quantity: item.quantity_ordered,
                    price: item.item_price.clone().unwrap_or_else(|| zero.clone()),
                    source: Some(Channel::Amazon.as_str().to_owned()),
                    source_order_item_id: Some(item.order_item_id.clone()),
                })
                .collect(),
            customer: buyer(&self.raw_payload),
            shipping_address: delivery_address(&self.raw_payload),
            fulfillments: packages(&self.raw_payload),
            transactions: Vec::new(),
            delivery: crate::domain::DeliveryFacts {
                // `AFN` (Orders v0) or `AMAZON` (v2026-01-01 `fulfilledBy`): Amazon ships it.
                fulfilled_by_channel: self
                    .fulfillment_channel
                    .as_deref()
                    .is_some_and(|c| c.eq_ignore_ascii_case("AFN") || c.eq_ignore_ascii_case("AMAZON")),
                ..Default::default()
            },
            ops: Default::default(),
            version: 0,
        })
    }
}

/// v2026 `packages` (merchant-fulfilled orders) as shipments with their carrier and tracking number, so
/// the canonical order knows its tracking. v0 orders carry none.
fn packages(raw: &Value) -> Vec<Fulfillment> {
    raw.get("packages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(n, package)| Fulfillment {
            id: text(package, "packageReferenceId").unwrap_or_else(|| format!("package-{n}")),
            status: "success".to_owned(),
            shipment_status: package
                .get("packageStatus")
                .and_then(|s| text(s, "status"))
                .map(|s| s.to_ascii_lowercase()),
            tracking_company: text(package, "carrier"),
            tracking_numbers: text(package, "trackingNumber").into_iter().collect(),
            tracking_urls: Vec::new(),
            created_at: package.get("shipTime").or_else(|| package.get("createdTime")).and_then(lenient_date),
            updated_at: None,
        })
        .collect()
}

impl AmazonOrderItem {
    /// One element of v0 `payload.OrderItems`.
    pub fn from_v0(raw: &Value, order_id: &str, marketplace: &str) -> Result<Self, ModelError> {
        Ok(Self {
            order_item_id: text(raw, "OrderItemId").ok_or(ModelError::Field("OrderItemId"))?,
            amazon_order_id: order_id.to_owned(),
            marketplace_id: marketplace.to_owned(),
            seller_sku: text(raw, "SellerSKU"),
            asin: text(raw, "ASIN"),
            title: text(raw, "Title"),
            quantity_ordered: count(raw.get("QuantityOrdered")),
            item_price: money(raw.get("ItemPrice")),
            raw_payload: raw.clone(),
        })
    }

    /// One element of a v2026 order's `orderItems`.
    pub fn from_v2026(raw: &Value, order_id: &str, marketplace: &str) -> Result<Self, ModelError> {
        let product = raw.get("product");
        Ok(Self {
            order_item_id: text(raw, "orderItemId").ok_or(ModelError::Field("orderItemId"))?,
            amazon_order_id: order_id.to_owned(),
            marketplace_id: marketplace.to_owned(),
            seller_sku: product.and_then(|p| text(p, "sellerSku")),
            asin: product.and_then(|p| text(p, "asin")),
            title: product.and_then(|p| text(p, "title")),
            quantity_ordered: count(raw.get("quantityOrdered")),
            item_price: money(product.and_then(|p| p.get("price")).and_then(|p| p.get("unitPrice"))),
            raw_payload: raw.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn dates_are_read_leniently() {
        let at = |v: Value| lenient_date(&v).map(|d| d.to_rfc3339());
        assert_eq!(at(json!("2017-01-20T19:49:35Z")).as_deref(), Some("2017-01-20T19:49:35+00:00"));
        assert_eq!(at(json!("1.569521782042E9")).as_deref(), Some("2019-09-26T18:16:22.042+00:00"));
        assert_eq!(at(json!(1569521782)).as_deref(), Some("2019-09-26T18:16:22+00:00"));
        assert_eq!(at(json!("soon")), None);
        assert_eq!(at(json!(null)), None);
        assert_eq!(at(json!("1e300")), None);
    }

    #[test]
    fn a_pending_v0_order_without_total_or_dates_is_still_usable() {
        let raw = json!({"AmazonOrderId": "902-3159896-1390916", "LastUpdateDate": "2017-01-20T19:49:35Z",
                         "OrderStatus": "Pending"});
        let order = AmazonOrder::from_v0(&raw, "ATVPDKIKX0DER").unwrap();
        assert_eq!(order.marketplace_id, "ATVPDKIKX0DER");
        assert_eq!(order.order_total, None);
        let shop = ShopDomain::parse("a.myshopify.com").unwrap();
        let canonical = order.to_canonical(&shop, &[]).unwrap();
        assert_eq!(canonical.financial_status, FinancialStatus::Pending);
        assert_eq!((canonical.total.amount.as_str(), canonical.total.currency.as_str()), ("0", "USD"));
        assert!(AmazonOrder::from_v0(&json!({"AmazonOrderId": "a#b"}), "M").is_err());
        assert!(AmazonOrder::from_v0(&json!({"AmazonOrderId": "1-2-3"}), "M").is_err(), "no date at all");
    }

    #[test]
    fn v2026_orders_carry_their_items_and_map_to_canonical_statuses() {
        let raw = json!({"orderId": "171-1-1", "createdTime": "2024-12-25T02:30:00Z",
            "lastUpdatedTime": "2024-12-25T06:45:00Z", "salesChannel": {"marketplaceId": "A1"},
            "fulfillment": {"fulfillmentStatus": "PARTIALLY_SHIPPED", "fulfilledBy": "MERCHANT"},
            "proceeds": {"grandTotal": {"amount": "19.90", "currencyCode": "EUR"}},
            "packages": [{"packageReferenceId": "P1", "carrier": "DPD", "trackingNumber": "155",
                          "packageStatus": {"status": "IN_TRANSIT"}, "shipTime": "2024-12-25T14:00:00Z"}],
            "orderItems": [{"orderItemId": "9", "quantityOrdered": 2,
                "product": {"asin": "B0", "sellerSku": "SKU", "price": {"unitPrice": {"amount": 9.95, "currencyCode": "EUR"}}}},
                {"quantityOrdered": 1}]});
        let (order, items) = AmazonOrder::from_v2026(&raw, "X").unwrap();
        assert_eq!(order.marketplace_id, "A1");
        assert_eq!(items.len(), 1, "an item without id is dropped");
        assert_eq!(items[0].item_price, Some(Money::new("9.95", "EUR").unwrap()));
        let canonical = order.to_canonical(&ShopDomain::parse("a.myshopify.com").unwrap(), &items).unwrap();
        assert_eq!(canonical.fulfillment_status, FulfillmentStatus::PartiallyFulfilled);
        assert_eq!(canonical.financial_status, FinancialStatus::Paid);
        assert_eq!(canonical.line_items[0].source.as_deref(), Some("amazon"));
        assert_eq!(canonical.line_items[0].source_order_item_id.as_deref(), Some("9"));
        let shipment = &canonical.fulfillments[0];
        assert_eq!(
            (shipment.tracking_company.as_deref(), shipment.tracking_numbers.as_slice()),
            (Some("DPD"), &["155".to_owned()][..])
        );
        assert_eq!(shipment.shipment_status.as_deref(), Some("in_transit"));
        assert!(canonical.has_tracking());
    }
}
