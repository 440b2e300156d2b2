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

/// Unix seconds as RFC 3339 UTC (`2026-11-26T10:11:39Z`); the number itself
/// outside the calendar's range.
pub fn rfc3339(unix: i64) -> String {
    keyward_token::Timestamp::from_unix(unix).map_or_else(|| unix.to_string(), |t| t.to_string())
}

/// A caller-supplied value for a message: at most `max` characters, with `…`
/// when cut, so that no refusal echoes input unbounded.
pub fn bounded(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => std::borrow::Cow::Borrowed(s),
        Some((i, _)) => std::borrow::Cow::Owned(format!("{}…", &s[..i])),
    }
}

/// Whether a caller-supplied name may be shown as it is: a short identifier
/// (`site_kye`, `clientName`), not something that could be a pasted secret
/// (keys, tokens and authenticators are 32 characters and more).
fn is_plain_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 24
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A caller-supplied name for a message: itself when it is a short
/// identifier, else only its length (`<a 40-character name>`), so that a
/// secret pasted into the wrong JSON slot is never reflected.
pub fn name_for_message(s: &str) -> String {
    if is_plain_name(s) {
        s.to_owned()
    } else {
        format!("<a {}-character name>", s.chars().count())
    }
}

/// A JSON path (`policy.geo.x[2]`) with every segment that is not a plain
/// name replaced by its length (see [`name_for_message`]).
pub fn path_for_message(path: &str) -> String {
    path.split('.')
        .map(|seg| {
            let (name, index) = match seg.find('[') {
                Some(i) => seg.split_at(i),
                None => (seg, ""),
            };
            let index_ok = index.is_empty()
                || (index.starts_with('[')
                    && index.ends_with(']')
                    && index[1..index.len() - 1]
                        .bytes()
                        .all(|b| b.is_ascii_digit()));
            if index_ok {
                format!("{}{index}", name_for_message(name))
            } else {
                name_for_message(seg)
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// A serde_json error as a message that names the rule and the place but
/// never the caller's values: quoted values are dropped, unknown field and
/// variant names are shown only when they are plain names.
pub fn serde_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    // serde_json appends " at line L column C"; keep it.
    let (body, place) = match text.rfind(" at line ") {
        Some(i) => text.split_at(i),
        None => (text.as_str(), ""),
    };
    let body = if let Some(rest) = body
        .strip_prefix("unknown field `")
        .or_else(|| body.strip_prefix("unknown variant `"))
    {
        let what = if body.starts_with("unknown field") {
            "unknown field"
        } else {
            "unknown value"
        };
        match rest.split_once('`') {
            Some((name, tail)) => format!("{what} `{}`{tail}", name_for_message(name)),
            None => what.to_owned(),
        }
    } else if let Some(rest) = body
        .strip_prefix("invalid type: ")
        .or_else(|| body.strip_prefix("invalid value: "))
    {
        // "string \"…\", expected u64" → "invalid type: string, expected u64"
        let kind = rest.split([' ', ',']).next().unwrap_or("value");
        let expected = rest.rsplit_once(", expected ").map(|(_, x)| x);
        let head = if body.starts_with("invalid type") {
            "invalid type"
        } else {
            "invalid value"
        };
        match expected {
            Some(x) => format!("{head}: {kind}, expected {x}"),
            None => format!("{head}: {kind}"),
        }
    } else if body.starts_with("missing field `")
        || body.starts_with("duplicate field `")
        || e.is_syntax()
        || e.is_eof()
    {
        // Our own field names, or no value at all.
        body.to_owned()
    } else {
        // Anything else (custom errors from our own types): the category only.
        "invalid value".to_owned()
    };
    format!("{body}{place}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code, reason = "only deserialized")]
    struct T {
        n: u64,
        e: Option<E>,
    }

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code, reason = "only deserialized")]
    enum E {
        A,
    }

    fn msg(json: &str) -> String {
        serde_message(&serde_json::from_str::<T>(json).unwrap_err())
    }

    const SECRET: &str = "lU5D8s3PWoLls3PWFWkClULlFWk5D8oC";

    #[test]
    fn values_and_secret_names_are_never_reflected() {
        let m = msg(&format!(r#"{{"n":"{SECRET}"}}"#));
        assert_eq!(m, "invalid type: string, expected u64 at line 1 column 39");
        let m = msg(&format!(r#"{{"n":1,"{SECRET}x":1}}"#));
        assert!(
            m.starts_with("unknown field `<a 33-character name>`, expected"),
            "{m}"
        );
        assert!(!m.contains(SECRET));
        let m = msg(r#"{"n":1,"nn":1}"#);
        assert!(
            m.starts_with("unknown field `nn`, expected `n` or `e`"),
            "{m}"
        );
        let m = msg(&format!(r#"{{"n":1,"e":"{SECRET}"}}"#));
        assert!(
            m.starts_with("unknown value `<a 32-character name>`"),
            "{m}"
        );
        assert!(!m.contains(SECRET));
        let m = msg(r#"{"e":"A"}"#);
        assert!(m.starts_with("missing field `n`"), "{m}");
        let m = msg(r#"{"n":1"#);
        assert!(m.starts_with("EOF while parsing an object"), "{m}");
    }

    #[test]
    fn paths_keep_plain_names_and_indexes() {
        assert_eq!(path_for_message("policy.geo[2].x_y"), "policy.geo[2].x_y");
        assert_eq!(
            path_for_message(&format!("policy.{SECRET}/x")),
            "policy.<a 34-character name>"
        );
        assert_eq!(bounded("abcdef", 3), "abc…");
        assert_eq!(bounded("abc", 3), "abc");
    }
}
