//! Scheduled loops over shops: each shop on its own, so one failing shop never stops the others, and
//! in an order that rotates with the tick, so no shop is always last (and starved when a run is cut
//! short).

use std::future::Future;

use chrono::{DateTime, Utc};

use crate::domain::ShopDomain;

/// Runs `work` for every shop, starting at a shop that moves with `now`'s minute. Returns how many
/// succeeded and the shops that failed; each failure is logged with its shop.
pub async fn each_shop<F, Fut, E>(shops: Vec<ShopDomain>, now: DateTime<Utc>, work: F) -> (usize, Vec<ShopDomain>)
where
    F: Fn(ShopDomain) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let (mut done, mut failed) = (0, Vec::new());
    for shop in rotated(shops, now) {
        match work(shop.clone()).await {
            Ok(()) => done += 1,
            Err(e) => {
                tracing::error!(shop = %shop, error = %e, "this shop failed; the others go on");
                failed.push(shop);
            }
        }
    }
    (done, failed)
}

/// `shops` in a fixed order, rotated by `now`'s minute.
fn rotated(mut shops: Vec<ShopDomain>, now: DateTime<Utc>) -> Vec<ShopDomain> {
    shops.sort();
    if !shops.is_empty() {
        let start = usize::try_from(now.timestamp().div_euclid(60)).unwrap_or_default() % shops.len();
        shops.rotate_left(start);
    }
    shops
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn every_shop_comes_first_in_turn() {
        let shops: Vec<ShopDomain> = ["a.myshopify.com", "b.myshopify.com", "c.myshopify.com"]
            .iter()
            .map(|s| ShopDomain::parse(s).unwrap())
            .collect();
        let first = |minute| rotated(shops.clone(), Utc.with_ymd_and_hms(2026, 1, 1, 0, minute, 0).unwrap())[0].clone();
        assert_eq!(
            [first(0), first(1), first(2), first(3)],
            [shops[0].clone(), shops[1].clone(), shops[2].clone(), shops[0].clone()]
        );
        assert_eq!(rotated(shops.clone(), Utc::now()).len(), 3);
    }
}
