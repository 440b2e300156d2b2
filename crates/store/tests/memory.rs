//! The in-memory store passes the shared behaviour tests.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns panic on failure by design"
)]

mod common;

use std::sync::Arc;

use keyward_store::{MemoryStore, Store};

#[tokio::test]
async fn memory_site_crud() {
    common::site_crud(&MemoryStore::new()).await;
}

#[tokio::test]
async fn memory_key_crud() {
    common::key_crud(&MemoryStore::new()).await;
}

#[tokio::test]
async fn memory_fairplay_credentials() {
    common::fairplay_credentials(&MemoryStore::new()).await;
}

#[tokio::test]
async fn memory_upstreams() {
    common::upstreams(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_concurrent_upstream_adds() {
    common::concurrent_upstream_adds(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn memory_replay_rules() {
    common::replay_rules(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_concurrent_redeem() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    common::concurrent_redeem(store).await;
}

#[tokio::test]
async fn memory_audit_trail() {
    common::audit_trail(&MemoryStore::new()).await;
}

#[tokio::test]
async fn memory_audit_search() {
    common::audit_search(&MemoryStore::new()).await;
}

#[tokio::test]
async fn memory_stream_slots() {
    common::stream_slots(&MemoryStore::new()).await;
}

#[tokio::test]
async fn memory_lifecycle() {
    common::lifecycle(&MemoryStore::new()).await;
}

#[tokio::test]
async fn memory_from_the_factory() {
    let stores = keyward_store::open(keyward_store::Backend::Memory)
        .await
        .unwrap();
    common::per_concern_handles(stores).await;
}

#[tokio::test]
async fn memory_key_coordinates() {
    common::key_coordinates(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_concurrent_ensure_key() {
    common::concurrent_ensure_key(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn memory_packagers() {
    common::packagers(&MemoryStore::new()).await;
}
