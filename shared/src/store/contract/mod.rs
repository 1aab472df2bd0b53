//! The contract every store adapter meets (feature `testing`): one file per port, the same names as
//! the ports, `dynamo/` and `memory/`. The integration tests run it against DynamoDB (moto) and the
//! in-memory store, so the fake cannot drift.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod alerts;
mod connections;
mod credentials;
mod dead_letters;
mod deliveries;
mod install;
mod mirror;
mod orders;
mod outbox;
mod products;
mod receipts;
mod requests;
mod shops;
mod streams;
mod sync;

pub use install::install_contract;

use super::{
    AlertStore, ConnectionStore, CredentialStore, DeadLetterStore, DeliveryStore, MirrorStore, OrderStore, OutboxStore,
    ProductStore, ReceiptStore, RequestStore, ShopStore, StreamStore, SyncStore,
};

/// The contract every store adapter must meet. Run it against each adapter.
pub async fn store_contract<S>(store: &S)
where
    S: OrderStore
        + ReceiptStore
        + AlertStore
        + RequestStore
        + DeliveryStore
        + ShopStore
        + SyncStore
        + ProductStore
        + ConnectionStore
        + CredentialStore
        + MirrorStore
        + OutboxStore
        + DeadLetterStore
        + StreamStore,
{
    products::products_keep_pages_levels_and_their_order(store).await;
    sync::sync_state_only_moves_forward(store).await;
    requests::idempotency_keys_are_claimed_completed_and_released(store).await;
    deliveries::deliveries_are_kept_once_per_message(store).await;
    deliveries::a_delivered_record_stays_and_claims_exclude_until_they_expire(store).await;
    shops::a_shop_is_erased_whole_and_alone(store).await;
    orders::orders_are_versioned_and_guarded(store).await;
    orders::timelines_are_newest_first_and_idempotent(store).await;
    orders::orders_list_newest_first_in_pages_both_ways(store).await;
    orders::tabs_and_filters_follow_the_order(store).await;
    orders::orders_are_found_by_name(store).await;
    orders::page_boundaries_are_remembered(store).await;
    orders::watches_come_due_and_go_once_flagged(store).await;
    orders::events_wait_for_their_order_and_only_while_it_is_missing(store).await;
    receipts::receipts_dedupe_only_after_completion(store).await;
    alerts::alerts_are_stored_once_and_read_in_order(store).await;
    connections::connections_are_owned_versioned_and_listed(store).await;
    credentials::credentials_are_kept_per_integration(store).await;
    mirror::mirrored_records_keep_their_newest_revision(store).await;
    outbox::effects_commit_with_their_order_and_leave_once_relayed(store).await;
    dead_letters::dead_letters_are_kept_per_destination_until_removed(store).await;
    alerts::refreshing_an_open_alert_replaces_its_message_and_moves_it(store).await;
    streams::stream_slots_are_capped_per_shop_and_expire(store).await;
}
