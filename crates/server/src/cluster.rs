//! Scale-out: what a node adds when several `keyward serve` share one
//! PostgreSQL store and one Redis (`database_url = postgres://…`,
//! `redis_url`).
//!
//! * The store handles come from PostgreSQL, except single-use decisions and
//!   stream slots, which Redis decides for every node at once
//!   ([`keyward_cluster::RedisState`]).
//! * Cache coherence: a node that changes a site, key, client, … through its
//!   admin API drops its own cached entries and publishes the change; every
//!   node's subscriber drops the same entries ([`Cluster::subscribe`], fed
//!   by `AppState::follow_cluster`). On
//!   every (re)connection to Redis the subscriber flushes all caches (it may
//!   have missed messages), and `cache_ttl_ms` bounds staleness whatever
//!   happens to the messages.
//! * Health: [`Cluster::states`] answers each backend's state for `/readyz`.

use std::sync::Arc;

use async_trait::async_trait;
use keyward_cluster::{CacheKind, Invalidation, InvalidationEvent, RedisState, Subscription};
use keyward_store::{Lifecycle, Result as StoreResult};

/// The shared hot state of a cluster node.
pub struct Cluster {
    redis: RedisState,
    invalidation: Invalidation,
    /// The store's own health (PostgreSQL), apart from Redis.
    store: Arc<dyn Lifecycle>,
}

impl Cluster {
    /// The cluster pieces over a connected Redis and the store's lifecycle.
    pub fn new(redis: RedisState, store: Arc<dyn Lifecycle>) -> Self {
        Self {
            invalidation: redis.invalidation(),
            redis,
            store,
        }
    }

    /// Redis.
    pub fn redis(&self) -> &RedisState {
        &self.redis
    }

    /// Tells the other nodes that `kind` entry `id` changed (in the
    /// background: the admin answer does not wait; a lost message is bounded
    /// by the cache TTL).
    pub fn publish(&self, kind: CacheKind, id: &str) {
        let inv = self.invalidation.clone();
        let id = id.to_owned();
        tokio::spawn(async move {
            if let Err(e) = inv.publish(kind, &id).await {
                tracing::warn!(error = %e, kind = kind.as_str(), "cache invalidation not published; other nodes see the change when their cache entry expires (cache_ttl_ms)");
            }
        });
    }

    /// Starts this node's subscriber: `on_event` gets each message (drop the
    /// entries it names) and, on every (re)connection, `Flush`.
    pub fn subscribe(
        &self,
        on_event: impl Fn(InvalidationEvent) + Send + Sync + 'static,
    ) -> Subscription {
        self.invalidation.subscribe(on_event)
    }

    /// Each backend's state, by name (`store`, `redis`), for `/readyz`.
    pub async fn states(&self) -> [(&'static str, StoreResult<()>); 2] {
        let (store, redis) = tokio::join!(self.store.health(), self.redis.health());
        [("store", store), ("redis", redis)]
    }
}

/// The node's backends together: healthy when both are, closed together
/// (the stores' lifecycle in a cluster).
#[async_trait]
impl Lifecycle for Cluster {
    async fn health(&self) -> StoreResult<()> {
        let [(_, store), (_, redis)] = self.states().await;
        store.and(redis)
    }

    async fn close(&self) {
        self.store.close().await;
        Lifecycle::close(&self.redis).await;
    }
}
