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
