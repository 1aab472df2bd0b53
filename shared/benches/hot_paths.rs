//! The per-order CPU cost of the ingest path, in process (no network): webhook HMAC check, the REST and
//! GraphQL order mappings, the ordering guard, and the version-guarded upsert into the in-memory store
//! (the same code the ingest worker runs against DynamoDB). Run with
//! `cargo bench -p shared --features testing --bench hot_paths`; results are in the README.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::{
    hint::black_box,
    time::{Duration, Instant},
};

use chrono::Utc;
use shared::{
    app::orders,
    config::Secret,
    domain::{ShopDomain, UpsertPlan},
    integrations::shopify::{graphql::GqlOrder, model::ShopifyOrder, webhook},
    store::memory::MemoryStore,
};

fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs `f` for about `budget`, after a warm-up, and prints the mean time per call.
fn bench(name: &str, budget: Duration, mut f: impl FnMut(u64)) {
    for i in 0..1_000 {
        f(i);
    }
    let started = Instant::now();
    let mut calls = 0u64;
    while started.elapsed() < budget {
        for _ in 0..100 {
            f(1_000 + calls);
            calls += 1;
        }
    }
    let per_call = started.elapsed().as_nanos() as f64 / calls as f64;
    println!("{name:<58} {:>10.2} µs/op  ({calls} ops)", per_call / 1_000.0);
}

fn main() {
    let budget = Duration::from_secs(2);
    let shop = ShopDomain::parse("bench-shop.myshopify.com").unwrap();
    let body = std::fs::read(root().join("events/shopify/orders-create-1003.json")).unwrap();
    let secret = Secret::new("bench-secret");
    let signature = webhook::sign(&body, &secret);
    let payload: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let nodes: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root().join("events/shopify-admin/orders.json")).unwrap()).unwrap();
    let node = nodes["orders"][1].clone();
    println!("payload: {} bytes (events/shopify/orders-create-1003.json)", body.len());

    bench("webhook HMAC-SHA256 check", budget, |_| {
        assert!(webhook::verify_hmac(black_box(&body), &signature, [&secret]));
    });
    bench("REST order JSON → canonical order (parse + map)", budget, |_| {
        let value: serde_json::Value = serde_json::from_slice(black_box(&body)).unwrap();
        black_box(ShopifyOrder::parse(&value, shop.clone()).unwrap());
    });
    bench("GraphQL order node → canonical order", budget, |_| {
        let order: GqlOrder = serde_json::from_value(black_box(node.clone())).unwrap();
        black_box(order.into_order(shop.clone()).unwrap());
    });
    let order = ShopifyOrder::parse(&payload, shop.clone()).unwrap();
    bench("ordering guard (UpsertPlan::decide, newer revision)", budget, |_| {
        let mut newer = order.clone();
        newer.updated_at += chrono::Duration::seconds(1);
        black_box(UpsertPlan::decide(Some(&order), newer));
    });
    bench("canonical order → stored JSON document", budget, |_| {
        black_box(serde_json::to_string(black_box(&order)).unwrap());
    });

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let store = MemoryStore::new();
    let now = Utc::now();
    bench("ingest: parse, map, guard, upsert a new order (memory store)", budget, |i| {
        let mut value = payload.clone();
        value["id"] = serde_json::json!(i);
        value["name"] = serde_json::json!(format!("#B{i}"));
        let order = ShopifyOrder::parse(&value, shop.clone()).unwrap();
        runtime.block_on(orders::apply_revision(&store, order, now)).unwrap();
    });
    bench("ingest: a redelivered revision (guard says unchanged)", budget, |_| {
        let order = ShopifyOrder::parse(&payload, shop.clone()).unwrap();
        runtime.block_on(orders::apply_revision(&store, order, now)).unwrap();
    });
}
