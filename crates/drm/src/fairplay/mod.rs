//! FairPlay Streaming: a Key Security Module's wire formats, pure (no I/O).
//!
//! * [`envelope`]: the SPC's clear header (the certificate hash selects the
//!   tenant's credential) and the envelopes players wrap SPCs and CKCs in;
//! * [`credential`]: the tenant's FPS certificate, private key and ASk;
//! * [`spc`]: opening an SPC — RSA-OAEP unwrap of the SPC key, payload
//!   decryption, TLLVs, then SK‖HU‖R1 under the DASk with its integrity check;
//! * [`ckc`]: the CKC for an opened SPC (and a reader for CKCs);
//! * [`tllv`]: the TLLV blocks both are made of.
//!
//! Apple's D function (`DASk = D(R2, ASk)`) is not public and not here: the
//! caller obtains the DASk for [`spc::OpenedSpc::r2`] from a provider and passes
//! it to [`spc::OpenedSpc::unlock`]. [`SDK_TEST_DASK`] is the fixed DASk of
//! Apple's SDK test vectors, for tests and demos only.
//!
//! Formats follow protocols.md §4 (from the MIT-licensed easonlin404/ksm and
//! Apple's SDK test vectors). SPC version 1 (RSA-1024 certificates) is opened;
//! version 2 is split (its certificate hash is readable) but refused with
//! 7318, as is every other version.

pub mod ckc;
pub mod credential;
pub mod envelope;
pub mod spc;
pub mod tllv;

pub use ckc::{CkcContent, CkcContents, KeyDuration};
pub use credential::{Ask, FpsCertificate, FpsCredential, SpcKey};
pub use envelope::{
    answer, read_request, spc_from_body, CkcFormat, Envelope, Spc, SpcHeader, SpcRequest,
    MAX_BODY_LEN, MAX_SPC_LEN, SPC_HEADER_LEN,
};
pub use spc::{OpenedSpc, PlaybackState, SpcSession, SpcTllv};

/// The DASk of Apple's FPS Server SDK test vectors (what the SDK's test D
/// function returns for every input). Useless with production credentials.
pub const SDK_TEST_DASK: [u8; 16] = [
    0xd8, 0x7c, 0xe7, 0xa2, 0x60, 0x81, 0xde, 0x2e, 0x8e, 0xb8, 0xac, 0xef, 0x3a, 0x6d, 0xc1, 0x79,
];
