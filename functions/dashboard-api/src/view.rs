//! The order as the dashboard sees it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use shared::{
    domain::{Money, Order, ShipmentSummary, TimelineEvent},
    store::Delivery,
};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderView {
    pub id: String,
    pub name: String,
    pub channel: String,
    /// `cancelled`, or the fulfilment status.
    pub status: String,
    pub financial_status: String,
    pub fulfillment_status: String,
    pub priority: &'static str,
    pub assigned_to: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub total: Money,
    pub customer_name: Option<String>,
    pub line_item_count: usize,
    pub shipment: Option<ShipmentSummary>,
    pub return_state: Option<&'static str>,
    pub support_thread: Option<String>,
    /// Open alerts on the order: `tracking_pending`, `delayed`.
    pub alerts: Vec<&'static str>,
    pub tabs: Vec<&'static str>,
}

impl From<&Order> for OrderView {
    fn from(order: &Order) -> Self {
        Self {
            id: order.public_id(),
            name: order.name.as_str().to_owned(),
            channel: order.channel.to_string(),
            status: order.status_label(),
            financial_status: order.financial_status.to_string(),
            fulfillment_status: order.fulfillment_status.to_string(),
            priority: order.priority().as_str(),
            assigned_to: order.ops.assigned_to.clone(),
            created_at: order.created_at,
            updated_at: order.updated_at,
            cancelled_at: order.cancelled_at,
            total: order.total.clone(),
            customer_name: order.customer.as_ref().and_then(|c| c.name.clone()),
            line_item_count: order.line_items.len(),
            shipment: order.shipment(),
            return_state: order.ops.return_case.as_ref().map(|r| r.state.as_str()),
            support_thread: order.ops.support.as_ref().map(|s| s.id.clone()),
            alerts: order.open_alerts(),
            tabs: order.tabs().into_iter().map(|t| t.as_str()).collect(),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LineItemView {
    pub id: String,
    pub title: String,
    pub sku: Option<String>,
    pub quantity: u32,
    pub price: Money,
}

/// `GET /sync/orders/{id}`: the order, its line items, its last ten timeline events, and what became of
/// each change handed on for it (delivered, skipped, deferred until a destination exists, rejected).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderDetail {
    pub order: OrderView,
    pub line_items: Vec<LineItemView>,
    pub timeline: Vec<TimelineEvent>,
    pub deliveries: Vec<Delivery>,
    /// The fulfilment route and the partner's side of the order; `null` while the order is not routed.
    pub fulfilment: Option<FulfilmentView>,
    /// Who assigned whom and when (the seed's `OrderAssignment`), newest first.
    pub assignments: Vec<AssignmentView>,
    /// The ERP's side of the order (CommerceOS); `null` while the order is not mirrored.
    pub erp: Option<ErpView>,
}

/// How far CommerceOS got with the order.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErpView {
    pub system: &'static str,
    pub identifier: String,
    pub upserted: bool,
    pub approved: bool,
    pub cancelled: bool,
    /// The webshop status of seed 004's table (`pending`, `confirmed`, `cancelled`).
    pub status: Option<String>,
    /// CommerceOS's own status list, verbatim.
    pub raw_status: Vec<String>,
    pub shipments: Vec<ErpShipmentView>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErpShipmentView {
    pub id: String,
    pub status: String,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub tracking_url: Option<String>,
}

impl ErpView {
    fn of(order: &Order) -> Option<Self> {
        let erp = order.ops.erp.clone()?;
        Some(Self {
            system: "commerceos",
            identifier: erp.identifier,
            upserted: erp.upserted,
            approved: erp.approved,
            cancelled: erp.cancelled,
            status: erp.status,
            raw_status: erp.raw_status,
            shipments: erp
                .shipments
                .into_iter()
                .map(|s| ErpShipmentView {
                    id: s.id,
                    status: s.status,
                    carrier: s.carrier,
                    tracking_number: s.tracking_number,
                    tracking_url: s.tracking_url,
                })
                .collect(),
        })
    }
}

/// One assignment change: `assignee` `null` is an unassignment.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignmentView {
    pub assignee: Option<String>,
    pub previous: Option<String>,
    pub assigned_by: Option<String>,
    pub assigned_at: DateTime<Utc>,
}

/// Where the order ships from and how far the partner got.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FulfilmentView {
    pub partner: String,
    pub partner_order_id: String,
    pub provider: String,
    pub service_level: String,
    pub routed_at: DateTime<Utc>,
    pub accepted: bool,
    /// The partner's status, verbatim (`open`, `atWarehouse`, `fulfilled`…).
    pub partner_status: Option<String>,
    pub shipments: Vec<PartnerShipmentView>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PartnerShipmentView {
    pub id: String,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub tracking_url: Option<String>,
}

impl FulfilmentView {
    fn of(order: &Order) -> Option<Self> {
        let route = order.ops.route.as_ref()?;
        let partner = order.ops.partner.clone().unwrap_or_default();
        Some(Self {
            partner: route.partner.to_string(),
            partner_order_id: route.partner_order_id.clone(),
            provider: route.provider.clone(),
            service_level: route.service_level.clone(),
            routed_at: route.decided_at,
            accepted: partner.accepted,
            partner_status: partner.status,
            shipments: partner
                .shipments
                .into_iter()
                .map(|s| PartnerShipmentView {
                    id: s.id,
                    carrier: s.carrier,
                    tracking_number: s.tracking_number,
                    tracking_url: s.tracking_url,
                })
                .collect(),
        })
    }
}

impl OrderDetail {
    pub fn new(order: &Order, timeline: Vec<TimelineEvent>, deliveries: Vec<Delivery>) -> Self {
        Self {
            order: OrderView::from(order),
            line_items: order
                .line_items
                .iter()
                .map(|l| LineItemView {
                    id: l.id.clone(),
                    title: l.title.clone(),
                    sku: l.sku.clone(),
                    quantity: l.quantity,
                    price: l.price.clone(),
                })
                .collect(),
            timeline,
            deliveries,
            fulfilment: FulfilmentView::of(order),
            assignments: order
                .ops
                .assignments
                .iter()
                .rev()
                .map(|a| AssignmentView {
                    assignee: a.assignee.clone(),
                    previous: a.previous.clone(),
                    assigned_by: a.assigned_by.clone(),
                    assigned_at: a.assigned_at,
                })
                .collect(),
            erp: ErpView::of(order),
        }
    }
}
