//! TLLV blocks: the unit of both the SPC payload and the CKC payload.
//!
//! A TLLV is `u64 tag ‖ u32 block length ‖ u32 value length ‖ value ‖ padding`,
//! big-endian, where the block (value plus padding) is `block length` bytes and
//! the padding is random. Readers take the value by its value length and skip
//! the rest of the block; they never assume a block size.

use crate::error::DrmError;

/// The tags keyward reads or writes (protocols.md §4.1–4.2a).
pub mod tag {
    /// SPC: IV ‖ SK‖HU‖R1‖integrity encrypted under the DASk.
    pub const SK_R1: u64 = 0x3d1a_10b8_bffa_c2ec;
    /// SPC: the integrity value the SK..R1 block must carry.
    pub const R1_INTEGRITY: u64 = 0xb349_d480_9e91_0687;
    /// SPC: the anti-replay seed (the CKC key is derived from it).
    pub const ANTI_REPLAY_SEED: u64 = 0x89c9_0f12_2041_06b2;
    /// SPC: R2, the input of Apple's D function.
    pub const R2: u64 = 0x71b5_595a_c152_1133;
    /// SPC: the tags the CKC must echo.
    pub const RETURN_REQUEST: u64 = 0x19f9_d4e5_ab76_09cb;
    /// SPC: the asset id (from the `skd://` URI).
    pub const ASSET_ID: u64 = 0x1bf7_f53f_5d5d_5a1f;
    /// SPC: the transaction id.
    pub const TRANSACTION_ID: u64 = 0x47aa_7ad3_4405_77de;
    /// SPC: the protocol versions the client supports.
    pub const PROTOCOL_VERSIONS_SUPPORTED: u64 = 0x67b8_fb79_ecce_1a13;
    /// SPC: the protocol version the client used.
    pub const PROTOCOL_VERSION_USED: u64 = 0x5d81_bcbc_c7f6_1703;
    /// SPC: the streaming indicator (AirPlay / AV adapter / local playback).
    pub const STREAMING_INDICATOR: u64 = 0xabb0_256a_3184_3974;
    /// SPC: the media playback state (date, state, session id); its presence
    /// means the client understands content-key durations.
    pub const MEDIA_PLAYBACK_STATE: u64 = 0xeb8e_fdf2_b25a_b3a0;
    /// CKC: content IV ‖ content key encrypted under SK.
    pub const ENCRYPTED_CK: u64 = 0x58b3_8165_af0e_3d5a;
    /// CKC: R1.
    pub const R1: u64 = 0xea74_c464_5d5e_fee9;
    /// CKC: content-key duration (lease s, rental s, key type, reserved).
    pub const CK_DURATION: u64 = 0x47ac_f6a4_18cd_091a;
}

/// Most TLLVs one payload may hold (Apple's SDK SPCs carry about 20).
pub const MAX_TLLVS: usize = 256;

/// Bytes before a TLLV's value.
pub const HEADER_LEN: usize = 16;

/// One TLLV, borrowing its value from the payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tllv<'a> {
    /// The tag.
    pub tag: u64,
    /// The value (without padding).
    pub value: &'a [u8],
}

fn bad(reason: &'static str) -> DrmError {
    DrmError::FairPlayBadSpc { reason }
}

fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn be_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Splits a decrypted payload into its TLLVs, in order.
///
/// Every length is checked against the bytes present: a value longer than its
/// block, a block running past the payload, or more than [`MAX_TLLVS`] blocks
/// is a bad SPC (7317). Bytes after the last complete TLLV are accepted only
/// if fewer than a TLLV header (trailing cipher padding).
///
/// # Errors
/// 7317 as above.
pub fn parse(payload: &[u8]) -> Result<Vec<Tllv<'_>>, DrmError> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while payload.len().saturating_sub(at) >= HEADER_LEN {
        if out.len() == MAX_TLLVS {
            return Err(bad("more TLLVs than the limit"));
        }
        let tag = be_u64(payload, at).ok_or_else(|| bad("short TLLV header"))?;
        let block = be_u32(payload, at + 8).ok_or_else(|| bad("short TLLV header"))? as usize;
        let value = be_u32(payload, at + 12).ok_or_else(|| bad("short TLLV header"))? as usize;
        if value > block {
            return Err(bad("TLLV value longer than its block"));
        }
        let start = at + HEADER_LEN;
        let end = start
            .checked_add(block)
            .filter(|e| *e <= payload.len())
            .ok_or_else(|| bad("TLLV block runs past the payload"))?;
        let value = payload
            .get(start..start + value)
            .ok_or_else(|| bad("TLLV block runs past the payload"))?;
        out.push(Tllv { tag, value });
        at = end;
    }
    Ok(out)
}

/// Appends one TLLV: the block is the value padded with `fill`'s bytes to the
/// next multiple of 16 (at least one byte of padding is never required).
///
/// # Errors
/// Whatever `fill` returns; 7304 when the value is over 1 MiB.
pub fn write(
    out: &mut Vec<u8>,
    tag: u64,
    value: &[u8],
    fill: &mut dyn FnMut(&mut [u8]) -> Result<(), DrmError>,
) -> Result<(), DrmError> {
    if value.len() > 1 << 20 {
        return Err(DrmError::FairPlayCkcBuild {
            reason: "TLLV value too large",
        });
    }
    let block = value.len().div_ceil(16) * 16;
    let mut pad = vec![0u8; block - value.len()];
    fill(&mut pad)?;
    out.extend_from_slice(&tag.to_be_bytes());
    out.extend_from_slice(&(block as u32).to_be_bytes());
    out.extend_from_slice(&(value.len() as u32).to_be_bytes());
    out.extend_from_slice(value);
    out.extend_from_slice(&pad);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zero(b: &mut [u8]) -> Result<(), DrmError> {
        b.fill(0xee);
        Ok(())
    }

    #[test]
    fn round_trip_and_padding() {
        let mut out = Vec::new();
        write(&mut out, 7, b"abc", &mut zero).unwrap();
        write(&mut out, 8, &[1; 16], &mut zero).unwrap();
        write(&mut out, 9, b"", &mut zero).unwrap();
        assert_eq!(out.len(), 16 + 16 + 16 + 16 + 16);
        assert_eq!(
            &out[..16],
            &[0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 16, 0, 0, 0, 3]
        );
        assert_eq!(&out[19..32], &[0xee; 13]);
        let t = parse(&out).unwrap();
        assert_eq!(
            t,
            vec![
                Tllv {
                    tag: 7,
                    value: b"abc"
                },
                Tllv {
                    tag: 8,
                    value: &[1; 16]
                },
                Tllv { tag: 9, value: b"" }
            ]
        );
    }

    #[test]
    fn refuses_lying_lengths() {
        let mut out = Vec::new();
        write(&mut out, 7, b"abc", &mut zero).unwrap();
        let mut long_value = out.clone();
        long_value[15] = 17;
        assert_eq!(parse(&long_value).unwrap_err().code(), 7317);
        let mut long_block = out.clone();
        long_block[11] = 32;
        assert_eq!(parse(&long_block).unwrap_err().code(), 7317);
        let mut huge = out.clone();
        huge[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(parse(&huge).unwrap_err().code(), 7317);
        // Trailing bytes shorter than a header are padding.
        out.extend_from_slice(&[0; 15]);
        assert_eq!(parse(&out).unwrap().len(), 1);
    }

    #[test]
    fn limits_the_count() {
        let mut out = Vec::new();
        for _ in 0..=MAX_TLLVS {
            write(&mut out, 1, b"", &mut zero).unwrap();
        }
        assert_eq!(parse(&out).unwrap_err().code(), 7317);
    }
}
