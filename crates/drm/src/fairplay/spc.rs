//! Opening an SPC: the tenant's private key unwraps the SPC key, the payload
//! decrypts to TLLVs, and the DASk (from Apple's D function, outside this
//! crate) opens SK‖HU‖R1 and proves the SPC intact.
//!
//! Two steps, because the DASk needs R2 from the payload and the D function
//! is I/O for the server (a co-process): [`OpenedSpc::open`] (private key)
//! then [`OpenedSpc::unlock`] (DASk) → [`SpcSession`], from which
//! [`crate::fairplay::ckc`] builds the CKC.

use aes::cipher::{BlockDecrypt as _, KeyInit as _};
use aes::Aes128;
use zeroize::Zeroizing;

use super::credential::SpcKey;
use super::envelope::Spc;
use super::tllv::{self, tag, Tllv};
use crate::error::DrmError;

/// Length of R1 (inside the SK..R1 block and in the CKC).
pub const R1_LEN: usize = 44;
/// Length of R2, the D function's input.
pub const R2_LEN: usize = 21;
/// Longest asset id accepted (bytes).
pub const MAX_ASSET_ID: usize = 200;
/// Shortest asset id accepted (bytes).
pub const MIN_ASSET_ID: usize = 2;
/// Most tags one return request may list.
pub const MAX_RETURN_TAGS: usize = 64;

fn bad(reason: &'static str) -> DrmError {
    DrmError::FairPlayBadSpc { reason }
}

/// AES-128-CBC decryption without padding, in place.
pub(crate) fn cbc_decrypt(key: &[u8; 16], iv: &[u8; 16], data: &mut [u8]) -> Result<(), DrmError> {
    if !data.len().is_multiple_of(16) {
        return Err(bad("encrypted data is not a multiple of 16 bytes"));
    }
    let cipher = Aes128::new(key.into());
    let mut prev = *iv;
    for block in data.chunks_exact_mut(16) {
        let mut ct = [0u8; 16];
        ct.copy_from_slice(block);
        cipher.decrypt_block(block.into());
        for (b, p) in block.iter_mut().zip(prev) {
            *b ^= p;
        }
        prev = ct;
    }
    Ok(())
}

/// An owned TLLV of the SPC (kept for echo).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpcTllv {
    /// The tag.
    pub tag: u64,
    /// The value, without padding.
    pub value: Vec<u8>,
}

/// The media playback state the client reported (its presence means the
/// client understands content-key durations).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlaybackState {
    /// Creation date, unix seconds (client clock).
    pub date: u32,
    /// Playback state code.
    pub state: u32,
    /// Playback session id.
    pub session_id: u64,
}

/// An SPC whose payload is decrypted (private key), not yet unlocked (DASk).
#[derive(Clone)]
pub struct OpenedSpc {
    /// The SPC format version.
    pub version: u32,
    /// SHA-1 of the certificate the SPC was made for.
    pub cert_hash: [u8; 20],
    tllvs: Vec<SpcTllv>,
}

impl std::fmt::Debug for OpenedSpc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedSpc")
            .field("version", &self.version)
            .field("cert_hash", &hex::encode(self.cert_hash))
            .field("tllvs", &self.tllvs.len())
            .finish_non_exhaustive()
    }
}

fn single(tllvs: &[SpcTllv], t: u64) -> Result<Option<&[u8]>, DrmError> {
    let mut it = tllvs.iter().filter(|x| x.tag == t);
    let first = it.next();
    if it.next().is_some() {
        return Err(bad("a TLLV appears twice"));
    }
    Ok(first.map(|x| x.value.as_slice()))
}

fn required<'a>(
    tllvs: &'a [SpcTllv],
    t: u64,
    len: usize,
    what: &'static str,
) -> Result<&'a [u8], DrmError> {
    match single(tllvs, t)? {
        Some(v) if v.len() == len => Ok(v),
        Some(_) => Err(bad(what)),
        None => Err(bad(what)),
    }
}

impl OpenedSpc {
    /// Unwraps the SPC key with the tenant's private key and decrypts the
    /// payload into its TLLVs.
    ///
    /// # Errors
    /// 7318 for an SPC version other than 1; 7316 when the private key does
    /// not open the SPC key; 7317 when the payload is not well-formed TLLVs,
    /// a singular TLLV appears twice, or a required one (SK..R1, R1
    /// integrity, anti-replay seed, R2) is missing or of the wrong size; 7308
    /// when the asset id is missing or not 2–200 bytes.
    pub fn open(spc: &Spc<'_>, key: &SpcKey) -> Result<Self, DrmError> {
        if spc.header.version != 1 {
            return Err(DrmError::FairPlayUnsupportedVersion {
                version: spc.header.version,
            });
        }
        if spc.wrapped_key.len() != key.size() {
            return Err(DrmError::FairPlaySpcKeyUnwrap);
        }
        let spc_key = key.unwrap(spc.wrapped_key)?;
        let mut payload = Zeroizing::new(spc.payload.to_vec());
        cbc_decrypt(&spc_key, &spc.header.iv, &mut payload)?;
        let tllvs: Vec<SpcTllv> = tllv::parse(&payload)?
            .into_iter()
            .map(|Tllv { tag, value }| SpcTllv {
                tag,
                value: value.to_vec(),
            })
            .collect();
        required(
            &tllvs,
            tag::SK_R1,
            16 + 96,
            "SK..R1 TLLV missing or not 112 bytes",
        )?;
        required(
            &tllvs,
            tag::R1_INTEGRITY,
            16,
            "R1 integrity TLLV missing or not 16 bytes",
        )?;
        required(
            &tllvs,
            tag::ANTI_REPLAY_SEED,
            16,
            "anti-replay seed missing or not 16 bytes",
        )?;
        required(&tllvs, tag::R2, R2_LEN, "R2 TLLV missing or not 21 bytes")?;
        match single(&tllvs, tag::ASSET_ID)? {
            None => {
                return Err(DrmError::FairPlayBadAssetId {
                    reason: "the SPC carries no asset id",
                })
            }
            Some(a) if !(MIN_ASSET_ID..=MAX_ASSET_ID).contains(&a.len()) => {
                return Err(DrmError::FairPlayBadAssetId {
                    reason: "the asset id is not 2 to 200 bytes",
                })
            }
            Some(_) => {}
        }
        for t in [
            tag::RETURN_REQUEST,
            tag::TRANSACTION_ID,
            tag::PROTOCOL_VERSION_USED,
            tag::PROTOCOL_VERSIONS_SUPPORTED,
            tag::STREAMING_INDICATOR,
            tag::MEDIA_PLAYBACK_STATE,
        ] {
            single(&tllvs, t)?;
        }
        Ok(Self {
            version: spc.header.version,
            cert_hash: spc.header.cert_hash,
            tllvs,
        })
    }

    /// R2, the input of Apple's D function (`DASk = D(R2, ASk)`).
    pub fn r2(&self) -> &[u8] {
        self.get(tag::R2).unwrap_or_default()
    }

    /// The asset id, as the client sent it (from the `skd://` URI).
    pub fn asset_id(&self) -> &[u8] {
        self.get(tag::ASSET_ID).unwrap_or_default()
    }

    /// The value of a TLLV (the first, if repeated; `open` refuses repeats of
    /// every tag it reads).
    pub fn get(&self, t: u64) -> Option<&[u8]> {
        self.tllvs
            .iter()
            .find(|x| x.tag == t)
            .map(|x| x.value.as_slice())
    }

    /// Every TLLV, in SPC order (unknown tags included).
    pub fn tllvs(&self) -> &[SpcTllv] {
        &self.tllvs
    }

    /// Opens SK‖HU‖R1 with the DASk, checks the integrity value, and reads
    /// everything the CKC needs.
    ///
    /// # Errors
    /// 7319 when the integrity value does not match (wrong ASk or D function,
    /// or an altered SPC); 7317 when the return request is malformed or lists
    /// a tag the SPC lacks or carries twice, or a value has the wrong size.
    pub fn unlock(&self, dask: &[u8; 16]) -> Result<SpcSession, DrmError> {
        let block = self
            .get(tag::SK_R1)
            .ok_or_else(|| bad("SK..R1 TLLV missing"))?;
        let (iv, enc) = block.split_at(16);
        let iv: [u8; 16] = iv.try_into().map_err(|_| bad("SK..R1 TLLV too short"))?;
        let mut plain = Zeroizing::new(enc.to_vec());
        cbc_decrypt(dask, &iv, &mut plain)?;
        let integrity = self
            .get(tag::R1_INTEGRITY)
            .ok_or_else(|| bad("R1 integrity TLLV missing"))?;
        let found = plain
            .get(80..96)
            .ok_or_else(|| bad("SK..R1 TLLV too short"))?;
        if !crate::constant_time_eq(found, integrity) {
            return Err(DrmError::FairPlayIntegrity);
        }
        let mut sk = Zeroizing::new([0u8; 16]);
        sk.copy_from_slice(
            plain
                .get(..16)
                .ok_or_else(|| bad("SK..R1 TLLV too short"))?,
        );
        let hu: [u8; 20] = plain
            .get(16..36)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| bad("SK..R1 TLLV too short"))?;
        let r1: [u8; R1_LEN] = plain
            .get(36..80)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| bad("SK..R1 TLLV too short"))?;
        let anti_replay: [u8; 16] = self
            .get(tag::ANTI_REPLAY_SEED)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| bad("anti-replay seed missing"))?;
        let return_tags = match self.get(tag::RETURN_REQUEST) {
            None => Vec::new(),
            Some(list) => {
                if list.len() % 8 != 0 || list.len() / 8 > MAX_RETURN_TAGS {
                    return Err(bad("return request is not a list of at most 64 tags"));
                }
                let tags: Vec<u64> = list
                    .chunks_exact(8)
                    .map(|c| u64::from_be_bytes(c.try_into().unwrap_or_default()))
                    .collect();
                for (i, t) in tags.iter().enumerate() {
                    if tags.get(..i).is_some_and(|before| before.contains(t)) {
                        return Err(bad("return request lists a tag twice"));
                    }
                    match self.tllvs.iter().filter(|x| x.tag == *t).count() {
                        0 => return Err(bad("return request lists a tag the SPC lacks")),
                        1 => {}
                        _ => return Err(bad("a TLLV the return request lists appears twice")),
                    }
                }
                tags
            }
        };
        let playback_state = match self.get(tag::MEDIA_PLAYBACK_STATE) {
            None => None,
            Some(v) if v.len() == 16 => {
                let u32_at = |a: usize| u32::from_be_bytes([v[a], v[a + 1], v[a + 2], v[a + 3]]);
                let mut id = [0u8; 8];
                id.copy_from_slice(&v[8..16]);
                Some(PlaybackState {
                    date: u32_at(0),
                    state: u32_at(4),
                    session_id: u64::from_be_bytes(id),
                })
            }
            Some(_) => return Err(bad("media playback state is not 16 bytes")),
        };
        let streaming_indicator = match self.get(tag::STREAMING_INDICATOR) {
            None => None,
            Some(v) => Some(u64::from_be_bytes(
                v.try_into()
                    .map_err(|_| bad("streaming indicator is not 8 bytes"))?,
            )),
        };
        let protocol_version_used = match self.get(tag::PROTOCOL_VERSION_USED) {
            None => None,
            Some(v) => Some(u32::from_be_bytes(
                v.try_into()
                    .map_err(|_| bad("protocol version used is not 4 bytes"))?,
            )),
        };
        let protocol_versions_supported = match self.get(tag::PROTOCOL_VERSIONS_SUPPORTED) {
            None => Vec::new(),
            Some(v) if v.len() % 4 == 0 && v.len() <= 64 => v
                .chunks_exact(4)
                .map(|c| u32::from_be_bytes(c.try_into().unwrap_or_default()))
                .collect(),
            Some(_) => return Err(bad("supported protocol versions are not a list of u32")),
        };
        let echoes = return_tags
            .iter()
            .filter_map(|t| self.tllvs.iter().find(|x| x.tag == *t).cloned())
            .collect();
        Ok(SpcSession {
            sk,
            hu,
            r1,
            anti_replay,
            asset_id: self.asset_id().to_vec(),
            transaction_id: self.get(tag::TRANSACTION_ID).map(<[u8]>::to_vec),
            return_tags,
            echoes,
            playback_state,
            streaming_indicator,
            protocol_version_used,
            protocol_versions_supported,
        })
    }
}

/// An unlocked SPC: everything the CKC needs.
#[derive(Clone)]
pub struct SpcSession {
    /// The session key the content key is encrypted under.
    pub(crate) sk: Zeroizing<[u8; 16]>,
    /// The hashed device id (HU).
    pub hu: [u8; 20],
    /// R1, returned in the CKC and the seed of the CKC key.
    pub r1: [u8; R1_LEN],
    /// The anti-replay seed.
    pub anti_replay: [u8; 16],
    /// The asset id.
    pub asset_id: Vec<u8>,
    /// The transaction id, if sent.
    pub transaction_id: Option<Vec<u8>>,
    /// The tags the CKC must echo, in the SPC's order.
    pub return_tags: Vec<u64>,
    /// The TLLVs to echo, byte for byte, in return-request order.
    pub echoes: Vec<SpcTllv>,
    /// The media playback state, if sent.
    pub playback_state: Option<PlaybackState>,
    /// The streaming indicator, if sent.
    pub streaming_indicator: Option<u64>,
    /// The protocol version used, if sent.
    pub protocol_version_used: Option<u32>,
    /// The protocol versions supported, if sent.
    pub protocol_versions_supported: Vec<u32>,
}

impl std::fmt::Debug for SpcSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpcSession")
            .field("asset_id", &String::from_utf8_lossy(&self.asset_id))
            .field("return_tags", &self.return_tags.len())
            .field("playback_state", &self.playback_state)
            .field("streaming_indicator", &self.streaming_indicator)
            .finish_non_exhaustive()
    }
}
