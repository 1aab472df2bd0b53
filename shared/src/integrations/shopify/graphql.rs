//! The Admin GraphQL operations this system runs, their response shapes, and the mapping of a GraphQL
//! order to the canonical [`Order`], in the same vocabulary as the webhook (REST) mapping, so the poll
//! and the webhooks feed one ingest path.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::{
    domain::{
        Address, Channel, ChannelOrderId, Customer, FinancialStatus, Fulfillment, FulfillmentStatus, LineItem, Money,
        Order, OrderName, PaymentTransaction, Product, ShopDomain, Variant,
        poll::{PollWindow, WindowMode},
        product::size_and_color,
    },
    integrations::shopify::model::MapError,
};

/// The fields of an order that [`GqlOrder`] reads, with the first page of its line items and
/// fulfilments ([`PAGE_FULFILLMENTS`], [`PAGE_TRACKING`]) and its payment transactions (a plain list in
/// the Admin API, not a connection: all of them).
macro_rules! order_fields {
    () => {
        "id legacyResourceId name createdAt updatedAt cancelledAt currencyCode email
      displayFinancialStatus displayFulfillmentStatus
      totalPriceSet { shopMoney { amount currencyCode } }
      customer { id firstName lastName email }
      shippingAddress { name company address1 address2 city provinceCode zip countryCodeV2 phone }
      lineItems(first: 20) { pageInfo { hasNextPage endCursor } nodes { id title sku quantity variant { id } originalUnitPriceSet { shopMoney { amount } } } }
      fulfillments(first: 10) { id status displayStatus createdAt updatedAt trackingInfo(first: 5) { company number url } }
      transactions { id kind status amountSet { shopMoney { amount currencyCode } } gateway processedAt }"
    };
}

/// Orders updated in a window, oldest first. Cost ≈ `first` × (1 + line items + fulfilments).
pub const ORDERS_PAGE: &str = concat!(
    "query OrdersPage($first: Int!, $after: String, $query: String!, $sortKey: OrderSortKeys!) {
  orders(first: $first, after: $after, query: $query, sortKey: $sortKey) {
    pageInfo { hasNextPage endCursor }
    edges { cursor node {
      ",
    order_fields!(),
    "
    } }
  }
}"
);

/// One order as it is now, read the same way as an [`ORDERS_PAGE`] node (and completed the same way):
/// what settles two revisions with the same `updatedAt`.
pub const ORDER_REVISION: &str =
    concat!("query OrderRevision($id: ID!) {\n  order(id: $id) {\n      ", order_fields!(), "\n  }\n}");

#[derive(Debug, Deserialize)]
pub struct OrderRevisionData {
    pub order: Option<GqlOrder>,
}

/// Fulfilments and tracking entries [`ORDERS_PAGE`] reads per order; an order at either limit may have
/// more, and is completed with [`ORDER_FULFILLMENTS`].
pub const PAGE_FULFILLMENTS: usize = 10;
pub const PAGE_TRACKING: usize = 5;

/// The next line items of one order, after the first page [`ORDERS_PAGE`] read.
pub const ORDER_LINE_ITEMS: &str = r#"query OrderLineItems($id: ID!, $after: String) {
  order(id: $id) {
    lineItems(first: 250, after: $after) { pageInfo { hasNextPage endCursor } nodes { id title sku quantity variant { id } originalUnitPriceSet { shopMoney { amount } } } }
  }
}"#;

/// Every fulfilment of one order with all its tracking, for an order whose page copy was at a limit.
pub const ORDER_FULFILLMENTS: &str = r#"query OrderFulfillments($id: ID!) {
  order(id: $id) {
    fulfillments(first: 250) { id status displayStatus createdAt updatedAt trackingInfo(first: 250) { company number url } }
  }
}"#;

#[derive(Debug, Deserialize)]
pub struct OrderLineItemsData {
    pub order: Option<OrderLineItemsNode>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderLineItemsNode {
    pub line_items: LineItemPage,
}

#[derive(Debug, Deserialize)]
pub struct OrderFulfillmentsData {
    pub order: Option<OrderFulfillmentsNode>,
}

#[derive(Debug, Deserialize)]
pub struct OrderFulfillmentsNode {
    #[serde(default)]
    pub fulfillments: Vec<GqlFulfillment>,
}

/// A page of an order's line items. `pageInfo` may be absent (older callers and fixtures read only
/// `nodes`): then the page is all there is.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LineItemPage {
    #[serde(default)]
    pub page_info: Option<PageInfo>,
    #[serde(default = "Vec::new")]
    pub nodes: Vec<GqlLineItem>,
}

impl LineItemPage {
    /// The cursor to read the next page after, when there is one.
    pub fn next_after(&self) -> Option<String> {
        self.page_info.as_ref().filter(|p| p.has_next_page).map(|p| p.end_cursor.clone().unwrap_or_default())
    }
}

/// The connection page size of [`ORDERS_PAGE`].
pub const ORDERS_PAGE_SIZE: u32 = 25;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageInfo {
    pub has_next_page: bool,
    pub end_cursor: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct OrdersData {
    pub orders: EdgeConnection<GqlOrder>,
}

/// A connection read with `edges`, for the cursor of every node.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EdgeConnection<T> {
    pub page_info: PageInfo,
    pub edges: Vec<Edge<T>>,
}

#[derive(Debug, Deserialize)]
pub struct Edge<T> {
    pub cursor: String,
    pub node: T,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Connection<T> {
    pub page_info: PageInfo,
    pub nodes: Vec<T>,
}

#[derive(Debug, Deserialize)]
pub struct Nodes<T> {
    #[serde(default = "Vec::new")]
    pub nodes: Vec<T>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GqlOrder {
    pub id: String,
    pub legacy_resource_id: Option<String>,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub currency_code: Option<String>,
    pub email: Option<String>,
    pub display_financial_status: Option<String>,
    pub display_fulfillment_status: Option<String>,
    pub total_price_set: MoneyBag,
    pub customer: Option<GqlCustomer>,
    pub shipping_address: Option<GqlAddress>,
    pub line_items: Option<LineItemPage>,
    #[serde(default)]
    pub fulfillments: Vec<GqlFulfillment>,
    #[serde(default)]
    pub transactions: Vec<GqlTransaction>,
}

/// An `OrderTransaction`: only successful sales and captures reach the canonical order.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GqlTransaction {
    pub id: String,
    pub kind: String,
    pub status: Option<String>,
    pub amount_set: MoneyBag,
    pub gateway: Option<String>,
    pub processed_at: Option<DateTime<Utc>>,
}

impl GqlOrder {
    /// Whether the fulfilments read may be cut off by [`ORDERS_PAGE`]'s limits.
    pub fn fulfillments_at_limit(&self) -> bool {
        self.fulfillments.len() >= PAGE_FULFILLMENTS
            || self.fulfillments.iter().any(|f| f.tracking_info.len() >= PAGE_TRACKING)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MoneyBag {
    pub shop_money: GqlMoney,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GqlMoney {
    pub amount: String,
    pub currency_code: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GqlCustomer {
    pub id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GqlAddress {
    pub name: Option<String>,
    pub company: Option<String>,
    pub address1: Option<String>,
    pub address2: Option<String>,
    pub city: Option<String>,
    pub province_code: Option<String>,
    pub zip: Option<String>,
    pub country_code_v2: Option<String>,
    pub phone: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GqlLineItem {
    pub id: String,
    #[serde(alias = "name")]
    pub title: String,
    pub sku: Option<String>,
    pub quantity: u32,
    pub variant: Option<GidRef>,
    pub original_unit_price_set: Option<MoneyBag>,
}

#[derive(Debug, Deserialize)]
pub struct GidRef {
    pub id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GqlFulfillment {
    pub id: String,
    pub status: Option<String>,
    pub display_status: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub tracking_info: Vec<GqlTracking>,
}

#[derive(Debug, Deserialize)]
pub struct GqlTracking {
    pub company: Option<String>,
    pub number: Option<String>,
    pub url: Option<String>,
}

/// The numeric tail of a GID (`gid://shopify/Order/42` → `42`); other strings come back unchanged.
pub fn gid_tail(gid: &str) -> &str {
    gid.rsplit('/').next().unwrap_or(gid)
}

/// Shopify's GraphQL enums are the REST vocabulary in upper case (`PARTIALLY_REFUNDED`).
fn lower(value: Option<String>) -> Option<String> {
    value.map(|v| v.to_ascii_lowercase())
}

impl GqlOrder {
    pub fn into_order(self, shop: ShopDomain) -> Result<Order, MapError> {
        let numeric = self.legacy_resource_id.clone().unwrap_or_else(|| gid_tail(&self.id).to_owned());
        let channel_order_id = ChannelOrderId::parse(&numeric).map_err(|e| invalid("id", e))?;
        let currency = self
            .currency_code
            .clone()
            .or_else(|| self.total_price_set.shop_money.currency_code.clone())
            .unwrap_or_default();
        let total = Money::new(&self.total_price_set.shop_money.amount, &currency).map_err(|e| invalid("total", e))?;
        let line_items = self
            .line_items
            .map(|l| l.nodes)
            .unwrap_or_default()
            .into_iter()
            .map(|item| {
                let amount = item.original_unit_price_set.map(|p| p.shop_money.amount).unwrap_or_else(|| "0".into());
                Ok(LineItem {
                    price: Money::new(&amount, &currency).map_err(|e| invalid("lineItems.price", e))?,
                    id: gid_tail(&item.id).to_owned(),
                    title: item.title,
                    sku: item.sku.filter(|s| !s.is_empty()),
                    variant_id: item.variant.map(|v| gid_tail(&v.id).to_owned()),
                    quantity: item.quantity,
                    source: None,
                    source_order_item_id: None,
                })
            })
            .collect::<Result<Vec<_>, MapError>>()?;
        let email = self.email;
        let customer = self.customer.map(|c| Customer {
            id: c.id.map(|id| gid_tail(&id).to_owned()),
            name: Some([c.first_name, c.last_name].into_iter().flatten().collect::<Vec<_>>().join(" "))
                .filter(|n| !n.is_empty()),
            email: c.email.or_else(|| email.clone()),
        });
        let transactions = self
            .transactions
            .into_iter()
            .filter(|t| PaymentTransaction::is_captured(&t.kind, t.status.as_deref()))
            .map(|t| {
                let money = t.amount_set.shop_money;
                let tx_currency = money.currency_code.unwrap_or_else(|| currency.clone());
                Ok(PaymentTransaction {
                    id: gid_tail(&t.id).to_owned(),
                    kind: t.kind.to_ascii_lowercase(),
                    amount: Money::new(&money.amount, &tx_currency).map_err(|e| invalid("transactions.amount", e))?,
                    gateway: t.gateway,
                    processed_at: t.processed_at,
                })
            })
            .collect::<Result<Vec<_>, MapError>>()?;
        let fulfillment_status = match lower(self.display_fulfillment_status).as_deref() {
            None | Some("unfulfilled") => FulfillmentStatus::Unfulfilled,
            Some(other) => FulfillmentStatus::parse(other),
        };
        Ok(Order {
            shop,
            channel: Channel::Shopify,
            channel_order_id,
            admin_graphql_api_id: Some(self.id),
            name: OrderName::new(self.name),
            created_at: self.created_at,
            updated_at: self.updated_at,
            cancelled_at: self.cancelled_at,
            financial_status: FinancialStatus::parse(
                lower(self.display_financial_status).as_deref().unwrap_or("pending"),
            ),
            fulfillment_status,
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
                country_code: a.country_code_v2,
                phone: a.phone,
            }),
            fulfillments: self.fulfillments.into_iter().map(Fulfillment::from).collect(),
            transactions,
            delivery: Default::default(),
            ops: Default::default(),
            version: 0,
        })
    }
}

impl From<GqlFulfillment> for Fulfillment {
    fn from(f: GqlFulfillment) -> Self {
        Fulfillment {
            id: gid_tail(&f.id).to_owned(),
            status: lower(f.status).unwrap_or_else(|| "pending".into()),
            shipment_status: lower(f.display_status),
            tracking_company: f.tracking_info.iter().find_map(|t| t.company.clone()),
            tracking_numbers: f.tracking_info.iter().filter_map(|t| t.number.clone()).collect(),
            tracking_urls: f.tracking_info.iter().filter_map(|t| t.url.clone()).collect(),
            created_at: f.created_at,
            updated_at: f.updated_at,
        }
    }
}

fn invalid(field: &'static str, reason: impl std::fmt::Display) -> MapError {
    MapError::Field { field, reason: reason.to_string() }
}

/// The ids and times of the orders created in a window (reconciliation: what Shopify holds). Cost ≈ 1
/// per order: no line items, no fulfilments.
pub const ORDER_IDS: &str = r#"query OrderIds($first: Int!, $after: String, $query: String!) {
  orders(first: $first, after: $after, query: $query, sortKey: CREATED_AT) {
    pageInfo { hasNextPage endCursor }
    nodes { id createdAt updatedAt }
  }
}"#;

/// The connection page size of [`ORDER_IDS`] (Shopify's largest).
pub const ORDER_IDS_PAGE_SIZE: u32 = 250;

#[derive(Debug, Deserialize)]
pub struct OrderIdsData {
    pub orders: Connection<OrderStamp>,
}

/// An order's id and times, as [`ORDER_IDS`] reads them.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderStamp {
    pub id: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// The shop's webhook subscriptions (one page is plenty: one per topic).
pub const WEBHOOK_SUBSCRIPTIONS: &str = r#"query WebhookSubscriptions {
  webhookSubscriptions(first: 100) {
    nodes { id topic endpoint { __typename ... on WebhookHttpEndpoint { callbackUrl } } }
  }
}"#;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookSubscriptionsData {
    pub webhook_subscriptions: Nodes<WebhookSubscription>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookSubscription {
    pub id: String,
    pub topic: String,
    pub endpoint: Option<WebhookEndpoint>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEndpoint {
    pub callback_url: Option<String>,
}

pub const WEBHOOK_SUBSCRIPTION_CREATE: &str = r#"mutation WebhookSubscriptionCreate($topic: WebhookSubscriptionTopic!, $webhookSubscription: WebhookSubscriptionInput!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $webhookSubscription) {
    webhookSubscription { id topic }
    userErrors { field message }
  }
}"#;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookSubscriptionCreateData {
    pub webhook_subscription_create: MutationPayload,
}

/// A mutation payload: only the user errors matter to the caller.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MutationPayload {
    #[serde(default)]
    pub user_errors: Vec<super::admin::UserError>,
}

/// An order's fulfilment orders (to fulfil; a connection, read page by page with `$after`) and the
/// fulfilments it already has with all their tracking (so a retried push never creates a second
/// fulfilment, and a second tracking number updates the fulfilment instead). `Order.fulfillments` is a
/// list without a cursor: when `fulfillmentsCount` says it holds more than the list returned, they are
/// read page by page per fulfilment order with [`FULFILLMENT_ORDER_FULFILLMENTS`].
pub const ORDER_FULFILLMENT_ORDERS: &str = r#"query OrderFulfillmentOrders($id: ID!, $after: String) {
  order(id: $id) {
    id
    fulfillmentOrders(first: 50, after: $after) { pageInfo { hasNextPage endCursor } nodes { id status } }
    fulfillmentsCount { count }
    fulfillments(first: 250) { id status trackingInfo(first: 250) { company number url } }
  }
}"#;

/// One page of a fulfilment order's fulfilments (a connection), with all their tracking.
pub const FULFILLMENT_ORDER_FULFILLMENTS: &str = r#"query FulfillmentOrderFulfillments($id: ID!, $after: String) {
  fulfillmentOrder(id: $id) {
    fulfillments(first: 50, after: $after) { pageInfo { hasNextPage endCursor } nodes { id status trackingInfo(first: 250) { company number url } } }
  }
}"#;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FulfillmentOrderFulfillmentsData {
    pub fulfillment_order: Option<FulfillmentOrderFulfillments>,
}

#[derive(Debug, Deserialize)]
pub struct FulfillmentOrderFulfillments {
    pub fulfillments: FulfillmentPage,
}

/// A page of fulfilments; without `pageInfo` the page is all there is.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FulfillmentPage {
    #[serde(default)]
    pub page_info: Option<PageInfo>,
    #[serde(default = "Vec::new")]
    pub nodes: Vec<GqlFulfillment>,
}

impl FulfillmentPage {
    /// The cursor to read the next page after, when there is one.
    pub fn next_after(&self) -> Option<String> {
        self.page_info.as_ref().filter(|p| p.has_next_page).map(|p| p.end_cursor.clone().unwrap_or_default())
    }
}

/// A `Count` (`fulfillmentsCount`).
#[derive(Debug, Deserialize)]
pub struct GqlCount {
    pub count: u64,
}

#[derive(Debug, Deserialize)]
pub struct OrderFulfillmentOrdersData {
    pub order: Option<OrderFulfillmentOrders>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderFulfillmentOrders {
    pub fulfillment_orders: FulfillmentOrderPage,
    /// How many fulfilments the order has (cancelled ones too); absent in older answers.
    #[serde(default)]
    pub fulfillments_count: Option<GqlCount>,
    #[serde(default)]
    pub fulfillments: Vec<GqlFulfillment>,
}

/// A page of an order's fulfilment orders; without `pageInfo` the page is all there is.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FulfillmentOrderPage {
    #[serde(default)]
    pub page_info: Option<PageInfo>,
    #[serde(default = "Vec::new")]
    pub nodes: Vec<FulfillmentOrderRef>,
}

impl FulfillmentOrderPage {
    /// The cursor to read the next page after, when there is one.
    pub fn next_after(&self) -> Option<String> {
        self.page_info.as_ref().filter(|p| p.has_next_page).map(|p| p.end_cursor.clone().unwrap_or_default())
    }
}

#[derive(Debug, Deserialize)]
pub struct FulfillmentOrderRef {
    pub id: String,
    pub status: String,
}

impl FulfillmentOrderRef {
    /// Whether items of it can still be fulfilled.
    pub fn is_open(&self) -> bool {
        matches!(self.status.as_str(), "OPEN" | "IN_PROGRESS" | "SCHEDULED")
    }
}

pub const FULFILLMENT_CREATE: &str = r#"mutation FulfillmentCreate($fulfillment: FulfillmentInput!) {
  fulfillmentCreate(fulfillment: $fulfillment) {
    fulfillment { id status }
    userErrors { field message }
  }
}"#;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FulfillmentCreateData {
    pub fulfillment_create: MutationPayload,
}

/// Adds tracking to a fulfilment that exists (a second tracking number for a shipment Shopify
/// already has as a fulfilment): the numbers given replace the fulfilment's list.
pub const FULFILLMENT_TRACKING_INFO_UPDATE: &str = r#"mutation FulfillmentTrackingInfoUpdate($fulfillmentId: ID!, $trackingInfoInput: FulfillmentTrackingInput!, $notifyCustomer: Boolean) {
  fulfillmentTrackingInfoUpdate(fulfillmentId: $fulfillmentId, trackingInfoInput: $trackingInfoInput, notifyCustomer: $notifyCustomer) {
    fulfillment { id }
    userErrors { field message }
  }
}"#;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FulfillmentTrackingInfoUpdateData {
    pub fulfillment_tracking_info_update: MutationPayload,
}

pub const METAFIELDS_SET: &str = r#"mutation MetafieldsSet($metafields: [MetafieldsSetInput!]!) {
  metafieldsSet(metafields: $metafields) {
    metafields { id }
    userErrors { field message }
  }
}"#;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetafieldsSetData {
    pub metafields_set: MutationPayload,
}

/// Removes metafields (an unassigned order's `order_sync.assigned_to`).
pub const METAFIELDS_DELETE: &str = r#"mutation MetafieldsDelete($metafields: [MetafieldIdentifierInput!]!) {
  metafieldsDelete(metafields: $metafields) {
    deletedMetafields { key namespace ownerId }
    userErrors { field message }
  }
}"#;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetafieldsDeleteData {
    pub metafields_delete: MutationPayload,
}

/// The variant fields both product queries read.
macro_rules! variant_fields {
    () => {
        "pageInfo { hasNextPage endCursor } nodes { id title sku price inventoryQuantity inventoryItem { id } selectedOptions { name value } }"
    };
}

/// Products updated in a window, with their first 100 variants (cost ≈ 5 × 100); more variants are
/// read with [`PRODUCT_VARIANTS`].
pub const PRODUCTS_PAGE: &str = concat!(
    "query ProductsPage($first: Int!, $after: String, $query: String!, $sortKey: ProductSortKeys!) {\n",
    "  products(first: $first, after: $after, query: $query, sortKey: $sortKey) {\n",
    "    pageInfo { hasNextPage endCursor }\n",
    "    nodes { id legacyResourceId title description status updatedAt variants(first: 100) { ",
    variant_fields!(),
    " } }\n  }\n}"
);

/// The next 250 variants of one product.
pub const PRODUCT_VARIANTS: &str = concat!(
    "query ProductVariants($id: ID!, $after: String) {\n  product(id: $id) { variants(first: 250, after: $after) { ",
    variant_fields!(),
    " } }\n}"
);

pub const PRODUCTS_PAGE_SIZE: u32 = 5;

#[derive(Debug, Deserialize)]
pub struct ProductsData {
    pub products: Connection<GqlProduct>,
}

#[derive(Debug, Deserialize)]
pub struct ProductVariantsData {
    pub product: Option<ProductVariants>,
}

#[derive(Debug, Deserialize)]
pub struct ProductVariants {
    pub variants: Connection<GqlVariant>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GqlProduct {
    pub id: String,
    pub legacy_resource_id: Option<String>,
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    pub status: Option<String>,
    pub updated_at: DateTime<Utc>,
    pub variants: Connection<GqlVariant>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GqlVariant {
    pub id: String,
    pub title: String,
    pub sku: Option<String>,
    pub price: Option<String>,
    pub inventory_quantity: Option<i64>,
    pub inventory_item: Option<GidRef>,
    #[serde(default)]
    pub selected_options: Vec<SelectedOption>,
}

#[derive(Debug, Deserialize)]
pub struct SelectedOption {
    pub name: String,
    pub value: String,
}

impl From<GqlVariant> for Variant {
    fn from(v: GqlVariant) -> Self {
        let (size, color) = size_and_color(v.selected_options.iter().map(|o| (o.name.as_str(), o.value.as_str())));
        // `selectedOptions` come in the product's option order: position 1, 2, 3.
        let option = |i: usize| v.selected_options.get(i).map(|o| o.value.clone());
        let (option1, option2, option3) = (option(0), option(1), option(2));
        Variant {
            id: gid_tail(&v.id).to_owned(),
            title: v.title,
            sku: v.sku.filter(|s| !s.is_empty()),
            price: v.price,
            size,
            color,
            option1,
            option2,
            option3,
            inventory_item_id: v.inventory_item.map(|i| gid_tail(&i.id).to_owned()),
            inventory_quantity: v.inventory_quantity.unwrap_or(0),
            levels: Default::default(),
        }
    }
}

impl GqlProduct {
    /// The product with `variants` (all of them, when more than the first page were read).
    pub fn into_product(self, shop: ShopDomain, variants: Vec<GqlVariant>) -> Product {
        Product {
            shop,
            id: self.legacy_resource_id.unwrap_or_else(|| gid_tail(&self.id).to_owned()),
            title: self.title,
            status: lower(self.status),
            description: self.description.filter(|d| !d.is_empty()),
            updated_at: self.updated_at,
            variants: variants.into_iter().map(Variant::from).collect(),
        }
    }
}

/// The orders (or products) search query and sort key of a poll window. Times are whole UTC seconds.
pub fn search(window: &PollWindow) -> (String, &'static str) {
    let at = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    match window.mode {
        WindowMode::Incremental | WindowMode::Recovery => {
            (format!("updated_at:>'{}' AND updated_at:<='{}'", at(window.from), at(window.until)), "UPDATED_AT")
        }
        WindowMode::Backfill => {
            (format!("created_at:>='{}' AND created_at:<'{}'", at(window.from), at(window.until)), "CREATED_AT")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_searches_by_update_time_and_a_backfill_by_creation_time() {
        let at = |m| chrono::DateTime::parse_from_rfc3339(&format!("2026-11-22T06:{m:02}:00Z")).unwrap().to_utc();
        let window = PollWindow::incremental(Some(at(30)), at(0), chrono::TimeDelta::minutes(2), at(45));
        assert_eq!(
            search(&window),
            ("updated_at:>'2026-11-22T06:28:00Z' AND updated_at:<='2026-11-22T06:45:00Z'".to_owned(), "UPDATED_AT")
        );
        let backfill = PollWindow { mode: WindowMode::Backfill, ..window };
        assert_eq!(search(&backfill).1, "CREATED_AT");
    }

    #[test]
    fn maps_a_graphql_order_to_the_webhook_vocabulary() {
        let node = serde_json::json!({
            "id": "gid://shopify/Order/158040885", "name": "#2000",
            "createdAt": "2024-01-01T00:00:00Z", "updatedAt": "2024-01-02T00:00:00Z",
            "displayFinancialStatus": "PARTIALLY_REFUNDED", "displayFulfillmentStatus": "PARTIALLY_FULFILLED",
            "totalPriceSet": { "shopMoney": { "amount": "2000.0", "currencyCode": "CAD" } },
            "email": "bob@example.com", "shippingAddress": null,
            "lineItems": { "nodes": [{ "id": "gid://shopify/LineItem/7", "name": "Draft - 151cm", "quantity": 10,
                "sku": "draft-151", "variant": { "id": "gid://shopify/ProductVariant/168923715" } }] },
            "fulfillments": [{ "id": "gid://shopify/Fulfillment/9", "status": "SUCCESS", "displayStatus": "IN_TRANSIT",
                "trackingInfo": [{ "company": "UPS", "number": "1Z", "url": null }] }],
            "transactions": [
                { "id": "gid://shopify/OrderTransaction/11", "kind": "AUTHORIZATION", "status": "SUCCESS",
                  "amountSet": { "shopMoney": { "amount": "2000.0", "currencyCode": "CAD" } }, "gateway": "shopify_payments",
                  "processedAt": "2024-01-01T00:00:01Z" },
                { "id": "gid://shopify/OrderTransaction/12", "kind": "CAPTURE", "status": "SUCCESS",
                  "amountSet": { "shopMoney": { "amount": "2000.0", "currencyCode": "CAD" } }, "gateway": "shopify_payments",
                  "processedAt": "2024-01-01T00:05:00Z" },
                { "id": "gid://shopify/OrderTransaction/13", "kind": "SALE", "status": "FAILURE",
                  "amountSet": { "shopMoney": { "amount": "5.0", "currencyCode": "CAD" } }, "gateway": "manual",
                  "processedAt": null },
                { "id": "gid://shopify/OrderTransaction/14", "kind": "VOID", "status": "SUCCESS",
                  "amountSet": { "shopMoney": { "amount": "0.0", "currencyCode": "CAD" } }, "gateway": "manual",
                  "processedAt": null }
            ]
        });
        let order: GqlOrder = serde_json::from_value(node).unwrap();
        let order = order.into_order(ShopDomain::parse("a.myshopify.com").unwrap()).unwrap();
        assert_eq!(order.channel_order_id.as_str(), "158040885");
        assert_eq!(order.financial_status, FinancialStatus::PartiallyRefunded);
        assert_eq!(order.fulfillment_status, FulfillmentStatus::PartiallyFulfilled);
        assert_eq!(order.total, Money::new("2000.0", "CAD").unwrap());
        assert_eq!(order.line_items[0].variant_id.as_deref(), Some("168923715"));
        assert_eq!(order.fulfillments[0].shipment_status.as_deref(), Some("in_transit"));
        assert_eq!(order.fulfillments[0].tracking_numbers, ["1Z"]);
        // Only the successful capture: the authorization, the failed sale and the void are not money in.
        assert_eq!(order.transactions.len(), 1, "{:?}", order.transactions);
        let capture = &order.transactions[0];
        assert_eq!((capture.id.as_str(), capture.kind.as_str()), ("12", "capture"));
        assert_eq!(capture.amount, Money::new("2000.0", "CAD").unwrap());
        assert_eq!(capture.gateway.as_deref(), Some("shopify_payments"));
    }

    #[test]
    fn the_order_queries_read_the_payment_transactions() {
        for query in [ORDERS_PAGE, ORDER_REVISION] {
            assert!(
                query.contains(
                    "transactions { id kind status amountSet { shopMoney { amount currencyCode } } gateway processedAt }"
                ),
                "{query}"
            );
        }
    }
}
