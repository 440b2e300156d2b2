-- keyward-store schema, version 1.
-- Secrets (site_key, access_key, content keys) are stored wrapped with AES-256-GCM under
-- the KEK; the AAD names the row, so a wrapped value moved to another row fails.

CREATE TABLE meta (
    name  TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL
);

CREATE TABLE sites (
    site_id               TEXT PRIMARY KEY NOT NULL CHECK (length(site_id) = 4),
    site_key_wrapped      BLOB NOT NULL,
    access_key_wrapped    BLOB NOT NULL,
    token_window_secs     INTEGER NOT NULL,
    future_leeway_secs    INTEGER NOT NULL,
    allowed_drms          TEXT NOT NULL,   -- JSON array of DRM names
    cors_origins          TEXT NOT NULL,   -- JSON array of origins
    fairplay_cert         BLOB,
    widevine_service_cert BLOB,
    error_style           TEXT NOT NULL,
    callback_url          TEXT,
    disabled              INTEGER NOT NULL,
    created_at            INTEGER NOT NULL
);

CREATE TABLE content_keys (
    site_id     TEXT NOT NULL REFERENCES sites (site_id) ON DELETE CASCADE,
    kid         BLOB NOT NULL CHECK (length(kid) = 16),
    cid         TEXT NOT NULL,
    track_type  TEXT NOT NULL,
    key_wrapped BLOB NOT NULL,
    iv          BLOB CHECK (iv IS NULL OR length(iv) = 16),
    label       TEXT,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (site_id, kid),
    UNIQUE (site_id, cid, track_type)
);

CREATE TABLE redemptions (
    namespace  TEXT NOT NULL,
    token_id   BLOB NOT NULL,
    use_count  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (namespace, token_id)
) WITHOUT ROWID;

CREATE INDEX redemptions_expires_at ON redemptions (expires_at);

CREATE TABLE audit (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at_unix_ms INTEGER NOT NULL,
    site_id    TEXT,
    kind       TEXT NOT NULL,
    cid        TEXT,
    drm        TEXT,
    result     TEXT NOT NULL,
    request_id TEXT,
    detail     TEXT NOT NULL
);

CREATE INDEX audit_site_id ON audit (site_id, id);
