//! FairPlay Streaming credentials per site: what a site's key server module
//! (KSM) needs to answer a player's SPC.
//!
//! An Apple FairPlay licensee holds an FPS application certificate (DER), the
//! RSA private key of that certificate (PKCS#8 DER here) and a 16-byte
//! Application Secret key (ASk). A site may hold several credentials at once
//! (at most [`MAX_FAIRPLAY_CREDENTIALS`]), typically an old and a new
//! certificate side by side while players move over. Each is named by its
//! *cert hash*, the SHA-1 of its DER certificate, which is what a player's SPC
//! names; the store computes it ([`cert_hash`]), callers never supply it.
//!
//! The private key and the ASk only travel in [`FpsSecretKey`] and [`FpsAsk`]
//! (redacted `Debug`, zeroized on drop) and are wrapped under the KEK at rest,
//! each bound to its site, its cert hash and which of the two secrets it is.
//! [`FairPlayCredentialInfo`] is what listings return: no secrets at all.

use std::fmt;

use async_trait::async_trait;
use serde::{Serialize, Serializer};
use sha1::{Digest as _, Sha1};
use subtle::ConstantTimeEq as _;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{Result, StoreError};
use crate::sites::SiteId;

/// Most FairPlay credentials one site may hold at once.
pub const MAX_FAIRPLAY_CREDENTIALS: usize = 8;
/// Largest FPS application certificate accepted, bytes.
pub const MAX_FPS_CERT_LEN: usize = 16 * 1024;
/// Largest FPS private key (PKCS#8 DER) accepted, bytes.
pub const MAX_FPS_KEY_LEN: usize = 16 * 1024;
/// Longest credential label, characters (printable ASCII).
pub const MAX_FPS_LABEL_LEN: usize = 64;
/// Length of an FPS Application Secret key (ASk), bytes.
pub const FPS_ASK_LEN: usize = 16;
/// Length of a cert hash (SHA-1), bytes.
pub const CERT_HASH_LEN: usize = 20;

/// The cert hash that names a credential: SHA-1 of the DER certificate, as a
/// player's SPC carries it.
pub fn cert_hash(cert_der: &[u8]) -> [u8; CERT_HASH_LEN] {
    Sha1::digest(cert_der).into()
}

/// The private key of an FPS application certificate, as PKCS#8 DER bytes.
/// `Debug` prints `FpsSecretKey(<redacted>)`, equality is constant-time, and
/// the bytes are zeroized on drop.
#[derive(Clone)]
pub struct FpsSecretKey(Zeroizing<Vec<u8>>);

impl FpsSecretKey {
    /// A key from its PKCS#8 DER bytes: 1 to [`MAX_FPS_KEY_LEN`] bytes
    /// (`invalid_input`, field `private_key`, otherwise). The contents are not
    /// parsed here. A refused buffer is zeroized too.
    pub fn from_der(der: Vec<u8>) -> Result<FpsSecretKey> {
        let der = Zeroizing::new(der);
        if der.is_empty() || der.len() > MAX_FPS_KEY_LEN {
            return Err(StoreError::InvalidInput {
                field: "private_key",
                reason: "must be 1 to 16384 bytes of PKCS#8 DER",
            });
        }
        Ok(FpsSecretKey(der))
    }

    /// The DER bytes. Do not log them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl PartialEq for FpsSecretKey {
    fn eq(&self, other: &FpsSecretKey) -> bool {
        self.0.len() == other.0.len() && bool::from(self.0[..].ct_eq(&other.0[..]))
    }
}

impl Eq for FpsSecretKey {}

impl ZeroizeOnDrop for FpsSecretKey {}

impl fmt::Debug for FpsSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FpsSecretKey(<redacted>)")
    }
}

/// A FairPlay Application Secret key (ASk), 16 bytes. `Debug` prints
/// `FpsAsk(<redacted>)`, equality is constant-time, and the bytes are zeroized
/// on drop.
#[derive(Clone)]
pub struct FpsAsk([u8; FPS_ASK_LEN]);

impl FpsAsk {
    /// An ASk from its 16 bytes.
    pub fn new(bytes: [u8; FPS_ASK_LEN]) -> FpsAsk {
        FpsAsk(bytes)
    }

    /// An ASk from exactly 16 bytes (`invalid_key_length`, `what` = `"ask"`,
    /// otherwise).
    pub fn from_bytes(bytes: &[u8]) -> Result<FpsAsk> {
        if bytes.len() != FPS_ASK_LEN {
            return Err(StoreError::InvalidKeyLength {
                what: "ask",
                expected: FPS_ASK_LEN,
                actual: bytes.len(),
            });
        }
        let mut ask = FpsAsk([0; FPS_ASK_LEN]);
        ask.0.copy_from_slice(bytes);
        Ok(ask)
    }

    /// The ASk bytes. Do not log them.
    pub fn expose(&self) -> &[u8; FPS_ASK_LEN] {
        &self.0
    }
}

impl PartialEq for FpsAsk {
    fn eq(&self, other: &FpsAsk) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for FpsAsk {}

impl Drop for FpsAsk {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl ZeroizeOnDrop for FpsAsk {}

impl fmt::Debug for FpsAsk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FpsAsk(<redacted>)")
    }
}

/// A FairPlay credential to add to a site. The store computes its cert hash.
#[derive(Clone, Debug)]
pub struct NewFairPlayCredential {
    /// The site it belongs to.
    pub site_id: SiteId,
    /// The FPS application certificate, DER (1 to [`MAX_FPS_CERT_LEN`] bytes,
    /// starting with a DER SEQUENCE tag, `0x30`).
    pub cert_der: Vec<u8>,
    /// The certificate's private key.
    pub private_key: FpsSecretKey,
    /// The Application Secret key.
    pub ask: FpsAsk,
    /// Optional label: 1 to [`MAX_FPS_LABEL_LEN`] printable ASCII characters.
    pub label: Option<String>,
}

impl NewFairPlayCredential {
    /// Checks the certificate (`invalid_input`, field `certificate`) and the
    /// label (`invalid_input`, field `label`). The key and the ASk were checked
    /// when they were built.
    pub fn validate(&self) -> Result<()> {
        validate_cert_der(&self.cert_der)?;
        if let Some(label) = &self.label {
            validate_fps_label(label)?;
        }
        Ok(())
    }

    /// The cert hash this credential will be stored under.
    pub fn cert_hash(&self) -> [u8; CERT_HASH_LEN] {
        cert_hash(&self.cert_der)
    }
}

/// A certificate as [`NewFairPlayCredential::validate`] accepts it.
fn validate_cert_der(der: &[u8]) -> Result<()> {
    if der.is_empty() || der.len() > MAX_FPS_CERT_LEN {
        return Err(StoreError::InvalidInput {
            field: "certificate",
            reason: "must be 1 to 16384 bytes of DER",
        });
    }
    if der[0] != 0x30 {
        return Err(StoreError::InvalidInput {
            field: "certificate",
            reason: "must be DER (starting with a SEQUENCE, 0x30)",
        });
    }
    Ok(())
}

/// A label as [`NewFairPlayCredential::validate`] accepts it.
fn validate_fps_label(label: &str) -> Result<()> {
    let ok = !label.is_empty()
        && label.len() <= MAX_FPS_LABEL_LEN
        && label.bytes().all(|b| (0x20..=0x7e).contains(&b));
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidInput {
            field: "label",
            reason: "must be 1 to 64 printable ASCII characters",
        })
    }
}

/// A stored FairPlay credential with its secrets (which `Debug` never shows).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FairPlayCredential {
    /// The site it belongs to.
    pub site_id: SiteId,
    /// SHA-1 of `cert_der`.
    pub cert_hash: [u8; CERT_HASH_LEN],
    /// The FPS application certificate, DER.
    pub cert_der: Vec<u8>,
    /// The certificate's private key.
    pub private_key: FpsSecretKey,
    /// The Application Secret key.
    pub ask: FpsAsk,
    /// Label, if any.
    pub label: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
}

impl FairPlayCredential {
    /// The credential without its secrets.
    pub fn info(&self) -> FairPlayCredentialInfo {
        FairPlayCredentialInfo {
            site_id: self.site_id.clone(),
            cert_hash: self.cert_hash,
            cert_der: self.cert_der.clone(),
            label: self.label.clone(),
            created_at: self.created_at,
        }
    }
}

/// A FairPlay credential as listed: no private key, no ASk. Serialized with the
/// cert hash as lowercase hex and without the certificate bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FairPlayCredentialInfo {
    /// The site it belongs to.
    pub site_id: SiteId,
    /// SHA-1 of `cert_der` (lowercase hex when serialized).
    #[serde(serialize_with = "hex_bytes")]
    pub cert_hash: [u8; CERT_HASH_LEN],
    /// The FPS application certificate, DER (not serialized).
    #[serde(skip)]
    pub cert_der: Vec<u8>,
    /// Label, if any.
    pub label: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
}

impl FairPlayCredentialInfo {
    /// The cert hash as lowercase hex.
    pub fn cert_hash_hex(&self) -> String {
        hex::encode(self.cert_hash)
    }
}

fn hex_bytes<S: Serializer>(bytes: &[u8; CERT_HASH_LEN], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(bytes))
}

/// Storage of per-site FairPlay credentials. Implemented by both stores.
///
/// Lists are newest first: by `created_at` descending, then by insertion
/// order descending (several credentials added within one second).
#[async_trait]
pub trait FairPlayStore: Send + Sync {
    /// Adds a credential to its site and returns it without secrets.
    /// `invalid_input` / `invalid_key_length` for a refused value (see
    /// [`NewFairPlayCredential::validate`]), `site_not_found`,
    /// `fairplay_credential_exists` if the site holds that certificate already,
    /// and `invalid_input` (field `certificate`) if the site holds
    /// [`MAX_FAIRPLAY_CREDENTIALS`] already. Nothing is stored on error.
    async fn add_fairplay_credential(
        &self,
        new: NewFairPlayCredential,
    ) -> Result<FairPlayCredentialInfo>;

    /// A site's credentials with their secrets unwrapped, newest first (empty
    /// if it has none; `site_not_found`; `unwrap_failed` if a stored secret
    /// was altered or moved from another row).
    async fn fairplay_credentials(&self, site_id: &SiteId) -> Result<Vec<FairPlayCredential>>;

    /// A site's credentials without secrets, newest first; never touches the
    /// secrets (`site_not_found`).
    async fn fairplay_credential_infos(
        &self,
        site_id: &SiteId,
    ) -> Result<Vec<FairPlayCredentialInfo>>;

    /// Removes the credential named by `cert_hash` from a site
    /// (`fairplay_credential_not_found`; `site_not_found` if there is no such
    /// site).
    async fn remove_fairplay_credential(
        &self,
        site_id: &SiteId,
        cert_hash: &[u8; CERT_HASH_LEN],
    ) -> Result<()>;
}

/// The refusal when a site is full.
pub(crate) fn too_many_credentials() -> StoreError {
    StoreError::InvalidInput {
        field: "certificate",
        reason: "a site holds at most 8 FairPlay credentials",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(cert: Vec<u8>, label: Option<&str>) -> NewFairPlayCredential {
        NewFairPlayCredential {
            site_id: SiteId::parse("TUTO").unwrap(),
            cert_der: cert,
            private_key: FpsSecretKey::from_der(vec![0x30, 1, 2, 3]).unwrap(),
            ask: FpsAsk::new([9; 16]),
            label: label.map(str::to_owned),
        }
    }

    #[test]
    fn cert_hash_is_sha1_of_the_der() {
        assert_eq!(
            hex::encode(cert_hash(b"0abc")),
            "a8addbc99f8b3f51d2adbceb605d650b9a8940e2"
        );
        let n = new(vec![0x30, 0x03, 0x02, 0x01, 0x05], None);
        assert_eq!(
            hex::encode(n.cert_hash()),
            "16c3c3e0bb5b5f4fbaecdb6df37a5a4f9d1196e4"
        );
    }

    #[test]
    fn secrets_are_redacted_and_compared_whole() {
        let key = FpsSecretKey::from_der(vec![0x30, 0xAB, 0xCD, 0xEF]).unwrap();
        let ask = FpsAsk::from_bytes(&[0x5A; 16]).unwrap();
        assert_eq!(format!("{key:?}"), "FpsSecretKey(<redacted>)");
        assert_eq!(format!("{ask:?}"), "FpsAsk(<redacted>)");
        assert_eq!(key.expose(), &[0x30, 0xAB, 0xCD, 0xEF]);
        assert_eq!(ask.expose(), &[0x5A; 16]);
        assert_ne!(key, FpsSecretKey::from_der(vec![0x30, 0xAB, 0xCD]).unwrap());
        assert_ne!(ask, FpsAsk::new([0x5B; 16]));
        let cred = FairPlayCredential {
            site_id: SiteId::parse("TUTO").unwrap(),
            cert_hash: [1; 20],
            cert_der: vec![0x30],
            private_key: key,
            ask,
            label: None,
            created_at: 0,
        };
        let shown = format!("{cred:?}");
        assert!(shown.contains("FpsSecretKey(<redacted>)"), "{shown}");
        assert!(shown.contains("FpsAsk(<redacted>)"), "{shown}");
        assert!(
            !shown.contains("171") && !shown.contains("90, 90"),
            "{shown}"
        );
    }

    #[test]
    fn info_serializes_hash_as_hex_without_cert_or_secrets() {
        let info = FairPlayCredentialInfo {
            site_id: SiteId::parse("TUTO").unwrap(),
            cert_hash: [0xAB; 20],
            cert_der: vec![0x30, 0x82],
            label: Some("2025".into()),
            created_at: 5,
        };
        let json = serde_json::to_value(&info).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "site_id": "TUTO",
                "cert_hash": "ab".repeat(20),
                "label": "2025",
                "created_at": 5,
            })
        );
        assert_eq!(info.cert_hash_hex(), "ab".repeat(20));
    }

    #[test]
    fn values_are_checked() {
        let field = |e: StoreError| match e {
            StoreError::InvalidInput { field, .. } => field,
            other => panic!("{other:?}"),
        };
        assert!(new(vec![0x30], Some("new cert, 2025 ~")).validate().is_ok());
        assert!(new(vec![0x30; MAX_FPS_CERT_LEN], None).validate().is_ok());
        for cert in [vec![], vec![0x31, 0x30], vec![0x30; MAX_FPS_CERT_LEN + 1]] {
            let e = new(cert, None).validate().unwrap_err();
            assert_eq!(field(e), "certificate");
        }
        for label in ["", "tab\there", "é", &"x".repeat(65)] {
            let e = new(vec![0x30], Some(label)).validate().unwrap_err();
            assert_eq!(field(e), "label", "{label:?}");
        }
        assert!(new(vec![0x30], Some(&"x".repeat(64))).validate().is_ok());

        for bad in [0usize, MAX_FPS_KEY_LEN + 1] {
            let e = FpsSecretKey::from_der(vec![0x30; bad]).unwrap_err();
            assert_eq!(e.code(), "invalid_input");
            assert_eq!(field(e), "private_key");
        }
        assert!(FpsSecretKey::from_der(vec![0x30; MAX_FPS_KEY_LEN]).is_ok());
        for bad in [0usize, 15, 17, 32] {
            let e = FpsAsk::from_bytes(&vec![1; bad]).unwrap_err();
            assert_eq!(e.code(), "invalid_key_length");
            assert_eq!(e.to_string(), format!("ask must be 16 bytes, got {bad}"));
        }
        assert_eq!(field(too_many_credentials()), "certificate");
    }
}
