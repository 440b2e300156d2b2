//! The client's IP address: the socket peer, or — only when the peer is a
//! configured trusted proxy — the right-most untrusted `X-Forwarded-For` hop.
//! A client talking to keyward directly cannot spoof its address by sending
//! the header itself.

use std::net::{IpAddr, SocketAddr};

use super::cidr::{canonical, Cidr};

/// The client IP for geo and VPN rules: `forwarded_for` holds the request's
/// `X-Forwarded-For` header values in order.
pub fn client_ip<S: AsRef<str>>(
    peer: Option<SocketAddr>,
    forwarded_for: &[S],
    trusted: &[Cidr],
) -> Option<IpAddr> {
    let peer = canonical(peer?.ip());
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return Some(peer);
    }
    let hops: Vec<IpAddr> = forwarded_for
        .iter()
        .flat_map(|v| v.as_ref().split(','))
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
        let h = ["1.2.3.4, 5.6.7.8, 10.0.0.9"];
        let from = |s: &str| Some(s.parse::<SocketAddr>().unwrap());
        assert_eq!(
            client_ip(from("10.0.0.1:1"), &h[..], &trusted),
            Some("5.6.7.8".parse().unwrap())
        );
        assert_eq!(
            client_ip(from("9.9.9.9:1"), &h[..], &trusted),
            Some("9.9.9.9".parse().unwrap())
        );
        assert_eq!(client_ip(None, &h[..], &trusted), None);
    }
}
