//! The canonical model: pure types and rules, no I/O and no upstream wire formats. Each integration maps
//! its wire model into these (`crate::integrations::<x>`), so the rest of the system never sees
//! upstream JSON.

pub mod alert;
pub mod erp;
pub mod fulfilment;
pub mod ids;
pub mod integration;
pub mod money;
pub mod ops;
pub mod order;
pub mod poll;
pub mod product;
pub mod tabs;
pub mod timeline;

pub use alert::{Alert, AlertKind};
pub use erp::{ErpAction, ErpEffect, ErpSettings};
pub use fulfilment::{DeliveryFacts, FulfilmentSettings, PartnerAction, PartnerEffect, Route};
pub use ids::{Channel, ChannelOrderId, OrderKey, OrderName, ShopDomain};
pub use integration::Integration;
pub use money::Money;
pub use ops::{OrderOps, ReturnAction, ReturnCase, ReturnState, ShipmentSummary};
pub use order::{
    Address, Customer, FinancialStatus, Fulfillment, FulfillmentStatus, LineItem, Order, PaymentTransaction, UpsertPlan,
};
pub use product::{InventoryStatus, Product, Variant};
pub use tabs::{Priority, Tab};
pub use timeline::TimelineEvent;
