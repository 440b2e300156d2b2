//! The error type of the CPIX module.
//!
//! Why a separate enum with string codes (and not [`crate::DrmError`]'s numbers): CPIX
//! failures are answered to packagers (SPEKE, DASH-IF CPIX clients), which have no
//! PallyCon licence-server code to reuse, and an HTTP endpoint maps them to `4xx` / `5xx`
//! with the code as a stable machine-readable string.
//!
//! Messages are written for operators and are safe to return to the packager: they name
//! the rule that failed and the limit, never a key, a MAC or a document key, and they
//! never echo input text except key ids and system ids (public values, printed in
//! canonical form after parsing, so bounded).

use keyward_types::Kid;

/// Every way reading a CPIX request, answering it or reading a CPIX document can fail.
///
/// | code | variant | HTTP |
/// |---|---|---|
/// | `cpix_too_large` | [`TooLarge`](Self::TooLarge) | 413 |
/// | `cpix_too_complex` | [`TooComplex`](Self::TooComplex) | 400 |
/// | `cpix_malformed` | [`Malformed`](Self::Malformed) | 400 |
/// | `cpix_unsupported_version` | [`UnsupportedVersion`](Self::UnsupportedVersion) | 400 / 422 |
/// | `cpix_unknown_kid` | [`UnknownKid`](Self::UnknownKid) | 400 |
/// | `cpix_duplicate_kid` | [`DuplicateKid`](Self::DuplicateKid) | 400 (request) / 500 (resolved) |
/// | `cpix_unknown_period` | [`UnknownPeriod`](Self::UnknownPeriod) | 400 |
/// | `cpix_speke_contract` | [`SpekeContract`](Self::SpekeContract) | 422 |
/// | `cpix_unresolved_key` | [`UnresolvedKey`](Self::UnresolvedKey) | 500 |
/// | `cpix_signalling` | [`Signalling`](Self::Signalling) | 500 |
/// | `cpix_bad_certificate` | [`BadCertificate`](Self::BadCertificate) | 400 |
/// | `cpix_weak_certificate` | [`WeakCertificate`](Self::WeakCertificate) | 400 |
/// | `cpix_unsupported_algorithm` | [`UnsupportedAlgorithm`](Self::UnsupportedAlgorithm) | 400 |
/// | `cpix_no_recipient_key` | [`NoRecipientKey`](Self::NoRecipientKey) | 400 |
/// | `cpix_key_unwrap` | [`KeyUnwrap`](Self::KeyUnwrap) | 400 |
/// | `cpix_bad_mac` | [`BadMac`](Self::BadMac) | 400 |
/// | `cpix_decrypt` | [`Decrypt`](Self::Decrypt) | 400 |
/// | `cpix_signature_unsupported` | [`SignatureUnsupported`](Self::SignatureUnsupported) | 400 |
/// | `cpix_bad_signature` | [`BadSignature`](Self::BadSignature) | 400 |
/// | `cpix_untrusted_signer` | [`UntrustedSigner`](Self::UntrustedSigner) | 400 |
/// | `cpix_random` | [`Random`](Self::Random) | 500 |
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CpixError {
    /// The document is larger than the limit.
    #[error("CPIX document is {len} bytes, limit is {limit}")]
    TooLarge {
        /// Size received.
        len: usize,
        /// The limit ([`super::MAX_DOCUMENT_LEN`]).
        limit: usize,
    },
    /// Nesting, element, attribute or list counts exceed the limits.
    #[error("CPIX document too complex: {reason}")]
    TooComplex {
        /// Which limit (static text).
        reason: &'static str,
    },
    /// Not well-formed XML, not a CPIX document, a DTD, a missing required attribute, or a
    /// value of the wrong form.
    #[error("malformed CPIX document: {reason}")]
    Malformed {
        /// Which rule failed (static text, no input echoed).
        reason: &'static str,
    },
    /// `CPIX@version` is not a 2.x version.
    #[error("unsupported CPIX@version: keyward reads CPIX 2.x documents")]
    UnsupportedVersion,
    /// A `DRMSystem`, `ContentKeyUsageRule` or resolved key names a kid that the
    /// `ContentKeyList` does not hold.
    #[error("{element} names kid {kid}, which is not in the ContentKeyList")]
    UnknownKid {
        /// The element naming it (`DRMSystem`, `ContentKeyUsageRule`, `resolved key`).
        element: &'static str,
        /// The kid.
        kid: Kid,
    },
    /// The same kid appears twice where it must be unique.
    #[error("kid {kid} appears more than once in {element}")]
    DuplicateKid {
        /// Where (`ContentKeyList`, `resolved keys`).
        element: &'static str,
        /// The kid.
        kid: Kid,
    },
    /// A `KeyPeriodFilter@periodId` names no `ContentKeyPeriod@id`.
    #[error("a KeyPeriodFilter names a period that the ContentKeyPeriodList does not define")]
    UnknownPeriod,
    /// A SPEKE v2 request breaks the SPEKE v2 profile (mandatory lists and attributes,
    /// encryption schemes, the encryption contract of the usage rules).
    #[error("SPEKE v2 request refused: {reason}")]
    SpekeContract {
        /// Which rule (static text).
        reason: &'static str,
    },
    /// [`super::respond`] was given no resolved key for a requested kid.
    #[error("no resolved key for requested kid {kid}")]
    UnresolvedKey {
        /// The requested kid.
        kid: Kid,
    },
    /// A requested signalling element cannot be built with the given configuration.
    #[error("cannot build the signalling for system {system}: {reason}")]
    Signalling {
        /// The DRM system id (UUID text).
        system: String,
        /// Why (static text).
        reason: &'static str,
    },
    /// A recipient certificate is not an X.509 certificate with an RSA key.
    #[error("recipient certificate unusable: {reason}")]
    BadCertificate {
        /// Why (static text).
        reason: &'static str,
    },
    /// A recipient certificate is weak: RSA modulus under 2048 bits, or signed with
    /// SHA-1, MD5 or MD2.
    #[error("recipient certificate refused as weak: {reason}")]
    WeakCertificate {
        /// Why (static text).
        reason: &'static str,
    },
    /// An encryption, MAC, digest, signature or canonicalization algorithm keyward does
    /// not implement.
    #[error("unsupported algorithm in {element}")]
    UnsupportedAlgorithm {
        /// The element naming it (static text).
        element: &'static str,
    },
    /// The document carries encrypted keys, but no private key was given or no
    /// `DeliveryData` is addressed to the given key.
    #[error("the content keys are encrypted and {reason}")]
    NoRecipientKey {
        /// Why (static text).
        reason: &'static str,
    },
    /// The RSA-OAEP wrapped document key or MAC key does not open with the recipient key.
    #[error("the {what} does not open with the recipient private key")]
    KeyUnwrap {
        /// `document key` or `MAC key`.
        what: &'static str,
    },
    /// A `ValueMAC` does not match its `CipherValue`: altered or made with another MAC key.
    #[error("ValueMAC of the content key {kid} does not match: the document was altered")]
    BadMac {
        /// The kid whose value failed.
        kid: Kid,
    },
    /// An encrypted value is not a whole AES-256-CBC ciphertext of a 16-byte key.
    #[error("encrypted value of {what} cannot be decrypted: {reason}")]
    Decrypt {
        /// Which value (`content key`, `document key`).
        what: &'static str,
        /// Why (static text).
        reason: &'static str,
    },
    /// The document carries `ds:Signature` elements and the read policy does not verify
    /// them, or a signature uses a form keyward does not verify.
    #[error("XML signatures are not accepted here: {reason}")]
    SignatureUnsupported {
        /// Why (static text).
        reason: &'static str,
    },
    /// An XML signature does not verify: a reference digest or the signature value does
    /// not match.
    #[error("XML signature {index} does not verify: {reason}")]
    BadSignature {
        /// Zero-based position of the signature among the document's signatures.
        index: usize,
        /// Which check failed (static text).
        reason: &'static str,
    },
    /// An XML signature verifies, but with a certificate that is not a trusted signer.
    #[error("XML signature {index} is made with a certificate that is not a trusted signer")]
    UntrustedSigner {
        /// Zero-based position of the signature.
        index: usize,
    },
    /// The operating system's random source failed.
    #[error("the system random source failed")]
    Random,
}

impl CpixError {
    /// The stable code of this error (see the table on [`CpixError`]).
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "cpix_too_large",
            Self::TooComplex { .. } => "cpix_too_complex",
            Self::Malformed { .. } => "cpix_malformed",
            Self::UnsupportedVersion => "cpix_unsupported_version",
            Self::UnknownKid { .. } => "cpix_unknown_kid",
            Self::DuplicateKid { .. } => "cpix_duplicate_kid",
            Self::UnknownPeriod => "cpix_unknown_period",
            Self::SpekeContract { .. } => "cpix_speke_contract",
            Self::UnresolvedKey { .. } => "cpix_unresolved_key",
            Self::Signalling { .. } => "cpix_signalling",
            Self::BadCertificate { .. } => "cpix_bad_certificate",
            Self::WeakCertificate { .. } => "cpix_weak_certificate",
            Self::UnsupportedAlgorithm { .. } => "cpix_unsupported_algorithm",
            Self::NoRecipientKey { .. } => "cpix_no_recipient_key",
            Self::KeyUnwrap { .. } => "cpix_key_unwrap",
            Self::BadMac { .. } => "cpix_bad_mac",
            Self::Decrypt { .. } => "cpix_decrypt",
            Self::SignatureUnsupported { .. } => "cpix_signature_unsupported",
            Self::BadSignature { .. } => "cpix_bad_signature",
            Self::UntrustedSigner { .. } => "cpix_untrusted_signer",
            Self::Random => "cpix_random",
        }
    }

    /// Whether the failure is the caller's (the document or the certificates it sent),
    /// as opposed to keyward's configuration or environment. An HTTP endpoint answers
    /// `4xx` when this is `true`, `5xx` otherwise.
    pub fn is_client_error(&self) -> bool {
        !matches!(
            self,
            Self::UnresolvedKey { .. }
                | Self::Signalling { .. }
                | Self::Random
                | Self::DuplicateKid {
                    element: "resolved keys",
                    ..
                }
        )
    }
}

pub(crate) fn malformed(reason: &'static str) -> CpixError {
    CpixError::Malformed { reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_and_distinct() {
        let kid = Kid::new([1; 16]);
        let all = [
            CpixError::TooLarge { len: 2, limit: 1 },
            CpixError::TooComplex { reason: "x" },
            malformed("x"),
            CpixError::UnsupportedVersion,
            CpixError::UnknownKid {
                element: "DRMSystem",
                kid,
            },
            CpixError::DuplicateKid {
                element: "ContentKeyList",
                kid,
            },
            CpixError::UnknownPeriod,
            CpixError::SpekeContract { reason: "x" },
            CpixError::UnresolvedKey { kid },
            CpixError::Signalling {
                system: "s".into(),
                reason: "x",
            },
            CpixError::BadCertificate { reason: "x" },
            CpixError::WeakCertificate { reason: "x" },
            CpixError::UnsupportedAlgorithm { element: "x" },
            CpixError::NoRecipientKey { reason: "x" },
            CpixError::KeyUnwrap { what: "x" },
            CpixError::BadMac { kid },
            CpixError::Decrypt {
                what: "x",
                reason: "y",
            },
            CpixError::SignatureUnsupported { reason: "x" },
            CpixError::BadSignature {
                index: 0,
                reason: "x",
            },
            CpixError::UntrustedSigner { index: 0 },
            CpixError::Random,
        ];
        let codes: Vec<&str> = all.iter().map(CpixError::code).collect();
        let mut unique = codes.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), codes.len());
        assert!(codes.iter().all(|c| c.starts_with("cpix_")));
        assert_eq!(all[15].code(), "cpix_bad_mac");
        assert!(!CpixError::Random.is_client_error());
        assert!(malformed("x").is_client_error());
    }
}
