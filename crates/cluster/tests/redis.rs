//! keyward-cluster against a real redis-server that each test starts itself
//! (skipped, loudly, when redis-server is missing; `KEYWARD_REQUIRE_REDIS=1`
//! makes that a failure).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers outside #[test] fns panic on failure by design"
)]

#[path = "../../store/tests/common/mod.rs"]
mod common;
#[path = "support/redis_server.rs"]
mod redis_server;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keyward_cluster::{
    CacheKind, InvalidationEvent, LocalRateLimiter, Quota, RateDecision, RateLimit, RedisOptions,
    RedisState,
};
use keyward_store::{Lifecycle, ReplayStore, SiteId, StoreError, StreamGrant, StreamStore};
use redis_server::{Options, RedisServer};
use tokio::sync::mpsc;

use common::now;

/// Every call's deadline in these tests.
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(300);
/// What a failing call may take beyond its deadline (a loaded 2-core machine).
const SLACK: Duration = Duration::from_millis(200);

/// A server, or return from the test (after the harness's loud notice).
macro_rules! server {
    () => {
        server!(Options::default())
    };
    ($options:expr) => {
        match RedisServer::start_with($options) {
            Some(s) => s,
            None => return,
        }
    };
}

/// Options for the failure tests: short deadlines.
fn options(url: &str) -> RedisOptions {
    let mut o = RedisOptions::new(url);
    o.connect_timeout = Duration::from_millis(300);
    o.response_timeout = RESPONSE_TIMEOUT;
    o
}

/// A node whose calls fail after [`RESPONSE_TIMEOUT`].
async fn fast_node(server: &RedisServer) -> RedisState {
    RedisState::connect(options(&server.url())).await.unwrap()
}

/// A node with a deadline generous enough for thousands of concurrent calls
/// from a debug build on a loaded 2-core machine.
async fn node(server: &RedisServer) -> RedisState {
    let mut o = RedisOptions::new(server.url());
    o.response_timeout = Duration::from_secs(5);
    RedisState::connect(o).await.unwrap()
}

/// Three "nodes": separate connections to one Redis.
async fn nodes(server: &RedisServer) -> Vec<RedisState> {
    let mut v = Vec::new();
    for _ in 0..3 {
        v.push(node(server).await);
    }
    v
}

/// A plain connection for looking at what the scripts wrote.
async fn raw(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

fn site(s: &str) -> SiteId {
    SiteId::parse(s).unwrap()
}

// ---------------------------------------------------------------- conformance

/// The store's `replay_rules` (which takes a whole `&dyn Store`), on a
/// `&dyn ReplayStore`: the same decisions and assertions, except purging —
/// Redis forgets expired entries itself, so `purge_expired` answers 0 and
/// expiry is shown by waiting for it.
async fn replay_rules(store: &dyn ReplayStore) {
    let later = now() + 3600;
    let id = [7u8; 32];
    let r = store
        .redeem("pallycon", &id, now(), later, 2)
        .await
        .unwrap();
    assert_eq!((r.use_count, r.accepted), (1, true));
    let r = store
        .redeem("pallycon", &id, now(), later, 2)
        .await
        .unwrap();
    assert_eq!((r.use_count, r.accepted), (2, true));
    let r = store
        .redeem("pallycon", &id, now(), later, 2)
        .await
        .unwrap();
    assert_eq!((r.use_count, r.accepted), (2, false));
    // Namespaces are separate.
    let r = store
        .redeem("expressplay", &id, now(), later, 1)
        .await
        .unwrap();
    assert!(r.accepted);
    // max_uses 0 never accepts.
    let r = store
        .redeem("pallycon", &[1u8; 32], now(), later, 0)
        .await
        .unwrap();
    assert!(!r.accepted);
    assert!(
        store
            .redeem("pallycon", &[1u8; 32], now(), later, 1)
            .await
            .unwrap()
            .accepted
    );
    // An expired entry counts as absent.
    let past = now() - 10;
    for _ in 0..2 {
        let r = store
            .redeem("pallycon", &[2u8; 32], now(), past, 1)
            .await
            .unwrap();
        assert_eq!((r.use_count, r.accepted), (1, true));
    }
    // Bad arguments, with the store's field names.
    for (ns, tid, field) in [
        ("", &id[..], "namespace"),
        (&"n".repeat(65), &id[..], "namespace"),
        ("ns", &[][..], "token_id"),
        ("ns", &[0; 65][..], "token_id"),
    ] {
        match store.redeem(ns, tid, now(), later, 1).await {
            Err(e @ StoreError::InvalidInput { field: f, .. }) => {
                assert_eq!((e.code(), f), ("invalid_input", field))
            }
            other => panic!("{other:?}"),
        }
    }

    // Nothing to purge by hand; the unexpired entry is kept.
    assert_eq!(store.purge_expired(now()).await.unwrap(), 0);
    assert_eq!(store.purge_expired(later + 1).await.unwrap(), 0);
    let r = store
        .redeem("pallycon", &id, now(), later, 2)
        .await
        .unwrap();
    assert_eq!(
        (r.use_count, r.accepted),
        (2, false),
        "unexpired entry kept"
    );
    store.claim_replay().await.unwrap();

    // A short-lived entry is gone once its expiry has passed: a fresh first
    // use. (+2: still live however close to a second's end this runs.) Its
    // extension by a later expiry is shown in `expiry_extends_never_shortens`.
    let soon = now() + 2;
    assert!(
        store
            .redeem("pallycon", &[3u8; 32], now(), soon, 1)
            .await
            .unwrap()
            .accepted
    );
    assert!(
        !store
            .redeem("pallycon", &[3u8; 32], now(), soon, 1)
            .await
            .unwrap()
            .accepted
    );
    while now() < soon {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = store
        .redeem("pallycon", &[3u8; 32], now(), now() + 60, 1)
        .await
        .unwrap();
    assert_eq!((r.use_count, r.accepted), (1, true));
}

/// The store's `concurrent_redeem` (which takes an `Arc<dyn Store>`), on an
/// `Arc<dyn ReplayStore>`, assertions unchanged.
async fn concurrent_redeem(store: Arc<dyn ReplayStore>) {
    let expires = now() + 600;
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            store
                .redeem("single-use", &[0x42; 32], now(), expires, 1)
                .await
        }));
    }
    let mut accepted = 0;
    for task in tasks {
        let r = task.await.unwrap().unwrap();
        if r.accepted {
            accepted += 1;
        }
        assert_eq!(r.use_count, 1);
    }
    assert_eq!(accepted, 1);

    let mut tasks = Vec::new();
    for _ in 0..50 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            store
                .redeem("five-use", &[0x43; 32], now(), expires, 5)
                .await
        }));
    }
    let mut counts = Vec::new();
    for task in tasks {
        let r = task.await.unwrap().unwrap();
        if r.accepted {
            counts.push(r.use_count);
        }
    }
    counts.sort_unstable();
    assert_eq!(counts, [1, 2, 3, 4, 5]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_replay_rules() {
    let server = server!();
    replay_rules(&node(&server).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_concurrent_redeem() {
    let server = server!();
    concurrent_redeem(Arc::new(node(&server).await)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_stream_slots() {
    let server = server!();
    common::stream_slots(&node(&server).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_lifecycle() {
    let server = server!();
    let state = node(&server).await;
    let other = state.clone();
    common::lifecycle(&state).await;
    // Closed for every clone: calls fail instead of reaching Redis.
    let e = other
        .redeem("ns", b"t", now(), now() + 60, 1)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "backend");
}

// ------------------------------------------------------------- replay, more

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_accept_each_use_exactly_once() {
    let server = server!();
    let nodes = nodes(&server).await;
    let expires = now() + 600;
    for (token, max_uses) in [(1u8, 1u32), (2, 5), (3, 1), (4, 5), (5, 1)] {
        let mut tasks = Vec::new();
        for i in 0..1000 {
            let node = nodes[i % 3].clone();
            tasks.push(tokio::spawn(async move {
                node.redeem("cluster", &[token; 16], now(), expires, max_uses)
                    .await
            }));
        }
        let mut accepted = Vec::new();
        for task in tasks {
            let r = task.await.unwrap().unwrap();
            assert!(!r.unverifiable);
            if r.accepted {
                accepted.push(r.use_count);
            } else {
                assert_eq!(r.use_count, max_uses);
            }
        }
        accepted.sort_unstable();
        let expected: Vec<u32> = (1..=max_uses).collect();
        assert_eq!(accepted, expected, "token {token}, max_uses {max_uses}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_extends_never_shortens() {
    let server = server!();
    let state = node(&server).await;
    let mut c = raw(&server).await;
    let t0 = now();
    assert!(
        state
            .redeem("ns", &[0xab; 4], t0, t0 + 100, 3)
            .await
            .unwrap()
            .accepted
    );
    let key = "keyward:r:ns:abababab";
    let expiry = |c: &mut redis::aio::MultiplexedConnection| {
        let mut c = c.clone();
        async move {
            redis::cmd("PEXPIRETIME")
                .arg(key)
                .query_async::<i64>(&mut c)
                .await
                .unwrap()
        }
    };
    assert_eq!(expiry(&mut c).await, (t0 + 100) * 1000 - 1);
    let count: String = redis::cmd("GET")
        .arg(key)
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(count, "1");
    // A later expiry extends the entry ...
    state
        .redeem("ns", &[0xab; 4], t0, t0 + 500, 3)
        .await
        .unwrap();
    assert_eq!(expiry(&mut c).await, (t0 + 500) * 1000 - 1);
    // ... an earlier one leaves it alone, and the count goes on.
    let r = state
        .redeem("ns", &[0xab; 4], t0, t0 + 10, 3)
        .await
        .unwrap();
    assert_eq!((r.use_count, r.accepted), (3, true));
    assert_eq!(expiry(&mut c).await, (t0 + 500) * 1000 - 1);
    // An already-expired first use is accepted and leaves nothing behind.
    assert!(
        state
            .redeem("ns", &[0xcd; 4], t0, t0 - 1, 1)
            .await
            .unwrap()
            .accepted
    );
    let exists: i64 = redis::cmd("EXISTS")
        .arg("keyward:r:ns:cdcdcdcd")
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(exists, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefixes_keep_deployments_apart() {
    let server = server!();
    let a = node(&server).await;
    let mut o = options(&server.url());
    o.key_prefix = "other:".into();
    let b = RedisState::connect(o).await.unwrap();
    assert_eq!(b.key_prefix(), "other:");
    let exp = now() + 60;
    assert!(
        a.redeem("ns", b"tok", now(), exp, 1)
            .await
            .unwrap()
            .accepted
    );
    assert!(
        b.redeem("ns", b"tok", now(), exp, 1)
            .await
            .unwrap()
            .accepted
    );
    assert!(
        !a.redeem("ns", b"tok", now(), exp, 1)
            .await
            .unwrap()
            .accepted
    );
    let tuto = site("TUTO");
    let ttl = Duration::from_secs(60);
    assert!(a
        .acquire_stream(&tuto, "u", "s1", 1, ttl)
        .await
        .unwrap()
        .is_granted());
    assert!(b
        .acquire_stream(&tuto, "u", "s2", 1, ttl)
        .await
        .unwrap()
        .is_granted());
    // Bad prefixes and timeouts are refused before any connection.
    let mut o = options(&server.url());
    o.key_prefix = "p".repeat(65);
    let e = RedisState::connect(o).await.unwrap_err();
    assert!(matches!(
        e,
        StoreError::InvalidInput {
            field: "key_prefix",
            ..
        }
    ));
    let mut o = options(&server.url());
    o.response_timeout = Duration::ZERO;
    let e = RedisState::connect(o).await.unwrap_err();
    assert!(matches!(
        e,
        StoreError::InvalidInput {
            field: "response_timeout",
            ..
        }
    ));
}

/// Redis restarted without its data: tokens issued before are refused as
/// unverifiable instead of being accepted a second time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_lost_its_data_fences_older_tokens() {
    let mut server = server!();
    let state = fast_node(&server).await;
    let issued = now();
    let exp = issued + 600;
    assert!(
        state
            .redeem("ns", b"used", issued, exp, 1)
            .await
            .unwrap()
            .accepted
    );
    assert!(
        state
            .redeem("ns", b"twice", issued, exp, 2)
            .await
            .unwrap()
            .accepted
    );
    server.restart();
    wait_until_healthy(&state, Duration::from_secs(2)).await;
    let r = state.redeem("ns", b"used", issued, exp, 1).await.unwrap();
    assert_eq!(
        (r.accepted, r.unverifiable, r.use_count),
        (false, true, 0),
        "a used single-use token must not be accepted again"
    );
    let r = state.redeem("ns", b"twice", issued, exp, 2).await.unwrap();
    assert!(!r.accepted && r.unverifiable);
    // Tokens issued from the fence on are decided as usual.
    // (+2: the fence is the second after the one in which the loss was seen.)
    let fresh = now() + 2;
    let r = state.redeem("ns", b"new", fresh, exp, 1).await.unwrap();
    assert_eq!((r.accepted, r.unverifiable), (true, false));
    assert!(
        !state
            .redeem("ns", b"new", fresh, exp, 1)
            .await
            .unwrap()
            .accepted
    );
}

/// With an append-only file fsynced on every write, a killed Redis comes back
/// with every decision: nothing is fenced, used tokens stay used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_durable_redis_keeps_decisions_across_a_kill() {
    let mut server = server!(Options {
        durable: true,
        ..Options::default()
    });
    let state = fast_node(&server).await;
    let issued = now();
    let exp = issued + 600;
    assert!(
        state
            .redeem("ns", b"used", issued, exp, 1)
            .await
            .unwrap()
            .accepted
    );
    assert!(
        state
            .redeem("ns", b"twice", issued, exp, 2)
            .await
            .unwrap()
            .accepted
    );
    server.kill();
    server.restart();
    wait_until_healthy(&state, Duration::from_secs(2)).await;
    let r = state.redeem("ns", b"used", issued, exp, 1).await.unwrap();
    assert_eq!((r.accepted, r.unverifiable, r.use_count), (false, false, 1));
    let r = state.redeem("ns", b"twice", issued, exp, 2).await.unwrap();
    assert_eq!((r.accepted, r.unverifiable, r.use_count), (true, false, 2));
    assert!(
        state
            .redeem("ns", b"new", issued, exp, 1)
            .await
            .unwrap()
            .accepted
    );
}

// -------------------------------------------------------------------- streams

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_share_a_stream_limit() {
    let server = server!();
    let nodes = nodes(&server).await;
    let tuto = site("TUTO");
    let ttl = Duration::from_secs(60);
    for round in 0..10 {
        let user = format!("user{round}");
        let mut tasks = Vec::new();
        for i in 0..9 {
            let node = nodes[i % 3].clone();
            let (tuto, user) = (tuto.clone(), user.clone());
            tasks.push(tokio::spawn(async move {
                node.acquire_stream(&tuto, &user, &format!("device{i}"), 2, ttl)
                    .await
            }));
        }
        let mut ends = Vec::new();
        let mut refused = Vec::new();
        for task in tasks {
            match task.await.unwrap().unwrap() {
                StreamGrant::Granted {
                    active,
                    expires_at_ms,
                } => {
                    assert!(active == 1 || active == 2);
                    ends.push(expires_at_ms);
                }
                StreamGrant::Full {
                    active,
                    frees_at_ms,
                } => {
                    assert_eq!(active, 2);
                    refused.push(frees_at_ms);
                }
            }
        }
        assert_eq!(ends.len(), 2, "round {round}: exactly the limit granted");
        let oldest = ends.iter().min().copied().unwrap();
        assert!(
            refused.iter().all(|f| *f == oldest),
            "{refused:?} vs {ends:?}"
        );
        for n in &nodes {
            assert_eq!(n.active_streams(&tuto, &user).await.unwrap(), 2);
        }
    }

    // Sequentially across nodes: the third stream is told when the first
    // lease ends; releasing on one node frees the slot for another.
    let a = nodes[0]
        .acquire_stream(&tuto, "alice", "tv", 2, ttl)
        .await
        .unwrap();
    let StreamGrant::Granted { expires_at_ms, .. } = a else {
        panic!("{a:?}")
    };
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(nodes[1]
        .acquire_stream(&tuto, "alice", "phone", 2, ttl)
        .await
        .unwrap()
        .is_granted());
    assert_eq!(
        nodes[2]
            .acquire_stream(&tuto, "alice", "laptop", 2, ttl)
            .await
            .unwrap(),
        StreamGrant::Full {
            active: 2,
            frees_at_ms: expires_at_ms
        }
    );
    assert!(nodes[2].release_stream(&tuto, "alice", "tv").await.unwrap());
    assert!(nodes[0]
        .acquire_stream(&tuto, "alice", "laptop", 2, ttl)
        .await
        .unwrap()
        .is_granted());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_users_vanish_from_redis() {
    let server = server!();
    let state = node(&server).await;
    let mut c = raw(&server).await;
    let tuto = site("TUTO");
    let g = state
        .acquire_stream(&tuto, "bob", "tv", 1, Duration::from_millis(200))
        .await
        .unwrap();
    let StreamGrant::Granted { expires_at_ms, .. } = g else {
        panic!("{g:?}")
    };
    let key = "keyward:s:TUTO:bob";
    let at: i64 = redis::cmd("PEXPIRETIME")
        .arg(key)
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(at, expires_at_ms, "the key lives as long as its last lease");
    let renewed = state
        .renew_stream(&tuto, "bob", "tv", Duration::from_secs(5))
        .await
        .unwrap()
        .unwrap();
    let at: i64 = redis::cmd("PEXPIRETIME")
        .arg(key)
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(at, renewed);
    assert!(state.release_stream(&tuto, "bob", "tv").await.unwrap());
    let exists: i64 = redis::cmd("EXISTS")
        .arg(key)
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(exists, 0, "released the last slot: nothing left");

    state
        .acquire_stream(&tuto, "carol", "tv", 1, Duration::from_millis(100))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(250)).await;
    let exists: i64 = redis::cmd("EXISTS")
        .arg("keyward:s:TUTO:carol")
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(exists, 0, "expired with its lease");
}

// ---------------------------------------------------------------- rate limits

/// The bucket's rules, the same for both implementations.
async fn bucket_rules(limiter: &dyn RateLimit) {
    let q = Quota::with_interval(Duration::from_millis(300), 2).unwrap();
    assert_eq!(
        limiter.check("ip:a", q).await.unwrap(),
        RateDecision::Allowed { remaining: 1 }
    );
    assert_eq!(
        limiter.check("ip:a", q).await.unwrap(),
        RateDecision::Allowed { remaining: 0 }
    );
    let RateDecision::Limited { retry_after_ms } = limiter.check("ip:a", q).await.unwrap() else {
        panic!("third request within the burst window allowed")
    };
    assert!((100..=300).contains(&retry_after_ms), "{retry_after_ms}");
    // Another key has its own bucket.
    assert!(limiter.check("ip:b", q).await.unwrap().is_allowed());
    tokio::time::sleep(Duration::from_millis(retry_after_ms + 20)).await;
    assert!(limiter.check("ip:a", q).await.unwrap().is_allowed());
    assert!(!limiter.check("ip:a", q).await.unwrap().is_allowed());
    for bad in ["", &"k".repeat(257)] {
        assert_eq!(
            limiter.check(bad, q).await.unwrap_err().code(),
            "invalid_input"
        );
    }
}

/// `n` concurrent checks spread over `limiters` under a slow quota: exactly
/// the burst is allowed, and every refusal waits about one interval.
async fn bucket_is_exact_under_concurrency(limiters: Vec<Arc<dyn RateLimit>>, key: &str) {
    let q = Quota::with_interval(Duration::from_secs(3600), 25).unwrap();
    let mut tasks = Vec::new();
    for i in 0..600 {
        let l = limiters[i % limiters.len()].clone();
        let key = key.to_owned();
        tasks.push(tokio::spawn(async move { l.check(&key, q).await }));
    }
    let mut remaining = BTreeSet::new();
    let mut limited = 0;
    for t in tasks {
        match t.await.unwrap().unwrap() {
            RateDecision::Allowed { remaining: r } => assert!(remaining.insert(r), "{r} twice"),
            RateDecision::Limited { retry_after_ms } => {
                assert!(
                    (3_590_000..=3_600_000).contains(&retry_after_ms),
                    "{retry_after_ms}"
                );
                limited += 1;
            }
        }
    }
    assert_eq!(remaining, (0..25).collect::<BTreeSet<u32>>());
    assert_eq!(limited, 575);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_in_redis() {
    let server = server!();
    let nodes = nodes(&server).await;
    bucket_rules(&nodes[0].rate_limiter()).await;
    let limiters: Vec<Arc<dyn RateLimit>> = nodes
        .iter()
        .map(|n| Arc::new(n.rate_limiter()) as Arc<dyn RateLimit>)
        .collect();
    bucket_is_exact_under_concurrency(limiters, "site:TUTO").await;
    // The bucket key expires once the bucket would be full again.
    let mut c = raw(&server).await;
    let ttl: i64 = redis::cmd("PTTL")
        .arg("keyward:rl:site:TUTO")
        .query_async(&mut c)
        .await
        .unwrap();
    assert!((3_600_000 * 24..=3_600_000 * 25).contains(&ttl), "{ttl}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_in_process() {
    let local = LocalRateLimiter::new();
    bucket_rules(&local).await;
    let shared: Arc<dyn RateLimit> = Arc::new(LocalRateLimiter::new());
    bucket_is_exact_under_concurrency(vec![shared], "site:TUTO").await;
}

// --------------------------------------------------------------- invalidation

/// The next event within `limit`, or a panic saying what was awaited.
async fn next_event(
    rx: &mut mpsc::Receiver<InvalidationEvent>,
    limit: Duration,
    what: &str,
) -> InvalidationEvent {
    tokio::time::timeout(limit, rx.recv())
        .await
        .unwrap_or_else(|_| panic!("no {what} within {limit:?}"))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidations_reach_other_nodes_and_survive_a_restart() {
    let mut server = server!();
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(fast_node(&server).await);
    }
    let (sub, mut rx) = nodes[1].invalidation().subscribe_channel(64);
    assert_eq!(
        next_event(&mut rx, Duration::from_secs(2), "first flush").await,
        InvalidationEvent::Flush
    );
    assert!(sub.is_connected());

    let sent = Instant::now();
    let receivers = nodes[0]
        .invalidation()
        .publish(CacheKind::Site, "TUTO")
        .await
        .unwrap();
    assert_eq!(receivers, 1);
    assert_eq!(
        next_event(&mut rx, Duration::from_secs(1), "site message").await,
        InvalidationEvent::Invalidate {
            kind: CacheKind::Site,
            id: "TUTO".into()
        }
    );
    assert!(sent.elapsed() < Duration::from_secs(1));
    for kind in CacheKind::ALL {
        nodes[2].invalidation().publish(kind, "x y").await.unwrap();
        assert_eq!(
            next_event(&mut rx, Duration::from_secs(1), kind.as_str()).await,
            InvalidationEvent::Invalidate {
                kind,
                id: "x y".into()
            }
        );
    }
    assert_eq!(
        nodes[0]
            .invalidation()
            .publish(CacheKind::Key, "")
            .await
            .unwrap_err()
            .code(),
        "invalid_input"
    );

    // Redis dies and comes back: the subscriber flushes, then hears again.
    server.kill();
    server.restart();
    assert_eq!(
        next_event(&mut rx, Duration::from_secs(3), "flush after restart").await,
        InvalidationEvent::Flush
    );
    assert!(sub.is_connected());
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match nodes[0]
            .invalidation()
            .publish(CacheKind::Client, "c1")
            .await
        {
            Ok(_) => break,
            Err(e) if Instant::now() < deadline => {
                assert_eq!(e.code(), "backend");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("publish after restart: {e:?}"),
        }
    }
    assert_eq!(
        next_event(&mut rx, Duration::from_secs(1), "message after restart").await,
        InvalidationEvent::Invalidate {
            kind: CacheKind::Client,
            id: "c1".into()
        }
    );

    // A callback subscriber sees the same; dropping the subscription ends it.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let sub2 = nodes[2]
        .invalidation()
        .subscribe(move |e| log.lock().unwrap().push(e));
    let deadline = Instant::now() + Duration::from_secs(2);
    while !sub2.is_connected() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let receivers = nodes[0]
        .invalidation()
        .publish(CacheKind::Packager, "p")
        .await
        .unwrap();
    assert_eq!(receivers, 2);
    let deadline = Instant::now() + Duration::from_secs(1);
    while seen.lock().unwrap().len() < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        *seen.lock().unwrap(),
        [
            InvalidationEvent::Flush,
            InvalidationEvent::Invalidate {
                kind: CacheKind::Packager,
                id: "p".into()
            }
        ]
    );
    drop(sub2);
    drop(sub);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let receivers = nodes[0]
        .invalidation()
        .publish(CacheKind::Packager, "p")
        .await
        .unwrap();
    assert_eq!(receivers, 0, "dropped subscriptions unsubscribe");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_gets_a_flush_instead_of_lost_messages() {
    let server = server!();
    let state = node(&server).await;
    let (_sub, mut rx) = state.invalidation().subscribe_channel(2);
    assert_eq!(
        next_event(&mut rx, Duration::from_secs(2), "first flush").await,
        InvalidationEvent::Flush
    );
    for i in 0..10 {
        state
            .invalidation()
            .publish(CacheKind::Key, &format!("k{i}"))
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Two fit; the rest were dropped for a flush delivered once there was room.
    let a = next_event(&mut rx, Duration::from_secs(1), "k0").await;
    let b = next_event(&mut rx, Duration::from_secs(1), "k1").await;
    assert!(matches!(a, InvalidationEvent::Invalidate { ref id, .. } if id == "k0"));
    assert!(matches!(b, InvalidationEvent::Invalidate { ref id, .. } if id == "k1"));
    state
        .invalidation()
        .publish(CacheKind::Key, "late")
        .await
        .unwrap();
    assert_eq!(
        next_event(&mut rx, Duration::from_secs(1), "overflow flush").await,
        InvalidationEvent::Flush
    );
    assert!(matches!(
        next_event(&mut rx, Duration::from_secs(1), "late").await,
        InvalidationEvent::Invalidate { ref id, .. } if id == "late"
    ));
}

// -------------------------------------------------------------------- failure

/// Polls `health` until it answers; panics after `limit`.
async fn wait_until_healthy(state: &RedisState, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        match state.health().await {
            Ok(()) => return start.elapsed(),
            Err(e) => {
                assert_eq!(e.code(), "backend");
                assert!(
                    start.elapsed() < limit,
                    "not healthy {limit:?} after Redis came back: {:?}",
                    e.detail()
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// Asserts a failed call: `backend`, within the deadline.
fn assert_fails_fast<T: std::fmt::Debug>(
    what: &str,
    started: Instant,
    r: keyward_store::Result<T>,
) {
    let took = started.elapsed();
    let e = r.expect_err(what);
    assert_eq!(e.code(), "backend", "{what}: {e:?}");
    assert!(
        took <= RESPONSE_TIMEOUT + SLACK,
        "{what} took {took:?} to fail"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_fails_fast_and_recovers_by_itself() {
    let mut server = server!();
    let state = fast_node(&server).await;
    let limiter = state.rate_limiter();
    let tuto = site("TUTO");
    let ttl = Duration::from_secs(60);
    let q = Quota::per_second(100, 100).unwrap();
    assert!(state
        .acquire_stream(&tuto, "u", "a", 2, ttl)
        .await
        .unwrap()
        .is_granted());
    server.kill();
    // Several rounds: the first calls see the broken connection, later ones
    // the reconnection attempts.
    for _ in 0..3 {
        let t = Instant::now();
        assert_fails_fast(
            "redeem",
            t,
            state.redeem("ns", b"t", now(), now() + 60, 1).await,
        );
        let t = Instant::now();
        assert_fails_fast(
            "acquire",
            t,
            state.acquire_stream(&tuto, "u", "b", 2, ttl).await,
        );
        let t = Instant::now();
        assert_fails_fast("renew", t, state.renew_stream(&tuto, "u", "a", ttl).await);
        let t = Instant::now();
        assert_fails_fast("release", t, state.release_stream(&tuto, "u", "a").await);
        let t = Instant::now();
        assert_fails_fast("active", t, state.active_streams(&tuto, "u").await);
        let t = Instant::now();
        assert_fails_fast("rate limit", t, limiter.check("ip:x", q).await);
        let t = Instant::now();
        assert_fails_fast(
            "publish",
            t,
            state.invalidation().publish(CacheKind::Site, "TUTO").await,
        );
        let t = Instant::now();
        assert_fails_fast("health", t, state.health().await);
        let t = Instant::now();
        assert_fails_fast("lifecycle health", t, Lifecycle::health(&state).await);
    }
    // Still down a while later: still fast.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let t = Instant::now();
    assert_fails_fast("health, later", t, state.health().await);

    server.restart();
    let took = wait_until_healthy(&state, Duration::from_secs(2)).await;
    eprintln!("healthy {took:?} after redis-server answered again");
    // Redis lost its data: the fence is the second after the first decision
    // now; a token issued after it is decided as usual.
    let fresh = now() + 2;
    assert!(
        state
            .redeem("ns", b"after", fresh, fresh + 60, 1)
            .await
            .unwrap()
            .accepted
    );
    assert!(state
        .acquire_stream(&tuto, "u", "b", 2, ttl)
        .await
        .unwrap()
        .is_granted());
    assert!(limiter.check("ip:x", q).await.unwrap().is_allowed());
}

/// A frozen Redis (connections open, no answers) is the case that hangs
/// clients without deadlines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_redis_never_hangs_a_call() {
    let mut server = server!();
    let state = fast_node(&server).await;
    let tuto = site("TUTO");
    let ttl = Duration::from_secs(60);
    server.pause();
    for _ in 0..2 {
        let t = Instant::now();
        assert_fails_fast(
            "redeem",
            t,
            state.redeem("ns", b"t", now(), now() + 60, 1).await,
        );
        let t = Instant::now();
        assert_fails_fast(
            "acquire",
            t,
            state.acquire_stream(&tuto, "u", "a", 2, ttl).await,
        );
        let t = Instant::now();
        assert_fails_fast("health", t, state.health().await);
    }
    let t = Instant::now();
    let e = RedisState::connect(options(&server.url()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "backend");
    assert!(t.elapsed() <= Duration::from_millis(600) + SLACK);
    server.resume();
    wait_until_healthy(&state, Duration::from_secs(2)).await;
    // The calls that timed out may or may not have been applied once Redis
    // woke up; new ones are decided as usual.
    let r = state
        .redeem("ns", b"after", now(), now() + 60, 1)
        .await
        .unwrap();
    assert!(r.accepted);
    assert!(
        !state
            .redeem("ns", b"after", now(), now() + 60, 1)
            .await
            .unwrap()
            .accepted
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_to_nothing_fails_fast() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let o = options(&format!("redis://:s3cr3t-pw@127.0.0.1:{port}/"));
    let t = Instant::now();
    let e = RedisState::connect(o.clone()).await.unwrap_err();
    assert_eq!(e.code(), "backend");
    assert!(t.elapsed() <= o.connect_timeout + o.response_timeout + SLACK);
    assert!(!format!("{e} {e:?}").contains("s3cr3t-pw"));

    let e = RedisState::connect(options("http://:s3cr3t-pw@host/"))
        .await
        .unwrap_err();
    assert!(matches!(
        e,
        StoreError::InvalidInput {
            field: "redis_url",
            ..
        }
    ));
    assert!(!format!("{e} {e:?}").contains("s3cr3t-pw"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_never_show_in_errors() {
    let password = "pw-9f2c4e1d-never-shown";
    let mut server = server!(Options {
        password: Some(password.into()),
        ..Options::default()
    });
    let url = server.url();
    assert!(url.contains(password));
    let shows =
        |e: &StoreError| format!("{e} {e:?} {}", e.detail().unwrap_or_default()).contains(password);

    // The right password works; Debug never shows it.
    let state = fast_node(&server).await;
    state.health().await.unwrap();
    assert!(!format!("{state:?} {:?}", options(&url)).contains(password));
    assert!(!options(&url).redacted_url().contains(password));

    // A wrong one (which Redis refuses) and no password are errors without it.
    let wrong = url.replace(password, &format!("{password}-wrong"));
    let e = RedisState::connect(options(&wrong)).await.unwrap_err();
    assert_eq!(e.code(), "backend");
    assert!(!shows(&e), "{e:?}");
    assert!(!format!("{e:?}").contains("-wrong"));
    assert!(
        e.detail().unwrap().contains("authentication failed"),
        "{e:?}"
    );
    let e = RedisState::connect(options(&format!("redis://127.0.0.1:{}/", server.port())))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "backend");

    // Nor do the errors of a connection that loses its server.
    server.kill();
    for _ in 0..3 {
        let e = state
            .redeem("ns", b"t", now(), now() + 60, 1)
            .await
            .unwrap_err();
        assert!(!shows(&e), "{e:?}");
        assert_eq!(e.to_string(), "storage backend error");
        let e = state.health().await.unwrap_err();
        assert!(!shows(&e), "{e:?}");
    }
    server.restart();
    wait_until_healthy(&state, Duration::from_secs(2)).await;
}

/// `rediss://` with a private CA; the system's roots do not know it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_private_ca() {
    let password = "tls-pw-51c0ffee";
    let server = server!(Options {
        tls: true,
        password: Some(password.into()),
        ..Options::default()
    });
    let url = server.url();
    assert!(url.starts_with("rediss://"));
    let mut o = options(&url);
    o.tls_ca_pem = Some(server.ca_pem());
    assert!(!format!("{o:?}").contains("BEGIN"));
    let state = RedisState::connect(o).await.unwrap();
    state.health().await.unwrap();
    let exp = now() + 60;
    assert!(
        state
            .redeem("ns", b"tls", now(), exp, 1)
            .await
            .unwrap()
            .accepted
    );
    assert!(
        !state
            .redeem("ns", b"tls", now(), exp, 1)
            .await
            .unwrap()
            .accepted
    );
    let (_sub, mut rx) = state.invalidation().subscribe_channel(8);
    assert_eq!(
        next_event(&mut rx, Duration::from_secs(2), "flush over TLS").await,
        InvalidationEvent::Flush
    );

    // Without the CA the certificate is not trusted, and the error says so.
    let e = RedisState::connect(options(&url)).await.unwrap_err();
    assert_eq!(e.code(), "backend");
    assert!(e.detail().unwrap().contains("certificate"), "{e:?}");
    assert!(!format!("{e:?}").contains(password));
    // A CA without TLS, or one that is not PEM, is a configuration error.
    let mut o = options(&url.replace("rediss://", "redis://"));
    o.tls_ca_pem = Some(server.ca_pem());
    let e = RedisState::connect(o).await.unwrap_err();
    assert!(
        matches!(
            e,
            StoreError::InvalidInput {
                field: "tls_ca_pem",
                ..
            }
        ),
        "{e:?}"
    );
    let mut o = options(&url);
    o.tls_ca_pem = Some(b"not a certificate".to_vec());
    let e = RedisState::connect(o).await.unwrap_err();
    assert!(
        matches!(
            e,
            StoreError::InvalidInput {
                field: "tls_ca_pem",
                ..
            }
        ),
        "{e:?}"
    );
}

/// Clocks: every answer is in Redis's time, so nodes agree whatever theirs say.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_times_come_from_redis() {
    let server = server!();
    let state = node(&server).await;
    let mut c = raw(&server).await;
    let (secs, micros): (i64, i64) = redis::cmd("TIME").query_async(&mut c).await.unwrap();
    let redis_now = secs * 1000 + micros / 1000;
    let g = state
        .acquire_stream(&site("ABCD"), "u", "s", 1, Duration::from_secs(10))
        .await
        .unwrap();
    let StreamGrant::Granted { expires_at_ms, .. } = g else {
        panic!("{g:?}")
    };
    let lease_start = expires_at_ms - 10_000;
    assert!(
        (redis_now..redis_now + 1000).contains(&lease_start),
        "{lease_start} vs {redis_now}"
    );
}

/// Many calls at once on one connection: each answered, none lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_calls_share_one_connection() {
    let server = server!();
    let state = node(&server).await;
    let ok = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..2000u32 {
        let (state, ok) = (state.clone(), ok.clone());
        tasks.push(tokio::spawn(async move {
            let r = state
                .redeem("bulk", &i.to_be_bytes(), now(), now() + 60, 1)
                .await
                .unwrap();
            if r.accepted {
                ok.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(ok.load(Ordering::Relaxed), 2000);
}
