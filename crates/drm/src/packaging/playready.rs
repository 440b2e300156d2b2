//! PlayReady's packaging key method, `AcquirePackagingData`: a packager posts a
//! SOAP request naming a program (`ProgramIdentifier`) and gets back the content
//! key (`KeyId`, `KeyData`) and the PlayReady Object to put in the content
//! (`ProtectionSystem/Data`). This is what `shaka-packager
//! --enable_playready_encryption --playready_server_url … --program_identifier …`
//! calls; it reads the first `<KeyId>` (GUID text in CENC byte order, dashes
//! ignored), `<KeyData>` (base64) and `<Data>` (base64 PRO) of the answer, so
//! those elements are written without prefix or attributes.
//!
//! Bad requests are answered with a SOAP 1.1 fault (`soap:Client`), failures of
//! keyward with `soap:Server`; the fault string is static text, never input.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::playready::walk;
use crate::pssh::SystemId;
use crate::{ContentKey, Kid};

/// Largest request body accepted (64 KiB; shaka-packager's are ~900 bytes).
pub const MAX_BODY: usize = 64 * 1024;
/// Longest program identifier accepted, bytes.
pub const MAX_PROGRAM_IDENTIFIER: usize = 256;

/// A refused packaging request (static reason, never input).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct PackagingError {
    /// `true` for the client's fault (`soap:Client`), `false` for keyward's (`soap:Server`).
    pub client: bool,
    /// Why.
    pub reason: &'static str,
}

impl PackagingError {
    /// A fault of the request.
    pub const fn client(reason: &'static str) -> Self {
        Self {
            client: true,
            reason,
        }
    }

    /// A fault of keyward.
    pub const fn server(reason: &'static str) -> Self {
        Self {
            client: false,
            reason,
        }
    }

    /// The stable code: `playready_packaging_request` or `playready_packaging_server`.
    pub const fn code(&self) -> &'static str {
        if self.client {
            "playready_packaging_request"
        } else {
            "playready_packaging_server"
        }
    }
}

/// An `AcquirePackagingData` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackagingRequest {
    /// `ProgramIdentifier`: keyward's content id.
    pub program_identifier: String,
    /// `OffsetFromProgramStart` as sent (e.g. `P0S`), when present.
    pub offset: Option<String>,
    /// The protection systems asked for (PlayReady at least).
    pub protection_systems: Vec<SystemId>,
}

fn parse_guid(text: &str) -> Option<SystemId> {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    let bytes: [u8; 16] = hex::decode(hex).ok()?.try_into().ok()?;
    Some(SystemId(bytes))
}

impl PackagingRequest {
    /// Parses the SOAP request.
    ///
    /// # Errors
    /// A client fault when the body is over [`MAX_BODY`], not UTF-8, not
    /// well-formed XML, not a SOAP `Envelope/Body/AcquirePackagingData`, has no
    /// `ProgramIdentifier` (or one over [`MAX_PROGRAM_IDENTIFIER`] bytes or with
    /// control characters), or does not ask for PlayReady.
    pub fn parse(body: &[u8]) -> Result<PackagingRequest, PackagingError> {
        let bad = PackagingError::client;
        if body.len() > MAX_BODY {
            return Err(bad("request body larger than 64 KiB"));
        }
        let body = body.strip_prefix(b"\xef\xbb\xbf").unwrap_or(body);
        let text = std::str::from_utf8(body).map_err(|_| bad("request body is not UTF-8"))?;
        let mut root_ok = false;
        let mut method = false;
        let mut program = None;
        let mut offset = None;
        let mut systems = Vec::new();
        let mut bad_system = false;
        walk(text, |names, el| {
            let name = el.name.as_str();
            match names {
                [] => root_ok = name == "Envelope",
                ["Envelope", "Body"] if name == "AcquirePackagingData" => method = true,
                [.., "StreamInformation"] if name == "ProgramIdentifier" && program.is_none() => {
                    program = Some(el.text.trim().to_owned());
                }
                [.., "StreamInformation"] if name == "OffsetFromProgramStart" => {
                    offset = Some(el.text.trim().to_owned());
                }
                [.., "ProtectionSystems"] if name == "ProtectionSystemId" => {
                    match parse_guid(el.text.trim()) {
                        Some(id) if systems.len() < 16 => systems.push(id),
                        Some(_) => {}
                        None => bad_system = true,
                    }
                }
                _ => {}
            }
            Ok(())
        })
        .map_err(|_| bad("request is not well-formed XML"))?;
        if !root_ok || !method {
            return Err(bad("request is not a SOAP AcquirePackagingData call"));
        }
        if bad_system {
            return Err(bad("a ProtectionSystemId is not a GUID"));
        }
        let program = program
            .filter(|p| !p.is_empty())
            .ok_or(bad("no ProgramIdentifier"))?;
        if program.len() > MAX_PROGRAM_IDENTIFIER || program.chars().any(char::is_control) {
            return Err(bad(
                "ProgramIdentifier longer than 256 bytes or with control characters",
            ));
        }
        if !systems.is_empty() && !systems.contains(&SystemId::PLAYREADY) {
            return Err(bad("the request does not ask for PlayReady"));
        }
        if systems.is_empty() {
            systems.push(SystemId::PLAYREADY);
        }
        Ok(PackagingRequest {
            program_identifier: program,
            offset,
            protection_systems: systems,
        })
    }
}

fn escape(text: &str) -> String {
    quick_xml::escape::escape(text).into_owned()
}

const ENVELOPE_OPEN: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\" \
xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\"><soap:Body>";
const ENVELOPE_CLOSE: &str = "</soap:Body></soap:Envelope>";

/// The answer: the key (`KeyId` as a GUID in CENC byte order, `KeyData` base64)
/// and the PlayReady Object (`pro`) for the program.
pub fn answer(request: &PackagingRequest, kid: &Kid, key: &ContentKey, pro: &[u8]) -> String {
    let mut x = String::with_capacity(1024 + pro.len() * 2);
    x.push_str(ENVELOPE_OPEN);
    x.push_str(
        "<AcquirePackagingDataResponse xmlns=\"http://schemas.microsoft.com/DRM/2007/03/protocols\">\
<AcquirePackagingDataResult>\
<Response xmlns=\"http://schemas.microsoft.com/DRM/2007/03/protocols/AcquirePackagingData/v1.0\">\
<StreamProtectionResponses><StreamProtectionResponse><StreamInformation><ProgramIdentifier>",
    );
    x.push_str(&escape(&request.program_identifier));
    x.push_str("</ProgramIdentifier><OffsetFromProgramStart>");
    x.push_str(&escape(request.offset.as_deref().unwrap_or("P0S")));
    x.push_str("</OffsetFromProgramStart></StreamInformation><ContentKeys><ContentKey><KeyId>");
    x.push_str(&kid.to_uuid_string().to_ascii_uppercase());
    x.push_str("</KeyId><KeyData>");
    x.push_str(&STANDARD.encode(key.expose()));
    x.push_str("</KeyData></ContentKey></ContentKeys><ProtectionSystems><ProtectionSystem><ProtectionSystemId>");
    x.push_str(
        &Kid(SystemId::PLAYREADY.0)
            .to_uuid_string()
            .to_ascii_uppercase(),
    );
    x.push_str("</ProtectionSystemId><Data>");
    x.push_str(&STANDARD.encode(pro));
    x.push_str(
        "</Data></ProtectionSystem></ProtectionSystems></StreamProtectionResponse>\
</StreamProtectionResponses></Response></AcquirePackagingDataResult></AcquirePackagingDataResponse>",
    );
    x.push_str(ENVELOPE_CLOSE);
    x
}

/// A SOAP 1.1 fault for a refused request.
pub fn fault(error: &PackagingError) -> String {
    let code = if error.client {
        "soap:Client"
    } else {
        "soap:Server"
    };
    format!(
        "{ENVELOPE_OPEN}<soap:Fault><faultcode>{code}</faultcode><faultstring>{}</faultstring>\
<detail><code>{}</code></detail></soap:Fault>{ENVELOPE_CLOSE}",
        escape(error.reason),
        error.code()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playready::{HeaderKey, PlayReadyHeader, PlayReadyObject, WrmHeaderVersion};

    /// The request shaka-packager builds (its `kAcquireLicenseRequest` with the
    /// program identifier put in place), as captured here.
    fn shaka_request(program: &str) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soap:Envelope xmlns=\"http://schemas.xmlsoap.org/soap/envelope/\" \
xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" \
xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body><AcquirePackagingData \
xmlns=\"http://schemas.microsoft.com/DRM/2007/03/protocols\"><challenge \
xmlns=\"http://schemas.microsoft.com/DRM/2007/03/protocols/AcquirePackagingData/v1.0\"><ProtectionSystems>\
<ProtectionSystemId>9A04F079-9840-4286-AB92-E65BE0885F95</ProtectionSystemId></ProtectionSystems>\
<StreamProtectionRequests><StreamInformation><ProgramIdentifier>{program}</ProgramIdentifier>\
<OffsetFromProgramStart>P0S</OffsetFromProgramStart></StreamInformation></StreamProtectionRequests>\
</challenge></AcquirePackagingData></soap:Body></soap:Envelope>"
        )
    }

    /// What shaka-packager does with the answer: plain string search for the first
    /// `<KeyId>`, `<KeyData>` and `<Data>`.
    fn shaka_read(answer: &str) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let text = |tag: &str| {
            let start = answer.find(&format!("<{tag}>")).unwrap() + tag.len() + 2;
            let end = answer.find(&format!("</{tag}>")).unwrap();
            answer[start..end].to_owned()
        };
        let kid = hex::decode(text("KeyId").replace('-', "")).unwrap();
        let key = STANDARD.decode(text("KeyData")).unwrap();
        let pro = STANDARD.decode(text("Data")).unwrap();
        (kid, key, pro)
    }

    #[test]
    fn shaka_request_round_trip() {
        let req = PackagingRequest::parse(shaka_request("prog-001").as_bytes()).unwrap();
        assert_eq!(req.program_identifier, "prog-001");
        assert_eq!(req.offset.as_deref(), Some("P0S"));
        assert_eq!(req.protection_systems, [SystemId::PLAYREADY]);

        let kid = Kid::from_hex("abba271e8bcf552bbd2e86a434a9a5d9").unwrap();
        let key = ContentKey::new(
            hex::decode("69eaa802a6763af979e8d1940fb88392")
                .unwrap()
                .try_into()
                .unwrap(),
        );
        let pro = PlayReadyHeader {
            version: WrmHeaderVersion::V4_0,
            keys: vec![HeaderKey::aes_ctr(kid, &key)],
            la_url: Some("http://127.0.0.1:1/ri/licenseManager.do?a=1&b=2".into()),
            custom_attributes: vec![],
        }
        .to_pro()
        .unwrap();
        let answer = answer(&req, &kid, &key, &pro);
        let (k, v, p) = shaka_read(&answer);
        assert_eq!(k, kid.0);
        assert_eq!(v, key.expose());
        assert_eq!(p, pro);
        assert!(answer.contains("<KeyId>ABBA271E-8BCF-552B-BD2E-86A434A9A5D9</KeyId>"));
        // The PRO's own checksum is the verified one (protocols.md §3.1).
        let xml = PlayReadyObject::parse(&p)
            .unwrap()
            .wrm_header_xml()
            .unwrap()
            .unwrap();
        assert!(xml.contains("<KID>Hie6q8+LK1W9LoakNKml2Q==</KID>"), "{xml}");
        assert!(xml.contains("<CHECKSUM>BB31ycMlSig=</CHECKSUM>"), "{xml}");
        // Markup in the program identifier is escaped in the echo.
        let req = PackagingRequest::parse(shaka_request("a&amp;b").as_bytes()).unwrap();
        assert_eq!(req.program_identifier, "a&b");
        assert!(super::answer(&req, &kid, &key, &pro)
            .contains("<ProgramIdentifier>a&amp;b</ProgramIdentifier>"));
    }

    #[test]
    fn bad_requests_are_client_faults() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"".to_vec(), "request is not well-formed XML"),
            (vec![0xff, 0xfe], "request body is not UTF-8"),
            (b"<a><b></a>".to_vec(), "request is not well-formed XML"),
            (
                b"<Envelope><Body><AcquireLicense/></Body></Envelope>".to_vec(),
                "request is not a SOAP AcquirePackagingData call",
            ),
            (shaka_request("").into_bytes(), "no ProgramIdentifier"),
            (
                shaka_request(&"x".repeat(257)).into_bytes(),
                "ProgramIdentifier longer than 256 bytes or with control characters",
            ),
            (
                shaka_request("a&#1;b").into_bytes(),
                "ProgramIdentifier longer than 256 bytes or with control characters",
            ),
            (
                shaka_request("p")
                    .replace(
                        "9A04F079-9840-4286-AB92-E65BE0885F95",
                        "EDEF8BA9-79D6-4ACE-A3C8-27DCD51D21ED",
                    )
                    .into_bytes(),
                "the request does not ask for PlayReady",
            ),
            (
                shaka_request("p")
                    .replace("9A04F079-9840-4286-AB92-E65BE0885F95", "not-a-guid")
                    .into_bytes(),
                "a ProtectionSystemId is not a GUID",
            ),
            (vec![b' '; MAX_BODY + 1], "request body larger than 64 KiB"),
        ];
        for (body, reason) in cases {
            let e = PackagingRequest::parse(&body).unwrap_err();
            assert!(e.client);
            assert_eq!(
                e.reason,
                reason,
                "{}",
                String::from_utf8_lossy(&body[..body.len().min(80)])
            );
        }
        // Unescaped markup (shaka-packager inserts the identifier verbatim) is refused.
        assert!(PackagingRequest::parse(shaka_request("a<b").as_bytes()).is_err());
    }

    #[test]
    fn faults_are_soap_and_never_echo_input() {
        let f = fault(&PackagingError::client("no ProgramIdentifier"));
        assert!(
            f.contains(
                "<faultcode>soap:Client</faultcode><faultstring>no ProgramIdentifier</faultstring>"
            ),
            "{f}"
        );
        assert!(f.contains("<code>playready_packaging_request</code>"));
        let f = fault(&PackagingError::server("storage unavailable"));
        assert!(f.contains("<faultcode>soap:Server</faultcode>"));
    }
}
