//! [`AssistantStore`] on DynamoDB. Each page is one request: a Query of the shop's `TAB#{shop}#all`
//! list (orders), of GSI1 `SHOP#{shop}#PRODUCTS` (products), or one BatchGetItem of a product's main
//! record and variant page. Cursors are positions handed back as `ExclusiveStartKey`.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};

use super::{DynamoStore, Item, from_data, s, string_attr};
use crate::{
    domain::{Order, Product, ShopDomain, Tab, Variant},
    error::StoreError,
    store::{
        assistant::{AssistantStore, OrderFilter, Page, VariantPage},
        keys,
    },
};

/// A page from one Query with `Limit = limit + 1` (items read, before filters): more matches than
/// `limit` continue after the last one kept; otherwise DynamoDB's `LastEvaluatedKey` says whether the
/// list goes on.
fn page_of<T>(
    items: Vec<Item>,
    last_evaluated: Option<&Item>,
    limit: usize,
    position: &str,
    decode: impl Fn(&Item) -> Result<T, StoreError>,
) -> Result<Page<T>, StoreError> {
    let more = items.len() > limit;
    let kept = &items[..items.len().min(limit)];
    let next = if more {
        kept.last().map(|item| string_attr(item, position).map(str::to_owned)).transpose()?
    } else {
        last_evaluated.map(|key| string_attr(key, position).map(str::to_owned)).transpose()?
    };
    Ok(Page { items: kept.iter().map(decode).collect::<Result<_, _>>()?, next })
}

fn is_deleted(item: &Item) -> bool {
    item.get("deleted").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false)
}

fn limit_i32(limit: usize) -> i32 {
    i32::try_from(limit + 1).unwrap_or(i32::MAX)
}

#[async_trait]
impl AssistantStore for DynamoStore {
    async fn orders_page(
        &self,
        shop: &ShopDomain,
        filter: &OrderFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<Order>, StoreError> {
        let pk = keys::tab_pk(shop, Tab::All);
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .scan_index_forward(false)
            .limit(limit_i32(limit))
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_values(":pk", s(&pk));
        let lower = filter.created_from.map(keys::sortable_millis);
        // `~` sorts after every position character, so the whole last millisecond is included.
        let upper = filter.created_to.map(|t| format!("{}~", keys::sortable_millis(t)));
        let condition = match (lower, upper) {
            (Some(lower), Some(upper)) => {
                request = request
                    .expression_attribute_values(":lower", s(lower))
                    .expression_attribute_values(":upper", s(upper));
                "#pk = :pk AND #sk BETWEEN :lower AND :upper"
            }
            (Some(lower), None) => {
                request = request.expression_attribute_values(":lower", s(lower));
                "#pk = :pk AND #sk >= :lower"
            }
            (None, Some(upper)) => {
                request = request.expression_attribute_values(":upper", s(upper));
                "#pk = :pk AND #sk <= :upper"
            }
            (None, None) => "#pk = :pk",
        };
        if condition.contains("#sk") {
            request = request.expression_attribute_names("#sk", keys::SK);
        }
        let mut filters = Vec::new();
        if let Some(status) = &filter.status {
            filters.push("#status = :status");
            request = request
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":status", s(status));
        }
        if let Some(email) = &filter.email {
            // The list item's `data` is the order's compact JSON, where the customer's email appears as
            // `"email":"…"` exactly.
            let fragment = format!("\"email\":{}", serde_json::to_string(email).unwrap_or_default());
            filters.push("contains(#data, :email)");
            request =
                request.expression_attribute_names("#data", "data").expression_attribute_values(":email", s(fragment));
        }
        if !filters.is_empty() {
            request = request.filter_expression(filters.join(" AND "));
        }
        if let Some(after) = after {
            request = request.exclusive_start_key(keys::PK, s(&pk)).exclusive_start_key(keys::SK, s(after));
        }
        let output = request
            .key_condition_expression(condition)
            .send()
            .await
            .map_err(|e| super::sdk_error("query orders page", e))?;
        self.count_reads(u64::try_from(output.scanned_count).unwrap_or_default());
        page_of(output.items.unwrap_or_default(), output.last_evaluated_key.as_ref(), limit, keys::SK, from_data)
    }

    async fn products_page(
        &self,
        shop: &ShopDomain,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<Product>, StoreError> {
        let gsi1pk = keys::shop_products_gsi1pk(shop);
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::GSI1)
            .limit(limit_i32(limit))
            .key_condition_expression("#pk = :pk")
            .filter_expression("attribute_not_exists(#deleted) OR #deleted = :false")
            .expression_attribute_names("#pk", keys::GSI1PK)
            .expression_attribute_names("#deleted", "deleted")
            .expression_attribute_values(":pk", s(&gsi1pk))
            .expression_attribute_values(":false", AttributeValue::Bool(false));
        if let Some(after) = after {
            request = request
                .exclusive_start_key(keys::GSI1PK, s(&gsi1pk))
                .exclusive_start_key(keys::GSI1SK, s(after))
                .exclusive_start_key(keys::PK, s(keys::product_pk(shop, after)))
                .exclusive_start_key(keys::SK, s(keys::PRODUCT_SK));
        }
        let output = request.send().await.map_err(|e| super::sdk_error("query products page", e))?;
        self.count_reads(u64::try_from(output.scanned_count).unwrap_or_default());
        let items: Vec<Item> = output.items.unwrap_or_default().into_iter().filter(|i| !is_deleted(i)).collect();
        page_of(items, output.last_evaluated_key.as_ref(), limit, keys::GSI1SK, from_data)
    }

    async fn variants_page(
        &self,
        shop: &ShopDomain,
        product_id: &str,
        page: usize,
    ) -> Result<Option<VariantPage>, StoreError> {
        let pk = keys::product_pk(shop, product_id);
        let key = |sk: String| HashMap::from([(keys::PK.to_owned(), s(&pk)), (keys::SK.to_owned(), s(sk))]);
        let mut wanted = vec![key(keys::PRODUCT_SK.to_owned())];
        if page > 0 {
            wanted.push(key(keys::variant_page_sk(page)));
        }
        let mut pending = Some(
            KeysAndAttributes::builder()
                .set_keys(Some(wanted))
                .build()
                .map_err(|e| StoreError::unavailable("build batch get", e))?,
        );
        let mut found: Vec<Item> = Vec::new();
        while let Some(request) = pending.take() {
            let output = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|e| super::sdk_error("get variant page", e))?;
            found.extend(output.responses.and_then(|mut r| r.remove(&self.table)).unwrap_or_default());
            pending = output.unprocessed_keys.and_then(|mut u| u.remove(&self.table));
        }
        self.count_reads(found.len() as u64);
        let Some(main) = found
            .iter()
            .find(|i| i.get(keys::SK).and_then(|v| v.as_s().ok()).map(String::as_str) == Some(keys::PRODUCT_SK))
        else {
            return Ok(None);
        };
        if is_deleted(main) {
            return Ok(None);
        }
        let pages: usize = main.get("pages").and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok()).unwrap_or(0);
        let product: Product = from_data(main)?;
        let variants: Vec<Variant> = if page == 0 {
            product.variants
        } else {
            let sk = keys::variant_page_sk(page);
            match found.iter().find(|i| i.get(keys::SK).and_then(|v| v.as_s().ok()) == Some(&sk)) {
                Some(item) => from_data(item)?,
                None => Vec::new(),
            }
        };
        Ok(Some(VariantPage { product_title: product.title, variants, next_page: (page < pages).then_some(page + 1) }))
    }
}
