//! The request bodies we send CommerceOS, built from the canonical order (the shapes of seed 004's
//! published examples), and the bodies its sync-webhooks send us back.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::IdentifierKey;
use crate::domain::{Address, Order};

/// What a shop's trade orders carry besides the order itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderDefaults {
    /// Our order identifier key (`com.acme.order-id`); its namespace names every other key we send
    /// (`com.acme.channel`, `com.acme.store-id`, `com.acme.sku`…).
    pub identifier_key: IdentifierKey,
    /// The store fulfilling the orders (`sellers[0]`, `{ns}.store-id`).
    pub seller: String,
    /// The company selling the goods (`supplier`, `{ns}.company-id`).
    pub supplier: String,
    /// The currency of orders that name none (ISO 4217).
    pub currency: String,
}

fn agent(key: &IdentifierKey, value: &str) -> Value {
    json!({ "identifiers": { key.as_str(): value } })
}

fn decimal(amount: &str) -> Value {
    serde_json::from_str::<serde_json::Number>(amount.trim()).map_or_else(|_| json!(amount), Value::Number)
}

/// `PUT /v1/trade-orders/{ns.key=value}`'s body: identifiers, supplier, customer, sellers, currency and
/// items (addresses are read-only on create; they follow as actions). Fails when a line has no SKU.
pub fn trade_order(order: &Order, defaults: &OrderDefaults, identifier: &str) -> Result<Value, String> {
    let key = &defaults.identifier_key;
    let sku_key = key.sibling("sku");
    let mut items = Vec::new();
    for line in &order.line_items {
        let sku = line.sku.as_deref().map(str::trim).filter(|s| !s.is_empty()).ok_or_else(|| {
            format!("line `{}` of order {} has no SKU to name the CommerceOS product", line.title, order.name.as_str())
        })?;
        items.push(json!({ "product": { "identifiers": { sku_key.as_str(): sku } }, "quantity": line.quantity }));
    }
    if items.is_empty() {
        return Err(format!("order {} has no lines", order.name.as_str()));
    }
    let customer = order
        .customer
        .as_ref()
        .and_then(|c| c.id.clone().or_else(|| c.email.clone()))
        .unwrap_or_else(|| format!("{}-{}", order.channel, order.channel_order_id));
    let currency = if order.total.currency.trim().is_empty() { &defaults.currency } else { &order.total.currency };
    Ok(json!({
        "identifiers": { key.as_str(): identifier, key.sibling("channel").as_str(): order.channel.as_str() },
        "supplier": agent(&key.sibling("company-id"), &defaults.supplier),
        "customer": agent(&key.sibling("customer-id"), &customer),
        "sellers": [agent(&key.sibling("store-id"), &defaults.seller)],
        "currency": { "identifiers": { "currencyCode": currency } },
        "items": items,
    }))
}

fn address(address: &Address) -> Value {
    let mut body = serde_json::Map::new();
    let mut put = |k: &str, v: &Option<String>| {
        if let Some(v) = v.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            body.insert(k.to_owned(), json!(v));
        }
    };
    put("line1", &address.address1);
    put("line2", &address.address2);
    put("postalCode", &address.zip);
    put("cityName", &address.city);
    put("countryCode", &address.country_code);
    put("attention", &address.name);
    Value::Object(body)
}

/// `changeDeliveryAddress`.
pub fn change_delivery_address(value: &Address) -> Value {
    json!({ "changeDeliveryAddress": address(value) })
}

/// `changeInvoiceAddress`.
pub fn change_invoice_address(value: &Address) -> Value {
    let mut body = address(value);
    if let Some(map) = body.as_object_mut() {
        map.remove("line2");
        map.remove("attention");
    }
    json!({ "changeInvoiceAddress": body })
}

/// `createPayment`: idempotent on (method, transactionId); a refund is a negative amount.
pub fn create_payment(transaction_id: &str, at: DateTime<Utc>, currency: &str, amount: &str, method: &str) -> Value {
    json!({ "createPayment": {
        "transactionId": transaction_id,
        "timestamp": at.to_rfc3339_opts(SecondsFormat::Secs, true),
        "method": { "identifiers": { "methodId": method } },
        "currency": { "identifiers": { "currencyCode": currency } },
        "amount": decimal(amount),
    } })
}

/// `tryApprove`, `tryCancel`, `createShipment`: flags.
pub fn flag(action: &str) -> Value {
    json!({ action: true })
}

/// The three sync-webhooks we configure, by our identifier name.
pub const ORDER_STATUS_HOOK: &str = "order-status-push";
pub const SHIPMENT_HOOK: &str = "shipment-completed-webhook";
pub const NEW_ORDERS_HOOK: &str = "order-created-webhook";
pub const ORDER_STATUS_MAP: &str = "order-status-map";
pub const SHIPMENT_MAP: &str = "shipment-completed-map";

/// The mapped type turning a trade order into our order-status callback body.
pub fn order_status_map(key: &IdentifierKey) -> Value {
    let mapped = key.sibling("mapped-type");
    json!({
        "identifiers": { "mappedTypeName": ORDER_STATUS_MAP, mapped.as_str(): ORDER_STATUS_MAP },
        "active": true,
        "body": {
            "orderId": format!("identifiers/{key}"),
            "status": "status",
            "timestamp": "timestamp",
        },
    })
}

/// The mapped type turning a shipment order into our shipment-completed callback body.
pub fn shipment_map(key: &IdentifierKey) -> Value {
    let mapped = key.sibling("mapped-type");
    json!({
        "identifiers": { "mappedTypeName": SHIPMENT_MAP, mapped.as_str(): SHIPMENT_MAP },
        "active": true,
        "body": {
            "shipmentId": "identifiers/key",
            "orderId": format!("orders/0/identifiers/{key}"),
            "status": "status",
            "trackingUrl": "carriersTrackingUrl",
            "trackingNumber": "carriersTrackingNumber",
            "carrier": "carrier/name",
        },
    })
}

/// How CommerceOS authenticates to our endpoint. No `Debug`: it holds secrets.
pub enum HookAuth<'a> {
    /// A static `Authorization: Bearer …` header.
    Bearer(&'a str),
    /// Our `POST /oauth/token` (client credentials).
    ClientCredentials { token_url: &'a str, client_id: &'a str, client_secret: &'a str },
}

/// A sync-webhook (`PUT /v1/sync-webhooks/{ns.sync-id=name}`): read `in`, map with the mapped type
/// `map_key` (a database key), POST to `out`, then mark what was sent with `then.set`.
pub struct Hook<'a> {
    pub name: &'a str,
    pub title: &'a str,
    pub every: &'a str,
    pub input: String,
    pub map_key: Option<&'a str>,
    pub out_url: &'a str,
    pub auth: HookAuth<'a>,
    pub marker: Option<String>,
    pub scopes: &'a [&'a str],
}

pub fn sync_webhook(key: &IdentifierKey, hook: &Hook<'_>) -> Value {
    let sync = key.sibling("sync-id");
    let auth = match hook.auth {
        HookAuth::Bearer(secret) => json!({ "authorizationHeader": format!("Bearer {secret}") }),
        HookAuth::ClientCredentials { token_url, client_id, client_secret } => json!({ "clientCredentials": {
            "tokenUrl": token_url, "client_id": client_id, "client_secret": client_secret, "scope": "orders.write" } }),
    };
    let mut body = json!({
        "identifiers": { sync.as_str(): hook.name },
        "name": hook.title,
        "description": format!("order-sync: {}", hook.title),
        "when": hook.every,
        "repeat": true,
        "maxAttempts": 3,
        "in": { "url": hook.input },
        "out": { "method": "POST", "url": hook.out_url, "auth": auth },
        "authorizedScopes": hook.scopes,
        "verboseLogging": false,
    });
    if let Some(map_key) = hook.map_key {
        body["map"] = json!({ "identifiers": { "key": map_key } });
    }
    if let Some(marker) = &hook.marker {
        body["then"] = json!({ "set": { "identifiers": { marker.as_str(): "true" } } });
    }
    body
}

/// An order-status callback (the `order-status-map` body).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusCallback {
    pub order_id: Option<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    pub status: Vec<String>,
    #[serde(default)]
    pub timestamp: Option<String>,
}

/// A shipment-completed callback (the `shipment-completed-map` body).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShipmentCallback {
    pub shipment_id: Option<String>,
    pub order_id: Option<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    pub status: Vec<String>,
    #[serde(default)]
    pub tracking_url: Option<String>,
    #[serde(default)]
    pub tracking_number: Option<String>,
    #[serde(default)]
    pub carrier: Option<String>,
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => vec![s],
        Value::Array(items) => items.into_iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    })
}

/// Seed 004's table: a trade order's status as the order's webshop status.
pub fn order_status(statuses: &[String]) -> Option<&'static str> {
    let has = |s: &str| statuses.iter().any(|x| x.eq_ignore_ascii_case(s));
    if has("Cancelled") {
        Some("cancelled")
    } else if has("Committed") {
        Some("confirmed")
    } else if has("New") || has("Reserved") {
        Some("pending")
    } else {
        None
    }
}

/// Seed 004's table: a shipment order's status (and its `Partially*` variants) as the webshop status.
pub fn shipment_status(statuses: &[String]) -> Option<String> {
    let rank = |s: &str| -> Option<(u8, &'static str)> {
        let (partial, base) = match s.strip_prefix("Partially") {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (rank, name) = match base {
            "New" => (1, "processing"),
            "Released" => (2, "released"),
            "Transiting" => (3, "shipped"),
            "Acquired" => (4, "delivered"),
            _ => return None,
        };
        Some((rank * 2 - u8::from(partial), if partial { partial_name(name) } else { name }))
    };
    statuses.iter().filter_map(|s| rank(s)).max_by_key(|(r, _)| *r).map(|(_, name)| name.to_owned())
}

fn partial_name(name: &'static str) -> &'static str {
    match name {
        "released" => "partially_released",
        "shipped" => "partially_shipped",
        "delivered" => "partially_delivered",
        other => other,
    }
}

/// One entry of a sync-webhook body: CommerceOS posts a page (`~take(50)`) as an array, or one object.
pub fn entries(body: &Value) -> Vec<Value> {
    match body {
        Value::Array(items) => items.clone(),
        Value::Object(map) if map.get("items").is_some_and(Value::is_array) && !map.contains_key("identifiers") => {
            map.get("items").and_then(Value::as_array).cloned().unwrap_or_default()
        }
        other => vec![other.clone()],
    }
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The first identifier value of a CommerceOS record (`{"identifiers": {...}}`), preferring `wanted`.
fn identifier(record: &Value, wanted: &[&str]) -> Option<String> {
    let ids = record.get("identifiers")?.as_object()?;
    wanted.iter().find_map(|k| ids.get(*k).and_then(text)).or_else(|| ids.values().find_map(text))
}

fn timestamp(record: &Value, names: &[&str]) -> Option<DateTime<Utc>> {
    names.iter().find_map(|n| {
        record.get(*n).and_then(Value::as_str).and_then(|s| DateTime::parse_from_rfc3339(s).ok()).map(|d| d.to_utc())
    })
}

/// Our identifier value of a trade order CommerceOS reports, if it carries one.
pub fn our_identifier(record: &Value, key: &IdentifierKey) -> Option<String> {
    record.get("identifiers")?.get(key.as_str()).and_then(text)
}

/// A trade order born in CommerceOS (B2B, EDI, POS) as a canonical order of the `commerceos` channel,
/// keyed by CommerceOS's own key of the record.
pub fn born_order(
    shop: &crate::domain::ShopDomain,
    record: &Value,
    defaults: &OrderDefaults,
    now: DateTime<Utc>,
) -> Result<Order, String> {
    use crate::domain::{
        Channel, ChannelOrderId, Customer, FinancialStatus, FulfillmentStatus, LineItem, Money, OrderName,
    };
    let key = identifier(record, &["key"]).ok_or("the trade order has no identifiers")?;
    let id: String =
        key.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').take(64).collect::<String>();
    let channel_order_id = ChannelOrderId::parse(&id).map_err(|e| e.to_string())?;
    let ns = &defaults.identifier_key;
    let name = identifier(record, &[ns.sibling("order-id").as_str(), ns.as_str()])
        .filter(|n| *n != key)
        .unwrap_or_else(|| format!("COS-{id}"));
    let currency = record
        .get("currency")
        .and_then(|c| c.get("identifiers"))
        .and_then(|i| i.get("currencyCode"))
        .and_then(text)
        .unwrap_or_else(|| defaults.currency.clone());
    let money = |v: Option<&Value>| -> Money {
        v.and_then(text)
            .and_then(|a| Money::new(&a, &currency).ok())
            .unwrap_or(Money { amount: "0".into(), currency: currency.clone() })
    };
    let sku_key = ns.sibling("sku");
    let items = record.get("items").and_then(Value::as_array).cloned().unwrap_or_default();
    let line_items = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let product = item.get("product").cloned().unwrap_or(Value::Null);
            let sku = identifier(&product, &[sku_key.as_str(), "sku", "ean"]);
            let quantity = item.get("quantity").and_then(text).and_then(|q| q.parse::<f64>().ok()).unwrap_or(1.0);
            LineItem {
                id: identifier(item, &["key"]).unwrap_or_else(|| format!("{id}-{i}")),
                title: product.get("name").and_then(text).or_else(|| sku.clone()).unwrap_or_else(|| "Item".into()),
                sku,
                variant_id: None,
                quantity: quantity.max(0.0).round() as u32,
                price: money(item.get("unitAmount").or_else(|| item.get("unitPrice"))),
                source: Some("commerceos".into()),
                source_order_item_id: identifier(item, &["key"]),
            }
        })
        .collect();
    let statuses = super::client::statuses(record);
    let created = timestamp(record, &["createdAt", "created", "timestamp"]).unwrap_or(now);
    let updated = timestamp(record, &["modifiedAt", "updatedAt", "timestamp"]).unwrap_or(created);
    let customer = record.get("customer").map(|c| Customer {
        id: identifier(c, &["key"]),
        name: c.get("name").and_then(text),
        email: c.get("email").and_then(text),
    });
    let shipping_address = record.get("deliveryAddresses").and_then(Value::as_array).and_then(|a| a.first()).map(|a| {
        crate::domain::Address {
            name: a.get("attention").and_then(text),
            company: None,
            address1: a.get("line1").and_then(text),
            address2: a.get("line2").and_then(text),
            city: a.get("cityName").and_then(text),
            province_code: None,
            zip: a.get("postalCode").and_then(text),
            country_code: a.get("countryCode").and_then(text),
            phone: None,
        }
    });
    Ok(Order {
        shop: shop.clone(),
        channel: Channel::CommerceOs,
        channel_order_id,
        admin_graphql_api_id: None,
        name: OrderName::new(name),
        created_at: created,
        updated_at: updated,
        cancelled_at: statuses.iter().any(|s| s == "Cancelled").then_some(updated),
        financial_status: FinancialStatus::Pending,
        fulfillment_status: FulfillmentStatus::Unfulfilled,
        total: money(record.get("totalAmount")),
        line_items,
        customer,
        shipping_address,
        fulfillments: Vec::new(),
        transactions: Vec::new(),
        delivery: Default::default(),
        ops: Default::default(),
        version: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_seed_tables() {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(order_status(&s(&["New"])), Some("pending"));
        assert_eq!(order_status(&s(&["Committed", "Fulfilled"])), Some("confirmed"));
        assert_eq!(order_status(&s(&["Cancelled"])), Some("cancelled"));
        assert_eq!(shipment_status(&s(&["New"])).as_deref(), Some("processing"));
        assert_eq!(shipment_status(&s(&["Released"])).as_deref(), Some("released"));
        assert_eq!(shipment_status(&s(&["Transiting"])).as_deref(), Some("shipped"));
        assert_eq!(shipment_status(&s(&["Acquired"])).as_deref(), Some("delivered"));
        assert_eq!(shipment_status(&s(&["PartiallyReleased"])).as_deref(), Some("partially_released"));
        assert_eq!(shipment_status(&s(&["Released", "PartiallyAcquired"])).as_deref(), Some("partially_delivered"));
        assert_eq!(shipment_status(&s(&["Bogus"])), None);
    }
}
