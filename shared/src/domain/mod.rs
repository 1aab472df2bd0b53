//! The canonical model: pure types and rules, no I/O. Channel wire formats convert into these at the
//! adapters (`crate::integrations::shopify::model`), so the rest of the system never sees upstream JSON.

pub mod alert;
pub mod ids;
pub mod message;
pub mod money;
pub mod ops;
pub mod order;
pub mod product;
pub mod tabs;
pub mod timeline;

pub use alert::{Alert, AlertKind};
pub use ids::{Channel, ChannelOrderId, OrderKey, OrderName, ShopDomain};
pub use message::StageMessage;
pub use money::Money;
pub use ops::{OrderOps, ReturnAction, ReturnCase, ReturnState, ShipmentSummary};
pub use order::{Address, Customer, FinancialStatus, Fulfillment, FulfillmentStatus, LineItem, Order, UpsertPlan};
pub use product::{InventoryStatus, Product, Variant};
pub use tabs::{Priority, Tab};
pub use timeline::TimelineEvent;
