//! A tiny compact JSON writer for answers on the hot path (licences, errors).

use std::fmt::Write;

/// Builds one JSON object.
pub struct JsonOut {
    out: String,
    first: bool,
}

impl JsonOut {
    /// Starts `{`.
    pub fn object() -> Self {
        let mut out = String::with_capacity(128);
        out.push('{');
        Self { out, first: true }
    }

    fn key(&mut self, k: &str) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        push_str(&mut self.out, k);
        self.out.push(':');
    }

    /// A string member.
    pub fn str(&mut self, k: &str, v: &str) {
        self.key(k);
        push_str(&mut self.out, v);
    }

    /// An integer member.
    pub fn int(&mut self, k: &str, v: i64) {
        self.key(k);
        let _ = write!(self.out, "{v}");
    }

    /// Closes `}`.
    pub fn finish(mut self) -> String {
        self.out.push('}');
        self.out
    }
}

/// Appends a JSON string literal.
pub fn push_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A caller-supplied value for a message: at most `max` characters, with `…`
/// when cut, so that no refusal echoes input unbounded.
pub fn bounded(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => std::borrow::Cow::Borrowed(s),
        Some((i, _)) => std::borrow::Cow::Owned(format!("{}…", &s[..i])),
    }
}
