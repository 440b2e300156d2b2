//! keyward-store: where keyward keeps its state.
//!
//! One trait per concern, each object-safe and usable alone as `Arc<dyn …>`:
//!
//! * [`sites`]: tenants, their 32-byte secrets and settings ([`SiteStore`]).
//! * [`keys`]: content keys per (site, cid, track type) ([`KeyStore`]).
//! * [`clients`] / [`customers`]: Studio token clients and ExpressPlay-style
//!   customers ([`ClientStore`], [`CustomerStore`]).
//! * [`fairplay`]: FairPlay Streaming credentials per site (certificate,
//!   private key, ASk), named by the SHA-1 of the certificate ([`FairPlayStore`]).
//! * [`upstreams`]: licence upstreams per site and DRM, an ordered list
//!   (primary, then failover) of the services keyward forwards licence
//!   challenges to, with KEK-wrapped secrets ([`UpstreamStore`]).
//! * [`replay`]: atomic use counters for single-use tokens ([`ReplayStore`]),
//!   decided by the backend-neutral decision set in `replay::decisions`.
//! * [`streams`]: concurrent-stream slots ([`StreamStore`]; not enforced yet).
//! * [`audit`] and [`stats`]: the audit trail and the licence statistics read
//!   from it ([`AuditStore`], [`StatsStore`]).
//! * [`lifecycle`]: health probe and clean close of a backend ([`Lifecycle`]).
//! * [`kek`]: the key-encryption key that wraps every secret at rest ([`Kek`]).
//! * [`copy`]: moving a SQLite store into an empty PostgreSQL database
//!   ([`copy_sqlite_to_postgres`]).
//!
//! Three backends implement every trait: [`SqliteStore`] (the embedded default, a
//! single file, secrets wrapped with AES-256-GCM under the KEK), [`PostgresStore`]
//! (one PostgreSQL database shared by several keyward nodes: the same wrapped
//! values, single-use decided in the database, audit events written in batches
//! by a background task) and [`MemoryStore`] (for tests and demos; nothing
//! persisted, nothing wrapped). [`open`] builds the configured [`Backend`] into
//! [`Stores`], one handle per concern; [`Store`] bundles every trait for code
//! that still holds one `Arc<dyn Store>`.
//!
//! The shared vocabulary ([`SiteId`], [`Kid`], [`ContentKey`], [`TrackType`],
//! [`DrmType`], alias [`Drm`]) comes from `keyward-types`.
//!
//! Times are unix seconds (`i64`) unless a name says `_ms`.

pub mod audit;
pub mod clients;
pub(crate) mod codec;
pub mod copy;
pub mod customers;
pub mod error;
mod factory;
pub mod fairplay;
pub mod kek;
pub mod keys;
pub mod lifecycle;
pub mod memory;
pub mod packagers;
pub mod postgres;
pub mod replay;
pub mod sites;
pub mod sqlite;
pub mod stats;
pub mod streams;
pub mod upstreams;

pub use audit::{AuditEvent, AuditPage, AuditQuery, AuditRecord, AuditStore};
pub use clients::{ApiKeyInfo, Client, ClientSettings, ClientStore, NewClient};
pub use copy::{copy_sqlite_to_postgres, CopyError, CopyOptions, CopyReport};
pub use customers::{AuthEnv, Customer, CustomerSettings, CustomerStore, NewCustomer};
pub use error::{Result, StoreError};
pub use factory::{open, Backend, Stores};
pub use fairplay::{
    FairPlayCredential, FairPlayCredentialInfo, FairPlayStore, FpsAsk, FpsSecretKey,
    NewFairPlayCredential,
};
pub use kek::{create_private_dir, write_new_private_file, Kek};
pub use keys::{
    generate_content_key, generate_kid, ContentKey, ContentKeyRecord, KeyInfo, KeyStore, Kid,
    NewContentKey, TrackType,
};
pub use keyward_types::{DrmType, ParseError};
pub use lifecycle::Lifecycle;
pub use memory::MemoryStore;
pub use packagers::{
    KeySeed, NewPackager, Packager, PackagerInfo, PackagerKind, PackagerSecret, PackagerStore,
};
pub use postgres::{PostgresOptions, PostgresStore};
pub use replay::{Redemption, ReplayStore};
pub use sites::{
    CallbackFallback, CallbackSettings, Drm, ErrorStyle, NewSite, Site, SiteId, SiteSecret,
    SiteSettings, SiteStore,
};
pub use sqlite::SqliteStore;
pub use stats::{StatsQuery, StatsRow, StatsStore};
pub use streams::{StreamGrant, StreamStore};
pub use upstreams::{NewUpstream, Upstream, UpstreamInfo, UpstreamSecret, UpstreamStore};

/// Every store trait at once, so code that is not split per concern yet can hold
/// one `Arc<dyn Store>`. Prefer the per-concern handles of [`Stores`].
pub trait Store:
    SiteStore
    + KeyStore
    + ReplayStore
    + AuditStore
    + CustomerStore
    + ClientStore
    + FairPlayStore
    + UpstreamStore
    + PackagerStore
    + StatsStore
    + StreamStore
    + Lifecycle
{
}

impl<T> Store for T where
    T: SiteStore
        + KeyStore
        + ReplayStore
        + AuditStore
        + CustomerStore
        + ClientStore
        + FairPlayStore
        + UpstreamStore
        + PackagerStore
        + StatsStore
        + StreamStore
        + Lifecycle
        + ?Sized
{
}

/// Now, unix seconds (0 if the clock is before 1970).
pub(crate) fn unix_now() -> i64 {
    unix_now_ms() / 1000
}

/// Now, unix milliseconds (0 if the clock is before 1970).
pub(crate) fn unix_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
