use super::*;

#[async_trait]
impl ProductStore for MemoryStore {
    async fn put_product(&self, product: &Product) -> Result<bool, StoreError> {
        let mut state = self.state();
        let key = (product.shop.clone(), product.id.clone());
        let mut next = product.clone();
        if let Some((previous, at)) = state.products.get(&key) {
            if *at >= product.updated_at {
                return Ok(false);
            }
            if let Some(previous) = previous {
                next.carry_levels_from(previous);
            }
        }
        for item in next.variants.iter().filter_map(|v| v.inventory_item_id.clone()) {
            state.inventory_items.insert((product.shop.clone(), item), product.id.clone());
        }
        state.products.insert(key, (Some(next), product.updated_at));
        Ok(true)
    }

    async fn product(&self, shop: &ShopDomain, id: &str) -> Result<Option<(Product, usize)>, StoreError> {
        let state = self.state();
        let Some((Some(product), _)) = state.products.get(&(shop.clone(), id.to_owned())) else { return Ok(None) };
        let pages = product.variants.len().saturating_sub(1) / VARIANTS_PER_RECORD;
        let mut head = product.clone();
        head.variants.truncate(VARIANTS_PER_RECORD);
        Ok(Some((head, pages)))
    }

    async fn variant_page(&self, shop: &ShopDomain, id: &str, page: usize) -> Result<Vec<Variant>, StoreError> {
        let state = self.state();
        let Some((Some(product), _)) = state.products.get(&(shop.clone(), id.to_owned())) else { return Ok(vec![]) };
        Ok(product.variants.iter().skip(page * VARIANTS_PER_RECORD).take(VARIANTS_PER_RECORD).cloned().collect())
    }

    async fn delete_product(&self, shop: &ShopDomain, id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let mut state = self.state();
        let key = (shop.clone(), id.to_owned());
        let at = state.products.get(&key).map_or(at, |(_, stored)| at.max(*stored));
        state.products.insert(key, (None, at));
        Ok(())
    }

    async fn set_inventory_level(
        &self,
        shop: &ShopDomain,
        inventory_item: &str,
        location: &str,
        available: i64,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut state = self.state();
        let Some(id) = state.inventory_items.get(&(shop.clone(), inventory_item.to_owned())).cloned() else {
            return Ok(false);
        };
        let Some((Some(product), _)) = state.products.get_mut(&(shop.clone(), id)) else { return Ok(false) };
        let Some(variant) =
            product.variants.iter_mut().find(|v| v.inventory_item_id.as_deref() == Some(inventory_item))
        else {
            return Ok(false);
        };
        Ok(variant.set_level(location, available, at))
    }

    async fn set_sku_level(
        &self,
        shop: &ShopDomain,
        sku: &str,
        location: &str,
        available: i64,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let item = self.state().products.iter().filter(|((s, _), _)| s == shop).find_map(|(_, (product, _))| {
            product.iter().flat_map(|p| &p.variants).find(|v| v.sku.as_deref() == Some(sku))?.inventory_item_id.clone()
        });
        match item {
            Some(item) => self.set_inventory_level(shop, &item, location, available, at).await,
            None => Ok(false),
        }
    }
}
