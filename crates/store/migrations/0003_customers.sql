-- keyward-store schema, version 3: ExpressPlay-style customers.
-- Authenticators are stored as SHA-256 hashes only (looked up by hash).
CREATE TABLE customers (
    customer_id     TEXT PRIMARY KEY NOT NULL,
    test_hash       BLOB NOT NULL UNIQUE CHECK (length(test_hash) = 32),
    production_hash BLOB NOT NULL UNIQUE CHECK (length(production_hash) = 32),
    settings        TEXT NOT NULL,          -- JSON CustomerSettings
    tokens_issued   INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL
);
