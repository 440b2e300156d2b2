-- keyward-store schema, version 8: key periods and packager credentials.
--
-- content_keys gains `period`: the key period (crypto period index) of rotated
-- content, NULL for content without rotation, and `pinned`: 1 when the kid was
-- chosen by a packager (SPEKE, CPIX with honoured kids) rather than by keyward.
-- The keys keyward chooses are unique per (site, cid, track type, period), so
-- concurrent first requests agree on one key; pinned keys are unique by kid
-- only (a packager may re-key a content). SQLite treats NULLs as distinct in
-- UNIQUE constraints, so the coordinates are indexed on ifnull(period, -1). The table
-- is rebuilt because its old inline UNIQUE (site_id, cid, track_type) cannot be
-- dropped in place; rows are copied as they are (wrapped keys stay bound to
-- their site and kid, which do not change).
CREATE TABLE content_keys_v8 (
    site_id     TEXT NOT NULL REFERENCES sites (site_id) ON DELETE CASCADE,
    kid         BLOB NOT NULL CHECK (length(kid) = 16),
    cid         TEXT NOT NULL,
    track_type  TEXT NOT NULL,
    key_wrapped BLOB NOT NULL,
    iv          BLOB CHECK (iv IS NULL OR length(iv) = 16),
    label       TEXT,
    created_at  INTEGER NOT NULL,
    period      INTEGER CHECK (period IS NULL OR period >= 0),
    pinned      INTEGER NOT NULL DEFAULT 0 CHECK (pinned IN (0, 1)),
    PRIMARY KEY (site_id, kid)
);

INSERT INTO content_keys_v8 (site_id, kid, cid, track_type, key_wrapped, iv, label, created_at, period)
    SELECT site_id, kid, cid, track_type, key_wrapped, iv, label, created_at, NULL FROM content_keys;

DROP TABLE content_keys;

ALTER TABLE content_keys_v8 RENAME TO content_keys;

CREATE UNIQUE INDEX content_keys_coordinates
    ON content_keys (site_id, cid, track_type, ifnull(period, -1)) WHERE pinned = 0;

-- Packager credentials: what packagers and encoders present to the key server.
-- Names are unique across sites (a Widevine signer name or an API key's name
-- identifies its site). The secret (Widevine AES key + IV, or an API key) is
-- wrapped under the KEK with an AAD naming the credential, its site and kind.
CREATE TABLE packagers (
    name           TEXT PRIMARY KEY,
    site_id        TEXT NOT NULL REFERENCES sites (site_id) ON DELETE CASCADE,
    kind           TEXT NOT NULL,
    cid_prefix     TEXT,
    secret_wrapped BLOB NOT NULL,
    created_at     INTEGER NOT NULL
);

CREATE INDEX packagers_by_site ON packagers (site_id);

-- A site's PlayReady key seed: when set, new content keys are derived from it
-- and the kid (Microsoft's key seed algorithm) instead of drawn at random.
CREATE TABLE key_seeds (
    site_id     TEXT PRIMARY KEY REFERENCES sites (site_id) ON DELETE CASCADE,
    seed_wrapped BLOB NOT NULL,
    created_at  INTEGER NOT NULL
);
