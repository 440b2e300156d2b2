//! Intertrust ExpressPlay-compatible license tokens (Widevine and ClearKey).
//!
//! An ExpressPlay customer's backend asks a token endpoint for a licence URL,
//! passing its `customerAuthenticator`, the content key and the rights as
//! query (or www-form-urlencoded body) parameters. The answer is a URL with an
//! opaque `ExpressPlayToken`; the player redeems that URL for a licence.
//!
//! This module is the pure part of that API:
//! * [`Params`]: a strict `application/x-www-form-urlencoded` reader that keeps
//!   broken percent-escapes, repeats and empty values visible, so each can get
//!   its own vendor code instead of being silently "fixed";
//! * [`TokenRequest::from_params`]: every parameter rule of the vendor's
//!   tables, each failure an [`ExpressPlayError`] with the vendor's negative code;
//! * [`seal`] / [`open`]: the stateless token, AES-256-GCM under a server
//!   [`TokenKey`] with a key id so keys can be rotated without breaking live tokens;
//! * [`aes_key_unwrap`] / [`aes_key_wrap`]: RFC 3394 AES Key Wrap, for `kek` + `ek`
//!   (defined in [`crate::crypto`], re-exported here).
//!
//! Token layout (then base64url without padding):
//! `version (1 byte, 0x01) ‖ key id (4 bytes) ‖ nonce (12) ‖ AES-256-GCM(payload) ‖ tag (16)`,
//! with `version ‖ key id` as associated data. The payload is compact JSON
//! ([`TokenPayload`]); it carries the content key, so it is confidential as well
//! as authenticated. Anything that fails to open is "invalid token" (-4010),
//! whatever the reason, so a caller learns nothing from the difference.
//!
//! One file per part: [`codes`] (the vendor's codes and descriptions), `error`
//! ([`ExpressPlayError`]), `params` (form reading, `errorFormat`, the
//! authenticator), `request` (the parameter rules) and `token` (payload, keys,
//! sealing).

pub mod codes;
mod error;
mod params;
mod request;
mod token;

pub use crate::crypto::{aes_key_unwrap, aes_key_wrap, KeyWrapError};
pub use codes::description;
pub use error::ExpressPlayError;
pub use params::{authenticator, ErrorFormat, Param, Params};
pub use request::{KeySource, KidSpec, Rental, TokenRequest};
pub use token::{open, seal, Environment, TokenDrm, TokenKey, TokenPayload};

use error::Result;

/// The token format version written in the first byte.
pub const TOKEN_VERSION: u8 = 1;
/// Default and maximum token lifetime: 30 days.
pub const MAX_LIFETIME_SECS: i64 = 30 * 86_400;
/// Longest `cookie`, in characters.
pub const MAX_COOKIE_CHARS: usize = 32;
/// Longest name after `^` in a `kid`.
pub const MAX_KEY_NAME_CHARS: usize = 64;
/// Longest `contentId`, in bytes.
pub const MAX_CONTENT_ID_BYTES: usize = 256;
/// Most `wvExtension` parameters in one request.
pub const MAX_WV_EXTENSIONS: usize = 16;
/// Largest decoded `wvExtension` payload, bytes.
pub const MAX_WV_EXTENSION_BYTES: usize = 4096;
/// Longest token accepted by [`open`], characters (a size limit for the parser).
pub const MAX_TOKEN_CHARS: usize = 16 * 1024;
/// Largest `licenseDuration` / `rental.playDuration`: 10 years in seconds.
pub const MAX_DURATION_SECS: u64 = 10 * 365 * 86_400;

// Hex helpers shared by the parts (form decoding, kid/key, kek/ek, token keys).

/// One hex digit, either case.
fn unhex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Exactly 32 hex digits, either case.
fn parse_hex16(s: &str) -> Option<[u8; 16]> {
    let b = s.as_bytes();
    if b.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        *o = unhex(b[2 * i])? << 4 | unhex(b[2 * i + 1])?;
    }
    Some(out)
}

/// An even number of hex digits, either case.
fn parse_hex(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    b.chunks(2)
        .map(|c| Some(unhex(c[0])? << 4 | unhex(c[1])?))
        .collect()
}
