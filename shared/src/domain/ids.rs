//! Identifier newtypes. Each one is parsed once at the boundary and is valid from then on.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why an identifier was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdError {
    #[error("shop domain `{0}` is not a valid host name")]
    ShopDomain(String),
    #[error("order id `{0}` is empty or malformed")]
    OrderId(String),
    #[error("unknown channel `{0}`")]
    Channel(String),
    #[error("unknown integration `{0}`")]
    Integration(String),
}

/// A merchant's shop, identified by its `*.myshopify.com` host. Stored lower-case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ShopDomain(String);

impl ShopDomain {
    /// Accepts a bare host name (letters, digits, `-` and `.`), at most 255 characters, with at least
    /// one dot. Shopify sends the `myshopify.com` domain in `X-Shopify-Shop-Domain`.
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let host = raw.trim().to_ascii_lowercase();
        let valid = !host.is_empty()
            && host.len() <= 255
            && host.contains('.')
            && !host.starts_with(['.', '-'])
            && !host.ends_with(['.', '-'])
            && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if valid { Ok(Self(host)) } else { Err(IdError::ShopDomain(raw.to_owned())) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ShopDomain {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<ShopDomain> for String {
    fn from(value: ShopDomain) -> Self {
        value.0
    }
}

impl fmt::Display for ShopDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where an order came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Shopify,
    Amazon,
    /// Orders born in CommerceOS (B2B, EDI, POS), reported by its new-order sync-webhook.
    #[serde(rename = "commerceos")]
    CommerceOs,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Shopify => "shopify",
            Channel::Amazon => "amazon",
            Channel::CommerceOs => "commerceos",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, IdError> {
        match raw {
            "shopify" => Ok(Channel::Shopify),
            "amazon" => Ok(Channel::Amazon),
            "commerceos" => Ok(Channel::CommerceOs),
            other => Err(IdError::Channel(other.to_owned())),
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The order's id in its channel: Shopify's numeric order id (kept as a string, since it exceeds the
/// JavaScript safe integer range), or Amazon's `3-7-7` order id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ChannelOrderId(String);

impl ChannelOrderId {
    /// Non-empty, at most 64 characters of `[A-Za-z0-9-_]` (`#` would break the composite keys).
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let ok = !raw.is_empty()
            && raw.len() <= 64
            && raw.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if ok { Ok(Self(raw.to_owned())) } else { Err(IdError::OrderId(raw.to_owned())) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ChannelOrderId {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<ChannelOrderId> for String {
    fn from(value: ChannelOrderId) -> Self {
        value.0
    }
}

impl fmt::Display for ChannelOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An order's identity inside a shop: channel plus channel order id. Rendered `shopify:820982911946154508`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OrderKey {
    pub channel: Channel,
    pub id: ChannelOrderId,
}

impl OrderKey {
    pub fn new(channel: Channel, id: ChannelOrderId) -> Self {
        Self { channel, id }
    }

    pub fn shopify(id: ChannelOrderId) -> Self {
        Self::new(Channel::Shopify, id)
    }

    /// Parses the `channel:id` rendering.
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let (channel, id) = raw.split_once(':').ok_or_else(|| IdError::OrderId(raw.to_owned()))?;
        Ok(Self::new(Channel::parse(channel)?, ChannelOrderId::parse(id)?))
    }
}

impl fmt::Display for OrderKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.channel, self.id)
    }
}

/// The human order name, e.g. Shopify's `#1001`. Lookups normalise it: `1001` and `#1001` are the same.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OrderName(String);

impl OrderName {
    pub fn new(raw: impl Into<String>) -> Self {
        Self(raw.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form used as a lookup key: without the leading `#`, trimmed, lower-case.
    pub fn normalized(&self) -> String {
        Self::normalize(&self.0)
    }

    pub fn normalize(raw: &str) -> String {
        raw.trim().trim_start_matches('#').trim().to_ascii_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shop_domain_is_lowercased_and_validated() {
        assert_eq!(ShopDomain::parse("Demo-Shop.myshopify.com").unwrap().as_str(), "demo-shop.myshopify.com");
        for bad in ["", "nodot", "a b.com", "-x.com", "x.com.", "shop.myshopify.com/path", "x\u{e9}.com"] {
            assert!(ShopDomain::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn order_key_round_trips_through_its_rendering() {
        let key = OrderKey::shopify(ChannelOrderId::parse("820982911946154508").unwrap());
        assert_eq!(key.to_string(), "shopify:820982911946154508");
        assert_eq!(OrderKey::parse("shopify:820982911946154508").unwrap(), key);
        assert!(OrderKey::parse("ebay:1").is_err());
        assert!(OrderKey::parse("shopify:a#b").is_err());
    }

    #[test]
    fn order_names_normalise_hash_and_case() {
        assert_eq!(OrderName::new("#1001").normalized(), "1001");
        assert_eq!(OrderName::normalize(" 1001 "), "1001");
        assert_eq!(OrderName::normalize("#AB-12"), "ab-12");
    }
}
