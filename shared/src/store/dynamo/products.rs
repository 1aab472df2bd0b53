//! The product store on DynamoDB. A product is one item collection: the main record (`~PRODUCT`: the
//! product and its first 250 variants) and variant pages (`VARIANTS#0001`…). Every item carries a
//! version, and every write is conditional on the versions read, so a product revision and an
//! inventory level landing at the same time never overwrite each other.

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, PutRequest, TransactWriteItem, WriteRequest};
use chrono::{DateTime, Utc};

use super::{DynamoStore, Item, from_data, n, s, string_attr, time_attr, to_json};
use crate::{
    domain::{Product, ShopDomain, Variant, product::VARIANTS_PER_RECORD},
    error::StoreError,
    store::{ProductStore, WriteOutcome, keys},
};

const ATTEMPTS: usize = 5;

/// What is stored of a product: its items' versions by sort key, and the product with every variant.
#[derive(Debug, Default)]
struct Stored {
    versions: HashMap<String, u64>,
    product: Option<Product>,
    /// Of the main record: the product's revision, or its deletion.
    updated_at: Option<DateTime<Utc>>,
    deleted: bool,
    /// Which item holds each variant (by variant id).
    homes: HashMap<String, String>,
}

fn version(item: &Item) -> u64 {
    item.get("version").and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// A variant's (SKU, inventory item), when it has both.
fn sku_item(variant: &Variant) -> Option<(&str, &str)> {
    Some((variant.sku.as_deref().filter(|s| !s.is_empty())?, variant.inventory_item_id.as_deref()?))
}

fn page_number(sk: &str) -> Option<usize> {
    sk.strip_prefix("VARIANTS#").and_then(|p| p.parse().ok())
}

impl DynamoStore {
    async fn stored_product(&self, shop: &ShopDomain, id: &str) -> Result<Stored, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_values(":pk", s(keys::product_pk(shop, id)));
        let items = self.query(query, usize::MAX).await?;
        let mut stored = Stored::default();
        let mut pages: Vec<(usize, Vec<Variant>)> = Vec::new();
        for item in &items {
            let sk = string_attr(item, keys::SK)?;
            stored.versions.insert(sk.to_owned(), version(item));
            if sk == keys::PRODUCT_SK {
                stored.deleted = item.get("deleted").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false);
                stored.updated_at = time_attr(item, "updated_at")?;
                if !stored.deleted {
                    let product: Product = from_data(item)?;
                    for v in &product.variants {
                        stored.homes.insert(v.id.clone(), sk.to_owned());
                    }
                    stored.product = Some(product);
                }
            } else if let Some(page) = page_number(sk) {
                let variants: Vec<Variant> = from_data(item)?;
                for v in &variants {
                    stored.homes.insert(v.id.clone(), sk.to_owned());
                }
                pages.push((page, variants));
            }
        }
        pages.sort_by_key(|(page, _)| *page);
        if let Some(product) = stored.product.as_mut() {
            product.variants.extend(pages.into_iter().flat_map(|(_, v)| v));
        }
        Ok(stored)
    }

    /// A put conditional on the item still being at the version read (or absent if it was).
    fn versioned_put(&self, mut item: Item, read: Option<u64>) -> Result<TransactWriteItem, StoreError> {
        item.insert("version".into(), n(read.unwrap_or(0) + 1));
        let mut put = Put::builder().table_name(&self.table).set_item(Some(item));
        put = match read {
            Some(v) => put
                .condition_expression("#v = :v")
                .expression_attribute_names("#v", "version")
                .expression_attribute_values(":v", n(v)),
            None => put.condition_expression("attribute_not_exists(#pk)").expression_attribute_names("#pk", keys::PK),
        };
        let put = put.build().map_err(|e| StoreError::unavailable("build put", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn versioned_delete(&self, pk: &str, sk: &str, read: u64) -> Result<TransactWriteItem, StoreError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .key(keys::PK, s(pk))
            .key(keys::SK, s(sk))
            .condition_expression("#v = :v")
            .expression_attribute_names("#v", "version")
            .expression_attribute_values(":v", n(read))
            .build()
            .map_err(|e| StoreError::unavailable("build delete", e))?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    fn main_record(&self, product: &Product, variants: &[Variant], pages: usize) -> Result<Item, StoreError> {
        let head = Product { variants: variants.to_vec(), ..product.clone() };
        Ok(HashMap::from([
            (keys::PK.into(), s(keys::product_pk(&product.shop, &product.id))),
            (keys::SK.into(), s(keys::PRODUCT_SK)),
            (keys::GSI1PK.into(), s(keys::shop_products_gsi1pk(&product.shop))),
            (keys::GSI1SK.into(), s(&product.id)),
            ("entity".into(), s("product")),
            ("updated_at".into(), s(keys::sortable_time(product.updated_at))),
            ("pages".into(), n(pages)),
            ("data".into(), to_json(&head)?),
        ]))
    }

    /// Indexes the inventory items `product` has and `known` had not, and the SKUs whose inventory item
    /// is new or moved.
    async fn index_inventory_items(&self, product: &Product, known: &Option<Product>) -> Result<(), StoreError> {
        let had: BTreeSet<&str> =
            known.iter().flat_map(|p| p.variants.iter().filter_map(|v| v.inventory_item_id.as_deref())).collect();
        let skus_had: BTreeSet<(&str, &str)> =
            known.iter().flat_map(|p| p.variants.iter().filter_map(sku_item)).collect();
        let pk = keys::inventory_items_pk(&product.shop);
        let put = |sk: String, entity: &str, attribute: &str, value: &str| {
            PutRequest::builder()
                .item(keys::PK, s(&pk))
                .item(keys::SK, s(sk))
                .item("entity", s(entity))
                .item(attribute, s(value))
                .build()
                .map(|put| WriteRequest::builder().put_request(put).build())
                .map_err(|e| StoreError::unavailable("build put", e))
        };
        let items = product
            .variants
            .iter()
            .filter_map(|v| v.inventory_item_id.as_deref())
            .filter(|i| !had.contains(i))
            .map(|item| put(item.to_owned(), "inventory_item", "product_id", &product.id));
        let skus = product
            .variants
            .iter()
            .filter_map(sku_item)
            .filter(|pair| !skus_had.contains(pair))
            .map(|(sku, item)| put(keys::sku_sk(sku), "sku", "inventory_item", item));
        let writes = items.chain(skus).collect::<Result<Vec<_>, StoreError>>()?;
        self.batch_write(writes, "index inventory items").await
    }
}

#[async_trait]
impl ProductStore for DynamoStore {
    async fn put_product(&self, product: &Product) -> Result<bool, StoreError> {
        let pk = keys::product_pk(&product.shop, &product.id);
        for attempt in 0..ATTEMPTS {
            crate::clock::pause_before_retry(attempt).await;
            let stored = self.stored_product(&product.shop, &product.id).await?;
            if stored.updated_at.is_some_and(|at| at >= product.updated_at) {
                return Ok(false);
            }
            let mut next = product.clone();
            if let Some(previous) = &stored.product {
                next.carry_levels_from(previous);
            }
            let mut chunks = next.variants.chunks(VARIANTS_PER_RECORD);
            let first = chunks.next().unwrap_or_default();
            let rest: Vec<&[Variant]> = chunks.collect();
            let read = |sk: &str| stored.versions.get(sk).copied();
            let mut items =
                vec![self.versioned_put(self.main_record(&next, first, rest.len())?, read(keys::PRODUCT_SK))?];
            for (i, variants) in rest.iter().enumerate() {
                let sk = keys::variant_page_sk(i + 1);
                let item = HashMap::from([
                    (keys::PK.into(), s(&pk)),
                    (keys::SK.into(), s(&sk)),
                    ("entity".into(), s("variant_page")),
                    ("data".into(), to_json(variants)?),
                ]);
                items.push(self.versioned_put(item, read(&sk))?);
            }
            for (sk, v) in &stored.versions {
                if page_number(sk).is_some_and(|page| page > rest.len()) {
                    items.push(self.versioned_delete(&pk, sk, *v)?);
                }
            }
            if self.transact(items, "put product").await? == WriteOutcome::Written {
                self.index_inventory_items(&next, &stored.product).await?;
                return Ok(true);
            }
        }
        Err(StoreError::unavailable("put product", "the product kept changing under concurrent writers"))
    }

    async fn product(&self, shop: &ShopDomain, id: &str) -> Result<Option<(Product, usize)>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::product_pk(shop, id)))
            .key(keys::SK, s(keys::PRODUCT_SK))
            .send()
            .await
            .map_err(|e| super::sdk_error("get product", e))?;
        let Some(item) = output.item else { return Ok(None) };
        if item.get("deleted").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false) {
            return Ok(None);
        }
        let pages = item.get("pages").and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok()).unwrap_or(0);
        Ok(Some((from_data(&item)?, pages)))
    }

    async fn variant_page(&self, shop: &ShopDomain, id: &str, page: usize) -> Result<Vec<Variant>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::product_pk(shop, id)))
            .key(keys::SK, s(keys::variant_page_sk(page)))
            .send()
            .await
            .map_err(|e| super::sdk_error("get variant page", e))?;
        output.item.as_ref().map(from_data).transpose().map(Option::unwrap_or_default)
    }

    async fn delete_product(&self, shop: &ShopDomain, id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let pk = keys::product_pk(shop, id);
        for attempt in 0..ATTEMPTS {
            crate::clock::pause_before_retry(attempt).await;
            let stored = self.stored_product(shop, id).await?;
            if stored.updated_at.is_some_and(|t| t >= at) && stored.deleted {
                return Ok(());
            }
            let tombstone = HashMap::from([
                (keys::PK.into(), s(&pk)),
                (keys::SK.into(), s(keys::PRODUCT_SK)),
                (keys::GSI1PK.into(), s(keys::shop_products_gsi1pk(shop))),
                (keys::GSI1SK.into(), s(id)),
                ("entity".into(), s("product")),
                ("deleted".into(), AttributeValue::Bool(true)),
                ("updated_at".into(), s(keys::sortable_time(at.max(stored.updated_at.unwrap_or(at))))),
            ]);
            let mut items = vec![self.versioned_put(tombstone, stored.versions.get(keys::PRODUCT_SK).copied())?];
            for (sk, v) in stored.versions.iter().filter(|(sk, _)| page_number(sk).is_some()) {
                items.push(self.versioned_delete(&pk, sk, *v)?);
            }
            if self.transact(items, "delete product").await? == WriteOutcome::Written {
                return Ok(());
            }
        }
        Err(StoreError::unavailable("delete product", "the product kept changing under concurrent writers"))
    }

    async fn set_inventory_level(
        &self,
        shop: &ShopDomain,
        inventory_item: &str,
        location: &str,
        available: i64,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::inventory_items_pk(shop)))
            .key(keys::SK, s(inventory_item))
            .send()
            .await
            .map_err(|e| super::sdk_error("get inventory item", e))?;
        let Some(index) = output.item else { return Ok(false) };
        let product_id = string_attr(&index, "product_id")?.to_owned();
        let pk = keys::product_pk(shop, &product_id);
        for attempt in 0..ATTEMPTS {
            crate::clock::pause_before_retry(attempt).await;
            let stored = self.stored_product(shop, &product_id).await?;
            let Some(mut product) = stored.product else { return Ok(false) };
            let holds = |v: &&mut Variant| v.inventory_item_id.as_deref() == Some(inventory_item);
            let Some(variant) = product.variants.iter_mut().find(holds) else { return Ok(false) };
            if !variant.set_level(location, available, at) {
                return Ok(false);
            }
            let variant_id = variant.id.clone();
            let Some(home) = stored.homes.get(&variant_id).cloned() else { return Ok(false) };
            // Rewrite only the item that holds the variant.
            let item = match page_number(&home) {
                Some(page) => {
                    let start = page * VARIANTS_PER_RECORD;
                    let variants =
                        product.variants.iter().skip(start).take(VARIANTS_PER_RECORD).cloned().collect::<Vec<_>>();
                    HashMap::from([
                        (keys::PK.into(), s(&pk)),
                        (keys::SK.into(), s(&home)),
                        ("entity".into(), s("variant_page")),
                        ("data".into(), to_json(&variants)?),
                    ])
                }
                None => {
                    let pages = product.variants.len().saturating_sub(1) / VARIANTS_PER_RECORD;
                    let first: Vec<Variant> = product.variants.iter().take(VARIANTS_PER_RECORD).cloned().collect();
                    self.main_record(&product, &first, pages)?
                }
            };
            let write = self.versioned_put(item, stored.versions.get(&home).copied())?;
            if self.transact(vec![write], "set inventory level").await? == WriteOutcome::Written {
                return Ok(true);
            }
        }
        Err(StoreError::unavailable("set inventory level", "the product kept changing under concurrent writers"))
    }

    async fn set_sku_level(
        &self,
        shop: &ShopDomain,
        sku: &str,
        location: &str,
        available: i64,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::inventory_items_pk(shop)))
            .key(keys::SK, s(keys::sku_sk(sku)))
            .send()
            .await
            .map_err(|e| super::sdk_error("get sku", e))?;
        let Some(item) = output.item.as_ref().map(|i| string_attr(i, "inventory_item")).transpose()? else {
            return Ok(false);
        };
        self.set_inventory_level(shop, item, location, available, at).await
    }
}

impl DynamoStore {
    /// Every (PK, SK) of the shop's products and of its inventory item index, for erasure.
    pub(super) async fn product_keys(&self, shop: &ShopDomain) -> Result<Vec<(String, String)>, StoreError> {
        let mut doomed = Vec::new();
        for item in self.index_partition(keys::GSI1, keys::GSI1PK, &keys::shop_products_gsi1pk(shop)).await? {
            let id = string_attr(&item, keys::GSI1SK)?;
            doomed.extend(self.partition_keys(&keys::product_pk(shop, id)).await?);
        }
        doomed.extend(self.partition_keys(&keys::inventory_items_pk(shop)).await?);
        Ok(doomed)
    }
}
