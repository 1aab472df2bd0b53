//! Products and variants as the assistant API answers them: size and colour from the options named
//! Size, Color or Colour, and an inventory status from the quantity on hand.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ShopDomain;

/// Variants kept on the product's main record; the rest live on variant pages of the same size.
pub const VARIANTS_PER_RECORD: usize = 250;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub shop: ShopDomain,
    /// Shopify's numeric product id.
    pub id: String,
    pub title: String,
    pub status: Option<String>,
    /// Plain text (the webhook's `body_html` with the markup removed; GraphQL's `description`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The channel's modification time: an older revision never replaces a newer one.
    pub updated_at: DateTime<Utc>,
    pub variants: Vec<Variant>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variant {
    pub id: String,
    pub title: String,
    pub sku: Option<String>,
    pub price: Option<String>,
    pub size: Option<String>,
    pub color: Option<String>,
    /// The option values by position (Shopify's `option1`..`option3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub option1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub option2: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub option3: Option<String>,
    pub inventory_item_id: Option<String>,
    /// The total the product payload reported.
    pub inventory_quantity: i64,
    /// Units available per location, from `inventory_levels/update`, each with its own time.
    #[serde(default)]
    pub levels: BTreeMap<String, Level>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Level {
    pub available: i64,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InventoryStatus {
    InStock,
    OutOfStock,
    /// 1 to 9 units.
    Partial,
}

impl Variant {
    /// Units on hand: the sum of the per-location levels once any is known (they are newer than the
    /// product payload's total), else the payload's total.
    pub fn quantity(&self) -> i64 {
        if self.levels.is_empty() { self.inventory_quantity } else { self.levels.values().map(|l| l.available).sum() }
    }

    pub fn inventory_status(&self) -> InventoryStatus {
        match self.quantity() {
            q if q <= 0 => InventoryStatus::OutOfStock,
            1..=9 => InventoryStatus::Partial,
            _ => InventoryStatus::InStock,
        }
    }

    /// Sets `available` at `location` unless a level at least as new is known. Returns whether it moved.
    pub fn set_level(&mut self, location: &str, available: i64, at: DateTime<Utc>) -> bool {
        if self.levels.get(location).is_some_and(|l| l.updated_at >= at) {
            return false;
        }
        self.levels.insert(location.to_owned(), Level { available, updated_at: at });
        true
    }
}

/// Size and colour from a variant's `(option name, value)` pairs: options named Size, and Color or
/// Colour, in any case.
pub fn size_and_color<'a>(options: impl IntoIterator<Item = (&'a str, &'a str)>) -> (Option<String>, Option<String>) {
    let (mut size, mut color) = (None, None);
    for (name, value) in options {
        match name.trim().to_ascii_lowercase().as_str() {
            "size" => size = Some(value.to_owned()),
            "color" | "colour" => color = Some(value.to_owned()),
            _ => {}
        }
    }
    (size, color)
}

/// Plain text of an HTML fragment: tags dropped (block ends become line breaks), the common entities
/// decoded, runs of spaces collapsed. Enough for product descriptions; not a general HTML parser.
pub fn plain_text(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        text.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('>') else {
            rest = "";
            break;
        };
        let tag = rest[start + 1..start + end].trim().to_ascii_lowercase();
        let name = tag.trim_start_matches('/').split([' ', '/']).next().unwrap_or_default();
        if matches!(name, "br" | "p" | "div" | "li" | "tr" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6") {
            text.push('\n');
        }
        rest = &rest[start + end + 1..];
    }
    text.push_str(rest);
    let decoded = text
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&amp;", "&");
    decoded
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

impl Product {
    /// Keeps the per-location levels `previous` knew for variants that still exist.
    pub fn carry_levels_from(&mut self, previous: &Product) {
        let known: BTreeMap<&str, &BTreeMap<String, Level>> =
            previous.variants.iter().map(|v| (v.id.as_str(), &v.levels)).collect();
        for variant in &mut self.variants {
            if let Some(levels) = known.get(variant.id.as_str()) {
                variant.levels = (*levels).clone();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variant(quantity: i64) -> Variant {
        Variant {
            id: "1".into(),
            title: "t".into(),
            sku: None,
            price: None,
            size: None,
            color: None,
            option1: None,
            option2: None,
            option3: None,
            inventory_item_id: None,
            inventory_quantity: quantity,
            levels: BTreeMap::new(),
        }
    }

    #[test]
    fn status_follows_the_quantity_with_partial_for_one_to_nine() {
        let status = |q| variant(q).inventory_status();
        assert_eq!(
            [status(-2), status(0), status(1), status(9), status(10)],
            [
                InventoryStatus::OutOfStock,
                InventoryStatus::OutOfStock,
                InventoryStatus::Partial,
                InventoryStatus::Partial,
                InventoryStatus::InStock
            ]
        );
    }

    #[test]
    fn levels_replace_the_total_and_never_go_back_in_time() {
        let at = |h| DateTime::parse_from_rfc3339(&format!("2026-11-22T{h:02}:00:00Z")).unwrap().to_utc();
        let mut v = variant(50);
        assert!(v.set_level("a", 3, at(10)));
        assert!(v.set_level("b", 4, at(10)));
        assert!(!v.set_level("a", 30, at(9)), "older");
        assert_eq!(v.quantity(), 7);
        assert_eq!(v.inventory_status(), InventoryStatus::Partial);
    }

    #[test]
    fn descriptions_lose_their_markup() {
        assert_eq!(
            plain_text(
                "<p>Hand-made <strong>mug</strong> &amp; saucer.</p><ul><li>12&nbsp;oz</li><li>Dishwasher safe</li></ul>"
            ),
            "Hand-made mug & saucer.\n12 oz\nDishwasher safe"
        );
        assert_eq!(plain_text("Plain text description."), "Plain text description.");
    }

    #[test]
    fn size_and_colour_come_from_the_named_options() {
        assert_eq!(
            size_and_color([("Colour", "Red"), ("Material", "Wool"), ("SIZE", "M")]),
            (Some("M".into()), Some("Red".into()))
        );
        assert_eq!(size_and_color([("Title", "Default Title")]), (None, None));
    }
}
