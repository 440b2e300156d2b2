//! The one error type of the store, with a stable `code()` for each variant.
//!
//! The server maps these to HTTP statuses and wire dialects in one place. Variants
//! that wrap a backend failure keep the backend's message in a separate
//! [`StoreError::detail`] so that `Display` (which may reach a client through careless
//! mapping) never carries SQL text, file contents or secrets.

/// Result alias used throughout the store.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No site with that id exists.
    #[error("site not found")]
    SiteNotFound,
    /// A site with that id already exists.
    #[error("site already exists")]
    SiteExists,
    /// No content key matched.
    #[error("content key not found")]
    KeyNotFound,
    /// A key with the same (site, cid, track type) or the same (site, kid) exists.
    #[error("content key conflicts with an existing key (same cid and track type, or same kid)")]
    KeyConflict,
    /// No customer with that id exists.
    #[error("customer not found")]
    CustomerNotFound,
    /// A customer with that id (or authenticator) already exists.
    #[error("customer already exists")]
    CustomerExists,
    /// No Studio client with that name exists.
    #[error("client not found")]
    ClientNotFound,
    /// A Studio client with that name (or API key) already exists.
    #[error("client already exists")]
    ClientExists,
    /// No API key with that id exists for the client.
    #[error("api key not found")]
    ApiKeyNotFound,
    /// The site holds no FairPlay credential with that cert hash.
    #[error("fairplay credential not found")]
    FairPlayCredentialNotFound,
    /// The site already holds a FairPlay credential for that certificate (same
    /// cert hash).
    #[error("fairplay credential already exists")]
    FairPlayCredentialExists,
    /// The site holds no licence upstream with that name.
    #[error("upstream not found")]
    UpstreamNotFound,
    /// The site already holds a licence upstream with that name (for any DRM).
    #[error("upstream already exists")]
    UpstreamExists,
    /// No packager credential of that name.
    #[error("packager credential not found")]
    PackagerNotFound,
    /// A packager credential of that name exists (names are unique across sites).
    #[error("packager credential already exists")]
    PackagerExists,
    /// A site id is not exactly 4 ASCII uppercase letters.
    #[error("site id must be exactly 4 ASCII uppercase letters")]
    InvalidSiteId,
    /// A site secret (site key or access key) has the wrong length.
    #[error("site secret must be {expected} bytes, got {actual}")]
    InvalidSecretLength {
        /// Required length in bytes.
        expected: usize,
        /// Length that was given.
        actual: usize,
    },
    /// A kid, content key, IV or FairPlay ASk has the wrong length or encoding.
    #[error("{what} must be {expected} bytes, got {actual}")]
    InvalidKeyLength {
        /// Which value: `"kid"`, `"key"`, `"iv"` or `"ask"`.
        what: &'static str,
        /// Required length in bytes.
        expected: usize,
        /// Length that was given.
        actual: usize,
    },
    /// A content id is empty, too long or contains control characters.
    #[error("content id must be 1 to 256 bytes without control characters")]
    InvalidCid,
    /// A site setting is out of range or malformed.
    #[error("invalid site setting {field}: {reason}")]
    InvalidSetting {
        /// The setting's field name.
        field: &'static str,
        /// Why it was refused.
        reason: &'static str,
    },
    /// Some other argument (label, replay namespace, token id, audit event) was refused.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The argument's name.
        field: &'static str,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A key-encryption key could not be parsed (wrong length or encoding).
    #[error("invalid key-encryption key: {0}")]
    InvalidKek(&'static str),
    /// The database was created under a different key-encryption key.
    #[error("the key-encryption key does not match the one this database was created with: use that KEK (the data directory's `kek` file, or the KEYWARD_KEK / KEYWARD_KEK_FILE it was created with), or point --data-dir at another store")]
    KekMismatch,
    /// A wrapped value failed authentication: it was altered or moved to another row.
    #[error("stored {0} failed to unwrap (altered, or moved from another row)")]
    UnwrapFailed(&'static str),
    /// Another process already decides single-use tokens for this database (it
    /// holds the replay lock file); two deciders could each accept one use.
    #[error(
        "another keyward process decides single-use tokens for this database (is a second `keyward serve` running on this data directory?)"
    )]
    Locked,
    /// The operating system's random number generator failed.
    #[error("random number generator unavailable")]
    Rng,
    /// A file-system operation failed (data directory, KEK file, database file).
    #[error("i/o error: {context}")]
    Io {
        /// What was being done, without paths or contents.
        context: &'static str,
        /// The underlying error's text, for logs only.
        detail: String,
    },
    /// The storage backend failed. `Display` is generic on purpose; the backend's
    /// message is in [`StoreError::detail`] for logs.
    #[error("storage backend error")]
    Backend {
        /// The backend's message, for logs only.
        detail: String,
    },
}

impl StoreError {
    /// A stable, machine-readable code for this error; safe to show to clients.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::SiteNotFound => "site_not_found",
            StoreError::SiteExists => "site_exists",
            StoreError::KeyNotFound => "key_not_found",
            StoreError::KeyConflict => "key_conflict",
            StoreError::CustomerNotFound => "customer_not_found",
            StoreError::CustomerExists => "customer_exists",
            StoreError::ClientNotFound => "client_not_found",
            StoreError::ClientExists => "client_exists",
            StoreError::ApiKeyNotFound => "api_key_not_found",
            StoreError::FairPlayCredentialNotFound => "fairplay_credential_not_found",
            StoreError::FairPlayCredentialExists => "fairplay_credential_exists",
            StoreError::UpstreamNotFound => "upstream_not_found",
            StoreError::UpstreamExists => "upstream_exists",
            StoreError::PackagerNotFound => "packager_not_found",
            StoreError::PackagerExists => "packager_exists",
            StoreError::InvalidSiteId => "invalid_site_id",
            StoreError::InvalidSecretLength { .. } => "invalid_secret_length",
            StoreError::InvalidKeyLength { .. } => "invalid_key_length",
            StoreError::InvalidCid => "invalid_cid",
            StoreError::InvalidSetting { .. } => "invalid_setting",
            StoreError::InvalidInput { .. } => "invalid_input",
            StoreError::InvalidKek(_) => "invalid_kek",
            StoreError::KekMismatch => "kek_mismatch",
            StoreError::UnwrapFailed(_) => "unwrap_failed",
            StoreError::Locked => "store_locked",
            StoreError::Rng => "rng_unavailable",
            StoreError::Io { .. } => "io",
            StoreError::Backend { .. } => "backend",
        }
    }

    /// Log-worthy detail of an [`Io`](StoreError::Io) or [`Backend`](StoreError::Backend)
    /// error (the underlying message). Never send this to a client.
    pub fn detail(&self) -> Option<&str> {
        match self {
            StoreError::Io { detail, .. } | StoreError::Backend { detail } => Some(detail),
            _ => None,
        }
    }

    /// Whether the caller's input was at fault (as opposed to state or the backend).
    pub fn is_invalid_input(&self) -> bool {
        matches!(
            self,
            StoreError::InvalidSiteId
                | StoreError::InvalidSecretLength { .. }
                | StoreError::InvalidKeyLength { .. }
                | StoreError::InvalidCid
                | StoreError::InvalidSetting { .. }
                | StoreError::InvalidInput { .. }
                | StoreError::InvalidKek(_)
        )
    }

    pub(crate) fn io(context: &'static str, err: std::io::Error) -> Self {
        StoreError::Io {
            context,
            detail: err.to_string(),
        }
    }

    pub(crate) fn backend(detail: impl std::fmt::Display) -> Self {
        StoreError::Backend {
            detail: detail.to_string(),
        }
    }
}

/// The store's answer to a value that does not parse, with the code and message each
/// case has always had: `invalid_site_id`, `invalid_key_length` (kid or key text of
/// the wrong length or encoding, worded as a length), `invalid_input` for a track
/// type, `invalid_setting` (`allowed_drms`) for a DRM name.
impl From<keyward_types::ParseError> for StoreError {
    fn from(e: keyward_types::ParseError) -> StoreError {
        use keyward_types::ParseError as P;
        match e {
            P::SiteId => StoreError::InvalidSiteId,
            P::Length {
                what,
                expected,
                actual,
            } => StoreError::InvalidKeyLength {
                what,
                expected,
                actual,
            },
            P::Hex { what, approx_bytes } => StoreError::InvalidKeyLength {
                what,
                expected: 16,
                actual: approx_bytes,
            },
            P::Base64 { what } => StoreError::InvalidInput {
                field: what,
                reason: "not base64",
            },
            P::TrackType => StoreError::InvalidInput {
                field: "track_type",
                reason: "expected ALL, ALL_VIDEO, AUDIO, SD, HD, UHD1 or UHD2",
            },
            P::DrmType => StoreError::InvalidSetting {
                field: "allowed_drms",
                reason: "unknown DRM name",
            },
            // ParseError is non_exhaustive: a kind added later is still the
            // caller's input at fault, never a backend failure.
            _ => StoreError::InvalidInput {
                field: "value",
                reason: "does not parse",
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_display_hides_detail() {
        let e = StoreError::backend("near \"SELEC\": syntax error in SELECT site_key FROM sites");
        assert_eq!(e.to_string(), "storage backend error");
        assert_eq!(e.code(), "backend");
        assert!(e.detail().is_some_and(|d| d.contains("SELEC")));
    }

    #[test]
    fn fairplay_errors_are_state_not_input() {
        let missing = StoreError::FairPlayCredentialNotFound;
        assert_eq!(missing.code(), "fairplay_credential_not_found");
        assert_eq!(missing.to_string(), "fairplay credential not found");
        assert!(!missing.is_invalid_input() && missing.detail().is_none());
        let exists = StoreError::FairPlayCredentialExists;
        assert_eq!(exists.code(), "fairplay_credential_exists");
        assert!(!exists.is_invalid_input() && exists.detail().is_none());
    }

    #[test]
    fn upstream_errors_are_state_not_input() {
        let missing = StoreError::UpstreamNotFound;
        assert_eq!(missing.code(), "upstream_not_found");
        assert_eq!(missing.to_string(), "upstream not found");
        assert!(!missing.is_invalid_input() && missing.detail().is_none());
        let exists = StoreError::UpstreamExists;
        assert_eq!(exists.code(), "upstream_exists");
        assert_eq!(exists.to_string(), "upstream already exists");
        assert!(!exists.is_invalid_input() && exists.detail().is_none());
    }

    #[test]
    fn io_display_hides_detail() {
        let e = StoreError::io(
            "reading kek file",
            std::io::Error::other("/secret/path/kek: denied"),
        );
        assert_eq!(e.to_string(), "i/o error: reading kek file");
        assert_eq!(e.code(), "io");
    }
}
