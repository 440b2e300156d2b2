//! Reading the request's parameters: a strict form decoder that keeps broken
//! percent-escapes, repeats and empty values visible, `errorFormat`, and the
//! customer authenticator.

use super::{codes, unhex, ExpressPlayError, Result};

/// One `name=value` pair; the value is `None` when its percent-encoding is
/// broken (a `%` not followed by two hex digits, or bytes that are not UTF-8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Param {
    /// The decoded name.
    pub name: String,
    /// The decoded value; `None` = broken encoding.
    pub value: Option<String>,
}

/// The parameters of a request, in order, from the query and the body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params {
    pairs: Vec<Param>,
    /// A name whose encoding is broken (the request is refused with -2030).
    broken_name: bool,
}

/// Strict form decoding: `+` is a space, `%XY` a byte; anything else after `%`
/// or non-UTF-8 bytes → `None`.
fn form_decode(raw: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = raw.get(i + 1).copied().and_then(unhex)?;
                let lo = raw.get(i + 2).copied().and_then(unhex)?;
                out.push(hi << 4 | lo);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

impl Params {
    /// Adds the pairs of an `application/x-www-form-urlencoded` string (a query
    /// string or a body). Empty segments (`a=1&&b=2`) are skipped.
    pub fn extend_from_form(&mut self, raw: &[u8]) {
        for seg in raw.split(|b| *b == b'&') {
            if seg.is_empty() {
                continue;
            }
            let (n, v) = match seg.iter().position(|b| *b == b'=') {
                Some(p) => (&seg[..p], &seg[p + 1..]),
                None => (seg, &b""[..]),
            };
            match form_decode(n) {
                Some(name) => self.pairs.push(Param {
                    name,
                    value: form_decode(v),
                }),
                None => self.broken_name = true,
            }
        }
    }

    /// Parses one form string.
    pub fn from_form(raw: &[u8]) -> Self {
        let mut p = Self::default();
        p.extend_from_form(raw);
        p
    }

    /// Whether some parameter name had broken percent-encoding.
    pub fn has_broken_name(&self) -> bool {
        self.broken_name
    }

    /// Every pair, in order.
    pub fn pairs(&self) -> &[Param] {
        &self.pairs
    }

    pub(super) fn all(&self, name: &str) -> Vec<&Param> {
        self.pairs.iter().filter(|p| p.name == name).collect()
    }

    /// The one value of a single-valued parameter: `Ok(None)` when absent;
    /// repeated or broken → `invalid`; empty → -2035.
    pub fn single<'a>(&'a self, name: &str, invalid: i32) -> Result<Option<&'a str>> {
        let all = self.all(name);
        let mut it = all.into_iter();
        let Some(first) = it.next() else {
            return Ok(None);
        };
        if it.next().is_some() {
            return Err(ExpressPlayError::new(
                invalid,
                format!("{name} is given more than once"),
            ));
        }
        match first.value.as_deref() {
            None => Err(ExpressPlayError::new(
                invalid,
                format!("{name} has broken percent-encoding"),
            )),
            Some("") => Err(ExpressPlayError::new(
                codes::NO_VALUE,
                format!("{name} is empty"),
            )),
            Some(v) => Ok(Some(v)),
        }
    }

    /// The parameter named, as for [`Params::single`], but required (`missing` when absent).
    pub fn required<'a>(&'a self, name: &str, invalid: i32, missing: i32) -> Result<&'a str> {
        self.single(name, invalid)?
            .ok_or_else(|| ExpressPlayError::new(missing, format!("{name} is required")))
    }
}

/// How refusals are written (`errorFormat`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ErrorFormat {
    /// `text/html` (the default).
    #[default]
    Html,
    /// `application/json`.
    Json,
}

impl ErrorFormat {
    /// Reads `errorFormat`. On error, the refusal (-3004) and the format to
    /// write it in (html, the default).
    pub fn from_params(p: &Params) -> Result<ErrorFormat> {
        match p.single("errorFormat", codes::ERROR_FORMAT) {
            Ok(None) => Ok(ErrorFormat::Html),
            Ok(Some("html")) => Ok(ErrorFormat::Html),
            Ok(Some("json")) => Ok(ErrorFormat::Json),
            Ok(Some(other)) => Err(ExpressPlayError::new(
                codes::ERROR_FORMAT,
                truncate_for_message(other),
            )),
            Err(e) if e.code() == codes::NO_VALUE => {
                Err(ExpressPlayError::new(codes::ERROR_FORMAT, "(empty)"))
            }
            Err(e) => Err(e),
        }
    }
}

fn truncate_for_message(s: &str) -> String {
    let t: String = s.chars().take(40).filter(|c| !c.is_control()).collect();
    if s.chars().count() > 40 {
        format!("{t}…")
    } else {
        t
    }
}

/// The customer authenticator (`customerAuthenticator`): -2017 when absent,
/// -2018 when repeated or broken, -2035 when empty.
pub fn authenticator(p: &Params) -> Result<&str> {
    p.required(
        "customerAuthenticator",
        codes::AUTH_INVALID,
        codes::AUTH_MISSING,
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn params(q: &str) -> Params {
        Params::from_form(q.as_bytes())
    }

    #[test]
    fn strict_form_decoding() {
        let p = params("a=%41%2b+b&b=%zz&%4=x&c");
        assert_eq!(p.pairs()[0].value.as_deref(), Some("A+ b"));
        assert_eq!(p.pairs()[1].value, None);
        assert!(p.has_broken_name());
        assert_eq!(p.pairs()[2].name, "c");
        assert_eq!(p.pairs()[2].value.as_deref(), Some(""));
        assert_eq!(params("x=%ff").pairs()[0].value, None, "not UTF-8");
    }
}
