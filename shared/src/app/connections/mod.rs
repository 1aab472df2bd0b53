//! Shops' connections to integrations: each integration's typed settings over the generic connection
//! record, the owner rule, and its credential.

pub mod amazon;
pub mod commerceos;
pub mod masonhub;

use chrono::{DateTime, Utc};
use serde::{Serialize, de::DeserializeOwned};

use crate::{
    app::orders::Routing,
    domain::{Integration, ShopDomain},
    error::StoreError,
    store::{Connection, ConnectionStatus, ConnectionStore},
};

/// An integration's settings document: what its connection record's `settings` holds.
pub trait ConnectionSettings: Serialize + DeserializeOwned {
    const INTEGRATION: Integration;
}

/// A connection record with its integration's settings typed (`masonhub::MasonHubConnection`,
/// `commerceos::CommerceOsConnection`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Typed<S> {
    pub shop: ShopDomain,
    pub settings: S,
    /// The session user who created it.
    pub owner_sub: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub status: ConnectionStatus,
    pub version: u64,
}

impl<S: ConnectionSettings> Typed<S> {
    fn from_record(record: Connection) -> Result<Self, StoreError> {
        let settings = serde_json::from_value(record.settings)
            .map_err(|e| StoreError::Corrupt(format!("{} connection settings: {e}", S::INTEGRATION)))?;
        Ok(Self {
            shop: record.shop,
            settings,
            owner_sub: record.owner_sub,
            active: record.active,
            created_at: record.created_at,
            updated_at: record.updated_at,
            status: record.status,
            version: record.version,
        })
    }

    pub(crate) fn to_record(&self) -> Result<Connection, StoreError> {
        Ok(Connection {
            shop: self.shop.clone(),
            integration: S::INTEGRATION,
            settings: serde_json::to_value(&self.settings).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            owner_sub: self.owner_sub.clone(),
            active: self.active,
            created_at: self.created_at,
            updated_at: self.updated_at,
            status: self.status.clone(),
            version: self.version,
        })
    }
}

/// The shop's connection to `S`'s integration, if any.
pub async fn load<S: ConnectionSettings>(
    store: &dyn ConnectionStore,
    shop: &ShopDomain,
) -> Result<Option<Typed<S>>, StoreError> {
    store.connection(shop, S::INTEGRATION).await?.map(Typed::from_record).transpose()
}

/// The shop's routing: its MasonHub fulfilment settings and its CommerceOS ERP settings. When
/// CommerceOS fulfils (`ErpSettings::fulfils`, active and enabled), no order is routed to MasonHub,
/// whatever MasonHub's settings say (the settings API refuses the combination; this holds anyway).
pub async fn routing(store: &dyn ConnectionStore, shop: &ShopDomain) -> Result<Routing, StoreError> {
    let erp = commerceos::erp(store, shop).await?;
    let commerceos_fulfils = erp.as_ref().is_some_and(|e| e.enabled && e.fulfils);
    let fulfilment = if commerceos_fulfils { None } else { masonhub::fulfilment(store, shop).await? };
    Ok(Routing { fulfilment, erp })
}
