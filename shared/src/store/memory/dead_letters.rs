use super::*;
use crate::store::{DeadLetter, DeadLetterStore};

#[async_trait]
impl DeadLetterStore for MemoryStore {
    async fn put_dead_letter(&self, dead_letter: &DeadLetter) -> Result<(), StoreError> {
        let key = (dead_letter.shop.clone(), dead_letter.destination, dead_letter.id.clone());
        self.state().dead_letters.insert(key, dead_letter.clone());
        Ok(())
    }

    async fn dead_letters(
        &self,
        shop: &ShopDomain,
        destination: Option<Integration>,
    ) -> Result<Vec<DeadLetter>, StoreError> {
        let mut letters: Vec<DeadLetter> = self
            .state()
            .dead_letters
            .values()
            .filter(|d| &d.shop == shop && destination.is_none_or(|wanted| d.destination == wanted))
            .cloned()
            .collect();
        letters.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.id.cmp(&b.id)));
        Ok(letters)
    }

    async fn remove_dead_letter(
        &self,
        shop: &ShopDomain,
        destination: Integration,
        id: &str,
    ) -> Result<(), StoreError> {
        self.state().dead_letters.remove(&(shop.clone(), destination, id.to_owned()));
        Ok(())
    }
}
