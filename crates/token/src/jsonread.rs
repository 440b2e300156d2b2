//! A small zero-copy JSON reader for the two documents verified on every
//! licence request: the token and its policy.
//!
//! Strict RFC 8259 (no trailing commas, no comments, escapes and surrogate
//! pairs checked), with limits: nesting depth 32 and 256 members per object.
//! Strings without escapes are borrowed from the input. A member name given
//! twice in one object is an error, so a token cannot say two things at once.
//! It exists because a generic tree (or serde's field matching) cost more than
//! the AES and SHA-256 work of a verification combined.

use std::borrow::Cow;

/// Maximum nesting depth.
const MAX_DEPTH: usize = 32;
/// Maximum members in one object.
const MAX_MEMBERS: usize = 256;

/// A parsed JSON value borrowing from the input.
#[derive(Debug, PartialEq)]
pub(crate) enum J<'a> {
    Null,
    Bool(bool),
    /// The number's text, validated against the JSON grammar.
    Num(&'a str),
    Str(Cow<'a, str>),
    Arr(Vec<J<'a>>),
    Obj(Vec<(Cow<'a, str>, J<'a>)>),
}

impl<'a> J<'a> {
    pub(crate) fn get(&self, key: &str) -> Option<&J<'a>> {
        match self {
            J::Obj(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            J::Str(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn as_bool(&self) -> Option<bool> {
        match self {
            J::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// A JSON integer (no fraction or exponent) that fits i64.
    pub(crate) fn as_i64(&self) -> Option<i64> {
        match self {
            J::Num(t) if !t.contains(['.', 'e', 'E']) => t.parse().ok(),
            _ => None,
        }
    }

    pub(crate) fn as_f64(&self) -> Option<f64> {
        match self {
            J::Num(t) => t.parse().ok(),
            _ => None,
        }
    }

    pub(crate) fn is_null(&self) -> bool {
        matches!(self, J::Null)
    }
}

/// Where and why the input is not JSON.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct JsonError {
    pub(crate) at: usize,
    pub(crate) what: &'static str,
}

impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at byte {}", self.what, self.at)
    }
}

pub(crate) fn parse(text: &str) -> Result<J<'_>, JsonError> {
    let mut p = P {
        s: text.as_bytes(),
        text,
        i: 0,
    };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    if p.i != p.s.len() {
        return Err(p.err("trailing characters"));
    }
    Ok(v)
}

pub(crate) struct P<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
}

impl<'a> P<'a> {
    fn err(&self, what: &'static str) -> JsonError {
        JsonError { at: self.i, what }
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.i) {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn lit(&mut self, word: &'static [u8], v: J<'a>) -> Result<J<'a>, JsonError> {
        if self.s.get(self.i..self.i + word.len()) == Some(word) {
            self.i += word.len();
            Ok(v)
        } else {
            Err(self.err("invalid literal"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<J<'a>, JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        match self.peek() {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => self.string().map(J::Str),
            Some(b't') => self.lit(b"true", J::Bool(true)),
            Some(b'f') => self.lit(b"false", J::Bool(false)),
            Some(b'n') => self.lit(b"null", J::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.err("unexpected character")),
            None => Err(self.err("unexpected end")),
        }
    }

    /// Walks the members of the top-level object without building a tree:
    /// `f(name, parser)` must consume the member's value (with [`P::take`]).
    pub(crate) fn members(
        text: &'a str,
        mut f: impl FnMut(&str, &mut Self) -> Result<(), JsonError>,
    ) -> Result<(), JsonError> {
        let mut p = P {
            s: text.as_bytes(),
            text,
            i: 0,
        };
        p.ws();
        if p.peek() != Some(b'{') {
            return Err(p.err("expected an object"));
        }
        p.i += 1;
        let mut names: Vec<Cow<'a, str>> = Vec::with_capacity(10);
        p.ws();
        if p.peek() == Some(b'}') {
            p.i += 1;
        } else {
            loop {
                p.ws();
                if p.peek() != Some(b'"') {
                    return Err(p.err("expected a member name"));
                }
                let at = p.i;
                let key = p.string()?;
                if names.contains(&key) {
                    return Err(JsonError {
                        at,
                        what: "duplicate member name",
                    });
                }
                if names.len() == MAX_MEMBERS {
                    return Err(JsonError {
                        at,
                        what: "too many members",
                    });
                }
                p.ws();
                if p.peek() != Some(b':') {
                    return Err(p.err("expected ':'"));
                }
                p.i += 1;
                p.ws();
                f(&key, &mut p)?;
                names.push(key);
                p.ws();
                match p.peek() {
                    Some(b',') => p.i += 1,
                    Some(b'}') => {
                        p.i += 1;
                        break;
                    }
                    _ => return Err(p.err("expected ',' or '}'")),
                }
            }
        }
        p.ws();
        if p.i != p.s.len() {
            return Err(p.err("trailing characters"));
        }
        Ok(())
    }

    /// Parses the next value.
    pub(crate) fn take(&mut self) -> Result<J<'a>, JsonError> {
        self.value(1)
    }

    fn object(&mut self, depth: usize) -> Result<J<'a>, JsonError> {
        self.i += 1;
        let mut members: Vec<(Cow<'a, str>, J<'a>)> = Vec::with_capacity(4);
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(J::Obj(members));
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(self.err("expected a member name"));
            }
            let at = self.i;
            let key = self.string()?;
            if members.iter().any(|(k, _)| *k == key) {
                return Err(JsonError {
                    at,
                    what: "duplicate member name",
                });
            }
            if members.len() == MAX_MEMBERS {
                return Err(JsonError {
                    at,
                    what: "too many members",
                });
            }
            self.ws();
            if self.peek() != Some(b':') {
                return Err(self.err("expected ':'"));
            }
            self.i += 1;
            self.ws();
            let v = self.value(depth + 1)?;
            members.push((key, v));
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(J::Obj(members));
                }
                _ => return Err(self.err("expected ',' or '}'")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<J<'a>, JsonError> {
        self.i += 1;
        let mut items = Vec::new();
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(J::Arr(items));
        }
        loop {
            self.ws();
            items.push(self.value(depth + 1)?);
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(J::Arr(items));
                }
                _ => return Err(self.err("expected ',' or ']'")),
            }
        }
    }

    fn number(&mut self) -> Result<J<'a>, JsonError> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.err("invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.err("invalid number"));
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.err("invalid number"));
            }
            self.digits();
        }
        // Only ASCII was consumed, so the slice is on char boundaries.
        Ok(J::Num(&self.text[start..self.i]))
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
    }

    fn string(&mut self) -> Result<Cow<'a, str>, JsonError> {
        self.i += 1;
        let start = self.i;
        // Fast path: no escapes.
        let rest = self.s.get(self.i..).unwrap_or_default();
        // Member names and short values end within a few bytes: a plain loop
        // beats memchr's setup there; long values (base64) go to memchr.
        let short = rest.iter().take(24).position(|&b| b == b'"' || b == b'\\');
        let Some(n) = short.or_else(|| memchr::memchr2(b'"', b'\\', rest)) else {
            self.i = self.s.len();
            return Err(self.err("unterminated string"));
        };
        // Branch-free so it vectorizes: any raw control character?
        if rest[..n].iter().fold(false, |acc, &b| acc | (b < 0x20)) {
            return Err(self.err("control character in string"));
        }
        self.i += n;
        if rest[n] == b'"' {
            let s = &self.text[start..self.i];
            self.i += 1;
            return Ok(Cow::Borrowed(s));
        }
        let mut out = String::from(&self.text[start..self.i]);
        loop {
            match self.peek() {
                Some(b'"') => {
                    self.i += 1;
                    return Ok(Cow::Owned(out));
                }
                Some(b'\\') => {
                    self.i += 1;
                    let c = self.peek().ok_or_else(|| self.err("unterminated escape"))?;
                    self.i += 1;
                    match c {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let ch = if (0xd800..0xdc00).contains(&hi) {
                                if self.s.get(self.i..self.i + 2) != Some(b"\\u") {
                                    return Err(self.err("lone surrogate"));
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xdc00..0xe000).contains(&lo) {
                                    return Err(self.err("lone surrogate"));
                                }
                                0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
                            } else if (0xdc00..0xe000).contains(&hi) {
                                return Err(self.err("lone surrogate"));
                            } else {
                                hi
                            };
                            out.push(char::from_u32(ch).ok_or_else(|| self.err("invalid escape"))?);
                        }
                        _ => return Err(self.err("invalid escape")),
                    }
                }
                Some(0..=0x1f) => return Err(self.err("control character in string")),
                Some(_) => {
                    // Copy one whole UTF-8 character.
                    let rest = &self.text[self.i..];
                    let ch = rest
                        .chars()
                        .next()
                        .ok_or_else(|| self.err("unterminated string"))?;
                    out.push(ch);
                    self.i += ch.len_utf8();
                }
                None => return Err(self.err("unterminated string")),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let h = self
            .s
            .get(self.i..self.i + 4)
            .ok_or_else(|| self.err("short \\u escape"))?;
        let mut v = 0u32;
        for &c in h {
            let d = (c as char)
                .to_digit(16)
                .ok_or_else(|| self.err("invalid \\u escape"))?;
            v = v * 16 + d;
        }
        self.i += 4;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        let v = parse(r#" {"a":[1,-2.5e3,true,false,null],"b":"x\"\u00e9\ud83d\ude00","c":{}} "#)
            .unwrap();
        assert_eq!(v.get("b").unwrap().as_str(), Some("x\"é😀"));
        assert_eq!(
            v.get("a"),
            Some(&J::Arr(vec![
                J::Num("1"),
                J::Num("-2.5e3"),
                J::Bool(true),
                J::Bool(false),
                J::Null
            ]))
        );
        for bad in [
            "",
            "{",
            "{\"a\":1,}",
            "[1,]",
            "{\"a\" 1}",
            "01",
            "1.",
            "-",
            "\"\\ud800\"",
            "\"\\udc00x\"",
            "\"a\nb\"",
            "{\"a\":1,\"a\":2}",
            "tru",
            "nul",
            "[1] x",
            "\"\\x\"",
            "\"\\u12\"",
            "{1:2}",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        let deep = "[".repeat(40) + &"]".repeat(40);
        assert!(parse(&deep).is_err());
        let many = format!(
            "{{{}}}",
            (0..300)
                .map(|i| format!("\"k{i}\":0"))
                .collect::<Vec<_>>()
                .join(",")
        );
        assert!(parse(&many).is_err());
        assert_eq!(J::Num("3.0").as_i64(), None);
        assert_eq!(J::Num("150.0").as_f64(), Some(150.0));
        assert_eq!(J::Num("-7").as_i64(), Some(-7));
    }
}
