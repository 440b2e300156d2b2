//! Lenient base64 decoding, shared by the kid parser here and the DRM parsers.
//!
//! Why lenient: the same 16-byte value reaches keyward spelled four ways — base64url
//! or the standard alphabet, with or without `=` padding — depending on the player
//! and on how a form body was URL-encoded. Accepting all four costs nothing in
//! safety as long as the decoded length is still checked by the caller and
//! non-canonical trailing bits (which would let two texts decode to the same bytes)
//! are refused.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// Decodes base64 or base64url text, padded or not. `None` if the text is not base64.
pub fn decode_base64_lenient(text: &str) -> Option<Vec<u8>> {
    let unpadded = text
        .strip_suffix("==")
        .or_else(|| text.strip_suffix('='))
        .unwrap_or(text);
    let mut normalized = Vec::with_capacity(unpadded.len());
    for &b in unpadded.as_bytes() {
        normalized.push(match b {
            b'+' => b'-',
            b'/' => b'_',
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' => b,
            _ => return None,
        });
    }
    URL_SAFE_NO_PAD.decode(normalized).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_spellings_decode_alike() {
        let want = vec![0xfb, 0xff, 0xfe];
        for text in ["+//+", "-__-"] {
            assert_eq!(decode_base64_lenient(text), Some(want.clone()), "{text}");
        }
        assert_eq!(decode_base64_lenient("-w"), Some(vec![0xfb]));
        assert_eq!(decode_base64_lenient("-w=="), Some(vec![0xfb]));
        assert_eq!(decode_base64_lenient("+w=="), Some(vec![0xfb]));
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(decode_base64_lenient("a b"), None);
        assert_eq!(decode_base64_lenient("ab=c"), None);
        assert_eq!(decode_base64_lenient("a==="), None);
        assert_eq!(decode_base64_lenient("a"), None);
        assert_eq!(decode_base64_lenient("-x"), None); // non-canonical trailing bits
    }
}
