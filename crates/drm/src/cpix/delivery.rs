//! Encrypted key delivery (DASH-IF CPIX, "Content key encryption"): recipient
//! certificates, the document key and MAC key, and the per-key AES-256-CBC + HMAC-SHA512.
//!
//! Scheme: one random 256-bit document key and one random 512-bit MAC key per document;
//! each is wrapped with RSA-OAEP (MGF1 and digest SHA-1, `xmlenc#rsa-oaep-mgf1p`) for every
//! recipient, so the RSA work is two public-key operations per recipient per document,
//! however many content keys it carries. Each content key's `CipherValue` is
//! `IV ‖ AES-256-CBC(document key, IV, key ‖ PKCS#7 padding)` with a random IV, and its
//! `ValueMAC` is HMAC-SHA512(MAC key, those `CipherValue` bytes). A reader checks the MAC
//! before it decrypts.

use aes::cipher::{
    block_padding::Pkcs7, BlockDecryptMut as _, BlockEncryptMut as _, KeyIvInit as _,
};
use hmac::{Hmac, KeyInit as _, Mac as _};
use keyward_types::{ContentKey, Kid};
use rsa::pkcs8::DecodePublicKey as _;
use rsa::traits::PublicKeyParts as _;
use rsa::{PrivateKey as RsaPrivateKey, PublicKey as RsaPublicKey};
use sha1::Sha1;
use sha2::Sha512;
use x509_cert::der::oid::ObjectIdentifier;
use x509_cert::der::{Decode as _, Encode as _};
use zeroize::Zeroizing;

use super::error::CpixError;

/// `xmlenc#aes256-cbc`: document key and content key encryption.
pub(crate) const ALG_AES256_CBC: &str = "http://www.w3.org/2001/04/xmlenc#aes256-cbc";
/// `xmlenc#rsa-oaep-mgf1p`: key wrapping for a recipient.
pub(crate) const ALG_RSA_OAEP: &str = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p";
/// `xmldsig-more#hmac-sha512`: the value MAC.
pub(crate) const ALG_HMAC_SHA512: &str = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha512";

/// Smallest RSA modulus accepted for a recipient, bits. SPEKE mandates 2048-bit
/// certificates, so this is the floor (the DASH-IF test vectors' `WeakCert_SmallKey` is
/// 2048-bit and therefore accepted; see the module documentation).
pub const MIN_RECIPIENT_RSA_BITS: usize = 2048;

/// Largest recipient certificate accepted, bytes.
pub const MAX_CERTIFICATE_LEN: usize = 16 * 1024;

type HmacSha512 = Hmac<Sha512>;
type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;
type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;

const WEAK_SIGNATURES: [(&str, &str); 6] = [
    ("1.2.840.113549.1.1.2", "the certificate is signed with MD2"),
    ("1.2.840.113549.1.1.4", "the certificate is signed with MD5"),
    (
        "1.2.840.113549.1.1.5",
        "the certificate is signed with SHA-1",
    ),
    ("1.3.14.3.2.29", "the certificate is signed with SHA-1"),
    ("1.2.840.10045.4.1", "the certificate is signed with SHA-1"),
    ("1.2.840.10040.4.3", "the certificate is signed with SHA-1"),
];

fn rsa_bits(key: &RsaPublicKey) -> usize {
    let n = key.n_bytes();
    let n: &[u8] = &n;
    let first = n.iter().position(|b| *b != 0).unwrap_or(n.len());
    let n = &n[first..];
    match n.first() {
        Some(top) => n.len() * 8 - top.leading_zeros() as usize,
        None => 0,
    }
}

/// A recipient certificate checked for use: its RSA public key.
pub(crate) struct CheckedRecipient {
    pub der: Vec<u8>,
    pub key: RsaPublicKey,
}

/// Reads and checks a recipient certificate: an X.509 certificate (DER) whose key is
/// RSA of at least [`MIN_RECIPIENT_RSA_BITS`] bits and whose signature algorithm is not
/// MD2, MD5 or SHA-1 based. Validity dates are not checked (keyward has no clock here;
/// the packager chose the certificate).
///
/// # Errors
/// `cpix_bad_certificate` when it is not a certificate with an RSA key,
/// `cpix_weak_certificate` when it is weak.
pub fn check_recipient_certificate(der: &[u8]) -> Result<(), CpixError> {
    check_recipient(der).map(|_| ())
}

pub(crate) fn check_recipient(der: &[u8]) -> Result<CheckedRecipient, CpixError> {
    let bad = |reason| CpixError::BadCertificate { reason };
    if der.is_empty() || der.len() > MAX_CERTIFICATE_LEN {
        return Err(bad("the certificate is empty or larger than 16 KiB"));
    }
    let cert = x509_cert::Certificate::from_der(der)
        .map_err(|_| bad("the bytes are not a DER X.509 certificate"))?;
    let sig = cert.signature_algorithm().oid;
    for (oid, reason) in WEAK_SIGNATURES {
        if sig == ObjectIdentifier::new_unwrap(oid) {
            return Err(CpixError::WeakCertificate { reason });
        }
    }
    let spki = cert
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|_| bad("the certificate's public key cannot be read"))?;
    let key = RsaPublicKey::from_public_key_der(&spki)
        .map_err(|_| bad("the certificate's key is not an RSA key"))?;
    if rsa_bits(&key) < MIN_RECIPIENT_RSA_BITS {
        return Err(CpixError::WeakCertificate {
            reason: "the RSA key is shorter than 2048 bits",
        });
    }
    Ok(CheckedRecipient {
        der: der.to_vec(),
        key,
    })
}

/// The RSA public key of a certificate, without the strength checks (reading side: the
/// certificate only identifies which `DeliveryData` is ours).
pub(crate) fn certificate_key(der: &[u8]) -> Option<RsaPublicKey> {
    let cert = x509_cert::Certificate::from_der(der).ok()?;
    let spki = cert
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .ok()?;
    RsaPublicKey::from_public_key_der(&spki).ok()
}

/// Whether a private key is the one of `public`.
pub(crate) fn same_key(private: &RsaPrivateKey, public: &RsaPublicKey) -> bool {
    let mine = private.to_public_key();
    mine.n_bytes() == public.n_bytes() && mine.e_bytes() == public.e_bytes()
}

pub(crate) fn random(buf: &mut [u8]) -> Result<(), CpixError> {
    getrandom::fill(buf).map_err(|_| CpixError::Random)
}

/// The per-document secrets.
pub(crate) struct DocumentSecrets {
    pub document_key: Zeroizing<[u8; 32]>,
    pub mac_key: Zeroizing<Vec<u8>>,
}

impl DocumentSecrets {
    pub fn generate() -> Result<Self, CpixError> {
        let mut document_key = Zeroizing::new([0u8; 32]);
        random(document_key.as_mut())?;
        let mut mac_key = Zeroizing::new(vec![0u8; 64]);
        random(mac_key.as_mut())?;
        Ok(Self {
            document_key,
            mac_key,
        })
    }

    /// `IV ‖ AES-256-CBC(key)` and its HMAC-SHA512.
    pub fn seal(&self, key: &ContentKey) -> Result<(Vec<u8>, Vec<u8>), CpixError> {
        let mut iv = [0u8; 16];
        random(&mut iv)?;
        let mut buf = Zeroizing::new([0u8; 32]);
        buf[..16].copy_from_slice(key.expose());
        let ct = Aes256CbcEnc::new(self.document_key.as_ref().into(), (&iv).into())
            .encrypt_padded_mut::<Pkcs7>(buf.as_mut(), 16)
            .map_err(|_| CpixError::Decrypt {
                what: "content key",
                reason: "padding failed",
            })?;
        let mut cipher = Vec::with_capacity(48);
        cipher.extend_from_slice(&iv);
        cipher.extend_from_slice(ct);
        let mac = self.mac(&cipher)?;
        Ok((cipher, mac))
    }

    fn mac(&self, data: &[u8]) -> Result<Vec<u8>, CpixError> {
        let mut m = HmacSha512::new_from_slice(&self.mac_key).map_err(|_| CpixError::Random)?;
        m.update(data);
        Ok(m.finalize().into_bytes().to_vec())
    }

    /// Checks the MAC of `cipher`, then decrypts it to a 16-byte content key.
    pub fn open(&self, kid: Kid, cipher: &[u8], mac: &[u8]) -> Result<ContentKey, CpixError> {
        let mut m = HmacSha512::new_from_slice(&self.mac_key)
            .map_err(|_| CpixError::KeyUnwrap { what: "MAC key" })?;
        m.update(cipher);
        m.verify_slice(mac).map_err(|_| CpixError::BadMac { kid })?;
        let plain = decrypt_cbc(&self.document_key, cipher, "content key")?;
        ContentKey::from_slice(&plain).map_err(|_| CpixError::Decrypt {
            what: "content key",
            reason: "the decrypted value is not 16 bytes",
        })
    }
}

/// Decrypts `IV ‖ AES-256-CBC` with PKCS#7 padding.
pub(crate) fn decrypt_cbc(
    key: &[u8; 32],
    cipher: &[u8],
    what: &'static str,
) -> Result<Zeroizing<Vec<u8>>, CpixError> {
    let fail = |reason| CpixError::Decrypt { what, reason };
    if cipher.len() < 32 || !cipher.len().is_multiple_of(16) || cipher.len() > 4096 {
        return Err(fail("the ciphertext is not an IV and whole AES blocks"));
    }
    let (iv, body) = cipher.split_at(16);
    let iv: [u8; 16] = iv.try_into().map_err(|_| fail("bad IV"))?;
    let mut buf = Zeroizing::new(body.to_vec());
    let plain = Aes256CbcDec::new(key.into(), (&iv).into())
        .decrypt_padded_mut::<Pkcs7>(buf.as_mut())
        .map_err(|_| fail("the padding is wrong (wrong document key?)"))?;
    Ok(Zeroizing::new(plain.to_vec()))
}

/// RSA-OAEP (SHA-1, MGF1-SHA-1) encryption for a recipient.
pub(crate) fn wrap(key: &RsaPublicKey, secret: &[u8]) -> Result<Vec<u8>, CpixError> {
    key.oaep_encrypt::<Sha1>(secret)
        .map_err(|_| CpixError::Random)
}

/// RSA-OAEP (SHA-1, MGF1-SHA-1) decryption with the recipient key.
pub(crate) fn unwrap(
    key: &RsaPrivateKey,
    cipher: &[u8],
    what: &'static str,
) -> Result<Zeroizing<Vec<u8>>, CpixError> {
    key.oaep_decrypt::<Sha1>(cipher)
        .map(Zeroizing::new)
        .map_err(|_| CpixError::KeyUnwrap { what })
}
