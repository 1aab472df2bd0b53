//! The store ports, in domain language: one narrow trait per aggregate, one file per port. The same file
//! names under `dynamo/` (the DynamoDB adapter), `memory/` (the in-memory fake) and `contract/` (the
//! suite both adapters pass). Ports import `domain` only; nothing here names an upstream wire type.
//! Key design: `docs/data-model.md`.

#[cfg(feature = "testing")]
pub mod contract;
pub mod dynamo;
pub mod keys;
#[cfg(feature = "testing")]
pub mod memory;
pub mod schema;

mod alerts;
mod assistant;
mod connections;
mod credentials;
mod dead_letters;
mod deliveries;
mod install;
mod mirror;
mod orders;
mod outbox;
mod products;
mod receipts;
mod requests;
mod shops;
mod streams;
mod sync;

pub use alerts::*;
pub use assistant::*;
pub use connections::*;
pub use credentials::*;
pub use dead_letters::*;
pub use deliveries::*;
pub use install::*;
pub use mirror::*;
pub use orders::*;
pub use outbox::*;
pub use products::*;
pub use receipts::*;
pub use requests::*;
pub use shops::*;
pub use streams::*;
pub use sync::*;

/// How long webhook receipts are kept. Shopify retries for 4 hours; a week covers manual replays.
pub const RECEIPT_TTL_SECONDS: i64 = 7 * 24 * 3600;

/// How long remembered page boundaries are kept.
pub const PAGE_BOUNDARY_TTL_SECONDS: i64 = 24 * 3600;

/// Whether a write guarded by a version still saw that version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    Written,
    /// Someone else wrote first: re-read and decide again.
    VersionConflict,
}

/// Whether an idempotent record was new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    New,
    Duplicate,
}
