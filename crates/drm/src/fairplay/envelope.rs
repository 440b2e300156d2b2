//! The SPC container's clear header, and the envelopes players wrap SPCs in.
//!
//! Accepted request bodies, tried in this order ([`read_request`]):
//! 1. JSON: Apple's `{"fairplay-streaming-request": {"create-ckc" | "streaming-keys":
//!    [{"id": …, "spc": "<base64>"}]}}`, or `{"spc": "<base64>", "assetId": …}`
//!    (easonlin404/ksm style);
//! 2. form `spc=<url-encoded base64>` (PallyCon, shaka), possibly among other form
//!    fields (`assetId`);
//! 3. a bare base64 body (some proxies);
//! 4. the raw SPC (modern EME `com.apple.fps`, videojs legacy, hls.js).
//!
//! The forms cannot be confused: a raw SPC starts with the big-endian version
//! `00 00 00 01`, which is neither base64 text nor `spc=` nor `{`. [`answer`] shapes
//! the CKC the way the request's envelope expects it back.
//!
//! SPC container (big-endian): u32 version, 4 reserved, 16 IV, wrapped key (128 bytes
//! in version 1, 256 in version 2), 20 certificate hash, u32 payload length, payload.

use serde_json::Value;

use crate::error::DrmError;

/// Largest SPC accepted, in bytes (64 KiB; Apple's SDK vectors are 2–4 KiB).
pub const MAX_SPC_LEN: usize = 64 * 1024;

/// Largest request body accepted: room for a URL-encoded base64 SPC of [`MAX_SPC_LEN`]
/// (base64 grows by 4/3, percent-encoding `+`, `/`, `=` up to 3x).
pub const MAX_BODY_LEN: usize = 4 * MAX_SPC_LEN;

/// Bytes before the payload of a version-1 SPC: 4 + 4 + 16 + 128 + 20 + 4.
pub const SPC_HEADER_LEN: usize = 176;

/// The wrapped-key size of an SPC version (`None`: a version keyward cannot
/// even split).
fn wrapped_len(version: u32) -> Option<usize> {
    match version {
        1 => Some(128),
        2 => Some(256),
        _ => None,
    }
}

/// The clear header of an SPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpcHeader {
    /// SPC format version (1 or 2).
    pub version: u32,
    /// The IV of the AES-128-CBC payload encryption.
    pub iv: [u8; 16],
    /// SHA-1 of the FPS application certificate (DER) the SPC was made for; selects the
    /// tenant / upstream.
    pub cert_hash: [u8; 20],
    /// Length of the encrypted payload in bytes.
    pub payload_len: u32,
}

/// An SPC split into its parts, borrowing from the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spc<'a> {
    /// The clear header fields.
    pub header: SpcHeader,
    /// The RSA-OAEP wrapped SPC key (128 bytes in version 1, 256 in version 2); only the
    /// tenant's private key opens it.
    pub wrapped_key: &'a [u8],
    /// The encrypted TLLV payload.
    pub payload: &'a [u8],
}

fn bad(reason: &'static str) -> DrmError {
    DrmError::FairPlayBadSpc { reason }
}

impl<'a> Spc<'a> {
    /// Splits raw SPC bytes.
    ///
    /// # Errors
    /// 7305 when `bytes` is empty; 7318 for a version 3–255; 7317 when the version is 0 or
    /// over 255 (not an SPC), or it is
    /// over [`MAX_SPC_LEN`], shorter than the header, or its payload length is zero, not a
    /// multiple of the AES block size, or differs from the bytes present.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, DrmError> {
        if bytes.is_empty() {
            return Err(DrmError::FairPlaySpcEmpty);
        }
        if bytes.len() > MAX_SPC_LEN {
            return Err(bad("SPC larger than 64 KiB"));
        }
        let word = |at: usize| -> Result<u32, DrmError> {
            bytes
                .get(at..at + 4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_be_bytes)
                .ok_or_else(|| bad("SPC shorter than its header"))
        };
        let version = word(0)?;
        if version == 0 || version > 0xff {
            return Err(bad("not an SPC: the version field is not a small number"));
        }
        let wrapped =
            wrapped_len(version).ok_or(DrmError::FairPlayUnsupportedVersion { version })?;
        let header_len = 4 + 4 + 16 + wrapped + 20 + 4;
        let (head, payload) = bytes
            .split_at_checked(header_len)
            .ok_or_else(|| bad("SPC shorter than its header"))?;
        let field = |from: usize, to: usize| head.get(from..to).ok_or_else(|| bad("short header"));
        let iv: [u8; 16] = field(8, 24)?.try_into().map_err(|_| bad("short header"))?;
        let wrapped_key = field(24, 24 + wrapped)?;
        let cert_hash: [u8; 20] = field(24 + wrapped, 44 + wrapped)?
            .try_into()
            .map_err(|_| bad("short header"))?;
        let payload_len = word(44 + wrapped)?;
        if payload_len as usize != payload.len() {
            return Err(bad("payload length disagrees with the SPC size"));
        }
        if payload_len == 0 || payload_len % 16 != 0 {
            return Err(bad("payload length is not a positive multiple of 16"));
        }
        Ok(Self {
            header: SpcHeader {
                version,
                iv,
                cert_hash,
                payload_len,
            },
            wrapped_key,
            payload,
        })
    }
}

impl SpcHeader {
    /// Reads the header of raw SPC bytes (see [`Spc::parse`] for the checks).
    ///
    /// # Errors
    /// As [`Spc::parse`].
    pub fn parse(bytes: &[u8]) -> Result<Self, DrmError> {
        Spc::parse(bytes).map(|spc| spc.header)
    }
}

/// Percent-decodes one `application/x-www-form-urlencoded` value. `+` becomes a space.
fn form_decode(value: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while let Some(&b) = value.get(i) {
        match b {
            b'%' => {
                let hex = value.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    Some(out)
}

/// Decodes base64 SPC text. Whitespace is dropped; a space stands for `+` (a base64 body
/// sent as a form without percent-encoding loses its `+` signs to spaces).
fn decode_base64_spc(text: &[u8]) -> Result<Vec<u8>, DrmError> {
    let cleaned: String = text
        .iter()
        .filter_map(|&b| match b {
            b' ' => Some('+'),
            b'\r' | b'\n' | b'\t' => None,
            other => Some(char::from(other)),
        })
        .collect();
    if cleaned.is_empty() {
        return Err(DrmError::FairPlaySpcEmpty);
    }
    let spc = crate::b64::decode_lenient(&cleaned).ok_or_else(|| bad("SPC is not base64"))?;
    if spc.is_empty() {
        return Err(DrmError::FairPlaySpcEmpty);
    }
    if spc.len() > MAX_SPC_LEN {
        return Err(bad("SPC larger than 64 KiB"));
    }
    Ok(spc)
}

fn is_base64_text(body: &[u8]) -> bool {
    body.iter().all(|&b| {
        b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_' | b'=' | b'\r' | b'\n')
    })
}

/// How the player wrapped its SPC; the CKC goes back the same way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Envelope {
    /// The raw SPC; answered with the raw CKC.
    Raw,
    /// A bare base64 body; answered with base64 text.
    Base64,
    /// A form with `spc=`; answered with base64 text (PallyCon, shaka).
    Form,
    /// JSON `{"spc": …}`; answered with `{"ckc": "<base64>"}`.
    Json,
    /// Apple's JSON; answered with `{"fairplay-streaming-response": {<list>: [{"id",
    /// "ckc"}]}}`.
    Apple {
        /// The list name the request used (`create-ckc` or `streaming-keys`).
        list: &'static str,
        /// The request item's `id`, echoed.
        id: Value,
    },
}

/// What a FairPlay licence request carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpcRequest {
    /// The SPC bytes (still to be split with [`Spc::parse`]).
    pub spc: Vec<u8>,
    /// How it was wrapped.
    pub envelope: Envelope,
    /// An asset id sent beside the SPC (`assetId`, `asset-id`, `uri`), if any; the
    /// SPC's own asset id is what keyward checks.
    pub asset_id: Option<String>,
}

/// The shape of a CKC answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CkcFormat {
    /// As the request's envelope expects.
    Auto,
    /// Raw bytes.
    Raw,
    /// Base64 text.
    Base64,
    /// `<ckc>base64</ckc>` (shaka's FairPlay tutorial, some vendors).
    Xml,
    /// `{"ckc": "<base64>"}`.
    Json,
}

impl CkcFormat {
    /// From a `ckc_format` query value.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "auto" => Self::Auto,
            "raw" => Self::Raw,
            "base64" => Self::Base64,
            "xml" => Self::Xml,
            "json" => Self::Json,
            _ => return None,
        })
    }
}

/// The CKC as the HTTP answer body: (media type, bytes).
pub fn answer(envelope: &Envelope, format: CkcFormat, ckc: &[u8]) -> (&'static str, Vec<u8>) {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    let b64 = || STANDARD.encode(ckc);
    let json = |v: Value| ("application/json", v.to_string().into_bytes());
    match (format, envelope) {
        (CkcFormat::Raw, _) | (CkcFormat::Auto, Envelope::Raw) => {
            ("application/octet-stream", ckc.to_vec())
        }
        (CkcFormat::Base64, _) | (CkcFormat::Auto, Envelope::Base64 | Envelope::Form) => {
            ("text/plain", b64().into_bytes())
        }
        (CkcFormat::Xml, _) => ("text/xml", format!("<ckc>{}</ckc>", b64()).into_bytes()),
        (CkcFormat::Json, _) | (CkcFormat::Auto, Envelope::Json) => {
            json(serde_json::json!({ "ckc": b64() }))
        }
        (CkcFormat::Auto, Envelope::Apple { list, id }) => json(serde_json::json!({
            "fairplay-streaming-response": { "version": 1, *list: [{ "id": id, "ckc": b64() }] }
        })),
    }
}

fn json_str(v: &Value, names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|n| v.get(*n).and_then(Value::as_str))
        .map(|s| s.chars().take(256).collect())
}

fn read_json(trimmed: &[u8]) -> Result<SpcRequest, DrmError> {
    let value: Value =
        serde_json::from_slice(trimmed).map_err(|_| bad("JSON body is not valid JSON"))?;
    if let Some(req) = value.get("fairplay-streaming-request") {
        let (list, items) = ["create-ckc", "streaming-keys"]
            .iter()
            .find_map(|l| req.get(*l).map(|v| (*l, v)))
            .ok_or_else(|| bad("fairplay-streaming-request has no create-ckc list"))?;
        let item = match items.as_array().map(Vec::as_slice) {
            Some([one]) => one,
            Some([]) => return Err(DrmError::FairPlaySpcEmpty),
            Some(_) => return Err(bad("keyward answers one SPC per request")),
            None => return Err(bad("create-ckc is not a list")),
        };
        let spc = match item.get("spc") {
            Some(Value::String(s)) => decode_base64_spc(s.as_bytes())?,
            Some(_) => return Err(bad("spc member is not a string")),
            None => return Err(DrmError::FairPlaySpcEmpty),
        };
        let id = match item.get("id") {
            Some(v @ (Value::Number(_) | Value::String(_))) => v.clone(),
            Some(_) => return Err(bad("id member is not a number or string")),
            None => Value::from(1),
        };
        if let Value::String(s) = &id {
            if s.len() > 64 {
                return Err(bad("id member longer than 64 bytes"));
            }
        }
        return Ok(SpcRequest {
            spc,
            envelope: Envelope::Apple { list, id },
            asset_id: json_str(item, &["asset-id", "assetId", "uri"]),
        });
    }
    let spc = match value.get("spc") {
        Some(Value::String(s)) => decode_base64_spc(s.as_bytes())?,
        Some(_) => return Err(bad("JSON spc member is not a string")),
        None => return Err(DrmError::FairPlaySpcEmpty),
    };
    Ok(SpcRequest {
        spc,
        envelope: Envelope::Json,
        asset_id: json_str(&value, &["assetId", "asset_id", "asset-id"]),
    })
}

/// Reads a FairPlay licence request body (JSON, form, bare base64 or raw; see the
/// module docs).
///
/// # Errors
/// 7305 when the body (or its `spc` value) is empty or whitespace, or a form / JSON
/// body has no `spc`; 7317 when the body is over [`MAX_BODY_LEN`], the `spc` value is
/// not base64, an Apple JSON list holds more than one SPC, or the decoded SPC is over
/// [`MAX_SPC_LEN`].
pub fn read_request(body: &[u8]) -> Result<SpcRequest, DrmError> {
    if body.len() > MAX_BODY_LEN {
        return Err(bad("request body larger than 256 KiB"));
    }
    let trimmed = body.trim_ascii();
    if trimmed.is_empty() {
        return Err(DrmError::FairPlaySpcEmpty);
    }
    if trimmed.first() == Some(&b'{') {
        return read_json(trimmed);
    }
    let fields: Vec<(&[u8], &[u8])> = if trimmed.iter().all(|b| b.is_ascii_graphic()) {
        trimmed
            .split(|&b| b == b'&')
            .filter_map(|f| {
                let eq = f.iter().position(|&b| b == b'=')?;
                Some((f.get(..eq)?, f.get(eq + 1..)?))
            })
            .collect()
    } else {
        Vec::new()
    };
    if let Some((_, value)) = fields.iter().find(|(name, _)| *name == b"spc") {
        let value = form_decode(value).ok_or_else(|| bad("bad percent-encoding"))?;
        let asset_id = fields
            .iter()
            .find(|(n, _)| *n == b"assetId" || *n == b"asset_id")
            .and_then(|(_, v)| form_decode(v))
            .map(|v| String::from_utf8_lossy(&v).chars().take(256).collect());
        return Ok(SpcRequest {
            spc: decode_base64_spc(&value)?,
            envelope: Envelope::Form,
            asset_id,
        });
    }
    // Bare base64: `=` may only appear as trailing padding.
    let unpadded = trimmed
        .strip_suffix(b"==")
        .or_else(|| trimmed.strip_suffix(b"="))
        .unwrap_or(trimmed);
    if is_base64_text(unpadded) && !unpadded.contains(&b'=') {
        return Ok(SpcRequest {
            spc: decode_base64_spc(trimmed)?,
            envelope: Envelope::Base64,
            asset_id: None,
        });
    }
    if !fields.is_empty() {
        // A form without an `spc` field.
        return Err(DrmError::FairPlaySpcEmpty);
    }
    if body.len() > MAX_SPC_LEN {
        return Err(bad("SPC larger than 64 KiB"));
    }
    Ok(SpcRequest {
        spc: body.to_vec(),
        envelope: Envelope::Raw,
        asset_id: None,
    })
}

/// The SPC bytes of a FairPlay licence request body (see [`read_request`]).
///
/// # Errors
/// As [`read_request`].
pub fn spc_from_body(body: &[u8]) -> Result<Vec<u8>, DrmError> {
    read_request(body).map(|r| r.spc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;

    fn synthetic(payload_len: usize) -> Vec<u8> {
        let mut spc = vec![0, 0, 0, 1, 0, 0, 0, 0];
        spc.extend_from_slice(&[0x11; 16]);
        spc.extend_from_slice(&[0x22; 128]);
        spc.extend_from_slice(&[0x33; 20]);
        spc.extend_from_slice(&(payload_len as u32).to_be_bytes());
        spc.extend(std::iter::repeat_n(0x44, payload_len));
        spc
    }

    #[test]
    fn splits_a_synthetic_spc() {
        let bytes = synthetic(32);
        let spc = Spc::parse(&bytes).unwrap();
        assert_eq!(
            spc.header,
            SpcHeader {
                version: 1,
                iv: [0x11; 16],
                cert_hash: [0x33; 20],
                payload_len: 32
            }
        );
        assert_eq!(spc.wrapped_key, &[0x22; 128][..]);
        assert_eq!(spc.payload, &[0x44; 32][..]);
    }

    #[test]
    fn splits_a_version_2_spc() {
        let mut spc = vec![0, 0, 0, 2, 0, 0, 0, 0];
        spc.extend_from_slice(&[0x11; 16]);
        spc.extend_from_slice(&[0x22; 256]);
        spc.extend_from_slice(&[0x33; 20]);
        spc.extend_from_slice(&32u32.to_be_bytes());
        spc.extend_from_slice(&[0x44; 32]);
        let s = Spc::parse(&spc).unwrap();
        assert_eq!(s.header.version, 2);
        assert_eq!(s.header.cert_hash, [0x33; 20]);
        assert_eq!(s.wrapped_key.len(), 256);
    }

    #[test]
    fn refuses_bad_spcs() {
        assert_eq!(Spc::parse(&[]).unwrap_err().code(), 7305);
        let mut cases = vec![synthetic(32)[..100].to_vec(), synthetic(0), synthetic(20)];
        for v in [3u8, 0xff] {
            let mut other = synthetic(32);
            other[3] = v;
            let e = Spc::parse(&other).unwrap_err();
            assert_eq!(e.code(), 7318);
            assert!(e.to_string().contains(&format!("version {v} ")), "{e}");
        }
        let mut zero = synthetic(32);
        zero[3] = 0;
        cases.push(zero);
        let mut big = synthetic(32);
        big[1] = 1;
        cases.push(big);
        // Version 2 has a 256-byte wrapped key: a v1-sized SPC labelled 2 is short.
        let mut v2 = synthetic(32);
        v2[3] = 2;
        cases.push(v2);
        let mut long = synthetic(32);
        long.push(0);
        cases.push(long);
        let mut lying = synthetic(32);
        lying[172..176].copy_from_slice(&u32::MAX.to_be_bytes());
        cases.push(lying);
        cases.push(synthetic(MAX_SPC_LEN));
        for case in cases {
            assert_eq!(
                SpcHeader::parse(&case).unwrap_err().code(),
                7317,
                "{} bytes",
                case.len()
            );
        }
    }

    #[test]
    fn accepts_every_body_form() {
        let spc = synthetic(32);
        let b64 = STANDARD.encode(&spc);
        let url_encoded = b64
            .replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D");
        let forms: Vec<Vec<u8>> = vec![
            spc.clone(),
            b64.clone().into_bytes(),
            format!("{b64}\r\n").into_bytes(),
            format!("spc={url_encoded}").into_bytes(),
            format!("assetId=abc&spc={url_encoded}&x=1").into_bytes(),
            format!("spc={b64}").into_bytes(), // '+' not escaped: read as space, restored
            format!(r#"{{"spc":"{b64}","assetId":"abc"}}"#).into_bytes(),
            STANDARD
                .encode(&spc)
                .replace('+', "-")
                .replace('/', "_")
                .trim_end_matches('=')
                .into(),
        ];
        for form in forms {
            assert_eq!(
                spc_from_body(&form).unwrap(),
                spc,
                "{}",
                String::from_utf8_lossy(&form)
            );
        }
    }

    #[test]
    fn refuses_bad_bodies() {
        let cases: Vec<(Vec<u8>, u16)> = vec![
            (vec![], 7305),
            (b" \r\n".to_vec(), 7305),
            (b"spc=".to_vec(), 7305),
            (b"assetId=abc".to_vec(), 7305),
            (b"{\"assetId\":\"abc\"}".to_vec(), 7305),
            (b"{\"spc\":\"\"}".to_vec(), 7305),
            (b"{\"spc\":5}".to_vec(), 7317),
            (b"{\"spc\":".to_vec(), 7317),
            (b"spc=%zz".to_vec(), 7317),
            (b"spc=!!!!".to_vec(), 7317),
            (b"spc=%2".to_vec(), 7317),
            (b"AAAAA".to_vec(), 7317),
            (vec![b'A'; MAX_BODY_LEN + 1], 7317),
            (vec![b'A'; MAX_BODY_LEN], 7317),
        ];
        for (body, code) in cases {
            let err = spc_from_body(&body).unwrap_err();
            assert_eq!(
                err.code(),
                code,
                "{} -> {err}",
                String::from_utf8_lossy(&body)
            );
        }
    }
}
