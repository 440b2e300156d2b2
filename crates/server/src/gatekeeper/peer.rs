//! The client's IP address: the socket peer, or — only when the peer is a
//! configured trusted proxy — the right-most untrusted `X-Forwarded-For` hop.
//! A client talking to keyward directly cannot spoof its address by sending
//! the header itself.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::HeaderMap;

use super::cidr::{canonical, Cidr};

/// The socket peer, when the server was started with connect info (tests
/// driving the router with `oneshot` may insert `ConnectInfo` themselves).
#[derive(Clone, Copy, Debug, Default)]
pub struct PeerAddr(pub Option<SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for PeerAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(PeerAddr(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0),
        ))
    }
}

/// The client IP for geo and VPN rules.
pub fn client_ip(
    peer: Option<SocketAddr>,
    headers: &HeaderMap,
    trusted: &[Cidr],
) -> Option<IpAddr> {
    let peer = canonical(peer?.ip());
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return Some(peer);
    }
    let hops: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|h| h.trim().parse::<IpAddr>().ok())
        .map(canonical)
        .collect();
    for ip in hops.iter().rev() {
        if !is_trusted(*ip) {
            return Some(*ip);
        }
    }
    Some(hops.first().copied().unwrap_or(peer))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn forwarded_only_from_trusted_proxies() {
        let trusted: Vec<Cidr> = vec!["10.0.0.0/8".parse().unwrap()];
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            "1.2.3.4, 5.6.7.8, 10.0.0.9".parse().unwrap(),
        );
        let from = |s: &str| Some(s.parse::<SocketAddr>().unwrap());
        assert_eq!(
            client_ip(from("10.0.0.1:1"), &h, &trusted),
            Some("5.6.7.8".parse().unwrap())
        );
        assert_eq!(
            client_ip(from("9.9.9.9:1"), &h, &trusted),
            Some("9.9.9.9".parse().unwrap())
        );
        assert_eq!(client_ip(None, &h, &trusted), None);
    }
}
