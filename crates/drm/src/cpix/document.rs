//! Reading CPIX documents that carry keys: imports, responses of other key servers, the
//! DASH-IF test vectors.

use keyward_types::{ContentKey, Kid};
use rsa::PrivateKey as RsaPrivateKey;

use super::delivery::{
    certificate_key, same_key, unwrap, DocumentSecrets, ALG_AES256_CBC, ALG_HMAC_SHA512,
    ALG_RSA_OAEP,
};
use super::dsig;
use super::error::{malformed, CpixError};
use super::model::{b64, read_cpix, Period, RawCpix, RawDelivery, RawSecret, Recipient, UsageRule};
use super::xml;
use crate::pssh::SystemId;

/// What to do with `ds:Signature` elements.
#[derive(Debug, Clone, Copy)]
pub enum SignaturePolicy<'a> {
    /// Refuse signed documents (`cpix_signature_unsupported`). The default: a signature
    /// keyward does not check must not look checked.
    Refuse,
    /// Verify every signature (XML-DSig, RSA-SHA512 or RSA-SHA256 over C14N 1.0 /
    /// exclusive C14N, SHA-512 / SHA-256 digests, same-document references) and require
    /// each to be made with one of these certificates (DER). Any failure refuses the
    /// document.
    Verify {
        /// Certificates whose signatures are trusted, DER.
        trusted_signers: &'a [Vec<u8>],
    },
}

/// How to read a document.
#[derive(Debug, Clone, Copy)]
pub struct ReadOptions<'a> {
    /// The private key of a recipient, to decrypt encrypted keys. Without it, encrypted
    /// keys are listed without a value.
    pub recipient: Option<&'a RsaPrivateKey>,
    /// What to do with signatures.
    pub signatures: SignaturePolicy<'a>,
}

/// A content key read from a document.
#[derive(Debug, Clone)]
pub struct DocumentContentKey {
    /// `@kid`.
    pub kid: Kid,
    /// The key, when the document carries it in the clear or it was decrypted. `Debug`
    /// prints `***`.
    pub key: Option<ContentKey>,
    /// Whether the document carries the key encrypted.
    pub encrypted: bool,
    /// `@explicitIV`.
    pub explicit_iv: Option<[u8; 16]>,
    /// `@commonEncryptionScheme`.
    pub common_encryption_scheme: Option<String>,
}

/// A `DRMSystem` read from a document, values decoded from base64 (an empty element
/// reads as an empty value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrmSystem {
    /// `@kid`.
    pub kid: Kid,
    /// `@systemId`.
    pub system_id: SystemId,
    /// `@name`.
    pub name: Option<String>,
    /// `PSSH`: the `pssh` box(es).
    pub pssh: Option<Vec<u8>>,
    /// `ContentProtectionData`: XML for the DASH `ContentProtection` element.
    pub content_protection_data: Option<Vec<u8>>,
    /// `URIExtXKey`.
    pub uri_ext_x_key: Option<Vec<u8>>,
    /// `HLSSignalingData` for media playlists.
    pub hls_media: Option<Vec<u8>>,
    /// `HLSSignalingData` for master (multivariant) playlists.
    pub hls_master: Option<Vec<u8>>,
    /// `SmoothStreamingProtectionHeaderData` text (base64 of a PlayReady Object).
    pub smooth_streaming: Option<String>,
    /// `speke:ProtectionHeader`.
    pub speke_protection_header: Option<Vec<u8>>,
    /// `speke:KeyFormat`.
    pub speke_key_format: Option<Vec<u8>>,
    /// `speke:KeyFormatVersions`.
    pub speke_key_format_versions: Option<Vec<u8>>,
}

/// A CPIX document read with [`Document::read`].
#[derive(Debug, Clone)]
pub struct Document {
    /// `CPIX@id`.
    pub id: Option<String>,
    /// `CPIX@contentId`.
    pub content_id: Option<String>,
    /// `CPIX@version`.
    pub version: Option<String>,
    /// `CPIX@name`.
    pub name: Option<String>,
    /// `ContentKeyList`.
    pub content_keys: Vec<DocumentContentKey>,
    /// `DRMSystemList`.
    pub drm_systems: Vec<DrmSystem>,
    /// `ContentKeyPeriodList`.
    pub periods: Vec<Period>,
    /// `ContentKeyUsageRuleList`.
    pub usage_rules: Vec<UsageRule>,
    /// `DeliveryDataList` recipients (certificates).
    pub recipients: Vec<Recipient>,
    /// How many `ds:Signature` elements were verified.
    pub verified_signatures: usize,
}

fn opt_b64(text: &Option<String>, what: &'static str) -> Result<Option<Vec<u8>>, CpixError> {
    text.as_deref().map(|t| b64(t, what)).transpose()
}

fn open_delivery(raw: &RawCpix, key: &RsaPrivateKey) -> Result<DocumentSecrets, CpixError> {
    let ours: Option<&RawDelivery> = raw.deliveries.iter().find(|d| {
        d.certificate
            .as_deref()
            .and_then(certificate_key)
            .is_some_and(|public| same_key(key, &public))
    });
    let d = ours.ok_or(CpixError::NoRecipientKey {
        reason: "no DeliveryData is addressed to the given private key",
    })?;
    let doc = d
        .document_key
        .as_ref()
        .ok_or_else(|| malformed("DeliveryData without an encrypted DocumentKey"))?;
    if doc.algorithm.as_deref() != Some(ALG_RSA_OAEP) {
        return Err(CpixError::UnsupportedAlgorithm {
            element: "DocumentKey EncryptionMethod (keyward reads rsa-oaep-mgf1p)",
        });
    }
    if d.mac_method.as_deref() != Some(ALG_HMAC_SHA512) {
        return Err(CpixError::UnsupportedAlgorithm {
            element:
                "MACMethod (keyward reads hmac-sha512, and refuses encrypted keys without a MAC)",
        });
    }
    let mac = d
        .mac_key
        .as_ref()
        .ok_or_else(|| malformed("MACMethod without an encrypted Key"))?;
    if mac.algorithm.as_deref() != Some(ALG_RSA_OAEP) {
        return Err(CpixError::UnsupportedAlgorithm {
            element: "MACMethod Key EncryptionMethod (keyward reads rsa-oaep-mgf1p)",
        });
    }
    let document_key = unwrap(key, &doc.cipher, "document key")?;
    let document_key: [u8; 32] =
        document_key
            .as_slice()
            .try_into()
            .map_err(|_| CpixError::Decrypt {
                what: "document key",
                reason: "the document key is not 256 bits",
            })?;
    let mac_key = unwrap(key, &mac.cipher, "MAC key")?;
    if mac_key.is_empty() || mac_key.len() > 256 {
        return Err(CpixError::Decrypt {
            what: "MAC key",
            reason: "the MAC key is empty or longer than 256 bytes",
        });
    }
    Ok(DocumentSecrets {
        document_key: zeroize::Zeroizing::new(document_key),
        mac_key,
    })
}

impl Document {
    /// Reads a document, refusing signed ones ([`SignaturePolicy::Refuse`]); decrypts the
    /// keys with `recipient` when given.
    ///
    /// # Errors
    /// As [`Document::read_with`].
    pub fn read(xml: &[u8], recipient: Option<&RsaPrivateKey>) -> Result<Document, CpixError> {
        Self::read_with(
            xml,
            &ReadOptions {
                recipient,
                signatures: SignaturePolicy::Refuse,
            },
        )
    }

    /// Reads a document.
    ///
    /// Every `ValueMAC` is checked before its value is decrypted. Without a recipient key
    /// the encrypted keys are listed with `key: None` (so a document can be inspected
    /// without its recipient's key).
    ///
    /// # Errors
    /// The parsing errors of [`super::Request::parse`]; `cpix_signature_unsupported` /
    /// `cpix_bad_signature` / `cpix_untrusted_signer` per the signature policy;
    /// `cpix_no_recipient_key` when no `DeliveryData` is addressed to the recipient key;
    /// `cpix_unsupported_algorithm`; `cpix_key_unwrap`; `cpix_bad_mac` (an altered value);
    /// `cpix_decrypt`.
    pub fn read_with(xml: &[u8], options: &ReadOptions<'_>) -> Result<Document, CpixError> {
        let doc = xml::parse(xml)?;
        let raw = read_cpix(&doc.root)?;
        let verified_signatures = match options.signatures {
            SignaturePolicy::Refuse if raw.signature_count > 0 => {
                return Err(CpixError::SignatureUnsupported {
                    reason: "the document is signed and this read does not verify signatures; read it with SignaturePolicy::Verify and the signer's certificate, or remove the signatures",
                });
            }
            SignaturePolicy::Refuse => 0,
            SignaturePolicy::Verify { trusted_signers } => {
                dsig::verify_all(&doc.root, trusted_signers)?
            }
        };
        raw.check_references()?;
        let any_encrypted = raw
            .keys
            .iter()
            .any(|k| matches!(k.secret, Some(RawSecret::Encrypted { .. })));
        let secrets = match options.recipient {
            Some(key) if any_encrypted => Some(open_delivery(&raw, key)?),
            _ => None,
        };
        let mut content_keys = Vec::with_capacity(raw.keys.len());
        for k in &raw.keys {
            let (key, encrypted) = match &k.secret {
                None => (None, false),
                Some(RawSecret::Plain(bytes)) => (
                    Some(
                        ContentKey::from_slice(bytes)
                            .map_err(|_| malformed("a PlainValue is not a 16-byte key"))?,
                    ),
                    false,
                ),
                Some(RawSecret::Encrypted {
                    algorithm,
                    cipher,
                    mac,
                }) => match &secrets {
                    None => (None, true),
                    Some(s) => {
                        if algorithm.as_deref() != Some(ALG_AES256_CBC) {
                            return Err(CpixError::UnsupportedAlgorithm {
                                element: "content key EncryptionMethod (keyward reads aes256-cbc)",
                            });
                        }
                        let mac = mac.as_deref().ok_or(CpixError::BadMac { kid: k.kid })?;
                        (Some(s.open(k.kid, cipher, mac)?), true)
                    }
                },
            };
            content_keys.push(DocumentContentKey {
                kid: k.kid,
                key,
                encrypted,
                explicit_iv: k.explicit_iv,
                common_encryption_scheme: k.scheme.clone(),
            });
        }
        let mut drm_systems = Vec::with_capacity(raw.drms.len());
        for d in &raw.drms {
            let hls = |master: bool| -> Result<Option<Vec<u8>>, CpixError> {
                d.hls
                    .iter()
                    .find(|(p, _)| match p.as_deref() {
                        None | Some("media") => !master,
                        Some(_) => master,
                    })
                    .map(|(_, t)| b64(t, "HLSSignalingData is not base64"))
                    .transpose()
            };
            drm_systems.push(DrmSystem {
                kid: d.kid,
                system_id: d.system_id,
                name: d.name.clone(),
                pssh: opt_b64(&d.pssh, "PSSH is not base64")?,
                content_protection_data: opt_b64(
                    &d.content_protection_data,
                    "ContentProtectionData is not base64",
                )?,
                uri_ext_x_key: opt_b64(&d.uri_ext_x_key, "URIExtXKey is not base64")?,
                hls_media: hls(false)?,
                hls_master: hls(true)?,
                smooth_streaming: d.smooth_streaming.as_ref().map(|t| t.trim().to_owned()),
                speke_protection_header: opt_b64(
                    &d.speke_protection_header,
                    "speke:ProtectionHeader is not base64",
                )?,
                speke_key_format: opt_b64(&d.speke_key_format, "speke:KeyFormat is not base64")?,
                speke_key_format_versions: opt_b64(
                    &d.speke_key_format_versions,
                    "speke:KeyFormatVersions is not base64",
                )?,
            });
        }
        let recipients = raw
            .deliveries
            .iter()
            .filter_map(|d| d.certificate.clone())
            .map(|der| Recipient {
                certificate_der: der,
            })
            .collect();
        Ok(Document {
            id: raw.id,
            content_id: raw.content_id,
            version: raw.version,
            name: raw.name,
            content_keys,
            drm_systems,
            periods: raw.periods,
            usage_rules: raw.rules,
            recipients,
            verified_signatures,
        })
    }
}
