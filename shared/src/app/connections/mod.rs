//! Shops' connections to integrations: each integration's typed settings over the generic connection
//! record, the owner rule, and its credential.

pub mod amazon;
pub mod commerceos;
pub mod masonhub;

use crate::{app::orders::Routing, domain::ShopDomain, error::StoreError, store::ConnectionStore};

/// The shop's routing: its MasonHub fulfilment settings and its CommerceOS ERP settings.
pub async fn routing(store: &dyn ConnectionStore, shop: &ShopDomain) -> Result<Routing, StoreError> {
    Ok(Routing { fulfilment: masonhub::fulfilment(store, shop).await?, erp: commerceos::erp(store, shop).await? })
}
