//! What the pipeline consults, held once by the application state: caches of
//! sites, content keys and Studio clients; the geo database and VPN lists;
//! callback breakers; the outbound HTTP client; the ExpressPlay sealing keys.
//! Resources know nothing of the stages that use them, so the stages can
//! depend on the state without the state depending on them.

pub mod breaker;
pub mod callbacks;
pub mod clients;
pub mod dask;
pub mod fairplay;
pub mod geo;
pub mod keys;
pub mod outbound;
pub mod sites;
pub mod token_keys;
pub mod upstreams;
pub mod vpn;
