//! The single-use check of the embedded store, against its floor and its
//! predecessor, in one run:
//!
//! * `decide/store`: `SqliteStore::redeem` of a new token id (the decision in
//!   memory and the row queued), per call; `decide/floor`: the same key
//!   derivation plus an insert into one `Mutex<HashMap>`: what any in-memory
//!   check costs at least.
//! * `persist/store`: 4,096 redemptions then `sync()` (the writer thread has
//!   committed them), per redemption: the whole cost of a single-use check,
//!   decision and disk; `persist/sqlx_upsert_per_use`: the previous design,
//!   one `INSERT … ON CONFLICT … RETURNING` through the sqlx pool per use,
//!   answered after its commit.
//!
//! `cargo bench -p keyward-store --bench replay`
#![allow(
    clippy::unwrap_used,
    reason = "benchmark code: a failure should abort loudly"
)]
#![allow(missing_docs, reason = "criterion_group! generates undocumented items")]

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use keyward_store::{Kek, ReplayStore as _, SqliteStore};
use sha2::{Digest as _, Sha256};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A Studio-shaped replay id: issue time, then 32 distinct bytes.
fn id(n: u64) -> [u8; 40] {
    let mut id = [0u8; 40];
    id[..8].copy_from_slice(&now().to_be_bytes());
    id[8..16].copy_from_slice(&n.to_be_bytes());
    id[16..24].copy_from_slice(&n.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_le_bytes());
    id
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = rt.block_on(async {
        let s = SqliteStore::open(dir.path(), Kek::from_bytes(&[7u8; 32]).unwrap())
            .await
            .unwrap();
        s.claim_replay().await.unwrap();
        s
    });
    let later = now() + 3600;
    let mut n: u64 = 0;

    let mut g = c.benchmark_group("decide");
    g.bench_function("store", |b| {
        b.iter(|| {
            n += 1;
            rt.block_on(store.redeem("studio", black_box(&id(n)), now(), later, 1))
                .unwrap()
        })
    });
    let floor: Mutex<HashMap<[u8; 16], (u32, i64)>> = Mutex::new(HashMap::new());
    g.bench_function("floor", |b| {
        b.iter(|| {
            n += 1;
            let d = Sha256::new()
                .chain_update([6u8])
                .chain_update(b"studio")
                .chain_update(black_box(id(n)))
                .finalize();
            let mut k = [0u8; 16];
            k.copy_from_slice(&d[..16]);
            floor.lock().unwrap().insert(k, (1, later))
        })
    });
    g.finish();
    rt.block_on(store.sync()).unwrap();

    let mut g = c.benchmark_group("persist");
    g.sample_size(10);
    const BATCH: u64 = 4096;
    g.bench_function("store", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                rt.block_on(async {
                    for _ in 0..BATCH {
                        n += 1;
                        store
                            .redeem("studio", &id(n), now(), later, 1)
                            .await
                            .unwrap();
                    }
                    store.sync().await.unwrap();
                });
                total += t.elapsed() / BATCH as u32;
            }
            total
        })
    });
    let pool = rt.block_on(async {
        sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(
                sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(store.path())
                    .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sqlx::sqlite::SqliteSynchronous::Normal),
            )
            .await
            .unwrap()
    });
    g.bench_function("sqlx_upsert_per_use", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                rt.block_on(async {
                    for _ in 0..256 {
                        n += 1;
                        let r: Option<i64> = sqlx::query_scalar(
                            "INSERT INTO redemptions (namespace, token_id, use_count, expires_at) \
                             VALUES (?1, ?2, 1, ?3) \
                             ON CONFLICT (namespace, token_id) DO UPDATE SET \
                               use_count = redemptions.use_count + 1 \
                             WHERE redemptions.use_count < ?4 RETURNING use_count",
                        )
                        .bind("peer")
                        .bind(&id(n)[..])
                        .bind(later)
                        .bind(1i64)
                        .fetch_optional(&pool)
                        .await
                        .unwrap();
                        black_box(r);
                    }
                });
                total += t.elapsed() / 256;
            }
            total
        })
    });
    g.finish();
    rt.block_on(async {
        pool.close().await;
        store.close().await;
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
