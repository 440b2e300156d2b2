-- keyward-store schema, version 4: Studio token clients (POST /v2/token).
-- Token secrets are wrapped under the KEK (AAD names client and sequence number);
-- API keys are stored as SHA-256 hashes only.

CREATE TABLE clients (
    name       TEXT PRIMARY KEY NOT NULL,
    site_id    TEXT NOT NULL REFERENCES sites (site_id) ON DELETE CASCADE,
    settings   TEXT NOT NULL,   -- JSON object of ClientSettings
    created_at INTEGER NOT NULL
);

CREATE TABLE client_secrets (
    client         TEXT NOT NULL REFERENCES clients (name) ON DELETE CASCADE,
    seq            INTEGER NOT NULL,
    secret_wrapped BLOB NOT NULL,
    created_at     INTEGER NOT NULL,
    PRIMARY KEY (client, seq)
);

CREATE TABLE client_api_keys (
    key_hash   BLOB PRIMARY KEY NOT NULL CHECK (length(key_hash) = 32),
    client     TEXT NOT NULL REFERENCES clients (name) ON DELETE CASCADE,
    id         TEXT NOT NULL,
    label      TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE INDEX client_api_keys_client ON client_api_keys (client);
CREATE INDEX audit_kind_at ON audit (kind, at_unix_ms);
