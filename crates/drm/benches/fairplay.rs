#![allow(
    clippy::unwrap_used,
    reason = "benchmark code: a failure should abort loudly"
)]
//! The FairPlay KSM per SPC against its floor, one RSA-1024 private-key
//! operation, in one run.
//!
//! * `rsa_oaep_floor`: RSA-OAEP (SHA-1) decryption of the SPC's wrapped key
//!   with the `rsa` 0.10 crate the KSM uses, the key built directly from the
//!   PEM (not through keyward): what no KSM can skip.
//! * `spc_key_unwrap`: the same through `SpcKey::unwrap` (should equal the floor).
//! * `ksm_spc2` / `ksm_spc3`: the whole KSM per SPC — `Spc::parse`,
//!   `OpenedSpc::open` (unwrap, AES-CBC, TLLVs), `unlock(SDK_TEST_DASK)`,
//!   `build_ckc` with an OS-random fill (`rand` 0.8 `OsRng`, as the server's).
//!   spc2 is the SPC the HTTP benchmark sends (asset "one", 2 KB, 3 echoes);
//!   spc3 the largest SDK SPC (4 KB, 7 echoes).
//! * pieces: `spc_parse`, `tllv_parse` (the decrypted payload), `unlock`,
//!   `build_ckc_osrng`, `build_ckc_counter` (a byte counter instead of the OS).
//! * `spc_key_parse_pem`: `SpcKey::parse` of the PEM key — why the server
//!   parses a credential's key once, not per request.
//!
//! After criterion, unless run as a test (`cargo test --benches`), an
//! interleaved measurement (rounds alternating floor and KSM, so a busy
//! machine slows both alike) prints the rates and the ratio KSM / floor that
//! BENCHMARKS.md records (goal ≥ 0.8).

#![allow(missing_docs, reason = "criterion_group! generates undocumented items")]

use std::hint::black_box;
use std::time::{Duration, Instant};

use aes::cipher::{BlockDecrypt as _, KeyInit as _};
use criterion::{criterion_group, Criterion, Throughput};
use keyward_drm::fairplay::{tllv, CkcContent, OpenedSpc, Spc, SpcKey, SDK_TEST_DASK};
use keyward_drm::DrmError;
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::traits::Decryptor as _;

const CONTENT_KEY: [u8; 16] = *b"0123456789abcdef";

fn fixture(rel: &str) -> Vec<u8> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/fixtures/fairplay-ksm");
    std::fs::read(dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn pem() -> Vec<u8> {
    fixture("Development Credentials/dev_private_key.pem")
}

/// The bare floor's key: `rsa` 0.10 directly, not through `SpcKey`.
fn floor_key() -> rsa::oaep::DecryptingKey<sha1::Sha1> {
    let text = String::from_utf8(pem()).unwrap();
    rsa::oaep::DecryptingKey::new(rsa::PrivateKey::from_pkcs1_pem(text.trim()).unwrap())
}

fn os_fill(b: &mut [u8]) -> Result<(), DrmError> {
    use rand::RngCore as _;
    rand::rngs::OsRng
        .try_fill_bytes(b)
        .map_err(|_| DrmError::FairPlayCkcBuild {
            reason: "no randomness available",
        })
}

fn counter() -> impl FnMut(&mut [u8]) -> Result<(), DrmError> {
    let mut n = 0u8;
    move |b| {
        for x in b {
            n = n.wrapping_add(37);
            *x = n;
        }
        Ok(())
    }
}

/// The whole KSM for one SPC, as the server runs it (the DASk from the
/// sdk-test provider).
fn ksm(spc_bytes: &[u8], key: &SpcKey) -> Vec<u8> {
    let spc = Spc::parse(spc_bytes).unwrap();
    let opened = OpenedSpc::open(&spc, key).unwrap();
    let session = opened.unlock(&SDK_TEST_DASK).unwrap();
    session
        .build_ckc(
            &CkcContent {
                key: &CONTENT_KEY,
                iv: [0; 16],
                duration: None,
            },
            &mut os_fill,
        )
        .unwrap()
}

/// The SPC payload decrypted (for the TLLV-parse piece).
fn decrypted_payload(spc: &Spc<'_>, key: &SpcKey) -> Vec<u8> {
    let k = key.unwrap(spc.wrapped_key).unwrap();
    let cipher = aes::Aes128::new((&*k).into());
    let mut data = spc.payload.to_vec();
    let mut prev = spc.header.iv;
    for block in data.chunks_exact_mut(16) {
        let mut ct = [0u8; 16];
        ct.copy_from_slice(block);
        cipher.decrypt_block(block.into());
        for (b, p) in block.iter_mut().zip(prev) {
            *b ^= p;
        }
        prev = ct;
    }
    data
}

fn bench(c: &mut Criterion) {
    let pem = pem();
    let key = SpcKey::parse(&pem, None).unwrap();
    let floor = floor_key();
    let spc2 = fixture("FPS/spc2.bin");
    let spc3 = fixture("FPS/spc3.bin");
    let parsed2 = Spc::parse(&spc2).unwrap();
    let wrapped = parsed2.wrapped_key.to_vec();
    assert_eq!(
        floor.decrypt(&wrapped).unwrap(),
        key.unwrap(&wrapped).unwrap().to_vec(),
        "the floor and SpcKey::unwrap must agree"
    );
    let opened2 = OpenedSpc::open(&parsed2, &key).unwrap();
    let session2 = opened2.unlock(&SDK_TEST_DASK).unwrap();
    let payload2 = decrypted_payload(&parsed2, &key);
    let content = CkcContent {
        key: &CONTENT_KEY,
        iv: [0; 16],
        duration: None,
    };

    let mut g = c.benchmark_group("fairplay");
    g.throughput(Throughput::Elements(1));
    g.bench_function("rsa_oaep_floor", |b| {
        b.iter(|| black_box(floor.decrypt(black_box(&wrapped)).unwrap()))
    });
    g.bench_function("spc_key_unwrap", |b| {
        b.iter(|| black_box(key.unwrap(black_box(&wrapped)).unwrap()))
    });
    g.bench_function("ksm_spc2", |b| {
        b.iter(|| black_box(ksm(black_box(&spc2), &key)))
    });
    g.bench_function("ksm_spc3", |b| {
        b.iter(|| black_box(ksm(black_box(&spc3), &key)))
    });
    g.bench_function("spc_parse", |b| {
        b.iter(|| black_box(Spc::parse(black_box(&spc2)).unwrap()))
    });
    g.bench_function("tllv_parse", |b| {
        b.iter(|| black_box(tllv::parse(black_box(&payload2)).unwrap().len()))
    });
    g.bench_function("unlock", |b| {
        b.iter(|| black_box(opened2.unlock(black_box(&SDK_TEST_DASK)).unwrap()))
    });
    g.bench_function("build_ckc_osrng", |b| {
        b.iter(|| black_box(session2.build_ckc(&content, &mut os_fill).unwrap()))
    });
    g.bench_function("build_ckc_counter", |b| {
        let mut fill = counter();
        b.iter(|| black_box(session2.build_ckc(&content, &mut fill).unwrap()))
    });
    g.bench_function("spc_key_parse_pem", |b| {
        b.iter(|| black_box(SpcKey::parse(black_box(&pem), None).unwrap()))
    });
    g.finish();
}

/// Rounds alternating the floor and the KSM (spc2), each timed for `slice`;
/// prints both rates, the ratio per round and its median.
fn ratio_report(rounds: usize, slice: Duration) {
    let key = SpcKey::parse(&pem(), None).unwrap();
    let floor = floor_key();
    let spc2 = fixture("FPS/spc2.bin");
    let wrapped = Spc::parse(&spc2).unwrap().wrapped_key.to_vec();
    let rate = |f: &mut dyn FnMut()| {
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < slice {
            for _ in 0..16 {
                f();
            }
            n += 16;
        }
        n as f64 / start.elapsed().as_secs_f64()
    };
    let mut floor_op = || {
        black_box(floor.decrypt(black_box(&wrapped)).unwrap());
    };
    let mut ksm_op = || {
        black_box(ksm(black_box(&spc2), &key));
    };
    let mut floors = Vec::new();
    let mut ksms = Vec::new();
    let mut ratios = Vec::new();
    for r in 0..rounds {
        // Alternate which goes first, so neither always follows the other.
        let (f, k) = if r % 2 == 0 {
            let f = rate(&mut floor_op);
            (f, rate(&mut ksm_op))
        } else {
            let k = rate(&mut ksm_op);
            (rate(&mut floor_op), k)
        };
        floors.push(f);
        ksms.push(k);
        ratios.push(k / f);
    }
    let median = |v: &[f64]| {
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        s[s.len() / 2]
    };
    let list = |v: &[f64], prec: usize| {
        v.iter()
            .map(|x| format!("{x:.prec$}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!();
    println!(
        "fairplay ratio: {rounds} interleaved rounds of {} ms each, one thread",
        slice.as_millis()
    );
    println!(
        "  bare RSA-OAEP-SHA1 decrypt (floor): {:.0} /s median ({})",
        median(&floors),
        list(&floors, 0)
    );
    println!(
        "  KSM per SPC (spc2, OsRng fill):     {:.0} CKC/s median ({})",
        median(&ksms),
        list(&ksms, 0)
    );
    println!(
        "  KSM / floor: {:.3} median (per round: {}); goal >= 0.8: {}",
        median(&ratios),
        list(&ratios, 3),
        if median(&ratios) >= 0.8 {
            "met"
        } else {
            "MISSED"
        }
    );
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(700))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    // `cargo bench` passes --bench; `cargo test --benches` does not (criterion
    // then runs each function once, and so should this).
    if std::env::args().any(|a| a == "--bench") {
        ratio_report(10, Duration::from_millis(200));
    }
}
