//! RFC 3394 AES Key Wrap (default IV `A6A6A6A6A6A6A6A6`), with 128-, 192- and
//! 256-bit KEKs.
//!
//! Used to unwrap an ExpressPlay `ek` under its `kek`; CPIX and the store's KEK
//! are the next users. Intermediate blocks and rejected plaintexts are zeroized.

use aes::cipher::generic_array::GenericArray;
use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use zeroize::Zeroize;

/// Why an RFC 3394 unwrap failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyWrapError {
    /// The KEK is not 16, 24 or 32 bytes.
    #[error("kek must be 16, 24 or 32 bytes")]
    KekLength,
    /// The wrapped data is not a multiple of 8 bytes, at least 24.
    #[error("ek must be a multiple of 8 bytes, at least 24")]
    DataLength,
    /// The integrity check failed: wrong KEK or altered data.
    #[error("ek does not unwrap under this kek")]
    Integrity,
}

const IV_3394: [u8; 8] = [0xa6; 8];

enum AnyAes {
    A128(aes::Aes128),
    A192(aes::Aes192),
    A256(aes::Aes256),
}

impl AnyAes {
    fn new(kek: &[u8]) -> Result<AnyAes, KeyWrapError> {
        match kek.len() {
            16 => aes::Aes128::new_from_slice(kek).map(AnyAes::A128),
            24 => aes::Aes192::new_from_slice(kek).map(AnyAes::A192),
            32 => aes::Aes256::new_from_slice(kek).map(AnyAes::A256),
            _ => return Err(KeyWrapError::KekLength),
        }
        .map_err(|_| KeyWrapError::KekLength)
    }
    fn encrypt(&self, b: &mut [u8; 16]) {
        let block = GenericArray::from_mut_slice(b);
        match self {
            AnyAes::A128(c) => c.encrypt_block(block),
            AnyAes::A192(c) => c.encrypt_block(block),
            AnyAes::A256(c) => c.encrypt_block(block),
        }
    }
    fn decrypt(&self, b: &mut [u8; 16]) {
        let block = GenericArray::from_mut_slice(b);
        match self {
            AnyAes::A128(c) => c.decrypt_block(block),
            AnyAes::A192(c) => c.decrypt_block(block),
            AnyAes::A256(c) => c.decrypt_block(block),
        }
    }
}

/// RFC 3394 §2.2.2 key unwrap (default IV `A6A6A6A6A6A6A6A6`).
pub fn aes_key_unwrap(kek: &[u8], wrapped: &[u8]) -> Result<Vec<u8>, KeyWrapError> {
    let cipher = AnyAes::new(kek)?;
    if !wrapped.len().is_multiple_of(8) || wrapped.len() < 24 || wrapped.len() > 1024 {
        return Err(KeyWrapError::DataLength);
    }
    let n = wrapped.len() / 8 - 1;
    let mut a = [0u8; 8];
    a.copy_from_slice(&wrapped[..8]);
    let mut r = wrapped[8..].to_vec();
    let mut b = [0u8; 16];
    for j in (0..6u64).rev() {
        for i in (1..=n).rev() {
            let t = (n as u64) * j + i as u64;
            let tb = t.to_be_bytes();
            for k in 0..8 {
                b[k] = a[k] ^ tb[k];
            }
            b[8..].copy_from_slice(&r[(i - 1) * 8..i * 8]);
            cipher.decrypt(&mut b);
            a.copy_from_slice(&b[..8]);
            r[(i - 1) * 8..i * 8].copy_from_slice(&b[8..]);
        }
    }
    b.zeroize();
    if a == IV_3394 {
        Ok(r)
    } else {
        r.zeroize();
        Err(KeyWrapError::Integrity)
    }
}

/// RFC 3394 §2.2.1 key wrap (default IV), for tests and tools.
pub fn aes_key_wrap(kek: &[u8], plain: &[u8]) -> Result<Vec<u8>, KeyWrapError> {
    let cipher = AnyAes::new(kek)?;
    if !plain.len().is_multiple_of(8) || plain.len() < 16 || plain.len() > 1016 {
        return Err(KeyWrapError::DataLength);
    }
    let n = plain.len() / 8;
    let mut a = IV_3394;
    let mut r = plain.to_vec();
    let mut b = [0u8; 16];
    for j in 0..6u64 {
        for i in 1..=n {
            b[..8].copy_from_slice(&a);
            b[8..].copy_from_slice(&r[(i - 1) * 8..i * 8]);
            cipher.encrypt(&mut b);
            let t = ((n as u64) * j + i as u64).to_be_bytes();
            for k in 0..8 {
                a[k] = b[k] ^ t[k];
            }
            r[(i - 1) * 8..i * 8].copy_from_slice(&b[8..]);
        }
    }
    b.zeroize();
    let mut out = a.to_vec();
    out.extend_from_slice(&r);
    r.zeroize();
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        let s = s.replace(' ', "");
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 3394 §4.1 – §4.6, every vector of the RFC.
    #[test]
    fn rfc3394_vectors() {
        let cases = [
            (
                "000102030405060708090A0B0C0D0E0F",
                "00112233445566778899AABBCCDDEEFF",
                "1FA68B0A8112B447 AEF34BD8FB5A7B82 9D3E862371D2CFE5",
            ),
            (
                "000102030405060708090A0B0C0D0E0F1011121314151617",
                "00112233445566778899AABBCCDDEEFF",
                "96778B25AE6CA435 F92B5B97C050AED2 468AB8A17AD84E5D",
            ),
            (
                "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
                "00112233445566778899AABBCCDDEEFF",
                "64E8C3F9CE0F5BA2 63E9777905818A2A 93C8191E7D6E8AE7",
            ),
            (
                "000102030405060708090A0B0C0D0E0F1011121314151617",
                "00112233445566778899AABBCCDDEEFF0001020304050607",
                "031D33264E15D332 68F24EC260743EDC E1C6C7DDEE725A93 6BA814915C6762D2",
            ),
            (
                "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
                "00112233445566778899AABBCCDDEEFF0001020304050607",
                "A8F9BC1612C68B3F F6E6F4FBE30E71E4 769C8B80A32CB895 8CD5D17D6B254DA1",
            ),
            (
                "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
                "00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F",
                "28C9F404C4B810F4 CBCCB35CFB87F826 3F5786E2D80ED326 CBC7F0E71A99F43B FB988B9B7A02DD21",
            ),
        ];
        for (kek, key, wrapped) in cases {
            assert_eq!(aes_key_unwrap(&h(kek), &h(wrapped)).unwrap(), h(key));
            assert_eq!(aes_key_wrap(&h(kek), &h(key)).unwrap(), h(wrapped));
        }
        let mut bad = h("1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5");
        bad[10] ^= 1;
        let kek = h("000102030405060708090A0B0C0D0E0F");
        assert_eq!(aes_key_unwrap(&kek, &bad), Err(KeyWrapError::Integrity));
        assert_eq!(
            aes_key_unwrap(&kek[..15], &bad),
            Err(KeyWrapError::KekLength)
        );
        assert_eq!(
            aes_key_unwrap(&kek, &bad[..20]),
            Err(KeyWrapError::DataLength)
        );
    }
}
