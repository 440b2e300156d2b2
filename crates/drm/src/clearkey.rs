//! W3C EME Clear Key: license requests, release messages and the responses to both.
//!
//! Clear Key is the one DRM keyward issues licenses for itself, so this module owns both
//! directions (protocols.md §1):
//!
//! * request `{"kids":["<b64url>",…],"type":"temporary"|"persistent-license"}`;
//! * release `{"kids":[…]}` — sent by a persistent session's `remove()`. The spec's release
//!   message has no `type`, so **a body with `kids` but no `type` member is a release**.
//!   (shaka-player adds `type` itself for old CDMs, so a genuine request without `type` is
//!   not expected from current players.)
//! * response: a JWK Set with unpadded base64url `kid`/`k`; release ack `{"kids":[…]}`.
//!
//! Why lenient KID text but strict everything else: players disagree on padding and
//! alphabet (§1.2), so both base64 alphabets, padded or not, are accepted; but each KID must
//! decode to exactly 16 bytes, the body is capped at [`MAX_BODY_LEN`] and the list at
//! [`MAX_KIDS`] so a request cannot make us look up an unbounded number of keys.
//! Responses are written by hand, not through a serializer, so their bytes (member order,
//! no whitespace) are fixed and testable — the Chromium CDM was verified against exactly
//! this shape.

use serde_json::Value;

use crate::error::DrmError;
pub use crate::keys::{ContentKey, Kid};

/// Largest ClearKey message body accepted, in bytes (64 KiB).
pub const MAX_BODY_LEN: usize = 64 * 1024;

/// Most key IDs accepted in one message (counted before duplicates are removed): as many
/// as one `pssh` box may list ([`crate::pssh::MAX_KIDS_PER_BOX`]), because a browser asks
/// for every kid of the init data — rotated content lists a key per track and crypto
/// period (shaka-packager asks for 10 periods at a time: 50 kids for 5 tracks).
pub const MAX_KIDS: usize = 256;

/// The EME `MediaKeySessionType` of a Clear Key session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionType {
    /// `"temporary"`: keys live as long as the session. The default in responses.
    Temporary,
    /// `"persistent-license"`: the CDM may store the license; removal sends a release.
    PersistentLicense,
}

impl SessionType {
    /// The JSON spelling (`"temporary"` / `"persistent-license"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Temporary => "temporary",
            Self::PersistentLicense => "persistent-license",
        }
    }
}

/// A parsed Clear Key message from the CDM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClearKeyMessage {
    /// A license request: send keys for `kids`.
    LicenseRequest {
        /// Requested key IDs, duplicates removed, first-seen order kept. Never empty.
        kids: Vec<Kid>,
        /// The session type the CDM asked for.
        session_type: SessionType,
    },
    /// A license release (no `type` member): acknowledge with [`release_ack`].
    Release {
        /// Released key IDs, duplicates removed, first-seen order kept. Never empty.
        kids: Vec<Kid>,
    },
}

impl ClearKeyMessage {
    /// Parses a Clear Key request or release body.
    ///
    /// Members other than `kids` and `type` are ignored.
    ///
    /// # Errors
    /// 7406 body over [`MAX_BODY_LEN`]; 7401 not a UTF-8 JSON object; 7402 `kids` absent or
    /// empty; 7407 `kids` not an array; 7404 more than [`MAX_KIDS`] entries; 7403 an entry
    /// that is not a string of base64(url) text decoding to 16 bytes; 7405 `type` present but
    /// not `"temporary"`/`"persistent-license"`.
    pub fn parse(body: &[u8]) -> Result<Self, DrmError> {
        if body.len() > MAX_BODY_LEN {
            return Err(DrmError::ClearKeyBodyTooLarge {
                len: body.len(),
                limit: MAX_BODY_LEN,
            });
        }
        let value: Value =
            serde_json::from_slice(body).map_err(|_| DrmError::ClearKeyNotJsonObject)?;
        let Value::Object(object) = value else {
            return Err(DrmError::ClearKeyNotJsonObject);
        };
        let entries = match object.get("kids") {
            None => return Err(DrmError::ClearKeyNoKids),
            Some(Value::Array(entries)) => entries,
            Some(_) => return Err(DrmError::ClearKeyKidsNotArray),
        };
        if entries.is_empty() {
            return Err(DrmError::ClearKeyNoKids);
        }
        if entries.len() > MAX_KIDS {
            return Err(DrmError::ClearKeyTooManyKids {
                count: entries.len(),
                limit: MAX_KIDS,
            });
        }
        let mut kids: Vec<Kid> = Vec::with_capacity(entries.len());
        for (index, entry) in entries.iter().enumerate() {
            let kid = entry
                .as_str()
                .and_then(|t| Kid::from_b64(t).ok())
                .ok_or(DrmError::ClearKeyMalformedKid { index })?;
            if !kids.contains(&kid) {
                kids.push(kid);
            }
        }
        match object.get("type") {
            None => Ok(Self::Release { kids }),
            Some(Value::String(s)) if s == "temporary" => Ok(Self::LicenseRequest {
                kids,
                session_type: SessionType::Temporary,
            }),
            Some(Value::String(s)) if s == "persistent-license" => Ok(Self::LicenseRequest {
                kids,
                session_type: SessionType::PersistentLicense,
            }),
            Some(_) => Err(DrmError::ClearKeyUnknownSessionType),
        }
    }

    /// The key IDs of either message kind.
    pub fn kids(&self) -> &[Kid] {
        match self {
            Self::LicenseRequest { kids, .. } | Self::Release { kids } => kids,
        }
    }
}

/// Builds the Clear Key license (a JWK Set), compact, members in the order
/// `kty`, `kid`, `k`, then the top-level `type`:
/// `{"keys":[{"kty":"oct","kid":"<b64url>","k":"<b64url>"}],"type":"temporary"}`.
///
/// The CDM rejects a set without keys, so callers should answer an empty match with an
/// error instead of calling this with an empty slice.
pub fn license_response(keys: &[(Kid, ContentKey)], session_type: SessionType) -> String {
    let mut out = String::with_capacity(32 + keys.len() * 80);
    out.push_str("{\"keys\":[");
    for (i, (kid, key)) in keys.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        // base64url text never needs JSON escaping.
        out.push_str("{\"kty\":\"oct\",\"kid\":\"");
        out.push_str(&kid.b64url());
        out.push_str("\",\"k\":\"");
        out.push_str(&key.b64url());
        out.push_str("\"}");
    }
    out.push_str("],\"type\":\"");
    out.push_str(session_type.as_str());
    out.push_str("\"}");
    out
}

/// Builds the release acknowledgement `{"kids":["<b64url>",…]}`.
pub fn release_ack(kids: &[Kid]) -> String {
    let mut out = String::with_capacity(12 + kids.len() * 25);
    out.push_str("{\"kids\":[");
    for (i, kid) in kids.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        out.push_str(&kid.b64url());
        out.push('"');
    }
    out.push_str("]}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kid() -> Kid {
        Kid::from_hex("abba271e8bcf552bbd2e86a434a9a5d9").unwrap()
    }

    fn key() -> ContentKey {
        let mut b = [0u8; 16];
        hex::decode_to_slice("69eaa802a6763af979e8d1940fb88392", &mut b).unwrap();
        ContentKey::new(b)
    }

    #[test]
    fn parses_chromium_request() {
        let body = br#"{"kids":["q7onHovPVSu9LoakNKml2Q"],"type":"temporary"}"#;
        assert_eq!(body.len(), 54);
        assert_eq!(
            ClearKeyMessage::parse(body).unwrap(),
            ClearKeyMessage::LicenseRequest {
                kids: vec![kid()],
                session_type: SessionType::Temporary
            }
        );
    }

    #[test]
    fn parses_persistent_and_release() {
        let body = br#"{"type":"persistent-license","kids":["q7onHovPVSu9LoakNKml2Q"],"x":1}"#;
        assert_eq!(
            ClearKeyMessage::parse(body).unwrap(),
            ClearKeyMessage::LicenseRequest {
                kids: vec![kid()],
                session_type: SessionType::PersistentLicense
            }
        );
        let release = ClearKeyMessage::parse(br#"{"kids":["q7onHovPVSu9LoakNKml2Q"]}"#).unwrap();
        assert_eq!(release, ClearKeyMessage::Release { kids: vec![kid()] });
        assert_eq!(release.kids(), &[kid()]);
    }

    #[test]
    fn accepts_padding_and_standard_alphabet_and_dedupes() {
        let other = Kid::new([0xfb; 16]);
        // 0xfb repeated encodes with '+' and '/' in the standard alphabet.
        let std_text = "+/v7+/v7+/v7+/v7+/v7+w==";
        let body = format!(
            r#"{{"kids":["q7onHovPVSu9LoakNKml2Q==","{std_text}","q7onHovPVSu9LoakNKml2Q","-_v7-_v7-_v7-_v7-_v7-w"],"type":"temporary"}}"#
        );
        let msg = ClearKeyMessage::parse(body.as_bytes()).unwrap();
        assert_eq!(msg.kids(), &[kid(), other]);
    }

    #[test]
    fn refuses_bad_bodies_with_codes() {
        let cases: &[(&[u8], u16)] = &[
            (b"", 7401),
            (b"not json", 7401),
            (b"[1,2]", 7401),
            (b"\"kids\"", 7401),
            (
                b"{\"kids\":[\"q7onHovPVSu9LoakNKml2Q\"],\"type\":\"temporary\"",
                7401,
            ),
            (b"\xff\xfe{}", 7401),
            (b"{}", 7402),
            (b"{\"type\":\"temporary\"}", 7402),
            (b"{\"kids\":[],\"type\":\"temporary\"}", 7402),
            (b"{\"kids\":\"q7onHovPVSu9LoakNKml2Q\"}", 7407),
            (b"{\"kids\":null}", 7407),
            (b"{\"kids\":[5]}", 7403),
            (b"{\"kids\":[\"q7onHovPVSu9LoakNKml\"]}", 7403),
            (b"{\"kids\":[\"q7onHovPVSu9LoakNKml2Q2Q\"]}", 7403),
            (b"{\"kids\":[\"q7on HovPVSu9LoakNKml2Q\"]}", 7403),
            (
                b"{\"kids\":[\"q7onHovPVSu9LoakNKml2Q\"],\"type\":\"Temporary\"}",
                7405,
            ),
            (
                b"{\"kids\":[\"q7onHovPVSu9LoakNKml2Q\"],\"type\":null}",
                7405,
            ),
            (b"{\"kids\":[\"q7onHovPVSu9LoakNKml2Q\"],\"type\":1}", 7405),
        ];
        for (body, code) in cases {
            let err = ClearKeyMessage::parse(body).unwrap_err();
            assert_eq!(
                err.code(),
                *code,
                "{:?} -> {err}",
                String::from_utf8_lossy(body)
            );
        }
        let bad_second = br#"{"kids":["q7onHovPVSu9LoakNKml2Q","!!"],"type":"temporary"}"#;
        assert_eq!(
            ClearKeyMessage::parse(bad_second).unwrap_err(),
            DrmError::ClearKeyMalformedKid { index: 1 }
        );
    }

    #[test]
    fn refuses_300_kids() {
        let list = vec!["\"q7onHovPVSu9LoakNKml2Q\""; 300].join(",");
        let body = format!(r#"{{"kids":[{list}],"type":"temporary"}}"#);
        let err = ClearKeyMessage::parse(body.as_bytes()).unwrap_err();
        assert_eq!(
            err,
            DrmError::ClearKeyTooManyKids {
                count: 300,
                limit: 256
            }
        );
        assert_eq!(err.code(), 7404);
        let list = vec!["\"q7onHovPVSu9LoakNKml2Q\""; 256].join(",");
        let body = format!(r#"{{"kids":[{list}],"type":"temporary"}}"#);
        assert_eq!(
            ClearKeyMessage::parse(body.as_bytes())
                .unwrap()
                .kids()
                .len(),
            1
        );
    }

    #[test]
    fn refuses_oversized_body() {
        let mut body = br#"{"kids":["q7onHovPVSu9LoakNKml2Q"],"type":"temporary","pad":""#.to_vec();
        body.resize(MAX_BODY_LEN - 2, b'a');
        body.extend_from_slice(b"\"}");
        assert_eq!(body.len(), MAX_BODY_LEN);
        assert!(ClearKeyMessage::parse(&body).is_ok());
        body.insert(body.len() - 2, b'a');
        let err = ClearKeyMessage::parse(&body).unwrap_err();
        assert_eq!(
            err,
            DrmError::ClearKeyBodyTooLarge {
                len: MAX_BODY_LEN + 1,
                limit: MAX_BODY_LEN
            }
        );
        assert_eq!(err.code(), 7406);
    }

    #[test]
    fn license_response_exact_bytes() {
        assert_eq!(
            license_response(&[(kid(), key())], SessionType::Temporary),
            r#"{"keys":[{"kty":"oct","kid":"q7onHovPVSu9LoakNKml2Q","k":"aeqoAqZ2Ovl56NGUD7iDkg"}],"type":"temporary"}"#
        );
        let other = Kid::new([0xfb; 16]);
        assert_eq!(
            license_response(
                &[(kid(), key()), (other, ContentKey::new([0; 16]))],
                SessionType::PersistentLicense
            ),
            concat!(
                r#"{"keys":[{"kty":"oct","kid":"q7onHovPVSu9LoakNKml2Q","k":"aeqoAqZ2Ovl56NGUD7iDkg"},"#,
                r#"{"kty":"oct","kid":"-_v7-_v7-_v7-_v7-_v7-w","k":"AAAAAAAAAAAAAAAAAAAAAA"}],"#,
                r#""type":"persistent-license"}"#
            )
        );
    }

    #[test]
    fn response_is_valid_json() {
        let text = license_response(&[(kid(), key())], SessionType::Temporary);
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["keys"][0]["k"], "aeqoAqZ2Ovl56NGUD7iDkg");
    }

    #[test]
    fn release_ack_exact_bytes() {
        assert_eq!(
            release_ack(&[kid()]),
            r#"{"kids":["q7onHovPVSu9LoakNKml2Q"]}"#
        );
        assert_eq!(
            release_ack(&[kid(), Kid::new([0xfb; 16])]),
            r#"{"kids":["q7onHovPVSu9LoakNKml2Q","-_v7-_v7-_v7-_v7-_v7-w"]}"#
        );
        assert_eq!(release_ack(&[]), r#"{"kids":[]}"#);
    }

    #[test]
    fn errors_never_echo_kids() {
        let body = br#"{"kids":["q7onHovPVSu9LoakNKml2Qxx"],"type":"temporary"}"#;
        let msg = ClearKeyMessage::parse(body).unwrap_err().to_string();
        assert!(!msg.contains("q7on"), "{msg}");
    }
}
