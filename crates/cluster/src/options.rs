//! How to reach Redis, and keeping the URL's password out of every message.

use std::fmt;
use std::time::Duration;

/// Where Redis is and how long to wait for it.
///
/// `Debug` shows the URL with its password replaced by `***`.
#[derive(Clone)]
pub struct RedisOptions {
    /// `redis://[user:password@]host[:port][/db]`, `rediss://…` for TLS, or
    /// `redis+unix:///path?pass=…`.
    pub url: String,
    /// Put before every key and the invalidation channel, so several keyward
    /// clusters (or other applications) can share one Redis. Default `keyward:`.
    pub key_prefix: String,
    /// How long one attempt to open a connection may take. Default 1 s.
    pub connect_timeout: Duration,
    /// How long any call may take, from the moment it is made, including
    /// waiting for a connection being re-established: a call that has no
    /// answer by then fails with `backend`. Default 500 ms.
    pub response_timeout: Duration,
    /// For `rediss://`: the CA certificate(s), PEM, that Redis's certificate
    /// must chain to, trusted instead of the system's roots (a private CA).
    /// `None` (the default): the system's roots.
    pub tls_ca_pem: Option<Vec<u8>>,
}

/// The default [`RedisOptions::key_prefix`].
pub const DEFAULT_KEY_PREFIX: &str = "keyward:";
/// The default [`RedisOptions::connect_timeout`].
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// The default [`RedisOptions::response_timeout`].
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);
/// The longest accepted [`RedisOptions::key_prefix`], in bytes.
pub const MAX_KEY_PREFIX_LEN: usize = 64;

impl RedisOptions {
    /// Options for `url` with the default prefix and timeouts.
    pub fn new(url: impl Into<String>) -> RedisOptions {
        RedisOptions {
            url: url.into(),
            key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            response_timeout: DEFAULT_RESPONSE_TIMEOUT,
            tls_ca_pem: None,
        }
    }

    /// The URL with its password (user-info or `pass` / `password` query
    /// parameter) replaced by `***`, for logs.
    pub fn redacted_url(&self) -> String {
        Secrets::of_url(&self.url).redact(&self.url)
    }
}

impl fmt::Debug for RedisOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisOptions")
            .field("url", &self.redacted_url())
            .field("key_prefix", &self.key_prefix)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("tls_ca_pem", &self.tls_ca_pem.as_ref().map(|_| "set"))
            .finish()
    }
}

/// The secret parts of a Redis URL, to scrub from any text (error details from
/// the driver may quote what they were given).
#[derive(Clone, Default)]
pub(crate) struct Secrets(Vec<String>);

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secrets({} redacted)", self.0.len())
    }
}

impl Secrets {
    /// The password in `url`'s user-info and in its `pass` / `password` query
    /// parameters, as written and percent-decoded.
    pub(crate) fn of_url(url: &str) -> Secrets {
        let mut found = Vec::new();
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        // The authority ends at the first '/', '?' or '#'; its user-info before
        // the last '@'.
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        if let Some((userinfo, _)) = authority.rsplit_once('@') {
            if let Some((_, password)) = userinfo.split_once(':') {
                found.push(password.to_owned());
            } else {
                // `redis://secret@host`: a lone user-info is taken as the password.
                found.push(userinfo.to_owned());
            }
        }
        if let Some((_, query)) = url.split_once('?') {
            let query = query.split('#').next().unwrap_or_default();
            for pair in query.split('&') {
                if let Some((name, value)) = pair.split_once('=') {
                    if name.eq_ignore_ascii_case("pass") || name.eq_ignore_ascii_case("password") {
                        found.push(value.to_owned());
                    }
                }
            }
        }
        let decoded: Vec<String> = found.iter().map(|s| percent_decode(s)).collect();
        found.extend(decoded);
        found.retain(|s| !s.is_empty());
        // Longest first, so a secret containing another is replaced whole.
        found.sort_by_key(|s| std::cmp::Reverse(s.len()));
        found.dedup();
        Secrets(found)
    }

    /// `text` with every secret replaced by `***`.
    pub(crate) fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for s in &self.0 {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "***");
            }
        }
        out
    }
}

/// `%XX` sequences decoded (invalid ones kept as written); `+` is kept.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_found_and_replaced() {
        for (url, secret) in [
            ("redis://:hunter2@localhost:6379/0", "hunter2"),
            ("redis://app:hunter2@localhost/", "hunter2"),
            ("rediss://app:p%40ss@redis.example:6380", "p@ss"),
            ("redis://hunter2@localhost", "hunter2"),
            ("redis+unix:///run/redis.sock?db=1&pass=hunter2", "hunter2"),
            ("redis://localhost/?password=hunter2#x", "hunter2"),
        ] {
            let s = Secrets::of_url(url);
            let shown = s.redact(&format!("failed {url} with {secret}"));
            assert!(!shown.contains(secret), "{shown}");
            assert!(shown.contains("***"), "{shown}");
            let o = RedisOptions::new(url);
            assert!(!format!("{o:?}").contains(secret));
            assert!(!o.redacted_url().contains(secret));
        }
        let plain = RedisOptions::new("redis://127.0.0.1:6379/");
        assert_eq!(plain.redacted_url(), "redis://127.0.0.1:6379/");
        assert_eq!(Secrets::of_url("redis://host/").redact("a:b@c"), "a:b@c");
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%40b%zz%4"), "a@b%zz%4");
        assert_eq!(percent_decode("%"), "%");
    }
}
