//! Replay / redemption sets: how many times a token (by id or hash) has been used.
//!
//! Single-use and n-use tokens need a check-and-increment that is atomic across
//! concurrent requests and survives restarts. The SQLite and memory stores decide in
//! the backend-neutral `decisions` set, under a shard lock in memory; the SQLite one
//! also persists every decision within a few milliseconds (its writer thread),
//! reloads the live ones when it starts, and refuses tokens it cannot vouch for
//! after an unclean stop (see [`Redemption::unverifiable`]). The PostgreSQL store,
//! shared by several processes, decides each use in the database (one atomic
//! upsert) by the same rules, and never answers `unverifiable`.
//!
//! An entry past its `expires_at` counts as absent, exactly as if it had been purged, so
//! lazy purging never changes an answer. Callers must therefore pass the time after
//! which the token itself is refused anyway (token time + window + leeway), never less.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{Result, StoreError};

pub(crate) mod decisions;

/// Longest namespace accepted, in bytes.
pub const MAX_NAMESPACE_LEN: usize = 64;
/// Longest token id accepted, in bytes.
pub const MAX_TOKEN_ID_LEN: usize = 64;

/// The outcome of [`ReplayStore::redeem`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redemption {
    /// Uses recorded for this token, including this one if it was accepted.
    pub use_count: u32,
    /// Whether this use was within `max_uses` and has been recorded.
    pub accepted: bool,
    /// Refused because the token was issued before this process started, is
    /// not on record, and the previous process stopped without saving all of
    /// its decisions: the token may have been used then. Callers should ask
    /// for a new token (the refusal is not "already used").
    #[serde(default)]
    pub unverifiable: bool,
}

impl Redemption {
    /// A refusal with `use_count` uses on record.
    pub fn refused(use_count: u32) -> Redemption {
        Redemption {
            use_count,
            accepted: false,
            unverifiable: false,
        }
    }

    /// A refusal because the token was issued before an unclean stop and its
    /// uses cannot be known (`use_count` on record, possibly stale).
    pub fn unverifiable(use_count: u32) -> Redemption {
        Redemption {
            use_count,
            accepted: false,
            unverifiable: true,
        }
    }
}

/// Storage of replay sets. Implemented by [`SqliteStore`](crate::sqlite::SqliteStore),
/// [`PostgresStore`](crate::postgres::PostgresStore) and
/// [`MemoryStore`](crate::memory::MemoryStore).
#[async_trait]
pub trait ReplayStore: Send + Sync {
    /// Records one use of `token_id` in `namespace` if fewer than `max_uses` uses are
    /// recorded, atomically. `issued_at_unix` is when the token became valid (used
    /// only to refuse, after an unclean restart, tokens that predate it);
    /// `expires_at_unix` (unix seconds) is when the entry may be forgotten; a later
    /// call with a later expiry extends it. `max_uses == 0` never accepts.
    ///
    /// Ids that begin with a time-ordered prefix keep a busy store's new entries
    /// together on disk.
    async fn redeem(
        &self,
        namespace: &str,
        token_id: &[u8],
        issued_at_unix: i64,
        expires_at_unix: i64,
        max_uses: u32,
    ) -> Result<Redemption>;

    /// Makes this process the one that decides single-use tokens for the store
    /// (SQLite: an exclusive lock file beside the database; `store_locked` when
    /// another process has it) and loads the live entries. `redeem` claims on
    /// first use; a server claims at start-up to fail fast. Idempotent.
    async fn claim_replay(&self) -> Result<()> {
        Ok(())
    }

    /// Deletes entries with `expires_at <= now_unix`; returns how many.
    async fn purge_expired(&self, now_unix: i64) -> Result<u64>;
}

/// Checks the arguments of [`ReplayStore::redeem`] (`invalid_input` otherwise),
/// for every implementation of the trait (this crate's and others').
pub fn validate_redeem(namespace: &str, token_id: &[u8]) -> Result<()> {
    if namespace.is_empty() || namespace.len() > MAX_NAMESPACE_LEN {
        return Err(StoreError::InvalidInput {
            field: "namespace",
            reason: "must be 1 to 64 bytes",
        });
    }
    if token_id.is_empty() || token_id.len() > MAX_TOKEN_ID_LEN {
        return Err(StoreError::InvalidInput {
            field: "token_id",
            reason: "must be 1 to 64 bytes",
        });
    }
    Ok(())
}
