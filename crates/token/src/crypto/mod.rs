//! The vendor's fixed cryptography: AES-256-CBC with PKCS#7 and the constant IV
//! `0123456789abcdef`, SHA-256 token hashes, standard base64; and RFC 3394 AES Key
//! Wrap ([`aes_key_wrap`] / [`aes_key_unwrap`], in `keywrap`).
//!
//! The site key and the access key are 32-byte *strings* whose UTF-8 bytes are
//! used directly (no base64 decoding) — pallycon.md §1.1. keyward insists on
//! exactly 32 bytes; the SDKs silently fall back to AES-128 on 16-byte keys.
//!
//! The AES key schedule is expanded once when a [`SiteKey`] is built, so minting
//! and verifying pay only for the blocks they encrypt.

use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, BlockEncryptMut, InnerIvInit, KeyInit};
use aes::Aes256;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use std::fmt;
use zeroize::Zeroizing;

use crate::error::{SdkCode, TokenError};

mod keywrap;

pub use keywrap::{aes_key_unwrap, aes_key_wrap, KeyWrapError};

/// The fixed IV of every PallyCon AES operation.
pub const FIXED_IV: &[u8; 16] = b"0123456789abcdef";

pub(crate) const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A site key: 32 bytes used as the AES-256 key for policies and auth data.
///
/// Its `Debug` output is `SiteKey(***)`; the key schedule is zeroized on drop.
#[derive(Clone)]
pub struct SiteKey {
    cipher: Aes256,
}

impl SiteKey {
    /// Accepts exactly 32 bytes (the console's 32-character string).
    ///
    /// Errors with SDK code 1004 and the received length (never the bytes).
    pub fn new(bytes: &[u8]) -> Result<Self, TokenError> {
        let key: &[u8; 32] = bytes.try_into().map_err(|_| {
            TokenError::new(
                SdkCode::SiteKey,
                format!(
                    "Token err : The siteKey must be exactly 32 bytes (got {})",
                    bytes.len()
                ),
            )
        })?;
        Ok(Self {
            cipher: Aes256::new(key.into()),
        })
    }

    /// AES-256-CBC/PKCS#7 with the fixed IV, then standard base64.
    pub fn encrypt_b64(&self, plaintext: &[u8]) -> String {
        let enc = cbc::Encryptor::<Aes256>::inner_iv_init(self.cipher.clone(), FIXED_IV.into());
        let ct = enc.encrypt_padded_vec_mut::<Pkcs7>(plaintext);
        B64.encode(ct)
    }

    /// Reverses [`SiteKey::encrypt_b64`]; `None` on bad base64, length or padding.
    ///
    /// Whitespace and line breaks inside the base64 text are ignored, as MIME
    /// encoders insert them.
    pub fn decrypt_b64(&self, b64: &str) -> Option<Zeroizing<Vec<u8>>> {
        let mut buf = Zeroizing::new(decode_b64_lenient(b64)?);
        if buf.is_empty() || buf.len() % 16 != 0 {
            return None;
        }
        let dec = cbc::Decryptor::<Aes256>::inner_iv_init(self.cipher.clone(), FIXED_IV.into());
        let n = dec.decrypt_padded_mut::<Pkcs7>(&mut buf).ok()?.len();
        buf.truncate(n);
        Some(buf)
    }
}

impl fmt::Debug for SiteKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SiteKey(***)")
    }
}

/// An access key: 32 bytes mixed into every token hash.
///
/// Its `Debug` output is `AccessKey(***)`; the bytes are zeroized on drop.
#[derive(Clone)]
pub struct AccessKey(Zeroizing<[u8; 32]>);

impl AccessKey {
    /// Accepts exactly 32 bytes; errors with SDK code 1003 otherwise.
    pub fn new(bytes: &[u8]) -> Result<Self, TokenError> {
        let key: [u8; 32] = bytes.try_into().map_err(|_| {
            TokenError::new(
                SdkCode::AccessKey,
                format!(
                    "Token err : The accessKey must be exactly 32 bytes (got {})",
                    bytes.len()
                ),
            )
        })?;
        Ok(Self(Zeroizing::new(key)))
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessKey(***)")
    }
}

/// `base64(SHA-256(access_key ‖ drm_type ‖ site_id ‖ user_id ‖ cid ‖ policy ‖ timestamp))`.
///
/// The parts are concatenated without separators, as received (pallycon.md §1.2).
pub fn token_hash(
    access_key: &AccessKey,
    drm_type: &str,
    site_id: &str,
    user_id: &str,
    cid: &str,
    policy_b64: &str,
    timestamp: &str,
) -> String {
    B64.encode(token_digest(
        access_key, drm_type, site_id, user_id, cid, policy_b64, timestamp,
    ))
}

pub(crate) fn token_digest(
    access_key: &AccessKey,
    drm_type: &str,
    site_id: &str,
    user_id: &str,
    cid: &str,
    policy_b64: &str,
    timestamp: &str,
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(access_key.bytes());
    for part in [drm_type, site_id, user_id, cid, policy_b64, timestamp] {
        h.update(part.as_bytes());
    }
    h.finalize().into()
}

/// Standard base64 that tolerates ASCII whitespace (MIME line breaks), spaces
/// standing for `+` (an unencoded `+` in a URL query), and missing padding.
pub(crate) fn decode_b64_lenient(s: &str) -> Option<Vec<u8>> {
    // Well-formed input (the common case) decodes on the first try.
    if let Some(v) = decode_b64_strict(s.as_bytes()) {
        return Some(v);
    }
    // A `+` sent unencoded in a URL query arrives as a space (even at either
    // end), so spaces map back to `+`; line breaks and tabs are dropped.
    let cleaned: String = s
        .trim_matches(|c: char| matches!(c, '\r' | '\n' | '\t'))
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('+'),
            '\r' | '\n' | '\t' => None,
            c => Some(c),
        })
        .collect();
    let unpadded = cleaned.trim_end_matches('=');
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(unpadded)
        .ok()
}

const INVALID: u8 = 0xff;

const DECODE: [u8; 256] = {
    let mut t = [INVALID; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut i = 0;
    while i < 64 {
        t[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    t
};

/// Standard padded base64, table-driven: tokens are decoded on every licence
/// request and this is several times cheaper than the general engine.
/// Non-zero trailing bits are tolerated (the hash covers the text, not the bytes).
fn decode_b64_strict(s: &[u8]) -> Option<Vec<u8>> {
    if s.is_empty() || !s.len().is_multiple_of(4) {
        return if s.is_empty() { Some(Vec::new()) } else { None };
    }
    let pad = s.iter().rev().take(2).take_while(|&&c| c == b'=').count();
    let body = &s[..s.len() - pad];
    let full = body.len() / 4;
    let rest = &body[full * 4..];
    let tail_len = match rest.len() {
        0 => 0,
        2 => 1,
        3 => 2,
        _ => return None,
    };
    let mut out = vec![0u8; full * 3 + tail_len];
    let (head, tail) = out.split_at_mut(full * 3);
    let mut bad = 0u8;
    for (c, o) in body.chunks_exact(4).zip(head.chunks_exact_mut(3)) {
        let (a, b, cc, d) = (
            DECODE[usize::from(c[0])],
            DECODE[usize::from(c[1])],
            DECODE[usize::from(c[2])],
            DECODE[usize::from(c[3])],
        );
        bad |= a | b | cc | d;
        let n = (u32::from(a) << 18) | (u32::from(b) << 12) | (u32::from(cc) << 6) | u32::from(d);
        o[0] = (n >> 16) as u8;
        o[1] = (n >> 8) as u8;
        o[2] = n as u8;
    }
    if bad & 0xc0 != 0 {
        return None;
    }
    if !rest.is_empty() {
        let mut n = 0u32;
        for (i, &ch) in rest.iter().enumerate() {
            let v = DECODE[usize::from(ch)];
            if v & 0xc0 != 0 {
                return None;
            }
            n |= u32::from(v) << (18 - 6 * i);
        }
        tail[0] = (n >> 16) as u8;
        if tail_len == 2 {
            tail[1] = (n >> 8) as u8;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_ciphertext_and_hash() {
        let sk = SiteKey::new(b"lU5D8s3PWoLls3PWFWkClULlFWk5D8oC").unwrap();
        let ak = AccessKey::new(b"LT2FVJDp2Xr018zf4Di6lzvNOv3DKP20").unwrap();
        let ct = sk.encrypt_b64(br#"{"policy_version":2,"playback_policy":{"persistent":false}}"#);
        assert_eq!(
            ct,
            "sX7DEMZ1S2xaMoIt76m+yDwylZRVJ2Gzs2I1b0+mzL0X9FcJ43aAloqI5noG2iyC57AagPl2jY9mxCL/WqNabQ=="
        );
        let h = token_hash(
            &ak,
            "Widevine",
            "TUTO",
            "test-user",
            "bigbuckbunny",
            &ct,
            "2021-11-11T07:28:41Z",
        );
        assert_eq!(h, "o6dD1qJbdrQvU86JUxZiKf8WBo0BH6oc+kN8CVNk2rM=");
        let pt = sk.decrypt_b64(&ct).unwrap();
        assert_eq!(
            &pt[..],
            br#"{"policy_version":2,"playback_policy":{"persistent":false}}"#
        );
    }

    #[test]
    fn key_lengths_and_debug() {
        let e = SiteKey::new(b"short").unwrap_err();
        assert_eq!(e.code().as_u16(), 1004);
        assert!(!e.message().contains("short"));
        assert_eq!(AccessKey::new(&[0; 33]).unwrap_err().code().as_u16(), 1003);
        let sk = SiteKey::new(b"lU5D8s3PWoLls3PWFWkClULlFWk5D8oC").unwrap();
        assert_eq!(format!("{sk:?}"), "SiteKey(***)");
        let ak = AccessKey::new(b"LT2FVJDp2Xr018zf4Di6lzvNOv3DKP20").unwrap();
        assert_eq!(format!("{ak:?}"), "AccessKey(***)");
    }

    #[test]
    fn table_decoder_agrees_with_the_engine() {
        for len in 0..70usize {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let enc = B64.encode(&data);
            assert_eq!(decode_b64_strict(enc.as_bytes()).unwrap(), data, "{len}");
        }
        for bad in [
            "A", "AB", "ABC", "A===", "AB=C", "AB\nC", "AB-_", "====", "ABC=ABCD",
        ] {
            assert!(decode_b64_strict(bad.as_bytes()).is_none(), "{bad}");
        }
    }

    #[test]
    fn lenient_base64() {
        assert_eq!(decode_b64_lenient("aGVs\r\nbG8=").unwrap(), b"hello");
        assert_eq!(decode_b64_lenient("aGVsbG8").unwrap(), b"hello");
        assert_eq!(decode_b64_lenient("\n+/8=\n").unwrap(), vec![0xfb, 0xff]);
        assert_eq!(
            decode_b64_lenient(" /8=").unwrap(),
            vec![0xfb, 0xff],
            "leading + as a space"
        );
        assert_eq!(
            decode_b64_lenient("a b8=").unwrap(),
            decode_b64_lenient("a+b8=").unwrap()
        );
        assert!(decode_b64_lenient("!!!").is_none());
        let sk = SiteKey::new(&[7; 32]).unwrap();
        assert!(sk.decrypt_b64("AAAA").is_none());
        assert!(sk.decrypt_b64("").is_none());
        assert!(
            sk.decrypt_b64(&B64.encode([0u8; 16])).is_none(),
            "bad padding"
        );
    }
}
