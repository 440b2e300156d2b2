//! Addresses: CIDR ranges (trusted proxies, VPN lists) and the client address
//! behind trusted proxies.

pub mod cidr;
pub mod peer;

pub use cidr::Cidr;
