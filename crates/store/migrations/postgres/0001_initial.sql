-- keyward-store PostgreSQL schema, version 1: what the SQLite migrations
-- 0001 to 0009 build, in one step.
--
-- The same columns hold the same bytes as in SQLite: secrets (site keys,
-- content keys, client token secrets, FairPlay keys and ASks, upstream
-- secrets, packager secrets, key seeds) are wrapped with AES-256-GCM under the
-- KEK, their AAD naming the row, so a wrapped value moved to another row fails
-- to unwrap. Blobs are BYTEA, unix times BIGINT, JSON values TEXT (read back
-- byte for byte; cast to jsonb only where a query looks inside).
--
-- Identifiers and every text column a query orders by are COLLATE "C": byte
-- order, as SQLite's BINARY, whatever locale the database was created with.

CREATE TABLE meta (
    name  TEXT COLLATE "C" PRIMARY KEY,
    value BYTEA NOT NULL
);

CREATE TABLE sites (
    site_id               TEXT COLLATE "C" PRIMARY KEY CHECK (length(site_id) = 4),
    site_key_wrapped      BYTEA NOT NULL,
    access_key_wrapped    BYTEA NOT NULL,
    token_window_secs     BIGINT NOT NULL,
    future_leeway_secs    BIGINT NOT NULL,
    allowed_drms          TEXT NOT NULL,   -- JSON array of DRM names
    cors_origins          TEXT NOT NULL,   -- JSON array of origins
    fairplay_cert         BYTEA,
    widevine_service_cert BYTEA,
    error_style           TEXT NOT NULL,
    callback_url          TEXT,
    disabled              BOOLEAN NOT NULL,
    created_at            BIGINT NOT NULL,
    callback_settings     TEXT NOT NULL DEFAULT '{}'  -- JSON object of CallbackSettings
);

-- Content keys. The keys keyward chooses are unique per (site, cid, track
-- type, period) so that concurrent first requests, on any node, agree on one
-- key (NULL period = no rotation, indexed as -1); pinned keys (the packager
-- chose the kid) are unique by kid only.
CREATE TABLE content_keys (
    site_id     TEXT COLLATE "C" NOT NULL REFERENCES sites (site_id) ON DELETE CASCADE,
    kid         BYTEA NOT NULL CHECK (length(kid) = 16),
    cid         TEXT COLLATE "C" NOT NULL,
    track_type  TEXT COLLATE "C" NOT NULL,
    key_wrapped BYTEA NOT NULL,
    iv          BYTEA CHECK (iv IS NULL OR length(iv) = 16),
    label       TEXT,
    created_at  BIGINT NOT NULL,
    period      BIGINT CHECK (period IS NULL OR period >= 0),
    pinned      BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (site_id, kid)
);

CREATE UNIQUE INDEX content_keys_coordinates
    ON content_keys (site_id, cid, track_type, coalesce(period, -1)) WHERE NOT pinned;

-- keys_for_content and list_keys of one content (pinned keys included).
CREATE INDEX content_keys_by_content ON content_keys (site_id, cid);

-- Single-use decisions: one row per (namespace, token id), decided by an
-- INSERT … ON CONFLICT DO UPDATE on any node. The expiry index serves
-- purge_expired (a DELETE by expiry).
CREATE TABLE redemptions (
    namespace  TEXT COLLATE "C" NOT NULL,
    token_id   BYTEA NOT NULL,
    use_count  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (namespace, token_id)
);

CREATE INDEX redemptions_expires_at ON redemptions (expires_at);

-- The audit trail. Ids are taken from the sequence by the writers while they
-- hold an advisory lock until their commit, so ids increase in commit order
-- and following the trail by id misses nothing. Searches run newest first by
-- (at_unix_ms, id): each index ends in both.
CREATE TABLE audit (
    id         BIGSERIAL PRIMARY KEY,
    at_unix_ms BIGINT NOT NULL,
    site_id    TEXT COLLATE "C",
    kind       TEXT COLLATE "C" NOT NULL,
    cid        TEXT COLLATE "C",
    drm        TEXT COLLATE "C",
    result     TEXT COLLATE "C" NOT NULL,
    request_id TEXT,
    detail     TEXT NOT NULL,              -- JSON
    user_id    TEXT COLLATE "C"
);

CREATE INDEX audit_site_id ON audit (site_id, id);

CREATE INDEX audit_kind_at ON audit (kind, at_unix_ms);

CREATE INDEX audit_at ON audit (at_unix_ms, id);

CREATE INDEX audit_site_at ON audit (site_id, at_unix_ms, id);

CREATE INDEX audit_user_at ON audit (user_id, at_unix_ms, id) WHERE user_id IS NOT NULL;

-- ExpressPlay-style customers; authenticators as SHA-256 hashes only.
CREATE TABLE customers (
    customer_id     TEXT COLLATE "C" PRIMARY KEY,
    test_hash       BYTEA NOT NULL UNIQUE CHECK (length(test_hash) = 32),
    production_hash BYTEA NOT NULL UNIQUE CHECK (length(production_hash) = 32),
    settings        TEXT NOT NULL,          -- JSON CustomerSettings
    tokens_issued   BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL
);

-- Studio token clients; API keys as SHA-256 hashes only, token secrets
-- wrapped (AAD: client name and sequence number).
CREATE TABLE clients (
    name       TEXT COLLATE "C" PRIMARY KEY,
    site_id    TEXT COLLATE "C" NOT NULL REFERENCES sites (site_id) ON DELETE CASCADE,
    settings   TEXT NOT NULL,   -- JSON object of ClientSettings
    created_at BIGINT NOT NULL
);

CREATE INDEX clients_by_site ON clients (site_id);

CREATE TABLE client_secrets (
    client         TEXT COLLATE "C" NOT NULL REFERENCES clients (name) ON DELETE CASCADE,
    seq            BIGINT NOT NULL,
    secret_wrapped BYTEA NOT NULL,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (client, seq)
);

CREATE TABLE client_api_keys (
    key_hash   BYTEA PRIMARY KEY CHECK (length(key_hash) = 32),
    client     TEXT COLLATE "C" NOT NULL REFERENCES clients (name) ON DELETE CASCADE,
    id         TEXT COLLATE "C" NOT NULL,
    label      TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE INDEX client_api_keys_client ON client_api_keys (client);

-- FairPlay Streaming credentials, named by the SHA-1 of the certificate; seq
-- orders the credentials added within one second.
CREATE TABLE fairplay_credentials (
    site_id     TEXT COLLATE "C" NOT NULL REFERENCES sites (site_id) ON DELETE CASCADE,
    cert_hash   BYTEA NOT NULL CHECK (length(cert_hash) = 20),
    cert_der    BYTEA NOT NULL,
    key_wrapped BYTEA NOT NULL,
    ask_wrapped BYTEA NOT NULL,
    label       TEXT,
    created_at  BIGINT NOT NULL,
    seq         BIGINT NOT NULL,
    PRIMARY KEY (site_id, cert_hash)
);

-- Licence upstreams: per (site, drm) a list in dense positions 0..n-1; names
-- unique per site. The secrets are one wrapped JSON object (NULL when none);
-- secret_names (a sorted JSON list) names them without unwrapping.
CREATE TABLE upstreams (
    site_id         TEXT COLLATE "C" NOT NULL REFERENCES sites (site_id) ON DELETE CASCADE,
    name            TEXT COLLATE "C" NOT NULL,
    drm             TEXT COLLATE "C" NOT NULL,
    position        BIGINT NOT NULL CHECK (position >= 0),
    kind            TEXT NOT NULL,
    url             TEXT NOT NULL,
    settings        TEXT NOT NULL,
    secret_names    TEXT NOT NULL,
    secrets_wrapped BYTEA,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (site_id, name)
);

CREATE INDEX upstreams_by_site_drm_position ON upstreams (site_id, drm, position);

-- Packager credentials: names unique across sites; the secret wrapped with an
-- AAD naming the credential, its site and kind.
CREATE TABLE packagers (
    name           TEXT COLLATE "C" PRIMARY KEY,
    site_id        TEXT COLLATE "C" NOT NULL REFERENCES sites (site_id) ON DELETE CASCADE,
    kind           TEXT NOT NULL,
    cid_prefix     TEXT,
    secret_wrapped BYTEA NOT NULL,
    created_at     BIGINT NOT NULL
);

CREATE INDEX packagers_by_site ON packagers (site_id);

-- A site's PlayReady key seed (wrapped).
CREATE TABLE key_seeds (
    site_id      TEXT COLLATE "C" PRIMARY KEY REFERENCES sites (site_id) ON DELETE CASCADE,
    seed_wrapped BYTEA NOT NULL,
    created_at   BIGINT NOT NULL
);
