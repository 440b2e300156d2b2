//! Shared helpers of the CPIX tests: fixture paths (relative to this crate, never
//! absolute), the DASH-IF recipients' keys, and small decoders.
//!
//! The three certificates next to this file were made for these tests with the openssl
//! CLI (self-signed, throwaway keys not kept):
//! * `small_rsa1024.cer` — RSA-1024, sha256WithRSAEncryption (too short a key);
//! * `md5_signed.cer` — RSA-2048, md5WithRSAEncryption (weak signature);
//! * `ec_p256.cer` — an EC P-256 key (not RSA).

#![allow(dead_code, clippy::unwrap_used)]

use std::path::PathBuf;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use keyward_drm::cpix::Recipient;
use rsa::pkcs8::DecodePrivateKey as _;
use rsa::PrivateKey as RsaPrivateKey;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A file under `testdata/fixtures/`.
pub fn fixture(rel: &str) -> Vec<u8> {
    let path = root().join("../../testdata/fixtures").join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A DASH-IF vector.
pub fn dashif(name: &str) -> Vec<u8> {
    fixture(&format!("cpix-dashif/{name}"))
}

/// A SPEKE v2 request.
pub fn speke(rel: &str) -> Vec<u8> {
    fixture(&format!("speke-v2/{rel}"))
}

/// A file next to this module.
pub fn support(name: &str) -> Vec<u8> {
    let path = root().join("tests/cpix_support").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The private key of a DASH-IF certificate (`Cert1` … `Cert4`, `WeakCert_*`).
pub fn private_key(stem: &str) -> RsaPrivateKey {
    let pem = String::from_utf8(dashif(&format!("{stem}.key.pem"))).unwrap();
    RsaPrivateKey::from_pkcs8_pem(&pem).unwrap()
}

/// A DASH-IF certificate, DER.
pub fn cert(stem: &str) -> Vec<u8> {
    dashif(&format!("{stem}.cer"))
}

/// A recipient for a DASH-IF certificate.
pub fn recipient(stem: &str) -> Recipient {
    Recipient {
        certificate_der: cert(stem),
    }
}

pub fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

pub fn unb64(text: &str) -> Vec<u8> {
    STANDARD.decode(text).unwrap()
}

/// The text of every element whose name (prefix included) is `qname`, in order.
pub fn texts(xml: &str, qname: &str) -> Vec<String> {
    let mut out = Vec::new();
    let open = format!("<{qname}");
    let close = format!("</{qname}>");
    let mut rest = xml;
    while let Some(at) = rest.find(&open) {
        let after = &rest[at + open.len()..];
        if !after.starts_with('>') && !after.starts_with(' ') && !after.starts_with('/') {
            rest = after;
            continue;
        }
        let gt = after.find('>').unwrap();
        if after[..gt].ends_with('/') {
            out.push(String::new());
            rest = &after[gt + 1..];
            continue;
        }
        let body = &after[gt + 1..];
        let end = body.find(&close).unwrap();
        out.push(body[..end].to_owned());
        rest = &body[end..];
    }
    out
}
