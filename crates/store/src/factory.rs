//! One function that opens the configured backend and hands out one handle per
//! concern, so callers depend on `Arc<dyn SiteStore>`, `Arc<dyn ReplayStore>`, …
//! and never on a backend type.
//!
//! Adding a backend (PostgreSQL is one; Redis for replay and stream slots may
//! follow) is one [`Backend`] variant and one arm in [`open`]: the bundle may
//! then mix backends per concern, with a [`Lifecycle`] that covers them all.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::audit::AuditStore;
use crate::clients::ClientStore;
use crate::customers::CustomerStore;
use crate::error::Result;
use crate::fairplay::FairPlayStore;
use crate::kek::Kek;
use crate::keys::KeyStore;
use crate::lifecycle::Lifecycle;
use crate::memory::MemoryStore;
use crate::packagers::PackagerStore;
use crate::postgres::{PostgresOptions, PostgresStore};
use crate::replay::ReplayStore;
use crate::sites::SiteStore;
use crate::sqlite::SqliteStore;
use crate::stats::StatsStore;
use crate::streams::StreamStore;
use crate::upstreams::UpstreamStore;
use crate::Store;

/// Which backend to open.
#[derive(Debug)]
#[non_exhaustive]
pub enum Backend {
    /// Everything in process memory: nothing persisted, nothing wrapped. For tests
    /// and demos.
    Memory,
    /// The embedded default: one SQLite file in `data_dir` (created 0700 if
    /// missing), secrets wrapped under `kek`. One process per data directory.
    Sqlite {
        /// The data directory (or the database file itself; see
        /// [`SqliteStore::open`]).
        data_dir: PathBuf,
        /// The key-encryption key the database was (or will be) created under.
        kek: Kek,
    },
    /// One PostgreSQL database, shared by any number of keyward processes;
    /// secrets wrapped under `kek` (the same bytes as in SQLite). See
    /// [`PostgresStore::open`].
    Postgres {
        /// Where the database is and how many connections to keep (`Debug`
        /// hides the URL's password).
        options: PostgresOptions,
        /// The key-encryption key the database was (or will be) created under.
        kek: Kek,
    },
}

/// One handle per concern, plus the backend's lifecycle. Cloning is cheap (each
/// field is an `Arc`).
#[derive(Clone)]
pub struct Stores {
    /// Sites, their secrets and settings.
    pub sites: Arc<dyn SiteStore>,
    /// Content keys.
    pub keys: Arc<dyn KeyStore>,
    /// Studio token clients.
    pub clients: Arc<dyn ClientStore>,
    /// ExpressPlay-style customers.
    pub customers: Arc<dyn CustomerStore>,
    /// FairPlay Streaming credentials per site.
    pub fairplay: Arc<dyn FairPlayStore>,
    /// Licence upstreams per site and DRM.
    pub upstreams: Arc<dyn UpstreamStore>,
    /// Packager credentials and key seeds.
    pub packagers: Arc<dyn PackagerStore>,
    /// Single-use / n-use token decisions.
    pub replay: Arc<dyn ReplayStore>,
    /// Concurrent-stream slots (not enforced by the server yet).
    pub streams: Arc<dyn StreamStore>,
    /// The audit trail.
    pub audit: Arc<dyn AuditStore>,
    /// Licence statistics.
    pub stats: Arc<dyn StatsStore>,
    /// Health and close of the backend(s) behind the handles.
    pub lifecycle: Arc<dyn Lifecycle>,
    /// Every concern through one handle, for code not yet split per concern
    /// (`AppState` takes an `Arc<dyn Store>` today).
    pub all: Arc<dyn Store>,
}

impl Stores {
    /// Every handle served by one backend.
    pub fn single<S: Store + 'static>(backend: Arc<S>) -> Stores {
        Stores {
            sites: backend.clone(),
            keys: backend.clone(),
            clients: backend.clone(),
            customers: backend.clone(),
            fairplay: backend.clone(),
            upstreams: backend.clone(),
            packagers: backend.clone(),
            replay: backend.clone(),
            streams: backend.clone(),
            audit: backend.clone(),
            stats: backend.clone(),
            lifecycle: backend.clone(),
            all: backend,
        }
    }

    /// See [`Lifecycle::health`].
    pub async fn health(&self) -> Result<()> {
        self.lifecycle.health().await
    }

    /// See [`Lifecycle::close`].
    pub async fn close(&self) {
        self.lifecycle.close().await;
    }
}

impl<S: Store + 'static> From<Arc<S>> for Stores {
    /// Every handle served by one backend (as [`Stores::single`]).
    fn from(backend: Arc<S>) -> Stores {
        Stores::single(backend)
    }
}

impl From<Arc<dyn Store>> for Stores {
    /// Every handle served by one store already behind a trait object.
    fn from(all: Arc<dyn Store>) -> Stores {
        Stores {
            sites: all.clone(),
            keys: all.clone(),
            clients: all.clone(),
            customers: all.clone(),
            fairplay: all.clone(),
            upstreams: all.clone(),
            packagers: all.clone(),
            replay: all.clone(),
            streams: all.clone(),
            audit: all.clone(),
            stats: all.clone(),
            lifecycle: all.clone(),
            all,
        }
    }
}

impl fmt::Debug for Stores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stores").finish_non_exhaustive()
    }
}

/// Opens `backend` and returns its handles. Nothing is claimed: a server that
/// decides single-use tokens calls `stores.replay.claim_replay()` at start-up to
/// fail fast when another process holds the data directory.
pub async fn open(backend: Backend) -> Result<Stores> {
    match backend {
        Backend::Memory => Ok(Stores::single(Arc::new(MemoryStore::new()))),
        Backend::Sqlite { data_dir, kek } => Ok(Stores::single(Arc::new(
            SqliteStore::open(data_dir, kek).await?,
        ))),
        Backend::Postgres { options, kek } => Ok(Stores::single(Arc::new(
            PostgresStore::open(options, kek).await?,
        ))),
    }
}
