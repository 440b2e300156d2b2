//! Building (and reading back) a CKC for an unlocked SPC.
//!
//! CKC container (big-endian): u32 version 1, 4 reserved, 16-byte IV, u32
//! payload length, payload. The payload is AES-128-CBC under the CKC key
//! `AES-128-ECB(SHA-1(R1)[0..16], anti-replay seed)`, and holds TLLVs: the
//! encrypted content key (content IV ‖ AES-128-ECB(SK, content key)), R1, an
//! echo of every tag the SPC's return request lists (byte for byte), and —
//! only when the SPC carried a media playback state — the content-key
//! duration. Every block is padded with random bytes.
//!
//! Not emitted: HDCP enforcement (its values are documented only in Apple's
//! proprietary SDK), persistence and dual-expiry key types (same reason).

use aes::cipher::{BlockDecrypt as _, BlockEncrypt as _, KeyInit as _};
use aes::Aes128;
use sha1::{Digest as _, Sha1};
use zeroize::Zeroizing;

use super::spc::{cbc_decrypt, SpcSession, SpcTllv, R1_LEN};
use super::tllv::{self, tag};
use crate::error::DrmError;

/// The CKC format version keyward writes.
pub const CKC_VERSION: u32 = 1;

/// Bytes before the CKC payload.
pub const CKC_HEADER_LEN: usize = 28;

/// Key type of a lease (streaming) content key.
pub const KEY_TYPE_LEASE: u32 = 0x1a4b_de7e;
/// Key type of a rental (offline) content key.
pub const KEY_TYPE_RENTAL: u32 = 0x3dfe_45a0;
/// The reserved word of the duration TLLV.
pub const DURATION_RESERVED: u32 = 0x86d3_4a3a;

/// How long the content key lives on the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyDuration {
    /// A lease: valid `seconds` from issuance, renewed while streaming.
    Lease {
        /// Lease length, seconds.
        seconds: u32,
    },
    /// A rental: a stored key valid `seconds` from issuance.
    Rental {
        /// Rental length, seconds.
        seconds: u32,
    },
}

impl KeyDuration {
    /// (lease seconds, rental seconds, key type) as the TLLV carries them.
    pub fn fields(self) -> (u32, u32, u32) {
        match self {
            KeyDuration::Lease { seconds } => (seconds, 0, KEY_TYPE_LEASE),
            KeyDuration::Rental { seconds } => (0, seconds, KEY_TYPE_RENTAL),
        }
    }
}

/// What the CKC releases.
#[derive(Clone, Debug)]
pub struct CkcContent<'a> {
    /// The content key.
    pub key: &'a [u8; 16],
    /// The content IV sent with it.
    pub iv: [u8; 16],
    /// The key's lifetime, if limited. Written only when the SPC carried a
    /// media playback state (older clients do not understand it).
    pub duration: Option<KeyDuration>,
}

fn build_err(reason: &'static str) -> DrmError {
    DrmError::FairPlayCkcBuild { reason }
}

fn ecb_encrypt(key: &[u8; 16], block: &[u8; 16]) -> [u8; 16] {
    let mut b = *block;
    Aes128::new(key.into()).encrypt_block((&mut b).into());
    b
}

fn ecb_decrypt(key: &[u8; 16], block: &[u8; 16]) -> [u8; 16] {
    let mut b = *block;
    Aes128::new(key.into()).decrypt_block((&mut b).into());
    b
}

/// The key the CKC payload is encrypted under.
fn ckc_key(r1: &[u8; R1_LEN], anti_replay: &[u8; 16]) -> Zeroizing<[u8; 16]> {
    let digest = Sha1::digest(r1);
    let mut k = Zeroizing::new([0u8; 16]);
    k.copy_from_slice(&digest[..16]);
    Zeroizing::new(ecb_encrypt(&k, anti_replay))
}

fn cbc_encrypt(key: &[u8; 16], iv: &[u8; 16], data: &mut [u8]) {
    let cipher = Aes128::new(key.into());
    let mut prev = *iv;
    for block in data.chunks_exact_mut(16) {
        for (b, p) in block.iter_mut().zip(prev) {
            *b ^= p;
        }
        cipher.encrypt_block(block.into());
        prev.copy_from_slice(block);
    }
}

impl SpcSession {
    /// The CKC for this SPC. `fill` supplies random bytes (IV, padding).
    ///
    /// # Errors
    /// Whatever `fill` returns; 7304 when the CKC cannot be built.
    pub fn build_ckc(
        &self,
        content: &CkcContent<'_>,
        fill: &mut dyn FnMut(&mut [u8]) -> Result<(), DrmError>,
    ) -> Result<Vec<u8>, DrmError> {
        let mut payload = Zeroizing::new(Vec::with_capacity(512));
        let mut ck_value = [0u8; 32];
        ck_value[..16].copy_from_slice(&content.iv);
        ck_value[16..].copy_from_slice(&ecb_encrypt(&self.sk, content.key));
        tllv::write(&mut payload, tag::ENCRYPTED_CK, &ck_value, fill)?;
        tllv::write(&mut payload, tag::R1, &self.r1, fill)?;
        for SpcTllv { tag, value } in &self.echoes {
            tllv::write(&mut payload, *tag, value, fill)?;
        }
        if let (Some(d), Some(_)) = (content.duration, self.playback_state) {
            let (lease, rental, kind) = d.fields();
            let mut v = [0u8; 16];
            v[..4].copy_from_slice(&lease.to_be_bytes());
            v[4..8].copy_from_slice(&rental.to_be_bytes());
            v[8..12].copy_from_slice(&kind.to_be_bytes());
            v[12..].copy_from_slice(&DURATION_RESERVED.to_be_bytes());
            tllv::write(&mut payload, tag::CK_DURATION, &v, fill)?;
        }
        let mut iv = [0u8; 16];
        fill(&mut iv)?;
        let key = ckc_key(&self.r1, &self.anti_replay);
        cbc_encrypt(&key, &iv, &mut payload);
        let len = u32::try_from(payload.len()).map_err(|_| build_err("CKC too large"))?;
        let mut out = Vec::with_capacity(CKC_HEADER_LEN + payload.len());
        out.extend_from_slice(&CKC_VERSION.to_be_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&iv);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&payload);
        Ok(out)
    }

    /// Reads a CKC made for this SPC (keyward's or another KSM's): the
    /// content key and IV, R1, the other TLLVs and the duration.
    ///
    /// # Errors
    /// 7304 when the CKC is not a well-formed version-1 CKC for this SPC.
    pub fn read_ckc(&self, ckc: &[u8]) -> Result<CkcContents, DrmError> {
        let bad = |reason| DrmError::FairPlayCkcBuild { reason };
        let head = ckc
            .get(..CKC_HEADER_LEN)
            .ok_or_else(|| bad("CKC shorter than its header"))?;
        let word = |a: usize| u32::from_be_bytes([head[a], head[a + 1], head[a + 2], head[a + 3]]);
        if word(0) != CKC_VERSION {
            return Err(bad("CKC version is not 1"));
        }
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&head[8..24]);
        let len = word(24) as usize;
        let body = &ckc[CKC_HEADER_LEN..];
        if body.len() != len {
            return Err(bad("CKC payload length disagrees with its size"));
        }
        let mut payload = Zeroizing::new(body.to_vec());
        cbc_decrypt(&ckc_key(&self.r1, &self.anti_replay), &iv, &mut payload)
            .map_err(|_| bad("CKC payload is not a multiple of 16 bytes"))?;
        let tllvs = tllv::parse(&payload).map_err(|_| bad("CKC payload is not TLLVs"))?;
        let mut out = CkcContents {
            content_key: Zeroizing::new([0; 16]),
            content_iv: [0; 16],
            r1: Vec::new(),
            duration: None,
            others: Vec::new(),
        };
        let mut seen_key = false;
        for t in tllvs {
            match t.tag {
                tag::ENCRYPTED_CK => {
                    if t.value.len() != 32 || seen_key {
                        return Err(bad(
                            "encrypted content key TLLV is not 32 bytes, or repeated",
                        ));
                    }
                    seen_key = true;
                    out.content_iv.copy_from_slice(&t.value[..16]);
                    let mut enc = [0u8; 16];
                    enc.copy_from_slice(&t.value[16..]);
                    *out.content_key = ecb_decrypt(&self.sk, &enc);
                }
                tag::R1 => out.r1 = t.value.to_vec(),
                tag::CK_DURATION => {
                    if t.value.len() < 12 {
                        return Err(bad("duration TLLV shorter than 12 bytes"));
                    }
                    let w = |a: usize| {
                        u32::from_be_bytes([
                            t.value[a],
                            t.value[a + 1],
                            t.value[a + 2],
                            t.value[a + 3],
                        ])
                    };
                    out.duration = Some((w(0), w(4), w(8)));
                }
                other => out.others.push(SpcTllv {
                    tag: other,
                    value: t.value.to_vec(),
                }),
            }
        }
        if !seen_key {
            return Err(bad("CKC carries no content key"));
        }
        Ok(out)
    }
}

/// A CKC read back.
#[derive(Clone, Debug)]
pub struct CkcContents {
    /// The content key.
    pub content_key: Zeroizing<[u8; 16]>,
    /// The content IV.
    pub content_iv: [u8; 16],
    /// The R1 TLLV's value.
    pub r1: Vec<u8>,
    /// (lease seconds, rental seconds, key type), if present.
    pub duration: Option<(u32, u32, u32)>,
    /// Every other TLLV (the echoes), in order.
    pub others: Vec<SpcTllv>,
}
