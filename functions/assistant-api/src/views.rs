//! The JSON shapes of seed 001: Shopify GIDs, GraphQL enum spellings, ISO 8601 dates.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use shared::{
    domain::{Channel, Fulfillment, InventoryStatus, Order, Product, Variant},
    store::ApiKey,
};

/// `gid://shopify/{kind}/{id}`, unless `id` already is a GID.
pub fn gid(kind: &str, id: &str) -> String {
    if id.starts_with("gid://") { id.to_owned() } else { format!("gid://shopify/{kind}/{id}") }
}

fn iso(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A Shopify id as a GID; other channels' ids stay as they are.
fn channel_id(order: &Order, kind: &str, id: &str) -> String {
    if order.channel == Channel::Shopify { gid(kind, id) } else { id.to_owned() }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderList {
    pub orders: Vec<OrderView>,
    pub has_next_page: bool,
    pub cursor: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderView {
    pub id: String,
    pub name: String,
    pub status: String,
    pub fulfillment_status: String,
    pub created_at: String,
    pub customer_name: Option<String>,
    pub line_items: Vec<LineItemView>,
    pub fulfillments: Vec<OrderFulfillmentView>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LineItemView {
    pub id: String,
    pub title: String,
    pub quantity: u32,
    pub sku: Option<String>,
    pub variant_id: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderFulfillmentView {
    pub id: String,
    pub status: String,
    pub tracking_numbers: Vec<String>,
    pub tracking_urls: Vec<String>,
    pub carrier_name: Option<String>,
}

pub fn order(order: &Order) -> OrderView {
    let fulfillment_status = order.fulfillment_status.as_str().to_ascii_uppercase();
    OrderView {
        id: order.public_id(),
        name: order.name.as_str().to_owned(),
        status: if order.cancelled_at.is_some() { "CANCELLED".into() } else { fulfillment_status.clone() },
        fulfillment_status,
        created_at: iso(order.created_at),
        customer_name: order
            .customer
            .as_ref()
            .and_then(|c| c.name.clone())
            .or_else(|| order.shipping_address.as_ref().and_then(|a| a.name.clone())),
        line_items: order
            .line_items
            .iter()
            .map(|item| LineItemView {
                id: channel_id(order, "LineItem", &item.id),
                title: item.title.clone(),
                quantity: item.quantity,
                sku: item.sku.clone(),
                variant_id: item.variant_id.as_deref().map(|v| channel_id(order, "ProductVariant", v)),
            })
            .collect(),
        fulfillments: order
            .fulfillments
            .iter()
            .map(|f| OrderFulfillmentView {
                id: channel_id(order, "Fulfillment", &f.id),
                status: f.status.to_ascii_uppercase(),
                tracking_numbers: f.tracking_numbers.clone(),
                tracking_urls: f.tracking_urls.clone(),
                carrier_name: f.tracking_company.clone(),
            })
            .collect(),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FulfillmentList {
    pub fulfillments: Vec<FulfillmentView>,
    pub has_next_page: bool,
    pub cursor: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FulfillmentView {
    pub id: String,
    pub order_id: String,
    pub status: String,
    pub tracking_numbers: Vec<String>,
    pub tracking_urls: Vec<String>,
    pub carrier_name: Option<String>,
    pub created_at: Option<String>,
}

fn fulfillment(order: &Order, f: &Fulfillment) -> FulfillmentView {
    FulfillmentView {
        id: channel_id(order, "Fulfillment", &f.id),
        order_id: order.public_id(),
        status: f.status.to_ascii_uppercase(),
        tracking_numbers: f.tracking_numbers.clone(),
        tracking_urls: f.tracking_urls.clone(),
        carrier_name: f.tracking_company.clone(),
        created_at: f.created_at.or(f.updated_at).map(iso),
    }
}

pub fn order_fulfillments(order: &Order) -> Vec<FulfillmentView> {
    order.fulfillments.iter().map(|f| fulfillment(order, f)).collect()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductList {
    pub products: Vec<ProductView>,
    pub has_next_page: bool,
    pub cursor: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductView {
    pub id: String,
    pub title: String,
    pub description: String,
    pub variants: Vec<VariantView>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VariantView {
    pub id: String,
    pub title: String,
    pub sku: Option<String>,
    pub size: Option<String>,
    pub color: Option<String>,
    pub option1: Option<String>,
    pub option2: Option<String>,
    pub option3: Option<String>,
    pub inventory_quantity: i64,
    pub inventory_status: &'static str,
}

pub fn variant(v: &Variant) -> VariantView {
    VariantView {
        id: gid("ProductVariant", &v.id),
        title: v.title.clone(),
        sku: v.sku.clone(),
        size: v.size.clone(),
        color: v.color.clone(),
        option1: v.option1.clone(),
        option2: v.option2.clone(),
        option3: v.option3.clone(),
        inventory_quantity: v.quantity(),
        inventory_status: match v.inventory_status() {
            InventoryStatus::InStock => "in_stock",
            InventoryStatus::OutOfStock => "out_of_stock",
            InventoryStatus::Partial => "partial",
        },
    }
}

pub fn product(p: &Product) -> ProductView {
    ProductView {
        id: gid("Product", &p.id),
        title: p.title.clone(),
        description: p.description.clone().unwrap_or_default(),
        variants: p.variants.iter().take(shared::domain::product::VARIANTS_PER_RECORD).map(variant).collect(),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VariantList {
    pub product_id: String,
    pub product_title: String,
    pub variants: Vec<VariantView>,
    pub has_next_page: bool,
    pub cursor: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyView {
    pub id: String,
    pub prefix: String,
    pub label: Option<String>,
    pub created_at: String,
}

pub fn api_key(key: &ApiKey) -> ApiKeyView {
    ApiKeyView {
        id: key.id.clone(),
        prefix: key.prefix.clone(),
        label: key.label.clone(),
        created_at: iso(key.created_at),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewApiKey {
    #[serde(flatten)]
    pub key: ApiKeyView,
    /// The key itself: answered once, never stored.
    pub secret: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyList {
    pub keys: Vec<ApiKeyView>,
}
