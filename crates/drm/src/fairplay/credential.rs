//! A tenant's FairPlay Streaming credentials: the FPS application certificate,
//! its RSA private key and the Application Secret key (ASk).
//!
//! The private key is parsed once into an [`SpcKey`] and kept; a KSM never
//! parses it per request. Nothing here prints key material: `Debug` of the key
//! and of the ASk is redacted, and errors name the failing input, never its
//! bytes.

use std::fmt;

use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _, EncodePrivateKey as _};
use rsa::traits::{Decryptor as _, PublicKeyParts as _};
use rsa::{PrivateKey as RsaPrivateKey, PublicKey as RsaPublicKey};
use sha1::{Digest as _, Sha1};
use x509_cert::der::{Decode as _, DecodePem as _, Encode as _};
use zeroize::{Zeroize as _, Zeroizing};

use crate::error::DrmError;

/// Largest certificate or key file accepted, bytes.
pub const MAX_CREDENTIAL_FILE: usize = 16 * 1024;

fn cred(what: &'static str, reason: &'static str) -> DrmError {
    DrmError::FairPlayCredential { what, reason }
}

/// The FPS application certificate, with what an operator needs to tell one
/// from another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FpsCertificate {
    /// The certificate, DER.
    pub der: Vec<u8>,
    /// SHA-1 of the DER: what an SPC names.
    pub hash: [u8; 20],
    /// Subject, RFC 4514 text.
    pub subject: String,
    /// Serial number, lowercase hex.
    pub serial: String,
    /// Not valid before, unix seconds.
    pub not_before: i64,
    /// Not valid after, unix seconds (FPS does not enforce it).
    pub not_after: i64,
    /// The RSA modulus size, bits.
    pub key_bits: usize,
    modulus: Vec<u8>,
}

impl FpsCertificate {
    /// Reads a certificate, DER or PEM.
    ///
    /// # Errors
    /// 7315 when the bytes are not an X.509 certificate with an RSA key, or are
    /// over [`MAX_CREDENTIAL_FILE`].
    pub fn parse(bytes: &[u8]) -> Result<Self, DrmError> {
        let bad = |reason| DrmError::FairPlayCertificate { reason };
        if bytes.is_empty() || bytes.len() > MAX_CREDENTIAL_FILE {
            return Err(bad("the certificate file is empty or larger than 16 KiB"));
        }
        let text = std::str::from_utf8(bytes).ok();
        let cert = match text.filter(|t| t.contains("-----BEGIN")) {
            Some(pem) => x509_cert::Certificate::from_pem(pem.trim().as_bytes())
                .map_err(|_| bad("the PEM text is not an X.509 certificate"))?,
            None => x509_cert::Certificate::from_der(bytes)
                .map_err(|_| bad("the bytes are not a DER X.509 certificate"))?,
        };
        let der = cert
            .to_der()
            .map_err(|_| bad("the certificate cannot be re-encoded"))?;
        let tbs = cert.tbs_certificate();
        let spki = tbs
            .subject_public_key_info()
            .to_der()
            .map_err(|_| bad("the certificate's public key cannot be read"))?;
        let public = RsaPublicKey::from_public_key_der(&spki)
            .map_err(|_| bad("the certificate's key is not an RSA key"))?;
        let validity = tbs.validity();
        let unix = |t: x509_cert::time::Time| {
            i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
        };
        Ok(Self {
            hash: Sha1::digest(&der).into(),
            subject: tbs.subject().to_string(),
            serial: hex::encode(tbs.serial_number().as_bytes()),
            not_before: unix(validity.not_before),
            not_after: unix(validity.not_after),
            key_bits: public.n_bytes().len() * 8,
            modulus: public.n_bytes().to_vec(),
            der,
        })
    }
}

/// The private key that opens SPCs, parsed once.
#[derive(Clone)]
pub struct SpcKey {
    key: rsa::oaep::DecryptingKey<Sha1>,
    modulus: Vec<u8>,
    pkcs8: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for SpcKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpcKey({} bits, <redacted>)", self.modulus.len() * 8)
    }
}

impl SpcKey {
    /// Reads a private key: PEM (`RSA PRIVATE KEY`, `PRIVATE KEY`, or
    /// `ENCRYPTED PRIVATE KEY` with `passphrase`) or DER (PKCS#8 or PKCS#1).
    ///
    /// Encrypted keys open with `passphrase`: PKCS#8 (PBES2) and OpenSSL's
    /// legacy PEM encryption with AES-CBC.
    ///
    /// # Errors
    /// 7303 when the key cannot be read, is encrypted and no (or a wrong)
    /// passphrase is given, uses a legacy PEM cipher other than AES-CBC
    /// (convert it with `openssl pkcs8 -topk8`), or is smaller than 1024 bits.
    pub fn parse(bytes: &[u8], passphrase: Option<&[u8]>) -> Result<Self, DrmError> {
        if bytes.is_empty() || bytes.len() > MAX_CREDENTIAL_FILE {
            return Err(cred(
                "private key",
                "the key file is empty or larger than 16 KiB",
            ));
        }
        let key = match std::str::from_utf8(bytes)
            .ok()
            .filter(|t| t.contains("-----BEGIN"))
        {
            Some(pem) => Self::from_pem(pem.trim(), passphrase)?,
            None => RsaPrivateKey::from_pkcs8_der(bytes)
                .or_else(|_| RsaPrivateKey::from_pkcs1_der(bytes))
                .map_err(|_| {
                    cred(
                        "private key",
                        "the bytes are not a PKCS#8 or PKCS#1 RSA key",
                    )
                })?,
        };
        Self::from_key(key)
    }

    fn from_pem(pem: &str, passphrase: Option<&[u8]>) -> Result<RsaPrivateKey, DrmError> {
        if pem.contains("Proc-Type: 4,ENCRYPTED") {
            let pass = passphrase.ok_or_else(|| {
                cred(
                    "private key",
                    "the key is encrypted: give its passphrase (--key-passphrase-file)",
                )
            })?;
            let der = legacy_pem_decrypt(pem, pass)?;
            return RsaPrivateKey::from_pkcs1_der(&der).map_err(|_| {
                cred(
                    "private key",
                    "the passphrase does not open the key (legacy PEM encryption)",
                )
            });
        }
        if pem.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
            let pass = passphrase.ok_or_else(|| {
                cred(
                    "private key",
                    "the key is encrypted: give its passphrase (--key-passphrase-file)",
                )
            })?;
            return RsaPrivateKey::from_pkcs8_encrypted_pem(pem, pass).map_err(|_| {
                cred(
                    "private key",
                    "the passphrase does not open the key, or its cipher is not supported",
                )
            });
        }
        if pem.contains("-----BEGIN RSA PRIVATE KEY-----") {
            return RsaPrivateKey::from_pkcs1_pem(pem)
                .map_err(|_| cred("private key", "the PKCS#1 PEM text is not an RSA key"));
        }
        RsaPrivateKey::from_pkcs8_pem(pem)
            .map_err(|_| cred("private key", "the PEM text is not a PKCS#8 RSA key"))
    }

    fn from_key(key: RsaPrivateKey) -> Result<Self, DrmError> {
        let modulus = key.n_bytes().to_vec();
        if modulus.len() < 128 {
            return Err(cred("private key", "the key is smaller than 1024 bits"));
        }
        let pkcs8 = key
            .to_pkcs8_der()
            .map_err(|_| cred("private key", "the key cannot be encoded"))?;
        Ok(Self {
            modulus,
            pkcs8: Zeroizing::new(pkcs8.as_bytes().to_vec()),
            key: rsa::oaep::DecryptingKey::new(key),
        })
    }

    /// The key as unencrypted PKCS#8 DER (to be wrapped at rest; never log it).
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The modulus size in bytes (128 for the RSA-1024 keys of SPC version 1).
    pub fn size(&self) -> usize {
        self.modulus.len()
    }

    /// Does this key belong to the certificate?
    pub fn matches(&self, cert: &FpsCertificate) -> bool {
        self.modulus == cert.modulus
    }

    /// RSA-OAEP (SHA-1) decryption of a wrapped SPC key: the 16-byte AES key.
    ///
    /// # Errors
    /// 7316 when the ciphertext does not decrypt under this key (another
    /// tenant's SPC, or a corrupted one) or does not hold 16 bytes.
    pub fn unwrap(&self, wrapped: &[u8]) -> Result<Zeroizing<[u8; 16]>, DrmError> {
        let mut plain = self
            .key
            .decrypt(wrapped)
            .map_err(|_| DrmError::FairPlaySpcKeyUnwrap)?;
        let out =
            <[u8; 16]>::try_from(plain.as_slice()).map_err(|_| DrmError::FairPlaySpcKeyUnwrap);
        plain.zeroize();
        out.map(Zeroizing::new)
    }
}

/// Opens a key in OpenSSL's legacy PEM encryption (`Proc-Type: 4,ENCRYPTED`,
/// `DEK-Info: AES-{128,192,256}-CBC,<iv>`; what `openssl genrsa -aes256` wrote
/// before OpenSSL 3, and what many FPS deployment keys still are): the key is
/// `EVP_BytesToKey(MD5, passphrase, salt = IV[0..8], 1 round)`, the body
/// AES-CBC with PKCS#7 padding. Returns the PKCS#1 DER.
fn legacy_pem_decrypt(pem: &str, pass: &[u8]) -> Result<Zeroizing<Vec<u8>>, DrmError> {
    use aes::cipher::{BlockDecrypt as _, KeyInit as _};
    use base64::Engine as _;
    use md5::{Digest as _, Md5};
    let bad = |reason| cred("private key", reason);
    let dek = pem
        .lines()
        .find_map(|l| l.trim().strip_prefix("DEK-Info:"))
        .ok_or_else(|| bad("the encrypted PEM has no DEK-Info header"))?;
    let (cipher, iv_hex) = dek
        .trim()
        .split_once(',')
        .ok_or_else(|| bad("the DEK-Info header is malformed"))?;
    let key_len = match cipher.trim() {
        "AES-128-CBC" => 16,
        "AES-192-CBC" => 24,
        "AES-256-CBC" => 32,
        _ => {
            return Err(bad(
                "the key's legacy PEM cipher is not AES-CBC: convert with `openssl pkcs8 -topk8 -v2 aes-256-cbc`",
            ))
        }
    };
    let mut iv = [0u8; 16];
    hex::decode_to_slice(iv_hex.trim(), &mut iv)
        .map_err(|_| bad("the DEK-Info IV is not 16 bytes of hex"))?;
    // The base64 body: the lines after the headers' blank line, before END.
    let body: String = pem
        .lines()
        .skip_while(|l| !l.trim().is_empty())
        .take_while(|l| !l.starts_with("-----END"))
        .map(str::trim)
        .collect();
    let mut data = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| bad("the encrypted PEM body is not base64"))?,
    );
    if data.is_empty() || data.len() % 16 != 0 {
        return Err(bad("the encrypted PEM body is not whole AES blocks"));
    }
    let mut key = Zeroizing::new(Vec::with_capacity(32));
    let mut prev: Vec<u8> = Vec::new();
    while key.len() < key_len {
        let mut h = Md5::new();
        h.update(&prev);
        h.update(pass);
        h.update(&iv[..8]);
        prev = h.finalize().to_vec();
        key.extend_from_slice(&prev);
    }
    key.truncate(key_len);
    let mut chain = iv;
    macro_rules! run {
        ($c:ty) => {{
            let c = <$c>::new_from_slice(&key).map_err(|_| bad("bad key length"))?;
            for block in data.chunks_exact_mut(16) {
                let mut ct = [0u8; 16];
                ct.copy_from_slice(block);
                c.decrypt_block(block.into());
                for (b, p) in block.iter_mut().zip(chain) {
                    *b ^= p;
                }
                chain = ct;
            }
        }};
    }
    match key_len {
        16 => run!(aes::Aes128),
        24 => run!(aes::Aes192),
        _ => run!(aes::Aes256),
    }
    let wrong = || bad("the passphrase does not open the key (legacy PEM encryption)");
    let pad = usize::from(*data.last().ok_or_else(wrong)?);
    if pad == 0
        || pad > 16
        || data.len() < pad
        || !data[data.len() - pad..]
            .iter()
            .all(|&b| usize::from(b) == pad)
    {
        return Err(wrong());
    }
    let n = data.len() - pad;
    data.truncate(n);
    Ok(data)
}

/// The Application Secret key, 16 bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Ask(Zeroizing<[u8; 16]>);

impl fmt::Debug for Ask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Ask(<redacted>)")
    }
}

impl Ask {
    /// From 16 raw bytes.
    pub fn from_bytes(b: [u8; 16]) -> Self {
        Self(Zeroizing::new(b))
    }

    /// From its hex text (32 hex digits; surrounding whitespace ignored), as
    /// Apple delivers it.
    ///
    /// # Errors
    /// 7303 unless the text is exactly 32 hex digits.
    pub fn parse_hex(text: &[u8]) -> Result<Self, DrmError> {
        let t = text.trim_ascii();
        let mut out = Zeroizing::new([0u8; 16]);
        if t.len() != 32 || hex::decode_to_slice(t, out.as_mut()).is_err() {
            return Err(cred(
                "ASk",
                "the ASk must be exactly 32 hex digits (16 bytes)",
            ));
        }
        Ok(Self(out))
    }

    /// The key bytes.
    pub fn expose(&self) -> &[u8; 16] {
        &self.0
    }
}

/// A complete credential: certificate, private key, ASk.
#[derive(Clone, Debug)]
pub struct FpsCredential {
    /// The certificate.
    pub certificate: FpsCertificate,
    /// The private key.
    pub key: SpcKey,
    /// The ASk.
    pub ask: Ask,
}

impl FpsCredential {
    /// Puts the parts together, checking that the key belongs to the
    /// certificate.
    ///
    /// # Errors
    /// 7303 when the key is not the certificate's.
    pub fn new(certificate: FpsCertificate, key: SpcKey, ask: Ask) -> Result<Self, DrmError> {
        if !key.matches(&certificate) {
            return Err(cred(
                "private key",
                "the private key does not belong to the certificate",
            ));
        }
        Ok(Self {
            certificate,
            key,
            ask,
        })
    }
}
