//! The upstream systems we integrate with. An [`Integration`] names a system we talk to (its
//! connection, credentials, watermarks, webhook receipts, queues); a [`super::Channel`] names where an
//! order came from. MasonHub is an integration but never a channel: it ships orders, it does not sell.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Channel, ids::IdError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Integration {
    /// Shopify: webhooks, the Admin GraphQL poll and pushes back (fulfilments, metafields).
    Shopify,
    /// Amazon SP-API: the orders poll.
    Amazon,
    /// The 3PL MasonHub: orders out, shipment callbacks back.
    #[serde(rename = "masonhub")]
    MasonHub,
    /// The ERP/OMS CommerceOS: orders out, sync-webhooks back, orders born there in.
    #[serde(rename = "commerceos")]
    CommerceOs,
}

impl Integration {
    pub const ALL: [Integration; 4] =
        [Integration::Shopify, Integration::Amazon, Integration::MasonHub, Integration::CommerceOs];

    /// The name used in keys, queue names and KMS encryption contexts. Never change one.
    pub fn as_str(self) -> &'static str {
        match self {
            Integration::Shopify => "shopify",
            Integration::Amazon => "amazon",
            Integration::MasonHub => "masonhub",
            Integration::CommerceOs => "commerceos",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, IdError> {
        Self::ALL.into_iter().find(|i| i.as_str() == raw).ok_or_else(|| IdError::Integration(raw.to_owned()))
    }
}

impl fmt::Display for Integration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Channel> for Integration {
    /// The integration an order of `channel` arrives through.
    fn from(channel: Channel) -> Self {
        match channel {
            Channel::Shopify => Integration::Shopify,
            Channel::Amazon => Integration::Amazon,
            Channel::CommerceOs => Integration::CommerceOs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_text_and_json() {
        for integration in Integration::ALL {
            assert_eq!(Integration::parse(integration.as_str()).unwrap(), integration);
            assert_eq!(serde_json::to_value(integration).unwrap(), integration.as_str());
        }
        assert!(Integration::parse("ebay").is_err());
    }
}
