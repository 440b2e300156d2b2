//! A fast mock of Google's Widevine cloud licence proxy protocol, for
//! `bench/brokers.sh`: the upstream that keyward's `widevine-cloud` kind and
//! the Node.js broker (`bench/node-broker/`) forward to.
//!
//! ```text
//! mock_widevine ADDR KEY_HEX IV_HEX
//! ```
//!
//! It listens on ADDR (e.g. `127.0.0.1:9000`), accepts `POST` on any path
//! with the envelope `{"request": b64(msg), "signature": b64(...), "signer": …}`,
//! **verifies the signature** (AES-256-CBC decryption with KEY/IV of the
//! signature's first block pair, compared with SHA-1 of `msg`: one SHA-1 and
//! two AES block decryptions per request) and answers
//! `{"status":"OK","license":"<b64 of 600 fixed bytes>"}`; a bad signature
//! gets `{"status":"SIGNATURE_FAILED"}` (HTTP 200, as the service does), a
//! body that is not the envelope HTTP 400. The message itself is not parsed.
//!
//! `GET /healthz` answers `ok`. With `MOCK_WIDEVINE_DUMP=path` the first
//! decoded message is written to that file (to compare what the brokers send).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use aes::cipher::{BlockDecrypt as _, KeyInit as _};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine as _;
use serde::Deserialize;
use sha1::Digest as _;

/// The fixed licence: 600 bytes, a Widevine `SignedMessage` type LICENSE
/// (`08 02`) followed by a recognisable filler.
fn licence_bytes() -> Vec<u8> {
    let mut l = vec![0x08, 0x02, 0x12];
    let filler = b"MOCK-WIDEVINE-LICENCE/";
    while l.len() < 600 {
        l.push(filler[l.len() % filler.len()]);
    }
    l
}

struct Mock {
    cipher: aes::Aes256,
    iv: [u8; 16],
    answer: Bytes,
    dump: Option<String>,
    dumped: AtomicBool,
}

#[derive(Deserialize)]
struct Envelope {
    request: String,
    signature: String,
    #[allow(dead_code, reason = "read to require it; the mock trusts any signer")]
    signer: String,
}

impl Mock {
    /// Is the first 20 bytes of the decrypted signature SHA-1(msg)?
    fn signed(&self, msg: &[u8], sig: &[u8]) -> bool {
        if sig.len() < 32 || !sig.len().is_multiple_of(16) {
            return false;
        }
        let mut plain = [0u8; 32];
        let mut prev = self.iv;
        for (i, block) in sig.chunks(16).take(2).enumerate() {
            let mut b = aes::cipher::generic_array::GenericArray::clone_from_slice(block);
            self.cipher.decrypt_block(&mut b);
            for (j, (x, p)) in b.iter().zip(prev).enumerate() {
                plain[i * 16 + j] = x ^ p;
            }
            prev.copy_from_slice(block);
        }
        plain[..20] == sha1::Sha1::digest(msg)[..]
    }
}

async fn licence(State(m): State<Arc<Mock>>, body: Bytes) -> Response {
    let b64 = base64::engine::general_purpose::STANDARD;
    let Ok(env) = serde_json::from_slice::<Envelope>(&body) else {
        return (StatusCode::BAD_REQUEST, "not the envelope").into_response();
    };
    let (Ok(msg), Ok(sig)) = (b64.decode(&env.request), b64.decode(&env.signature)) else {
        return (StatusCode::BAD_REQUEST, "not base64").into_response();
    };
    if let Some(path) = &m.dump {
        if !m.dumped.swap(true, Ordering::Relaxed) {
            let _ = std::fs::write(path, &msg);
        }
    }
    let answer = if m.signed(&msg, &sig) {
        m.answer.clone()
    } else {
        Bytes::from_static(b"{\"status\":\"SIGNATURE_FAILED\"}")
    };
    ([(header::CONTENT_TYPE, "application/json")], answer).into_response()
}

fn usage() -> ! {
    eprintln!("usage: mock_widevine ADDR KEY_HEX(64) IV_HEX(32)");
    std::process::exit(2)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, addr, key, iv] = args.as_slice() else {
        usage()
    };
    let addr: SocketAddr = addr.parse().unwrap_or_else(|_| usage());
    let key: [u8; 32] = hex::decode(key.trim())
        .ok()
        .and_then(|k| k.try_into().ok())
        .unwrap_or_else(|| usage());
    let iv: [u8; 16] = hex::decode(iv.trim())
        .ok()
        .and_then(|k| k.try_into().ok())
        .unwrap_or_else(|| usage());
    let answer = serde_json::json!({
        "status": "OK",
        "license": base64::engine::general_purpose::STANDARD.encode(licence_bytes()),
    });
    let mock = Arc::new(Mock {
        cipher: aes::Aes256::new(&key.into()),
        iv,
        answer: Bytes::from(answer.to_string()),
        dump: std::env::var("MOCK_WIDEVINE_DUMP").ok(),
        dumped: AtomicBool::new(false),
    });
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/{*path}", post(licence))
        .with_state(mock);
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("mock_widevine: cannot listen on {addr}: {e}");
            std::process::exit(1)
        }
    };
    eprintln!("mock_widevine listening on {addr}");
    if let Err(e) = axum::serve(listener, app).await {
        eprintln!("mock_widevine: {e}");
        std::process::exit(1)
    }
}
