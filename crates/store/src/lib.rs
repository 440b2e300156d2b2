//! keyward-store: where keyward keeps its state.
//!
//! * [`sites`]: tenants, their 32-byte secrets and settings ([`SiteStore`]).
//! * [`keys`]: content keys per (site, cid, track type) ([`KeyStore`]).
//! * [`replay`]: atomic use counters for single-use tokens ([`ReplayStore`]).
//! * [`audit`]: the audit trail ([`AuditStore`]).
//! * [`kek`]: the key-encryption key that wraps every secret at rest ([`Kek`]).
//!
//! Two implementations of all four traits: [`SqliteStore`] (the embedded default, a
//! single file, secrets wrapped with AES-256-GCM under the KEK) and [`MemoryStore`]
//! (for tests of other crates; nothing persisted, nothing wrapped). The traits are
//! object-safe, so the server can hold an `Arc<dyn Store>`.
//!
//! Times are unix seconds (`i64`) unless a name says `_ms`.

pub mod audit;
pub mod clients;
pub mod customers;
pub mod error;
mod hotwrite;
pub mod kek;
pub mod keys;
pub mod memory;
pub mod replay;
pub mod sites;
pub mod sqlite;

pub use audit::{AuditEvent, AuditRecord, AuditStore};
pub use clients::{
    ApiKeyInfo, Client, ClientSettings, ClientStore, NewClient, StatsQuery, StatsRow,
};
pub use customers::{AuthEnv, Customer, CustomerSettings, CustomerStore, NewCustomer};
pub use error::{Result, StoreError};
pub use kek::{create_private_dir, write_new_private_file, Kek};
pub use keys::{ContentKey, ContentKeyRecord, KeyInfo, KeyStore, Kid, NewContentKey, TrackType};
pub use memory::MemoryStore;
pub use replay::{Redemption, ReplayStore};
pub use sites::{
    CallbackFallback, CallbackSettings, Drm, ErrorStyle, NewSite, Site, SiteId, SiteSecret,
    SiteSettings, SiteStore,
};
pub use sqlite::SqliteStore;

/// Every store trait at once, so the server can hold one `Arc<dyn Store>`.
pub trait Store:
    SiteStore + KeyStore + ReplayStore + AuditStore + CustomerStore + ClientStore
{
}

impl<T: SiteStore + KeyStore + ReplayStore + AuditStore + CustomerStore + ClientStore + ?Sized>
    Store for T
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
