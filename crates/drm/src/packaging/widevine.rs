//! The Widevine key API: what a packager calls to get content keys and Widevine
//! PSSH data (`POST …/cenc/getcontentkey/<signer>`; shaka-packager's
//! `--enable_widevine_encryption --key_server_url … --signer … --aes_signing_key …`).
//!
//! The request is an envelope `{"request": b64(JSON), "signature": b64, "signer":
//! name}`. The inner JSON is protobuf-JSON with snake_case names: `content_id`
//! (b64 bytes) or `pssh_data` (b64 Widevine PSSH data), `tracks` (`[{"type":
//! "SD"}, …]`), `drm_types` (`["WIDEVINE"]`), `protection_scheme` (`CENC`,
//! `CBCS`, `CBC1`, `CENS`), `first_crypto_period_index` and
//! `crypto_period_count` for key rotation, `policy`. The signature is
//! `AES-256-CBC(key, iv, SHA-1(inner JSON bytes))`: packagers pad the 20-byte hash
//! either with PKCS#7 (shaka-packager) or with zeros (Widevine's sample proxies);
//! [`Envelope::verify`] decrypts and accepts exactly those two paddings.
//!
//! The answer is `{"response": b64(JSON)}` with `status` (`OK` or one of the
//! protocol's failure statuses, [`Status`]) and, when OK, `tracks`: per track
//! type (and per crypto period when rotating, periods in ascending order, each
//! period listing every requested type) the `key_id`, `key`, optional `iv`, and a
//! `pssh` list with one entry per requested DRM type (`data` = the system's PSSH
//! data, `boxes` = the complete `pssh` box). Failures answer HTTP 200 with the
//! status, as the protocol does; keyward adds a short `status_message` (no input
//! echoed) that shaka-packager prints in its error.

use aes::cipher::block_padding::{NoPadding, Pkcs7};
use aes::cipher::{BlockDecryptMut as _, BlockEncryptMut as _, KeyIvInit as _};
use aes::Aes256;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Map, Value};
use sha1::{Digest as _, Sha1};

use crate::playready::{HeaderKey, PlayReadyHeader, WrmHeaderVersion};
use crate::pssh::{PsshBox, SystemId, WidevinePsshData};
use crate::{ContentKey, Kid};
use keyward_types::TrackType;

/// Largest request body accepted (64 KiB; shaka-packager's are ~300 bytes).
pub const MAX_BODY: usize = 64 * 1024;
/// Most crypto periods one request may ask for (shaka-packager asks for 10).
pub const MAX_CRYPTO_PERIODS: u32 = 100;
/// Most track entries one request may list.
pub const MAX_TRACKS: usize = 16;

/// The statuses of the Widevine key API (`CommonEncryptionResponse.Status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Keys returned.
    Ok,
    /// The signature does not verify with the signer's key, or the signer is unknown.
    SignatureFailed,
    /// Neither `content_id` nor a `pssh_data` with a content id.
    ContentIdMissing,
    /// The `policy` names no policy keyward knows.
    PolicyUnknown,
    /// No tracks requested.
    TrackTypeMissing,
    /// A track type keyward does not know.
    TrackTypeUnknown,
    /// The request is not the protocol's JSON.
    MalformedRequest,
    /// The signer may not ask for this content.
    AccessDenied,
    /// keyward failed (storage); shaka-packager retries this status.
    InternalError,
    /// `pssh_data` is not Widevine PSSH data.
    InvalidWidevinePssh,
}

impl Status {
    /// The protocol's name for the status.
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::SignatureFailed => "SIGNATURE_FAILED",
            Status::ContentIdMissing => "CONTENT_ID_MISSING",
            Status::PolicyUnknown => "POLICY_UNKNOWN",
            Status::TrackTypeMissing => "TRACK_TYPE_MISSING",
            Status::TrackTypeUnknown => "TRACK_TYPE_UNKNOWN",
            Status::MalformedRequest => "MALFORMED_REQUEST",
            Status::AccessDenied => "ACCESS_DENIED",
            Status::InternalError => "INTERNAL_ERROR",
            Status::InvalidWidevinePssh => "INVALID_WIDEVINE_PSSH",
        }
    }
}

/// A refused key-API request: the protocol status and a short reason (static
/// text, never input).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{}: {reason}", status.as_str())]
pub struct KeyApiError {
    /// The status to answer with.
    pub status: Status,
    /// Why, for the operator and the packager's log.
    pub reason: &'static str,
}

impl KeyApiError {
    /// A refusal with `status` and `reason`.
    pub const fn new(status: Status, reason: &'static str) -> Self {
        Self { status, reason }
    }

    /// The stable code: the protocol status name.
    pub const fn code(&self) -> &'static str {
        self.status.as_str()
    }
}

fn malformed(reason: &'static str) -> KeyApiError {
    KeyApiError::new(Status::MalformedRequest, reason)
}

/// The outer envelope of a key-API request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The `signer` name (which credential signed the request).
    pub signer: String,
    /// The inner request JSON, as signed.
    pub request: Vec<u8>,
    /// The signature bytes (absent when the packager did not sign).
    pub signature: Option<Vec<u8>>,
}

impl Envelope {
    /// Parses the envelope JSON.
    ///
    /// # Errors
    /// `MALFORMED_REQUEST` when the body is over [`MAX_BODY`], not a JSON object,
    /// or `request` is missing or not base64; `SIGNATURE_FAILED` when `signer` is
    /// missing (keyward does not serve unsigned requests).
    pub fn parse(body: &[u8]) -> Result<Envelope, KeyApiError> {
        if body.len() > MAX_BODY {
            return Err(malformed("request body larger than 64 KiB"));
        }
        let value: Value =
            serde_json::from_slice(body).map_err(|_| malformed("request body is not JSON"))?;
        let obj = value
            .as_object()
            .ok_or_else(|| malformed("request body is not a JSON object"))?;
        let request = obj
            .get("request")
            .and_then(Value::as_str)
            .ok_or_else(|| malformed("no \"request\" string"))?;
        let request = STANDARD
            .decode(request)
            .map_err(|_| malformed("\"request\" is not base64"))?;
        let signature = match obj.get("signature") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(
                STANDARD
                    .decode(s)
                    .map_err(|_| malformed("\"signature\" is not base64"))?,
            ),
            Some(_) => return Err(malformed("\"signature\" is not a string")),
        };
        let signer = match obj.get("signer") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => {
                return Err(KeyApiError::new(
                    Status::SignatureFailed,
                    "no \"signer\": requests must be signed",
                ))
            }
        };
        Ok(Envelope {
            signer,
            request,
            signature,
        })
    }

    /// Verifies the signature with the signer's AES-256 key and IV.
    ///
    /// # Errors
    /// `SIGNATURE_FAILED` when there is no signature, it is not 32 bytes, or it
    /// does not decrypt to SHA-1 of the request padded with PKCS#7 or zeros.
    pub fn verify(&self, key: &[u8; 32], iv: &[u8; 16]) -> Result<(), KeyApiError> {
        let failed = |reason| KeyApiError::new(Status::SignatureFailed, reason);
        let signature = self
            .signature
            .as_deref()
            .ok_or_else(|| failed("the request carries no signature"))?;
        if signature.len() != 32 {
            return Err(failed("the signature is not 32 bytes"));
        }
        let mut plain = [0u8; 32];
        cbc::Decryptor::<Aes256>::new(key.into(), iv.into())
            .decrypt_padded_b2b_mut::<NoPadding>(signature, &mut plain)
            .map_err(|_| failed("the signature is not 32 bytes"))?;
        let hash = Sha1::digest(&self.request);
        let padding = &plain[20..];
        let padded_ok = padding.iter().all(|&b| b == 12) || padding.iter().all(|&b| b == 0);
        if !(crate::constant_time_eq(&plain[..20], &hash) && padded_ok) {
            return Err(failed("the signature does not match the signer's key"));
        }
        Ok(())
    }

    /// The inner request.
    ///
    /// # Errors
    /// As [`KeyRequest::parse`].
    pub fn key_request(&self) -> Result<KeyRequest, KeyApiError> {
        KeyRequest::parse(&self.request)
    }
}

/// A protection scheme named by the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `cenc` (AES-CTR).
    Cenc,
    /// `cbcs` (AES-CBC pattern).
    Cbcs,
    /// `cbc1`.
    Cbc1,
    /// `cens`.
    Cens,
}

impl Scheme {
    /// The 4CC as the Widevine PSSH data's `protection_scheme` carries it.
    pub const fn fourcc(self) -> u32 {
        match self {
            Scheme::Cenc => 0x6365_6e63,
            Scheme::Cbcs => 0x6362_6373,
            Scheme::Cbc1 => 0x6362_6331,
            Scheme::Cens => 0x6365_6e73,
        }
    }

    fn parse(value: &Value) -> Option<Scheme> {
        match value {
            Value::String(s) => match s.as_str() {
                "CENC" | "cenc" => Some(Scheme::Cenc),
                "CBCS" | "cbcs" => Some(Scheme::Cbcs),
                "CBC1" | "cbc1" => Some(Scheme::Cbc1),
                "CENS" | "cens" => Some(Scheme::Cens),
                _ => None,
            },
            Value::Number(n) => match n.as_u64()? {
                0x6365_6e63 => Some(Scheme::Cenc),
                0x6362_6373 => Some(Scheme::Cbcs),
                0x6362_6331 => Some(Scheme::Cbc1),
                0x6365_6e73 => Some(Scheme::Cens),
                _ => None,
            },
            _ => None,
        }
    }
}

/// A DRM type a request asks signalling for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrmType {
    /// `WIDEVINE`.
    Widevine,
    /// `PLAYREADY`.
    PlayReady,
}

impl DrmType {
    const fn as_str(self) -> &'static str {
        match self {
            DrmType::Widevine => "WIDEVINE",
            DrmType::PlayReady => "PLAYREADY",
        }
    }
}

/// Key rotation asked for: `count` crypto periods from `first`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// `first_crypto_period_index`.
    pub first: u32,
    /// `crypto_period_count` (1 to [`MAX_CRYPTO_PERIODS`]).
    pub count: u32,
}

impl Rotation {
    /// The period indexes asked for, ascending.
    pub fn periods(&self) -> impl Iterator<Item = u32> {
        let first = self.first;
        (0..self.count).filter_map(move |i| first.checked_add(i))
    }
}

/// The inner request of the key API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRequest {
    /// The content id bytes (from `content_id`, or from `pssh_data`).
    pub content_id: Vec<u8>,
    /// The requested track types, in request order, without repeats.
    pub tracks: Vec<TrackType>,
    /// DRM types to answer PSSH data for (`WIDEVINE` when the request names none).
    pub drm_types: Vec<DrmType>,
    /// `protection_scheme`, when given.
    pub protection_scheme: Option<Scheme>,
    /// Key rotation, when asked for.
    pub rotation: Option<Rotation>,
    /// `policy` (empty when absent).
    pub policy: String,
}

fn track_type(name: &str) -> Option<TrackType> {
    match name {
        "SD" => Some(TrackType::Sd),
        "HD" => Some(TrackType::Hd),
        "UHD1" => Some(TrackType::Uhd1),
        "UHD2" => Some(TrackType::Uhd2),
        "AUDIO" => Some(TrackType::Audio),
        _ => None,
    }
}

/// The key-API name of a track type (`SD`, `HD`, `UHD1`, `UHD2`, `AUDIO`; the
/// types the API has no name for answer `None`).
pub const fn track_name(t: TrackType) -> Option<&'static str> {
    match t {
        TrackType::Sd => Some("SD"),
        TrackType::Hd => Some("HD"),
        TrackType::Uhd1 => Some("UHD1"),
        TrackType::Uhd2 => Some("UHD2"),
        TrackType::Audio => Some("AUDIO"),
        TrackType::All | TrackType::AllVideo => None,
    }
}

/// A JSON number that is a non-negative integer (shaka-packager writes the
/// period index as a double without fraction).
fn integer(value: &Value) -> Option<u64> {
    value.as_u64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= 4_294_967_295.0)
            .map(|f| f as u64)
    })
}

impl KeyRequest {
    /// Parses the inner request JSON.
    ///
    /// # Errors
    /// `MALFORMED_REQUEST` (not a JSON object, wrong field types, bad base64, a
    /// bad protection scheme or rotation), `CONTENT_ID_MISSING`,
    /// `INVALID_WIDEVINE_PSSH`, `TRACK_TYPE_MISSING`, `TRACK_TYPE_UNKNOWN`.
    pub fn parse(bytes: &[u8]) -> Result<KeyRequest, KeyApiError> {
        if bytes.len() > MAX_BODY {
            return Err(malformed("request larger than 64 KiB"));
        }
        let value: Value =
            serde_json::from_slice(bytes).map_err(|_| malformed("request is not JSON"))?;
        let obj = value
            .as_object()
            .ok_or_else(|| malformed("request is not a JSON object"))?;
        let content_id = match (obj.get("content_id"), obj.get("pssh_data")) {
            (Some(Value::String(c)), _) if !c.is_empty() => STANDARD
                .decode(c)
                .map_err(|_| malformed("\"content_id\" is not base64"))?,
            (Some(Value::String(_)) | None | Some(Value::Null), Some(Value::String(p))) => {
                let bad = || KeyApiError::new(Status::InvalidWidevinePssh, "bad \"pssh_data\"");
                let data = STANDARD.decode(p).map_err(|_| bad())?;
                WidevinePsshData::decode(&data)
                    .map_err(|_| bad())?
                    .content_id
                    .filter(|c| !c.is_empty())
                    .ok_or(KeyApiError::new(
                        Status::ContentIdMissing,
                        "\"pssh_data\" carries no content id",
                    ))?
            }
            (Some(Value::String(_)) | None | Some(Value::Null), None | Some(Value::Null)) => {
                return Err(KeyApiError::new(
                    Status::ContentIdMissing,
                    "no \"content_id\" or \"pssh_data\"",
                ))
            }
            _ => return Err(malformed("\"content_id\" or \"pssh_data\" is not a string")),
        };
        let list = match obj.get("tracks") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a.clone(),
            Some(_) => return Err(malformed("\"tracks\" is not a list")),
        };
        if list.len() > MAX_TRACKS {
            return Err(malformed("more than 16 tracks"));
        }
        let mut tracks = Vec::new();
        for entry in &list {
            let name = entry
                .get("type")
                .and_then(Value::as_str)
                .ok_or_else(|| malformed("a track has no \"type\" string"))?;
            let t = track_type(name).ok_or(KeyApiError::new(
                Status::TrackTypeUnknown,
                "track type is not SD, HD, UHD1, UHD2 or AUDIO",
            ))?;
            if !tracks.contains(&t) {
                tracks.push(t);
            }
        }
        if tracks.is_empty() {
            return Err(KeyApiError::new(
                Status::TrackTypeMissing,
                "no \"tracks\" requested",
            ));
        }
        let mut drm_types = Vec::new();
        match obj.get("drm_types") {
            None | Some(Value::Null) => {}
            Some(Value::Array(a)) => {
                for d in a {
                    let t = match d.as_str() {
                        Some("WIDEVINE") => DrmType::Widevine,
                        Some("PLAYREADY") => DrmType::PlayReady,
                        _ => return Err(malformed("\"drm_types\" lists an unknown DRM type")),
                    };
                    if !drm_types.contains(&t) {
                        drm_types.push(t);
                    }
                }
            }
            Some(_) => return Err(malformed("\"drm_types\" is not a list")),
        }
        if drm_types.is_empty() {
            drm_types.push(DrmType::Widevine);
        }
        let protection_scheme = match obj.get("protection_scheme") {
            None | Some(Value::Null) => None,
            Some(v) => {
                Some(Scheme::parse(v).ok_or_else(|| malformed("unknown \"protection_scheme\""))?)
            }
        };
        let rotation = match (
            obj.get("first_crypto_period_index"),
            obj.get("crypto_period_count"),
        ) {
            (None | Some(Value::Null), None | Some(Value::Null)) => None,
            (first, Some(count)) if !count.is_null() => {
                let count = integer(count)
                    .and_then(|c| u32::try_from(c).ok())
                    .filter(|c| (1..=MAX_CRYPTO_PERIODS).contains(c))
                    .ok_or_else(|| malformed("\"crypto_period_count\" is not 1 to 100"))?;
                let first = match first {
                    None | Some(Value::Null) => 0,
                    Some(f) => integer(f)
                        .and_then(|f| u32::try_from(f).ok())
                        .ok_or_else(|| {
                            malformed("\"first_crypto_period_index\" is not a 32-bit integer")
                        })?,
                };
                if first.checked_add(count - 1).is_none() {
                    return Err(malformed("crypto periods run past 2^32 - 1"));
                }
                Some(Rotation { first, count })
            }
            _ => {
                return Err(malformed(
                    "\"first_crypto_period_index\" without \"crypto_period_count\"",
                ))
            }
        };
        let policy = match obj.get("policy") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(p)) => p.clone(),
            Some(_) => return Err(malformed("\"policy\" is not a string")),
        };
        Ok(KeyRequest {
            content_id,
            tracks,
            drm_types,
            protection_scheme,
            rotation,
            policy,
        })
    }
}

/// One key of the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackKey {
    /// The track type it protects.
    pub track_type: TrackType,
    /// Key id.
    pub kid: Kid,
    /// The key.
    pub key: ContentKey,
    /// Optional IV.
    pub iv: Option<[u8; 16]>,
    /// The crypto period, when rotating.
    pub period: Option<u32>,
}

/// What the answer's signalling is built with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signalling {
    /// The Widevine PSSH data's `provider`.
    pub provider: String,
    /// `LA_URL` of the PlayReady header (when the request asks for PlayReady).
    pub playready_la_url: Option<String>,
}

/// The Widevine PSSH data keyward writes for one key.
pub fn widevine_pssh_data(
    request: &KeyRequest,
    key: &TrackKey,
    signalling: &Signalling,
) -> WidevinePsshData {
    WidevinePsshData {
        algorithm: None,
        key_ids: vec![key.kid],
        provider: Some(signalling.provider.clone()),
        content_id: Some(request.content_id.clone()),
        track_type: track_name(key.track_type).map(str::to_owned),
        crypto_period_index: key.period,
        protection_scheme: request.protection_scheme.map(Scheme::fourcc),
    }
}

/// The complete answer body (`{"response": b64(JSON)}`) for `keys`, which the
/// caller gives per period (ascending) and, within a period, per requested track.
///
/// # Errors
/// `INTERNAL_ERROR` when a PlayReady header cannot be built (an LA_URL too long
/// for a PlayReady Object).
pub fn answer(
    request: &KeyRequest,
    keys: &[TrackKey],
    signalling: &Signalling,
) -> Result<Vec<u8>, KeyApiError> {
    let mut tracks = Vec::with_capacity(keys.len());
    for key in keys {
        let mut pssh = Vec::with_capacity(request.drm_types.len());
        for drm in &request.drm_types {
            let (data, boxes) = match drm {
                DrmType::Widevine => {
                    let data = widevine_pssh_data(request, key, signalling).encode();
                    let boxes = PsshBox::v0(SystemId::WIDEVINE, data.clone()).to_bytes();
                    (data, boxes)
                }
                DrmType::PlayReady => {
                    let header = PlayReadyHeader {
                        version: WrmHeaderVersion::V4_0,
                        keys: vec![HeaderKey::aes_ctr(key.kid, &key.key)],
                        la_url: signalling.playready_la_url.clone(),
                        custom_attributes: Vec::new(),
                    };
                    let pro = header.to_pro().map_err(|_| {
                        KeyApiError::new(Status::InternalError, "PlayReady header too large")
                    })?;
                    let boxes = PsshBox::v0(SystemId::PLAYREADY, pro.clone()).to_bytes();
                    (pro, boxes)
                }
            };
            pssh.push(json!({
                "drm_type": drm.as_str(),
                "data": STANDARD.encode(data),
                "boxes": STANDARD.encode(boxes),
            }));
        }
        let mut track = Map::new();
        track.insert(
            "type".into(),
            Value::from(track_name(key.track_type).unwrap_or("SD")),
        );
        track.insert("key_id".into(), Value::from(STANDARD.encode(key.kid.0)));
        track.insert("key".into(), Value::from(STANDARD.encode(key.key.expose())));
        if let Some(iv) = key.iv {
            track.insert("iv".into(), Value::from(STANDARD.encode(iv)));
        }
        track.insert("pssh".into(), Value::Array(pssh));
        if let Some(p) = key.period {
            track.insert("crypto_period_index".into(), Value::from(p));
        }
        tracks.push(Value::Object(track));
    }
    let inner = json!({
        "status": "OK",
        "content_id": STANDARD.encode(&request.content_id),
        "tracks": tracks,
        "drm": request.drm_types.iter().map(|d| {
            let id = match d {
                DrmType::Widevine => SystemId::WIDEVINE,
                DrmType::PlayReady => SystemId::PLAYREADY,
            };
            json!({"type": d.as_str(), "system_id": Kid(id.0).to_uuid_string()})
        }).collect::<Vec<_>>(),
    });
    Ok(wrap(&inner))
}

/// The answer body for a refused request.
pub fn refusal(error: &KeyApiError) -> Vec<u8> {
    wrap(&json!({
        "status": error.status.as_str(),
        "status_message": error.reason,
    }))
}

fn wrap(inner: &Value) -> Vec<u8> {
    let bytes = serde_json::to_vec(inner).unwrap_or_default();
    serde_json::to_vec(&json!({ "response": STANDARD.encode(bytes) })).unwrap_or_default()
}

/// Signs `request` as a packager does (PKCS#7-padded SHA-1 under AES-256-CBC):
/// for tests and for `keyward`'s own key-API client.
pub fn sign(request: &[u8], key: &[u8; 32], iv: &[u8; 16]) -> [u8; 32] {
    let mut out = [0u8; 32];
    // A 20-byte hash padded with PKCS#7 is two blocks: `out` always fits it.
    let _ = cbc::Encryptor::<Aes256>::new(key.into(), iv.into())
        .encrypt_padded_b2b_mut::<Pkcs7>(&Sha1::digest(request), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Widevine's public test signer (shaka-packager's documentation).
    const KEY: [u8; 32] = [
        0x1a, 0xe8, 0xcc, 0xd0, 0xe7, 0x98, 0x5c, 0xc0, 0xb6, 0x20, 0x3a, 0x55, 0x85, 0x5a, 0x10,
        0x34, 0xaf, 0xc2, 0x52, 0x98, 0x0e, 0x97, 0x0c, 0xa9, 0x0e, 0x52, 0x02, 0x68, 0x9f, 0x94,
        0x7a, 0xb9,
    ];
    const IV: [u8; 16] = [
        0xd5, 0x8c, 0xe9, 0x54, 0x20, 0x3b, 0x7c, 0x9a, 0x9a, 0x9d, 0x46, 0x7f, 0x59, 0x83, 0x92,
        0x49,
    ];
    /// The inner request shaka-packager 3.4.2 sent here (protocols.md §2.2).
    const SHAKA_REQUEST: &str = r#"{"content_id":"MDEyMzQ1Njc=","policy":"","tracks":[{"type":"SD"},{"type":"HD"},{"type":"UHD1"},{"type":"UHD2"},{"type":"AUDIO"}],"drm_types":["WIDEVINE"],"protection_scheme":"CENC"}"#;

    fn envelope(request: &[u8], signature: &[u8]) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "request": STANDARD.encode(request),
            "signature": STANDARD.encode(signature),
            "signer": "widevine_test",
        }))
        .unwrap()
    }

    #[test]
    fn shaka_request_verifies_and_parses() {
        let sig = sign(SHAKA_REQUEST.as_bytes(), &KEY, &IV);
        let env = Envelope::parse(&envelope(SHAKA_REQUEST.as_bytes(), &sig)).unwrap();
        assert_eq!(env.signer, "widevine_test");
        env.verify(&KEY, &IV).unwrap();
        let req = env.key_request().unwrap();
        assert_eq!(req.content_id, b"01234567");
        assert_eq!(
            req.tracks,
            [
                TrackType::Sd,
                TrackType::Hd,
                TrackType::Uhd1,
                TrackType::Uhd2,
                TrackType::Audio
            ]
        );
        assert_eq!(req.drm_types, [DrmType::Widevine]);
        assert_eq!(req.protection_scheme, Some(Scheme::Cenc));
        assert_eq!(req.rotation, None);
    }

    #[test]
    fn zero_padded_signatures_verify_too_and_others_fail() {
        use aes::cipher::{BlockEncrypt as _, KeyInit as _};
        let cipher = Aes256::new(&KEY.into());
        let mut block = [0u8; 32];
        block[..20].copy_from_slice(&Sha1::digest(SHAKA_REQUEST.as_bytes()));
        let mut prev = IV;
        let mut sig = [0u8; 32];
        for (p, s) in block.chunks_exact(16).zip(sig.chunks_exact_mut(16)) {
            let mut b = aes::Block::default();
            for ((x, a), v) in b.iter_mut().zip(p).zip(prev.iter()) {
                *x = a ^ v;
            }
            cipher.encrypt_block(&mut b);
            s.copy_from_slice(&b);
            prev.copy_from_slice(&b);
        }
        let pkcs7 = sign(SHAKA_REQUEST.as_bytes(), &KEY, &IV);
        assert_eq!(
            sig[..16],
            pkcs7[..16],
            "first block identical, as protocols.md says"
        );
        assert_ne!(sig[16..], pkcs7[16..]);
        Envelope::parse(&envelope(SHAKA_REQUEST.as_bytes(), &sig))
            .unwrap()
            .verify(&KEY, &IV)
            .unwrap();

        let failed = |body: Vec<u8>| {
            Envelope::parse(&body)
                .unwrap()
                .verify(&KEY, &IV)
                .unwrap_err()
        };
        // Another request under the same signature.
        let e = failed(envelope(b"{}", &pkcs7));
        assert_eq!(e.status, Status::SignatureFailed);
        // Wrong key.
        let other = Envelope::parse(&envelope(SHAKA_REQUEST.as_bytes(), &pkcs7)).unwrap();
        assert_eq!(
            other.verify(&[0u8; 32], &IV).unwrap_err().code(),
            "SIGNATURE_FAILED"
        );
        // Truncated signature.
        assert_eq!(
            failed(envelope(SHAKA_REQUEST.as_bytes(), &pkcs7[..16])).reason,
            "the signature is not 32 bytes"
        );
        // No signature at all.
        let unsigned =
            serde_json::to_vec(&json!({"request": STANDARD.encode(SHAKA_REQUEST), "signer": "s"}))
                .unwrap();
        assert_eq!(failed(unsigned).status, Status::SignatureFailed);
    }

    #[test]
    fn envelope_refusals() {
        let cases: [(&[u8], Status); 6] = [
            (b"not json", Status::MalformedRequest),
            (b"[]", Status::MalformedRequest),
            (br#"{"signer":"s"}"#, Status::MalformedRequest),
            (
                br#"{"request":"!!!","signer":"s"}"#,
                Status::MalformedRequest,
            ),
            (br#"{"request":"e30="}"#, Status::SignatureFailed),
            (
                br#"{"request":"e30=","signer":"s","signature":5}"#,
                Status::MalformedRequest,
            ),
        ];
        for (body, status) in cases {
            assert_eq!(
                Envelope::parse(body).unwrap_err().status,
                status,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert_eq!(
            Envelope::parse(&vec![b' '; MAX_BODY + 1])
                .unwrap_err()
                .reason,
            "request body larger than 64 KiB"
        );
    }

    #[test]
    fn request_refusals_name_the_protocol_status() {
        let cases: [(&str, Status); 12] = [
            (r#"{"tracks":[{"type":"SD"}]}"#, Status::ContentIdMissing),
            (
                r#"{"content_id":"","tracks":[{"type":"SD"}]}"#,
                Status::ContentIdMissing,
            ),
            (r#"{"content_id":"YQ=="}"#, Status::TrackTypeMissing),
            (
                r#"{"content_id":"YQ==","tracks":[]}"#,
                Status::TrackTypeMissing,
            ),
            (
                r#"{"content_id":"YQ==","tracks":[{"type":"4K"}]}"#,
                Status::TrackTypeUnknown,
            ),
            (
                r#"{"content_id":"YQ==","tracks":[{"kind":"SD"}]}"#,
                Status::MalformedRequest,
            ),
            (
                r#"{"content_id":"YQ==","tracks":[{"type":"SD"}],"protection_scheme":"ROT13"}"#,
                Status::MalformedRequest,
            ),
            (
                r#"{"content_id":"YQ==","tracks":[{"type":"SD"}],"crypto_period_count":0}"#,
                Status::MalformedRequest,
            ),
            (
                r#"{"content_id":"YQ==","tracks":[{"type":"SD"}],"crypto_period_count":101}"#,
                Status::MalformedRequest,
            ),
            (
                r#"{"content_id":"YQ==","tracks":[{"type":"SD"}],"first_crypto_period_index":3}"#,
                Status::MalformedRequest,
            ),
            (
                r#"{"content_id":"YQ==","tracks":[{"type":"SD"}],"first_crypto_period_index":4294967295,"crypto_period_count":2}"#,
                Status::MalformedRequest,
            ),
            (
                r#"{"pssh_data":"AAAA","tracks":[{"type":"SD"}]}"#,
                Status::InvalidWidevinePssh,
            ),
        ];
        for (json, status) in cases {
            assert_eq!(
                KeyRequest::parse(json.as_bytes()).unwrap_err().status,
                status,
                "{json}"
            );
        }
    }

    #[test]
    fn rotation_and_pssh_data_requests() {
        let req = KeyRequest::parse(
            br#"{"content_id":"YQ==","tracks":[{"type":"HD"},{"type":"HD"},{"type":"AUDIO"}],"first_crypto_period_index":7.0,"crypto_period_count":10,"drm_types":["WIDEVINE","PLAYREADY"],"protection_scheme":"CBCS"}"#,
        )
        .unwrap();
        assert_eq!(req.tracks, [TrackType::Hd, TrackType::Audio]);
        assert_eq!(
            req.rotation,
            Some(Rotation {
                first: 7,
                count: 10
            })
        );
        assert_eq!(
            req.rotation.unwrap().periods().collect::<Vec<_>>(),
            (7..17).collect::<Vec<_>>()
        );
        assert_eq!(req.drm_types, [DrmType::Widevine, DrmType::PlayReady]);

        let pssh = WidevinePsshData {
            content_id: Some(b"movie-1".to_vec()),
            ..WidevinePsshData::default()
        };
        let body = json!({"pssh_data": STANDARD.encode(pssh.encode()), "tracks": [{"type": "SD"}]});
        let req = KeyRequest::parse(body.to_string().as_bytes()).unwrap();
        assert_eq!(req.content_id, b"movie-1");
    }

    #[test]
    fn answers_carry_keys_and_pssh_per_track_and_period() {
        let req = KeyRequest::parse(
            br#"{"content_id":"MDEyMzQ1Njc=","tracks":[{"type":"SD"},{"type":"AUDIO"}],"first_crypto_period_index":3,"crypto_period_count":2,"drm_types":["WIDEVINE","PLAYREADY"],"protection_scheme":"CENC"}"#,
        )
        .unwrap();
        let mut keys = Vec::new();
        for period in [3u32, 4] {
            for (i, t) in [TrackType::Sd, TrackType::Audio].into_iter().enumerate() {
                let n = u8::try_from(period).unwrap() * 10 + u8::try_from(i).unwrap();
                keys.push(TrackKey {
                    track_type: t,
                    kid: Kid([n; 16]),
                    key: ContentKey::new([n ^ 0xff; 16]),
                    iv: None,
                    period: Some(period),
                });
            }
        }
        let signalling = Signalling {
            provider: "keyward".into(),
            playready_la_url: Some("https://kw.example/ri/licenseManager.do".into()),
        };
        let body = answer(&req, &keys, &signalling).unwrap();
        let outer: Value = serde_json::from_slice(&body).unwrap();
        let inner: Value = serde_json::from_slice(
            &STANDARD
                .decode(outer["response"].as_str().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(inner["status"], "OK");
        let tracks = inner["tracks"].as_array().unwrap();
        assert_eq!(tracks.len(), 4);
        assert_eq!(tracks[0]["type"], "SD");
        assert_eq!(tracks[1]["type"], "AUDIO");
        assert_eq!(tracks[2]["crypto_period_index"], 4);
        assert_eq!(tracks[0]["key_id"], STANDARD.encode([30u8; 16]));
        assert_eq!(tracks[0]["key"], STANDARD.encode([30u8 ^ 0xff; 16]));
        let pssh = tracks[0]["pssh"].as_array().unwrap();
        assert_eq!(pssh.len(), 2);
        assert_eq!(pssh[0]["drm_type"], "WIDEVINE");
        let data =
            WidevinePsshData::decode(&STANDARD.decode(pssh[0]["data"].as_str().unwrap()).unwrap())
                .unwrap();
        assert_eq!(data.key_ids, [Kid([30; 16])]);
        assert_eq!(data.content_id.as_deref(), Some(&b"01234567"[..]));
        assert_eq!(data.provider.as_deref(), Some("keyward"));
        assert_eq!(data.track_type.as_deref(), Some("SD"));
        assert_eq!(data.crypto_period_index, Some(3));
        assert_eq!(data.protection_scheme, Some(0x6365_6e63));
        let boxes =
            PsshBox::parse(&STANDARD.decode(pssh[0]["boxes"].as_str().unwrap()).unwrap()).unwrap();
        assert_eq!(boxes.system_id, SystemId::WIDEVINE);
        assert_eq!(pssh[1]["drm_type"], "PLAYREADY");
        let pro = crate::playready::PlayReadyObject::parse(
            &STANDARD.decode(pssh[1]["data"].as_str().unwrap()).unwrap(),
        )
        .unwrap();
        let xml = pro.wrm_header_xml().unwrap().unwrap();
        assert!(
            xml.contains("<LA_URL>https://kw.example/ri/licenseManager.do</LA_URL>"),
            "{xml}"
        );
        assert_eq!(
            inner["drm"][0]["system_id"],
            "edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"
        );

        let refused = refusal(&KeyApiError::new(
            Status::AccessDenied,
            "content id outside the signer's prefix",
        ));
        let outer: Value = serde_json::from_slice(&refused).unwrap();
        let inner: Value = serde_json::from_slice(
            &STANDARD
                .decode(outer["response"].as_str().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            inner,
            json!({"status": "ACCESS_DENIED", "status_message": "content id outside the signer's prefix"})
        );
    }
}
