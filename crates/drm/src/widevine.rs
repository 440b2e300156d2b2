//! Classifying Widevine license challenges without a CDM.
//!
//! keyward never issues Widevine licenses (that needs Widevine's cloud or SDK), but before
//! it brokers a challenge upstream it wants to know *what* is being asked: a service
//! certificate, or a license for which key IDs / content ID, new or renewal or release. All
//! of that sits in clear protobuf fields of the challenge (protocols.md §2.4):
//!
//! ```text
//! SignedMessage { 1 type, 2 msg = LicenseRequest { 2 content_id = ContentIdentification {
//!     1 widevine_pssh_data { 1 pssh_data (repeated WidevinePsshData), 2 license_type, 3 request_id }
//!     3 existing_license   (renewal / release)
//!     4 init_data { 1 init_data_type (1 CENC), 2 init_data (pssh boxes), 3 license_type, 4 request_id }
//! }, 3 type (1 NEW, 2 RENEWAL, 3 RELEASE) } }
//! ```
//!
//! Field numbers are public facts of `license_protocol.proto`; no code from it is used.
//! The signature cannot be checked without Widevine's device root, so it is not looked at.
//! Why strict: anything that is not a service-certificate request or a `LICENSE_REQUEST`
//! with a decodable `LicenseRequest` is refused with 7107 before it costs an upstream call.

use crate::error::DrmError;
use crate::keys::Kid;
use crate::proto::{Reader, WireValue};
use crate::pssh::{PsshBox, SystemId, WidevinePsshData};

/// Largest challenge accepted (64 KiB; real ones are a few KiB).
pub const MAX_CHALLENGE_LEN: usize = 64 * 1024;

/// Most distinct key IDs collected from one challenge.
pub const MAX_KEY_IDS: usize = 256;

/// `SignedMessage.type` LICENSE_REQUEST.
const MSG_LICENSE_REQUEST: u64 = 1;
/// `SignedMessage.type` SERVICE_CERTIFICATE_REQUEST.
const MSG_SERVICE_CERTIFICATE_REQUEST: u64 = 4;

/// `LicenseRequest.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestType {
    /// 1, a first license for the content (the default when the field is absent).
    New,
    /// 2, renewal of an existing license.
    Renewal,
    /// 3, release of a persistent license.
    Release,
    /// Any other value, kept for logging.
    Other(u64),
}

/// `LicenseType` of the requested license.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LicenseType {
    /// 1, streaming (not persisted).
    Streaming,
    /// 2, offline (persistent).
    Offline,
    /// 3, automatic (server decides).
    Automatic,
    /// Any other value.
    Other(u64),
}

/// What a Widevine challenge asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WidevineChallenge {
    /// A service certificate request (`08 04`, `SignedMessage{type: 4}`); a gateway may answer
    /// it from a cached certificate.
    ServiceCertificateRequest,
    /// A license request.
    #[non_exhaustive]
    LicenseRequest {
        /// Key IDs named by the PSSH data, duplicates removed, order kept. Empty for
        /// renewals and releases, which name an existing license instead.
        key_ids: Vec<Kid>,
        /// `content_id` of the first PSSH data that has one.
        content_id: Option<Vec<u8>>,
        /// `provider` of the first PSSH data that has one.
        provider: Option<String>,
        /// New, renewal or release.
        request_type: RequestType,
        /// The license type asked for, when the content identification carries one.
        license_type: Option<LicenseType>,
    },
}

fn bad(reason: &'static str) -> DrmError {
    DrmError::WidevineBadChallenge { reason }
}

/// Collected while walking the content identification.
#[derive(Default)]
struct Found {
    key_ids: Vec<Kid>,
    content_id: Option<Vec<u8>>,
    provider: Option<String>,
    license_type: Option<LicenseType>,
}

impl Found {
    fn absorb(&mut self, data: WidevinePsshData) -> Result<(), DrmError> {
        for kid in data.key_ids {
            if !self.key_ids.contains(&kid) {
                if self.key_ids.len() == MAX_KEY_IDS {
                    return Err(bad("more than 256 key IDs"));
                }
                self.key_ids.push(kid);
            }
        }
        if self.content_id.is_none() {
            self.content_id = data.content_id;
        }
        if self.provider.is_none() {
            self.provider = data.provider;
        }
        Ok(())
    }
}

impl WidevineChallenge {
    /// Classifies a Widevine challenge body.
    ///
    /// # Errors
    /// 7107 when the body is empty, larger than [`MAX_CHALLENGE_LEN`], not protobuf, a
    /// `SignedMessage` of another type, missing its `msg`, or when the `LicenseRequest` or
    /// its PSSH data cannot be decoded.
    pub fn parse(body: &[u8]) -> Result<Self, DrmError> {
        if body.is_empty() {
            return Err(bad("empty body"));
        }
        if body.len() > MAX_CHALLENGE_LEN {
            return Err(bad("body larger than 64 KiB"));
        }
        let mut msg_type = None;
        let mut msg = None;
        let mut reader = Reader::new(body);
        while let Some((field, value)) = reader.next_field().map_err(bad)? {
            match (field, value) {
                (1, WireValue::Varint(v)) => msg_type = Some(v),
                (2, WireValue::Bytes(b)) => msg = Some(b),
                (1 | 2, _) => return Err(bad("SignedMessage field has wrong wire type")),
                _ => {}
            }
        }
        match (msg_type, msg) {
            (Some(MSG_SERVICE_CERTIFICATE_REQUEST), _) => Ok(Self::ServiceCertificateRequest),
            (Some(MSG_LICENSE_REQUEST), Some(msg)) => parse_license_request(msg),
            (Some(MSG_LICENSE_REQUEST), None) => Err(bad("LICENSE_REQUEST without msg")),
            (Some(_), _) => Err(bad("SignedMessage type is not a request")),
            (None, _) => Err(bad("SignedMessage has no type")),
        }
    }
}

fn parse_license_request(msg: &[u8]) -> Result<WidevineChallenge, DrmError> {
    let mut request_type = RequestType::New;
    let mut content_identification = None;
    let mut reader = Reader::new(msg);
    while let Some((field, value)) = reader.next_field().map_err(bad)? {
        match (field, value) {
            (2, WireValue::Bytes(b)) => content_identification = Some(b),
            (3, WireValue::Varint(v)) => {
                request_type = match v {
                    1 => RequestType::New,
                    2 => RequestType::Renewal,
                    3 => RequestType::Release,
                    n => RequestType::Other(n),
                }
            }
            (2 | 3, _) => return Err(bad("LicenseRequest field has wrong wire type")),
            _ => {}
        }
    }
    let mut found = Found::default();
    if let Some(ci) = content_identification {
        parse_content_identification(ci, &mut found)?;
    } else if request_type == RequestType::New {
        return Err(bad("new LicenseRequest without content_id"));
    }
    Ok(WidevineChallenge::LicenseRequest {
        key_ids: found.key_ids,
        content_id: found.content_id,
        provider: found.provider,
        request_type,
        license_type: found.license_type,
    })
}

fn license_type(v: u64) -> LicenseType {
    match v {
        1 => LicenseType::Streaming,
        2 => LicenseType::Offline,
        3 => LicenseType::Automatic,
        n => LicenseType::Other(n),
    }
}

fn parse_content_identification(ci: &[u8], found: &mut Found) -> Result<(), DrmError> {
    let mut reader = Reader::new(ci);
    while let Some((field, value)) = reader.next_field().map_err(bad)? {
        match (field, value) {
            // widevine_pssh_data (older name: cenc_id)
            (1, WireValue::Bytes(b)) => parse_widevine_pssh_data(b, found)?,
            // init_data
            (4, WireValue::Bytes(b)) => parse_init_data(b, found)?,
            // webm_key_id (2) and existing_license (3) carry no PSSH data.
            (2 | 3, WireValue::Bytes(_)) => {}
            (1..=4, _) => return Err(bad("ContentIdentification field has wrong wire type")),
            _ => {}
        }
    }
    Ok(())
}

fn parse_widevine_pssh_data(b: &[u8], found: &mut Found) -> Result<(), DrmError> {
    let mut reader = Reader::new(b);
    while let Some((field, value)) = reader.next_field().map_err(bad)? {
        match (field, value) {
            (1, WireValue::Bytes(pssh_data)) => {
                let data = WidevinePsshData::decode(pssh_data)
                    .map_err(|_| bad("pssh_data is not Widevine PSSH data"))?;
                found.absorb(data)?;
            }
            (2, WireValue::Varint(v)) => found.license_type = Some(license_type(v)),
            (3, WireValue::Bytes(_)) => {}
            (1..=3, _) => return Err(bad("WidevinePsshData field has wrong wire type")),
            _ => {}
        }
    }
    Ok(())
}

fn parse_init_data(b: &[u8], found: &mut Found) -> Result<(), DrmError> {
    let mut init_type = 1;
    let mut init = None;
    let mut reader = Reader::new(b);
    while let Some((field, value)) = reader.next_field().map_err(bad)? {
        match (field, value) {
            (1, WireValue::Varint(v)) => init_type = v,
            (2, WireValue::Bytes(data)) => init = Some(data),
            (3, WireValue::Varint(v)) => found.license_type = Some(license_type(v)),
            (4, WireValue::Bytes(_)) => {}
            (1..=4, _) => return Err(bad("InitData field has wrong wire type")),
            _ => {}
        }
    }
    // Only CENC init data (pssh boxes) names key IDs we can read; WebM init data is the
    // key ID itself.
    match (init_type, init) {
        (1, Some(data)) => {
            let boxes = PsshBox::parse_all(data).map_err(|_| bad("init_data is not pssh boxes"))?;
            for pssh in boxes {
                if pssh.system_id == SystemId::WIDEVINE {
                    let data = WidevinePsshData::decode(&pssh.data)
                        .map_err(|_| bad("Widevine pssh box data is not Widevine PSSH data"))?;
                    found.absorb(data)?;
                }
                let listed = WidevinePsshData {
                    key_ids: pssh.key_ids,
                    ..WidevinePsshData::default()
                };
                found.absorb(listed)?;
            }
        }
        (2, Some(data)) => {
            if let Ok(kid) = Kid::from_slice(data) {
                found.absorb(WidevinePsshData {
                    key_ids: vec![kid],
                    ..Default::default()
                })?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{put_bytes_field, put_varint_field};

    fn kid(n: u8) -> Kid {
        Kid::new([n; 16])
    }

    fn pssh_data(kids: &[Kid]) -> Vec<u8> {
        WidevinePsshData {
            algorithm: Some(1),
            key_ids: kids.to_vec(),
            provider: Some("widevine_test".into()),
            content_id: Some(b"01234567".to_vec()),
            ..Default::default()
        }
        .encode()
    }

    fn signed(msg_type: u64, msg: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        put_varint_field(&mut out, 1, msg_type);
        put_bytes_field(&mut out, 2, msg);
        put_bytes_field(&mut out, 3, &[0xaa; 32]); // signature, never checked
        out
    }

    fn license_request(content_id: Option<&[u8]>, request_type: Option<u64>) -> Vec<u8> {
        let mut lr = Vec::new();
        put_bytes_field(&mut lr, 1, b"\x08\x01\x12\x05token"); // client_id
        if let Some(ci) = content_id {
            put_bytes_field(&mut lr, 2, ci);
        }
        if let Some(t) = request_type {
            put_varint_field(&mut lr, 3, t);
        }
        put_varint_field(&mut lr, 4, 1_700_000_000);
        put_varint_field(&mut lr, 6, 21);
        lr
    }

    fn widevine_pssh_data_ci(datas: &[Vec<u8>], license_type: u64) -> Vec<u8> {
        let mut wpd = Vec::new();
        for d in datas {
            put_bytes_field(&mut wpd, 1, d);
        }
        put_varint_field(&mut wpd, 2, license_type);
        put_bytes_field(&mut wpd, 3, b"987654321");
        let mut ci = Vec::new();
        put_bytes_field(&mut ci, 1, &wpd);
        ci
    }

    #[test]
    fn service_certificate_requests() {
        assert_eq!(
            WidevineChallenge::parse(&[0x08, 0x04]).unwrap(),
            WidevineChallenge::ServiceCertificateRequest
        );
        let mut longer = Vec::new();
        put_varint_field(&mut longer, 1, 4);
        put_bytes_field(&mut longer, 7, b"version");
        assert_eq!(
            WidevineChallenge::parse(&longer).unwrap(),
            WidevineChallenge::ServiceCertificateRequest
        );
    }

    #[test]
    fn license_request_with_widevine_pssh_data() {
        let ci = widevine_pssh_data_ci(
            &[pssh_data(&[kid(1), kid(2)]), pssh_data(&[kid(2), kid(3)])],
            1,
        );
        let body = signed(1, &license_request(Some(&ci), Some(1)));
        assert_eq!(
            WidevineChallenge::parse(&body).unwrap(),
            WidevineChallenge::LicenseRequest {
                key_ids: vec![kid(1), kid(2), kid(3)],
                content_id: Some(b"01234567".to_vec()),
                provider: Some("widevine_test".into()),
                request_type: RequestType::New,
                license_type: Some(LicenseType::Streaming),
            }
        );
    }

    #[test]
    fn license_request_with_cenc_init_data() {
        let mut boxes = PsshBox::v0(SystemId::WIDEVINE, pssh_data(&[kid(7)])).to_bytes();
        boxes.extend(PsshBox::common(&[kid(7), kid(8)]).to_bytes());
        boxes.extend(PsshBox::v0(SystemId::PLAYREADY, b"ignored".to_vec()).to_bytes());
        let mut init = Vec::new();
        put_varint_field(&mut init, 1, 1);
        put_bytes_field(&mut init, 2, &boxes);
        put_varint_field(&mut init, 3, 2);
        let mut ci = Vec::new();
        put_bytes_field(&mut ci, 4, &init);
        let body = signed(1, &license_request(Some(&ci), None));
        let WidevineChallenge::LicenseRequest {
            key_ids,
            license_type,
            request_type,
            ..
        } = WidevineChallenge::parse(&body).unwrap()
        else {
            panic!("not a license request")
        };
        assert_eq!(key_ids, vec![kid(7), kid(8)]);
        assert_eq!(license_type, Some(LicenseType::Offline));
        assert_eq!(request_type, RequestType::New);
    }

    #[test]
    fn renewal_and_release_without_pssh() {
        let mut ci = Vec::new();
        put_bytes_field(&mut ci, 3, b"\x0a\x02id");
        for (t, want) in [
            (2, RequestType::Renewal),
            (3, RequestType::Release),
            (9, RequestType::Other(9)),
        ] {
            let body = signed(1, &license_request(Some(&ci), Some(t)));
            let WidevineChallenge::LicenseRequest {
                key_ids,
                request_type,
                content_id,
                ..
            } = WidevineChallenge::parse(&body).unwrap()
            else {
                panic!("not a license request")
            };
            assert!(key_ids.is_empty());
            assert_eq!(content_id, None);
            assert_eq!(request_type, want);
        }
        let body = signed(1, &license_request(None, Some(2)));
        assert!(WidevineChallenge::parse(&body).is_ok());
    }

    #[test]
    fn garbage_is_7107() {
        let good_ci = widevine_pssh_data_ci(&[pssh_data(&[kid(1)])], 1);
        let bad_pssh_ci = widevine_pssh_data_ci(&[vec![0x12, 0x02, 1, 2]], 1);
        let mut bad_init = Vec::new();
        put_bytes_field(&mut bad_init, 2, b"not boxes");
        let mut bad_init_ci = Vec::new();
        put_bytes_field(&mut bad_init_ci, 4, &bad_init);
        let cases: Vec<Vec<u8>> = vec![
            vec![],
            vec![0x08],
            vec![0x08, 0x05],
            b"{\"kids\":[]}".to_vec(),
            b"<soap:Envelope/>".to_vec(),
            vec![0xff; 40],
            signed(2, &license_request(Some(&good_ci), None)), // a LICENSE, not a request
            {
                let mut v = Vec::new();
                put_varint_field(&mut v, 1, 1);
                v
            },
            signed(1, &license_request(None, Some(1))),
            signed(1, &license_request(Some(&bad_pssh_ci), None)),
            signed(1, &license_request(Some(&bad_init_ci), None)),
            signed(1, b"\x12\x05ab"),
            vec![0u8; MAX_CHALLENGE_LEN + 1],
        ];
        for case in cases {
            let err = WidevineChallenge::parse(&case).unwrap_err();
            assert_eq!(err.code(), 7107, "{case:02x?} -> {err}");
        }
    }
}
