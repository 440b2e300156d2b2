//! CPIX 2.x (DASH-IF Content Protection Information Exchange) and AWS SPEKE v1 / v2
//! documents: reading packagers' key requests, answering them, and reading documents
//! that carry keys.
//!
//! Pure functions over bytes, like the rest of this crate: the server parses a
//! [`Request`], resolves each [`KeySlot`] to a key from its store (asynchronously, its
//! business), and calls [`respond`] with the [`ResolvedKey`]s, a [`Signalling`]
//! configuration and a [`Delivery`] mode.
//!
//! ```text
//! let request = Request::parse(body)?;            // SPEKE v2: request.check_speke_v2()?
//! let slots = request.key_slots();                // → the server's key store
//! let xml = respond(&request, &resolved, &signalling, Delivery::requested_by(&request))?;
//! ```
//!
//! # Decisions
//!
//! * **Namespaces by URI.** Elements are matched by namespace URI (`urn:dashif:org:cpix`,
//!   PSKC, XML-Enc, XML-DSig, `urn:aws:amazon:com:speke`), never by prefix.
//! * **Bounded input.** Documents over 1 MiB, nesting deeper than 32, more than 50 000
//!   elements or 1024 entries in a list, DTDs and non-predefined entities are refused.
//! * **Versions.** `CPIX@version` must be 2.x when present; a request without one, or
//!   with SPEKE-namespace elements, is [`Dialect::SpekeV1`]. SPEKE v2's stricter profile
//!   (CPIX 2.3 / 2.4, mandatory lists, the encryption contract) is
//!   [`Request::check_speke_v2`], which the server applies when the request carries
//!   `X-Speke-Version: 2.x`.
//! * **Kids.** The server may answer with kids of its own: the response carries the
//!   resolved kid in `ContentKey`, `DRMSystem` and `ContentKeyUsageRule` alike. Two
//!   requested keys cannot be answered with the same kid (`cpix_duplicate_kid`).
//! * **Unknown DRM systems** are kept in the request and echoed in the answer without
//!   signalling: the keys are still delivered, and the packager sees that keyward had
//!   nothing to say for that system. [`Request::unsupported_systems`] lists them for a
//!   server that prefers to refuse.
//! * **Signalling** (see [`respond`]): Widevine = v0 `pssh` with Widevine PSSH data
//!   (kid, provider, content id, protection scheme, crypto period index);
//!   PlayReady = PlayReady Object (WRMHEADER 4.0 by default, 4.3 for AES-CBC keys) in a
//!   `pssh`, in `ContentProtectionData` as `cenc:pssh` + `mspr:pro`, in
//!   `SmoothStreamingProtectionHeaderData` and SPEKE v1 `speke:ProtectionHeader`; HLS
//!   signalling for both is `METHOD=SAMPLE-AES` (`cbcs`) or `SAMPLE-AES-CTR` (`cenc`)
//!   with a `data:` URI; FairPlay = `skd://<kid hex>` by default (what keyward's FairPlay
//!   back door maps back to the key), `KEYFORMAT="com.apple.streamingkeydelivery"`,
//!   `KEYFORMATVERSIONS="1"`; W3C common / Clear Key = v1 common `pssh` listing the kid
//!   (+ DASH-IF `Laurl` for Clear Key when configured); HLS AES-128 = the configured key
//!   URI, `KEYFORMAT="identity"`. `HLSSignalingData` is base64 of the whole
//!   `#EXT-X-KEY` (media) / `#EXT-X-SESSION-KEY` (master) line. SPEKE v1 reads
//!   `URIExtXKey` (the URI), `speke:KeyFormat` and `speke:KeyFormatVersions` (base64 of
//!   the `KEYFORMAT` / `KEYFORMATVERSIONS` values) and `speke:ProtectionHeader` (base64
//!   PlayReady Object): each is filled when the request lists it.
//! * **Encrypted delivery** ([`Delivery::Encrypted`]): see [`delivery`](self#encrypted-delivery)
//!   below; recipient certificates must be RSA ≥ 2048 bits and not signed with MD2, MD5
//!   or SHA-1. 2048 is SPEKE's mandated size, so the DASH-IF vectors'
//!   `WeakCert_SmallKey.cer` (RSA-2048, which the Axinom reference library calls weak)
//!   is accepted; `WeakCert_Sha1.cer` is refused.
//! * **Signatures.** Requests carrying XML signatures are refused
//!   (`cpix_signature_unsupported`): SPEKE excludes them and keyward authenticates
//!   packagers at the HTTP layer. [`Document::read`] refuses signed documents too; a
//!   caller that knows the signer reads them with [`SignaturePolicy::Verify`] and the
//!   signer's certificate, which verifies every signature (C14N, digests, RSA) and
//!   requires the content keys to be covered. The DASH-IF `Invalid_Bad*Signature`
//!   vectors are refused either way.
//! * **Secrets stay secret.** Errors never carry key material or unbounded input;
//!   `Debug` of a [`ResolvedKey`] or [`DocumentContentKey`] prints the key as `***`.
//!
//! # Encrypted delivery
//!
//! One random 256-bit document key and one random 512-bit HMAC key per document, each
//! wrapped with RSA-OAEP (SHA-1, MGF1-SHA-1: `xmlenc#rsa-oaep-mgf1p`) for every recipient
//! (`DeliveryData/DocumentKey`, `DeliveryData/MACMethod/Key`), so the RSA work grows with
//! the recipients, not with the keys. Each content key is
//! `IV ‖ AES-256-CBC(document key, IV, key, PKCS#7)` in `CipherValue`, with
//! `ValueMAC` = HMAC-SHA512 over those bytes; [`Document::read`] checks every MAC before
//! it decrypts.

mod delivery;
mod document;
mod dsig;
mod error;
mod model;
mod request;
mod respond;
mod signalling;
mod xml;

pub use delivery::{check_recipient_certificate, MAX_CERTIFICATE_LEN, MIN_RECIPIENT_RSA_BITS};
pub use document::{Document, DocumentContentKey, DrmSystem, ReadOptions, SignaturePolicy};
pub use error::CpixError;
pub use model::{
    AudioFilter, BitrateFilter, KnownSystem, Period, Recipient, UsageRule, VideoFilter,
    CLEARKEY_SYSTEM_ID, CLEAR_AES128_SYSTEM_ID, HLS_AES128_SYSTEM_ID, MAX_LIST_LEN,
};
pub use request::{track_type_of, Dialect, KeySlot, Request, RequestedDrm, RequestedKey, Wants};
pub use respond::{respond, Delivery, ResolvedKey};
pub use signalling::{FairPlayUri, Signalling};
pub use xml::{MAX_ATTRIBUTES, MAX_DEPTH, MAX_DOCUMENT_LEN, MAX_ELEMENTS};
