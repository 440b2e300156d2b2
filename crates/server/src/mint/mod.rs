//! Token issuing APIs whose logic needs the server (customers, keys, quotas).
//! The Studio token API's minting is in `http::studio`; the library crates
//! hold the token formats themselves.

pub mod expressplay;
