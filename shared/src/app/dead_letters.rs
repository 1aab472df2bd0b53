//! Dead letters of the outbound dispatcher: stored with the request, the response, the attempts and
//! the error, and tallied in one alert per destination and cause (its message carries the count, so an
//! outage never floods the alert channel). A replay sends the stored message again through the same
//! queue and worker, which dedupe by message id; a replayed success removes the dead letter, and the
//! last one of its cause clears the alert. Transient dead letters are replayed on a slow schedule.
//! Gap letters (cause `gap`) are written by a reconciliation (`app::reconcile`) and replayed the same
//! way; one that holds a source's re-read goes to that source's poll queue.

use chrono::{DateTime, Duration, Utc};

use super::alerts;
use crate::{
    domain::{Integration, ShopDomain},
    error::{QueueError, StoreError},
    queue::{Message, MessageQueue, Stage},
    store::{AlertStore, DeadLetter, DeadLetterCause, DeadLetterStore, OrderStore},
};

/// Stores `letter` (keeping the history of an earlier dead letter of the same message: its creation,
/// episode and replays) and refreshes its tally alert.
pub async fn record(
    store: &dyn DeadLetterStore,
    alerts_store: &dyn AlertStore,
    mut letter: DeadLetter,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let existing = store.dead_letters(&letter.shop, Some(letter.destination)).await?;
    if let Some(earlier) = existing.iter().find(|d| d.id == letter.id) {
        letter.created_at = earlier.created_at;
        letter.replays = earlier.replays;
        letter.next_retry_at = earlier.next_retry_at;
        letter.retry_until = earlier.retry_until;
    }
    letter.episode = existing
        .iter()
        .filter(|d| d.cause == letter.cause && d.id != letter.id)
        .map(|d| d.episode)
        .min()
        .unwrap_or(letter.created_at);
    store.put_dead_letter(&letter).await?;
    tracing::warn!(
        shop = %letter.shop, order = %letter.order, destination = %letter.destination, cause = letter.cause.as_str(),
        attempts = letter.attempts, "dead-lettered"
    );
    tally(store, alerts_store, &letter.shop, letter.destination, letter.cause, &letter.error, now).await
}

async fn tally(
    store: &dyn DeadLetterStore,
    alerts_store: &dyn AlertStore,
    shop: &ShopDomain,
    destination: Integration,
    cause: DeadLetterCause,
    latest: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let letters: Vec<DeadLetter> =
        store.dead_letters(shop, Some(destination)).await?.into_iter().filter(|d| d.cause == cause).collect();
    let Some(episode) = letters.iter().map(|d| d.episode).min() else { return Ok(()) };
    let alert = alerts::dead_letters(shop, destination, cause.as_str(), episode, letters.len(), latest, now);
    alerts_store.refresh_alert(&alert, now).await
}

/// The message `id` to `destination` was delivered after all: forget its dead letter; when it was the
/// last of its cause, clear the alert, else refresh its count.
pub async fn resolve(
    store: &dyn DeadLetterStore,
    alerts_store: &dyn AlertStore,
    shop: &ShopDomain,
    destination: Integration,
    id: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let letters = store.dead_letters(shop, Some(destination)).await?;
    let Some(letter) = letters.iter().find(|d| d.id == id) else { return Ok(()) };
    store.remove_dead_letter(shop, destination, id).await?;
    let left: Vec<&DeadLetter> = letters.iter().filter(|d| d.cause == letter.cause && d.id != id).collect();
    if left.is_empty() {
        let alert_id = alerts::dead_letters_id(destination, letter.cause.as_str(), letter.episode);
        alerts_store.clear_alert(shop, &alert_id, now).await?;
    } else if let Some(latest) = left.iter().max_by_key(|d| d.updated_at) {
        tally(store, alerts_store, shop, destination, letter.cause, &latest.error, now).await?;
    }
    tracing::info!(shop = %shop, destination = %destination, "dead letter resolved by a later delivery");
    Ok(())
}

/// Which dead letters a replay sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    Ids(Vec<String>),
    Destination(Integration),
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// What a replay did: the ids sent again and the ids it did not know.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Replayed {
    pub replayed: Vec<String>,
    pub unknown: Vec<String>,
}

/// Sends the selected dead letters again (from the first rung of the ladder), marked as replays.
pub async fn replay(
    store: &dyn DeadLetterStore,
    queue: &dyn MessageQueue,
    shop: &ShopDomain,
    selection: &Selection,
    now: DateTime<Utc>,
) -> Result<Replayed, ReplayError> {
    let all = store.dead_letters(shop, None).await?;
    let (chosen, unknown): (Vec<&DeadLetter>, Vec<String>) = match selection {
        Selection::Destination(destination) => (all.iter().filter(|d| d.destination == *destination).collect(), vec![]),
        Selection::Ids(ids) => {
            let found = all.iter().filter(|d| ids.contains(&d.id)).collect::<Vec<_>>();
            let unknown = ids.iter().filter(|id| !all.iter().any(|d| &d.id == *id)).cloned().collect();
            (found, unknown)
        }
    };
    let mut result = Replayed { replayed: Vec::new(), unknown };
    for letter in chosen {
        send_again(store, queue, letter, now).await?;
        result.replayed.push(letter.id.clone());
    }
    Ok(result)
}

async fn send_again(
    store: &dyn DeadLetterStore,
    queue: &dyn MessageQueue,
    letter: &DeadLetter,
    now: DateTime<Utc>,
) -> Result<(), ReplayError> {
    match serde_json::from_value::<Message>(letter.message.clone()) {
        Ok(Message::Outbound(mut outbound)) => {
            outbound.attempt = 0;
            outbound.replay = true;
            queue.send(Stage::Outbound(letter.destination), &Message::Outbound(outbound), 0).await?;
        }
        // A reconciliation gap at a source: its poll reads the order again (the next reconciliation
        // settles the letter).
        Ok(Message::Poll(job)) => queue.send(Stage::Poll(job.integration), &Message::Poll(job), 0).await?,
        _ => {
            tracing::error!(shop = %letter.shop, "a dead letter holds no replayable message; left for a person");
            return Ok(());
        }
    }
    let mut updated = letter.clone();
    updated.replays += 1;
    updated.updated_at = now;
    store.put_dead_letter(&updated).await?;
    tracing::info!(shop = %letter.shop, order = %letter.order, destination = %letter.destination, "dead letter replayed");
    Ok(())
}

/// The slow retry of transient dead letters: every `every`, for `until` after the dead letter was
/// created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlowRetry {
    pub every: Duration,
    pub until: Duration,
}

/// Replays every shop's transient dead letters that are due. A dead letter first seen here gets its
/// schedule (`created_at + every`, until `created_at + until`). Returns how many were replayed.
pub async fn retry_due(
    orders: &dyn OrderStore,
    store: &dyn DeadLetterStore,
    queue: &dyn MessageQueue,
    schedule: SlowRetry,
    now: DateTime<Utc>,
) -> Result<usize, ReplayError> {
    let mut replayed = 0;
    for shop in orders.shops().await? {
        for mut letter in store.dead_letters(&shop, None).await? {
            if letter.cause != DeadLetterCause::Transient {
                continue;
            }
            let until = *letter.retry_until.get_or_insert(letter.created_at + schedule.until);
            let next = *letter.next_retry_at.get_or_insert(letter.created_at + schedule.every);
            if now >= until || now < next {
                continue;
            }
            letter.next_retry_at = Some(now + schedule.every);
            store.put_dead_letter(&letter).await?;
            send_again(store, queue, &letter, now).await?;
            replayed += 1;
        }
    }
    Ok(replayed)
}
