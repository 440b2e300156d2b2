//! Independent FairPlay Streaming test oracle: opens an SPC and reads a CKC.
//!
//! Written from the public protocol description (the project's protocol notes, §4 FairPlay
//! Streaming; the MIT Go KSM easonlin404/ksm was read to confirm the derivations, none of its
//! code is used), without looking at keyward's own FairPlay code, so that the two can check
//! each other. Include it from a test file with
//! `mod fps_oracle;`. Every length is checked; malformed input gives `Err`, never a panic.
//!
//! Layouts (all integers big-endian):
//! * SPC: u32 version (1), 4 reserved, 16 IV, 128 RSA-OAEP(SHA-1) wrapped SPC key, 20 SHA-1 of
//!   the FPS certificate (DER), u32 payload length, payload = AES-128-CBC(SPC key, IV) of TLLVs.
//! * CKC: u32 version (1), 4 reserved, 16 IV, u32 payload length, payload =
//!   AES-128-CBC(AES-128-ECB(SHA-1(R1)[0..16], anti-replay seed), IV) of TLLVs.
//! * TLLV: u64 tag, u32 block length, u32 value length, value, padding up to block length.

#![allow(dead_code)] // each test file uses its own subset

use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use aes::{Aes128, Block};
use oracle_rsa::pkcs1::DecodeRsaPrivateKey;
use oracle_rsa::pkcs8::DecodePrivateKey;
use oracle_rsa::{Oaep, RsaPrivateKey};
use oracle_sha1::{Digest, Sha1};

/// SPC: `[SK..R1]`, a 16-byte IV then SK‖HU‖R1‖integrity encrypted under DASk.
pub const TAG_SK_R1: u64 = 0x3d1a10b8bffac2ec;
/// SPC: the 16 bytes the integrity field of `[SK..R1]` must equal.
pub const TAG_R1_INTEGRITY: u64 = 0xb349d4809e910687;
/// SPC: anti-replay seed (16 bytes), the plaintext of the CKC payload key.
pub const TAG_ANTI_REPLAY_SEED: u64 = 0x89c90f12204106b2;
/// SPC: R2, the input of Apple's D function (DASk = D(R2, ASk)).
pub const TAG_R2: u64 = 0x71b5595ac1521133;
/// SPC: list of u64 tags the CKC must echo.
pub const TAG_RETURN_REQUEST: u64 = 0x19f9d4e5ab7609cb;
/// SPC: asset ID (2..=200 bytes).
pub const TAG_ASSET_ID: u64 = 0x1bf7f53f5d5d5a1f;
/// SPC: transaction ID.
pub const TAG_TRANSACTION_ID: u64 = 0x47aa7ad3440577de;
/// SPC: protocol versions supported (list of u32).
pub const TAG_PROTOCOL_VERSIONS_SUPPORTED: u64 = 0x67b8fb79ecce1a13;
/// SPC: protocol version used (u32).
pub const TAG_PROTOCOL_VERSION_USED: u64 = 0x5d81bcbcc7f61703;
/// SPC: streaming indicator.
pub const TAG_STREAMING_INDICATOR: u64 = 0xabb0256a31843974;
/// SPC: media playback state (u32 date, u32 state, u64 session id).
pub const TAG_MEDIA_PLAYBACK_STATE: u64 = 0xeb8efdf2b25ab3a0;
/// CKC: content IV (16) ‖ AES-128-ECB(SK, content key) (16).
pub const TAG_ENCRYPTED_CK: u64 = 0x58b38165af0e3d5a;
/// CKC: R1 (44 bytes), always sent by the server.
pub const TAG_R1: u64 = 0xea74c4645d5efee9;
/// CKC: u32 lease seconds, u32 rental seconds, u32 key type, u32 reserved `0x86d34a3a`.
pub const TAG_CONTENT_KEY_DURATION: u64 = 0x47acf6a418cd091a;
/// The fixed reserved word closing the content-key-duration value.
pub const DURATION_RESERVED: u32 = 0x86d34a3a;

/// A decrypted SPC.
#[derive(Debug, Clone)]
pub struct OracleSpc {
    /// Bytes 152..172: SHA-1 of the FPS certificate (DER) the SPC key was wrapped to.
    pub cert_hash: [u8; 20],
    /// Every TLLV of the payload, in order: (tag, value bytes without padding).
    pub tllvs: Vec<(u64, Vec<u8>)>,
    /// Session key.
    pub sk: [u8; 16],
    /// Hashed device identifier.
    pub hu: [u8; 20],
    /// R1, returned in the CKC and hashed into its payload key.
    pub r1: [u8; 44],
    /// Anti-replay seed.
    pub anti_replay: [u8; 16],
    /// Asset ID.
    pub asset_id: Vec<u8>,
    /// Tags listed in the return-request TLLV, in order (empty without that TLLV).
    pub return_tags: Vec<u64>,
    /// Whether the SPC carries a media-playback-state TLLV.
    pub has_playback_state: bool,
}

impl OracleSpc {
    /// The value of the TLLV with this tag (tags are unique in an opened SPC).
    pub fn value(&self, tag: u64) -> Option<&[u8]> {
        find_unique(&self.tllvs, tag).ok().flatten()
    }
}

/// A decrypted CKC.
#[derive(Debug, Clone)]
pub struct OracleCkc {
    /// Bytes 8..24: IV of the payload encryption.
    pub iv: [u8; 16],
    /// Every TLLV of the payload, in order: (tag, value bytes without padding).
    pub tllvs: Vec<(u64, Vec<u8>)>,
    /// Content key, decrypted with the SPC's session key.
    pub content_key: [u8; 16],
    /// Content IV sent with it.
    pub content_iv: [u8; 16],
    /// Value of the R1 TLLV.
    pub r1: Vec<u8>,
    /// (lease seconds, rental seconds, key type) of the content-key-duration TLLV, if any.
    pub duration: Option<(u32, u32, u32)>,
}

/// Decrypts an SPC (version 1) with the FPS private key (PKCS#1 or PKCS#8 PEM) and DASk,
/// and checks the `[SK..R1]` integrity field against the R1-integrity TLLV.
pub fn open_spc(spc: &[u8], private_key_pem: &str, dask: [u8; 16]) -> Result<OracleSpc, String> {
    if spc.len() < 176 {
        return Err(format!(
            "SPC of {} bytes is shorter than its 176-byte header",
            spc.len()
        ));
    }
    let version = be_u32(&spc[0..4]);
    if version != 1 {
        return Err(format!("SPC version {version}, only 1 is understood"));
    }
    let iv: [u8; 16] = arr(&spc[8..24])?;
    let wrapped_key = &spc[24..152];
    let cert_hash: [u8; 20] = arr(&spc[152..172])?;
    let payload_len = be_u32(&spc[172..176]) as usize;
    let payload = &spc[176..];
    if payload.len() != payload_len {
        return Err(format!(
            "SPC payload length field {payload_len}, but {} bytes follow the header",
            payload.len()
        ));
    }

    let key = RsaPrivateKey::from_pkcs1_pem(private_key_pem)
        .or_else(|_| RsaPrivateKey::from_pkcs8_pem(private_key_pem))
        .map_err(|e| format!("private key PEM: {e}"))?;
    let spc_key = key
        .decrypt(Oaep::new::<Sha1>(), wrapped_key)
        .map_err(|e| format!("RSA-OAEP(SHA-1) unwrap of the SPC key: {e}"))?;
    let spc_key: [u8; 16] = arr(&spc_key).map_err(|e| format!("SPC key: {e}"))?;

    let plain = cbc_decrypt(&spc_key, &iv, payload).map_err(|e| format!("SPC payload: {e}"))?;
    let tllvs = walk_tllvs(&plain).map_err(|e| format!("SPC payload: {e}"))?;
    for (i, (tag, _)) in tllvs.iter().enumerate() {
        if tllvs[..i].iter().any(|(t, _)| t == tag) {
            return Err(format!("SPC carries tag {tag:016x} twice"));
        }
    }
    let get = |tag: u64, what: &str| -> Result<&[u8], String> {
        find_unique(&tllvs, tag)?.ok_or_else(|| format!("SPC has no {what} TLLV ({tag:016x})"))
    };

    let sk_r1 = get(TAG_SK_R1, "[SK..R1]")?;
    if sk_r1.len() != 112 {
        return Err(format!(
            "[SK..R1] value is {} bytes, expected 16 + 96",
            sk_r1.len()
        ));
    }
    let sk_r1_iv: [u8; 16] = arr(&sk_r1[..16])?;
    let block = cbc_decrypt(&dask, &sk_r1_iv, &sk_r1[16..])?;
    let integrity = get(TAG_R1_INTEGRITY, "R1 integrity")?;
    if integrity.len() != 16 {
        return Err(format!(
            "R1 integrity value is {} bytes, expected 16",
            integrity.len()
        ));
    }
    if block[80..96] != *integrity {
        return Err(
            "integrity check failed: [SK..R1] integrity field (decrypted with DASk) \
                    differs from the R1-integrity TLLV"
                .into(),
        );
    }

    let anti_replay = get(TAG_ANTI_REPLAY_SEED, "anti-replay seed")?;
    let anti_replay: [u8; 16] = arr(anti_replay).map_err(|e| format!("anti-replay seed: {e}"))?;
    let asset_id = get(TAG_ASSET_ID, "asset ID")?;
    if !(2..=200).contains(&asset_id.len()) {
        return Err(format!(
            "asset ID of {} bytes, expected 2..=200",
            asset_id.len()
        ));
    }

    let mut return_tags = Vec::new();
    if let Some(list) = find_unique(&tllvs, TAG_RETURN_REQUEST)? {
        if !list.len().is_multiple_of(8) {
            return Err(format!(
                "return request of {} bytes is not a list of u64",
                list.len()
            ));
        }
        for chunk in list.chunks_exact(8) {
            let tag = be_u64(chunk);
            if return_tags.contains(&tag) {
                return Err(format!("return request lists {tag:016x} twice"));
            }
            if find_unique(&tllvs, tag)?.is_none() {
                return Err(format!(
                    "return request lists {tag:016x}, absent from the SPC"
                ));
            }
            return_tags.push(tag);
        }
    }

    let has_playback_state = match find_unique(&tllvs, TAG_MEDIA_PLAYBACK_STATE)? {
        Some(v) if v.len() != 16 => {
            return Err(format!(
                "media playback state of {} bytes, expected 16",
                v.len()
            ))
        }
        Some(_) => true,
        None => false,
    };

    Ok(OracleSpc {
        cert_hash,
        sk: arr(&block[0..16])?,
        hu: arr(&block[16..36])?,
        r1: arr(&block[36..80])?,
        anti_replay,
        asset_id: asset_id.to_vec(),
        return_tags,
        has_playback_state,
        tllvs,
    })
}

/// The CKC payload key: AES-128-ECB(key = SHA-1(R1)[0..16], plaintext = anti-replay seed).
pub fn ckc_payload_key(spc: &OracleSpc) -> [u8; 16] {
    let digest = Sha1::digest(spc.r1);
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    let mut block = Block::from(spc.anti_replay);
    Aes128::new(&key.into()).encrypt_block(&mut block);
    block.into()
}

/// Decrypts a CKC (version 1) written for `spc` and reads its content key, R1 and duration.
pub fn read_ckc(ckc: &[u8], spc: &OracleSpc) -> Result<OracleCkc, String> {
    if ckc.len() < 28 {
        return Err(format!(
            "CKC of {} bytes is shorter than its 28-byte header",
            ckc.len()
        ));
    }
    let version = be_u32(&ckc[0..4]);
    if version != 1 {
        return Err(format!("CKC version {version}, expected 1"));
    }
    let iv: [u8; 16] = arr(&ckc[8..24])?;
    let payload_len = be_u32(&ckc[24..28]) as usize;
    let payload = &ckc[28..];
    if payload.len() != payload_len {
        return Err(format!(
            "CKC payload length field {payload_len}, but {} bytes follow the header",
            payload.len()
        ));
    }
    let plain = cbc_decrypt(&ckc_payload_key(spc), &iv, payload)
        .map_err(|e| format!("CKC payload: {e}"))?;
    let tllvs = walk_tllvs(&plain).map_err(|e| format!("CKC payload: {e}"))?;

    let ck =
        find_unique(&tllvs, TAG_ENCRYPTED_CK)?.ok_or("CKC has no encrypted-content-key TLLV")?;
    if ck.len() != 32 {
        return Err(format!(
            "encrypted content key value is {} bytes, expected 32",
            ck.len()
        ));
    }
    let content_iv: [u8; 16] = arr(&ck[..16])?;
    let mut block = Block::clone_from_slice(&ck[16..32]);
    Aes128::new(&spc.sk.into()).decrypt_block(&mut block);

    let r1 = find_unique(&tllvs, TAG_R1)?
        .ok_or("CKC has no R1 TLLV")?
        .to_vec();

    let duration = match find_unique(&tllvs, TAG_CONTENT_KEY_DURATION)? {
        None => None,
        Some(v) if v.len() != 16 => {
            return Err(format!(
                "content-key duration of {} bytes, expected 16",
                v.len()
            ))
        }
        Some(v) => {
            let reserved = be_u32(&v[12..16]);
            if reserved != DURATION_RESERVED {
                return Err(format!("content-key duration reserved word {reserved:08x}"));
            }
            Some((be_u32(&v[0..4]), be_u32(&v[4..8]), be_u32(&v[8..12])))
        }
    };

    Ok(OracleCkc {
        iv,
        content_key: block.into(),
        content_iv,
        r1,
        duration,
        tllvs,
    })
}

/// Every tag the SPC asked back is in the CKC once, byte-identical to the SPC's value, and the
/// CKC's R1 equals the SPC's R1.
pub fn echo_ok(spc: &OracleSpc, ckc: &OracleCkc) -> Result<(), String> {
    for &tag in &spc.return_tags {
        let want = find_unique(&spc.tllvs, tag)?
            .ok_or_else(|| format!("return-request tag {tag:016x} absent from the SPC"))?;
        let got = find_unique(&ckc.tllvs, tag)?
            .ok_or_else(|| format!("CKC does not echo tag {tag:016x}"))?;
        if got != want {
            return Err(format!(
                "CKC echoes tag {tag:016x} as {}, the SPC sent {}",
                hex::encode(got),
                hex::encode(want)
            ));
        }
    }
    if ckc.r1 != spc.r1 {
        return Err(format!(
            "CKC R1 {} differs from the SPC's R1 {}",
            hex::encode(&ckc.r1),
            hex::encode(spc.r1)
        ));
    }
    Ok(())
}

/// Splits a decrypted payload into (tag, value) pairs; the blocks must cover it exactly.
pub fn walk_tllvs(payload: &[u8]) -> Result<Vec<(u64, Vec<u8>)>, String> {
    let mut out = Vec::new();
    let mut rest = payload;
    while !rest.is_empty() {
        let offset = payload.len() - rest.len();
        if rest.len() < 16 {
            return Err(format!("{} stray bytes at offset {offset}", rest.len()));
        }
        let tag = be_u64(&rest[0..8]);
        let block_len = be_u32(&rest[8..12]) as usize;
        let value_len = be_u32(&rest[12..16]) as usize;
        if value_len > block_len {
            return Err(format!(
                "TLLV {tag:016x} at offset {offset}: value length {value_len} > block length {block_len}"
            ));
        }
        if block_len > rest.len() - 16 {
            return Err(format!(
                "TLLV {tag:016x} at offset {offset}: block length {block_len} runs past the payload"
            ));
        }
        out.push((tag, rest[16..16 + value_len].to_vec()));
        rest = &rest[16 + block_len..];
    }
    Ok(out)
}

/// The value of `tag`, `None` when absent, `Err` when it occurs more than once.
fn find_unique(tllvs: &[(u64, Vec<u8>)], tag: u64) -> Result<Option<&[u8]>, String> {
    let mut found = tllvs.iter().filter(|(t, _)| *t == tag);
    let first = found.next().map(|(_, v)| v.as_slice());
    if found.next().is_some() {
        return Err(format!("tag {tag:016x} occurs more than once"));
    }
    Ok(first)
}

/// AES-128-CBC decryption without padding removal.
fn cbc_decrypt(key: &[u8; 16], iv: &[u8; 16], data: &[u8]) -> Result<Vec<u8>, String> {
    if data.is_empty() || !data.len().is_multiple_of(16) {
        return Err(format!(
            "{} bytes of ciphertext is not whole AES blocks",
            data.len()
        ));
    }
    let cipher = Aes128::new(&(*key).into());
    let mut prev = *iv;
    let mut out = Vec::with_capacity(data.len());
    for chunk in data.chunks_exact(16) {
        let mut block = Block::clone_from_slice(chunk);
        cipher.decrypt_block(&mut block);
        out.extend(block.iter().zip(prev).map(|(b, p)| b ^ p));
        prev.copy_from_slice(chunk);
    }
    Ok(out)
}

fn arr<const N: usize>(bytes: &[u8]) -> Result<[u8; N], String> {
    bytes
        .try_into()
        .map_err(|_| format!("{} bytes where {N} were expected", bytes.len()))
}

fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn be_u64(b: &[u8]) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[..8]);
    u64::from_be_bytes(x)
}
