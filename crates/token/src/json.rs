//! A compact JSON writer for the exact bytes keyward signs and encrypts.
//!
//! The hash and the ciphertext depend on every byte, so keyward writes JSON by
//! hand in the documented member order, compact (no spaces), non-ASCII as raw
//! UTF-8 and `/` unescaped — what `JSON.stringify`, Jackson and the vendor's own
//! tutorial produce.

/// Appends `s` as a JSON string literal (quotes included).
pub(crate) fn write_str(out: &mut String, s: &str) {
    out.push('"');
    // Base64, ids and timestamps never need escaping: copy them in one go.
    if !s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        out.push_str(s);
        out.push('"');
        return;
    }
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: Option<&str> = match b {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            0x08 => Some("\\b"),
            0x0c => Some("\\f"),
            0..=0x1f => None,
            _ => continue,
        };
        out.push_str(&s[start..i]);
        match esc {
            Some(e) => out.push_str(e),
            None => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0xf)]));
            }
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Appends a decimal integer (no `fmt` machinery: this is on the minting path).
pub(crate) fn write_int(out: &mut String, v: i64) {
    let mut buf = [0u8; 20];
    let mut n = v.unsigned_abs();
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        out.push('-');
    }
    out.extend(buf[i..].iter().map(|&c| char::from(c)));
}

/// Builds one JSON object member by member, inserting commas.
pub(crate) struct ObjectWriter<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> ObjectWriter<'a> {
    pub(crate) fn new(out: &'a mut String) -> Self {
        out.push('{');
        Self { out, first: true }
    }

    fn key(&mut self, key: &str) -> &mut String {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        self.out.push('"');
        self.out.push_str(key);
        self.out.push_str("\":");
        self.out
    }

    /// A value known to need no escaping (base64, hex, timestamps, enum
    /// spellings): copied without the per-byte check.
    pub(crate) fn plain(&mut self, key: &str, v: &str) {
        debug_assert!(!v.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\'));
        let out = self.key(key);
        out.push('"');
        out.push_str(v);
        out.push('"');
    }

    pub(crate) fn opt_plain(&mut self, key: &str, v: Option<&str>) {
        if let Some(v) = v {
            self.plain(key, v);
        }
    }

    pub(crate) fn str(&mut self, key: &str, v: &str) {
        let out = self.key(key);
        write_str(out, v);
    }

    pub(crate) fn opt_str(&mut self, key: &str, v: Option<&str>) {
        if let Some(v) = v {
            self.str(key, v);
        }
    }

    pub(crate) fn bool(&mut self, key: &str, v: bool) {
        self.key(key).push_str(if v { "true" } else { "false" });
    }

    pub(crate) fn opt_bool(&mut self, key: &str, v: Option<bool>) {
        if let Some(v) = v {
            self.bool(key, v);
        }
    }

    pub(crate) fn int(&mut self, key: &str, v: i64) {
        write_int(self.key(key), v);
    }

    pub(crate) fn opt_int(&mut self, key: &str, v: Option<i64>) {
        if let Some(v) = v {
            self.int(key, v);
        }
    }

    /// Writes a raw, already-serialized JSON value.
    pub(crate) fn raw(&mut self, key: &str) -> &mut String {
        self.key(key)
    }

    pub(crate) fn end(self) {
        self.out.push('}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_json_stringify() {
        let mut s = String::new();
        write_str(&mut s, "a\"b\\c/d\n\u{1}é😀\u{7f}");
        let mut n = String::new();
        for v in [0, 7, -1, 150, -3000, i64::MAX, i64::MIN] {
            n.clear();
            write_int(&mut n, v);
            assert_eq!(n, v.to_string());
        }
        assert_eq!(s, "\"a\\\"b\\\\c/d\\n\\u0001é😀\u{7f}\"");
    }
}
